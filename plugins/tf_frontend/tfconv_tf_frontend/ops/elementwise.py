"""Element-wise ops: table-driven 1:1 unary, binary, comparison and logical ops, plus the few
that need a small decomposition (integer division, Mod, Rsqrt, LeakyRelu, Select, Cast ...)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import dtype_name, ints, scalar_like, text

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs, Translator

UNARY = {
    "Abs": "Abs", "Neg": "Negative", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
    "Floor": "Floor", "Ceil": "Ceiling", "Sign": "Sign", "Relu": "Relu", "Sigmoid": "Sigmoid",
    "Tanh": "Tanh", "Erf": "Erf", "Softsign": "SoftSign", "Softplus": "SoftPlus",
    "Sin": "Sin", "Cos": "Cos", "Tan": "Tan", "Asin": "Asin", "Acos": "Acos", "Atan": "Atan",
    "Sinh": "Sinh", "Cosh": "Cosh", "LogicalNot": "LogicalNot",
}
BINARY = {
    "Add": "Add", "AddV2": "Add", "Sub": "Subtract", "Mul": "Multiply", "RealDiv": "Divide",
    "Maximum": "Maximum", "Minimum": "Minimum", "Pow": "Power",
    "SquaredDifference": "SquaredDifference",
}
COMPARE = {
    "Equal": "Equal", "NotEqual": "NotEqual", "Less": "Less", "LessEqual": "LessEqual",
    "Greater": "Greater", "GreaterEqual": "GreaterEqual", "LogicalAnd": "LogicalAnd",
    "LogicalOr": "LogicalOr",
}


def same_arity(ir_type: str) -> Translator:
    def translate(ctx: NodeContext) -> Outputs:
        return ctx.emit(ir_type, *ctx.inputs())
    return translate


for _tf, _ir in UNARY.items():
    TABLE.register(_tf, inputs=1)(same_arity(_ir))
for _tf, _ir in {**BINARY, **COMPARE}.items():
    TABLE.register(_tf, inputs=2)(same_arity(_ir))


def is_integer(ctx: NodeContext, port: Port) -> bool:
    dtype = ctx.dtype(port)
    return dtype is not None and np.issubdtype(dtype, np.integer)


# -- unary ops with a decomposition or attributes ------------------------------------------------


@TABLE.register("Relu6", inputs=1)
def relu6(ctx: NodeContext) -> Outputs:
    # TF: y = Relu6(x)          IR: y = Clamp(x, min=0, max=6)
    return ctx.emit("Clamp", ctx.input(0), min=0.0, max=6.0)


@TABLE.register("Elu", inputs=1)
def elu(ctx: NodeContext) -> Outputs:
    return ctx.emit("Elu", ctx.input(0), alpha=1.0)


@TABLE.register("Selu", inputs=1)
def selu(ctx: NodeContext) -> Outputs:
    # TF: y = scale * (x > 0 ? x : alpha * (exp(x) - 1))     IR: Selu(x, alpha, lambda=scale),
    # alpha and lambda 1-D tensors of one element (Selu-1)
    x = ctx.input(0)
    dtype = ctx.dtype(x) or np.float32
    return ctx.emit("Selu", x, ctx.const(np.array([1.6732632423543772848170429916717], dtype)),
                    ctx.const(np.array([1.0507009873554804934193349852946], dtype)))


@TABLE.register("LeakyRelu", inputs=1)
def leaky_relu(ctx: NodeContext) -> Outputs:
    # TF: y = x > 0 ? x : alpha * x       IR: PRelu(x, slope=[alpha])
    x = ctx.input(0)
    slope = ctx.const(np.array([ctx.attr("alpha", 0.2)], dtype=ctx.dtype(x) or np.float32))
    return ctx.emit("PRelu", x, slope)


# -- the error function family (OpenVINO has Erf only) ------------------------------------------


@TABLE.register("Erfc", inputs=1)
def erfc(ctx: NodeContext) -> Outputs:
    # TF: y = erfc(x)       IR: 1 - Erf(x); absolute error ~1e-7, so erfc(x > 4) loses its
    # relative precision (GELU only needs it next to the 0.5 * x factor; fuse_gelu makes it Gelu)
    x = ctx.input(0)
    return ctx.emit("Subtract", scalar_like(ctx, 1, x), ctx.emit("Erf", x))


# M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), single precision:
# erfinv(x) = x * P(w - 2.5) for w = -log((1 - x)(1 + x)) < 5, else x * Q(sqrt(w) - 3), with
# these published coefficients (highest degree first). Relative error ~1e-7 in float32.
ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
               -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def horner(ctx: NodeContext, coefficients: tuple[float, ...], t: Port) -> Port:
    acc = scalar_like(ctx, coefficients[0], t)
    for c in coefficients[1:]:
        acc = ctx.emit("Add", ctx.emit("Multiply", acc, t), scalar_like(ctx, c, t))
    return acc


def erfinv_of(ctx: NodeContext, x: Port, w: Port) -> Port:
    """erfinv(x) from x and w = -log((1 - x)(1 + x)), which the caller computes accurately."""
    central = horner(ctx, ERFINV_CENTRAL, ctx.emit("Subtract", w, scalar_like(ctx, 2.5, w)))
    tail = horner(ctx, ERFINV_TAIL,
                  ctx.emit("Subtract", ctx.emit("Sqrt", w), scalar_like(ctx, 3.0, w)))
    near = ctx.emit("Less", w, scalar_like(ctx, 5.0, w))
    return ctx.emit("Multiply", x, ctx.emit("Select", near, central, tail))


@TABLE.register("Erfinv", inputs=1)
def erfinv(ctx: NodeContext) -> Outputs:
    # TF: y = erfinv(x), x in [-1, 1]      IR: the approximation above (no OpenVINO op)
    x = ctx.input(0)
    one = scalar_like(ctx, 1, x)
    product = ctx.emit("Multiply", ctx.emit("Subtract", one, x), ctx.emit("Add", one, x))
    return erfinv_of(ctx, x, ctx.emit("Negative", ctx.emit("Log", product)))


@TABLE.register("Ndtri", inputs=1)
def ndtri(ctx: NodeContext) -> Outputs:
    # TF: y = ndtri(p), the inverse normal CDF = sqrt(2) * erfinv(2p - 1). w is computed from p
    # as -log(4 p (1 - p)): through x = 2p - 1, a small p would lose its digits in 1 + x.
    p = ctx.input(0)
    x = ctx.emit("Subtract", ctx.emit("Multiply", p, scalar_like(ctx, 2, p)), scalar_like(ctx, 1, p))
    product = ctx.emit("Multiply", ctx.emit("Multiply", p, scalar_like(ctx, 4, p)),
                       ctx.emit("Subtract", scalar_like(ctx, 1, p), p))
    y = erfinv_of(ctx, x, ctx.emit("Negative", ctx.emit("Log", product)))
    return ctx.emit("Multiply", y, scalar_like(ctx, np.sqrt(2.0), p))


@TABLE.register("Round", inputs=1)
def round_(ctx: NodeContext) -> Outputs:
    # TF rounds half to even (banker's rounding).
    x = ctx.input(0)
    if is_integer(ctx, x):
        return x
    return ctx.emit("Round", x, mode="half_to_even")


@TABLE.register("Rsqrt", inputs=1)
def rsqrt(ctx: NodeContext) -> Outputs:
    x = ctx.input(0)
    return ctx.emit("Divide", scalar_like(ctx, 1, x), ctx.emit("Sqrt", x))


@TABLE.register("Reciprocal", "Inv", inputs=1)
def reciprocal(ctx: NodeContext) -> Outputs:
    x = ctx.input(0)
    return ctx.emit("Divide", scalar_like(ctx, 1, x), x)


@TABLE.register("Square", inputs=1)
def square(ctx: NodeContext) -> Outputs:
    x = ctx.input(0)
    return ctx.emit("Multiply", x, x)


@TABLE.register("Log1p", inputs=1)
def log1p(ctx: NodeContext) -> Outputs:
    x = ctx.input(0)
    return ctx.emit("Log", ctx.emit("Add", x, scalar_like(ctx, 1, x)))


@TABLE.register("Expm1", inputs=1)
def expm1(ctx: NodeContext) -> Outputs:
    x = ctx.input(0)
    return ctx.emit("Subtract", ctx.emit("Exp", x), scalar_like(ctx, 1, x))


@TABLE.register("Cast", inputs=1)
def cast(ctx: NodeContext) -> Outputs:
    x = ctx.input(0)
    dst = np.dtype(ctx.attr("DstT"))
    if ctx.dtype(x) == dst:
        return x
    return ctx.emit("Convert", x, destination_type=dtype_name(dst))


# -- division and remainder ------------------------------------------------------------------------
# Integer Divide is ambiguous in OpenVINO (the reference floors, the CPU plugin truncates), so
# integer quotients are built from FloorMod, whose numerator makes every division exact.


def floor_div_int(ctx: NodeContext, x: Port, y: Port) -> Port:
    # floor(x / y) == (x - FloorMod(x, y)) / y, exactly
    exact = ctx.emit("Subtract", x, ctx.emit("FloorMod", x, y))
    return ctx.emit("Divide", exact, y)


def trunc_div_int(ctx: NodeContext, x: Port, y: Port) -> Port:
    # trunc(x / y) == sign(x) * sign(y) * floor(|x| / |y|)
    sign = ctx.emit("Multiply", ctx.emit("Sign", x), ctx.emit("Sign", y))
    return ctx.emit("Multiply", sign,
                    floor_div_int(ctx, ctx.emit("Abs", x), ctx.emit("Abs", y)))


def divide(ctx: NodeContext, x: Port, y: Port) -> Port:
    if is_integer(ctx, x):
        return trunc_div_int(ctx, x, y)
    return ctx.emit("Divide", x, y)


@TABLE.register("Div", "TruncateDiv", inputs=2)
def div(ctx: NodeContext) -> Outputs:
    # TF Div/TruncateDiv: real division for floats, truncation toward zero for integers.
    return divide(ctx, *ctx.inputs())


@TABLE.register("FloorDiv", inputs=2)
def floor_div(ctx: NodeContext) -> Outputs:
    # TF: z = floor(x / y)       IR: Floor(Divide(x, y)) for floats
    x, y = ctx.inputs()
    if is_integer(ctx, x):
        return floor_div_int(ctx, x, y)
    return ctx.emit("Floor", ctx.emit("Divide", x, y))


@TABLE.register("FloorMod", inputs=2)
def floor_mod(ctx: NodeContext) -> Outputs:
    return ctx.emit("FloorMod", *ctx.inputs())


@TABLE.register("Mod", "TruncateMod", inputs=2)
def mod(ctx: NodeContext) -> Outputs:
    # TF Mod (C fmod: the sign of x)      IR: r = FloorMod(x, y) (the sign of y); r - y where
    # r != 0 and sign(x) != sign(y), else r
    x, y = ctx.inputs()
    r = ctx.emit("FloorMod", x, y)
    zero = scalar_like(ctx, 0, x)
    fix = ctx.emit("LogicalAnd", ctx.emit("NotEqual", r, zero),
                   ctx.emit("NotEqual", ctx.emit("Less", x, zero), ctx.emit("Less", y, zero)))
    return ctx.emit("Select", fix, ctx.emit("Subtract", r, y), r)


@TABLE.register("DivNoNan", inputs=2)
def div_no_nan(ctx: NodeContext) -> Outputs:
    # TF: z = y == 0 ? 0 : x / y
    x, y = ctx.inputs()
    zero = scalar_like(ctx, 0, x)
    safe_y = ctx.emit("Select", ctx.emit("Equal", y, zero), scalar_like(ctx, 1, y), y)
    quotient = divide(ctx, x, safe_y)
    return ctx.emit("Select", ctx.emit("Equal", y, zero), zero, quotient)


# -- n-ary, selection and clipping ---------------------------------------------------------------


@TABLE.register("AddN", min_inputs=1)
def add_n(ctx: NodeContext) -> Outputs:
    total, *rest = ctx.inputs()
    for x in rest:
        total = ctx.emit("Add", total, x)
    return total


@TABLE.register("BiasAdd", "BiasAddV1", inputs=2)
def bias_add(ctx: NodeContext) -> Outputs:
    data_format = text(ctx, "data_format", "NHWC")
    ctx.require(data_format in ("NHWC", "NCHW"), f"unsupported data_format {data_format!r}")
    value, bias = ctx.inputs()
    if data_format == "NCHW":
        rank = ctx.rank(value)
        ctx.require(rank is not None, "BiasAdd in NCHW needs a known input rank")
        if rank > 2:
            bias = ctx.emit("Unsqueeze", bias, ints(ctx, list(range(1, rank - 1))))
    return ctx.emit("Add", value, bias)


@TABLE.register("Select", inputs=3)
def select(ctx: NodeContext) -> Outputs:
    # TF Select (v1): cond has x's shape, or is a vector picking whole rows of x.
    cond, x, y = ctx.inputs()
    cond_rank, x_rank = ctx.rank(cond), ctx.rank(x)
    if cond_rank == 1 and x_rank is not None and x_rank > 1:
        cond = ctx.emit("Unsqueeze", cond, ints(ctx, list(range(1, x_rank))))
    else:
        ctx.require(cond_rank is not None and x_rank is not None,
                    "Select needs known ranks to tell row selection from element selection")
    return ctx.emit("Select", cond, x, y, auto_broadcast="numpy")


@TABLE.register("SelectV2", inputs=3)
def select_v2(ctx: NodeContext) -> Outputs:
    return ctx.emit("Select", *ctx.inputs(), auto_broadcast="numpy")


@TABLE.register("ClipByValue", inputs=3)
def clip_by_value(ctx: NodeContext) -> Outputs:
    # TF: y = min(max(x, lo), hi)     IR: Clamp(x, lo, hi) when lo and hi are constant scalars
    x, lo, hi = ctx.inputs()
    lo_v, hi_v = ctx.value(lo), ctx.value(hi)
    if (lo_v is not None and hi_v is not None and lo_v.size == 1 and hi_v.size == 1
            and not is_integer(ctx, x) and float(lo_v.reshape(-1)[0]) <= float(hi_v.reshape(-1)[0])):
        return ctx.emit("Clamp", x, min=float(lo_v.reshape(-1)[0]), max=float(hi_v.reshape(-1)[0]))
    return ctx.emit("Minimum", ctx.emit("Maximum", x, lo), hi)
