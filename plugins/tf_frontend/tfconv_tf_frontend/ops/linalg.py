"""Matrix structure and linear algebra on the last two axes: band parts, diagonals, inverses,
solves, and cross products. (The Batch* names are TF's pre-2016 spellings of the same ops.)"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import ints

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs


def dim(ctx: NodeContext, x: Port, axis: int) -> Port:
    """Dimension ``axis`` of ``x`` as an int64 scalar (a constant when it is static)."""
    shape = ctx.shape(x)
    if shape is not None and shape[axis] is not None:
        return ints(ctx, shape[axis])
    return ctx.emit("Gather", ctx.emit("ShapeOf", x, output_type="int64"), ints(ctx, axis),
                    ints(ctx, 0), batch_dims=0)


def row_minus_col(ctx: NodeContext, x: Port) -> Port:
    """``i - j`` over the last two axes of ``x``, an int64 [rows, cols] matrix."""
    rows = ctx.emit("Range", ints(ctx, 0), dim(ctx, x, -2), ints(ctx, 1), output_type="int64")
    cols = ctx.emit("Range", ints(ctx, 0), dim(ctx, x, -1), ints(ctx, 1), output_type="int64")
    return ctx.emit("Subtract", ctx.emit("Unsqueeze", rows, ints(ctx, [1])), cols)


def diagonal_mask(ctx: NodeContext, x: Port) -> Port:
    return ctx.emit("Equal", row_minus_col(ctx, x), ints(ctx, 0))


def zero_of(ctx: NodeContext, x: Port) -> Port:
    return ctx.const(np.array(0, ctx.dtype(x)), name="zero")


@TABLE.register("MatrixBandPart", "BatchMatrixBandPart", inputs=3)
def matrix_band_part(ctx: NodeContext) -> Outputs:
    # TF: keep x[..., i, j] where (lower < 0 or i - j <= lower) and (upper < 0 or j - i <= upper)
    x, lower, upper = ctx.inputs()
    lower = ctx.emit("Convert", lower, destination_type="int64")
    upper = ctx.emit("Convert", upper, destination_type="int64")
    diff = row_minus_col(ctx, x)
    zero = ints(ctx, 0)
    below = ctx.emit("LogicalOr", ctx.emit("Less", lower, zero), ctx.emit("LessEqual", diff, lower))
    above = ctx.emit("LogicalOr", ctx.emit("Less", upper, zero),
                     ctx.emit("LessEqual", ctx.emit("Negative", diff), upper))
    return ctx.emit("Select", ctx.emit("LogicalAnd", below, above), x, zero_of(ctx, x))


def require_main_diagonal(ctx: NodeContext) -> None:
    """MatrixDiag*V2/V3: only the main diagonal with the default size (``tf.linalg.diag(d)``)."""
    k = ctx.value(1)
    ctx.require(k is not None and np.all(np.asarray(k) == 0),
                "only the main diagonal (k = 0) is supported")


@TABLE.register("MatrixDiag", "BatchMatrixDiag", inputs=1)
@TABLE.register("MatrixDiagV2", "MatrixDiagV3", inputs=5)
def matrix_diag(ctx: NodeContext) -> Outputs:
    # TF: out[..., i, j] = diagonal[..., i] if i == j else padding (0 for MatrixDiag)
    d = ctx.input(0)
    padding = zero_of(ctx, d)
    if ctx.op_type not in ("MatrixDiag", "BatchMatrixDiag"):
        require_main_diagonal(ctx)
        n = (ctx.shape(d) or [None])[-1]
        for i in (2, 3):
            v = ctx.value(i)
            ctx.require(v is not None and int(v) in (-1, *(() if n is None else (n,))),
                        "only a square output of the diagonal's length is supported")
        padding = ctx.input(4)
    column = ctx.emit("Unsqueeze", d, ints(ctx, [-1]))
    rows = ctx.emit("Range", ints(ctx, 0), dim(ctx, d, -1), ints(ctx, 1), output_type="int64")
    eye = ctx.emit("Equal", ctx.emit("Unsqueeze", rows, ints(ctx, [1])), rows)
    return ctx.emit("Select", eye, column, padding)


def min_side(ctx: NodeContext, x: Port) -> int:
    shape = ctx.shape(x)
    ctx.require(shape is not None and shape[-1] is not None and shape[-2] is not None,
                "the matrix sizes (last two dims) must be known")
    return min(shape[-2], shape[-1])


@TABLE.register("MatrixDiagPart", "BatchMatrixDiagPart", inputs=1)
@TABLE.register("MatrixDiagPartV2", inputs=3)
@TABLE.register("MatrixDiagPartV3", inputs=3)
def matrix_diag_part(ctx: NodeContext) -> Outputs:
    # TF: out[..., i] = x[..., i, i] for i < min(rows, cols)
    x = ctx.input(0)
    if ctx.op_type not in ("MatrixDiagPart", "BatchMatrixDiagPart"):
        require_main_diagonal(ctx)
    k = min_side(ctx, x)
    on_diagonal = ctx.emit("Select", diagonal_mask(ctx, x), x, zero_of(ctx, x))
    rows = ctx.emit("ReduceSum", on_diagonal, ints(ctx, [-1]), keep_dims=False)
    if (ctx.shape(x) or [None, None])[-2] == k:
        return rows
    return ctx.emit("Gather", rows, ints(ctx, list(range(k))), ints(ctx, -1), batch_dims=0)


@TABLE.register("MatrixSetDiag", "BatchMatrixSetDiag", inputs=2)
@TABLE.register("MatrixSetDiagV2", "MatrixSetDiagV3", inputs=3)
def matrix_set_diag(ctx: NodeContext) -> Outputs:
    # TF: x with x[..., i, i] = diagonal[..., i] for i < min(rows, cols)
    x, d = ctx.input(0), ctx.input(1)
    if ctx.op_type not in ("MatrixSetDiag", "BatchMatrixSetDiag"):
        ctx.require(ctx.value(2) is not None and np.all(np.asarray(ctx.value(2)) == 0),
                    "only the main diagonal (k = 0) is supported")
    min_side(ctx, x)
    rows, cols = ctx.shape(x)[-2:]
    # the diagonal runs along the shorter side: a column when rows <= cols, else a row
    spread = ctx.emit("Unsqueeze", d, ints(ctx, [-1 if rows <= cols else -2]))
    return ctx.emit("Select", diagonal_mask(ctx, x), spread, x)


@TABLE.register("MatrixInverse", "BatchMatrixInverse", inputs=1)
def matrix_inverse(ctx: NodeContext) -> Outputs:
    # TF: the inverse of each matrix (of its adjoint, i.e. transpose for real ones, if adjoint)
    return ctx.emit("Inverse", ctx.input(0), adjoint=bool(ctx.attr("adjoint", False)))


@TABLE.register("MatrixSolve", inputs=2)
def matrix_solve(ctx: NodeContext) -> Outputs:
    # TF: x with A x = rhs (A^T x = rhs if adjoint)      IR: Inverse(A) . rhs
    a, rhs = ctx.inputs()
    inverse = ctx.emit("Inverse", a, adjoint=bool(ctx.attr("adjoint", False)))
    return ctx.emit("MatMul", inverse, rhs, transpose_a=False, transpose_b=False)


@TABLE.register("MatrixTriangularSolve", inputs=2)
def matrix_triangular_solve(ctx: NodeContext) -> Outputs:
    # TF: the same with only A's lower (or upper) triangle read
    a, rhs = ctx.inputs()
    diff = row_minus_col(ctx, a)
    keep = ctx.emit("GreaterEqual" if ctx.attr("lower", True) else "LessEqual", diff, ints(ctx, 0))
    triangle = ctx.emit("Select", keep, a, zero_of(ctx, a))
    inverse = ctx.emit("Inverse", triangle, adjoint=bool(ctx.attr("adjoint", False)))
    return ctx.emit("MatMul", inverse, rhs, transpose_a=False, transpose_b=False)


@TABLE.register("Cross", inputs=2)
def cross(ctx: NodeContext) -> Outputs:
    # TF: the cross product of 3-vectors on the last axis: a.yzx * b.zxy - a.zxy * b.yzx
    a, b = ctx.inputs()

    def rotated(x: Port, order: list[int]) -> Port:
        return ctx.emit("Gather", x, ints(ctx, order), ints(ctx, -1), batch_dims=0)
    return ctx.emit("Subtract",
                    ctx.emit("Multiply", rotated(a, [1, 2, 0]), rotated(b, [2, 0, 1])),
                    ctx.emit("Multiply", rotated(a, [2, 0, 1]), rotated(b, [1, 2, 0])))
