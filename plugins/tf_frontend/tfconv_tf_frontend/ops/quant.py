"""Fake quantization: TF's FakeQuantWithMinMax{Args,Vars,VarsPerChannel} -> IR FakeQuantize.

TF first *nudges* the range so that zero is exactly representable, then quantizes with the
nudged range (``tensorflow/core/kernels/fake_quant_ops_functor.h``)::

    quant_min = 1 if narrow_range else 0;  quant_max = 2^num_bits - 1       (as float32)
    scale = (max - min) / (quant_max - quant_min)
    zero_point_from_min = quant_min - min / scale
    nudged_zero_point = clamp(std::round(zero_point_from_min), quant_min, quant_max)
    nudged_min = (quant_min - nudged_zero_point) * scale
    nudged_max = (quant_max - nudged_zero_point) * scale
    y = floor((clamp(x, nudged_min, nudged_max) - nudged_min) / scale + 0.5) * scale + nudged_min

all in float32 arithmetic (reproduced here with numpy float32 operations, which round every step
as the C++ code does). The IR op is ``FakeQuantize(x, nudged_min, nudged_max, nudged_min,
nudged_max, levels=quant_max - quant_min + 1)``. A range of min == max == 0 makes TF output zeros;
those entries get the input range [0, 1] and the output range [0, 0] (FakeQuantize with an
empty input range divides by zero).

The ranges are constants (scalars, or ``[C]`` vectors for the per-channel op, which broadcast
against the last axis of TF's NHWC layout). FakeQuantize has no constant evaluator in
``tfconv.irops``, so FakeQuantize on a weight Const stays in the IR (Const -> FakeQuantize ->
consumer) for low-precision runtimes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs

F32 = np.float32


def round_half_away(x: np.ndarray) -> np.ndarray:
    """``std::round`` on float32: ties away from zero (exact: ``x - trunc(x)`` is exact)."""
    x = np.asarray(x, F32)
    whole = np.trunc(x)
    frac = x - whole
    return np.where(np.abs(frac) >= F32(0.5), whole + np.sign(x), whole).astype(F32)


def nudge(min_val: object, max_val: object, num_bits: int,
          narrow_range: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """TF's ``Nudge`` in float32, element-wise over ``min_val``/``max_val`` (scalars or vectors).

    Returns ``(nudged_min, nudged_max, levels)``; entries whose range is ``[0, 0]`` give ``0, 0``
    (TF outputs zeros for them).
    """
    lo = np.asarray(min_val, F32)
    hi = np.asarray(max_val, F32)
    quant_min = 1 if narrow_range else 0
    quant_max = (1 << num_bits) - 1
    qmin, qmax = F32(quant_min), F32(quant_max)
    zero = (lo == 0) & (hi == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = ((hi - lo) / (qmax - qmin)).astype(F32)
        zero_point_from_min = (qmin - lo / scale).astype(F32)
        rounded = round_half_away(np.nan_to_num(zero_point_from_min, nan=quant_min))
    nudged_zero_point = np.where(zero_point_from_min < qmin, qmin,
                                 np.where(zero_point_from_min > qmax, qmax, rounded)).astype(F32)
    nudged_min = ((qmin - nudged_zero_point) * scale).astype(F32)
    nudged_max = ((qmax - nudged_zero_point) * scale).astype(F32)
    nudged_min = np.where(zero, F32(0), nudged_min).astype(F32)
    nudged_max = np.where(zero, F32(0), nudged_max).astype(F32)
    return nudged_min, nudged_max, quant_max - quant_min + 1


def quant_attrs(ctx: NodeContext) -> tuple[int, bool]:
    num_bits = int(ctx.attr("num_bits", 8))
    ctx.require(2 <= num_bits <= 16, f"num_bits must be in [2, 16], got {num_bits}")
    return num_bits, bool(ctx.attr("narrow_range", False))


def range_input(ctx: NodeContext, i: int, what: str) -> np.ndarray:
    """Input ``i`` (``min`` or ``max``) as a float32 constant; fails clearly when it is computed."""
    value = ctx.value(i)
    if value is None:
        ctx.fail(f"{what} (input {i}, from {ctx.input(i).node!r}) must be a constant: "
                 f"{ctx.op_type} is only supported with fixed ranges, as in a frozen graph")
    return np.asarray(value, F32)


def fake_quantize(ctx: NodeContext, x: Port, lo: np.ndarray, hi: np.ndarray) -> Port:
    """FakeQuantize(x) with TF's nudged version of the range ``[lo, hi]``."""
    ctx.require(not np.any(np.isnan(lo)) and not np.any(np.isnan(hi)), "the range holds NaN")
    ok = (lo < hi) | ((lo == 0) & (hi == 0))
    ctx.require(bool(np.all(ok)), "min must be less than max (or both 0, which gives zeros), got "
                f"min={lo.tolist()}, max={hi.tolist()}")
    num_bits, narrow = quant_attrs(ctx)
    nudged_min, nudged_max, levels = nudge(lo, hi, num_bits, narrow)
    dtype = ctx.dtype(x) or np.dtype(F32)
    ctx.require(np.issubdtype(dtype, np.floating), f"expected a float input, got {dtype}")
    low = ctx.const(nudged_min, name="nudged_min")
    high = ctx.const(nudged_max, name="nudged_max")
    in_low, in_high = low, high
    zero = nudged_min == nudged_max  # only for a [0, 0] range: TF outputs zeros
    if np.any(zero):
        # FakeQuantize divides by input_high - input_low: give those entries the input range
        # [0, 1] (any non-empty one) and keep the output range [0, 0], so they output 0.
        in_high = ctx.const(np.where(zero, F32(1), nudged_max).astype(F32), name="input_high")
    return ctx.emit("FakeQuantize", x, in_low, in_high, low, high, levels=levels,
                    auto_broadcast="numpy", name="")


@TABLE.register("FakeQuantWithMinMaxArgs", inputs=1)
def fake_quant_with_min_max_args(ctx: NodeContext) -> Outputs:
    # TF: y = FakeQuantWithMinMaxArgs(x, min=attr, max=attr, num_bits, narrow_range)
    # IR: y = FakeQuantize(x, nmin, nmax, nmin, nmax, levels)   (TF's nudged range)
    lo = np.asarray(ctx.attr("min", -6.0), F32)
    hi = np.asarray(ctx.attr("max", 6.0), F32)
    ctx.require(lo < hi, f"min ({float(lo)}) must be less than max ({float(hi)})")
    return fake_quantize(ctx, ctx.input(0), lo, hi)


@TABLE.register("FakeQuantWithMinMaxVars", inputs=3)
def fake_quant_with_min_max_vars(ctx: NodeContext) -> Outputs:
    # TF: y = FakeQuantWithMinMaxVars(x, min[], max[])     (min/max: Const in a frozen graph)
    # IR: y = FakeQuantize(x, nmin, nmax, nmin, nmax, levels)
    lo, hi = range_input(ctx, 1, "min"), range_input(ctx, 2, "max")
    ctx.require(lo.size == 1 and hi.size == 1,
                f"min and max must be scalars, got shapes {list(lo.shape)} and {list(hi.shape)}")
    return fake_quantize(ctx, ctx.input(0), lo.reshape(()), hi.reshape(()))


@TABLE.register("FakeQuantWithMinMaxVarsPerChannel", inputs=3)
def fake_quant_with_min_max_vars_per_channel(ctx: NodeContext) -> Outputs:
    # TF: y[..., c] = FakeQuantWithMinMaxVars(x[..., c], min[c], max[c])   (last axis, any layout)
    # IR: y = FakeQuantize(x, nmin[C], nmax[C], nmin[C], nmax[C], levels)  ([C] broadcasts on
    #     the last axis, numpy-style)
    x = ctx.input(0)
    lo, hi = range_input(ctx, 1, "min"), range_input(ctx, 2, "max")
    ctx.require(lo.ndim == 1 and lo.shape == hi.shape,
                f"min and max must be vectors of one shape, got {list(lo.shape)} and "
                f"{list(hi.shape)}")
    shape = ctx.shape(x)
    if shape is not None:
        ctx.require(len(shape) >= 1, "the input must have at least one dimension")
        last = shape[-1]
        ctx.require(last is None or last == lo.shape[0],
                    f"min/max have {lo.shape[0]} channels but the input's last axis has {last}")
    return fake_quantize(ctx, x, lo, hi)
