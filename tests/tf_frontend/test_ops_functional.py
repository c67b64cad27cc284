"""TF2 functional control flow vs real TF: ``tf.function`` graphs with While/If/Case and
TensorLists (``functional.py`` lowers them while freezing, ``collapse_while_loops`` and the
TF1 translators unroll and fold them, ``ops/tensor_list.py`` follows the lists). Each model is
converted as a SavedModel (the TF-free freezer: no TensorFlow fallback) and as a frozen
GraphDef that keeps its control flow (``lower_control_flow=False``), run in OpenVINO and
compared with TensorFlow."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import tfconv

tf = pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

from ovrun import ir_layer_types, rel_err, run_ir  # noqa: E402

TOLERANCE = 1e-4
NOTF = "without TensorFlow"
RNG = np.random.default_rng(12)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


X = np.abs(_x(3, 4)) - 0.2    # sum > 0: computed predicates take their true side ...
X_NEG = -np.abs(_x(3, 4))      # ... and here their false side
assert X.sum() > 0


class _Vars(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.v = tf.Variable(_x(4))
        self.w = tf.Variable(_x(4, 4))


def while_counter(m, x):
    def body(i, a, b):
        return i + 1, a * 0.5 + tf.cast(i, tf.float32), b - a
    i, a, b = tf.while_loop(lambda i, a, b: i < 5, body, [tf.constant(0), x, tf.zeros_like(x)])
    return [tf.cast(i, tf.float32) + a, b]


def while_variable(m, x):  # the body reads captured variables
    _, a = tf.while_loop(lambda i, a: i < 4,
                         lambda i, a: (i + 1, tf.tanh(tf.matmul(a, m.w) + m.v)), [0, x])
    return a


def while_max_iterations(m, x):
    _, a = tf.while_loop(lambda i, a: i < 100, lambda i, a: (i + 1, a * 0.9 + 0.1), [0, x],
                         maximum_iterations=7)
    return a


def nested_while(m, x):
    def outer(i, a):
        _, a = tf.while_loop(lambda j, b: j < i + 1, lambda j, b: (j + 1, b * 0.8 + m.v), [0, a])
        return i + 1, a
    return tf.while_loop(lambda i, a: i < 3, outer, [0, x])[1]


def map_fn(m, x):
    return tf.map_fn(lambda r: tf.reduce_sum(r * m.v) + r, x)


def scan(m, x):
    return tf.scan(lambda acc, r: acc * 0.5 + r, x, initializer=tf.zeros([4]))


def cond_folded(m, x):
    return tf.cond(tf.constant(True), lambda: x * 2.0 + m.v, lambda: tf.reduce_sum(x, 0))


def cond_computed(m, x):
    return tf.cond(tf.reduce_sum(x) > 0, lambda: x * 2.0 + m.v, lambda: tf.constant(1.0) - x)


def cond_shapes(m, x):  # computed predicate, branches of different shapes: an If
    return tf.cond(tf.reduce_sum(x) > 0, lambda: x * m.v, lambda: x[:1] - 1.0)


def case_folded(m, x):
    return tf.switch_case(tf.constant(1), [lambda: x + 1.0, lambda: x * m.v, lambda: -x])


def case_computed(m, x):
    index = tf.cast(tf.reduce_sum(x) > 0, tf.int32)
    return tf.switch_case(index, [lambda: x + 1.0, lambda: x * m.v, lambda: -x])


def tensor_array(m, x):
    n = 3
    ta = tf.TensorArray(tf.float32, size=n, element_shape=[4])
    rows = tf.TensorArray(tf.float32, size=n).unstack(x)

    def body(i, ta):
        return i + 1, ta.write(i, rows.read(i) * tf.cast(i + 1, tf.float32) + m.v)
    _, ta = tf.while_loop(lambda i, ta: i < n, body, [0, ta])
    stacked = ta.stack()
    picked = ta.gather([2, 0])
    return [stacked, picked, ta.concat(), tf.cast(ta.size(), tf.float32) + ta.read(1)]


def tensor_array_dynamic(m, x):  # dynamic_size: PushBack-like growth through SetItem
    ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    _, ta = tf.while_loop(lambda i, ta: i < 5,
                          lambda i, ta: (i + 1, ta.write(i, tf.reduce_max(x, 0) * tf.cast(i, tf.float32))),
                          [0, ta])
    return ta.stack()


def list_ops(m, x):  # the TensorList ops TensorArray does not use, in a loop
    from tensorflow.python.ops import list_ops as lo
    empty = lo.empty_tensor_list(element_shape=[4], element_dtype=tf.float32)

    def body(i, lst):
        return i + 1, lo.tensor_list_push_back(lst, x[i] * m.v)
    _, lst = tf.while_loop(lambda i, lst: i < 3, body, [0, empty])
    lst, last = lo.tensor_list_pop_back(lst, element_dtype=tf.float32)
    shape = tf.cast(lo.tensor_list_element_shape(lst, tf.int32), tf.float32)
    scattered = lo.tensor_list_scatter(x, [2, 0, 1], element_shape=[4])
    into = tf.raw_ops.TensorListScatterIntoExistingList(
        input_handle=scattered, tensor=x[:1] * 2.0, indices=[1])
    split = lo.tensor_list_split(tf.reshape(x, [6, 2]), element_shape=[-1, 2], lengths=[1, 2, 3])
    resized = lo.tensor_list_resize(lst, 4)
    resized = lo.tensor_list_set_item(resized, 3, last)
    length = tf.cast(lo.tensor_list_length(resized), tf.float32)
    return [lo.tensor_list_stack(lst, tf.float32), last, shape,
            lo.tensor_list_gather(into, [0, 2, 1], tf.float32),
            lo.tensor_list_concat(split, tf.float32, element_shape=[-1, 2]),
            lo.tensor_list_stack(resized, tf.float32) + length]


def loop_in_cond(m, x):
    def looped():
        return tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * 1.5), [0, x])[1]
    return tf.cond(tf.constant(False), lambda: x, looped)


def cond_in_loop(m, x):
    def body(i, a):
        return i + 1, tf.cond(i % 2 == 0, lambda: a + m.v, lambda: a * 0.5)
    return tf.while_loop(lambda i, a: i < 4, body, [0, x])[1]


CASES = {f.__name__: f for f in (
    while_counter, while_variable, while_max_iterations, nested_while, map_fn, scan,
    cond_folded, cond_computed, cond_shapes, case_folded, case_computed, tensor_array, tensor_array_dynamic,
    list_ops, loop_in_cond, cond_in_loop)}
SELECTS = {"cond_computed", "case_computed"}  # computed predicates, results of one shape
COMPUTED = SELECTS | {"cond_shapes"}  # run on a second input taking the other branch


def _build(root: Path, name: str, fn) -> dict:
    """SavedModel and frozen GraphDef (control flow kept) of ``fn`` and its TF results."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    class Net(_Vars):
        @tf.function(input_signature=[tf.TensorSpec([3, 4], tf.float32, name="x")])
        def __call__(self, x):
            out = fn(self, x)
            outs = out if isinstance(out, list) else [out]
            return {f"y{i}": y for i, y in enumerate(outs)}

    net = Net()
    feeds = [X, X_NEG] if name in COMPUTED else [X]
    expected = [[v.numpy() for _, v in sorted(net(tf.constant(f)).items())] for f in feeds]
    sm = root / f"{name}_sm"
    tf.saved_model.save(net, str(sm), signatures={"serving_default": net.__call__})
    concrete = net.__call__.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
    ops = {}
    for form, gd in (("saved_model", concrete.graph.as_graph_def()),
                     ("frozen", frozen.graph.as_graph_def())):
        ops[form] = {n.op for n in gd.node} | {n.op for f in gd.library.function
                                               for n in f.node_def}
    gd = frozen.graph.as_graph_def()
    pb = root / f"{name}.pb"
    pb.write_bytes(gd.SerializeToString())
    outputs = [t.name for t in frozen.outputs]
    return {"sm": sm, "pb": pb, "outputs": outputs, "feeds": feeds, "expected": expected,
            "ops": ops}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("functional")
    return {name: _build(root, name, fn) for name, fn in CASES.items()}


def _convert(model: Path, out: Path, caplog, **options) -> tuple[Path, str]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfconv"):
        graph = tfconv.convert_model(model, **options)
    (xml,) = [p for p in tfconv.save_model(graph, out / "m.xml") if p.suffix == ".xml"]
    return xml, caplog.text


@pytest.mark.parametrize("form", ["saved_model", "frozen"])
@pytest.mark.parametrize("name", list(CASES))
def test_functional_control_flow_matches_tf(models, name, form, tmp_path, caplog):
    case = models[name]
    functional = {"While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase"}
    # (freezing lowers a Case to Switch/Merge even with lower_control_flow=False)
    assert case["ops"][form] & (functional | ({"Merge"} if "case" in name else set())), \
        "TF built no functional control flow"
    if form == "saved_model":
        xml, log = _convert(case["sm"], tmp_path, caplog)
        assert "froze TF2 SavedModel" in log and NOTF in log, log
    else:
        xml, log = _convert(case["pb"], tmp_path, caplog, output=",".join(case["outputs"]))
    layers = ir_layer_types(xml)
    assert "Loop" not in layers and "TensorIterator" not in layers  # unrolled
    assert ("Select" in layers) == (name in SELECTS), layers  # a folded predicate: no Select
    assert ("If" in layers) == (name == "cond_shapes"), layers
    for feed, expected in zip(case["feeds"], case["expected"]):
        actual = run_ir(xml, [feed])
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert np.std(e) > 0 or e.size == 1, "degenerate reference"
            err = rel_err(a, e)
            assert err <= TOLERANCE, f"rel err {err:.2e} > {TOLERANCE:.0e}"


# --- Keras recurrent layers kept as loops (unroll=False): unrolled over 20 steps -------------------

STEPS = 20


@pytest.fixture(scope="module")
def keras_rnns(tmp_path_factory):
    root = tmp_path_factory.mktemp("functional_rnn")
    rng = np.random.default_rng(20)
    x = rng.standard_normal((2, STEPS, 6)).astype(np.float32)
    built = {}
    for family in ("keras", "tf_keras"):
        keras = pytest.importorskip(family)
        inp = keras.Input((STEPS, 6), batch_size=2)
        h = keras.layers.LSTM(8, unroll=False, return_sequences=True)(inp)
        out = keras.layers.Dense(4)(keras.layers.GRU(6, unroll=False)(h))
        model = keras.Model(inp, out)
        for w in model.weights:  # non-degenerate random weights (biases too)
            w.assign(rng.standard_normal(tuple(w.shape)).astype(np.float32) * 0.4)
        expected = np.asarray(model(x))
        directory = root / family
        if family == "keras":
            model.export(str(directory), verbose=False)
        else:
            model.save(str(directory), save_format="tf")
        built[family] = (directory, expected)
    return x, built


@pytest.mark.parametrize("family", ["keras", "tf_keras"])
def test_keras_lstm_gru_loops_unroll(keras_rnns, family, tmp_path, caplog):
    x, built = keras_rnns
    directory, expected = built[family]
    xml, log = _convert(directory, tmp_path, caplog)
    assert "froze TF2 SavedModel" in log and NOTF in log, log
    assert "collapsed 2 TF1 while loop(s)" in log, log
    assert "Loop" not in ir_layer_types(xml)
    (actual,) = run_ir(xml, [x])
    assert np.std(expected) > 1e-3
    err = rel_err(actual, expected)
    assert err <= TOLERANCE, f"rel err {err:.2e} > {TOLERANCE:.0e}"
    assert (actual.argmax(-1) == expected.argmax(-1)).all()


# --- a trip count known only at run time: an OpenVINO Loop (ops/control_flow.py) ------------------


@pytest.fixture(scope="module")
def dynamic_loop(tmp_path_factory):
    class Net(_Vars):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x"),
                                      tf.TensorSpec([], tf.int32, name="n")])
        def __call__(self, x, n):
            _, a = tf.while_loop(lambda i, a: i < n,
                                 lambda i, a: (i + 1, tf.tanh(tf.matmul(a, self.w) + self.v)),
                                 [0, x])
            return {"y": a}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def lists(self, x):  # TensorLists filled by loops over a dynamic batch
            return {"map": tf.map_fn(lambda r: r * self.v + tf.reduce_sum(r), x),
                    "scan": tf.scan(lambda a, r: a * 0.5 + r, x)}

    net = Net()
    root = tmp_path_factory.mktemp("functional_dyn")
    tf.saved_model.save(net, str(root / "sm"), signatures={"serving_default": net.__call__})
    runs = [(X, np.int32(n), net(tf.constant(X), tf.constant(n))["y"].numpy()) for n in (0, 5)]
    tf.saved_model.save(net, str(root / "lists"), signatures={"serving_default": net.lists})
    list_runs = []
    for batch in (1, 6):
        x = _x(batch, 4)
        out = net.lists(tf.constant(x))
        list_runs.append((x, [out["map"].numpy(), out["scan"].numpy()]))
    return root / "sm", runs, root / "lists", list_runs


def test_dynamic_trip_count_becomes_a_loop(dynamic_loop, tmp_path, caplog):
    directory, runs, _, _ = dynamic_loop
    xml, log = _convert(directory, tmp_path / "a", caplog)
    assert NOTF in log, log
    assert ir_layer_types(xml).count("Loop") == 1
    for x, n, expected in runs:
        (actual,) = run_ir(xml, [n, x])  # the signature's inputs in name order: n, x
        err = rel_err(actual, expected)
        assert err <= TOLERANCE, f"n={n}: rel err {err:.2e} > {TOLERANCE:.0e}"
    again, _ = _convert(directory, tmp_path / "b", caplog)  # deterministic output
    assert again.read_bytes() == xml.read_bytes()
    assert again.with_suffix(".bin").read_bytes() == xml.with_suffix(".bin").read_bytes()


def test_tensor_lists_filled_by_dynamic_loops(dynamic_loop, tmp_path, caplog):
    """map_fn and scan over a batch known only at run time: each a Loop whose concatenated
    output is the list (scan's first element is set before its loop)."""
    _, _, directory, runs = dynamic_loop
    xml, log = _convert(directory, tmp_path, caplog)
    assert NOTF in log, log
    assert ir_layer_types(xml).count("Loop") == 2
    for x, expected in runs:
        actual = run_ir(xml, [x])
        for a, e in zip(actual, expected):
            err = rel_err(a, e)
            assert err <= TOLERANCE, f"batch {len(x)}: rel err {err:.2e} > {TOLERANCE:.0e}"


def test_keras_lstm_over_a_dynamic_time_axis(tmp_path, caplog):
    """Keras 3 LSTM (return_sequences=False: its output list is written at index 0 in every
    iteration) over a None time axis: one Loop, 5 and 21 steps."""
    import keras
    rng = np.random.default_rng(21)
    inp = keras.Input((None, 6))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.LSTM(8)(inp)))
    for w in model.weights:
        w.assign(rng.standard_normal(tuple(w.shape)).astype(np.float32) * 0.4)
    model.export(str(tmp_path / "sm"), verbose=False)
    xml, log = _convert(tmp_path / "sm", tmp_path, caplog)
    assert NOTF in log, log
    layers = ir_layer_types(xml)
    assert layers.count("Loop") + layers.count("LSTMSequence") == 1, layers
    for steps in (5, 21):
        x = rng.standard_normal((2, steps, 6)).astype(np.float32)
        (actual,) = run_ir(xml, [x])
        expected = np.asarray(model(x))
        err = rel_err(actual, expected)
        assert err <= TOLERANCE, f"{steps} steps: rel err {err:.2e} > {TOLERANCE:.0e}"


def test_tf1_meta_graph_with_control_flow_v2(tmp_path, caplog):
    """A TF1 graph built with control flow v2 (While and StatelessIf in the graph, a resource
    variable passed through the loop) and a V2 checkpoint: frozen without TensorFlow."""
    tf1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        tf1.enable_control_flow_v2()
        x = tf1.placeholder(tf.float32, [3, 4], name="x")
        v = tf1.get_variable("v", initializer=_x(4))
        _, y = tf1.while_loop(lambda i, a: i < 4, lambda i, a: (i + 1, a * 0.5 + v), [0, x])
        y = tf.identity(tf1.cond(tf.reduce_sum(y) > 0, lambda: y + 1.0, lambda: y * 3.0), "y")
        assert {"While", "StatelessIf"} <= {n.op for n in g.as_graph_def().node}
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver().save(sess, str(tmp_path / "model"))
            expected = [sess.run(y, {x: f}) for f in (X, X_NEG)]
    xml, log = _convert(tmp_path / "model.meta", tmp_path, caplog, output="y")
    assert "froze MetaGraph" in log and NOTF in log, log
    for feed, e in zip((X, X_NEG), expected):
        (actual,) = run_ir(xml, [feed])
        assert rel_err(actual, e) <= TOLERANCE


@pytest.mark.parametrize("name", list(CASES))
def test_lowered_graph_is_valid_tensorflow(models, name):
    """The lowering itself, apart from translation: the frozen graph with its While/If/Case
    lowered to TF1 control flow (functions.inline_frozen) runs in TensorFlow and gives the
    original model's results."""
    from tfconv_tf_frontend import functions, proto
    case = models[name]
    gd = proto.GraphDef()
    gd.ParseFromString(case["pb"].read_bytes())
    functions.inline_frozen(gd)
    lowered = {n.op for n in gd.node}
    assert not lowered & {"While", "StatelessWhile", "If", "StatelessIf", "Case",
                          "StatelessCase"}
    tf_gd = tf.compat.v1.GraphDef()
    tf_gd.ParseFromString(gd.SerializeToString())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(tf_gd, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        for feed, expected in zip(case["feeds"], case["expected"]):
            for got, e in zip(sess.run(case["outputs"], {"x:0": feed}), expected):
                np.testing.assert_allclose(got, e, rtol=1e-6, atol=1e-6)
