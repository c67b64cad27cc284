"""Graph inputs, constants and pass-through ops."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import dtype_name

if TYPE_CHECKING:
    from tfconv.translate import NodeContext, Outputs


@TABLE.register("Placeholder", "PlaceholderV2", inputs=0)
def placeholder(ctx: NodeContext) -> Outputs:
    shape = ctx.attr("shape", None)
    dtype = ctx.attr("dtype", np.dtype(np.float32))
    return ctx.emit("Parameter", name="", shape=None if shape is None else tuple(shape),
                    element_type=dtype_name(dtype))


@TABLE.register("Const", inputs=0)
def const(ctx: NodeContext) -> Outputs:
    value = ctx.attr("value")
    ctx.require(isinstance(value, np.ndarray), "the tensor value could not be decoded")
    ctx.require(value.dtype != object, "string constants are not supported by the IR")
    return ctx.const(value, name="value")


def pass_through(ctx: NodeContext) -> Outputs:
    return ctx.input(0)


# Ops that forward their first input unchanged at inference time. PlaceholderWithDefault keeps its
# default (input 0); EnsureShape and CheckNumerics only check at run time.
for _op in ("Identity", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape",
            "CheckNumerics", "PlaceholderWithDefault"):
    TABLE.register(_op, inputs=1)(pass_through)


@TABLE.register("IdentityN")
def identity_n(ctx: NodeContext) -> Outputs:
    return tuple(ctx.inputs())
