"""TF1 control flow vs real TF: while loops (collapsed by ``tf_frontend.collapse_while_loops``
and unrolled by ``ops/control_flow.py``), TensorArrays, and conds on folded or computed
predicates. Graphs are built with control flow v2 off, so TF emits Enter/Merge/Switch/Exit."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from optest import CORE, compare, rand, tf, to_ov_model

import tfconv  # noqa: E402
from tfconv import pipeline, plugins  # noqa: E402
from tfconv.config import ConvertConfig  # noqa: E402
from tfconv.translate import translate  # noqa: E402
from tfconv_tf_frontend import loader, proto  # noqa: E402

tf1 = tf.compat.v1
PM = plugins.get_plugin_manager(autoload=False)
if PM.get_plugin("tf_frontend") is None:
    import tfconv_tf_frontend.plugin as _tf_frontend_plugin
    PM.register(_tf_frontend_plugin, name="tf_frontend")


def convert(graph_def: bytes, outputs: list[str], **config: object):
    """Load, run the source passes (the loop collapse among them), translate."""
    cfg = ConvertConfig(outputs=tuple(outputs), **config)
    src = loader.graph_from_graphdef(proto.parse_graphdef(graph_def, text=False), "m")
    loader.apply_user_io(src, cfg)
    pipeline.run_passes(plugins.passes(PM), src, cfg, "source")
    ir = translate(src, plugins.translators(PM).resolve("tf"), cfg)
    ir.validate()
    return ir


def tf1_graph(build, arrays, shapes=None):
    g = tf.Graph()
    with g.as_default():
        tf1.disable_control_flow_v2()
        phs = [tf1.placeholder(a.dtype, a.shape if shapes is None or shapes[i] is None
                               else shapes[i], name=f"x{i}") for i, a in enumerate(arrays)]
        out = build(*phs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
    tf1.enable_control_flow_v2()
    return g, phs, outs


def check(build, *arrays, shapes=None, feeds=None, rtol=1e-5):
    """TF reference vs the IR in OpenVINO, for ``arrays`` and every extra feed list."""
    g, phs, outs = tf1_graph(build, arrays, shapes)
    ops = Counter(n.op for n in g.as_graph_def().node)
    ir = convert(g.as_graph_def().SerializeToString(), [t.name for t in outs])
    model, names = to_ov_model(ir)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for values in [list(arrays), *(feeds or [])]:
        with tf1.Session(graph=g) as sess:
            expected = sess.run(outs, dict(zip(phs, values)))
        by_name = dict(zip([p.op.name for p in phs], values))
        result = compiled.create_infer_request().infer([by_name[n] for n in names])
        for i, e in enumerate(expected):
            compare(e, result[compiled.output(i)], rtol, f"output {i} ({outs[i].name})")
    return ops, Counter(op.type for op in ir)


X = rand((3, 4))


def counter_loop(x):
    i, a, b = tf1.while_loop(lambda i, a, b: i < 5,
                             lambda i, a, b: (i + 1, a * 1.5 + tf.cast(i, tf.float32), b - a),
                             [tf.constant(0), x, tf.zeros_like(x)])
    return [i, a, b]


def nested_loops(x):
    def outer(i, acc):
        _, acc = tf1.while_loop(lambda j, t: j < 3,
                                lambda j, t: (j + 1, t + tf.cast(i * j, tf.float32)),
                                [tf.constant(0), acc])
        return i + 1, acc * 0.5
    return tf1.while_loop(lambda i, acc: i < 4, outer, [tf.constant(0), x])[1]


def invariant_loop(x, w):
    return tf1.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, tf.matmul(a, w) + 0.1),
                          [tf.constant(0), x])[1]


def tensor_arrays(x):
    src = tf1.TensorArray(tf.float32, size=3).unstack(x)
    dst = tf1.TensorArray(tf.float32, size=3, clear_after_read=False)
    _, dst = tf1.while_loop(lambda i, d: i < 3, lambda i, d: (i + 1, d.write(i, src.read(i) * 2.0)),
                            [tf.constant(0), dst])
    return [dst.stack(), dst.gather([2, 0]), dst.size(), dst.concat(), dst.read(1)]


def tensor_array_scatter_split(x):
    scattered = tf1.TensorArray(tf.float32, size=3).scatter([2, 0, 1], x)
    split = tf1.TensorArray(tf.float32, size=2, infer_shape=False,
                            clear_after_read=False).split(x, [1, 2])
    return [scattered.stack(), split.read(1), split.concat(), split.size()]


def dynamic_read(x, i):
    ta = tf1.TensorArray(tf.float32, size=3).unstack(x)
    return ta.read(i[0])


CASES = [
    pytest.param(lambda x: tf.map_fn(lambda r: r * 2.0 + 1.0, x), (rand((1, 4)),), {},
                 id="map_fn-batch1"),
    pytest.param(lambda x: tf.map_fn(lambda r: tf.reduce_sum(r) * r, x), (X,), {},
                 id="map_fn-batch3"),
    pytest.param(lambda x: tf.map_fn(lambda e: (e[0] * 2.0, tf.reduce_max(e[1])), (x, x),
                                     fn_output_signature=(tf.float32, tf.float32)), (X,), {},
                 id="map_fn-tuple"),
    pytest.param(counter_loop, (X,), {}, id="while-three-vars"),
    pytest.param(nested_loops, (X,), {}, id="while-nested"),
    pytest.param(invariant_loop, (X, rand((4, 4), "w")), {}, id="while-invariant-input"),
    pytest.param(tensor_arrays, (X,), {}, id="tensorarray-write-read-gather-size-concat"),
    pytest.param(tensor_array_scatter_split, (X,), {}, id="tensorarray-scatter-split"),
    pytest.param(dynamic_read, (X, np.array([2], np.int32)), {
        "feeds": [[X, np.array([0], np.int32)]]}, id="tensorarray-read-dynamic-index"),
    pytest.param(lambda x: tf1.cond(tf.shape(x)[0] > 2, lambda: x * 2.0, lambda: x + 1.0),
                 (X,), {}, id="cond-shape-predicate-folds"),
    pytest.param(lambda x, p: tf1.cond(p[0] > 0.5, lambda: x * 2.0, lambda: tf.tanh(x)),
                 (X, np.array([0.7], np.float32)), {"feeds": [[X, np.array([0.2], np.float32)]]},
                 id="cond-computed-predicate"),
    pytest.param(lambda x, p: tf1.cond(p[0] > 0.5, lambda: x * 2.0, lambda: tf.ones([3, 4])),
                 (X, np.array([0.7], np.float32)), {"feeds": [[X, np.array([0.2], np.float32)]]},
                 id="cond-constant-branch"),
    pytest.param(lambda x: tf1.while_loop(lambda i, a: i < 100, lambda i, a: [i + 1, a * 1.1],
                                          [tf.constant(0), x], maximum_iterations=4)[1],
                 (X,), {}, id="while-maximum-iterations"),
    pytest.param(lambda x: tf.scan(lambda acc, r: acc * 0.5 + r, x), (X,), {}, id="scan"),
    pytest.param(lambda x: tf.foldl(lambda acc, r: acc * 0.5 + r, x), (X,), {}, id="foldl"),
    pytest.param(lambda x: tf1.while_loop(
        lambda i, a: i < 4, lambda i, a: (i + 1, tf1.cond(tf.equal(i % 2, 0), lambda: a * 2.0,
                                                          lambda: a - 1.0)),
        [tf.constant(0), x])[1], (X,), {}, id="cond-in-loop-folds"),
    pytest.param(lambda x, p: tf1.while_loop(
        lambda i, a: i < 3, lambda i, a: (i + 1, tf1.cond(p[0] > 0, lambda: a * 2.0,
                                                          lambda: a - 1.0)),
        [tf.constant(0), x])[1], (X, np.array([1.0], np.float32)),
        {"feeds": [[X, np.array([-1.0], np.float32)]]}, id="cond-in-loop-computed"),
    pytest.param(lambda x, p: tf1.cond(p[0] > 0, lambda: tf1.while_loop(
        lambda i, a: i < 3, lambda i, a: (i + 1, a * 2.0), [tf.constant(0), x])[1],
        lambda: x + 1.0), (X, np.array([1.0], np.float32)),
        {"feeds": [[X, np.array([-1.0], np.float32)]]}, id="loop-in-cond"),
    pytest.param(lambda x, p: tf1.cond(p[0] > 0, lambda: tf1.cond(
        p[1] > 0, lambda: x * 2.0, lambda: tf.ones([3, 4])), lambda: x - 1.0),
        (X, np.array([1.0, 1.0], np.float32)),
        {"feeds": [[X, np.array(v, np.float32)] for v in ([1, -1], [-1, 1], [-1, -1])]},
        id="nested-computed-conds-constant-branch"),
    pytest.param(lambda x: tf.map_fn(lambda im: tf.reduce_mean(im, axis=[0, 1]), x),
                 (rand((1, 5, 6, 3)),), {"shapes": [(1, None, None, 3)],
                                         "feeds": [[rand((1, 7, 4, 3), "b")]]},
                 id="map_fn-partial-shape"),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_control_flow(build, arrays, kw):
    tf_ops, ir_ops = check(build, *arrays, **kw)
    assert {"Enter", "Switch"} & set(tf_ops) or "TensorArrayV3" in tf_ops, tf_ops
    assert not {"Switch", "Merge", "Enter", "Exit", "TfconvWhileLoop"} & set(ir_ops), ir_ops


def test_while_loop_unrolls_into_plain_ops():
    """A 5-iteration loop: the body's Multiply appears once per iteration, nothing else loops."""
    _, ir_ops = check(counter_loop, X)
    assert ir_ops["Multiply"] == 5 and "Loop" not in ir_ops, ir_ops


def test_loop_invariant_work_is_translated_once():
    """``tanh(w)`` reads only a loop invariant: one Tanh for three iterations' MatMuls."""
    _, ir_ops = check(lambda x, w: tf1.while_loop(
        lambda i, a: i < 3, lambda i, a: (i + 1, tf.matmul(a, tf.tanh(w))), [tf.constant(0), x])[1],
        X, rand((4, 4), "w"))
    assert ir_ops["Tanh"] == 1 and ir_ops["MatMul"] == 3, ir_ops


def test_computed_cond_selects():
    _, ir_ops = check(lambda x, p: tf1.cond(p[0] > 0.5, lambda: x * 2.0, lambda: x - 1.0),
                      X, np.array([0.9], np.float32))
    assert ir_ops["Select"] == 1, ir_ops


def _two_resizes(x, p):
    """The OD API's keep-aspect-ratio resize in small: two branches resizing to different
    constant sizes, so the result's shape depends on the run-time predicate."""
    resize = tf1.image.resize_bilinear
    return tf1.cond(p[0] > 0.5, lambda: resize(x, tf.constant([4, 6])) * 2.0,
                    lambda: resize(x, tf.constant([6, 4])) * 2.0)


def test_cond_with_isomorphic_branches_selects_the_constants():
    image = rand((1, 5, 5, 2), "img")
    _, ir_ops = check(_two_resizes, image, np.array([0.9], np.float32),
                      feeds=[[image, np.array([0.1], np.float32)]])
    assert ir_ops["Interpolate"] == 1 and ir_ops["Select"] == 1, ir_ops


@pytest.mark.parametrize("cell, seq", [
    ("LSTMCell", [12, 9]), ("GRUCell", None), ("MultiRNNCell", None)],
    ids=["lstm-sequence-length", "gru", "multi-rnn"])
def test_dynamic_rnn_unrolls(cell, seq):
    """``tf.compat.v1.nn.dynamic_rnn`` over 25 time steps (frozen random weights): the loop
    unrolls; with ``sequence_length`` the steps past a sequence's end are zeros, as in TF."""
    from tf_keras.src.layers.rnn import legacy_cells
    x_value = rand((2, 25, 3), "rnn")
    g = tf.Graph()
    with g.as_default():
        tf1.disable_control_flow_v2()
        tf1.set_random_seed(0)
        make = {"LSTMCell": lambda: legacy_cells.LSTMCell(4),
                "GRUCell": lambda: legacy_cells.GRUCell(5),
                "MultiRNNCell": lambda: legacy_cells.MultiRNNCell(
                    [legacy_cells.GRUCell(4), legacy_cells.BasicRNNCell(3)])}[cell]
        x = tf1.placeholder(tf.float32, (2, 25, 3), name="x")
        out, _ = tf1.nn.dynamic_rnn(make(), x, sequence_length=seq, dtype=tf.float32)
        tf.identity(out, name="out")
        tf1.enable_control_flow_v2()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            expected = sess.run("out:0", {x: x_value})
            frozen = tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["out"])
    assert np.abs(expected).max() > 0.05
    ir = convert(frozen.SerializeToString(), ["out:0"])
    assert not {"Loop", "TensorIterator"} & {op.type for op in ir}
    model, _ = to_ov_model(ir)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled.create_infer_request().infer([x_value])
    compare(expected, result[compiled.output(0)], 1e-4)


# --- failures: one clear message -----------------------------------------------------------


def test_unsupported_ops_inside_a_loop_body_are_listed_with_the_rest():
    g, _, outs = tf1_graph(lambda x: tf.tanh(counter_loop(x)[1]), [X])
    gd = g.as_graph_def()
    for node in gd.node:
        if node.name == "while/mul":      # inside the body
            node.op = "NoSuchOpInLoop"
        if node.name == "Tanh":           # after the loop
            node.op = "NoSuchOpOutside"
    with pytest.raises(tfconv.errors.UnsupportedOpsError) as err:
        convert(gd.SerializeToString(), [outs[0].name])
    assert {"NoSuchOpInLoop", "NoSuchOpOutside"} <= set(err.value.missing), err.value


# Loops with a run-time trip count (OpenVINO Loop) and conds whose branches differ in shape
# (OpenVINO If) are tested in test_ops_loop.py.


# --- formats: a MetaGraph with a loop freezes without TensorFlow --------------------------------


def test_meta_graph_with_loop_freezes_without_tf(tmp_path, caplog):
    g = tf.Graph()
    with g.as_default():
        tf1.disable_control_flow_v2()
        x = tf1.placeholder(tf.float32, [2, 3], name="x")
        w = tf1.get_variable("w", initializer=rand((3,), "w3"))
        y = tf.identity(tf.map_fn(lambda r: r * w + 1.0, x), name="y")
        tf1.enable_control_flow_v2()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            expected = sess.run(y, {x: X[:2, :3]})
            tf1.train.Saver().save(sess, str(tmp_path / "model.ckpt"))
    caplog.set_level("INFO", logger="tfconv")
    graph = tfconv.convert_model(str(tmp_path / "model.ckpt.meta"), output="y")
    assert not [r for r in caplog.records if "with TensorFlow" in r.getMessage()]
    model, names = to_ov_model(graph)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled.create_infer_request().infer([X[:2, :3]])
    compare(expected, result[compiled.output(0)], 1e-5)
