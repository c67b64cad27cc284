"""A real custom layer end to end (examples/custom_op): the TF op ``SoftClip`` compiled from C++
against the installed TensorFlow, models that use it (frozen, SavedModel, and a graph with a V1
checkpoint that only TensorFlow freezes), converted by the example plugin as standard IR ops and
as a custom IR layer that OpenVINO runs with the plugin's Python ``Op`` extension; every IR is
compared with TensorFlow running the op from the library."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cliassert import assert_clean_failure
from ovrun import F32, rel_err

tf = pytest.importorskip("tensorflow")
ov = pytest.importorskip("openvino")
build = pytest.importorskip("tfconv_custom_op.build")

import tfconv  # noqa: E402
from tfconv.errors import UnsupportedOpsError  # noqa: E402
from tfconv.plugins import get_plugin_manager  # noqa: E402

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "custom_op"
TFCONV = [sys.executable, "-m", "tfconv.cli"]
EXTENSION = "tfconv_custom_op.ov_extension"
LIMIT = 1.5


@pytest.fixture(scope="module")
def lib() -> Path:
    """The op library, compiled once per source and TensorFlow version (cached)."""
    path = build.build_library(CACHE)
    return path


@pytest.fixture(scope="module")
def soft_clip(lib):
    return tf.load_op_library(str(lib)).soft_clip


def _weights():
    rng = np.random.default_rng(7)
    return (rng.normal(0, 0.6, (3, 3, 3, 6)).astype(np.float32),
            rng.normal(0, 0.3, 6).astype(np.float32),
            rng.normal(0, 1.0, (6, 5)).astype(np.float32),
            rng.normal(0, 0.1, 5).astype(np.float32))


def _net(x, soft_clip, k, b, w, b2):
    """Conv -> SoftClip -> global mean -> Dense: logits [1, 5]."""
    h = tf.nn.bias_add(tf.nn.conv2d(x, k, 1, "SAME"), b)
    h = soft_clip(h, limit=LIMIT)
    return tf.identity(tf.matmul(tf.reduce_mean(h, [1, 2]), w) + b2, name="logits")


@pytest.fixture(scope="module")
def models(tmp_path_factory, soft_clip):
    """The three forms of one model, and TensorFlow's logits on ``x``."""
    root = tmp_path_factory.mktemp("custom_op")
    k, b, w, b2 = _weights()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [1, 8, 8, 3], name="input")
        _net(x, soft_clip, k, b, w, b2)
    (root / "frozen.pb").write_bytes(graph.as_graph_def().SerializeToString())
    # A TF1 graph with variables and a V1 checkpoint: only TensorFlow freezes it.
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [1, 8, 8, 3], name="input")
        variables = [v1.Variable(a, name=n) for a, n in zip((k, b, w, b2), "kbwc")]
        _net(x, soft_clip, *variables)
        saver = v1.train.Saver(write_version=v1.train.SaverDef.V1)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, str(root / "model.ckpt"))
        v1.train.write_graph(graph.as_graph_def(), str(root), "graph.pbtxt", as_text=True)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.vars = [tf.Variable(a) for a in (k, b, w, b2)]

        @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="input")])
        def __call__(self, x):
            return {"logits": _net(x, soft_clip, *self.vars)}

    tf.saved_model.save(Net(), str(root / "saved"))
    x = np.random.default_rng(3).uniform(0, 1, (1, 8, 8, 3)).astype(np.float32)
    expected = _net(tf.constant(x), soft_clip, k, b, w, b2).numpy()
    return {"frozen": root / "frozen.pb", "saved_model": root / "saved", "x": x,
            "checkpoint": (root / "graph.pbtxt", root / "model.ckpt"), "tf": expected}


def _core(extension: bool):
    core = ov.Core()
    if extension:
        from tfconv_custom_op.ov_extension import OPENVINO_EXTENSIONS
        for op in OPENVINO_EXTENSIONS:
            core.add_extension(op)
    return core


def _check(xml: Path, models, mode: str) -> list[str]:
    """Run the IR in OpenVINO (with the extension for the custom layer) against TensorFlow."""
    import xml.etree.ElementTree as ET
    layers = {(e.get("type"), e.get("version")) for e in ET.parse(xml).getroot().iter("layer")}
    if mode == "custom_layer":
        assert ("SoftClip", "tfconv_custom_op") in layers
        assert ("Tanh", "opset1") not in layers
    else:
        assert not any(t == "SoftClip" for t, _ in layers)
        assert ("Tanh", "opset1") in layers
    compiled = _core(mode == "custom_layer").compile_model(str(xml), "CPU", F32)
    (got,) = compiled([models["x"].transpose(0, 3, 1, 2)]).values()
    assert got.shape == models["tf"].shape
    assert rel_err(np.asarray(got), models["tf"]) <= 1e-4
    assert int(np.argmax(got)) == int(np.argmax(models["tf"]))
    return sorted(t for t, _ in layers)


@pytest.mark.parametrize("mode", ["ir_ops", "custom_layer"])
@pytest.mark.parametrize("form", ["frozen", "saved_model", "checkpoint"])
def test_soft_clip_converts_and_matches_tensorflow(models, lib, form, mode, tmp_path, caplog):
    if form == "checkpoint":  # frozen by TensorFlow, which must load the op library first
        graph, ckpt = models["checkpoint"]
        kw = {"input_checkpoint": ckpt, "output": ["logits"]}
        model = graph
    else:
        model, kw = models[form], {}
    with caplog.at_level(logging.INFO, logger="tfconv"):
        ir = tfconv.convert_model(model, tensorflow_custom_layer_libraries=str(lib),
                                  soft_clip_as=mode, **kw)
    if form == "checkpoint":
        assert "V1 checkpoints are read with TensorFlow" in caplog.text
    xml = tmp_path / "m.xml"
    tfconv.save_model(ir, xml)
    _check(xml, models, mode)


def test_without_the_plugin_the_op_is_named_with_the_fix(models, lib, tmp_path):
    pm = get_plugin_manager(blocked=["custom_op"])
    with pytest.raises(UnsupportedOpsError) as err:
        tfconv.convert_model(models["frozen"], plugin_manager=pm)
    assert list(err.value.missing) == ["SoftClip"]
    out = tmp_path / "ir"
    env = dict(os.environ, TFCONV_DISABLE_PLUGINS="custom_op")
    result = subprocess.run([*TFCONV, "convert", models["frozen"], "-o", out],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 3
    stderr = assert_clean_failure(result, out, "unsupported tf op type SoftClip x1: SoftClip;",
                                  "`tfconv plugin new my_ops --op SoftClip`")
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_validate_and_classify_load_the_runtime_extension(models, lib, tmp_path):
    """The custom layer runs in ``tfconv validate`` and ``classify`` only with ``--extension``;
    without it, OpenVINO's refusal is one clean line naming the layer."""
    flags = ["--tensorflow_custom_layer_libraries", lib, "--soft_clip_as", "custom_layer"]
    ok = subprocess.run([*TFCONV, "validate", models["frozen"], *flags, "--extension", EXTENSION],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "[ SUCCESS ] 1 output(s) match TensorFlow" in ok.stdout
    from PIL import Image
    picture = tmp_path / "x.png"
    Image.fromarray((models["x"][0] * 255).astype(np.uint8)).save(picture)
    ir = tfconv.convert_model(models["frozen"], tensorflow_custom_layer_libraries=str(lib),
                              soft_clip_as="custom_layer")
    xml = tmp_path / "ir" / "m.xml"
    tfconv.save_model(ir, xml)
    shown = subprocess.run([*TFCONV, "classify", xml, picture, "--top", "2", "--extension",
                            EXTENSION], capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "classid probability" in shown.stdout
    assert len([ln for ln in shown.stdout.splitlines() if ln.strip()[:1].isdigit()]) == 2
    refused = subprocess.run([*TFCONV, "classify", xml, picture], capture_output=True, text=True,
                             check=False)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert "SoftClip" in refused.stderr and "unsupported opset: tfconv_custom_op" in refused.stderr
    assert "pass --extension" in refused.stderr
    # detect reads the IR with the extension too (this net has no detection outputs, which is
    # the next thing detect checks).
    read = subprocess.run([*TFCONV, "detect", xml, picture, "--out", tmp_path / "o.png",
                           "--extension", EXTENSION], capture_output=True, text=True, check=False)
    assert read.returncode == 2 and "has no detection outputs" in read.stderr, read.stderr
    bad = subprocess.run([*TFCONV, "classify", xml, picture, "--extension", "no_such_module_x"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--extension no_such_module_x: cannot import it" in bad.stderr


def test_the_ir_op_rule_comes_from_the_hook(lib):
    """The plugin's ``tfconv_register_ir_ops`` rule gives the layer its opset and shapes."""
    from tfconv import irops
    from tfconv.graph import TensorInfo
    from tfconv.plugins import ir_ops
    registry = ir_ops(get_plugin_manager())
    assert registry.added == {"SoftClip": "custom_op"}
    assert irops.version_of("SoftClip") == "tfconv_custom_op"
    info = TensorInfo((None, 3, 8, 8), np.dtype(np.float32))
    assert irops.infer("SoftClip", {"limit": 2.0}, [info], [None]) == [
        ((None, 3, 8, 8), np.dtype(np.float32))]
    x = np.linspace(-4, 4, 9, dtype=np.float32)
    (y,) = irops.evaluate("SoftClip", {"limit": 2.0}, [x])
    np.testing.assert_allclose(y, 2.0 * np.tanh(x / 2.0), rtol=1e-6)


def test_to_openvino_reads_the_custom_layer_with_the_callers_core(models, lib):
    ir = tfconv.convert_model(models["frozen"], tensorflow_custom_layer_libraries=str(lib),
                              soft_clip_as="custom_layer")
    core = _core(extension=True)
    model = tfconv.to_openvino(ir, core=core)
    assert "SoftClip" in [op.get_type_name() for op in model.get_ordered_ops()]
    (got,) = core.compile_model(model, "CPU", F32)([models["x"].transpose(0, 3, 1, 2)]).values()
    assert rel_err(np.asarray(got), models["tf"]) <= 1e-4
