"""``tf.tensordot`` as TF spells a Dense layer on a rank > 2 input -> one batched MatMul.

Keras' Dense on a (batch, ..., C) tensor freezes to ``Transpose(x, identity) -> Reshape(x,
[prod(shape[:-1]), C]) -> MatMul(W) -> Reshape(y, shape[:-1] + [N])`` with both target shapes
computed from ``ShapeOf(x)`` at run time (Gather, ReduceProd, Unsqueeze, Concat: a dozen layers
per Dense). OpenVINO's MatMul broadcasts over the leading dimensions, so ``MatMul(x, W)`` is the
same function. The target shapes are checked by evaluating their subgraphs with every dynamic
dimension of ``x`` set to probe sizes (two sets of distinct primes): shape arithmetic is products
and concatenations of dimensions, which agree at distinct primes only if they are the same.
"""
from __future__ import annotations

import numpy as np

from tfconv import irops
from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .fusion import _bypass, _const

PROBES = ((7, 11, 13, 17, 19, 23), (29, 31, 37, 41, 43, 47))
SHAPE_OPS = {"ShapeOf", "Gather", "ReduceProd", "Unsqueeze", "Squeeze", "Concat", "Convert",
             "Reshape", "Slice", "StridedSlice", "Multiply", "Add", "Divide", "Floor"}


def _identity_transpose(graph: Graph, port: Port) -> bool:
    op = graph.op(port.node)
    if op.type != "Transpose":
        return False
    perm = _const(graph, graph.inputs(op.name)[1])
    return perm is not None and np.array_equal(perm.reshape(-1), np.arange(perm.size))


def _source(graph: Graph, port: Port) -> Port:
    while _identity_transpose(graph, port):
        port = graph.inputs(port.node)[0]
    return port


def _probe(graph: Graph, port: Port, x: Port, dims: tuple, memo: dict) -> np.ndarray | None:
    """Value of ``port`` with ``x``'s shape taken as ``dims``; None if it depends on anything
    else that is not constant."""
    if port in memo:
        return memo[port]
    op = graph.op(port.node)
    value = None
    if op.type == "Const":
        value = op.attrs["value"]
    elif op.type == "ShapeOf":
        src = _source(graph, graph.inputs(op.name)[0])
        shape = graph.info(src).shape
        if src == x:
            shape = dims
        if shape is not None and all(d is not None for d in shape):
            value = np.asarray(shape, dtype=np.dtype(op.attrs.get("output_type", "int64")))
    elif op.type in SHAPE_OPS:
        ins = [_probe(graph, p, x, dims, memo) for p in graph.inputs(op.name)]
        if all(v is not None for v in ins):
            out = irops.evaluate(op.type, op.attrs, ins)
            value = None if out is None else np.asarray(out[port.index])
    memo[port] = value
    return value


def _reshape_target(graph: Graph, name: str, x: Port, dims: tuple) -> np.ndarray | None:
    op = graph.op(name)
    if op.type != "Reshape" or op.attrs.get("special_zero"):
        return None
    value = _probe(graph, graph.inputs(name)[1], x, dims, {})
    return None if value is None else value.reshape(-1).astype(np.int64)


@graph_pass("ir_backend.fold_tensordot", stage="ir", after=["ir_backend.canonicalize"],
            before=["ir_backend.nchw_inputs"])
def fold_tensordot(graph: Graph, config) -> None:
    """Reshape -> MatMul(const 2-D) -> Reshape restoring the leading dims -> MatMul."""
    b = IRBuilder(graph)
    found = False
    for mm in list(graph.ops_of_type("MatMul")):
        if mm.name not in graph or mm.attrs.get("transpose_a"):
            continue
        flat, w_port = graph.inputs(mm.name)
        w = _const(graph, w_port)
        users = graph.consumers(Port(mm.name))
        if w is None or w.ndim != 2 or len(users) != 1 or graph.op(flat.node).type != "Reshape":
            continue
        out_name = users[0][0]
        if graph.op(out_name).type != "Reshape" or len(graph.consumers(flat)) != 1:
            continue
        x = _source(graph, graph.inputs(flat.node)[0])
        shape = graph.info(x).shape
        k, n = (w.shape[::-1] if mm.attrs.get("transpose_b") else w.shape)
        if shape is None or len(shape) < 3 or shape[-1] != k or \
                sum(d is None for d in shape) > len(PROBES[0]):
            continue
        ok = True
        for primes in PROBES:
            it = iter(primes)
            dims = tuple(next(it) if d is None else d for d in shape)
            s1 = _reshape_target(graph, flat.node, x, dims)
            s2 = _reshape_target(graph, out_name, x, dims)
            lead = int(np.prod(dims[:-1]))
            if s1 is None or s2 is None or len(s1) != 2 or s1[1] != k or s1[0] not in (lead, -1) \
                    or not np.array_equal(s2, list(dims[:-1]) + [n]):
                ok = False
                break
        if not ok:
            continue
        y = b.emit("MatMul", [x, w_port], f"{mm.name}/batched", dict(mm.attrs))[0]
        _bypass(graph, out_name, y)
        found = True
    if found:
        graph.remove_dead(keep=[op.name for op in graph.ops_of_type("Parameter")])
