"""tfconv plugin: od_api."""
