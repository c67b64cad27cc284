"""Issue 3's bad inputs through the CLI, each with the full contract: one clear ``[ ERROR ]``
message naming what the file is and what to pass instead, a non-zero exit, no traceback and no
output directory. (test_cli.py covers empty, HTML, Git LFS and HDF5 bytes in a ``.pb``;
test_formats.py the SavedModel tags, signatures and ``saved_model.pb``; test_surgery.py and
test_cleanup.py the ``--input``/``--output`` names.)"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cliassert import assert_clean_failure

TFCONV = [sys.executable, "-m", "tfconv.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True,
                          check=False, env=ENV)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _frozen_graph(path: Path) -> Path:
    """x[?,4] -> Relu "out", written with our own GraphDef schema (no TensorFlow)."""
    from tfconv_tf_frontend import proto
    gd = proto.GraphDef()
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    gd.node.add(name="out", op="Relu", input=["x"]).attr["T"].type = 1
    gd.versions.producer = 1000
    path.write_bytes(gd.SerializeToString())
    return path


def _keras_archive(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", '{"keras_version": "3.5.0"}')
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    return path


def _onnx(path: Path) -> Path:
    node = _field(1, b"x") + _field(2, b"y") + _field(4, b"Relu")
    graph = _field(1, node) + _field(2, b"main_graph")
    path.write_bytes(_field(1, 8) + _field(2, b"pytorch") + _field(3, b"2.3.0")
                     + _field(7, graph) + _field(8, _field(2, 17)))
    return path


def _tflite(path: Path) -> Path:
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(range(120)))
    return path


def _h5(path: Path) -> Path:
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    return path


def _truncated(path: Path) -> Path:
    data = _frozen_graph(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make, filename, needles", [
    (_keras_archive, "model.keras", ["Keras 3", "tf.saved_model.save"]),
    (_h5, "model.h5", ["HDF5", "Keras", "SavedModel"]),
    (_tflite, "model.tflite", ["TFLite", "TFLite frontend"]),
    (_onnx, "model.onnx", ["ONNX", "pytorch", "ONNX frontend"]),
    (_truncated, "model.pb", ["truncated"]),
], ids=["keras3-archive", "h5", "tflite", "onnx", "truncated"])
def test_not_a_tensorflow_graph(tmp_path, make, filename, needles):
    model = make(tmp_path / filename)
    out = tmp_path / "ir"
    message = assert_clean_failure(run("convert", model, "-o", out), out, str(model), *needles)
    assert len(message.strip().splitlines()) <= 2, message


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    tf = pytest.importorskip("tensorflow")
    module = tf.Module()
    module.w = tf.Variable(np.float32([[1.0, -2.0], [0.5, 3.0]]))
    module.f = tf.function(lambda x: tf.matmul(x, module.w),
                           input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    directory = tmp_path_factory.mktemp("bad_inputs") / "sm"
    tf.saved_model.save(module, str(directory), signatures=module.f)
    return directory


def test_saved_model_pb_under_another_name(saved_model, tmp_path):
    model = tmp_path / "frozen.pb"
    model.write_bytes((saved_model / "saved_model.pb").read_bytes())
    out = tmp_path / "ir"
    assert_clean_failure(run("convert", model, "-o", out), out, "SavedModel", "--saved_model_dir")


def test_saved_model_dir_that_is_not_one(tmp_path):
    model = _frozen_graph(tmp_path / "frozen.pb")
    out = tmp_path / "ir"
    result = run("convert", "--saved_model_dir", model, "-o", out)
    assert_clean_failure(result, out, f"--saved_model_dir {model}",
                         "not a SavedModel directory (no saved_model.pb)")
    result = run("convert", "--saved_model_dir", tmp_path, "-o", out)
    assert_clean_failure(result, out, "not a SavedModel directory")


def test_checkpoint_given_with_a_saved_model(saved_model, tmp_path):
    out = tmp_path / "ir"
    result = run("convert", saved_model, "--input_checkpoint", tmp_path / "model.ckpt", "-o", out)
    assert_clean_failure(result, out, "--input_checkpoint goes with an inference graph",
                         "variables/", "drop it")


def test_two_models(saved_model, tmp_path):
    model = _frozen_graph(tmp_path / "frozen.pb")
    out = tmp_path / "ir"
    result = run("convert", model, "--saved_model_dir", saved_model, "-o", out)
    assert_clean_failure(result, out, "two models given", "pass one")
