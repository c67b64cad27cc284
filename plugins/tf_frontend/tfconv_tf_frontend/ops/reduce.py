"""Reductions over axes (Mean, Sum, ...) and ArgMax/ArgMin."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import dtype_name, ints, norm_axis

if TYPE_CHECKING:
    from tfconv.translate import NodeContext, Outputs, Translator

REDUCE = {
    "Mean": "ReduceMean", "Sum": "ReduceSum", "Max": "ReduceMax", "Min": "ReduceMin",
    "Prod": "ReduceProd", "All": "ReduceLogicalAnd", "Any": "ReduceLogicalOr",
    "EuclideanNorm": "ReduceL2",
}


def reduction(ir_type: str) -> Translator:
    # TF: Mean(x, reduction_indices, keep_dims)      IR: ReduceMean(x, axes, keep_dims)
    def translate(ctx: NodeContext) -> Outputs:
        x, axes = ctx.inputs()
        keep = bool(ctx.attr("keep_dims", False))
        value = ctx.value(axes)
        if value is not None:
            listed = [int(a) for a in np.asarray(value).reshape(-1)]
            if not listed:  # TF reduces over nothing: the input itself
                return x
            axes = ints(ctx, listed, "axes")
        elif ctx.rank(axes) == 0:
            axes = ctx.emit("Unsqueeze", axes, ints(ctx, [0]), name="axes")
        return ctx.emit(ir_type, x, axes, keep_dims=keep)
    return translate


for _tf, _ir in REDUCE.items():
    TABLE.register(_tf, inputs=2)(reduction(_ir))


@TABLE.register("ArgMax", "ArgMin", inputs=2)
def arg_max(ctx: NodeContext) -> Outputs:
    # TF: ArgMax(x, dimension) -> index of the first extreme value
    # IR: Squeeze(TopK(x, k=1, axis, mode=max, stable)[1], axis)
    x = ctx.input(0)
    dims = ctx.value(1)
    ctx.require(dims is not None and dims.size == 1, "dimension must be a constant scalar")
    axis = norm_axis(ctx, int(np.asarray(dims).reshape(-1)[0]), ctx.rank(x))
    out_type = dtype_name(ctx.attr("output_type", np.int64))
    _, indices = ctx.emit("TopK", x, ctx.const(np.array(1, np.int64), name="k"), axis=axis,
                          mode="max" if ctx.op_type == "ArgMax" else "min", sort="value",
                          index_element_type=out_type, stable=True)
    return ctx.emit("Squeeze", indices, ints(ctx, [axis], "axis"))


@TABLE.register("TopKV2", "TopK", min_inputs=1)
def top_k_v2(ctx: NodeContext) -> Outputs:
    # TF: values, indices = TopKV2(x, k, sorted) over the last axis, ties -> lower index first
    # IR: TopK(x, k, axis=-1, mode=max, sort=value, stable)
    x = ctx.input(0)
    k = ctx.input(1) if ctx.num_inputs > 1 else ctx.const(np.array(ctx.attr("k"), np.int32), name="k")
    index_type = dtype_name(ctx.attr("index_type", np.int32))
    values, indices = ctx.emit("TopK", x, k, axis=-1, mode="max", sort="value",
                               index_element_type=index_type, stable=True)
    return values, indices
