"""tfconv plugin: slim."""
