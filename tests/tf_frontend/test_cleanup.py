"""Training leftovers vanish from frozen graphs: Switch/Merge on constant predicates, Assert,
CheckNumerics, summaries, PlaceholderWithDefault, queue heads; plus --tensorboard_logdir and
--tensorflow_custom_layer_libraries."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

import tfconv  # noqa: E402
from ovrun import ir_layer_types, rel_err, run_ir  # noqa: E402

v1 = tf.compat.v1
TFCONV = [sys.executable, "-m", "tfconv.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
RNG = np.random.default_rng(7)
W = RNG.standard_normal((4, 3)).astype(np.float32)
B = RNG.standard_normal(3).astype(np.float32)
X = RNG.standard_normal((2, 4)).astype(np.float32)


def _save(g, path: Path) -> Path:
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


def _convert(model: Path, out: Path, **options) -> Path:
    graph = tfconv.convert_model(model, **options)
    xml = out / "model.xml"
    tfconv.save_model(graph, xml)
    return xml


def _run_tf(g, fetch: str, feeds: dict) -> np.ndarray:
    with v1.Session(graph=g) as sess:
        return sess.run(g.get_tensor_by_name(fetch), {g.get_tensor_by_name(k): v
                                                      for k, v in feeds.items()})


def _cond_graph(const_pred: bool):
    """x -> matmul -> cond(is_training, dropout-ish branch, inference branch) -> out, TF1 control
    flow (Switch/Merge), with a Merge value_index consumer."""
    g = tf.Graph()
    with g.as_default():
        v1.disable_control_flow_v2()
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        if const_pred:
            pred = tf.constant(False, name="is_training")
        else:
            pred = v1.placeholder_with_default(True, [], name="is_training")
        y = tf.matmul(x, W) + B
        out = v1.cond(pred, lambda: tf.nn.relu(y) * 0.5 + tf.constant(3.0), lambda: tf.tanh(y) * 2.0)
        tf.identity(out, name="out")
    v1.enable_control_flow_v2()
    assert {"Switch", "Merge"} <= {op.type for op in g.get_operations()}
    return g


@pytest.mark.parametrize("const_pred", [False, True], ids=["frozen_input", "const"])
def test_switch_merge_constant_predicate(tmp_path, const_pred):
    g = _cond_graph(const_pred)
    model = _save(g, tmp_path / "cond.pb")
    feeds = {"x:0": X}
    if not const_pred:
        feeds["is_training:0"] = False
    expected = _run_tf(g, "out:0", feeds)
    opts = {"output": "out"} if const_pred else {"input": "x,is_training->False"}
    xml = _convert(model, tmp_path, **opts)
    types = ir_layer_types(xml)
    assert not {"Switch", "Merge"} & set(types)
    (actual,) = run_ir(xml, [X])
    assert rel_err(actual, expected) <= 1e-5


def test_placeholder_with_default_named_stays_input(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        scale = v1.placeholder_with_default(np.float32([2.0, 2.0, 2.0, 2.0]), [4], name="scale")
        tf.identity(x * scale, name="out")
    model = _save(g, tmp_path / "pwd.pb")
    # Not named: the default is used and the IR has one input.
    xml = _convert(model, tmp_path / "a")
    (actual,) = run_ir(xml, [X])
    assert rel_err(actual, X * 2.0) <= 1e-6
    # Named: an IR input with the default's shape and type.
    graph = tfconv.convert_model(model, input="x,scale")
    params = graph.ops_of_type("Parameter")
    assert len(params) == 2
    s = np.float32([1, 2, 3, 4])
    xml = tmp_path / "b" / "model.xml"
    tfconv.save_model(graph, xml)
    (actual,) = run_ir(xml, [X, s])
    assert rel_err(actual, X * s) <= 1e-6


def test_assert_checknumerics_summaries_dropped(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        y = tf.matmul(x, W) + B
        check = v1.debugging.assert_all_finite(y, "bad")  # CheckNumerics
        a = tf.raw_ops.Assert(condition=tf.reduce_all(tf.math.is_finite(y)), data=[y],
                              name="finite")
        with tf.control_dependencies([a]):
            z = tf.nn.relu(check)
        v1.summary.scalar("mean", tf.reduce_mean(z))
        v1.summary.histogram("act", z)
        v1.summary.merge_all()
        tf.no_op(name="train_op")
        tf.identity(z, name="out")
    types = {op.type for op in g.get_operations()}
    assert {"Assert", "CheckNumerics", "ScalarSummary", "HistogramSummary", "MergeSummary",
            "NoOp"} <= types
    model = _save(g, tmp_path / "train.pb")
    expected = _run_tf(g, "out:0", {"x:0": X})
    graph = tfconv.convert_model(model)  # default outputs: only "out" survives
    assert [str(p) for p in graph.outputs] and len(graph.outputs) == 1
    xml = tmp_path / "model.xml"
    tfconv.save_model(graph, xml)
    (actual,) = run_ir(xml, [X])
    assert rel_err(actual, expected) <= 1e-5


def test_queue_dequeue_becomes_input(tmp_path):
    g = tf.Graph()
    with g.as_default():
        q = v1.FIFOQueue(10, [tf.float32, tf.int32], shapes=[[4], []], name="queue")
        q.enqueue_many([tf.zeros([3, 4]), tf.zeros([3], tf.int32)], name="fill")
        q.close(name="close")
        x, label = q.dequeue_many(2, name="batch")
        y = tf.matmul(x, W) + B
        tf.identity(y * tf.cast(label, tf.float32)[:, None], name="out")
    model = _save(g, tmp_path / "queue.pb")
    labels = np.int32([3, -1])
    expected = (X @ W + B) * labels[:, None].astype(np.float32)
    graph = tfconv.convert_model(model)  # detected outputs: the enqueue/close ops are dropped
    assert len(graph.outputs) == 1
    names = [op.name for op in graph.ops_of_type("Parameter")]
    assert names == ["batch", "batch_port_1"], names
    xml = tmp_path / "model.xml"
    tfconv.save_model(graph, xml)
    (actual,) = run_ir(xml, [X, labels])
    assert rel_err(actual, expected) <= 1e-5


# --- flags (CLI) ------------------------------------------------------------------------------


def _small(tmp_path: Path) -> Path:
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        tf.identity(tf.matmul(x, W), name="out")
    return _save(g, tmp_path / "small.pb")


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True,
                          check=False, env=ENV)


def test_tensorboard_logdir(tmp_path):
    model = _small(tmp_path)
    logdir = tmp_path / "tb"
    result = _cli("convert", model, "-o", tmp_path / "ir", "--tensorboard_logdir", logdir)
    assert result.returncode == 0, result.stderr
    events = list(logdir.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert (tmp_path / "ir" / "small.xml").is_file()


def test_tensorboard_logdir_unwritable(tmp_path):
    model = _small(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _cli("convert", model, "-o", tmp_path / "ir", "--tensorboard_logdir", blocker / "tb")
    assert result.returncode != 0
    assert result.stderr.startswith("[ ERROR ] --tensorboard_logdir"), result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ir").exists()


def test_custom_layer_library_missing(tmp_path):
    model = _small(tmp_path)
    result = _cli("convert", model, "-o", tmp_path / "ir",
                  "--tensorflow_custom_layer_libraries", tmp_path / "nope.so")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "nope.so" in lines[0] and "no such file" in lines[0]
    assert not (tmp_path / "ir").exists()


@pytest.mark.parametrize("pred", [True, False])
def test_raw_switch_merge_bare_constant_branch(tmp_path, pred):
    """Raw Switch/Merge where one branch is a bare Const (no data path from the Switch) and the
    Merge's value_index is used: it becomes a Const of the taken input's index."""
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        y = tf.matmul(x, W) + B
        sw = tf.raw_ops.Switch(data=y, pred=tf.constant(pred, name="pred"), name="sw")
        taken = tf.nn.relu(sw.output_true, name="relu_true")
        other = tf.constant(np.full((2, 3), 5.0, np.float32), name="other")
        m = tf.raw_ops.Merge(inputs=[other, taken], name="merge")
        tf.identity(m.output + tf.cast(m.value_index, tf.float32), name="out")
    model = _save(g, tmp_path / "raw.pb")
    xml = _convert(model, tmp_path, output="out")
    assert not {"Switch", "Merge"} & set(ir_layer_types(xml))
    expected = np.maximum(X @ W + B, 0) + 1.0 if pred else np.full((2, 3), 5.0, np.float32)
    (actual,) = run_ir(xml, [X] if pred else [])  # x feeds only the dead branch when False
    assert rel_err(actual, expected) <= 1e-5
    if not pred:  # asking for a tensor of the branch never taken is a clear error
        with pytest.raises(tfconv.errors.UsageError, match="never takes"):
            tfconv.convert_model(model, output="relu_true")


def test_iterator_get_next_becomes_input(tmp_path):
    g = tf.Graph()
    with g.as_default():
        ds = tf.data.Dataset.from_tensors((np.zeros((2, 4), np.float32), np.int32(0)))
        it = v1.data.make_one_shot_iterator(ds)
        x, k = it.get_next(name="next")
        tf.identity(tf.matmul(x, W) + tf.cast(k, tf.float32), name="out")
    model = _save(g, tmp_path / "it.pb")
    graph = tfconv.convert_model(model, output="out")
    params = {op.name: op.outputs[0] for op in graph.ops_of_type("Parameter")}
    assert len(params) == 2, params
    xml = tmp_path / "model.xml"
    tfconv.save_model(graph, xml)
    (actual,) = run_ir(xml, [X, np.int32(2)])
    assert rel_err(actual, X @ W + 2.0) <= 1e-5


def test_cli_frozen_is_training(tmp_path):
    g = _cond_graph(const_pred=False)
    model = _save(g, tmp_path / "cond.pb")
    result = _cli("convert", model, "-o", tmp_path / "ir", "--input", "x,is_training->False",
                  "--log_level", "INFO")
    assert result.returncode == 0, result.stderr
    assert "Switch" in result.stderr and "constant predicates" in result.stderr
    assert "Output out:0" in result.stdout and "switch" not in result.stdout
    expected = _run_tf(g, "out:0", {"x:0": X, "is_training:0": False})
    (actual,) = run_ir(tmp_path / "ir" / "cond.xml", [X])
    assert rel_err(actual, expected) <= 1e-5
