"""Reductions over axes (Mean, Sum, ...) and ArgMax/ArgMin."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import dtype_name, ints, norm_axis

if TYPE_CHECKING:
    from tfconv.graph import Port
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


# OpenVINO's CPU TopK with stable=true costs ~N*k: a full stable sort of 9,000 scores (the OD
# API sorts its per-class NMS results twice) takes ~150 ms, the unstable one ~1 ms. So a large
# TopKV2 is an unstable sort whose ties are then put back in TF's order (see _sort_fix_ties).
STABLE_K = 64        # a constant k up to this: the stable TopK itself (cheap at any N)
STABLE_N = 256       # a known last dim up to this: likewise
KEY_LIMIT = 46340    # the tie-fixing key is < N*N: it fits int32 (the CPU runs i64 as i32)


@TABLE.register("TopKV2", "TopK", min_inputs=1)
def top_k_v2(ctx: NodeContext) -> Outputs:
    # TF: values, indices = TopKV2(x, k, sorted) over the last axis, ties -> lower index first
    # IR: TopK(x, k, axis=-1, mode=max, sort=value, stable), or for large inputs an unstable
    #     sort with its ties fixed (_sort_fix_ties), under If(N <= KEY_LIMIT) when N is unknown
    x = ctx.input(0)
    k = ctx.input(1) if ctx.num_inputs > 1 else ctx.const(np.array(ctx.attr("k"), np.int32), name="k")
    index_type = dtype_name(ctx.attr("index_type", np.int32))
    shape, k_value = ctx.shape(x), ctx.value(k)
    n = None if not shape else shape[-1]
    if (shape is None or len(shape) == 0 or (k_value is not None and int(k_value) <= STABLE_K)
            or (n is not None and not STABLE_N < n <= KEY_LIMIT)):
        return ctx.emit("TopK", x, k, axis=-1, mode="max", sort="value",
                        index_element_type=index_type, stable=True)
    rank = len(shape)
    if n is not None:
        indices = _sort_fix_ties(ctx, x, k, rank, ctx.const(np.array(n, np.int32), name="n"))
    else:  # the size is known only at run time: If picks the exact way that fits
        from .control_flow import emit_if
        size = ctx.emit("Gather", ctx.emit("ShapeOf", x, output_type="int32", name="shape"),
                        ctx.const(np.array(-1, np.int32), name="last"),
                        ctx.const(np.array(0, np.int32), name="axis0"), name="n")
        fast = _sort_fix_ties(ctx, x, k, rank, size)
        _, stable = ctx.emit("TopK", x, k, axis=-1, mode="max", sort="value",
                             index_element_type="int32", stable=True, name="stable")
        fits = ctx.emit("LessEqual", size, ctx.const(np.array(KEY_LIMIT, np.int32), name="limit"),
                        name="fits")
        indices = emit_if(ctx, fits, fast, stable, {x, k})
    values = ctx.emit("Gather", x, indices, ctx.const(np.array(rank - 1, np.int32), name="axis"),
                      batch_dims=rank - 1, name="values")
    if index_type != "int32":
        indices = ctx.emit("Convert", indices, destination_type=index_type, name="indices")
    return values, indices


def _sort_fix_ties(ctx: NodeContext, x: Port, k: Port, rank: int, n: Port) -> Port:
    """The int32 indices of TF's top ``k`` of ``x`` (last axis of size ``n`` <= KEY_LIMIT):
    an unstable full sort; each value's run of equal values numbered (``run``, a CumSum of where
    the sorted value changes); then the k smallest of ``run * n + index``: unique keys, ordered by
    value and, among equal values, by index, as TF's stable sort."""
    last = ctx.const(np.array(rank - 1, np.int32), name="axis")
    v, i = ctx.emit("TopK", x, n, axis=-1, mode="max", sort="value", index_element_type="int32",
                    stable=False, name="sort")
    begin, end = [0] * rank, [0] * (rank - 1) + [-1]
    head = ctx.emit("StridedSlice", v, ints(ctx, begin), ints(ctx, end), ints(ctx, [1] * rank),
                    begin_mask=[1] * rank, end_mask=[1] * (rank - 1) + [0], name="head")
    first = ctx.emit("StridedSlice", v, ints(ctx, begin), ints(ctx, [0] * (rank - 1) + [1]),
                     ints(ctx, [1] * rank), begin_mask=[1] * rank,
                     end_mask=[1] * (rank - 1) + [0], name="first")
    before = ctx.emit("Concat", first, head, axis=rank - 1, name="before")
    change = ctx.emit("Convert", ctx.emit("NotEqual", v, before, name="change"),
                      destination_type="int32", name="steps")
    run = ctx.emit("CumSum", change, last, name="run")
    key = ctx.emit("Add", ctx.emit("Multiply", run, n, name="scaled"), i, name="key")
    _, order = ctx.emit("TopK", key, k, axis=-1, mode="min", sort="value",
                        index_element_type="int32", stable=False, name="order")
    return ctx.emit("Gather", i, order, last, batch_dims=rank - 1, name="indices")
