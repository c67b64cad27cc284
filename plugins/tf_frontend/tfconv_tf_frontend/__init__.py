"""tfconv plugin: tf_frontend."""
