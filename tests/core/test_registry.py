"""Translator, pass and emitter registries: conflicts, overrides, ordering (no TensorFlow)."""
from __future__ import annotations

import types

import pytest

from tfconv import hookimpl, plugins
from tfconv.emit import EmitterRegistry
from tfconv.errors import PluginError
from tfconv.passes import PassRegistry, graph_pass
from tfconv.translate import OpTable


def _table(tag: str) -> OpTable:
    table = OpTable("tf")
    table.register("Foo", inputs=1)(lambda ctx, tag=tag: tag)
    return table


def _translator_plugin(tag: str, override: bool = False):
    table = _table(tag)

    @hookimpl
    def tfconv_register_translators(registry):
        registry.add(table, override=override)

    return types.SimpleNamespace(tfconv_register_translators=tfconv_register_translators)


def test_op_registered_twice_in_one_table_is_an_error():
    table = _table("a")
    with pytest.raises(PluginError, match="registered twice"):
        table.register("Foo")(lambda ctx: None)


def test_two_plugins_claiming_one_op_name_both(plugin_manager, use_plugin):
    use_plugin(_translator_plugin("a"), "alpha")
    use_plugin(_translator_plugin("b"), "beta")
    with pytest.raises(PluginError, match="alpha and beta"):
        plugins.translators(plugin_manager).resolve("tf")


@pytest.mark.parametrize("order", [("base", "custom"), ("custom", "base")], ids=["base-first", "custom-first"])
def test_override_wins_whatever_the_order(plugin_manager, use_plugin, order):
    made = {"base": _translator_plugin("base"), "custom": _translator_plugin("custom", override=True)}
    for name in order:
        use_plugin(made[name], name)
    registry = plugins.translators(plugin_manager)
    entry = registry.resolve("tf")["Foo"]
    assert entry.fn(None) == "custom"
    assert registry.owners("tf")["Foo"] == "custom"


def test_two_overrides_conflict(plugin_manager, use_plugin):
    use_plugin(_translator_plugin("a", override=True), "one")
    use_plugin(_translator_plugin("b", override=True), "two")
    with pytest.raises(PluginError, match="one and two"):
        plugins.translators(plugin_manager).resolve("tf")


def _noop(graph, config):
    return None


def _passes(*specs):
    reg = PassRegistry()
    for name, after, before in specs:
        reg.add(graph_pass(name, stage="ir", after=after, before=before)(_noop))
    return reg


def test_pass_order_follows_declarations_and_names():
    reg = _passes(("p.c", ["p.a"], []), ("p.b", [], []), ("p.a", [], []), ("p.z", [], ["p.a"]))
    assert [p.name for p in reg.ordered("ir")] == ["p.b", "p.z", "p.a", "p.c"]


def test_pass_order_ignores_missing_names():
    reg = _passes(("p.a", ["other.absent"], ["other.missing"]))
    assert [p.name for p in reg.ordered("ir")] == ["p.a"]


def test_pass_cycle_is_reported():
    reg = _passes(("p.a", ["p.b"], []), ("p.b", ["p.a"], []))
    with pytest.raises(PluginError, match=r"cycle: p\.\w -> p\.\w -> p\.\w"):
        reg.ordered("ir")


def test_disabled_pass_is_skipped():
    reg = _passes(("p.a", [], []), ("p.b", [], []))
    assert [p.name for p in reg.ordered("ir", disabled=["p.a"])] == ["p.b"]


def test_duplicate_pass_name_is_an_error():
    reg = PassRegistry()
    p = graph_pass("x.y", stage="ir")(_noop)
    reg.add(p)
    with pytest.raises(PluginError, match="registered by both"):
        reg.add(p)


def test_bad_stage_is_rejected():
    with pytest.raises(PluginError, match="stage"):
        graph_pass("x.y", stage="middle")


def test_emitter_conflict_and_unknown_target():
    reg = EmitterRegistry()
    reg.current_plugin = "one"
    reg.add("ir", lambda g, d, c: [])
    reg.current_plugin = "two"
    with pytest.raises(PluginError, match="one and two"):
        reg.add("ir", lambda g, d, c: [])
    with pytest.raises(Exception, match="installed targets: ir"):
        reg.get("onnx")


def test_builtins_register_like_any_plugin(plugin_manager):
    names = [p.name for p in plugins.passes(plugin_manager)]
    assert "cleanup.remove_dead_ir" in names
    assert "transformations.apply_config" in names
    assert {p.plugin for p in plugins.passes(plugin_manager)} == set(plugins.BUILTIN_PLUGINS)
    plugin_manager.check_pending()
