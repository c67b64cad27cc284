"""Contracts: every hook documented, supported-ops doc in sync, plugins declared as entry points."""
from __future__ import annotations

import inspect
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from tfconv import hookspecs

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"tf_frontend", "ir_backend", "slim", "od_api"}


def test_every_hookspec_is_documented():
    doc = (ROOT / "docs" / "hooks.md").read_text()
    specs = [(n, f) for n, f in vars(hookspecs).items() if n.startswith("tfconv_") and callable(f)]
    assert specs
    for name, fn in specs:
        args = ", ".join(inspect.signature(fn).parameters)
        assert f"## {name}({args})" in doc, f"docs/hooks.md lacks a '## {name}({args})' section"


def test_first_party_plugins_are_entry_points():
    names = {ep.name for ep in metadata.entry_points(group="tfconv")}
    assert names >= FIRST_PARTY
    for ep in metadata.entry_points(group="tfconv"):
        if ep.name in FIRST_PARTY:
            assert ep.value == f"tfconv_{ep.name}.plugin"


def test_all_plugins_load_and_check_pending(full_plugin_manager):
    full_plugin_manager.check_pending()
    loaded = {name for name, _ in full_plugin_manager.list_name_plugin()}
    assert loaded >= FIRST_PARTY


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfconv.cli", *args], capture_output=True,
                          text=True, check=False)


def test_supported_ops_doc_matches_registry():
    result = _cli("ops", "--markdown")
    assert result.returncode == 0, result.stderr
    doc = (ROOT / "docs" / "supported_ops.md").read_text()
    assert doc.strip() == result.stdout.strip(), "run `make docs` to regenerate docs/supported_ops.md"
    assert len(re.findall(r"^\| \w+ \| tf_frontend \|$", doc, re.M)) >= 80


def test_plugins_command_lists_distributions_and_hooks():
    out = _cli("plugins").stdout
    assert "tf_frontend  (tfconv-tf-frontend" in out
    assert "tfconv_register_translators" in out
    assert "ir_backend  (tfconv-ir-backend" in out and "tfconv_register_emitters" in out


def test_core_imports_no_plugin_and_no_tensorflow():
    code = ("import sys, tfconv, tfconv.cli, tfconv.pipeline, tfconv.translate, tfconv.irops;"
            "bad=[m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow','tfconv_tf_frontend','tfconv_ir_backend','tfconv_slim','tfconv_od_api','openvino')];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
