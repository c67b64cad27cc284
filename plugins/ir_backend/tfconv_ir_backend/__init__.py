"""tfconv plugin: ir_backend."""
