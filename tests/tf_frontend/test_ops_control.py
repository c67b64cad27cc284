"""control.py translators vs real TF: Placeholder, Const and the pass-through ops."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, convert, rand, tf

raw = tf.raw_ops
X = rand((2, 3))


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


CASES = [
    case("Identity", lambda x: tf.identity(x) * 2.0, X),
    case("IdentityN", lambda x, y: [t + 1.0 for t in raw.IdentityN(input=[x, y])], X, X),
    case("StopGradient", lambda x: tf.stop_gradient(x) + 1.0, X),
    case("PreventGradient", lambda x: raw.PreventGradient(input=x) + 1.0, X),
    case("Snapshot", lambda x: raw.Snapshot(input=x) + 1.0, X),
    case("EnsureShape", lambda x: tf.ensure_shape(x, [None, 3]) + 1.0, X),
    case("CheckNumerics", lambda x: tf.debugging.check_numerics(x, "bad") + 1.0, X),
    case("PlaceholderWithDefault",
         lambda x: tf.compat.v1.placeholder_with_default(tf.constant(X), [2, 3]) + x, X),
    case("Const-int64", lambda x: tf.constant(np.array([3, -4], np.int64)) + x,
         np.array([1, 2], np.int64)),
    case("Const-bool", lambda x: tf.logical_and(x, tf.constant([True, False])),
         np.array([True, True])),
    case("Placeholder-int32", lambda x: x * 3, np.array([[1, 2]], np.int32)),
    case("Placeholder-scalar", lambda x: x + 1.0, np.array(2.5, np.float32)),
    case("Placeholder-dynamic", lambda x: x * 2.0, X, shapes=[(None, None)],
         feeds=[rand((4, 5), "x45")]),
    case("Output-is-placeholder", lambda x: tf.identity(x), X),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_control_op(build, arrays, kw):
    check(build, *arrays, **kw)


def test_parameter_keeps_the_placeholder_name_and_type():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 224, 224, 3], name="input_1")
        tf.identity(x * 2.0, name="out")
    ir = convert(graph.as_graph_def().SerializeToString(), ["out:0"])
    param = ir.op("input_1")
    assert param.type == "Parameter"
    assert param.attrs["shape"] == (None, 224, 224, 3)
    assert param.attrs["element_type"] == "float32"


def test_user_shape_override_reaches_the_parameter():
    from tfconv.config import InputSpec
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8], name="x")
        tf.identity(x + 1.0, name="out")
    ir = convert(graph.as_graph_def().SerializeToString(), ["out:0"],
                 inputs=(InputSpec("x", (3, 8)),))
    assert ir.op("x").attrs["shape"] == (3, 8)
