"""slim plugin entry point (hookimpls only). Its passes and translators arrive with its issue."""
from __future__ import annotations
