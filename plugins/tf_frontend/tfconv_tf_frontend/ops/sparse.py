"""Sparse tensors (indices [N, rank], values [N], dense_shape [rank]) made dense or reshaped:
SparseToDense, SparseTensorDenseAdd, SparseTensorDenseMatMul, SparseReshape,
SparseFillEmptyRows."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import ints

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs


def densify(ctx: NodeContext, indices: Port, values: Port, shape: Port, fill: Port,
            reduction: str = "none") -> Port:
    """``fill`` broadcast to ``shape`` with ``values`` written at ``indices``."""
    if (ctx.rank(indices) or 0) < 2:  # a scalar index or a vector of indices into a 1-D tensor
        indices = ctx.emit("Reshape", indices, ints(ctx, [-1, 1]), special_zero=False)
    if ctx.rank(values) == 0:  # one value for every index
        n = ctx.emit("StridedSlice", ctx.emit("ShapeOf", indices, output_type="int64"),
                     ints(ctx, [0]), ints(ctx, [1]), ints(ctx, [1]), begin_mask=[0],
                     end_mask=[0], new_axis_mask=[0], shrink_axis_mask=[0], ellipsis_mask=[0])
        values = ctx.emit("Broadcast", values, n, mode="numpy")
    dense = ctx.emit("Broadcast", fill, shape, mode="numpy")
    return ctx.emit("ScatterNDUpdate", dense, indices, values, reduction=reduction)


@TABLE.register("SparseToDense", inputs=4)
def sparse_to_dense(ctx: NodeContext) -> Outputs:
    # TF: SparseToDense(indices, output_shape, values, default_value)
    indices, shape, values, default = ctx.inputs()
    return densify(ctx, indices, values, shape, default)


@TABLE.register("SparseTensorDenseAdd", inputs=4)
def sparse_tensor_dense_add(ctx: NodeContext) -> Outputs:
    # TF: b + the sparse tensor (repeated indices add up)
    indices, values, _, b = ctx.inputs()
    return ctx.emit("ScatterNDUpdate", b, indices, values, reduction="sum")


@TABLE.register("SparseTensorDenseMatMul", inputs=4)
def sparse_tensor_dense_mat_mul(ctx: NodeContext) -> Outputs:
    # TF: op(A) @ op(B) with A sparse      IR: MatMul of A made dense (repeated indices add up)
    indices, values, shape, b = ctx.inputs()
    zero = ctx.const(np.array(0, ctx.dtype(values)))
    a = densify(ctx, indices, values, shape, zero, reduction="sum")
    return ctx.emit("MatMul", a, b, transpose_a=bool(ctx.attr("adjoint_a", False)),
                    transpose_b=bool(ctx.attr("adjoint_b", False)))


def strides(ctx: NodeContext, shape: Port, n: int) -> list[Port]:
    """Row-major strides of a dense shape of ``n`` dims, as int64 scalars."""
    out = []
    for k in range(n):
        if k + 1 < n:
            rest = ctx.emit("Gather", shape, ints(ctx, list(range(k + 1, n))), ints(ctx, 0),
                            batch_dims=0)
            out.append(ctx.emit("ReduceProd", rest, ints(ctx, [0]), keep_dims=False))
        else:
            out.append(ints(ctx, 1))
    return out


def known_length(ctx: NodeContext, port: Port, what: str) -> int:
    shape = ctx.shape(port)
    ctx.require(shape is not None and len(shape) == 1 and shape[0] is not None,
                f"{what} must be a vector of known length")
    return shape[0]


@TABLE.register("SparseReshape", inputs=3)
def sparse_reshape(ctx: NodeContext) -> Outputs:
    # TF: the same sparse tensor in a new dense shape (one -1 is inferred): each index becomes
    # its row-major offset in the old shape, unravelled in the new one
    indices, in_shape, new_shape = ctx.inputs()
    n_in = known_length(ctx, in_shape, "input_shape")
    n_out = known_length(ctx, new_shape, "new_shape")
    total = ctx.emit("ReduceProd", in_shape, ints(ctx, [0]), keep_dims=True)
    # with a -1 the product of new_shape is minus the product of the others
    others = ctx.emit("Negative", ctx.emit("ReduceProd", new_shape, ints(ctx, [0]),
                                           keep_dims=True))
    inferred = ctx.emit("Divide", total, ctx.emit("Maximum", others, ints(ctx, [1])))
    out_shape = ctx.emit("Select", ctx.emit("Equal", new_shape, ints(ctx, -1)), inferred,
                         new_shape)
    stride_in = ctx.emit("Concat", *(ctx.emit("Unsqueeze", s, ints(ctx, [0]))
                                     for s in strides(ctx, in_shape, n_in)), axis=0) \
        if n_in > 1 else ints(ctx, [1])
    offset = ctx.emit("ReduceSum", ctx.emit("Multiply", indices, stride_in), ints(ctx, [1]),
                      keep_dims=True)
    columns = []
    for k, stride in enumerate(strides(ctx, out_shape, n_out)):
        size = ctx.emit("Gather", out_shape, ints(ctx, [k]), ints(ctx, 0), batch_dims=0)
        exact = ctx.emit("Subtract", offset, ctx.emit("FloorMod", offset, stride))
        columns.append(ctx.emit("FloorMod", ctx.emit("Divide", exact, stride), size))
    out_indices = columns[0] if n_out == 1 else ctx.emit("Concat", *columns, axis=1)
    return out_indices, out_shape


@TABLE.register("SparseFillEmptyRows", inputs=4)
def sparse_fill_empty_rows(ctx: NodeContext) -> Outputs:
    # TF: every row (first index) without an entry gets one at (row, 0, ..., 0) with the
    # default value; the output lists the entries row by row, each row's in input order.
    # Outputs: indices, values, empty_row_indicator [rows], reverse_index_map [N] (where each
    # input entry went).
    indices, values, shape, default = ctx.inputs()
    rank = known_length(ctx, shape, "dense_shape")
    n = ctx.emit("StridedSlice", ctx.emit("ShapeOf", values, output_type="int64"), ints(ctx, [0]),
                 ints(ctx, [1]), ints(ctx, [1]), begin_mask=[0], end_mask=[0],
                 new_axis_mask=[0], shrink_axis_mask=[0], ellipsis_mask=[0])
    rows = ctx.emit("Gather", shape, ints(ctx, [0]), ints(ctx, 0), batch_dims=0)
    row_of = ctx.emit("Gather", indices, ints(ctx, 0), ints(ctx, 1), batch_dims=0)  # [N]
    ones = ctx.emit("Convert", ctx.emit("Equal", row_of, row_of), destination_type="int64")
    counts = ctx.emit("ScatterNDUpdate", ctx.emit("Broadcast", ints(ctx, 0), rows, mode="numpy"),
                      ctx.emit("Unsqueeze", row_of, ints(ctx, [1])), ones, reduction="sum")
    empty = ctx.emit("Equal", counts, ints(ctx, 0))
    empty_rows = ctx.emit("Squeeze", ctx.emit("NonZero", empty, output_type="int64"),
                          ints(ctx, [0]))
    # the new entries: (row, 0, ..., 0) with the default value
    new_idx = ctx.emit("Unsqueeze", empty_rows, ints(ctx, [1]))
    if rank > 1:
        pad = ctx.emit("Broadcast", ints(ctx, 0), ctx.emit(
            "Concat", ctx.emit("StridedSlice", ctx.emit("ShapeOf", new_idx, output_type="int64"),
                               ints(ctx, [0]), ints(ctx, [1]), ints(ctx, [1]), begin_mask=[0],
                               end_mask=[0], new_axis_mask=[0], shrink_axis_mask=[0],
                               ellipsis_mask=[0]), ints(ctx, [rank - 1]), axis=0), mode="numpy")
        new_idx = ctx.emit("Concat", new_idx, pad, axis=1)
    new_vals = ctx.emit("Broadcast", default, ctx.emit("ShapeOf", empty_rows, output_type="int64"),
                        mode="numpy")
    all_idx = ctx.emit("Concat", ctx.emit("Convert", indices, destination_type="int64"), new_idx,
                       axis=0)
    all_vals = ctx.emit("Concat", values, new_vals, axis=0)
    # order: by row, then input entries by position, the added entry last (its row is empty)
    total = ctx.emit("Add", n, ctx.emit("ShapeOf", empty_rows, output_type="int64"))
    position = ctx.emit("Range", ints(ctx, 0), ctx.emit("Squeeze", total, ints(ctx, [0])),
                        ints(ctx, 1), output_type="int64")
    all_rows = ctx.emit("Gather", all_idx, ints(ctx, 0), ints(ctx, 1), batch_dims=0)
    key = ctx.emit("Add", ctx.emit("Multiply", all_rows, total), position)
    _, order = ctx.emit("TopK", ctx.emit("Negative", key), ctx.emit("Squeeze", total,
                                                                     ints(ctx, [0])),
                        axis=0, mode="max", sort="value", index_element_type="int64")
    out_idx = ctx.emit("Gather", all_idx, order, ints(ctx, 0), batch_dims=0)
    out_vals = ctx.emit("Gather", all_vals, order, ints(ctx, 0), batch_dims=0)
    # where input entry i went: the inverse of the order, first N entries
    inverse = ctx.emit("ScatterNDUpdate", ctx.emit("Broadcast", ints(ctx, 0), total, mode="numpy"),
                       ctx.emit("Unsqueeze", order, ints(ctx, [1])), position)
    reverse_map = ctx.emit("StridedSlice", inverse, ints(ctx, [0]), n, ints(ctx, [1]),
                           begin_mask=[0], end_mask=[0], new_axis_mask=[0], shrink_axis_mask=[0],
                           ellipsis_mask=[0])
    return out_idx, out_vals, empty, reverse_map
