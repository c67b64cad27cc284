"""Small helpers the family modules share: string attributes, axes, int constants and the
partially known values of shape vectors."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tfconv import irops

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext


def text(ctx: NodeContext, key: str, default: str | None = None) -> str:
    """A string attribute (stored as bytes by the loader) as ``str``."""
    value = ctx.attr(key, default)
    if isinstance(value, bytes):
        return value.decode()
    return value


def dtype_name(dtype: object) -> str:
    """A numpy dtype (or TF-decoded dtype attribute) as its name: ``float32``, ``int64``, ``bool``."""
    return np.dtype(dtype).name


def ints(ctx: NodeContext, values: object, name: str = "const") -> Port:
    """An int64 constant."""
    return ctx.const(np.asarray(values, dtype=np.int64), name=name)


def scalar_like(ctx: NodeContext, value: float, like: Port, name: str = "const") -> Port:
    """A scalar constant of ``like``'s element type."""
    dtype = ctx.dtype(like) or np.dtype(np.float32)
    return ctx.const(np.array(value, dtype=dtype), name=name)


def norm_axis(ctx: NodeContext, axis: int, rank: int | None, extra: int = 0) -> int:
    """A non-negative axis in ``[0, rank + extra)``; ``extra=1`` for ops that insert a dim."""
    if axis >= 0:
        return axis
    if rank is None:
        ctx.fail(f"negative axis {axis} needs a known input rank")
    n = rank + extra
    ctx.require(-n <= axis, f"axis {axis} is out of range for rank {rank}")
    return axis + n


def const_ints(ctx: NodeContext, i: int, what: str) -> list[int]:
    """Constant input ``i`` as a flat list of ints (fails naming ``what`` if not constant)."""
    v = ctx.value(i)
    if v is None:
        ctx.fail(f"{what} (input {i}) must be constant")
    return [int(x) for x in np.asarray(v).reshape(-1)]


def bits(mask: int, n: int) -> list[int]:
    """A TF bit mask as an IR list of ``n`` 0/1 ints."""
    return [(int(mask) >> i) & 1 for i in range(n)]


# Integer arithmetic that shape computations use (Divide floors, as IR Divide does on integers).
ARITHMETIC = {"Add": lambda a, b: a + b, "Subtract": lambda a, b: a - b,
              "Multiply": lambda a, b: a * b, "Divide": lambda a, b: a // b,
              "Maximum": max, "Minimum": min, "FloorMod": lambda a, b: a % b}


def partial_value(ctx: NodeContext, port: Port) -> list[int | None] | None:
    """The entries of a 1-D (or scalar) int tensor that are known at conversion time.

    Follows Const, ShapeOf, Concat, Unsqueeze/Squeeze/Reshape/Convert of small vectors, integer
    arithmetic, and Gather/StridedSlice with constant indices, so ``Pack(Shape(x)[0], 7, 7, 3)`` still yields
    ``[None, 7, 7, 3]`` when only the batch is dynamic. ``None`` when nothing is known.
    """
    graph = ctx.builder.graph
    op = graph.op(port.node)
    ins = graph.inputs(port.node)
    const = ctx.builder.value
    if op.type == "Const":
        return [int(x) for x in np.asarray(op.attrs["value"]).reshape(-1)]
    if op.type == "ShapeOf":
        shape = graph.info(ins[0]).shape
        return None if shape is None else list(shape)
    if op.type in ("Unsqueeze", "Squeeze", "Reshape", "Convert"):
        return partial_value(ctx, ins[0])
    if op.type == "Concat" and op.attrs.get("axis") in (0, -1):
        out: list[int | None] = []
        for p in ins:
            part = partial_value(ctx, p)
            if part is None:
                shape = graph.info(p).shape
                if shape is None or len(shape) > 1 or (shape and shape[0] is None):
                    return None
                part = [None] * (shape[0] if shape else 1)
            out.extend(part)
        return out
    if op.type in ARITHMETIC and len(ins) == 2:
        a, b = partial_value(ctx, ins[0]), partial_value(ctx, ins[1])
        if a is None or b is None or (len(a) != len(b) and 1 not in (len(a), len(b))):
            return None
        n = max(len(a), len(b))
        a, b = (a * n if len(a) == 1 else a), (b * n if len(b) == 1 else b)
        fn = ARITHMETIC[op.type]
        return [None if x is None or y is None else int(fn(x, y)) for x, y in zip(a, b)]
    if op.type in ("Gather", "StridedSlice"):
        src = partial_value(ctx, ins[0])
        idx = [const(p) for p in ins[1:]]
        if src is None or any(v is None for v in idx):
            return None
        arr = np.array(src, dtype=object)
        if op.type == "Gather":
            if int(np.asarray(idx[1]).reshape(-1)[0]) != 0:
                return None
            picked = np.take(arr, np.asarray(idx[0]).astype(np.int64), axis=0)
        else:
            strides = idx[2] if len(idx) > 2 else np.ones_like(idx[0])
            picked = irops.strided_slice_numpy(arr, idx[0], idx[1], strides, op.attrs)
        return [None if x is None else int(x) for x in np.asarray(picked, dtype=object).reshape(-1)]
    return None
