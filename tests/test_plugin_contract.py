"""The plugin contract: a plugin declares the API it was written for (``TFCONV_API``); an
incompatible or broken installed plugin is named (entry point, distribution, version) and skipped
with one warning, never a traceback; ``TFCONV_DISABLE_PLUGINS`` silences it; overrides are
explicit and independent of installation order. Plugins here are real distributions (a
``.dist-info`` with ``entry_points.txt``) on ``sys.path``; no TensorFlow."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from tfconv import hookimpl, irops, plugins
from tfconv.errors import PluginError
from tfconv.graph import TensorInfo

GOOD = """
from tfconv import hookimpl
from tfconv.translate import OpTable
TFCONV_API = 1
TABLE = OpTable("tf")
TABLE.register("ContractOp", inputs=1)(lambda ctx: ctx.emit("Relu", ctx.input(0)))

@hookimpl
def tfconv_register_translators(registry):
    registry.add(TABLE)
"""

BROKEN = {
    "import_error": "import tfconv_no_such_module_anywhere\n",
    "future_api": "from tfconv import hookimpl\nTFCONV_API = 99\n\n@hookimpl\n"
                  "def tfconv_register_passes(registry):\n    pass\n",
    "bad_signature": "from tfconv import hookimpl\n\n@hookimpl\n"
                     "def tfconv_register_translators(registry, table):\n    pass\n",
    "unknown_hook": "from tfconv import hookimpl\n\n@hookimpl\n"
                    "def tfconv_register_translatorz(registry):\n    pass\n",
}
REASONS = {
    "import_error": "it fails to import: ModuleNotFoundError",
    "future_api": "it was written for tfconv plugin API 99",
    "bad_signature": "a hook implementation does not match its specification",
    "unknown_hook": "it implements hooks tfconv does not have: tfconv_register_translatorz",
}


def install(root: Path, name: str, source: str, version: str = "0.3.1") -> Path:
    """A distribution ``tfconv-contract-<name>`` with entry point ``<name>`` under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    module = f"tfconv_contract_{name}"
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"tfconv_contract_{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tfconv-contract-{name}\n"
                                   f"Version: {version}\n")
    (info / "entry_points.txt").write_text(f"[tfconv]\n{name} = {module}\n")
    return root


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(plugins, "_WARNED", set())


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_plugin_is_named_and_skipped_with_one_warning(kind, tmp_path, monkeypatch, caplog,
                                                             fresh_warnings):
    monkeypatch.syspath_prepend(str(install(tmp_path, kind, BROKEN[kind])))
    monkeypatch.syspath_prepend(str(install(tmp_path / "good", "good", GOOD)))
    with caplog.at_level(logging.WARNING, logger="tfconv.plugins"):
        pm = plugins.get_plugin_manager()
        plugins.get_plugin_manager()  # a second manager does not repeat the warning
    records = [r.getMessage() for r in caplog.records if r.name == "tfconv.plugins"]
    assert len(records) == 1, records
    assert f"plugin {kind!r} (distribution tfconv-contract-{kind} 0.3.1" in records[0]
    assert REASONS[kind] in records[0]
    assert f"TFCONV_DISABLE_PLUGINS={kind}" in records[0]
    assert not pm.has_plugin(kind)
    assert pm.has_plugin("good") and pm.has_plugin("tf_frontend")  # the others still load
    assert "ContractOp" in plugins.translators(pm).owners("tf")


def test_cli_warns_once_without_traceback_and_disable_silences(tmp_path):
    root = install(tmp_path, "import_error", BROKEN["import_error"])
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, "-m", "tfconv.cli", "plugins"]
    shown = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    lines = [ln for ln in shown.stderr.splitlines() if "import_error" in ln]
    assert len(lines) == 1 and "tfconv-contract-import-error 0.3.1" in lines[0].replace("_", "-")
    assert "tf_frontend" in shown.stdout
    env["TFCONV_DISABLE_PLUGINS"] = "import_error"
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert quiet.returncode == 0 and "import_error" not in quiet.stderr


def _overriding(tag: str, override: bool) -> str:
    return f"""
from tfconv import hookimpl
from tfconv.translate import OpTable
TFCONV_API = 1
TABLE = OpTable("tf")
TABLE.register("ContractOp", inputs=1)(lambda ctx: {tag!r})

@hookimpl
def tfconv_register_translators(registry):
    registry.add(TABLE, override={override})
"""


@pytest.mark.parametrize("first", ["base", "custom"])
def test_installed_override_wins_whatever_the_installation_order(first, tmp_path, monkeypatch):
    """Two installed distributions claim one op; which comes first on ``sys.path`` (the order
    entry points are found in) does not decide: ``override=True`` does."""
    roots = {"base": install(tmp_path / "a", "base", _overriding("base", False)),
             "custom": install(tmp_path / "b", "custom", _overriding("custom", True))}
    second = "custom" if first == "base" else "base"
    monkeypatch.syspath_prepend(str(roots[second]))
    monkeypatch.syspath_prepend(str(roots[first]))
    pm = plugins.get_plugin_manager()
    order = [n for n, _ in pm.list_name_plugin() if n in roots]
    assert order == [first, second]
    registry = plugins.translators(pm)
    assert registry.owners("tf")["ContractOp"] == "custom"
    assert registry.resolve("tf")["ContractOp"].fn(None) == "custom"


def test_installed_plugins_claiming_one_op_without_override_is_an_error(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(install(tmp_path / "a", "one", _overriding("one", False))))
    monkeypatch.syspath_prepend(str(install(tmp_path / "b", "two", _overriding("two", False))))
    with pytest.raises(PluginError, match="one and two|two and one"):
        plugins.translators(plugins.get_plugin_manager()).resolve("tf")


def _rule_plugin(tag: str, override: bool, ir_type: str = "ContractIROp"):
    @hookimpl
    def tfconv_register_ir_ops(registry):
        registry.add(ir_type, lambda attrs, ins, values: [(ins[0].shape, np.dtype(tag))],
                     version=f"{tag}_opset", override=override)

    return types.SimpleNamespace(tfconv_register_ir_ops=tfconv_register_ir_ops)


@pytest.mark.parametrize("order", [("base", "custom"), ("custom", "base")],
                         ids=["base-first", "custom-first"])
def test_ir_op_rule_override_wins_whatever_the_order(plugin_manager, use_plugin, order):
    made = {"base": _rule_plugin("float32", False), "custom": _rule_plugin("float16", True)}
    for name in order:
        use_plugin(made[name], name)
    registry = plugins.ir_ops(plugin_manager)
    assert registry.added["ContractIROp"] == "custom (override)"
    assert irops.version_of("ContractIROp") == "float16_opset"
    info = TensorInfo((2, 3), np.dtype(np.float32))
    assert irops.infer("ContractIROp", {}, [info], [None]) == [((2, 3), np.dtype(np.float16))]


def test_ir_op_rules_conflict_without_override_and_built_ins_are_protected(plugin_manager,
                                                                           use_plugin):
    use_plugin(_rule_plugin("float32", False), "one")
    use_plugin(_rule_plugin("float16", False), "two")
    with pytest.raises(PluginError, match="ContractIROp.*(one and two|two and one)"):
        plugins.ir_ops(plugin_manager)
    plugin_manager.unregister(name="two")
    use_plugin(_rule_plugin("float16", False, ir_type="Relu"), "shadow")
    with pytest.raises(PluginError, match="shadow: IR op 'Relu' already has a built-in rule"):
        plugins.ir_ops(plugin_manager)


def test_plugin_rules_belong_to_the_plugin_manager_that_registered_them(plugin_manager,
                                                                        use_plugin):
    use_plugin(_rule_plugin("float16", True, ir_type="Relu"), "relu_f16")
    plugins.ir_ops(plugin_manager)
    assert irops.version_of("Relu") == "float16_opset"
    plugins.ir_ops(plugins.get_plugin_manager(autoload=False))  # a manager without it
    assert irops.version_of("Relu") == "opset1"


def test_first_party_and_example_plugins_declare_a_supported_api():
    pm = plugins.get_plugin_manager()
    for name, plugin in pm.list_name_plugin():
        if plugin is not None:
            assert plugins.plugin_api(plugin) in plugins.SUPPORTED_APIS, name
    import tfconv_custom_op
    assert tfconv_custom_op.TFCONV_API == plugins.PLUGIN_API


RAISES_IN_HOOK = """
from tfconv import hookimpl
TFCONV_API = 1

@hookimpl
def tfconv_register_translators(registry):
    import tfconv_contract_raises_translators  # a module its install lost
"""


def test_a_registration_hook_that_raises_is_named_with_its_fix_not_a_crash(tmp_path):
    """An installed plugin whose module imports but whose hook raises (here: a submodule gone
    from a half-removed editable install) stops the conversion with one line naming the plugin,
    its distribution, the hook and the way out; no traceback, no crash log."""
    root = install(tmp_path, "raises", RAISES_IN_HOOK)
    crashes = tmp_path / "crashes"
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               TFCONV_CRASH_DIR=str(crashes))
    graph = tmp_path / "g.pbtxt"
    graph.write_text('node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: '
                     'DT_FLOAT } } attr { key: "shape" value { shape { dim { size: 2 } } } } }\n'
                     'node { name: "y" op: "Relu" input: "x" attr { key: "T" value { type: '
                     'DT_FLOAT } } }\n')
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tfconv.cli", "convert", "--input_model", str(graph),
           "--output_dir", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 70, run.stderr
    assert "Traceback" not in run.stderr and "crash log" not in run.stderr
    errors = [ln for ln in run.stderr.splitlines() if "ERROR" in ln]
    assert len(errors) == 1, run.stderr
    assert ("plugin 'raises' (distribution tfconv-contract-raises 0.3.1) failed in "
            "tfconv_register_translators: ModuleNotFoundError") in errors[0]
    assert "TFCONV_DISABLE_PLUGINS=raises" in errors[0]
    assert not crashes.exists() and not out.exists()
    env["TFCONV_DISABLE_PLUGINS"] = "raises"
    fixed = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert fixed.returncode == 0, fixed.stderr
    assert (out / "g.xml").exists()
