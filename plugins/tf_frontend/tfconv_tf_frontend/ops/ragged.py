"""Ragged tensors with one ragged dimension (row splits, or value row ids) made dense or
sparse: RaggedTensorToTensor, RaggedTensorToSparse. String values are not convertible (the IR
has no strings)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import TABLE
from ._util import ints

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs


def splits_parts(ctx: NodeContext, splits: Port) -> tuple[Port, Port]:
    """(row starts, row lengths) of int64 row splits."""
    n = ctx.emit("Subtract", ctx.emit("ShapeOf", splits, output_type="int64"), ints(ctx, [1]))
    begin = ctx.emit("StridedSlice", splits, ints(ctx, [0]), n, ints(ctx, [1]), begin_mask=[0],
                     end_mask=[0], new_axis_mask=[0], shrink_axis_mask=[0], ellipsis_mask=[0])
    end = ctx.emit("StridedSlice", splits, ints(ctx, [1]), ints(ctx, [0]), ints(ctx, [1]),
                   begin_mask=[0], end_mask=[1], new_axis_mask=[0], shrink_axis_mask=[0],
                   ellipsis_mask=[0])
    return begin, ctx.emit("Subtract", end, begin)


def rowids_parts(ctx: NodeContext, rows: Port, rowids: Port) -> tuple[Port, Port]:
    """(row starts, row lengths) from value row ids (sorted) and the number of rows."""
    rows = ctx.emit("Reshape", rows, ints(ctx, [1]), special_zero=False)
    ones = ctx.emit("Convert", ctx.emit("Equal", rowids, rowids), destination_type="int64")
    lengths = ctx.emit("ScatterNDUpdate", ctx.emit("Broadcast", ints(ctx, 0), rows, mode="numpy"),
                       ctx.emit("Unsqueeze", rowids, ints(ctx, [1])), ones, reduction="sum")
    starts = ctx.emit("CumSum", lengths, ints(ctx, 0), exclusive=True, reverse=False)
    return starts, lengths


@TABLE.register("RaggedTensorToTensor", min_inputs=4)
def ragged_tensor_to_tensor(ctx: NodeContext) -> Outputs:
    # TF: out[r, j, ...] = values[start[r] + j, ...] for j < length[r], else default_value;
    # as many columns as the longest row unless shape fixes them (shorter rows crop)
    shape, values, default, *partitions = ctx.inputs()
    types = [t.decode() if isinstance(t, bytes) else t for t in ctx.attr("row_partition_types")]
    as64 = [ctx.emit("Convert", p, destination_type="int64") for p in partitions]
    if types == ["ROW_SPLITS"]:
        starts, lengths = splits_parts(ctx, as64[0])
    elif types == ["FIRST_DIM_SIZE", "VALUE_ROWIDS"]:
        starts, lengths = rowids_parts(ctx, as64[0], as64[1])
    else:
        ctx.fail(f"row partitions {types} (only one ragged dimension is supported)")
    fixed = ctx.value(0)
    fixed = None if fixed is None or fixed.ndim == 0 else [int(d) for d in fixed.reshape(-1)]
    ctx.require(fixed is not None or ctx.value(0) is not None, "shape must be a constant")
    width = ints(ctx, fixed[1]) if fixed and len(fixed) > 1 and fixed[1] >= 0 else \
        ctx.emit("ReduceMax", ctx.emit("Concat", lengths, ints(ctx, [0]), axis=0), ints(ctx, [0]),
                 keep_dims=False)
    if fixed and fixed[0] != -1:
        splits_len = (ctx.shape(partitions[0]) or (None,))[0] if types == ["ROW_SPLITS"] else None
        nrows = splits_len - 1 if splits_len is not None else \
            None if ctx.value(3) is None or len(types) == 1 else int(ctx.value(3))
        ctx.require(nrows == fixed[0], f"a row count ({fixed[0]}) other than the ragged "
                    "tensor's is not supported")
    cols = ctx.emit("Range", ints(ctx, 0), width, ints(ctx, 1), output_type="int64")
    index = ctx.emit("Add", ctx.emit("Unsqueeze", starts, ints(ctx, [1])), cols)
    valid = ctx.emit("Less", cols, ctx.emit("Unsqueeze", lengths, ints(ctx, [1])))
    rows = ctx.emit("Gather", values, ctx.emit("Select", valid, index, ints(ctx, 0)),
                    ints(ctx, 0), batch_dims=0)
    inner = (ctx.rank(values) or 1) - 1
    if inner:
        valid = ctx.emit("Unsqueeze", valid, ints(ctx, list(range(2, 2 + inner))))
    return ctx.emit("Select", valid, rows, default)


@TABLE.register("RaggedTensorToSparse", min_inputs=2)
def ragged_tensor_to_sparse(ctx: NodeContext) -> Outputs:
    # TF: the ragged tensor's entries as a sparse tensor: (row, column) of each value, the
    # values, and the dense shape [rows, longest row]
    ctx.require(ctx.num_inputs == 2, "only one ragged dimension is supported")
    splits, values = ctx.inputs()
    ctx.require(ctx.rank(values) == 1, "only 1-D values are supported")
    splits = ctx.emit("Convert", splits, destination_type="int64")
    starts, lengths = splits_parts(ctx, splits)
    n = ctx.emit("ShapeOf", values, output_type="int64")
    position = ctx.emit("Range", ints(ctx, 0), ctx.emit("Squeeze", n, ints(ctx, [0])),
                        ints(ctx, 1), output_type="int64")
    # value i sits in row r with splits[r] <= i < splits[r + 1] (empty rows are skipped)
    row = ctx.emit("Subtract", ctx.emit("Bucketize", position, splits, output_type="int64",
                                        with_right_bound=False), ints(ctx, 1))
    column = ctx.emit("Subtract", position, ctx.emit("Gather", starts, row, ints(ctx, 0),
                                                     batch_dims=0))
    last = ints(ctx, [1])
    indices = ctx.emit("Concat", ctx.emit("Unsqueeze", row, last),
                       ctx.emit("Unsqueeze", column, last), axis=1)
    longest = ctx.emit("ReduceMax", ctx.emit("Concat", lengths, ints(ctx, [0]), axis=0),
                       ints(ctx, [0]), keep_dims=True)
    rows = ctx.emit("ShapeOf", lengths, output_type="int64")
    return indices, values, ctx.emit("Concat", rows, longest, axis=0)
