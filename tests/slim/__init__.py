"""TF-Slim topology tests (issue 4): the hand-written Slim nets tf_slim lacks and their cache."""
