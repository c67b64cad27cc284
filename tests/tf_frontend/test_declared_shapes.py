"""Outputs keep the static shapes TensorFlow declares (declared_shapes.py).

The Object Detection API pads its detections to a fixed count with a computed amount and
promises the shape with ``set_shape``: TF declares ``[20, 4]``, the ops alone give ``[?, ?]``.
The IR's output then carries TF's shape, in OpenVINO too, and the values stay TF's; an input
shape that no longer refines the declared one (``--input_shape [-1,4]`` on ``[5,4]``) keeps the
output as inferred, because TF's declaration was about the old input.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

from ovrun import F32, core  # noqa: E402

import tfconv  # noqa: E402

tf1 = tf.compat.v1
ROWS = 20


def pad_or_clip(x):
    """The OD API's ``pad_or_clip_nd`` to ROWS rows: a slice and a pad by computed amounts."""
    n = tf.minimum(tf.shape(x)[0], ROWS)
    clipped = x[:n]
    padded = tf.pad(clipped, [[0, ROWS - n], [0, 0]])
    padded.set_shape([ROWS, 4])
    return padded * 2.0


def frozen(tmp_path: Path, build, shape, add_shapes: bool = True) -> Path:
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, shape, name="x")
        tf.identity(build(x), name="y")
    path = tmp_path / "model.pb"
    path.write_bytes(graph.as_graph_def(add_shapes=add_shapes).SerializeToString())
    return path


def run(graph, tmp_path: Path, x: np.ndarray) -> tuple[np.ndarray, str]:
    xml = tmp_path / "ir" / "model.xml"
    tfconv.save_model(graph, xml)
    model = core().read_model(str(xml))
    (out,) = model.outputs
    compiled = core().compile_model(model, "CPU", F32)
    return compiled([x])[compiled.output(0)], str(out.get_partial_shape())


def reference(x: np.ndarray, build=pad_or_clip) -> np.ndarray:
    """TensorFlow's result of ``build`` on ``x`` (a placeholder of any row count)."""
    graph = tf.Graph()
    with graph.as_default():
        ph = tf1.placeholder(tf.float32, [None, 4])
        y = build(ph)
    with tf1.Session(graph=graph) as sess:
        return sess.run(y, {ph: x})


@pytest.mark.parametrize("rows", [7, 30])
def test_graph_with_shapes_keeps_the_declared_output_shape(tmp_path, rows):
    x = np.random.default_rng(rows).normal(size=(rows, 4)).astype(np.float32)
    graph = tfconv.convert_model(str(frozen(tmp_path, pad_or_clip, [None, 4])))
    got, shape = run(graph, tmp_path, x)
    assert shape == f"[{ROWS},4]"
    np.testing.assert_array_equal(got, reference(x))
    (result,) = [graph.op(p.node) for p in graph.outputs]
    assert "y:0" in graph.info(graph.inputs(result.name)[0]).names  # the output keeps its name


def test_graph_without_shapes_stays_as_inferred(tmp_path):
    x = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    graph = tfconv.convert_model(str(frozen(tmp_path, pad_or_clip, [None, 4], add_shapes=False)))
    got, shape = run(graph, tmp_path, x)
    assert shape != f"[{ROWS},4]"
    np.testing.assert_array_equal(got, reference(x))


def test_an_input_shape_that_leaves_the_declared_one_pins_nothing(tmp_path):
    # Declared [5, 4] in, so TF declares [10, 4] out; with --input_shape [-1,4] that no longer
    # holds: 3 rows give 6.
    def double(x):  # raw Shape: tf.shape would fold the static 5 into the graph
        return tf.pad(x, [[0, tf.raw_ops.Shape(input=x)[0]], [0, 0]])

    x = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
    graph = tfconv.convert_model(str(frozen(tmp_path, double, [5, 4])), input_shape=[-1, 4])
    got, shape = run(graph, tmp_path, x)
    assert shape == "[?,4]"
    np.testing.assert_array_equal(got, reference(x, double))  # 6 rows


def test_saved_model_signature_shape(tmp_path):
    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            return {"boxes": pad_or_clip(x)}

    module = Module()
    directory = tmp_path / "saved_model"
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    x = np.random.default_rng(0).normal(size=(11, 4)).astype(np.float32)
    graph = tfconv.convert_model(saved_model_dir=str(directory))
    got, shape = run(graph, tmp_path, x)
    assert shape == f"[{ROWS},4]"
    np.testing.assert_array_equal(got, module.serve(tf.constant(x))["boxes"].numpy())
