"""The plugin manager factory: built-ins, then entry points (group ``tfconv``), then extras."""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import Iterable

import pluggy

from . import hookspecs
from .emit import EmitterRegistry
from .errors import PluginError
from .irops import IROpRegistry
from .passes import PassRegistry
from .translate import TranslatorRegistry

BUILTIN_PLUGINS: tuple[str, ...] = ("tfconv.builtin.cleanup",)
ENTRYPOINT_GROUP = "tfconv"


def get_plugin_manager(*, autoload: bool = True, blocked: Iterable[str] = (),
                       extra: Iterable[str] = ()) -> pluggy.PluginManager:
    """A fresh manager: built-ins, then installed plugins, then ``extra`` modules."""
    pm = pluggy.PluginManager("tfconv")
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    for modname in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
    if autoload:
        try:
            pm.load_setuptools_entrypoints(ENTRYPOINT_GROUP)
        except Exception as err:  # a broken third-party plugin must not look like our bug
            raise PluginError(_broken_plugin_message(err)) from err
    for modname in extra:
        try:
            module = importlib.import_module(modname)
        except ImportError as err:
            msg = f"cannot import plugin module {modname!r} (from TFCONV_PLUGINS): {err}"
            raise PluginError(msg) from err
        pm.register(module, name=modname)
    pm.check_pending()
    return pm


def _broken_plugin_message(err: Exception) -> str:
    """Name the entry point that fails to import, with its distribution."""
    for ep in metadata.entry_points(group=ENTRYPOINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - reported to the user
            dist = ep.dist.name if ep.dist else "?"
            return (f"plugin {ep.name!r} (distribution {dist}, entry point {ep.value}) failed to "
                    f"load: {type(exc).__name__}: {exc}. Reinstall or uninstall it, or skip it "
                    f"with TFCONV_DISABLE_PLUGINS={ep.name}")
    return f"a tfconv plugin failed to load: {type(err).__name__}: {err}"


def _call_each(pm: pluggy.PluginManager, hook_name: str, registry) -> None:
    """Call one registration hook plugin by plugin so the registry knows who claims what."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        registry.current_plugin = impl.plugin_name
        kwargs = {"registry": registry} if "registry" in impl.argnames else {}
        impl.function(**kwargs)
    registry.current_plugin = "?"


def ir_ops(pm: pluggy.PluginManager) -> IROpRegistry:
    """Every plugin's ``tfconv_register_ir_ops`` rules, installed as :data:`tfconv.irops.PLUGIN_RULES`."""
    reg = IROpRegistry()
    _call_each(pm, "tfconv_register_ir_ops", reg)
    reg.install()
    return reg


def translators(pm: pluggy.PluginManager) -> TranslatorRegistry:
    ir_ops(pm)  # the IR op types the translators emit must be known before they run
    reg = TranslatorRegistry()
    _call_each(pm, "tfconv_register_translators", reg)
    return reg


def passes(pm: pluggy.PluginManager) -> PassRegistry:
    reg = PassRegistry()
    _call_each(pm, "tfconv_register_passes", reg)
    return reg


def emitters(pm: pluggy.PluginManager) -> EmitterRegistry:
    reg = EmitterRegistry()
    _call_each(pm, "tfconv_register_emitters", reg)
    return reg


def describe(pm: pluggy.PluginManager) -> list[dict[str, object]]:
    """Name, distribution, version and implemented hooks of each registered plugin."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        if dist is not None:
            dist_name, version = dist.project_name, dist.version
        else:
            dist_name, version = "tfconv (built-in)", _version("tfconv")
        rows.append({"name": name, "distribution": dist_name, "version": version, "hooks": hooks})
    return rows


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
