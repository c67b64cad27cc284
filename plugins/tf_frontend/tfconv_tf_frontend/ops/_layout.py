"""Layout helpers shared by the translators of NHWC ops that the IR only has in NCHW.

``to_nchw`` / ``to_nhwc`` are rank-generic: for rank ``n`` the channel axis moves from ``n-1`` to
``1`` and back. A later IR pass cancels the transpose pairs; translators only keep TF semantics.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

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
        ctx.fail("the input rank must be known to change its layout")
    return rank


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
