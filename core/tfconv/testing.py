"""Pytest fixtures for tfconv and its plugins (``pytest_plugins = ["tfconv.testing"]``)."""
from __future__ import annotations

import pluggy
import pytest

from .plugins import get_plugin_manager


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """Built-ins only: no entry points, no environment."""
    return get_plugin_manager(autoload=False)


@pytest.fixture
def full_plugin_manager() -> pluggy.PluginManager:
    """Built-ins and every installed plugin, as the CLI sees them."""
    return get_plugin_manager()


@pytest.fixture
def use_plugin(plugin_manager):
    """Register a plugin object for one test; unregistered afterwards."""
    names: list[str] = []

    def register(plugin: object, name: str) -> pluggy.PluginManager:
        plugin_manager.register(plugin, name=name)
        names.append(name)
        return plugin_manager

    yield register
    for name in names:
        plugin_manager.unregister(name=name)
