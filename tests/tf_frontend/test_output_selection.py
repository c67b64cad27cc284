"""Output selection on tf_slim nets built under their default ``arg_scope`` (issue 10, point 1).

Every kernel of such a net feeds an L2 weight regularizer, a graph sink that is no output. In
every form (inference graph + V2 checkpoint, binary and text, and + V1 checkpoint, which
TensorFlow freezes; MetaGraph without and with a signature; frozen graph keeping every sink;
TF1 SavedModel; the TF fallback of ``tfconv freeze``), the converted IR has the model's outputs
only, matches TensorFlow in OpenVINO, and the leftovers are counted in one INFO line and listed
last, marked, by ``tfconv inspect``. A TF1 training graph's losses, summaries, metric,
optimizer and batch-norm updates are leftovers too.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
ov = pytest.importorskip("openvino")

import outputnets  # noqa: E402
from ovrun import F32, core, rel_err  # noqa: E402

import tfconv  # noqa: E402

TFCONV = [sys.executable, "-m", "tfconv.cli"]
NETS = ("slim_resnet", "slim_inception")
# form -> (model argument, extra options) relative to the net's cache directory
FORMS = {
    "inference_pb+ckpt": ("inference_graph.pb", {"input_checkpoint": "ckpt/model.ckpt"}),
    "inference_pbtxt+ckpt": ("inference_graph.pbtxt", {"input_checkpoint": "ckpt/model.ckpt"}),
    "inference_pb+ckpt_v1": ("inference_graph.pb", {"input_checkpoint": "ckpt_v1/model.ckpt"}),
    "meta_graph": (None, {"input_meta_graph": "ckpt/model.ckpt.meta"}),
    "meta_graph_signature": (None, {"input_meta_graph": "ckpt/signature.meta",
                                    "input_checkpoint": "ckpt/model.ckpt"}),
    "frozen": ("frozen.pb", {}),
    "saved_model_tf1": (None, {"saved_model_dir": "saved_model"}),
}
SIGNED = {"meta_graph_signature", "saved_model_tf1"}


def _convert(directory: Path, form: str, caplog, **extra):
    model, options = FORMS[form]
    opts = {k: str(directory / v) for k, v in options.items()}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfconv"):
        graph = tfconv.convert_model(str(directory / model) if model else None,
                                     log_level="INFO", **opts, **extra)
    return graph, [r.getMessage() for r in caplog.records]


def _run(graph, tmp_path: Path, x: np.ndarray, extra_outputs=()) -> dict[str, np.ndarray]:
    """The IR in OpenVINO (f32), with ``extra_outputs`` (TF tensor names) added: every output
    by each of its tensor names."""
    xml = tmp_path / "model.xml"
    tfconv.save_model(graph, xml)
    model = core().read_model(str(xml))
    for name in extra_outputs:
        model.add_outputs(name)
    compiled = core().compile_model(model, "CPU", F32)
    result = compiled([np.ascontiguousarray(x.transpose(0, 3, 1, 2))])
    out = {}
    for port in compiled.outputs:
        for name in port.get_names():
            out[name] = np.asarray(result[port])
    return out


def _check(actual: np.ndarray, expected: np.ndarray, what: str) -> float:
    err = rel_err(actual.reshape(expected.shape), expected)
    assert err <= 1e-4, f"{what}: max|IR-TF|/max|TF| = {err:.2e}"
    top = expected.reshape(len(expected), -1).argmax(axis=1)
    assert (actual.reshape(len(expected), -1).argmax(axis=1) == top).all(), f"{what}: top-1"
    return err


@pytest.fixture(scope="module", params=NETS)
def net(request):
    directory, meta = outputnets.get(request.param)
    return request.param, directory, meta, dict(np.load(directory / "reference.npz"))


@pytest.mark.parametrize("form", list(FORMS))
def test_slim_net_under_arg_scope_converts(net, form, tmp_path, caplog):
    name, directory, meta, ref = net
    graph, messages = _convert(directory, form, caplog)
    outputs = [op.name for op in graph.ops_of_type("Result")]
    if form in SIGNED:  # the signature names the outputs: its keys, sorted
        got = _run(graph, tmp_path, ref["input"])
        assert len(outputs) == 2, outputs
        _check(got["logits:0"], ref["logits"], f"{name} {form} logits")
        _check(got["probabilities:0"], ref["predictions"], f"{name} {form} probabilities")
        assert not any("training-only" in m for m in messages), messages
        return
    got = _run(graph, tmp_path, ref["input"], [meta["logits"]])
    assert len(outputs) == 1, outputs  # the predictions (the logits are added in OpenVINO)
    assert meta["predictions"] in got, sorted(got)
    _check(got[meta["predictions"]], ref["predictions"], f"{name} {form} predictions")
    _check(got[meta["logits"]], ref["logits"], f"{name} {form} logits")
    ignored = [m for m in messages if m.startswith("ignored")]
    n = meta["regularizers"]
    assert ignored == [f"ignored {n} training-only sink(s)"
                       + (" (the MetaGraph's collections say so)" if form == "meta_graph" else "")
                       + f": {n} weight regularizers (L2Loss); name outputs with --output to "
                       "keep one"], messages


def test_output_flag_still_overrides(net, tmp_path, caplog):
    """--output names a regularizer-free logits tensor of the frozen graph: nothing else."""
    name, directory, meta, ref = net
    graph, messages = _convert(directory, "frozen", caplog, output=meta["logits"])
    assert len(graph.ops_of_type("Result")) == 1
    got = _run(graph, tmp_path, ref["input"])
    _check(got[meta["logits"]], ref["logits"], f"{name} --output logits")
    assert not any("training-only" in m for m in messages), messages


@pytest.mark.parametrize("form", ["inference_pb+ckpt", "meta_graph", "frozen"])
def test_inspect_lists_outputs_first_and_leftovers_last(net, form):
    name, directory, meta, _ = net
    model, options = FORMS[form]
    args = [str(directory / model)] if model else []
    for key, value in options.items():
        args += [f"--{key}", str(directory / value)]
    proc = subprocess.run([*TFCONV, "inspect", *args, "--json"], capture_output=True, text=True,
                          check=True)
    outputs = json.loads(proc.stdout)["outputs"]
    assert [o["name"] for o in outputs[:1]] == [meta["predictions"]]
    assert "leftover" not in outputs[0]
    left = outputs[1:]
    assert len(left) == meta["regularizers"]
    assert all(o["leftover"] == "weight regularizers (L2Loss)" and "Regularizer" in o["name"]
               for o in left), left
    text = subprocess.run([*TFCONV, "inspect", *args], capture_output=True, text=True,
                          check=True).stdout
    lines = text.split("Likely outputs", 1)[1].splitlines()
    assert lines[0] == (f" (1, then {meta['regularizers']} training-only sink(s) that are not "
                        "outputs):")
    assert lines[1].split() == [meta["predictions"], "(Reshape)"]
    assert "training-only: weight regularizers (L2Loss)" in lines[2]
    assert "Unsupported op types: none" in text


@pytest.mark.parametrize("form", ["meta_graph", "meta_graph_signature"])
def test_freeze_command_tf_path(net, form, tmp_path):
    """``tfconv freeze`` freezes with TensorFlow: without --output it picks the same outputs
    (collections and structure, or the signature)."""
    name, directory, meta, ref = net
    _, options = FORMS[form]
    args = []
    for key, value in options.items():
        args += [f"--{key}", str(directory / value)]
    frozen = tmp_path / "frozen.pb"
    proc = subprocess.run([*TFCONV, "freeze", *args, "-o", str(frozen)], capture_output=True,
                          text=True, check=True)
    listed = proc.stdout.split("Outputs: ", 1)[1].split()[0:2]
    if form == "meta_graph":
        assert listed == [meta["predictions"]], proc.stdout
    else:
        assert [t.rstrip(",") for t in listed] == [meta["logits"], meta["predictions"]]
    graph = tfconv.convert_model(str(frozen), output=meta["logits"])
    _check(_run(graph, tmp_path, ref["input"])[meta["logits"]], ref["logits"],
           f"{name} {form} frozen by tfconv freeze")


def _training_graph(out: Path, head: str) -> tuple[dict[str, Path], np.ndarray, np.ndarray]:
    """A TF1 training script's graph: a small conv net (batch-norm moving-average updates in
    ``update_ops``), a cross-entropy loss with a weight decay, an accuracy metric, two
    summaries and a GradientDescent ``train_op``; with ``head`` "predictions" a softmax of the
    logits is a sink, with "logits" only the loss, the metric and a summary read the logits.
    Saved as the whole inference graph with a V2 checkpoint, as its MetaGraph, and frozen with
    every sink kept."""
    import tensorflow as tf
    v1 = tf.compat.v1
    rng = np.random.default_rng(5)
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        k = v1.get_variable("conv/kernel", initializer=rng.standard_normal((3, 3, 3, 4)).astype(
            np.float32) * 0.5)
        y = tf.nn.conv2d(x, k, 1, "SAME")
        mean = v1.get_variable("bn/moving_mean", initializer=np.zeros(4, np.float32),
                               use_resource=False)
        var = v1.get_variable("bn/moving_variance", initializer=np.ones(4, np.float32),
                              use_resource=False)
        batch_mean, batch_var = tf.nn.moments(y, [0, 1, 2])
        for moving, batch in ((mean, batch_mean), (var, batch_var)):
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS,
                                 v1.assign_sub(moving, 0.1 * (moving - batch)))
        y = tf.nn.batch_normalization(y, mean, var, None, None, 1e-3)
        y = tf.reduce_mean(tf.nn.relu(y), axis=[1, 2])
        w = v1.get_variable("dense/kernel", initializer=rng.standard_normal((4, 5)).astype(
            np.float32))
        logits = tf.identity(tf.matmul(y, w), name="logits")
        predictions = tf.nn.softmax(logits, name="predictions") if head == "predictions" else logits
        v1.metrics.accuracy(labels, tf.argmax(logits, 1, output_type=tf.int32))
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        v1.add_to_collection(v1.GraphKeys.REGULARIZATION_LOSSES,
                             tf.multiply(1e-4, tf.nn.l2_loss(k), name="weight_decay"))
        total = v1.losses.get_total_loss()
        v1.summary.scalar("loss", total)
        v1.summary.histogram("logits", logits)
        step = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(total, global_step=step)
        v1.add_to_collection(v1.GraphKeys.TRAIN_OP, train_op)
        v1.summary.merge_all()
        data = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            sess.run(v1.local_variables_initializer())
            expected = sess.run(predictions, {x: data})
            saver = v1.train.Saver()
            prefix = saver.save(sess, str(out / "model.ckpt"))
            gd = g.as_graph_def()
            tf.io.write_graph(gd, str(out), "graph.pb", as_text=False)
            sinks = sorted({n.name for n in gd.node} - {i.lstrip("^").split(":")[0]
                                                         for n in gd.node for i in n.input})
            keep = [s for s in sinks if not s.startswith(("save/", "init"))
                    and g.get_operation_by_name(s).type not in (
                        "NoOp", "Const", "VariableV2", "VarHandleOp", "Placeholder",
                        "VarIsInitializedOp", "IsVariableInitialized", "ReadVariableOp")]
            frozen = v1.graph_util.convert_variables_to_constants(sess, gd, keep)
            (out / "frozen.pb").write_bytes(frozen.SerializeToString())
    forms = {"inference_pb+ckpt": [str(out / "graph.pb"), "--input_checkpoint", prefix],
             "meta_graph": ["--input_meta_graph", prefix + ".meta"],
             "frozen": [str(out / "frozen.pb")]}
    return forms, data, expected


@pytest.mark.parametrize("head", ["predictions", "logits"])
def test_training_graph_leftovers(tmp_path, head):
    """Losses, summaries, a metric, the optimizer and batch-norm updates are not outputs; the
    predictions are, or the logits when only the loss, the metric and a summary read them."""
    forms, data, expected = _training_graph(tmp_path, head)
    for form, args in forms.items():
        out = tmp_path / form
        proc = subprocess.run([*TFCONV, "convert", *args, "-o", str(out), "--log_level", "INFO",
                               "--disable_nhwc_to_nchw"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        (line,) = [ln for ln in proc.stderr.splitlines() if "training-only" in ln]
        assert all(r in line for r in ("losses", "summaries", "optimizer updates",
                                        "metrics")), f"{form}: {line}"
        assert f"Output {head}:0" in proc.stdout + proc.stderr, proc.stdout
        (xml,) = out.glob("*.xml")
        model = core().read_model(str(xml))
        assert len(model.outputs) == 1
        got = core().compile_model(model, "CPU", F32)([data])[0]
        assert rel_err(np.asarray(got), expected) <= 1e-4, form


def test_op_reasons_quick_path_decides_as_the_full_one(monkeypatch):
    """``op_reason`` answers None for most nodes without splitting their names; over scope names
    of every kind it marks, and ops of every kind, it answers as the full check does."""
    import itertools
    import re

    from tfconv_tf_frontend import outputs

    scopes = ["resnet/block1", "gradients", "gradients_1", "a/Regularizer", "l2_regularizer_3",
              "save", "save_2", "saver", "summaries", "losses", "loss", "total_loss_1",
              "ce_loss", "x_losses", "loss_fn", "losses_2", "regularization_loss", "lossy",
              "savings", "net/Conv"]
    leaves = ["Conv2D", "loss", "total_loss", "Relu"]
    ops = ["Conv2D", "L2Loss", "SaveV2", "RestoreV2", "ScalarSummary", "HistogramSummary",
           "ApplyAdam", "ResourceApplyGradientDescent", "ResourceSparseApplyAdagrad",
           "AssignAdd", "AssignVariableOp", "CountUpTo", "SparseSoftmaxCrossEntropyWithLogits",
           "Identity", "MatMul"]
    names = [f"{a}/{b}/{leaf}" for a, b in itertools.product(scopes, repeat=2) for leaf in leaves]
    names += leaves
    quick = {(n, op): outputs.op_reason(n, op) for n in names for op in ops}
    monkeypatch.setattr(outputs, "_MARKED_NAME", re.compile(""))  # always the full check
    full = {(n, op): outputs.op_reason(n, op) for n in names for op in ops}
    assert quick == full
    assert sum(r is None for r in full.values()) > 100  # both answers were asked for
    assert {r for r in full.values() if r} >= {outputs.REGULARIZER, outputs.LOSS, outputs.SAVER,
                                                outputs.SUMMARY, outputs.OPTIMIZER,
                                                outputs.METRIC, outputs.UPDATE}
