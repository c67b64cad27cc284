"""Layout helpers shared by the translators of NHWC ops that the IR only has in NCHW.

``to_nchw`` / ``to_nhwc`` are rank-generic: for rank ``n`` the channel axis moves from ``n-1`` to
``1`` and back. A later IR pass cancels the transpose pairs; translators only keep TF semantics.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tfconv.errors import UsageError

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext


def nchw_perm(rank: int) -> list[int]:
    return [0, rank - 1, *range(1, rank - 1)]


def nhwc_perm(rank: int) -> list[int]:
    return [0, *range(2, rank), 1]


def _rank(ctx: NodeContext, port: Port) -> int:
    rank = ctx.rank(port)
    if rank is None:
        undefined_input(ctx, port)
        ctx.fail("the input rank must be known to change its layout")
    return rank


def undefined_input(ctx: NodeContext, port: Port) -> None:
    """When ``port``'s rank is unknown because a model input has no shape (a frozen graph whose
    Placeholder leaves it undefined), raise the error that names that input and the flags that
    give its shape. Returns when the unknown rank has another cause."""
    graph = ctx.builder.graph
    stack, seen = [port], set()
    while stack:
        op = graph.op(stack.pop().node)
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.type == "Parameter":
            shape = op.attrs.get("shape")
            known = "no shape, not even a rank" if shape is None else \
                "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"
            msg = (f"the shape of input {op.name!r} is undefined ({known}) and {ctx.name!r} "
                   f"({ctx.op_type}) needs it: add --input {op.name} --input_shape "
                   "[1,HEIGHT,WIDTH,3] with the image size the model expects (e.g. "
                   "[1,224,224,3])")
            raise UsageError(msg)
        stack += [p for p in graph.inputs(op.name) if graph.info(p).shape is None]


def to_nchw(ctx: NodeContext, port: Port) -> Port:
    """Channels-last ``port`` -> channels-first (``[0, n-1, 1, ..., n-2]``)."""
    perm = ctx.const(np.array(nchw_perm(_rank(ctx, port)), np.int64), name="to_nchw")
    return ctx.emit("Transpose", port, perm, name="to_nchw")


def to_nhwc(ctx: NodeContext, port: Port) -> Port:
    """Channels-first ``port`` -> channels-last (``[0, 2, ..., n-1, 1]``)."""
    perm = ctx.const(np.array(nhwc_perm(_rank(ctx, port)), np.int64), name="to_nhwc")
    return ctx.emit("Transpose", port, perm, name="to_nhwc")


def is_channels_first(data_format: str) -> bool:
    """``NCHW``/``NCDHW``/``NCW`` -> True; ``NHWC``/``NDHWC``/``NWC`` -> False."""
    return data_format.startswith("NC")


def spatial_of(values: list, data_format: str) -> list:
    """The spatial entries of a per-dimension attribute (strides, ksize, dilations)."""
    return list(values[2:]) if is_channels_first(data_format) else list(values[1:-1])
