"""Exact fusions on the IR graph: zero Pad into convolution pads, per-channel Multiply into
convolution/MatMul weights, and chains of constant Add/Multiply into one op."""
from __future__ import annotations

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .._arrays import contiguous, release_pages, transposed_2d

CONVS = {"Convolution", "GroupConvolution"}


def _const(graph: Graph, port: Port) -> np.ndarray | None:
    op = graph.op(port.node)
    return op.attrs["value"] if op.type == "Const" else None  # type: ignore[return-value]


def _split_const(graph: Graph, name: str) -> tuple[Port, np.ndarray] | None:
    """For a binary op with exactly one constant input: (the other input, the constant)."""
    a, b = graph.inputs(name)
    va, vb = _const(graph, a), _const(graph, b)
    if (va is None) == (vb is None):
        return None
    return (b, va) if va is not None else (a, vb)  # type: ignore[return-value]


def _fits(small: tuple, shape: tuple) -> bool:
    """Broadcasting ``small`` against ``shape`` leaves ``shape`` unchanged."""
    return len(small) <= len(shape) and all(
        m == 1 or m == d for m, d in zip(small[::-1], shape[::-1]))


def _sole_consumer(graph: Graph, port: Port) -> str | None:
    users = graph.consumers(port)
    return users[0][0] if len(users) == 1 else None


def _bypass(graph: Graph, name: str, keep: Port) -> None:
    """Replace op ``name`` by ``keep`` (which computes the same tensor), carrying its names."""
    out = Port(name)
    names = graph.info(out).names
    graph.replace_uses(out, keep)
    target = graph.info(keep).names
    target.extend(n for n in names if n not in target)
    graph.remove(name)


def _channel_vector(value: np.ndarray, rank: int, channels: int | None, axis: int) -> np.ndarray | None:
    """``value`` as a length-``channels`` vector if it varies only along ``axis`` of a rank-``rank``
    tensor (scalars broadcast), else None."""
    if value.ndim > rank or channels is None:
        return None
    full = value.reshape((1,) * (rank - value.ndim) + value.shape)
    if any(d != 1 for i, d in enumerate(full.shape) if i != axis):
        return None
    vec = full.reshape(-1)
    if vec.size == 1:
        return np.full(channels, vec[0], dtype=value.dtype)
    return vec if vec.size == channels else None


@graph_pass("ir_backend.fuse_pad", stage="ir", after=["ir_backend.sink_transposes"])
def fuse_pad(graph: Graph, config) -> None:
    """Pad(x, zeros around spatial dims) -> Convolution: fold into the convolution's pads."""
    b = IRBuilder(graph)
    for pad in list(graph.ops_of_type("Pad")):
        if pad.name not in graph or pad.attrs.get("pad_mode", "constant") != "constant":
            continue
        ins = graph.inputs(pad.name)
        pb, pe = _const(graph, ins[1]), _const(graph, ins[2])
        fill = _const(graph, ins[3]) if len(ins) > 3 else np.zeros(())
        if pb is None or pe is None or fill is None or np.any(fill != 0):
            continue
        pb, pe = [int(v) for v in pb.reshape(-1)], [int(v) for v in pe.reshape(-1)]
        if len(pb) < 3 or any(pb[:2]) or any(pe[:2]) or min(pb + pe) < 0:
            continue
        users = graph.consumers(Port(pad.name))
        if not users or any(graph.op(u).type not in CONVS or d != 0 or
                            graph.op(u).attrs.get("auto_pad", "explicit") not in ("explicit", "notset")
                            for u, d in users):
            continue
        for user, _ in users:
            conv = graph.op(user)
            conv.attrs["pads_begin"] = [a + p for a, p in zip(conv.attrs["pads_begin"], pb[2:])]
            conv.attrs["pads_end"] = [a + p for a, p in zip(conv.attrs["pads_end"], pe[2:])]
            graph.set_input(user, 0, ins[0])
            b.reinfer(user)
        graph.remove(pad.name)


@graph_pass("ir_backend.fuse_linear", stage="ir", after=["ir_backend.fuse_pad"])
def fuse_linear(graph: Graph, config) -> None:
    """Fold constant per-channel scales into weights (a scalar scale of a convolution's input
    too: Keras' Rescaling layer) and merge constant Add/Multiply chains; constant MatMul weights
    are stored [N, K] (``transpose_b``), the layout OpenVINO's CPU plugin runs without
    transposing them on every inference."""
    b = IRBuilder(graph)
    changed = True
    while changed:
        changed = False
        for name in graph.topological_order():
            if name not in graph:
                continue
            op = graph.op(name)
            if op.type in IDENTITY_ELEMENT and _drop_identity(graph, name):
                changed = True
            elif op.type == "Multiply" and (_scale_into_weights(graph, b, name) or
                                          _merge_chain(graph, b, name, "Multiply", np.multiply)):
                changed = True
            elif op.type == "Add" and _merge_chain(graph, b, name, "Add", np.add):
                changed = True
            elif op.type in CONVS and _input_scale_into_weights(graph, b, name):
                changed = True
    for op in graph.ops_of_type("MatMul"):
        _weights_as_nk(graph, b, op.name)


IDENTITY_ELEMENT = {"Add": 0, "Subtract": 0, "Multiply": 1, "Divide": 1}


def _drop_identity(graph: Graph, name: str) -> bool:
    """x + 0, x - 0, x * 1, x / 1 -> x, when the constant does not broaden x's shape."""
    op = graph.op(name)
    x, c = graph.inputs(name)
    if op.type in ("Add", "Multiply") and _const(graph, c) is None:
        x, c = c, x  # commutative: the constant may come first
    value = _const(graph, c)
    if value is None or not np.all(value == IDENTITY_ELEMENT[op.type]):
        return False
    shape = graph.info(x).shape
    if shape is None or graph.info(x).dtype != value.dtype or not _fits(value.shape, shape):
        return False
    _bypass(graph, name, x)
    return True


def _scale_into_weights(graph: Graph, b: IRBuilder, name: str) -> bool:
    """Conv/MatMul [-> Add(const)] -> Multiply(const per channel): scale the weights (and bias)."""
    split = _split_const(graph, name)
    if split is None:
        return False
    x, scale = split
    producer = graph.op(x.node)
    bias_op = None
    if producer.type == "Add" and _sole_consumer(graph, x) == name:
        inner = _split_const(graph, producer.name)
        if inner is None:
            return False
        bias_op, (x, bias) = producer, inner
        producer = graph.op(x.node)
    if _sole_consumer(graph, x) != (bias_op.name if bias_op else name):
        return False
    info = graph.info(x)
    if info.shape is None or scale.dtype != info.dtype:
        return False
    rank = len(info.shape)
    if producer.type in CONVS:
        axis = 1
    elif producer.type == "MatMul" and rank >= 2:
        axis = rank - 1
    else:
        return False
    channels = info.shape[axis]
    vec = _channel_vector(scale, rank, channels, axis)
    weights_port = graph.inputs(producer.name)[1]
    w = _const(graph, weights_port)
    if vec is None or w is None:
        return False
    if producer.type == "Convolution":
        factor = vec.reshape((-1,) + (1,) * (w.ndim - 1))
    elif producer.type == "GroupConvolution":
        factor = vec.reshape(w.shape[0], w.shape[1], *([1] * (w.ndim - 2)))
    elif w.ndim == 2:
        factor = vec.reshape(-1, 1) if producer.attrs.get("transpose_b") else vec.reshape(1, -1)
    else:
        return False
    # One C-ordered result, laid out and scaled in one pass: the writer stores it as it is.
    w2 = contiguous(w, factor.astype(w.dtype, copy=False))
    release_pages(w)  # the scaled copy replaces weights read from the model file's map
    new_w = b.const(w2, f"{producer.name}/scaled_weights")
    graph.set_input(producer.name, 1, new_w)
    graph.info(x).names.clear()  # x is scaled now: it no longer holds those TF tensors
    if bias_op is not None:
        full = bias.reshape((1,) * (rank - bias.ndim) + bias.shape)
        bport = next(p for p in graph.inputs(bias_op.name) if p != x)
        new_b = b.const((full * scale.reshape((1,) * (rank - scale.ndim) + scale.shape)).astype(bias.dtype),
                        f"{bias_op.name}/scaled_bias")
        graph.set_inputs(bias_op.name, [x if p == x else new_b for p in graph.inputs(bias_op.name)])
        graph.info(Port(bias_op.name)).names.clear()
        del bport
        _bypass(graph, name, Port(bias_op.name))
    else:
        _bypass(graph, name, x)
    return True


def _merge_chain(graph: Graph, b: IRBuilder, name: str, kind: str, combine) -> bool:
    """kind(kind(x, c1), c2) -> kind(x, combine(c1, c2)) when the result keeps x's shape."""
    split = _split_const(graph, name)
    if split is None:
        return False
    inner_port, c2 = split
    inner = graph.op(inner_port.node)
    if inner.type != kind or _sole_consumer(graph, inner_port) != name:
        return False
    inner_split = _split_const(graph, inner.name)
    if inner_split is None:
        return False
    x, c1 = inner_split
    shape = graph.info(x).shape
    if shape is None or c1.dtype != c2.dtype:
        return False
    merged = combine(c1, c2).astype(c1.dtype)
    if not _fits(merged.shape, shape):
        return False
    graph.set_inputs(inner.name, [x, b.const(merged, f"{inner.name}/merged")])
    graph.info(Port(inner.name)).names.clear()  # it computes the outer op's tensor now
    b.reinfer(inner.name)
    _bypass(graph, name, Port(inner.name))
    return True


def _input_scale_into_weights(graph: Graph, b: IRBuilder, name: str) -> bool:
    """Convolution(Multiply(x, scalar) [-> Transpose], W) -> Convolution(x [-> Transpose],
    W * scalar): zero padding stays zero, so the scale commutes with the convolution."""
    conv_in, w_port = graph.inputs(name)[:2]
    w = _const(graph, w_port)
    if w is None or _sole_consumer(graph, conv_in) != name:
        return False
    hop = None
    if graph.op(conv_in.node).type == "Transpose":
        hop, conv_in = conv_in, graph.inputs(conv_in.node)[0]
        if _sole_consumer(graph, conv_in) != hop.node:
            return False
    if graph.op(conv_in.node).type != "Multiply":
        return False
    split = _split_const(graph, conv_in.node)
    if split is None:
        return False
    x, scale = split
    info = graph.info(x)
    if scale.size != 1 or scale.dtype != w.dtype or info.shape is None or \
            len(info.shape) < scale.ndim:
        return False
    new_w = b.const((w * scale.reshape(())).astype(w.dtype), f"{name}/input_scaled_weights")
    graph.set_input(name, 1, new_w)
    if hop is not None:
        graph.set_input(hop.node, 0, x)
        b.reinfer(hop.node)
    else:
        graph.set_input(name, 0, x)
    graph.remove(conv_in.node)
    return True


def _weights_as_nk(graph: Graph, b: IRBuilder, name: str) -> None:
    """MatMul(x, W[K, N]) -> MatMul(x, W.T[N, K], transpose_b=True) for a constant 2-D W."""
    op = graph.op(name)
    w_port = graph.inputs(name)[1]
    w = _const(graph, w_port)
    if w is None or w.ndim != 2 or op.attrs.get("transpose_b"):
        return
    graph.set_input(name, 1, b.const(transposed_2d(w), f"{w_port.node}/nk"))
    op.attrs["transpose_b"] = True
