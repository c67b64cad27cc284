"""TF1 loops and conds that cannot be worked out at conversion time, vs real TF: OpenVINO Loop
(opset5) for while loops whose trip count is known only at run time, If (opset8) for conds whose
branches give different shapes (``ops/control_flow.py``). Each model goes through the whole
pipeline (source passes, translation, IR passes, the writer's XML read by OpenVINO) and runs at
two or more input lengths; OpenVINO's own inferred shapes of every Loop/If must agree with
tfconv's."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optest import CORE, compare, rand, tf

import tfconv  # noqa: E402
from cliassert import assert_clean_failure  # noqa: E402
from tfconv.graph import Graph  # noqa: E402
from tfconv_ir_backend.in_memory import ir_bytes, to_openvino  # noqa: E402
from tfconv_tf_frontend.ops import recurrent  # noqa: E402
from tfconv_tf_frontend.ops.control_flow import MAX_UNROLL  # noqa: E402

tf1 = tf.compat.v1
SUB_NETWORK_OPS = ("Loop", "If")


def tf1_model(build, specs, path: Path):
    """A TF1 graph (control flow v1) with one Placeholder per ``(dtype, shape)`` spec, written
    as a frozen GraphDef; returns the graph, placeholders and output tensors."""
    g = tf.Graph()
    with g.as_default():
        tf1.disable_control_flow_v2()
        phs = [tf1.placeholder(dtype, shape, name=f"x{i}") for i, (dtype, shape) in enumerate(specs)]
        out = build(*phs)
        outs = [tf.identity(o, name=f"out{i}")
                for i, o in enumerate(out if isinstance(out, (list, tuple)) else [out])]
        tf1.enable_control_flow_v2()
    path.write_bytes(g.as_graph_def().SerializeToString())
    return g, phs, outs


def sub_networks(graph: Graph) -> list[str]:
    """Loop/If op types in ``graph`` and, nested, in their bodies (outermost first)."""
    found = []
    for op in graph:
        if op.type in SUB_NETWORK_OPS:
            found.append(op.type)
            for key in ("_body", "_then_body", "_else_body"):
                if key in op.attrs:
                    found += [f"{op.type}>{t}" for t in sub_networks(op.attrs[key])]
    return found


def run_ir(graph: Graph, feeds_list, expected_list, rtol=1e-4):
    """Run the IR (the writer's XML and weights, read by OpenVINO) on every feed list and
    compare with TF's results; check OpenVINO's inferred Loop/If output shapes agree with
    ours (a dynamic dim of ours may be static in OpenVINO's, never the reverse)."""
    model = to_openvino(graph, "m")
    ours = {op.name: op for op in graph if op.type in SUB_NETWORK_OPS}
    for node in model.get_ordered_ops():
        if node.get_type_name() in SUB_NETWORK_OPS and node.get_friendly_name() in ours:
            op = ours[node.get_friendly_name()]
            for i, info in enumerate(op.outputs):
                ov_shape = node.get_output_partial_shape(i)
                assert info.shape is not None and ov_shape.rank.get_length() == len(info.shape)
                for ours_d, ov_d in zip(info.shape, ov_shape):
                    assert ours_d is None or (ov_d.is_static and ov_d.get_length() == ours_d), \
                        (op.name, info.shape, ov_shape)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for feeds, expected in zip(feeds_list, expected_list):
        result = compiled.create_infer_request().infer(feeds)
        for i, e in enumerate(expected):
            compare(e, result[compiled.output(i)], rtol, f"output {i}")


def check(tmp_path, build, specs, feeds_list, expect):
    """Convert, check the IR's sub-networks are ``expect``, compare with TF on each feed list."""
    g, phs, outs = tf1_model(build, specs, tmp_path / "m.pb")
    graph = tfconv.convert_model(str(tmp_path / "m.pb"), output=",".join(o.op.name for o in outs))
    assert sub_networks(graph) == expect, sub_networks(graph)
    with tf1.Session(graph=g) as sess:
        expected = [sess.run(outs, dict(zip(phs, feeds))) for feeds in feeds_list]
    run_ir(graph, feeds_list, expected)
    return graph


X = rand((3, 4))


def test_while_with_a_limit_given_at_run_time(tmp_path):
    """``while i < limit``, the limit a model input: 0, 5 and 12 iterations."""
    def build(x, limit):
        return tf1.while_loop(lambda i, a: i < limit[0],
                              lambda i, a: (i + 1, a * 0.9 + tf.cast(i, tf.float32)),
                              [tf.constant(0), x])
    check(tmp_path, build, [(tf.float32, (3, 4)), (tf.int32, (1,))],
          [[X, np.array([n], np.int32)] for n in (5, 0, 12)], ["Loop"])


def test_map_fn_over_a_dynamic_batch(tmp_path):
    """map_fn: a TensorArray unstacked from the input is read at the iteration number (a
    sliced input) and one written there becomes a concatenated output;
    ``tanh(w)`` reads only a loop invariant and is computed once, outside the Loop."""
    graph = check(tmp_path, lambda x, w: tf.map_fn(lambda r: tf.reduce_sum(r * tf.tanh(w)) * r, x),
                  [(tf.float32, (None, 4)), (tf.float32, (4,))],
                  [[X, X[0]], [rand((7, 4), "b"), X[1]]], ["Loop"])
    assert [op.type for op in graph].count("Tanh") == 1  # hoisted
    (loop,) = [op for op in graph if op.type == "Loop"]
    assert "Tanh" not in {op.type for op in loop.attrs["_body"]}
    assert [axis for _, axis in loop.attrs["_outputs"]].count(0) == 1  # the written array
    assert [axis for _, axis in loop.attrs["_inputs"]].count(0) == 1  # the read one: sliced
    trip = graph.op(graph.inputs(loop.name)[0].node)  # the batch, not -1: ``i < n`` bounds it
    assert trip.type == "Maximum", trip.type


def _arrays_over_dynamic_length(x):
    n = tf.shape(x)[0]
    src = tf1.TensorArray(tf.float32, size=n).unstack(x)
    dst = tf1.TensorArray(tf.float32, size=n, clear_after_read=False)
    _, dst = tf1.while_loop(lambda i, d: i < n,
                            lambda i, d: (i + 1, d.write(i, src.read(i) * 2.0 + tf.reduce_mean(x))),
                            [tf.constant(0), dst])
    return [dst.stack(), dst.size(), dst.gather(tf.range(n - 1, -1, -1))]


def test_tensor_array_scatter_write_gather_over_a_dynamic_length(tmp_path):
    check(tmp_path, _arrays_over_dynamic_length, [(tf.float32, (None, 4))],
          [[X], [rand((6, 4), "c")]], ["Loop"])


def _nested(x, limits):
    def outer(i, acc):
        _, acc = tf1.while_loop(lambda j, t: j < limits[1],
                                lambda j, t: (j + 1, t + tf.cast(i * j, tf.float32)),
                                [tf.constant(0), acc])
        return i + 1, acc * 0.5
    return tf1.while_loop(lambda i, acc: i < limits[0], outer, [tf.constant(0), x])[1]


def test_nested_dynamic_loops_and_deterministic_output(tmp_path):
    """A Loop inside a Loop's body; converting twice gives byte-identical IR."""
    graph = check(tmp_path, _nested, [(tf.float32, (3, 4)), (tf.int32, (2,))],
                  [[X, np.array(v, np.int32)] for v in ([3, 4], [5, 2], [0, 3])],
                  ["Loop", "Loop>Loop"])
    again = tfconv.convert_model(str(tmp_path / "m.pb"), output="out0")
    assert ir_bytes(graph, "m") == ir_bytes(again, "m")


def test_a_loop_over_nhwc_images_keeps_its_body_layout(tmp_path):
    """A convolution before the loop makes the layout pass give the image input NCHW; the
    Loop body (a convolution per image) stays in TF's layout (the pass does not enter
    bodies), and the Transpose back to NHWC before the Loop stays."""
    w0, w = rand((1, 1, 3, 3), "k0"), rand((3, 3, 3, 2), "k")
    images = rand((2, 6, 5, 3), "im")
    g, phs, outs = tf1_model(lambda x: tf.map_fn(lambda im: tf.nn.relu(tf1.nn.conv2d(
        im[None], w, [1, 1, 1, 1], "SAME"))[0], tf1.nn.conv2d(x, w0, [1, 1, 1, 1], "SAME")),
        [(tf.float32, (None, 6, 5, 3))], tmp_path / "m.pb")
    graph = tfconv.convert_model(str(tmp_path / "m.pb"), output="out0")
    assert sub_networks(graph) == ["Loop"]
    (param,) = [op for op in graph if op.type == "Parameter"]
    assert param.outputs[0].shape == (None, 3, 6, 5)  # NCHW, as the spec says
    feeds = [[images], [rand((4, 6, 5, 3), "im2")]]
    with tf1.Session(graph=g) as sess:
        expected = [sess.run(outs, {phs[0]: f[0]}) for f in feeds]
    run_ir(graph, [[f[0].transpose(0, 3, 1, 2)] for f in feeds], expected)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("lengths", [False, True], ids=["full", "sequence_length"])
def test_dynamic_rnn_over_a_dynamic_time_dim_as_a_loop(tmp_path, monkeypatch, cell, lengths):
    """``dynamic_rnn`` with time dim ``None`` (the cell recogniser off, so the generic Loop
    path runs on a real RNN body): 21 and 30 steps, with and without ``sequence_length``."""
    from tf_keras.src.layers.rnn import legacy_cells
    monkeypatch.setattr(recurrent, "recognise", lambda ctx: None)
    g = tf.Graph()
    with g.as_default():
        tf1.disable_control_flow_v2()
        tf1.set_random_seed(3)
        x = tf1.placeholder(tf.float32, (2, None, 3), name="x")
        seq = tf1.placeholder(tf.int32, (2,), name="seq") if lengths else None
        make = legacy_cells.LSTMCell if cell == "lstm" else legacy_cells.GRUCell
        out, _ = tf1.nn.dynamic_rnn(make(6), x, sequence_length=seq, dtype=tf.float32)
        tf.identity(out, name="out")
        tf1.enable_control_flow_v2()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            feeds_list, expected = [], []
            for steps in (21, 30):
                xv = rand((2, steps, 3), f"rnn{steps}")
                feeds = [xv] + ([np.array([steps, steps - 8], np.int32)] if lengths else [])
                expected.append([sess.run("out:0", dict(zip([x] + ([seq] if lengths else []),
                                                            feeds)))])
                feeds_list.append(feeds)
            frozen = tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["out"])
    assert np.abs(expected[0][0]).max() > 0.05
    (tmp_path / "rnn.pb").write_bytes(frozen.SerializeToString())
    graph = tfconv.convert_model(str(tmp_path / "rnn.pb"), output="out")
    assert sub_networks(graph) == ["Loop"]
    run_ir(graph, feeds_list, expected)


def _cond_in_loop(x, p, limit):
    return tf1.while_loop(lambda i, a: i < limit[0], lambda i, a: (i + 1, tf1.cond(
        a[0, 0] > 0.5, lambda: a * 0.5 * p[0], lambda: a + 0.3)), [tf.constant(0), x])[1]


def _loop_in_cond(x, p, limit):
    return tf1.cond(p[0] > 0, lambda: tf1.while_loop(
        lambda i, a: i < limit[0], lambda i, a: (i + 1, a * 2.0), [tf.constant(0), x])[1],
        lambda: x[:1])


def _growing(x, p, limit):  # a loop variable whose shape changes (TF's shape_invariants)
    return tf1.while_loop(lambda i, a: i < limit[0],
                          lambda i, a: (i + 1, tf.concat([a, a[:1] * p[0]], 0)),
                          [tf.constant(0), x],
                          shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, 4])])[1]


@pytest.mark.parametrize(("build", "expect"), [
    pytest.param(_cond_in_loop, ["Loop"], id="computed-cond-in-loop"),
    pytest.param(_loop_in_cond, ["If", "If>Loop"], id="loop-in-if"),
    pytest.param(_growing, ["Loop"], id="growing-variable"),
])
def test_loops_and_conds_combined(tmp_path, build, expect):
    feeds = [[X, np.array([p], np.float32), np.array([n], np.int32)]
             for p, n in ((1.0, 3), (-1.0, 4), (0.5, 0))]
    check(tmp_path, build, [(tf.float32, (3, 4)), (tf.float32, (1,)), (tf.int32, (1,))], feeds,
          expect)


def test_more_iterations_than_unrolled_become_a_loop(tmp_path):
    check(tmp_path, lambda x: tf1.while_loop(lambda i, a: i < MAX_UNROLL + 1,
                                             lambda i, a: (i + 1, a * 0.99 + 0.01),
                                             [tf.constant(0), x])[1],
          [(tf.float32, (3, 4))], [[X]], ["Loop"])


@pytest.mark.parametrize("branches", [
    pytest.param(lambda x: (lambda: x[:2] * 2.0, lambda: tf.concat([x, tf.tanh(x)], 0)),
                 id="slice-or-concat"),
    pytest.param(lambda x: (lambda: x, lambda: tf.ones([2, 2])), id="input-or-constant"),
])
def test_cond_with_branches_of_different_shapes_is_an_if(tmp_path, branches):
    def build(x, p):
        return tf1.cond(p[0] > 0.5, *branches(x))
    x = rand((4, 2), "if")
    graph = check(tmp_path, build, [(tf.float32, (4, 2)), (tf.float32, (1,))],
                  [[x, np.array([v], np.float32)] for v in (0.9, 0.1)], ["If"])
    (op,) = [op for op in graph if op.type == "If"]
    assert op.outputs[0].shape == (None, 2)


# --- failures: one clear message -----------------------------------------------------------


def test_a_dynamic_loop_converts_on_the_command_line(tmp_path):
    """The loop the unrolling could not handle (issue 12): now an IR with a Loop."""
    _, _, outs = tf1_model(lambda x: tf1.while_loop(
        lambda i, a: i < tf.cast(x[0, 0] * 10.0, tf.int32), lambda i, a: (i + 1, a * 2.0),
        [tf.constant(0), x])[1], [(tf.float32, (3, 4))], tmp_path / "loop.pb")
    result = subprocess.run([sys.executable, "-m", "tfconv.cli", "convert", str(tmp_path / "loop.pb"),
                             "-o", str(tmp_path / "ir"), "--output", outs[0].op.name],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    xml = (tmp_path / "ir" / "loop.xml").read_text()
    assert 'type="Loop"' in xml and "<back_edges>" in xml and 'purpose="execution_condition"' in xml


def test_an_array_written_off_the_iteration_number_is_one_clear_error(tmp_path):
    def build(x):
        n = tf.shape(x)[0]
        dst = tf1.TensorArray(tf.float32, size=n)
        _, dst = tf1.while_loop(lambda i, d: i < n, lambda i, d: (i + 1, d.write(n - 1 - i, x[i])),
                                [tf.constant(0), dst])
        return dst.stack()
    _, _, outs = tf1_model(build, [(tf.float32, (None, 4))], tmp_path / "rev.pb")
    out = tmp_path / "ir"
    result = subprocess.run([sys.executable, "-m", "tfconv.cli", "convert", str(tmp_path / "rev.pb"),
                             "-o", str(out), "--output", outs[0].op.name],
                            capture_output=True, text=True, check=False)
    assert_clean_failure(result, out, "TensorArray", "not the iteration number")
