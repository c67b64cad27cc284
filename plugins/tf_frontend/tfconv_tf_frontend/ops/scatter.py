"""Gathers and scatters by index tuples, segment reductions, and partition/stitch: GatherNd,
ScatterNd, TensorScatter*, (Unsorted|Sparse)Segment*, DynamicPartition, DynamicStitch."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import dtype_name, ints

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs


@TABLE.register("GatherNd", inputs=2)
def gather_nd(ctx: NodeContext) -> Outputs:
    # TF: out[i..] = params[indices[i..]] (the last indices axis indexes params' first dims)
    return ctx.emit("GatherND", *ctx.inputs(), batch_dims=0)


def filled(ctx: NodeContext, value: float, dtype: np.dtype, shape: Port) -> Port:
    return ctx.emit("Broadcast", ctx.const(np.array(value, dtype), name="fill"), shape,
                    mode="numpy")


@TABLE.register("ScatterNd", inputs=3)
def scatter_nd(ctx: NodeContext) -> Outputs:
    # TF: zeros(shape) with the updates added at the index tuples (duplicates add up)
    # IR: ScatterNDUpdate(zeros, indices, updates, reduction=sum)
    indices, updates, shape = ctx.inputs()
    zeros = filled(ctx, 0, ctx.dtype(updates), shape)
    return ctx.emit("ScatterNDUpdate", zeros, indices, updates, reduction="sum")


TENSOR_SCATTER = {"TensorScatterUpdate": "none", "TensorScatterAdd": "sum",
                  "TensorScatterSub": "sub", "TensorScatterMax": "max", "TensorScatterMin": "min",
                  "ScatterNdNonAliasingAdd": "sum"}


@TABLE.register(*TENSOR_SCATTER, inputs=3)
def tensor_scatter(ctx: NodeContext) -> Outputs:
    # TF: a copy of tensor with the slices at the index tuples replaced (or combined)
    return ctx.emit("ScatterNDUpdate", *ctx.inputs(), reduction=TENSOR_SCATTER[ctx.op_type])


# -- segment reductions ----------------------------------------------------------------------
# out[s] = reduce(data[i] for the i with ids[i] == s), as ScatterNDUpdate with a reduction into
# a tensor filled with the reduction's identity. Unsorted* leave that identity in empty segments
# (TF's lowest/highest value for max/min); the sorted and sparse max/min/mean write 0 there.

IDENTITY = {"sum": lambda dt: 0, "prod": lambda dt: 1,
            "max": lambda dt: np.finfo(dt).min if dt.kind == "f" else np.iinfo(dt).min,
            "min": lambda dt: np.finfo(dt).max if dt.kind == "f" else np.iinfo(dt).max}


def segment_reduce(ctx: NodeContext, data: Port, ids: Port, num: Port, reduction: str) -> Port:
    ids_rank = ctx.rank(ids)
    ctx.require(ids_rank is not None, "the segment ids need a known rank")
    dtype = ctx.dtype(data)
    tail = ctx.emit("StridedSlice", ctx.emit("ShapeOf", data, output_type="int64"),
                    ints(ctx, [ids_rank]), ints(ctx, [0]), ints(ctx, [1]),
                    begin_mask=[0], end_mask=[1], new_axis_mask=[0], shrink_axis_mask=[0],
                    ellipsis_mask=[0])
    num = ctx.emit("Reshape", ctx.emit("Convert", num, destination_type="int64"), ints(ctx, [1]),
                   special_zero=False)
    out_shape = ctx.emit("Concat", num, tail, axis=0)
    init = filled(ctx, IDENTITY[reduction](dtype), dtype, out_shape)
    index = ctx.emit("Unsqueeze", ids, ints(ctx, [-1]))
    return ctx.emit("ScatterNDUpdate", init, index, data, reduction=reduction)


def segment_count(ctx: NodeContext, ids: Port, num: Port, dtype: np.dtype) -> Port:
    ones = ctx.emit("Convert", ctx.emit("Equal", ids, ids), destination_type=dtype_name(dtype))
    return segment_reduce(ctx, ones, ids, num, "sum")


def num_from_ids(ctx: NodeContext, ids: Port) -> Port:
    # sorted segment ops: as many segments as the largest id + 1
    flat = ctx.emit("Reshape", ids, ints(ctx, [-1]), special_zero=False)
    top = ctx.emit("ReduceMax", flat, ints(ctx, [0]), keep_dims=False)
    return ctx.emit("Add", top, ctx.const(np.array(1, ctx.dtype(ids))))


def zero_empty(ctx: NodeContext, out: Port, ids: Port, num: Port, rank: int | None) -> Port:
    """0 in the segments no id names (what sorted and sparse segment ops output there)."""
    count = segment_count(ctx, ids, num, np.dtype(np.int32))
    if rank is not None and rank > 1:
        count = ctx.emit("Unsqueeze", count, ints(ctx, list(range(1, rank))))
    zero = ctx.const(np.array(0, ctx.dtype(out)))
    return ctx.emit("Select", ctx.emit("Equal", count, ctx.const(np.array(0, np.int32))), zero,
                    out)


UNSORTED = {"UnsortedSegmentSum": "sum", "UnsortedSegmentProd": "prod",
            "UnsortedSegmentMax": "max", "UnsortedSegmentMin": "min"}


@TABLE.register(*UNSORTED, inputs=3)
def unsorted_segment(ctx: NodeContext) -> Outputs:
    # TF drops the data of negative ids: here it becomes the reduction's identity, sent to 0
    data, ids, num = ctx.inputs()
    ctx.require(ctx.rank(ids) is not None, "the segment ids need a known rank")
    reduction = UNSORTED[ctx.op_type]
    known = ctx.value(ids)
    if known is not None and np.all(known >= 0):
        return segment_reduce(ctx, data, ids, num, reduction)
    dropped = ctx.emit("Less", ids, ctx.const(np.array(0, ctx.dtype(ids))))
    extra = (ctx.rank(data) or 0) - (ctx.rank(ids) or 0)
    if extra > 0:
        dropped = ctx.emit("Unsqueeze", dropped,
                           ints(ctx, list(range(ctx.rank(ids), ctx.rank(data)))))
    identity = ctx.const(np.array(IDENTITY[reduction](ctx.dtype(data)), ctx.dtype(data)))
    data = ctx.emit("Select", dropped, identity, data)
    ids = ctx.emit("Maximum", ids, ctx.const(np.array(0, ctx.dtype(ids))))
    return segment_reduce(ctx, data, ids, num, reduction)


SORTED = {"SegmentSum": "sum", "SegmentProd": "prod", "SegmentMax": "max", "SegmentMin": "min",
          "SegmentMean": "mean"}


def sorted_segment(ctx: NodeContext, data: Port, ids: Port, num: Port, kind: str) -> Port:
    if kind == "mean":
        total = segment_reduce(ctx, data, ids, num, "sum")
        count = segment_count(ctx, ids, num, ctx.dtype(data))
        rank = ctx.rank(data)
        if rank is not None and rank > 1:
            count = ctx.emit("Unsqueeze", count, ints(ctx, list(range(1, rank))))
        one = ctx.const(np.array(1, ctx.dtype(data)))
        return ctx.emit("Divide", total, ctx.emit("Maximum", count, one))
    out = segment_reduce(ctx, data, ids, num, kind)
    # empty segments: the identity of sum (0) and prod (1) is TF's value, max and min need 0
    return out if kind in ("sum", "prod") else zero_empty(ctx, out, ids, num, ctx.rank(data))


@TABLE.register(*SORTED, inputs=2)
def segment(ctx: NodeContext) -> Outputs:
    # TF: ids sorted, one row per segment up to the largest id (empty segments are 0)
    data, ids = ctx.inputs()
    return sorted_segment(ctx, data, ids, num_from_ids(ctx, ids), SORTED[ctx.op_type])


SPARSE = {"SparseSegmentSum": "sum", "SparseSegmentMean": "mean", "SparseSegmentSqrtN": "sqrtn"}


@TABLE.register(*SPARSE, *(f"{op}WithNumSegments" for op in SPARSE), min_inputs=3)
def sparse_segment(ctx: NodeContext) -> Outputs:
    # TF: the segment reduction of data[indices] by segment_ids (SqrtN: sum / sqrt(count))
    data, indices, ids = ctx.inputs()[:3]
    num = ctx.input(3) if ctx.op_type.endswith("WithNumSegments") else num_from_ids(ctx, ids)
    rows = ctx.emit("Gather", data, indices, ints(ctx, 0), batch_dims=0)
    kind = SPARSE[ctx.op_type.replace("WithNumSegments", "")]
    if kind != "sqrtn":
        return sorted_segment(ctx, rows, ids, num, kind)
    total = segment_reduce(ctx, rows, ids, num, "sum")
    count = segment_count(ctx, ids, num, ctx.dtype(data))
    rank = ctx.rank(data)
    if rank is not None and rank > 1:
        count = ctx.emit("Unsqueeze", count, ints(ctx, list(range(1, rank))))
    one = ctx.const(np.array(1, ctx.dtype(data)))
    return ctx.emit("Divide", total, ctx.emit("Sqrt", ctx.emit("Maximum", count, one)))


# -- partition and stitch --------------------------------------------------------------------


@TABLE.register("DynamicPartition", inputs=2)
def dynamic_partition(ctx: NodeContext) -> Outputs:
    # TF: output i = the data slices (over partitions' dims) whose partition is i, in order
    data, partitions = ctx.inputs()
    p_rank = ctx.rank(partitions)
    ctx.require(p_rank is not None, "DynamicPartition needs the rank of partitions")
    flat_p = ctx.emit("Reshape", partitions, ints(ctx, [-1]), special_zero=False)
    if p_rank != 1:
        tail = ctx.emit("StridedSlice", ctx.emit("ShapeOf", data, output_type="int64"),
                        ints(ctx, [p_rank]), ints(ctx, [0]), ints(ctx, [1]), begin_mask=[0],
                        end_mask=[1], new_axis_mask=[0], shrink_axis_mask=[0], ellipsis_mask=[0])
        data = ctx.emit("Reshape", data, ctx.emit("Concat", ints(ctx, [-1]), tail, axis=0),
                        special_zero=False)
    outs = []
    for i in range(int(ctx.attr("num_partitions"))):
        hit = ctx.emit("Equal", flat_p, ctx.const(np.array(i, ctx.dtype(partitions))))
        idx = ctx.emit("Squeeze", ctx.emit("NonZero", hit, output_type="int64"), ints(ctx, [0]))
        outs.append(ctx.emit("Gather", data, idx, ints(ctx, 0), batch_dims=0))
    return tuple(outs)


@TABLE.register("DynamicStitch", "ParallelDynamicStitch", min_inputs=2)
def dynamic_stitch(ctx: NodeContext) -> Outputs:
    # TF: merged[indices[m][i..]] = data[m][i..], as many rows as the largest index + 1
    ports = ctx.inputs()
    ctx.require(len(ports) % 2 == 0, "expected as many data inputs as indices inputs")
    n = len(ports) // 2
    indices, data = ports[:n], ports[n:]
    flat_idx, flat_data = [], []
    for idx, d in zip(indices, data):
        i_rank = ctx.rank(idx)
        ctx.require(i_rank is not None, "DynamicStitch needs the ranks of its indices")
        flat_idx.append(ctx.emit("Reshape", idx, ints(ctx, [-1]), special_zero=False))
        tail = ctx.emit("StridedSlice", ctx.emit("ShapeOf", d, output_type="int64"),
                        ints(ctx, [i_rank]), ints(ctx, [0]), ints(ctx, [1]), begin_mask=[0],
                        end_mask=[1], new_axis_mask=[0], shrink_axis_mask=[0], ellipsis_mask=[0])
        flat_data.append(ctx.emit("Reshape", d, ctx.emit("Concat", ints(ctx, [-1]), tail, axis=0),
                                  special_zero=False))
    idx = flat_idx[0] if n == 1 else ctx.emit("Concat", *flat_idx, axis=0)
    rows = flat_data[0] if n == 1 else ctx.emit("Concat", *flat_data, axis=0)
    num = ctx.emit("Reshape", ctx.emit("Convert", num_from_ids(ctx, idx), destination_type="int64"),
                   ints(ctx, [1]), special_zero=False)
    tail = ctx.emit("StridedSlice", ctx.emit("ShapeOf", rows, output_type="int64"), ints(ctx, [1]),
                    ints(ctx, [0]), ints(ctx, [1]), begin_mask=[0], end_mask=[1],
                    new_axis_mask=[0], shrink_axis_mask=[0], ellipsis_mask=[0])
    zeros = filled(ctx, 0, ctx.dtype(rows), ctx.emit("Concat", num, tail, axis=0))
    return ctx.emit("ScatterNDUpdate", zeros, ctx.emit("Unsqueeze", idx, ints(ctx, [-1])), rows,
                    reduction="none")
