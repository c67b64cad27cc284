"""Layer normalization spelled out in moments -> MVN (opset6) + Multiply(gamma) + Add(beta).

Keras (both generations) and ``tf.nn.batch_normalization`` freeze a LayerNormalization to::

    m = ReduceMean(x, axes, keep_dims)          v = ReduceMean(SquaredDifference(x, m), axes)
    r = 1 / Sqrt(v + eps)   (Rsqrt)             s = r * gamma        (no gamma: s = r)
    y = x * s + (beta - m * s)                  (spelled -m * s + beta, or beta - m * s)

eleven layers and a rank-reduced side branch; ``MVN(x, axes, normalize_variance, eps inside
the square root) * gamma + beta`` is the same function in three.
"""
from __future__ import annotations

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .fusion import _bypass, _const

_COMMUTATIVE = ("Add", "Multiply")


def _operands(graph: Graph, name: str, kind: str) -> tuple[Port, Port] | None:
    op = graph.op(name)
    return tuple(graph.inputs(name)) if op.type == kind else None  # type: ignore[return-value]


def _either(graph: Graph, name: str, kind: str, test) -> tuple | None:
    """For a binary ``kind`` op: ``(test(a), b)`` or ``(test(b), a)``, whichever matches."""
    pair = _operands(graph, name, kind)
    if pair is None:
        return None
    orders = (pair, pair[::-1]) if kind in _COMMUTATIVE else (pair,)
    for a, b in orders:
        got = test(a)
        if got is not None:
            return got, b
    return None


def _rsqrt(graph: Graph, port: Port):
    """r = 1 / Sqrt(v + eps) or Power(v + eps, -0.5): (v port, eps)."""
    op = graph.op(port.node)
    if op.type == "Divide":
        one, sq = graph.inputs(op.name)
        if not np.all(_const(graph, one) == 1) or graph.op(sq.node).type != "Sqrt":
            return None
        inner = graph.inputs(sq.node)[0]
    elif op.type == "Power":
        inner, p = graph.inputs(op.name)
        pv = _const(graph, p)
        if pv is None or pv.size != 1 or float(pv.reshape(-1)[0]) != -0.5:
            return None
    else:
        return None
    got = _either(graph, inner.node, "Add", lambda q: _const(graph, q))
    if got is None or got[0].size != 1:
        return None
    eps, v = got
    return v, float(eps.reshape(-1)[0])


def _moments(graph: Graph, v: Port):
    """v = ReduceMean(SquaredDifference(x, m), axes) with m = ReduceMean(x, axes): (x, m, axes)."""
    var = graph.op(v.node)
    if var.type != "ReduceMean" or not var.attrs.get("keep_dims"):
        return None
    sqd, axes_port = graph.inputs(var.name)
    if graph.op(sqd.node).type != "SquaredDifference":
        return None
    x, m = graph.inputs(sqd.node)
    mean = graph.op(m.node)
    if mean.type != "ReduceMean" or not mean.attrs.get("keep_dims") or graph.inputs(m.node)[0] != x:
        x, m = m, x
        mean = graph.op(m.node)
        if mean.type != "ReduceMean" or not mean.attrs.get("keep_dims") or \
                graph.inputs(m.node)[0] != x:
            return None
    axes, axes2 = _const(graph, axes_port), _const(graph, graph.inputs(m.node)[1])
    if axes is None or axes2 is None or not np.array_equal(axes, axes2):
        return None
    return x, m, axes


def _match(graph: Graph, name: str):
    """The final Add of a layer norm: (x, axes, eps, gamma port or None, beta port or None)."""
    def scaled_x(port):  # x * s
        if graph.op(port.node).type != "Multiply":
            return None
        return tuple(graph.inputs(port.node))

    def shift(port):  # beta - m * s | -m * s + beta | -(m * s)... : (m port, s port, beta)
        op = graph.op(port.node)
        if op.type == "Subtract":
            beta, ms = graph.inputs(op.name)
            pair = _operands(graph, ms.node, "Multiply")
            return None if pair is None else (pair, beta, False)
        if op.type == "Add":
            for a, beta in (graph.inputs(op.name), graph.inputs(op.name)[::-1]):
                pair = _operands(graph, a.node, "Multiply")
                if pair is None:
                    continue
                for neg, s in (pair, pair[::-1]):
                    if graph.op(neg.node).type == "Negative":
                        return ((graph.inputs(neg.node)[0], s), beta, False)
        return None

    if graph.op(name).type != "Add":
        return None
    for a, c in (graph.inputs(name), graph.inputs(name)[::-1]):
        xs, sh = scaled_x(a), shift(c)
        if xs is None or sh is None:
            continue
        (m_or_s1, s_or_m1), beta, _ = sh
        for x, s in (xs, xs[::-1]):
            for m, s2 in ((m_or_s1, s_or_m1), (s_or_m1, m_or_s1)):
                if s2 != s:
                    continue
                gamma, r = None, s
                got = _either(graph, s.node, "Multiply",
                              lambda q: q if _rsqrt(graph, q) is not None else None)
                if _rsqrt(graph, s) is None:
                    if got is None:
                        continue
                    r, gamma = got
                v, eps = _rsqrt(graph, r)
                mom = _moments(graph, v)
                if mom is None or mom[0] != x or mom[1] != m:
                    continue
                if gamma is not None and _const(graph, gamma) is None:
                    continue
                if _const(graph, beta) is None:
                    continue
                return x, mom[2], eps, gamma, beta
    return None


@graph_pass("ir_backend.fuse_layer_norm", stage="ir", after=["ir_backend.sink_transposes"],
            before=["ir_backend.fuse_linear"])
def fuse_layer_norm(graph: Graph, config) -> None:
    """Moments-spelled layer norms -> MVN + Multiply(gamma) + Add(beta)."""
    b = IRBuilder(graph, fold=False)
    found = False
    for name in graph.topological_order():
        if name not in graph:
            continue
        got = _match(graph, name)
        if got is None:
            continue
        x, axes, eps, gamma, beta = got
        rank = graph.info(x).rank
        axes_arr = np.asarray(axes).reshape(-1).astype(np.int64)
        if rank is not None:
            axes_arr = np.sort(np.where(axes_arr < 0, axes_arr + rank, axes_arr))
        mvn = b.emit("MVN", [x, b.const(axes_arr, f"{name}/mvn_axes")], f"{name}/mvn",
                     {"normalize_variance": True, "eps": eps, "eps_mode": "inside_sqrt"})[0]
        y = mvn
        if gamma is not None:
            y = b.emit("Multiply", [y, gamma], f"{name}/gamma")[0]
        y = b.emit("Add", [y, beta], f"{name}/beta")[0]
        _bypass(graph, name, y)
        found = True
    if found:
        graph.remove_dead(keep=[op.name for op in graph.ops_of_type("Parameter")])
