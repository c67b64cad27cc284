"""The example vendor emitter (examples/onnx_emitter, ``--target onnx``): zoo classifiers written
as ONNX, run by onnxruntime and compared with TensorFlow in both input layouts; an IR op ONNX
cannot express is one error naming it.

``make test`` runs a representative subset of the zoo (Keras 3, tf_keras and Slim nets, the
FakeQuant net); ``make bench`` (bench/bench_onnx.py) checks every zoo net the same way.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfconv
from models import zoo
from ovrun import rel_err

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tfconv_onnx")

from tfconv_onnx.emitter import CONVERTERS  # noqa: E402

SUBSET = ["keras3-MobileNetV2", "tf_keras-MobileNetV3Small", "slim-inception_v1",
          "slim-resnet_v2_50", "tf-FakeQuantMobileNet"]
LAYOUTS = ["nchw", "nhwc"]
TOLERANCE = 1e-4
TFCONV = str(Path(sys.executable).parent / "tfconv")


@pytest.fixture(scope="module", autouse=True)
def _prebuild():
    zoo.prebuild(SUBSET)


def run_onnx(path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), feeds)})


@pytest.mark.zoo
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", SUBSET)
def test_zoo_net_matches_tensorflow(name, layout, tmp_path):
    case = zoo.get(name)
    ref = np.load(case.reference)
    graph = tfconv.convert_model(case.pb, disable_nhwc_to_nchw=(layout == "nhwc"), silent=True)
    files = tfconv.save_model(graph, tmp_path / "model", target="onnx")
    assert [f.name for f in files] == ["model.onnx"]
    model = onnx.load(str(files[0]))
    onnx.checker.check_model(model)
    assert len(model.graph.node) > 10
    feeds = []
    for input_name in case.inputs:
        x = ref[input_name]
        feeds.append(np.transpose(x, (0, 3, 1, 2)) if layout == "nchw" and x.ndim == 4 else x)
    outs = run_onnx(files[0], feeds)
    for out_name, actual in zip(case.outputs, outs):
        expected = ref[out_name]
        assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), "degenerate reference"
        err = rel_err(actual, expected)
        assert err <= TOLERANCE, f"{name} {layout}: rel err {err:.2e}"
        assert (actual.argmax(-1) == expected.argmax(-1)).all(), "top-1 differs"


def test_cli_target_onnx_is_listed_and_deterministic(tmp_path):
    case = zoo.get("tf_keras-MobileNetV3Small")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    tfconv_bin = [TFCONV]
    listed = subprocess.run([*tfconv_bin, "plugins"], capture_output=True, text=True, env=env,
                            check=True).stdout
    assert "onnx  (onnx)" in listed.split("targets (tfconv convert --target):")[1]
    written = []
    for run in ("a", "b"):
        out = tmp_path / run
        done = subprocess.run([*tfconv_bin, "convert", "--input_model", str(case.pb),
                               "--target", "onnx", "--output_dir", str(out), "--model_name", "net"],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in out.iterdir()) == ["net.onnx"]
        written.append((out / "net.onnx").read_bytes())
    assert written[0] == written[1], "the same model gave two different ONNX files"


def _write_unsupported_graph(path) -> None:
    """A frozen graph with two things ONNX cannot take: an image resize (IR Interpolate, which
    the emitter has no converter for) and a transpose whose order is fed at run time."""
    script = f"""
import tensorflow as tf
tf1 = tf.compat.v1
g = tf.Graph()
with g.as_default():
    x = tf1.placeholder(tf.float32, [1, 8, 8, 3], name="x")
    perm = tf1.placeholder(tf.int32, [4], name="perm")
    y = tf1.image.resize_bilinear(x, [16, 16], name="resize")
    tf.transpose(y, perm, name="moved")
tf.io.write_graph(g.as_graph_def(), {str(path.parent)!r}, {path.name!r}, as_text=False)
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)


def test_inexpressible_ops_are_one_error_naming_them(tmp_path):
    assert "Interpolate" not in CONVERTERS  # the premise: this IR op has no ONNX converter here
    pb = tmp_path / "resize.pb"
    _write_unsupported_graph(pb)
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([TFCONV, "convert", str(pb), "--target", "onnx",
                           "--output", "moved", "--output_dir", str(out)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "Interpolate x1 [resize/Interpolate]" in done.stderr and "--target ir" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not out.exists() or not any(out.iterdir()), "a failed conversion left files"
    # The same model without the resize: the run-time transpose order is named with its reason.
    done = subprocess.run([TFCONV, "convert", str(pb), "--target", "onnx",
                           "--input", "resize", "--output", "moved", "--output_dir", str(out)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 3, done.stderr
    assert "Transpose (its order input is computed at run time" in done.stderr
    assert "Traceback" not in done.stderr
    # And OpenVINO IR, which has both ops, converts it.
    done = subprocess.run([TFCONV, "convert", str(pb), "--output",
                           "moved", "--output_dir", str(out)], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stderr
