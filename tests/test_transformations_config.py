"""--transformations_config (legacy recipe JSON) with a third party's replacer, and
--tensorflow_custom_operations_config_update: a real TF graph with two hand-written tanh-GELU
scopes; the test plugin (tests/sample_plugin/my_replacers.py, TFCONV_PLUGINS) replaces the
matched sub-graphs before translation; the IR runs in OpenVINO and matches TensorFlow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from ovrun import rel_err, run_ir

pytest.importorskip("openvino")

HERE = Path(__file__).parent
GELU_INPUTS = [[{"node": "/cube$", "port": 0}, {"node": "/inner$", "port": 0},
                {"node": "/half_x$", "port": 1}]]
GELU_OUTPUTS = [{"node": "/gelu$", "port": 0}]

BUILD = r"""
import sys, numpy as np, tensorflow as tf
tf1 = tf.compat.v1
g = tf.Graph()
rng = np.random.default_rng(0)
def gelu(x, scope):
    with tf1.name_scope(scope):
        cube = tf.pow(x, 3.0, name="cube")
        inner = tf.add(x, tf.multiply(0.044715, cube), name="inner")
        t = tf.tanh(tf.multiply(np.float32(np.sqrt(2 / np.pi)), inner), name="tanh")
        half_x = tf.multiply(0.5, x, name="half_x")
        return tf.multiply(half_x, tf.add(1.0, t), name="gelu")
with g.as_default():
    x = tf1.placeholder(tf.float32, [2, 8], name="x")
    h = tf.matmul(x, rng.normal(size=(8, 16)).astype(np.float32), name="dense1")
    h = gelu(h, "block/act")
    h = tf.matmul(h, rng.normal(size=(16, 4)).astype(np.float32) / 4, name="dense2")
    y = tf.identity(gelu(h, "head/act"), name="y")
    feed = rng.normal(size=(2, 8)).astype(np.float32) * 2
    with tf1.Session(graph=g) as s:
        ref = s.run(y, {x: feed})
tf.io.write_graph(g.as_graph_def(), sys.argv[1], "gelu.pb", as_text=False)
np.savez(sys.argv[1] + "/ref.npz", x=feed, y=ref)
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gelu")
    subprocess.run([sys.executable, "-c", BUILD, str(out)], check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return out


def run(*args, plugins="my_replacers"):
    env = dict(os.environ, TFCONV_PLUGINS=plugins, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(HERE / "sample_plugin"),
                                           os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "tfconv.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, check=False)


def write(path: Path, recipes: list) -> Path:
    path.write_text(json.dumps(recipes, indent=2))
    return path


def layer_names(xml: Path) -> list[tuple[str, str]]:
    return [(layer.get("name"), layer.get("type"))
            for layer in ET.parse(xml).getroot().iter("layer")]


def check_against_tf(model: Path, xml: Path) -> None:
    ref = np.load(model / "ref.npz")
    (actual,) = run_ir(xml, [ref["x"]])
    assert rel_err(actual, ref["y"]) <= 1e-4
    assert np.std(ref["y"]) > 1e-3


SCOPE = {"id": "my_replacers.GeluTanh", "match_kind": "scope",
         "instances": ["block/act", "head/act"], "inputs": GELU_INPUTS,
         "outputs": GELU_OUTPUTS, "custom_attributes": {"approximation": "tanh"}}


def test_scope_recipe_replaces_each_instance(model, tmp_path):
    cfg = write(tmp_path / "t.json", [SCOPE, {"id": "my_replacers.Tag", "match_kind": "general",
                                              "custom_attributes": {"tag": "seen"}}])
    done = run("convert", model / "gelu.pb", "--transformations_config", cfg, "-o", tmp_path / "ir",
               "--log_level", "INFO")
    assert done.returncode == 0, done.stderr
    assert "3 replacement(s) applied" in done.stderr
    layers = layer_names(tmp_path / "ir" / "gelu.xml")
    replaced = [n for n, t in layers if "MyGelu" in n]
    assert len(replaced) == 2 and all(t == "Gelu" for n, t in layers if n in replaced)
    # Nothing of the hand-written sub-graphs is left: no Tanh, no layer of the two scopes but
    # the replacements.
    assert not [n for n, t in layers if t == "Tanh" or
                (n.startswith(("block/act/", "head/act/")) and "MyGelu" not in n)]
    check_against_tf(model, tmp_path / "ir" / "gelu.xml")


def test_points_recipe(model, tmp_path):
    recipe = {"id": "my_replacers.GeluTanh", "match_kind": "points",
              "instances": {"start_points": ["head/act/cube", "head/act/inner", "head/act/half_x"],
                            "end_points": ["head/act/gelu"]}}
    cfg = write(tmp_path / "p.json", [recipe])
    done = run("convert", model / "gelu.pb", "--transformations_config", cfg, "-o", tmp_path / "ir")
    assert done.returncode == 0, done.stderr
    layers = layer_names(tmp_path / "ir" / "gelu.xml")
    assert [n.split("/MyGelu")[0] for n, _ in layers if "MyGelu" in n] == ["head/act"]
    check_against_tf(model, tmp_path / "ir" / "gelu.xml")


def test_config_update_fills_inputs_and_outputs(model, tmp_path):
    bare = {k: v for k, v in SCOPE.items() if k not in ("inputs", "outputs")}
    cfg = write(tmp_path / "u.json", [bare])
    done = run("convert", model / "gelu.pb", "--tensorflow_custom_operations_config_update", cfg,
               "-o", tmp_path / "none")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "none").exists(), "the update run converted something"
    (filled,) = json.loads(cfg.read_text())
    assert sorted(map(json.dumps, filled["inputs"][0])) == sorted(map(json.dumps, GELU_INPUTS[0]))
    assert filled["outputs"] == GELU_OUTPUTS
    assert filled["custom_attributes"] == {"approximation": "tanh"}
    done = run("convert", model / "gelu.pb", "--transformations_config", cfg, "-o", tmp_path / "ir")
    assert done.returncode == 0, done.stderr
    check_against_tf(model, tmp_path / "ir" / "gelu.xml")


BAD = {
    "unknown id": ([{**SCOPE, "id": "nobody.Replacer"}],
                   "no plugin registers a replacer with id 'nobody.Replacer'"),
    "scope matches nothing": ([{**SCOPE, "instances": ["nowhere/act"]}],
                              "scope 'nowhere/act' matches no node"),
    "inputs do not cut": ([{**SCOPE, "inputs": [[{"node": "/cube$", "port": 0}]]}],
                          "the listed inputs do not cut the graph"),
    "outputs do not cut": ([{**SCOPE, "outputs": [{"node": "/tanh$", "port": 0}]}],
                           "the listed outputs do not cut the graph"),
    "bad match_kind": ([{**SCOPE, "match_kind": "regions"}], "match_kind 'regions' is not one of"),
    "no id": ([{k: v for k, v in SCOPE.items() if k != "id"}], "has no \"id\""),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_recipe_is_one_line(model, tmp_path, case):
    recipes, expected = BAD[case]
    cfg = write(tmp_path / "bad.json", recipes)
    out = tmp_path / "ir"
    done = run("convert", model / "gelu.pb", "--transformations_config", cfg, "-o", out)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_broken_json_is_one_line(model, tmp_path):
    cfg = tmp_path / "broken.json"
    cfg.write_text('[{"id": "x",')
    for flag in ("--transformations_config", "--tensorflow_custom_operations_config_update"):
        done = run("convert", model / "gelu.pb", flag, cfg, "-o", tmp_path / "ir")
        assert done.returncode == 2 and "not valid JSON" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert cfg.read_text() == '[{"id": "x",', "a broken file was rewritten"


@pytest.mark.parametrize("order", ["override first", "override last"])
def test_replacer_override_wins_in_either_order(order):
    from tfconv.errors import PluginError
    from tfconv.replacers import ReplacerRegistry

    def base(graph, match, config):
        return None

    def better(graph, match, config):
        return None

    registry = ReplacerRegistry()
    adds = [("base", base, False), ("better", better, True)]
    for plugin, fn, override in (adds if order == "override last" else adds[::-1]):
        registry.current_plugin = plugin
        registry.add("x.Id", fn, override=override)
    entry = registry.get("x.Id", "test")
    assert entry.replace is better and entry.plugin == "better"
    registry.current_plugin = "third"
    with pytest.raises(PluginError, match="registered by both"):
        registry.add("y.Id", base)
        registry.add("y.Id", better)
