"""Element-wise and small utility ops the peers convert beyond the common families: inverse
hyperbolics, Atan2, finiteness tests, x*log(y)-style guards, bitwise ops and shifts, rounding,
and Bucketize, Roll, ReverseSequence, LinSpace, InvertPermutation, UnravelIndex, Unique,
ListDiff, Bincount, DenseBincount, BroadcastArgs, ToBool, L2Loss, NthElement, InTopK, HistogramFixedWidth,
CumulativeLogsumexp."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import dtype_name, ints, scalar_like

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs, Translator

# TF op -> IR op, one to one
ONE_TO_ONE = {
    "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh", "IsFinite": "IsFinite",
    "IsNan": "IsNaN", "BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr",
    "BitwiseXor": "BitwiseXor", "Invert": "BitwiseNot", "LeftShift": "BitwiseLeftShift",
    "RightShift": "BitwiseRightShift",
}


def one_to_one(ir_type: str) -> Translator:
    def translate(ctx: NodeContext) -> Outputs:
        return ctx.emit(ir_type, *ctx.inputs())
    return translate


for _tf, _ir in ONE_TO_ONE.items():
    TABLE.register(_tf, inputs=1 if _tf in ("Asinh", "Acosh", "Atanh", "IsFinite", "IsNan",
                                            "Invert") else 2)(one_to_one(_ir))


@TABLE.register("CheckNumericsV2", inputs=1)
def check_numerics_v2(ctx: NodeContext) -> Outputs:
    # a run-time check only: its input at inference time (as CheckNumerics)
    return ctx.input(0)


@TABLE.register("IsInf", inputs=1)
def is_inf(ctx: NodeContext) -> Outputs:
    return ctx.emit("IsInf", ctx.input(0), detect_negative=True, detect_positive=True)


@TABLE.register("Rint", inputs=1)
def rint(ctx: NodeContext) -> Outputs:
    # TF: the nearest integer, halves to even       IR: Round(half_to_even)
    return ctx.emit("Round", ctx.input(0), mode="half_to_even")


@TABLE.register("Atan2", inputs=2)
def atan2(ctx: NodeContext) -> Outputs:
    # TF: atan2(y, x) in (-pi, pi]      IR: Atan(y / x), moved by +-pi when x < 0 (by the sign
    # of y, y = 0 counting as positive), +-pi/2 when x = 0 (0 when y = 0 too)
    return atan2_of(ctx, *ctx.inputs())


def atan2_of(ctx: NodeContext, y: Port, x: Port) -> Port:
    zero = scalar_like(ctx, 0, x)
    base = ctx.emit("Atan", ctx.emit("Divide", y, x))
    pi = scalar_like(ctx, np.pi, x)
    y_neg = ctx.emit("Less", y, zero)
    shifted = ctx.emit("Select", y_neg, ctx.emit("Subtract", base, pi), ctx.emit("Add", base, pi))
    out = ctx.emit("Select", ctx.emit("Less", x, zero), shifted, base)
    on_axis = ctx.emit("Multiply", ctx.emit("Sign", y), scalar_like(ctx, np.pi / 2, x))
    return ctx.emit("Select", ctx.emit("Equal", x, zero), on_axis, out)


def zero_where_x_is_zero(ctx: NodeContext, x: Port, value: Port) -> Port:
    zero = scalar_like(ctx, 0, x)
    return ctx.emit("Select", ctx.emit("Equal", x, zero), zero, value)


@TABLE.register("Xlogy", inputs=2)
def xlogy(ctx: NodeContext) -> Outputs:
    # TF: 0 if x == 0 else x * log(y)
    x, y = ctx.inputs()
    return zero_where_x_is_zero(ctx, x, ctx.emit("Multiply", x, ctx.emit("Log", y)))


@TABLE.register("Xlog1py", inputs=2)
def xlog1py(ctx: NodeContext) -> Outputs:
    # TF: 0 if x == 0 else x * log(1 + y)
    x, y = ctx.inputs()
    log1p = ctx.emit("Log", ctx.emit("Add", y, scalar_like(ctx, 1, y)))
    return zero_where_x_is_zero(ctx, x, ctx.emit("Multiply", x, log1p))


@TABLE.register("Xdivy", inputs=2)
def xdivy(ctx: NodeContext) -> Outputs:
    # TF: 0 if x == 0 else x / y
    x, y = ctx.inputs()
    return zero_where_x_is_zero(ctx, x, ctx.emit("Divide", x, y))


@TABLE.register("MulNoNan", inputs=2)
def mul_no_nan(ctx: NodeContext) -> Outputs:
    # TF: 0 if y == 0 else x * y (even where x is inf or nan)
    x, y = ctx.inputs()
    zero = scalar_like(ctx, 0, y)
    return ctx.emit("Select", ctx.emit("Equal", y, zero), zero, ctx.emit("Multiply", x, y))


@TABLE.register("ApproximateEqual", inputs=2)
def approximate_equal(ctx: NodeContext) -> Outputs:
    # TF: |x - y| < tolerance
    x, y = ctx.inputs()
    diff = ctx.emit("Abs", ctx.emit("Subtract", x, y))
    return ctx.emit("Less", diff, scalar_like(ctx, float(ctx.attr("tolerance", 1e-5)), x))


@TABLE.register("L2Loss", inputs=1)
def l2_loss(ctx: NodeContext) -> Outputs:
    # TF: sum(x ** 2) / 2 over every element, a scalar
    x = ctx.input(0)
    flat = ctx.emit("Reshape", x, ints(ctx, [-1]), special_zero=False)
    total = ctx.emit("ReduceSum", ctx.emit("Multiply", flat, flat), ints(ctx, [0]), keep_dims=False)
    return ctx.emit("Multiply", total, scalar_like(ctx, 0.5, x))


@TABLE.register("ToBool", inputs=1)
def to_bool(ctx: NodeContext) -> Outputs:
    # TF: a scalar is x != 0; any other tensor is "has at least one element"
    x = ctx.input(0)
    rank = ctx.rank(x)
    ctx.require(rank is not None, "ToBool needs a known input rank")
    if rank == 0:
        return ctx.emit("NotEqual", x, scalar_like(ctx, 0, x))
    size = ctx.emit("ReduceProd", ctx.emit("ShapeOf", x, output_type="int64"), ints(ctx, [0]),
                    keep_dims=False)
    return ctx.emit("Greater", size, ints(ctx, 0))


# -- index and sequence utilities ------------------------------------------------------------


@TABLE.register("Bucketize", inputs=1)
def bucketize(ctx: NodeContext) -> Outputs:
    # TF: i such that boundaries[i-1] <= x < boundaries[i]     IR: Bucketize(with_right_bound=false)
    x = ctx.input(0)
    bounds = ctx.const(np.asarray(ctx.attr("boundaries"), np.float32), name="boundaries")
    if ctx.dtype(x) != np.float32:
        bounds = ctx.const(np.asarray(ctx.attr("boundaries"), ctx.dtype(x)), name="boundaries")
    return ctx.emit("Bucketize", x, bounds, output_type="int32", with_right_bound=False)


@TABLE.register("Roll", inputs=3)
def roll(ctx: NodeContext) -> Outputs:
    return ctx.emit("Roll", *ctx.inputs())


@TABLE.register("ReverseSequence", inputs=2)
def reverse_sequence(ctx: NodeContext) -> Outputs:
    # TF: reverse the first seq_lengths[b] entries along seq_dim of each batch_dim slice
    x, lengths = ctx.inputs()
    rank = ctx.rank(x)
    seq, batch = int(ctx.attr("seq_dim")), int(ctx.attr("batch_dim", 0))
    if rank is not None:
        seq, batch = seq % rank, batch % rank
    return ctx.emit("ReverseSequence", x, lengths, seq_axis=seq, batch_axis=batch)


@TABLE.register("LinSpace", inputs=3)
def lin_space(ctx: NodeContext) -> Outputs:
    # TF: start + i * (stop - start) / (num - 1) for i < num - 1, then stop itself
    # IR: start * (1 - w) + stop * w with w = i / max(num - 1, 1) (exactly stop at the end,
    # start alone for num = 1); w is a constant when num is
    start, stop, num = ctx.inputs()
    dtype = dtype_name(ctx.dtype(start))
    num = ctx.emit("Convert", num, destination_type="int64")
    steps = ctx.emit("Convert", ctx.emit("Maximum", ctx.emit("Subtract", num, ints(ctx, 1)),
                                         ints(ctx, 1)), destination_type=dtype)
    w = ctx.emit("Divide", ctx.emit("Range", ints(ctx, 0), num, ints(ctx, 1), output_type=dtype),
                 steps)
    rest = ctx.emit("Subtract", scalar_like(ctx, 1, start), w)
    return ctx.emit("Add", ctx.emit("Multiply", start, rest), ctx.emit("Multiply", stop, w))


@TABLE.register("InvertPermutation", inputs=1)
def invert_permutation(ctx: NodeContext) -> Outputs:
    # TF: y[x[i]] = i        IR: the indices that sort x ascending (TopK, k = len(x))
    x = ctx.input(0)
    k = ctx.emit("Squeeze", ctx.emit("ShapeOf", x, output_type="int64"), ints(ctx, [0]))
    _, indices = ctx.emit("TopK", x, k, axis=0, mode="min", sort="value",
                          index_element_type=dtype_name(ctx.dtype(x)))
    return indices


def floor_div(ctx: NodeContext, x: Port, y: Port) -> Port:
    # exact integer floor division (the numerator is made a multiple of y first)
    return ctx.emit("Divide", ctx.emit("Subtract", x, ctx.emit("FloorMod", x, y)), y)


@TABLE.register("UnravelIndex", inputs=2)
def unravel_index(ctx: NodeContext) -> Outputs:
    # TF: coordinates[k] = (index // prod(dims[k+1:])) % dims[k], stacked on a new first axis
    indices, dims = ctx.inputs()
    n = (ctx.shape(dims) or (None,))[0]
    ctx.require(n is not None, "UnravelIndex needs the number of dimensions to be known")
    coords = []
    for k in range(n):
        if k + 1 < n:
            rest = ctx.emit("Gather", dims, ints(ctx, list(range(k + 1, n))), ints(ctx, 0),
                            batch_dims=0)
            stride = ctx.emit("ReduceProd", rest, ints(ctx, [0]), keep_dims=False)
        else:
            stride = ctx.const(np.array(1, ctx.dtype(dims)))
        dim = ctx.emit("Gather", dims, ints(ctx, k), ints(ctx, 0), batch_dims=0)
        coord = ctx.emit("FloorMod", floor_div(ctx, indices, stride), dim)
        coords.append(ctx.emit("Unsqueeze", coord, ints(ctx, [0])))
    return coords[0] if n == 1 else ctx.emit("Concat", *coords, axis=0)


def unique_in_order(ctx: NodeContext) -> tuple[Port, Port, Port]:
    """TF's unique values in order of first appearance, the index of each input element in
    them, and their counts.

    IR: Unique(sorted=true), reordered by first appearance with two TopKs. (OpenVINO's CPU
    plugin computes Unique(sorted=false) wrong unless its inverse-index output is used.)"""
    index = dtype_name(ctx.attr("out_idx", np.dtype(np.int32)))
    values, first, inverse, counts = ctx.emit("Unique", ctx.input(0), sorted=True,
                                              index_element_type=index)
    k = ctx.emit("Squeeze", ctx.emit("ShapeOf", values, output_type="int64"), ints(ctx, [0]))
    # order[j]: the sorted position of the j-th value to appear; rank: its inverse
    _, order = ctx.emit("TopK", first, k, axis=0, mode="min", sort="value",
                        index_element_type=index)
    _, rank = ctx.emit("TopK", order, k, axis=0, mode="min", sort="value",
                       index_element_type=index)
    y = ctx.emit("Gather", values, order, ints(ctx, 0), batch_dims=0)
    idx = ctx.emit("Gather", rank, inverse, ints(ctx, 0), batch_dims=0)
    counts = ctx.emit("Gather", counts, order, ints(ctx, 0), batch_dims=0)
    if index != "int64":  # (counts come as int64, Unique's default count type)
        counts = ctx.emit("Convert", counts, destination_type=index)
    return y, idx, counts


@TABLE.register("Unique", inputs=1)
def unique(ctx: NodeContext) -> Outputs:
    # TF: y (values in order of first appearance), idx (x[i] == y[idx[i]])
    return unique_in_order(ctx)[:2]


@TABLE.register("UniqueWithCounts", inputs=1)
def unique_with_counts(ctx: NodeContext) -> Outputs:
    return unique_in_order(ctx)


@TABLE.register("ListDiff", inputs=2)
def list_diff(ctx: NodeContext) -> Outputs:
    # TF: out = the x[i] not in y, in order; idx = their positions i
    x, y = ctx.inputs()
    matches = ctx.emit("Equal", ctx.emit("Unsqueeze", x, ints(ctx, [1])),
                       ctx.emit("Unsqueeze", y, ints(ctx, [0])))
    keep = ctx.emit("LogicalNot", ctx.emit("ReduceLogicalOr", matches, ints(ctx, [1]),
                                           keep_dims=False))
    index = dtype_name(ctx.attr("out_idx", np.dtype(np.int32)))
    idx = ctx.emit("Squeeze", ctx.emit("NonZero", keep, output_type=index), ints(ctx, [0]))
    return ctx.emit("Gather", x, idx, ints(ctx, 0), batch_dims=0), idx


@TABLE.register("Bincount", inputs=3)
def bincount(ctx: NodeContext) -> Outputs:
    # TF: out[i] = sum of weights[j] where arr[j] == i (counts when weights is empty), i < size;
    # values outside [0, size) are ignored
    arr, size, weights = ctx.inputs()
    dtype = ctx.dtype(weights)
    flat = ctx.emit("Reshape", arr, ints(ctx, [-1, 1]), special_zero=False)
    bins = ctx.emit("Range", ctx.const(np.array(0, ctx.dtype(size))), size,
                    ctx.const(np.array(1, ctx.dtype(size))), output_type=dtype_name(ctx.dtype(arr)))
    hits = ctx.emit("Convert", ctx.emit("Equal", flat, bins), destination_type=dtype_name(dtype))
    w_shape = ctx.shape(weights)
    if w_shape is None or 0 not in w_shape:
        hits = ctx.emit("Multiply", hits,
                        ctx.emit("Reshape", weights, ints(ctx, [-1, 1]), special_zero=False))
    return ctx.emit("ReduceSum", hits, ints(ctx, [0]), keep_dims=False)


@TABLE.register("DenseBincount", inputs=3)
def dense_bincount(ctx: NodeContext) -> Outputs:
    # TF 2's bincount (tf.math.bincount, Keras CategoryEncoding): Bincount per row of a rank-2
    # input, and with binary_output 1 where a value occurs at all
    arr, size, weights = ctx.inputs()
    rank = ctx.rank(arr)
    ctx.require(rank in (1, 2), "the input must have rank 1 or 2")
    dtype = np.dtype(ctx.attr("T"))
    bins = ctx.emit("Range", ctx.const(np.array(0, ctx.dtype(size))), size,
                    ctx.const(np.array(1, ctx.dtype(size))), output_type=dtype_name(ctx.dtype(arr)))
    hits = ctx.emit("Convert", ctx.emit("Equal", ctx.emit("Unsqueeze", arr, ints(ctx, [-1])), bins),
                    destination_type=dtype.name)                       # [..., n, size]
    binary = bool(ctx.attr("binary_output", False))
    w_shape = ctx.shape(weights)
    if not binary and (w_shape is None or 0 not in w_shape):
        hits = ctx.emit("Multiply", hits, ctx.emit("Unsqueeze", weights, ints(ctx, [-1])))
    counts = ctx.emit("ReduceSum", hits, ints(ctx, [rank - 1]), keep_dims=False)
    if binary:
        zero = ctx.const(np.array(0, dtype))
        counts = ctx.emit("Convert", ctx.emit("Greater", counts, zero), destination_type=dtype.name)
    return counts


@TABLE.register("BroadcastArgs", inputs=2)
def broadcast_args(ctx: NodeContext) -> Outputs:
    # TF: the broadcast of two shapes: both padded with leading 1s to one length, then per
    # dimension the other's size where one is 1 (so 1 and 0 give 0)
    s0, s1 = ctx.inputs()
    n0, n1 = (ctx.shape(s)[0] if ctx.shape(s) else None for s in (s0, s1))
    ctx.require(n0 is not None and n1 is not None, "BroadcastArgs needs shapes of known length")
    n = max(n0, n1)
    one = ctx.const(np.array(1, ctx.dtype(s0)))

    def padded(s: Port, length: int) -> Port:
        if length == n:
            return s
        ones = ctx.const(np.ones(n - length, ctx.dtype(s0)), name="ones")
        return ctx.emit("Concat", ones, s, axis=0)
    a, b = padded(s0, n0), padded(s1, n1)
    return ctx.emit("Select", ctx.emit("Equal", a, one), b, a)


@TABLE.register("NthElement", inputs=2)
def nth_element(ctx: NodeContext) -> Outputs:
    # TF: the n-th smallest (largest with reverse) value along the last axis
    x, n = ctx.inputs()
    n = ctx.emit("Convert", n, destination_type="int64")
    k = ctx.emit("Add", n, ints(ctx, 1))
    values, _ = ctx.emit("TopK", x, k, axis=-1, mode="max" if ctx.attr("reverse", False) else "min",
                         sort="value", index_element_type="int64")
    return ctx.emit("Gather", values, n, ints(ctx, -1), batch_dims=0)


@TABLE.register("InTopKV2", inputs=3)
@TABLE.register("InTopK", inputs=2)
def in_top_k(ctx: NodeContext) -> Outputs:
    # TF: whether each target's prediction is among the k largest of its row (ties count in:
    # fewer than k predictions are strictly greater), false for a non-finite prediction
    predictions, targets = ctx.input(0), ctx.input(1)
    k = ctx.input(2) if ctx.op_type == "InTopKV2" else ints(ctx, int(ctx.attr("k")))
    k = ctx.emit("Convert", k, destination_type="int64")
    score = ctx.emit("Gather", predictions, targets, ints(ctx, 1), batch_dims=1)
    above = ctx.emit("Greater", predictions, ctx.emit("Unsqueeze", score, ints(ctx, [1])))
    count = ctx.emit("ReduceSum", ctx.emit("Convert", above, destination_type="int64"),
                     ints(ctx, [1]), keep_dims=False)
    return ctx.emit("LogicalAnd", ctx.emit("Less", count, k), ctx.emit("IsFinite", score))


@TABLE.register("HistogramFixedWidth", inputs=3)
def histogram_fixed_width(ctx: NodeContext) -> Outputs:
    # TF: counts of values in nbins equal bins over value_range (values outside go to the
    # first or last bin): bin = clamp(floor((v - lo) / ((hi - lo) / nbins)), 0, nbins - 1)
    values, value_range, nbins = ctx.inputs()
    if not np.issubdtype(ctx.dtype(values), np.floating):  # TF computes the bins in double
        values = ctx.emit("Convert", values, destination_type="float32")
        value_range = ctx.emit("Convert", value_range, destination_type="float32")
    dtype = ctx.dtype(values)
    lo = ctx.emit("Gather", value_range, ints(ctx, 0), ints(ctx, 0), batch_dims=0)
    hi = ctx.emit("Gather", value_range, ints(ctx, 1), ints(ctx, 0), batch_dims=0)
    n = ctx.emit("Convert", nbins, destination_type="int64")
    step = ctx.emit("Divide", ctx.emit("Subtract", hi, lo),
                    ctx.emit("Convert", n, destination_type=dtype_name(dtype)))
    flat = ctx.emit("Reshape", values, ints(ctx, [-1, 1]), special_zero=False)
    position = ctx.emit("Floor", ctx.emit("Divide", ctx.emit("Subtract", flat, lo), step))
    top = ctx.emit("Subtract", n, ints(ctx, 1))
    index = ctx.emit("Minimum", ctx.emit("Maximum", ctx.emit(
        "Convert", position, destination_type="int64"), ints(ctx, 0)), top)
    bins = ctx.emit("Range", ints(ctx, 0), n, ints(ctx, 1), output_type="int64")
    out_type = dtype_name(ctx.attr("dtype", np.dtype(np.int32)))
    hits = ctx.emit("Convert", ctx.emit("Equal", index, bins), destination_type=out_type)
    return ctx.emit("ReduceSum", hits, ints(ctx, [0]), keep_dims=False)


@TABLE.register("CumulativeLogsumexp", inputs=2)
def cumulative_logsumexp(ctx: NodeContext) -> Outputs:
    # TF: log(cumsum(exp(x))) along axis      IR: the same shifted by the axis maximum
    x, axis = ctx.inputs()
    top = ctx.emit("ReduceMax", x, ctx.emit("Reshape", axis, ints(ctx, [1]), special_zero=False),
                   keep_dims=True)
    total = ctx.emit("CumSum", ctx.emit("Exp", ctx.emit("Subtract", x, top)), axis,
                     exclusive=bool(ctx.attr("exclusive", False)),
                     reverse=bool(ctx.attr("reverse", False)))
    return ctx.emit("Add", ctx.emit("Log", total), top)
