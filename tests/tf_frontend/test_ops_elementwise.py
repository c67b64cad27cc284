"""elementwise.py translators vs real TF: unary, binary, comparison, logical, Cast, Select ..."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


FEATURES = {"Relu", "Relu6", "Elu", "Selu", "Softsign", "Softplus", "LeakyRelu"}


def unary(op, low=-3.0, high=3.0):
    fn = getattr(raw, op)
    arg = "features" if op in FEATURES else "x"
    return case(op, lambda x: fn(**{arg: x}), rand((2, 3, 4), op, low, high))


def binary(op, a, b, id_=None):
    fn = getattr(raw, op)
    return case(id_ or op, lambda x, y: fn(x=x, y=y), a, b)


A = rand((2, 3, 4), "a", -3, 3)
B = rand((2, 3, 4), "b", -3, 3)
B_ROW = rand((4,), "row", 0.5, 2)
POS_A, POS_B = rand((2, 3, 4), "pa", 0.1, 3), rand((2, 3, 4), "pb", 0.5, 2)
IA = rand((3, 5), "ia", -20, 20, np.int32)
IB = np.where(rand((3, 5), "ib", -6, 6, np.int32) == 0, 3, rand((3, 5), "ib", -6, 6, np.int32))
# Floats with ties for comparisons and exact halves for rounding.
TIE_A = np.array([[-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.0]], np.float32)
TIE_B = np.array([[-2.5, 1.0, -0.5, 1.0, 0.5, 0.0, 2.0, 3.0]], np.float32)
BOOL_A = np.array([[True, False, True, False]])
BOOL_B = np.array([[True, True, False, False]])

CASES = [
    *(unary(op) for op in ["Abs", "Neg", "Exp", "Floor", "Ceil", "Sign", "Relu", "Relu6",
                           "Sigmoid", "Tanh", "Erf", "Softsign", "Softplus", "Sin", "Cos",
                           "Atan", "Sinh", "Cosh", "Elu", "Selu", "Square", "Expm1"]),
    *(unary(op, 0.05, 4.0) for op in ["Log", "Sqrt", "Rsqrt", "Reciprocal", "Inv", "Log1p"]),
    unary("Tan", -1.2, 1.2), unary("Asin", -0.95, 0.95), unary("Acos", -0.95, 0.95),
    case("Relu6-range", tf.nn.relu6, rand((3, 8), "r6", -3, 9)),
    case("LeakyRelu", lambda x: raw.LeakyRelu(features=x, alpha=0.1), A),
    case("LeakyRelu-alpha-gt-1", lambda x: raw.LeakyRelu(features=x, alpha=1.7), A),
    case("Round-half-even", lambda x: raw.Round(x=x), TIE_A),
    case("LogicalNot", lambda x: raw.LogicalNot(x=x), BOOL_A),
    # binary
    *(binary(op, A, B) for op in ["Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum",
                                  "SquaredDifference"]),
    binary("RealDiv", A, POS_B),
    binary("Pow", POS_A, B),
    binary("AddV2", A, B_ROW, "AddV2-broadcast-row"),
    binary("Mul", A, np.float32(2.5), "Mul-scalar"),
    binary("Sub", B_ROW, A, "Sub-broadcast-left"),
    binary("AddV2", IA, IB, "AddV2-int"),
    # division and remainder: floats and negative integers
    binary("Div", A, POS_B, "Div-float"),
    binary("Div", IA, IB, "Div-int-truncates"),
    binary("TruncateDiv", IA, IB, "TruncateDiv-int"),
    binary("FloorDiv", IA, IB, "FloorDiv-int"),
    binary("FloorDiv", A, B, "FloorDiv-float"),
    binary("FloorMod", IA, IB, "FloorMod-int"),
    binary("FloorMod", A, POS_B, "FloorMod-float"),
    binary("FloorMod", A, -POS_B, "FloorMod-float-neg"),
    binary("Mod", IA, IB, "Mod-int"),
    binary("TruncateMod", IA, IB, "TruncateMod-int"),
    binary("Mod", A, POS_B * np.sign(B), "Mod-float"),
    case("DivNoNan", lambda x, y: raw.DivNoNan(x=x, y=y), A,
         np.where(np.abs(B) < 1, 0, B).astype(np.float32)),
    # comparison and logical
    *(binary(op, TIE_A, TIE_B) for op in ["Equal", "NotEqual", "Less", "LessEqual", "Greater",
                                          "GreaterEqual"]),
    binary("Less", IA, IB, "Less-int"),
    binary("LogicalAnd", BOOL_A, BOOL_B),
    binary("LogicalOr", BOOL_A, BOOL_B),
    # selection
    case("Select-same-shape", lambda c, x, y: raw.Select(condition=c, x=x, y=y),
         A > 0, A, B),
    case("Select-rows", lambda c, x, y: raw.Select(condition=c, x=x, y=y),
         np.array([True, False]), A, B),
    case("SelectV2-broadcast", lambda c, x, y: raw.SelectV2(condition=c, t=x, e=y),
         B_ROW > 1, A, np.float32(0)),
    # Cast
    case("Cast-f32-i32", lambda x: tf.cast(x, tf.int32), A),
    case("Cast-i32-f32", lambda x: tf.cast(x, tf.float32), IA),
    case("Cast-f32-bool", lambda x: tf.cast(x, tf.bool), np.round(A)),
    case("Cast-bool-f32", lambda x: tf.cast(x, tf.float32), BOOL_A),
    case("Cast-i32-i64", lambda x: tf.cast(x, tf.int64), IA),
    case("Cast-same", lambda x: raw.Cast(x=x, DstT=tf.float32), A),
    # n-ary, BiasAdd, clipping
    case("AddN", lambda x, y, z: raw.AddN(inputs=[x, y, z]), A, B, POS_A),
    case("BiasAdd-nhwc", lambda x, b: raw.BiasAdd(value=x, bias=b), rand((2, 3, 3, 4)), B_ROW),
    case("BiasAdd-nchw", lambda x, b: raw.BiasAdd(value=x, bias=b, data_format="NCHW"),
         rand((2, 4, 3, 3)), B_ROW),
    case("BiasAdd-2d", lambda x, b: raw.BiasAdd(value=x, bias=b), rand((5, 4)), B_ROW),
    case("BiasAddV1", lambda x, b: raw.BiasAddV1(value=x, bias=b), rand((2, 3, 4)), B_ROW),
    case("ClipByValue-const", lambda x: tf.clip_by_value(x, -0.5, 1.25), A),
    case("ClipByValue-tensors", lambda x, lo, hi: raw.ClipByValue(t=x, clip_value_min=lo,
                                                                   clip_value_max=hi),
         A, -POS_A, POS_B),
    case("ClipByValue-int", lambda x: tf.clip_by_value(x, -3, 7), IA),
    case("dynamic-batch-add", lambda x, y: x * 2.0 + y, A, B_ROW,
         shapes=[(None, 3, 4), (4,)], feeds=[rand((5, 3, 4), "a5"), B_ROW]),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_elementwise_op(build, arrays, kw):
    check(build, *arrays, **kw)


def test_relu6_is_clamp_and_constants_fold():
    out = check(lambda x: tf.nn.relu6(x) + tf.constant(2.0) * tf.constant(3.0), A)
    assert out.types["Clamp"] == 1 and "Multiply" not in out.types
