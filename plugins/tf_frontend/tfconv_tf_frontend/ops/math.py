"""Matrix products and scans."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import dtype_name, text

if TYPE_CHECKING:
    from tfconv.translate import NodeContext, Outputs


@TABLE.register("MatMul", inputs=2)
def mat_mul(ctx: NodeContext) -> Outputs:
    return ctx.emit("MatMul", *ctx.inputs(), transpose_a=bool(ctx.attr("transpose_a", False)),
                    transpose_b=bool(ctx.attr("transpose_b", False)))


@TABLE.register("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", inputs=2)
def batch_mat_mul(ctx: NodeContext) -> Outputs:
    # TF: BatchMatMul(x, y, adj_x, adj_y)      IR: MatMul(x, y, transpose_a, transpose_b)
    # (the adjoint of a real matrix is its transpose; V2/V3 broadcast the batch dims, as MatMul)
    y = ctx.emit("MatMul", *ctx.inputs(), transpose_a=bool(ctx.attr("adj_x", False)),
                 transpose_b=bool(ctx.attr("adj_y", False)))
    out_type = ctx.attr("Tout", None)
    if out_type is not None and np.dtype(out_type) != ctx.dtype(y):
        y = ctx.emit("Convert", y, destination_type=dtype_name(out_type))
    return y


@TABLE.register("Einsum", min_inputs=1)
def einsum(ctx: NodeContext) -> Outputs:
    # TF: Einsum(inputs, equation "abc,cde->abde")      IR: Einsum-7, the same equation
    # (TF requires the explicit "->" form, which OpenVINO reads as is)
    return ctx.emit("Einsum", *ctx.inputs(), equation=text(ctx, "equation").replace(" ", ""))


@TABLE.register("Cumsum", inputs=2)
def cumsum(ctx: NodeContext) -> Outputs:
    return ctx.emit("CumSum", *ctx.inputs(), exclusive=bool(ctx.attr("exclusive", False)),
                    reverse=bool(ctx.attr("reverse", False)))
