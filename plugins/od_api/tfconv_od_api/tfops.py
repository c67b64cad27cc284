"""A small builder of TF-dialect ops for the od_api source passes.

The passes replace subgraphs of the loaded TensorFlow graph with plain TF ops (``Shape``,
``StridedSlice``, ``ResizeBilinear``, ``ConcatV2`` ...) that tf_frontend translates like any
other node; this keeps every op the passes add visible under its TF name and semantics.
"""
from __future__ import annotations

import numpy as np

from tfconv.graph import Graph, Port

I32 = np.dtype(np.int32)
F32 = np.dtype(np.float32)


class TfOps:
    """Adds TF ops named ``<scope>/<name>`` (unique) to a source graph."""

    def __init__(self, graph: Graph, scope: str) -> None:
        self.graph = graph
        self.scope = scope.rstrip("/")

    def op(self, type_: str, name: str, inputs: list[Port], dtype: np.dtype | None = None,
           shape: tuple | None = None, /, **attrs) -> Port:
        """One op; ``dtype``/``shape`` describe its output, ``attrs`` are its TF attributes."""
        op = self.graph.add_op(type_, self.graph.unique_name(f"{self.scope}/{name}"), inputs,
                               attrs)
        if dtype is not None:
            op.outputs[0].dtype = np.dtype(dtype)
        op.outputs[0].shape = shape
        return Port(op.name, 0)

    def const(self, value, name: str = "Const", dtype=None) -> Port:
        value = np.asarray(value, dtype=dtype)
        return self.op("Const", name, [], value.dtype, value.shape, value=value,
                       dtype=value.dtype)

    def cast(self, x: Port, dst, name: str = "Cast") -> Port:
        return self.op("Cast", name, [x], np.dtype(dst), DstT=np.dtype(dst), Truncate=False)

    def shape(self, x: Port, name: str = "Shape") -> Port:
        return self.op("Shape", name, [x], I32, (None,), out_type=I32)

    def element(self, x: Port, i: int, name: str) -> Port:
        """``x[i]`` of a 1-D tensor, a scalar (StridedSlice with shrink_axis_mask)."""
        b, e, s = self.const([i], f"{name}/begin", I32), self.const([i + 1], f"{name}/end", I32), \
            self.const([1], f"{name}/stride", I32)
        return self.op("StridedSlice", name, [x, b, e, s], None, (), begin_mask=0, end_mask=0,
                       ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=1, Index=I32)

    def slice1(self, x: Port, begin: int, end: int, name: str) -> Port:
        """``x[begin:end]`` of a 1-D tensor."""
        b, e, s = self.const([begin], f"{name}/begin", I32), self.const([end], f"{name}/end", I32), \
            self.const([1], f"{name}/stride", I32)
        return self.op("StridedSlice", name, [x, b, e, s], None, (end - begin,), begin_mask=0,
                       end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0,
                       Index=I32)

    def binary(self, type_: str, a: Port, b: Port, name: str | None = None) -> Port:
        return self.op(type_, name or type_, [a, b])

    def pack(self, items: list[Port], name: str = "stack", axis: int = 0) -> Port:
        return self.op("Pack", name, list(items), None, None, N=len(items), axis=axis)

    def concat(self, items: list[Port], axis: int, name: str = "concat") -> Port:
        ax = self.const(np.int32(axis), f"{name}/axis")
        return self.op("ConcatV2", name, [*items, ax], None, None, N=len(items), Tidx=I32)

    def expand_dims(self, x: Port, axis: int, name: str = "ExpandDims") -> Port:
        return self.op("ExpandDims", name, [x, self.const(np.int32(axis), f"{name}/dim")],
                       Tdim=I32)

    def identity(self, x: Port, name: str) -> Port:
        """An Identity with exactly ``name`` (no scope): the TF tensor name an output carries."""
        op = self.graph.add_op("Identity", name, [x], {})
        op.outputs[0].dtype = self.graph.info(x).dtype
        op.outputs[0].shape = self.graph.info(x).shape
        return Port(op.name, 0)
