"""Training leftovers vanish from frozen graphs: Switch/Merge on constant predicates (nested conds
too), Assert, CheckNumerics, summaries, PlaceholderWithDefault, queue and iterator heads (which
--input may name, with shapes, types and values); a TF1 training graph end to end; plus
--tensorboard_logdir and --tensorflow_custom_layer_libraries."""
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
from cliassert import assert_clean_failure  # noqa: E402
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


# --- nested conds on constant predicates ------------------------------------------------------


def _nested_cond_graph():
    """TF1 conds nested two deep: cond(is_training, train, infer) where ``train`` holds a cond on
    is_training itself (its predicate reaches it through a Switch of the outer cond) feeding a
    cond on use_ema, and ``infer`` holds a cond on use_ema."""
    g = tf.Graph()
    with g.as_default():
        v1.disable_control_flow_v2()
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        is_training = v1.placeholder_with_default(True, [], name="is_training")
        use_ema = v1.placeholder_with_default(True, [], name="use_ema")
        y = tf.matmul(x, W) + B

        def train():
            inner = v1.cond(is_training, lambda: tf.nn.relu(y) * 0.5, lambda: y - 1.0)
            return v1.cond(use_ema, lambda: inner + 1.0, lambda: tf.tanh(inner))

        out = v1.cond(is_training, train, lambda: v1.cond(use_ema, lambda: y * 3.0,
                                                          lambda: tf.sigmoid(y)))
        tf.identity(out, name="out")
    v1.enable_control_flow_v2()
    return g


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("ema", [True, False])
def test_nested_conds_collapse(tmp_path, training, ema):
    g = _nested_cond_graph()
    switches = [op for op in g.get_operations() if op.type == "Switch"]
    assert len(switches) >= 12 and any("cond/cond" in op.name for op in switches)
    model = _save(g, tmp_path / "nested.pb")
    expected = _run_tf(g, "out:0", {"x:0": X, "is_training:0": training, "use_ema:0": ema})
    xml = _convert(model, tmp_path, input=f"x,is_training->{training},use_ema->{ema}")
    types = ir_layer_types(xml)
    assert not {"Switch", "Merge"} & set(types), types
    assert types.count("Parameter") == 1
    (actual,) = run_ir(xml, [X])
    assert rel_err(actual, expected) <= 1e-5


def test_nested_cond_of_a_constant_inside_a_runtime_cond_selects(tmp_path):
    """Only conds whose predicate is constant fold: is_training frozen, use_ema left an input,
    the use_ema conds become Select between their branches (ops/control_flow.py) and match TF
    for both values of use_ema."""
    g = _nested_cond_graph()
    model = _save(g, tmp_path / "nested.pb")
    xml = _convert(model, tmp_path, input="x,use_ema,is_training->False")
    types = ir_layer_types(xml)
    assert "Select" in types and not {"Switch", "Merge"} & set(types), types
    for ema in (True, False):
        expected = _run_tf(g, "out:0", {"x:0": X, "is_training:0": False, "use_ema:0": ema})
        (actual,) = run_ir(xml, [X, np.array(ema)])
        assert rel_err(actual, expected) <= 1e-5


# --- queue and iterator heads named in --input --------------------------------------------------


def _queue_graph(second_dequeue: bool = False):
    g = tf.Graph()
    with g.as_default():
        q = v1.FIFOQueue(10, [tf.float32, tf.int32], shapes=[[4], []], name="queue")
        q.enqueue_many([tf.zeros([3, 4]), tf.zeros([3], tf.int32)], name="fill")
        x, label = q.dequeue_many(2, name="batch")
        y = tf.matmul(x, W) + B
        tf.identity(y * tf.cast(label, tf.float32)[:, None], name="out")
        if second_dequeue:
            q.dequeue(name="single")
    return g


LABELS = np.int32([3, -1])


@pytest.mark.parametrize("item, names, shapes, types, feeds", [
    ("batch[1,4],batch:1[1]", ["batch", "batch_port_1"], [[1, 4], [1]], ["float32", "int32"],
     [X[:1], LABELS[:1]]),
    ("batch:0[1,4],batch:1[1]{i64}", ["batch", "batch_port_1"], [[1, 4], [1]], ["float32", "int64"],
     [X[:1], LABELS[:1].astype(np.int64)]),
    ("batch:1,batch", ["batch_port_1", "batch"], [[2], [2, 4]], ["int32", "float32"], [LABELS, X]),
    ("queue[2,4]", ["batch", "batch_port_1"], [[2, 4], [2]], ["float32", "int32"], [X, LABELS]),
    ("batch,batch:1[2]->-2", ["batch"], [[2, 4]], ["float32"], [X]),
], ids=["shapes", "type", "order", "queue-name", "frozen-port"])
def test_queue_head_named_in_input(tmp_path, item, names, shapes, types, feeds):
    g = _queue_graph()
    model = _save(g, tmp_path / "queue.pb")
    graph = tfconv.convert_model(model, input=item)
    params = graph.ops_of_type("Parameter")
    assert [p.name for p in params] == names
    assert [list(p.attrs["shape"]) for p in params] == shapes
    assert [str(np.dtype(p.attrs["element_type"])) for p in params] == types
    xml = tmp_path / "model.xml"
    tfconv.save_model(graph, xml)
    # TF takes only the queue's batch of 2 at batch:0/1 (rows are independent)
    labels = np.int32([-2, -2]) if "->" in item else LABELS
    expected = _run_tf(g, "out:0", {"batch:0": X, "batch:1": labels})
    (actual,) = run_ir(xml, feeds)
    expected = expected[:len(actual)]
    assert rel_err(actual, expected) <= 1e-5


def test_queue_heads_take_batch_and_shapes_by_position(tmp_path):
    model = _save(_queue_graph(), tmp_path / "queue.pb")
    graph = tfconv.convert_model(model, batch=1)
    assert [list(p.attrs["shape"]) for p in graph.ops_of_type("Parameter")] == [[1, 4], [1]]
    graph = tfconv.convert_model(model, input_shape="[3,4],[3]")
    assert [list(p.attrs["shape"]) for p in graph.ops_of_type("Parameter")] == [[3, 4], [3]]


def test_iterator_head_named_in_input(tmp_path):
    g = tf.Graph()
    with g.as_default():
        ds = tf.data.Dataset.from_tensors((np.zeros((2, 4), np.float32), np.int32(0)))
        it = v1.data.make_one_shot_iterator(ds)
        x, k = it.get_next()  # "IteratorGetNext", as in most TF1 input pipelines
        tf.identity(tf.matmul(x, W) + tf.cast(k, tf.float32), name="out")
    model = _save(g, tmp_path / "it.pb")
    for item in ("IteratorGetNext:0[1,4],IteratorGetNext:1", "OneShotIterator[1,4]"):
        graph = tfconv.convert_model(model, input=item)  # no --output: handle op is bookkeeping
        params = graph.ops_of_type("Parameter")
        assert [(p.name, list(p.attrs["shape"])) for p in params] == [
            ("IteratorGetNext", [1, 4]), ("IteratorGetNext_port_1", [])], item
        xml = tmp_path / "model.xml"
        tfconv.save_model(graph, xml)
        k = np.int32(5)
        expected = _run_tf(g, "out:0", {"IteratorGetNext:0": X, "IteratorGetNext:1": k})[:1]
        (actual,) = run_ir(xml, [X[:1], k])
        assert rel_err(actual, expected) <= 1e-5


@pytest.mark.parametrize("item, needles", [
    ("batch:2", ["QueueDequeueManyV2 node 'batch' has 2 output(s) (port 0..1)", "port 2"]),
    ("queue", ["'queue' is a FIFOQueueV2 read by 2 nodes (batch, single)", "name the one"]),
    ("batch[1,4,1]", ["'batch'", "rank 2", "rank 3"]),
    ("batchx", ["'batchx'", "Did you mean: batch"]),
], ids=["port", "two-readers", "rank", "unknown"])
def test_queue_head_input_errors(tmp_path, item, needles):
    model = _save(_queue_graph(second_dequeue=True), tmp_path / "queue.pb")
    out = tmp_path / "ir"
    assert_clean_failure(_cli("convert", model, "-o", out, "--input", item), out, *needles)


# --- a TF1 training graph end to end -----------------------------------------------------------


def _training_graph():
    """What a TF1 training script leaves in its graph: images and labels from a FIFOQueue
    (dequeue_many "batch"), is_training (PlaceholderWithDefault True) choosing batch moments or
    moving averages for a batch norm and, in a cond nested in a cond on it, dropout; a loss, a
    summary and a NoOp train step."""
    rng = np.random.default_rng(11)
    kernel = rng.standard_normal((3, 3, 3, 8)).astype(np.float32) * 0.3
    gamma = rng.uniform(0.5, 1.5, 8).astype(np.float32)
    beta = rng.normal(0, 0.1, 8).astype(np.float32)
    moving_mean = rng.normal(0, 0.2, 8).astype(np.float32)
    moving_var = rng.uniform(0.5, 2.0, 8).astype(np.float32)
    dense = rng.standard_normal((8, 5)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        v1.disable_control_flow_v2()
        q = v1.FIFOQueue(32, [tf.float32, tf.int32], shapes=[[8, 8, 3], []], name="input_queue")
        q.enqueue_many([tf.zeros([4, 8, 8, 3]), tf.zeros([4], tf.int32)], name="enqueue")
        images, labels = q.dequeue_many(2, name="batch")
        is_training = v1.placeholder_with_default(True, [], name="is_training")
        h = tf.nn.conv2d(images, kernel, 1, "SAME", name="conv")
        mean, var = v1.cond(is_training, lambda: tf.nn.moments(h, [0, 1, 2]),
                            lambda: (tf.constant(moving_mean), tf.constant(moving_var)),
                            name="bn_stats")
        h = tf.nn.relu(tf.nn.batch_normalization(h, mean, var, beta, gamma, 1e-3))
        h = v1.cond(is_training,
                    lambda: v1.cond(is_training, lambda: tf.nn.dropout(h, rate=0.5), lambda: h,
                                    name="dropout"),
                    lambda: tf.identity(h), name="maybe_dropout")
        logits = tf.matmul(tf.reduce_mean(h, [1, 2]), dense, name="logits")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits), name="loss")
        v1.summary.scalar("loss", loss)
        tf.no_op(name="train_step")
    v1.enable_control_flow_v2()
    return g


@pytest.mark.parametrize("how", ["named", "batch"])
def test_training_graph_with_queue_and_is_training(tmp_path, how):
    g = _training_graph()
    model = _save(g, tmp_path / "train.pb")
    images = np.random.default_rng(3).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    # TF takes only the queue's batch of 2 at batch:0 (with moving statistics rows are independent)
    expected = _run_tf(g, "logits:0", {"batch:0": images, "is_training:0": False})
    if how == "named":
        args = ["--input", "batch[1,8,8,3],is_training->False", "--output", "logits"]
        images, expected = images[:1], expected[:1]
    else:  # the head by position, its batch from -b
        args = ["--input", "is_training->False", "-b", "2", "--output", "logits"]
    out = tmp_path / "ir"
    result = _cli("convert", model, "-o", out, "--log_level", "INFO", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "QueueDequeueManyV2 batch became IR input(s): batch" in result.stderr
    assert f"Input  batch: [{len(images)},3,8,8] float32" in result.stdout
    assert "Output logits:0" in result.stdout
    xml = out / "train.xml"
    types = ir_layer_types(xml)
    assert not {"Switch", "Merge"} & set(types) and types.count("Parameter") == 1
    assert np.std(expected) > 1e-2
    (actual,) = run_ir(xml, [np.transpose(images, (0, 3, 1, 2))])
    assert rel_err(actual, expected) <= 1e-5
    assert (actual.argmax(-1) == expected.argmax(-1)).all()
