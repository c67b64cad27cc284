"""A third party's plugin does everything a built-in one does, the same way (TFCONV_PLUGINS)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ovrun import ir_layer_types, run_ir
from test_cli import small_graph

HERE = Path(__file__).parent


def run(*args, plugins="my_layers"):
    env = dict(os.environ, TFCONV_PLUGINS=plugins,
               PYTHONPATH=os.pathsep.join([str(HERE / "sample_plugin"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "tfconv.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, check=False)


def test_custom_layer_override_option_and_emitter(tmp_path):
    pb = small_graph(tmp_path / "m.pb", [("act", "MySwish")])
    result = run("convert", pb, "-o", tmp_path / "ir")
    assert result.returncode == 0, result.stderr
    types = ir_layer_types(tmp_path / "ir" / "m.xml")
    assert "Swish" in types and "Clamp" in types and "ReLU" not in types
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    expected = np.maximum(x, 0) + np.arange(4, dtype=np.float32)
    expected = expected / (1 + np.exp(-expected))
    (actual,) = run_ir(tmp_path / "ir" / "m.xml", [x])
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)

    summary = run("convert", pb, "-o", tmp_path / "s", "--target", "summary", "--my_flag", "on")
    assert summary.returncode == 0, summary.stderr
    data = json.loads((tmp_path / "s" / "m.json").read_text())
    assert data["flag"] == "on" and "Swish" in data["ops"]


def test_plugin_is_listed(tmp_path):
    out = run("plugins").stdout
    assert "my_layers" in out and "tfconv_add_options" in out
    ops = run("ops").stdout
    assert "MySwish\tmy_layers" in ops and "Relu\tmy_layers" in ops


def test_missing_plugin_module_is_a_clear_error():
    result = run("plugins", plugins="no_such_plugin_module")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no_such_plugin_module" in result.stderr and "TFCONV_PLUGINS" in result.stderr


@pytest.mark.parametrize("blocked", ["tf_frontend"])
def test_blocking_a_plugin_removes_its_translators(blocked, tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    env = dict(os.environ, TFCONV_DISABLE_PLUGINS=blocked)
    result = subprocess.run([sys.executable, "-m", "tfconv.cli", "convert", str(pb), "-o", str(tmp_path / "ir")],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode != 0 and "no installed loader" in result.stderr
