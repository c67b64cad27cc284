"""``tfconv.to_openvino``: the converted graph as an ``openvino.Model`` in memory, compiled
directly and equal to the IR files ``tfconv.save_model`` writes (same ops, names, results)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from ovrun import F32, rel_err

tf = pytest.importorskip("tensorflow")
ov = pytest.importorskip("openvino")

import tfconv  # noqa: E402
from tfconv.errors import UsageError  # noqa: E402


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """Conv -> BatchNorm (random stats) -> Relu6 -> pool -> Dense: logits [2, 7]."""
    rng = np.random.default_rng(11)
    k = rng.normal(0, 0.4, (3, 3, 3, 8)).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.2, 8)
    mean, var = rng.normal(0, 0.3, 8), rng.uniform(0.5, 2.0, 8)
    w = rng.normal(0, 0.5, (8, 7)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2, 12, 12, 3], name="input")
        h = tf.nn.conv2d(x, k, 2, "SAME")
        h = tf.nn.batch_normalization(h, *(v.astype(np.float32) for v in (mean, var, beta, gamma)),
                                      1e-3)
        h = tf.reduce_mean(tf.nn.relu6(h), [1, 2])
        tf.identity(tf.matmul(h, w), name="logits")
    path = tmp_path_factory.mktemp("to_openvino") / "net.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    x = np.random.default_rng(5).uniform(0, 1, (2, 12, 12, 3)).astype(np.float32)
    with tf.compat.v1.Session(graph=graph) as sess:
        expected = sess.run("logits:0", {"input:0": x})
    return path, x, expected


def _layers(xml: Path) -> list[tuple[str, str]]:
    return [(e.get("name"), e.get("type")) for e in ET.parse(xml).getroot().iter("layer")]


def test_to_openvino_compiles_matches_tf_and_equals_save_model(frozen, tmp_path):
    path, x, expected = frozen
    graph = tfconv.convert_model(path)
    model = tfconv.to_openvino(graph)
    assert isinstance(model, ov.Model)
    got = ov.compile_model(model, "CPU", F32)([x.transpose(0, 3, 1, 2)])[0]
    assert rel_err(np.asarray(got), expected) <= 1e-4
    assert (np.argmax(got, 1) == np.argmax(expected, 1)).all()
    # openvino.save_model of it and tfconv.save_model: the same ops, names and results.
    ours = tmp_path / "tfconv" / "m.xml"
    tfconv.save_model(graph, ours)
    theirs = tmp_path / "ov" / "m.xml"
    ov.save_model(model, theirs, compress_to_fp16=False)
    assert sorted(_layers(theirs)) == sorted(_layers(ours))
    read = ov.Core().read_model(ours)
    assert [sorted(o.get_names()) for o in model.outputs] == \
        [sorted(o.get_names()) for o in read.outputs]
    assert [sorted(i.get_names()) for i in model.inputs] == \
        [sorted(i.get_names()) for i in read.inputs]
    again = ov.compile_model(str(theirs), "CPU", F32)([x.transpose(0, 3, 1, 2)])[0]
    np.testing.assert_array_equal(again, got)


def test_to_openvino_refuses_what_is_not_an_ir_graph():
    with pytest.raises(UsageError, match="pass the graph tfconv.convert_model returned"):
        tfconv.to_openvino("model.pb")
