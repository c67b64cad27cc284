"""QuantizeAndDequantizeV2/V3/V4: TF's quantize-dequantize round trip (quantization-aware
models), computed as TF's kernel does: the range is widened on one side so that zero is
exactly representable, then values are clamped, scaled, rounded and scaled back."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import ints, norm_axis, scalar_like, text

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs


def per_axis(ctx: NodeContext, v: Port, axis: int, rank: int) -> Port:
    """A [C] vector shaped to broadcast along ``axis`` of a rank-``rank`` tensor."""
    return ctx.emit("Unsqueeze", v, ints(ctx, [a for a in range(rank) if a != axis])) \
        if rank > 1 else v


@TABLE.register("QuantizeAndDequantizeV2", "QuantizeAndDequantizeV4", inputs=3)
@TABLE.register("QuantizeAndDequantizeV3", inputs=4)
def quantize_and_dequantize(ctx: NodeContext) -> Outputs:
    x, lo, hi = ctx.inputs()[:3]
    if ctx.op_type == "QuantizeAndDequantizeV3":
        bits = ctx.value(3)
        ctx.require(bits is not None, "num_bits must be constant")
        bits = int(bits)
    else:
        bits = int(ctx.attr("num_bits", 8))
    signed, narrow = bool(ctx.attr("signed_input", True)), bool(ctx.attr("narrow_range", False))
    mode = text(ctx, "round_mode", "HALF_TO_EVEN")
    ctx.require(mode in ("HALF_TO_EVEN", "HALF_UP"), f"unsupported round_mode {mode!r}")
    rank = ctx.rank(x)
    axis = int(ctx.attr("axis", -1))
    if axis != -1:
        ctx.require(rank is not None, "a per-axis range needs a known input rank")
        axis = norm_axis(ctx, axis, rank)
    if not ctx.attr("range_given", False):  # the range of the data itself
        axes = [a for a in range(rank or 0) if a != axis] if axis != -1 else None
        reduce_axes = ints(ctx, axes) if axes is not None else \
            ctx.emit("Range", ints(ctx, 0), ctx.emit("Squeeze", ctx.emit(
                "ShapeOf", ctx.emit("ShapeOf", x, output_type="int64"), output_type="int64"),
                ints(ctx, [0])), ints(ctx, 1), output_type="int64")
        lo = ctx.emit("ReduceMin", x, reduce_axes, keep_dims=False)
        hi = ctx.emit("ReduceMax", x, reduce_axes, keep_dims=False)
    if axis != -1:
        lo, hi = per_axis(ctx, lo, axis, rank), per_axis(ctx, hi, axis, rank)
    q_min = (-(2 ** (bits - 1)) + (1 if narrow else 0)) if signed else 0
    q_max = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    big = scalar_like(ctx, np.finfo(np.float32).max, x)
    zero = scalar_like(ctx, 0, x)
    qmin, qmax = scalar_like(ctx, q_min, x), scalar_like(ctx, q_max, x)
    one = scalar_like(ctx, 1, x)

    def ratio(num: Port, den: Port, valid: Port) -> Port:  # num / den where valid, else 1
        return ctx.emit("Divide", ctx.emit("Select", valid, num, one),
                        ctx.emit("Select", valid, den, one))
    # the scale from each side (the largest float where that side cannot bound it)
    min_ok = ctx.emit("Greater", ctx.emit("Multiply", qmin, lo), zero)
    max_ok = ctx.emit("Greater", ctx.emit("Multiply", qmax, hi), zero)
    from_min = ctx.emit("Select", min_ok, ratio(qmin, lo, min_ok), big)
    from_max = ctx.emit("Select", max_ok, ratio(qmax, hi, max_ok), big)
    min_side = ctx.emit("Less", from_min, from_max)
    scale = ctx.emit("Select", min_side, from_min, from_max)
    inverse = ctx.emit("Select", min_side, ratio(lo, qmin, min_ok), ratio(hi, qmax, max_ok))
    lo = ctx.emit("Select", min_side, lo, ctx.emit("Multiply", qmin, inverse))
    hi = ctx.emit("Select", min_side, ctx.emit("Multiply", qmax, inverse), hi)
    clamped = ctx.emit("Minimum", ctx.emit("Maximum", x, lo), hi)
    scaled = ctx.emit("Multiply", clamped, scale)
    if mode == "HALF_TO_EVEN":
        rounded = ctx.emit("Round", scaled, mode="half_to_even")
    else:  # HALF_UP: floor(v + 0.5)
        rounded = ctx.emit("Floor", ctx.emit("Add", scaled, scalar_like(ctx, 0.5, x)))
    return ctx.emit("Multiply", rounded, inverse)
