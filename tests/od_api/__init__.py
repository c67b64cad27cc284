"""Object Detection API plugin tests."""
