"""The plugin manager factory: built-ins, then entry points (group ``tfconv``), then extras."""
from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError, TfconvError

if TYPE_CHECKING:  # each registry's module is imported when that registry is asked for
    from .emit import EmitterRegistry
    from .irops import IROpRegistry
    from .passes import PassRegistry
    from .replacers import ReplacerRegistry
    from .translate import TranslatorRegistry

BUILTIN_PLUGINS: tuple[str, ...] = ("tfconv.builtin.cleanup", "tfconv.builtin.transformations")
ENTRYPOINT_GROUP = "tfconv"


# The plugin API this tfconv implements, and the API versions whose plugins it still loads. A
# plugin declares the version it was written for as ``TFCONV_API = 1`` in its plugin module or
# its top-level package; a plugin that declares none is taken to be written for API 1.
PLUGIN_API = 1
SUPPORTED_APIS = frozenset({1})

log = logging.getLogger("tfconv.plugins")
_WARNED: set[str] = set()


def get_plugin_manager(*, autoload: bool = True, blocked: Iterable[str] = (),
                       extra: Iterable[str] = ()) -> pluggy.PluginManager:
    """A fresh manager: built-ins, then installed plugins, then ``extra`` modules.

    An installed plugin that cannot be used (it fails to import, declares an unsupported
    ``TFCONV_API``, or implements a hook with a wrong name or signature) is skipped with one
    warning naming its entry point, distribution and version."""
    pm = pluggy.PluginManager("tfconv")
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    for modname in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
    if autoload:
        for ep, dist in _entry_points():
            if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            _load_entry_point(pm, ep, dist)
    for modname in extra:
        try:
            module = importlib.import_module(modname)
        except ImportError as err:
            msg = f"cannot import plugin module {modname!r} (from TFCONV_PLUGINS): {err}"
            raise PluginError(msg) from err
        pm.register(module, name=modname)
    pm.check_pending()
    return pm


class _EntryPoint:
    """One ``tfconv`` entry point read from an installed distribution's ``entry_points.txt``."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value, self.group = name, value, ENTRYPOINT_GROUP

    def load(self) -> Any:
        module, _, attrs = self.value.partition(":")
        found: Any = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            found = getattr(found, attr)
        return found


class _LazyDistribution:
    """An installed distribution whose metadata (``importlib.metadata``, ~20 ms to import) is
    read only when a message or ``tfconv plugins`` needs its name or version."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._dist: Any = None

    def _get(self) -> Any:
        if self._dist is None:
            from importlib import metadata
            self._dist = metadata.Distribution.at(self._path)
        return self._dist

    @property
    def metadata(self) -> Any:
        return self._get().metadata

    @property
    def version(self) -> str:
        return self._get().version

    @property
    def project_name(self) -> str:
        return self._get().metadata["Name"]


def _entry_points() -> list[tuple[Any, Any]]:
    """The ``tfconv`` entry points of the installed distributions, in ``sys.path`` order, read
    straight from each ``*.dist-info``/``*.egg-info``'s ``entry_points.txt`` (the same files
    ``importlib.metadata`` reads, without importing it); ``importlib.metadata`` itself if the
    scan meets anything it does not expect."""
    try:
        return _scan_entry_points()
    except (OSError, UnicodeDecodeError, ValueError):  # pragma: no cover - odd installs
        from importlib import metadata
        return [(ep, dist) for dist in metadata.distributions() for ep in dist.entry_points
                if ep.group == ENTRYPOINT_GROUP]


def _scan_entry_points() -> list[tuple[Any, Any]]:
    found = []
    for entry in sys.path:
        try:
            children = os.listdir(entry or ".")
        except OSError:
            continue  # a zip, a missing directory: nothing installed there
        for child in children:
            if not child.endswith((".dist-info", ".egg-info")):
                continue
            meta_dir = os.path.join(entry or ".", child)
            try:
                with open(os.path.join(meta_dir, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            if f"[{ENTRYPOINT_GROUP}]" not in text:
                continue
            dist = _LazyDistribution(meta_dir)
            section = None
            for raw in text.splitlines():
                line = raw.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                if line.startswith("[") and line.endswith("]"):
                    section = line[1:-1].strip()
                elif section == ENTRYPOINT_GROUP and "=" in line:
                    name, _, value = line.partition("=")
                    found.append((_EntryPoint(name.strip(), value.strip()), dist))
    return found


def plugin_api(module: object) -> object:
    """The ``TFCONV_API`` a plugin module (or its top-level package) declares; 1 when none."""
    if hasattr(module, "TFCONV_API"):
        return module.TFCONV_API
    package = getattr(module, "__name__", "").split(".")[0]
    top = sys.modules.get(package)
    return getattr(top, "TFCONV_API", 1)


def _load_entry_point(pm: pluggy.PluginManager, ep, dist) -> None:
    """Register one installed plugin, or skip it with one warning saying why."""
    def who() -> str:
        return (f"plugin {ep.name!r} (distribution {dist.metadata['Name']} {dist.version}, "
                f"entry point {ep.value})")
    try:
        plugin = ep.load()
    except Exception as err:  # noqa: BLE001 - a third party's bug: reported, never a traceback
        _skip(who(), f"it fails to import: {type(err).__name__}: {err}", ep.name)
        return
    api = plugin_api(plugin)
    if api not in SUPPORTED_APIS:
        _skip(who(), f"it was written for tfconv plugin API {api!r}; this tfconv "
              f"{_version('tfconv')} supports API {', '.join(map(str, sorted(SUPPORTED_APIS)))}",
              ep.name)
        return
    try:
        pm.register(plugin, name=ep.name)
    except pluggy.PluginValidationError as err:
        _skip(who(), f"a hook implementation does not match its specification: {err}", ep.name)
        return
    unknown = sorted(c.name for c in pm.get_hookcallers(plugin) or [] if c.spec is None)
    if unknown:
        pm.unregister(plugin)
        _skip(who(), f"it implements hooks tfconv does not have: {', '.join(unknown)}", ep.name)
        return
    pm._plugin_distinfo.append((plugin, dist))  # what list_plugin_distinfo reports


def _skip(who: str, why: str, name: str) -> None:
    msg = (f"{who} skipped: {why}. Upgrade, fix or uninstall it, or silence this with "
           f"TFCONV_DISABLE_PLUGINS={name}")
    if msg not in _WARNED:  # one warning per process, however many plugin managers are made
        _WARNED.add(msg)
        log.warning("%s", msg)


def _call_each(pm: pluggy.PluginManager, hook_name: str, registry) -> None:
    """Call one registration hook plugin by plugin so the registry knows who claims what."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        registry.current_plugin = impl.plugin_name
        kwargs = {"registry": registry} if "registry" in impl.argnames else {}
        try:
            impl.function(**kwargs)
        except TfconvError:
            raise
        except Exception as err:  # noqa: BLE001 - a plugin's bug: named, never a traceback
            raise PluginError(_broken_hook(pm, impl, hook_name, err)) from err
    registry.current_plugin = "?"


def _broken_hook(pm: pluggy.PluginManager, impl, hook_name: str, err: Exception) -> str:
    """What to tell the user when an installed plugin's registration hook raises."""
    dist = {id(p): d for p, d in pm.list_plugin_distinfo()}.get(id(impl.plugin))
    where = (f" (distribution {dist.metadata['Name']} {dist.version})" if dist is not None
             else "")
    return (f"plugin {impl.plugin_name!r}{where} failed in {hook_name}: "
            f"{type(err).__name__}: {err}. This is a bug or a broken install of that plugin: "
            f"reinstall, upgrade or uninstall it, or leave it out with "
            f"TFCONV_DISABLE_PLUGINS={impl.plugin_name}")


def ir_ops(pm: pluggy.PluginManager) -> IROpRegistry:
    """Every plugin's ``tfconv_register_ir_ops`` rules, installed as :data:`tfconv.irops.PLUGIN_RULES`."""
    from .irops import IROpRegistry
    reg = IROpRegistry()
    _call_each(pm, "tfconv_register_ir_ops", reg)
    reg.install()
    return reg


def translators(pm: pluggy.PluginManager) -> TranslatorRegistry:
    ir_ops(pm)  # the IR op types the translators emit must be known before they run
    from .translate import TranslatorRegistry
    reg = TranslatorRegistry()
    _call_each(pm, "tfconv_register_translators", reg)
    return reg


def passes(pm: pluggy.PluginManager) -> PassRegistry:
    from .passes import PassRegistry
    reg = PassRegistry()
    _call_each(pm, "tfconv_register_passes", reg)
    return reg


def emitters(pm: pluggy.PluginManager) -> EmitterRegistry:
    from .emit import EmitterRegistry
    reg = EmitterRegistry()
    _call_each(pm, "tfconv_register_emitters", reg)
    return reg


def replacers(pm: pluggy.PluginManager) -> ReplacerRegistry:
    from .replacers import ReplacerRegistry
    reg = ReplacerRegistry()
    _call_each(pm, "tfconv_register_replacers", reg)
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
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
