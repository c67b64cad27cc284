"""Early source passes of the od_api plugin (filled in next)."""
from __future__ import annotations

ALL_PASSES: tuple = ()


def register_legacy_recipes(registry) -> None:
    return None


def describe(path, config, graph):
    return None
