"""Recurrent nets: loops over a known cell become one OpenVINO LSTMSequence / GRUSequence /
RNNSequence per layer, and the fused TF cell ops translate directly (``docs/recurrent.md``).

* :func:`recognise` is called first by the ``TfconvWhileLoop`` translator (``control_flow.py``),
  for TF1 ``dynamic_rnn`` loops and Keras RNN layers (TF2 While, lowered to the same frame). It
  matches a time variable counting 0..T-1 that reads ``x_t`` from a TensorArray / TensorList
  made from the time-major input and writes the cell output to another one, a trip count that
  is T (folded, ``min(T, max(sequence_length))``, or ``Shape(x)[0]`` at run time), and a body
  that is a chain of cells (MultiRNNCell, stacked layers) each of which is one of

  - LSTM without peepholes, clipping or projection: ``concat(x, h) @ W + b`` (TF1) or
    ``x @ W + h @ U + b`` (Keras) split into four gates in any order, ``c' = sigmoid(f +
    forget_bias) * c + sigmoid(i) * tanh(j)``, ``h' = sigmoid(o) * tanh(c')``;
  - GRU: TF1 ``GRUCell`` (``r, u = split(sigmoid(...))``, candidate on ``concat(x, r * h)``)
    or Keras GRU (``reset_after`` True -> ``linear_before_reset``, or False);
  - RNN (``BasicRNNCell``, Keras SimpleRNN): ``h' = tanh(x @ W + h @ U + b)``;

  optionally with ``sequence_length``'s Selects (``time >= length``: zero output, state kept),
  which is what the Sequence ops do with their ``sequence_lengths`` input. Every body node the
  loop's results depend on must be part of the match; anything else returns ``None`` and the
  general path (unroll, or Loop) runs.
* ``BlockLSTM``/``BlockLSTMV2`` -> LSTMSequence (or TF's step unrolled when gates, peepholes or
  clipping are involved); ``LSTMBlockCell``, ``GRUBlockCell`` -> TF's kernels in plain ops.

OpenVINO gate orders: LSTM f, i, c, o; GRU z, r, h (opset5 Sequence ops).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from tfconv.graph import Port

from . import TABLE
from ._util import ints, scalar_like

if TYPE_CHECKING:
    from tfconv.graph import Graph
    from tfconv.translate import NodeContext, Outputs

MAX_STEPS = 4096  # trip counts beyond this are left to the general path


# --- matching the loop body ----------------------------------------------------------------------


class _NoMatch(Exception):
    """The loop body is not a recognised recurrent cell."""


def _need(cond: object) -> None:
    if not cond:
        raise _NoMatch


@dataclass
class _Cell:
    kind: str                      # "LSTM", "GRU", "RNN"
    x: Port                        # body port of the cell input x_t
    states: list[int]              # loop variable indices: [c, h] (LSTM) or [h]
    out: Port                      # body port of h_t (before any sequence_length Select)
    W: np.ndarray = field(default=None)  # type: ignore[assignment]  [1, G*H, I], OpenVINO order
    R: np.ndarray = field(default=None)  # type: ignore[assignment]  [1, G*H, H]
    B: np.ndarray = field(default=None)  # type: ignore[assignment]  [1, G*H]
    hidden: int = 0
    linear_before_reset: bool = False  # GRU: Keras' reset_after=True


class _Matcher:
    """Structural matching over a loop body with the values of its inputs at hand."""

    def __init__(self, ctx: NodeContext, body: Graph, names: list[str], inputs: list[Port],
                 n: int) -> None:
        self.ctx, self.body, self.n = ctx, body, n
        self.var_of = {name: k for k, name in enumerate(names[:n])}
        self.feed = dict(zip(names, inputs))
        self.used: set[str] = set()

    def skip(self, port: Port) -> Port:
        """Through Identity ops (each one marked as matched)."""
        while self.body.op(port.node).type in ("Identity", "Snapshot"):
            self.used.add(port.node)
            port = self.body.inputs(port.node)[0]
        return port

    def op(self, port: Port, *types: str) -> list[Port]:
        """The inputs of the op behind ``port`` (through Identities), which must be of ``types``."""
        port = self.skip(port)
        op = self.body.op(port.node)
        _need(op.type in types)
        self.used.add(port.node)
        return [self.skip(p) for p in self.body.inputs(port.node)]

    def is_op(self, port: Port, *types: str) -> bool:
        return self.body.op(self.skip(port).node).type in types

    def var(self, port: Port) -> int | None:
        """The loop variable index ``port`` reads, or None."""
        port = self.skip(port)
        return self.var_of.get(port.node) if port.index == 0 else None

    def value(self, port: Port) -> np.ndarray | None:
        """The constant value of a body port fed from outside the loop."""
        port = self.skip(port)
        outer = self.feed.get(port.node)
        if outer is not None and port.node not in self.var_of:
            return self.ctx.value(outer)
        if self.body.op(port.node).type == "Const":
            self.used.add(port.node)
            return np.asarray(self.body.op(port.node).attrs["value"])
        return None

    def const(self, port: Port) -> np.ndarray:
        v = self.value(port)
        _need(v is not None)
        return v  # type: ignore[return-value]

    def either(self, pair: list[Port], first, second):
        """Try ``first(a), second(b)`` on both orders of a commutative op's two inputs."""
        _need(len(pair) == 2)
        for a, b in (pair, pair[::-1]):
            saved = set(self.used)
            try:
                return first(a), second(b)
            except _NoMatch:
                self.used = saved
        raise _NoMatch

    def same(self, a: Port, b: Port) -> bool:
        return self.skip(a) == self.skip(b)

    # -- pieces --------------------------------------------------------------------------------

    def biased(self, port: Port) -> tuple[Port, np.ndarray | None]:
        """``y + b`` (BiasAdd or Add of a constant): (y, b); anything else: (port, None)."""
        if self.is_op(port, "BiasAdd"):
            y, bias = self.op(port, "BiasAdd")
            return y, np.asarray(self.const(bias)).reshape(-1)
        if self.is_op(port, "Add", "AddV2"):
            saved = set(self.used)
            try:
                y, bias = self.either(self.op(port, "Add", "AddV2"),
                                      lambda p: (self.value(p) is None or _need(False)) and p,
                                      self.const)
                if np.ndim(bias) == 1:
                    return y, np.asarray(bias).reshape(-1)
            except _NoMatch:
                pass
            self.used = saved
        return port, None

    def matmul(self, port: Port) -> tuple[Port, np.ndarray]:
        """``a @ W`` with W constant: (a, W)."""
        a, w = self.op(port, "MatMul")
        op = self.body.op(self.skip(port).node)
        _need(not op.attrs.get("transpose_a") and not op.attrs.get("transpose_b"))
        w = self.const(w)
        _need(w.ndim == 2)
        return a, w

    def dense(self, port: Port, h_var: int) -> tuple[Port, np.ndarray, np.ndarray]:
        """``concat(x, h) @ W + b`` (TF1 cells) or ``x @ Wx + h @ Wh + b`` (Keras), with ``h``
        the loop variable ``h_var``: (x, W stacked as ``[Wx; Wh]``, b)."""
        y, bias = self.biased(port)
        if self.is_op(y, "MatMul"):
            a, w = self.matmul(y)
            x, h, axis = self.op(a, "ConcatV2")
            _need(self.var(h) == h_var and int(self.const(axis)) in (1, -1))
        else:  # each product may carry its own bias (Keras SimpleRNN: x @ W + b + h @ U)
            def on_x(p):
                q, b = self.biased(p)
                return (*self.matmul(q), b)

            def on_h(p):
                q, b = self.biased(p)
                h, wh = self.matmul(q)
                _need(self.var(h) == h_var)
                return wh, b
            (x, wx, bx), (wh, bh) = self.either(self.op(y, "Add", "AddV2"), on_x, on_h)
            _need(wx.shape[1] == wh.shape[1])
            w = np.concatenate([wx, wh], axis=0)
            for extra in (bx, bh):
                if extra is not None:
                    _need(extra.shape == (w.shape[1],))
                    bias = extra if bias is None else bias + extra
        if bias is None:
            bias = np.zeros(w.shape[1], np.float32)
        _need(bias.shape == (w.shape[1],))
        return x, w, bias

    def split(self, port: Port, parts: int) -> tuple[Port, int]:
        """``port`` is output k of ``Split(axis 1, source, num_split=parts)``: (source, k)."""
        port = self.skip(port)
        axis, src = self.op(port, "Split")
        _need(int(self.body.op(port.node).attrs.get("num_split", 0)) == parts)
        _need(int(self.const(axis)) in (1, -1))
        return src, port.index

    def act(self, port: Port, kind: str) -> Port:
        (x,) = self.op(port, kind)
        return x


def _lstm(m: _Matcher, c_next: Port, h_next: Port, c_var: int, h_var: int) -> _Cell:
    """``h' = sigmoid(o) * tanh(c')``, ``c' = sigmoid(f + fb) * c + sigmoid(i) * tanh(j)``."""
    def c_port(p):
        _need(m.same(p, c_next))
        return p
    (o_port, _) = m.either(m.op(h_next, "Mul"), lambda p: m.act(p, "Sigmoid"),
                           lambda p: c_port(m.act(p, "Tanh")))

    def forget(p):
        inner = m.act(p, "Sigmoid")
        if m.is_op(inner, "Split"):
            return inner, 0.0
        f, fb = m.either(m.op(inner, "Add", "AddV2"), lambda q: (m.is_op(q, "Split") or
                                                                _need(False)) and q, m.const)
        _need(np.asarray(fb).size == 1)
        return f, float(np.asarray(fb).reshape(-1)[0])

    def keep(p):
        (f, fb), c = m.either(m.op(p, "Mul"), forget, lambda q: (m.var(q) == c_var or
                                                               _need(False)) and q)
        return f, fb

    def write(p):
        return m.either(m.op(p, "Mul"), lambda q: m.act(q, "Sigmoid"), lambda q: m.act(q, "Tanh"))

    (f_port, fb), (i_port, j_port) = m.either(m.op(c_next, "Add", "AddV2"), keep, write)
    gates = {}
    source = None
    for role, p in (("i", i_port), ("j", j_port), ("f", f_port), ("o", o_port)):
        src, k = m.split(p, 4)
        _need(source is None or m.same(src, source))
        source = src
        gates[role] = k
    _need(sorted(gates.values()) == [0, 1, 2, 3])
    x, w, b = m.dense(source, h_var)  # type: ignore[arg-type]
    hs = w.shape[1] // 4
    _need(w.ndim == 2 and w.shape[1] == 4 * hs and b.shape == (4 * hs,) and w.shape[0] > hs)
    b = b.astype(np.float32).copy()
    b[gates["f"] * hs:(gates["f"] + 1) * hs] += np.float32(fb)
    order = [gates[g] for g in ("f", "i", "j", "o")]  # OpenVINO: f, i, c, o
    return _cell("LSTM", x, [c_var, h_var], h_next, w, b, hs, order)


def _gru(m: _Matcher, h_next: Port, h_var: int) -> _Cell:
    """``h' = u * h + (1 - u) * tanh(concat(x, r * h) @ Wc + bc)``,
    ``r, u = split(sigmoid(concat(x, h) @ Wg + bg), 2)``."""
    def hold(p):
        u, h = m.either(m.op(p, "Mul"), lambda q: m.split(q, 2), lambda q: (
            m.var(q) == h_var or _need(False)) and q)
        return u

    def new(p):
        def one_minus(q):
            one, u = m.op(q, "Sub")
            _need(np.allclose(m.const(one), 1.0))
            return m.split(u, 2)
        return m.either(m.op(p, "Mul"), one_minus, lambda q: m.act(q, "Tanh"))

    (gate_src, ku), ((gate_src2, ku2), cand) = m.either(m.op(h_next, "Add", "AddV2"), hold, new)
    _need(m.same(gate_src, gate_src2) and ku == ku2)
    gates = m.act(gate_src, "Sigmoid")
    xg, wg, bg = m.dense(gates, h_var)
    # the candidate: concat(x, r * h) @ Wc + bc
    mm, bc = m.biased(cand)
    _need(bc is not None)
    a, wc = m.matmul(mm)
    xc, rh, axis = m.op(a, "ConcatV2")
    _need(m.same(xc, xg) and int(m.const(axis)) in (1, -1))
    (r_src, kr), _ = m.either(m.op(rh, "Mul"), lambda q: m.split(q, 2),
                              lambda q: (m.var(q) == h_var or _need(False)) and q)
    _need(m.same(r_src, gate_src) and {kr, ku} == {0, 1})
    hs = wc.shape[1]
    _need(wg.ndim == 2 and wg.shape[1] == 2 * hs and wc.shape[0] == wg.shape[0] > hs)
    # OpenVINO z, r, h = TF u, r, candidate
    w = np.concatenate([wg[:, ku * hs:(ku + 1) * hs], wg[:, kr * hs:(kr + 1) * hs], wc], axis=1)
    b = np.concatenate([bg[ku * hs:(ku + 1) * hs], bg[kr * hs:(kr + 1) * hs], bc])
    return _cell("GRU", xg, [h_var], h_next, w, b, hs, [0, 1, 2])


def _columns(m: _Matcher, port: Port) -> tuple[Port, object]:
    """``port`` is a column block of a 2-D tensor: ``Split`` output k, or a ``StridedSlice``
    of whole rows. Returns (source, ``cols(width) -> (lo, hi)``)."""
    if m.is_op(port, "Split"):
        port = m.skip(port)
        axis, src = m.op(port, "Split")
        n = int(m.body.op(port.node).attrs.get("num_split", 0))
        _need(n > 0 and int(m.const(axis)) in (1, -1))
        k = port.index
        return src, lambda width: (k * width // n, (k + 1) * width // n)
    if m.is_op(port, "SplitV"):
        port = m.skip(port)
        src, sizes, axis = m.op(port, "SplitV")
        sizes = [int(v) for v in np.asarray(m.const(sizes)).reshape(-1)]
        _need(int(m.const(axis)) in (1, -1) and sizes.count(-1) <= 1)
        k = port.index

        def cols(width, sizes=sizes, k=k):
            known = [v if v >= 0 else width - sum(x for x in sizes if x >= 0) for v in sizes]
            return sum(known[:k]), sum(known[:k + 1])
        return src, cols
    node = m.body.op(m.skip(port).node)
    src, begin, end, strides = m.op(port, "StridedSlice")
    begin, end, strides = (np.asarray(m.const(p)).reshape(-1) for p in (begin, end, strides))
    bm, em = int(node.attrs.get("begin_mask", 0)), int(node.attrs.get("end_mask", 0))
    _need(len(begin) == 2 and list(strides) == [1, 1] and bm & 1 and em & 1
          and not any(int(node.attrs.get(k, 0)) for k in ("new_axis_mask", "shrink_axis_mask",
                                                        "ellipsis_mask")))
    lo = 0 if bm & 2 else int(begin[1])
    hi = None if em & 2 else int(end[1])
    _need(lo >= 0 and (hi is None or hi > lo))
    return src, lambda width: (lo, width if hi is None else min(hi, width))


def _keras_gru(m: _Matcher, h_next: Port, h_var: int) -> _Cell:
    """Keras GRU: ``z = sigmoid(xz + hz)``, ``r = sigmoid(xr + hr)``,
    ``h' = z * h + (1 - z) * tanh(xh + r * hh)`` with ``x* = x @ Wx + bx`` and
    ``h* = h @ Wh + bh`` column blocks (``reset_after=True``: GRUSequence with
    ``linear_before_reset``), or ``tanh(xh + (r * h) @ Uh)`` (``reset_after=False``)."""
    def hold(p):
        z, _ = m.either(m.op(p, "Mul"), lambda q: (m.is_op(q, "Sigmoid") or _need(False)) and q,
                        lambda q: (m.var(q) == h_var or _need(False)) and q)
        return z

    def new(p):
        def one_minus(q):
            one, z = m.op(q, "Sub")
            _need(np.allclose(m.const(one), 1.0))
            return z
        return m.either(m.op(p, "Mul"), one_minus, lambda q: m.act(q, "Tanh"))

    z, (z2, cand) = m.either(m.op(h_next, "Add", "AddV2"), hold, new)
    _need(m.same(z, z2))
    sources: dict[str, list] = {"x": [], "h": []}

    def block(p, side):
        src, cols = _columns(m, p)
        sources[side].append(src)
        return cols

    def gate(p):
        return m.either(m.op(m.act(p, "Sigmoid"), "Add", "AddV2"), lambda q: block(q, "x"),
                        lambda q: block(q, "h"))

    zx, zh = gate(z)

    def recurrent(q):
        """``r * hh`` (reset after) or ``(r * h) @ Uh`` (reset before)."""
        if m.is_op(q, "MatMul"):
            rh_prod, uh = m.matmul(q)
            r, _ = m.either(m.op(rh_prod, "Mul"), lambda a: a,
                            lambda b: (m.var(b) == h_var or _need(False)) and b)
            return r, uh
        return m.either(m.op(q, "Mul"), lambda a: a, lambda b: block(b, "h"))

    hx, (r_port, hh) = m.either(m.op(cand, "Add", "AddV2"), lambda q: block(q, "x"), recurrent)
    after = not isinstance(hh, np.ndarray)
    rx, rh = gate(r_port)
    _need(all(m.same(p, sources["x"][0]) for p in sources["x"]))
    _need(all(m.same(p, sources["h"][0]) for p in sources["h"]))
    xmm, bx = m.biased(sources["x"][0])
    x, wx = m.matmul(xmm)
    hmm, bh = m.biased(sources["h"][0])
    h, wh = m.matmul(hmm)
    width, hwidth = wx.shape[1], wh.shape[1]
    hs = width // 3
    _need(m.var(h) == h_var and width == 3 * hs and hwidth in (2 * hs, 3 * hs)
          and wh.shape[0] == hs)
    bx = np.zeros(width, np.float32) if bx is None else bx
    bh = np.zeros(hwidth, np.float32) if bh is None else bh
    _need(bx.shape == (width,) and bh.shape == (hwidth,))
    xcols, hcols = {}, {}
    for name, (cx, ch) in (("z", (zx, zh)), ("r", (rx, rh)), ("h", (hx, hh))):
        xcols[name] = cx(width)
        _need(xcols[name][1] - xcols[name][0] == hs)
        if name != "h" or after:
            hcols[name] = ch(hwidth)
            _need(hcols[name][1] - hcols[name][0] == hs)
    _need(sorted(lo for lo, _ in xcols.values()) == [0, hs, 2 * hs])
    _need(len({lo for lo, _ in hcols.values()}) == len(hcols))
    gx = [wx[:, slice(*xcols[g])] for g in ("z", "r", "h")]
    gh = [wh[:, slice(*hcols[g])] for g in ("z", "r")]
    gh.append(wh[:, slice(*hcols["h"])] if after else np.asarray(hh, np.float32))
    _need(gh[2].shape == (hs, hs))
    kernel = np.concatenate([np.concatenate(gx, axis=1), np.concatenate(gh, axis=1)], axis=0)
    cell = _cell("GRU", x, [h_var], h_next, kernel, np.zeros(3 * hs, np.float32), hs, [0, 1, 2])
    bias = [bx[slice(*xcols[g])] + bh[slice(*hcols[g])] for g in ("z", "r")]
    if after:  # OpenVINO linear_before_reset: [Wbz + Rbz, Wbr + Rbr, Wbh, Rbh]
        bias += [bx[slice(*xcols["h"])], bh[slice(*hcols["h"])]]
    else:
        bias += [bx[slice(*xcols["h"])]]
    cell.B = np.concatenate(bias).astype(np.float32)[None]
    cell.linear_before_reset = after
    return cell


def _rnn(m: _Matcher, h_next: Port, h_var: int) -> _Cell:
    """``h' = tanh(concat(x, h) @ W + b)``."""
    x, w, b = m.dense(m.act(h_next, "Tanh"), h_var)
    hs = w.shape[1]
    _need(w.ndim == 2 and w.shape[0] > hs)
    return _cell("RNN", x, [h_var], h_next, w, b, hs, [0])


def _cell(kind: str, x: Port, states: list[int], out: Port, w: np.ndarray, b: np.ndarray,
          hs: int, order: list[int]) -> _Cell:
    """Kernel ``[I + H, G*H]`` in TF's gate blocks -> W ``[1, G*H, I]``, R ``[1, G*H, H]``, B."""
    w = np.asarray(w, np.float32)
    b = np.asarray(b, np.float32)
    _need(w.shape[1] == len(order) * hs and b.shape == (len(order) * hs,))
    blocks = [w[:, k * hs:(k + 1) * hs] for k in order]
    bias = np.concatenate([b[k * hs:(k + 1) * hs] for k in order])
    kernel = np.concatenate(blocks, axis=1).T  # [G*H, I + H]
    inp = kernel.shape[1] - hs
    return _Cell(kind, x, states, out, np.ascontiguousarray(kernel[None, :, :inp]),
                 np.ascontiguousarray(kernel[None, :, inp:]), bias[None], hs)


# --- the loop -----------------------------------------------------------------------------------


def _counter(m: _Matcher, next_port: Port, k: int) -> int | None:
    """The step of a loop variable whose next value is ``var + step`` (a constant), else None."""
    try:
        a, b = m.op(next_port, "Add", "AddV2")
        var, step = m.either([a, b], lambda p: (m.var(p) == k or _need(False)) and p, m.const)
    except _NoMatch:
        return None
    return int(np.asarray(step).reshape(-1)[0]) if np.asarray(step).size == 1 else None


def _trip_count(ctx: NodeContext, body: Graph, names: list[str], inputs: list[Port],
                n: int, scalars: dict[int, int]) -> int | None:
    """The trip count, found by folding the condition over the scalar counters' values; None
    when the condition reads anything else or does not fold."""
    cond_port = body.outputs[0]
    anc = body.ancestors([cond_port.node])
    if any(names[k] in anc for k in range(n) if k not in scalars):
        return None
    start = {}
    for k in scalars:
        v = ctx.value(inputs[k])
        if v is None or np.asarray(v).size != 1:
            return None
        start[k] = np.asarray(v)
    invariant = {Port(name, 0): port for name, port in zip(names[n:], inputs[n:])}
    for it in range(MAX_STEPS + 1):
        feeds = dict(invariant)
        for k, step in scalars.items():
            value = (start[k] + it * step).astype(start[k].dtype)
            feeds[Port(names[k], 0)] = ctx.const(value, name=f"probe_{k}")
        (go,) = ctx.translate_subgraph(body, feeds, [cond_port], {})
        v = ctx.value(go)
        if v is None:
            return None
        if not bool(np.asarray(v).reshape(-1)[0]):
            return it
    return None


def _bounded_by_lengths(ctx: NodeContext, m: _Matcher, body: Graph, names: list[str],
                        inputs: list[Port], n: int, scalars: dict[int, int], length: Port,
                        steps: int) -> int | None:
    """dynamic_rnn with run-time ``sequence_length``: the condition is ``counter < bound and
    time < bound`` with bound ``min(T, max(1, max(sequence_length)))`` (an IR subgraph
    already translated). Returns T when that is so, else None."""
    graph = ctx.builder.graph
    seq_len = m.feed.get(length.node)
    if seq_len is None:
        return None

    def ir_op(port: Port, *types: str) -> list[Port]:
        op = graph.op(port.node)
        _need(op.type in types)
        return graph.inputs(port.node)

    def is_bound(port: Port) -> bool:
        """``min(T, max(1, ReduceMax(sequence_length)))`` or T itself."""
        v = ctx.value(port)
        if v is not None:
            return int(np.asarray(v).reshape(-1)[0]) >= steps
        try:
            a, b = ir_op(port, "Minimum")
            for t, rest in ((a, b), (b, a)):
                tv = ctx.value(t)
                if tv is None or int(np.asarray(tv).reshape(-1)[0]) != steps:
                    continue
                p, q = ir_op(rest, "Maximum")
                for one, mx in ((p, q), (q, p)):
                    ov = ctx.value(one)
                    if ov is None or int(np.asarray(ov).reshape(-1)[0]) != 1:
                        continue
                    src = ir_op(mx, "ReduceMax")[0]
                    while graph.op(src.node).type == "Convert":
                        src = graph.inputs(src.node)[0]
                    if src == seq_len or graph.inputs(seq_len.node)[:1] == [src]:
                        return True
        except _NoMatch:
            pass
        return False

    _need_counter_bounds(ctx, m, body, inputs, scalars, is_bound)
    return steps


def _need_counter_bounds(ctx: NodeContext, m: _Matcher, body: Graph, inputs: list[Port],
                         scalars: dict[int, int], is_bound) -> None:
    """The loop condition is ``counter < bound`` terms (``and``-ed), each counter starting at 0
    and stepping by 1, each bound (its IR port outside the loop) accepted by ``is_bound``."""
    cond = body.outputs[0]
    terms = m.op(cond, "LogicalAnd") if m.is_op(cond, "LogicalAnd") else [cond]
    for term in terms:
        var, bound = m.op(term, "Less")
        k = m.var(var)
        _need(k in scalars and scalars[k] == 1 and bound.node in m.feed)
        start = ctx.value(inputs[k])
        _need(start is not None and int(np.asarray(start).reshape(-1)[0]) == 0)
        _need(is_bound(m.feed[bound.node]))


def _runs_over_time(ctx: NodeContext, m: _Matcher, body: Graph, inputs: list[Port],
                    scalars: dict[int, int], seq: Port) -> None:
    """A time dimension known only at run time: the condition must be ``counter < T`` terms
    (``and``-ed) whose bound T is the sequence's first dim, ``Shape(seq)[0]`` in the IR."""
    graph = ctx.builder.graph

    def is_time_dim(port: Port) -> bool:
        while graph.op(port.node).type == "Convert":
            port = graph.inputs(port.node)[0]
        op = graph.op(port.node)
        ins = graph.inputs(port.node)
        if op.type == "StridedSlice":
            begin, end, stride = (ctx.value(p) for p in ins[1:4])
            if begin is None or end is None or stride is None or \
                    [int(v) for v in np.asarray(begin).reshape(-1)] != [0] or \
                    [int(v) for v in np.asarray(end).reshape(-1)] != [1] or \
                    [int(v) for v in np.asarray(stride).reshape(-1)] != [1] or \
                    list(op.attrs.get("shrink_axis_mask", [])) != [1]:
                return False
        elif op.type == "Gather":
            index = ctx.value(ins[1])
            if index is None or np.asarray(index).size != 1 or \
                    int(np.asarray(index).reshape(-1)[0]) != 0 or np.ndim(index) != 0:
                return False
        else:
            return False
        shape_of = graph.op(ins[0].node)
        return shape_of.type == "ShapeOf" and graph.inputs(ins[0].node)[0] == seq

    _need_counter_bounds(ctx, m, body, inputs, scalars, is_time_dim)


def recognise(ctx: NodeContext) -> Outputs | None:
    """One Sequence op per recurrent layer for a ``dynamic_rnn`` loop, or None."""
    try:
        return _recognise(ctx)
    except _NoMatch:
        return None


def _recognise(ctx: NodeContext) -> Outputs:
    body: Graph = ctx.attr("body")  # type: ignore[assignment]
    ctx.attr("frame_name")
    ctx.attr("loop_cond")
    n = int(ctx.attr("num_vars"))  # type: ignore[arg-type]
    names = list(ctx.attr("placeholders"))  # type: ignore[arg-type]
    inputs = ctx.inputs()
    m = _Matcher(ctx, body, names, inputs, n)
    nexts = body.outputs[1:]
    _need(len(nexts) == n)
    # bookkeeping: the output TensorArray write, counters
    # TF1 TensorArrays (dynamic_rnn) or TF2 TensorLists (Keras RNN layers)
    writes = [op for op in body if op.type in ("TensorArrayWriteV3", "TensorListSetItem")]
    reads = [op for op in body if op.type in ("TensorArrayReadV3", "TensorListGetItem")]
    _need(len(writes) == 1 and len(reads) == 1)
    write, read = Port(writes[0].name, 0), Port(reads[0].name, 0)
    lists = writes[0].type == "TensorListSetItem"
    if lists:
        _need(reads[0].type == "TensorListGetItem")
        flow_w, index_w, value_w = m.op(write, "TensorListSetItem")
        handle_r, index_r, _shape_r = m.op(read, "TensorListGetItem")
    else:
        handle_w, index_w, value_w, flow_w = m.op(write, "TensorArrayWriteV3")
        handle_r, index_r, _flow_r = m.op(read, "TensorArrayReadV3")
    time = m.var(index_r)
    flow_var = m.var(flow_w)
    # Keras return_sequences=False writes every step's output at index 0 of a 1-element list
    last_only = lists and m.var(index_w) is None and m.value(index_w) is not None \
        and int(np.asarray(m.value(index_w)).reshape(-1)[0]) == 0
    _need(time is not None and (last_only or m.var(index_w) == time) and flow_var is not None)
    _need(m.same(nexts[flow_var], write))
    scalars = {}
    for k in range(n):
        if k in (flow_var,):
            continue
        step = _counter(m, nexts[k], k)
        if step is not None:
            scalars[k] = step
    _need(scalars.get(time) == 1 and ctx.value(inputs[time]) is not None
          and int(np.asarray(ctx.value(inputs[time])).reshape(-1)[0]) == 0)
    _need(handle_r.node in m.feed and handle_r.node not in m.var_of)
    if lists:
        known = ctx.builder.state.get("tensor_lists", {})
        src_list, out_list = known.get(m.feed[handle_r.node]), known.get(inputs[flow_var])
        _need(src_list is not None and out_list is not None and src_list.stacked is not None
              and not any(src_list.items)
              and out_list.stacked is None and not any(out_list.items))
        seq = src_list.stacked
    else:
        arrays = ctx.builder.state.get("tensor_arrays", {})
        _need(handle_w.node in m.feed)
        src_ta = arrays.get(m.feed[handle_r.node].node)
        out_ta = arrays.get(m.feed[handle_w.node].node)
        _need(src_ta is not None and out_ta is not None and src_ta.scattered is not None
              and not src_ta.elements and not out_ta.elements and out_ta.scattered is None)
        seq = src_ta.scattered  # time-major [T, B, I]
    seq_shape = ctx.shape(seq)
    _need(seq_shape is not None and len(seq_shape) == 3 and seq_shape[2] is not None)
    steps = seq_shape[0]  # None: known only at run time (a Keras layer on (None, F) inputs)
    if steps is None:
        _need(lists and not last_only and not out_list.items
              and out_list.length_port is not None)
    else:
        _need(steps > 0 and (not lists or len(out_list.items) == (1 if last_only else steps)))
    # states: the variables that are neither counters nor the flow
    state_vars = [k for k in range(n) if k not in scalars and k != flow_var]
    _need(state_vars)

    # sequence_length: each state is Select(time >= length, state, new); the output
    # Select(time >= length, zeros, h)
    lengths: list[Port] = []

    def unselect(port: Port, keep: object) -> Port:
        if not m.is_op(port, "Select", "SelectV2"):
            return port
        pred, a, b = m.op(port, "Select", "SelectV2")
        t, length = m.op(pred, "GreaterEqual")
        _need(m.var(t) == time)
        lengths.append(m.skip(length))
        if keep is None:
            _need(np.all(m.const(a) == 0))
        else:
            _need(m.var(a) == keep)
        return b

    new_state = {k: unselect(nexts[k], k) for k in state_vars}
    written = unselect(value_w, None)
    _need(len({(p.node, p.index) for p in lengths}) <= 1 and
          (not lengths or len(lengths) == len(state_vars) + 1))
    # OpenVINO's CPU plugin (2026.4) ignores a Sequence op's sequence_lengths when its input
    # shape is dynamic (every step runs for every item: outputs and final states wrong), so
    # per-item lengths over a dynamic batch or time dim stay a Loop, which is right
    _need(not lengths or (seq_shape[0] is not None and seq_shape[1] is not None))

    # the cells: try each state variable as an RNN/GRU h or an LSTM (c, h) pair
    cells: list[_Cell] = []
    free = list(state_vars)
    while free:
        k = free[0]
        found = None
        for kind in ("LSTM", "GRU", "RNN"):
            saved = set(m.used)
            try:
                if kind == "LSTM":
                    _need(len(free) >= 2)
                    for c, h in [p for o in free[1:] for p in ((k, o), (o, k))]:
                        try:
                            found = _lstm(m, new_state[c], new_state[h], c, h)
                            break
                        except _NoMatch:
                            m.used = set(saved)
                    _need(found is not None)
                elif kind == "GRU":
                    try:
                        found = _gru(m, new_state[k], k)
                    except _NoMatch:
                        m.used = set(saved)
                        found = _keras_gru(m, new_state[k], k)
                else:
                    found = _rnn(m, new_state[k], k)
                break
            except _NoMatch:
                m.used = saved
                found = None
        _need(found is not None)
        cells.append(found)  # type: ignore[arg-type]
        free = [v for v in free if v not in found.states]  # type: ignore[union-attr]

    # chain them: the first reads x_t, each next one reads the previous one's h
    by_input = {}
    for cell in cells:
        by_input.setdefault(m.skip(cell.x), []).append(cell)
    chain = []
    current = m.skip(read)
    while current in by_input:
        nxt = by_input.pop(current)
        _need(len(nxt) == 1)
        chain.append(nxt[0])
        current = m.skip(nxt[0].out)
    _need(len(chain) == len(cells) and m.same(written, chain[-1].out))

    # everything the results depend on is part of the match
    cond_nodes = body.ancestors([body.outputs[0].node])
    needed = body.ancestors([p.node for p in nexts])
    allowed = set(m.used) | cond_nodes | set(names)
    for k in scalars:
        allowed |= body.ancestors([nexts[k].node])
    _need(all(node in allowed or body.op(node).type in ("Const", "Identity", "NoOp")
              for node in needed))
    if steps is None:
        _need(not lengths)
        _runs_over_time(ctx, m, body, inputs, scalars, seq)
        trips = None
    else:
        trips = _trip_count(ctx, body, names, inputs, n, scalars)
        if lengths and trips is None:
            trips = _bounded_by_lengths(ctx, m, body, names, inputs, n, scalars, lengths[0],
                                        steps)
        _need(trips is not None and 0 < trips <= steps)
    if trips is not None and trips < steps:
        # dynamic_rnn stops at max(sequence_length): later outputs are never written (the
        # gather gives zeros) and states stay, which is what sequence_lengths give
        max_len = m.value(lengths[0]) if lengths else None
        _need(max_len is not None and int(np.max(max_len)) <= trips)

    # the Sequence ops compute in f32 with f32 weights
    _need(ctx.dtype(seq) in (np.float32, None)
          and all(ctx.dtype(inputs[k]) in (np.float32, None) for c in chain for k in c.states))

    # IR: X batch-major, one Sequence per layer
    x = ctx.emit("Transpose", seq, ints(ctx, [1, 0, 2], "perm"), name="batch_major")
    batch = seq_shape[1]
    if lengths:
        _need(lengths[0].node in m.feed)
        lens = ctx.emit("Convert", m.feed[lengths[0].node], destination_type="int32",
                        name="lengths")
        # TF runs min(T, max(lengths)) steps: a length past T is T
        lens = ctx.emit("Minimum", lens, ctx.const(np.array(steps, np.int32), name="steps"),
                        name="lengths_clamped")
    elif batch is not None and steps is not None:
        lens = ctx.const(np.full((batch,), steps, np.int32), name="lengths")
    else:
        dims = ctx.emit("ShapeOf", x, output_type="int32")
        b = ctx.emit("Gather", dims, ints(ctx, [0], "batch_index"), ints(ctx, 0, "axis"),
                     batch_dims=0)
        t = ctx.const(np.array(steps, np.int32), name="steps") if steps is not None else \
            ctx.emit("Gather", dims, ints(ctx, 1, "time_index"), ints(ctx, 0, "axis"),
                     batch_dims=0, name="steps")
        lens = ctx.emit("Broadcast", t, b, mode="numpy", name="lengths")
    finals: dict[int, Port] = {}
    for li, cell in enumerate(chain):
        states = [ctx.emit("Unsqueeze", inputs[k], ints(ctx, [1], "axes"), name=f"l{li}_state{k}")
                  for k in cell.states]
        w = ctx.const(cell.W, name=f"l{li}_W")
        r = ctx.const(cell.R, name=f"l{li}_R")
        bias = ctx.const(cell.B, name=f"l{li}_B")
        op = {"LSTM": "LSTMSequence", "GRU": "GRUSequence", "RNN": "RNNSequence"}[cell.kind]
        acts = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"],
                "RNN": ["tanh"]}[cell.kind]
        extra = {"linear_before_reset": cell.linear_before_reset} if cell.kind == "GRU" else {}
        if cell.kind == "LSTM":
            outs = ctx.emit(op, x, states[1], states[0], lens, w, r, bias, name=f"layer{li}",
                            hidden_size=cell.hidden, direction="forward", activations=acts,
                            activations_alpha=[], activations_beta=[], clip=0.0)
            y, ho, co = outs  # type: ignore[misc]
            finals[cell.states[0]] = co
            finals[cell.states[1]] = ho
        else:
            y, ho = ctx.emit(op, x, states[0], lens, w, r, bias,  # type: ignore[misc]
                             name=f"layer{li}", hidden_size=cell.hidden, direction="forward",
                             activations=acts, activations_alpha=[], activations_beta=[],
                             clip=0.0, **extra)
            finals[cell.states[0]] = ho
        x = ctx.emit("Squeeze", y, ints(ctx, [1], "dir_axis"), name=f"layer{li}_y")
    out_seq = ctx.emit("Transpose", x, ints(ctx, [1, 0, 2], "perm"), name="time_major")
    if lists:
        handle = ctx.const(np.zeros((), np.int32), name="outputs")
        if last_only:  # the last step's output: the last layer's final h
            last = ctx.emit("Squeeze", finals[chain[-1].states[-1]], ints(ctx, [1], "dir_axis"),
                            name="last_output")
            known[handle] = replace(out_list, items=(last,))
        else:
            known[handle] = replace(out_list, stacked=out_seq)
        flow_out = handle
    else:
        out_ta.scattered = out_seq
        out_ta.size = steps
        flow_out = inputs[flow_var]
    results: list[Port] = []
    for k in range(n):
        if k in finals:
            results.append(ctx.emit("Squeeze", finals[k], ints(ctx, [1], "dir_axis"),
                                    name=f"final_{k}"))
        elif k == flow_var:
            results.append(flow_out)
        else:
            start = np.asarray(ctx.value(inputs[k]))
            if steps is not None:
                results.append(ctx.const((start + steps * scalars[k]).astype(start.dtype),
                                         name=f"final_{k}"))
                continue
            t = ctx.emit("Convert", ctx.emit("Gather", ctx.emit("ShapeOf", seq,
                                                                output_type="int64"),
                                             ints(ctx, 0, "time_index"), ints(ctx, 0, "axis"),
                                             batch_dims=0), destination_type=start.dtype.name)
            results.append(ctx.emit("Add", ctx.const(start, name=f"start_{k}"),
                                    ctx.emit("Multiply", t, ctx.const(
                                        np.array(scalars[k], start.dtype), name=f"step_{k}")),
                                    name=f"final_{k}"))
    return tuple(results)


# --- fused TF cell ops (tf.raw_ops; tf_slim / contrib LSTMBlock[Fused]Cell, GRUBlockCell) --------


def _lstm_step(ctx: NodeContext, x: Port, cs_prev: Port, h_prev: Port, w: Port, b: Port,
               peep: tuple[Port, Port, Port] | None, forget_bias: float, cell_clip: float,
               tag: str, ifco: bool = False) -> tuple[Port, ...]:
    """One step of TF's LSTMBlockCell kernel: ``(i, cs, f, o, ci, co, h)``; w's gate blocks are
    i, ci, f, o (i, f, ci, o for BlockLSTMV2: ``ifco``)."""
    xh = ctx.emit("Concat", x, h_prev, axis=1, name=f"{tag}xh")
    icfo = ctx.emit("Add", ctx.emit("MatMul", xh, w, transpose_a=False, transpose_b=False,
                                    name=f"{tag}MatMul"), b, name=f"{tag}gates")
    i, ci, f, o = ctx.emit("Split", icfo, ints(ctx, 1, "axis"), num_splits=4, name=f"{tag}split")
    if ifco:
        ci, f = f, ci
    if peep is not None:
        i = ctx.emit("Add", i, ctx.emit("Multiply", peep[0], cs_prev, name=f"{tag}wci"),
                     name=f"{tag}i_peep")
        f = ctx.emit("Add", f, ctx.emit("Multiply", peep[1], cs_prev, name=f"{tag}wcf"),
                     name=f"{tag}f_peep")
    if forget_bias:
        f = ctx.emit("Add", f, ctx.const(np.array(forget_bias, np.float32), name="forget_bias"),
                     name=f"{tag}f_bias")
    i = ctx.emit("Sigmoid", i, name=f"{tag}i")
    f = ctx.emit("Sigmoid", f, name=f"{tag}f")
    ci = ctx.emit("Tanh", ci, name=f"{tag}ci")
    cs = ctx.emit("Add", ctx.emit("Multiply", ci, i, name=f"{tag}ci_i"),
                  ctx.emit("Multiply", cs_prev, f, name=f"{tag}cs_f"), name=f"{tag}cs")
    if cell_clip > 0:
        cs = ctx.emit("Clamp", cs, min=-float(cell_clip), max=float(cell_clip),
                      name=f"{tag}cs_clip")
    if peep is not None:
        o = ctx.emit("Add", o, ctx.emit("Multiply", peep[2], cs, name=f"{tag}wco"),
                     name=f"{tag}o_peep")
    o = ctx.emit("Sigmoid", o, name=f"{tag}o")
    co = ctx.emit("Tanh", cs, name=f"{tag}co")
    h = ctx.emit("Multiply", co, o, name=f"{tag}h")
    return i, cs, f, o, ci, co, h  # type: ignore[return-value]


def _block_attrs(ctx: NodeContext, v2: bool) -> tuple[float, float, bool]:
    forget_bias = 0.0 if v2 else float(ctx.attr("forget_bias", 1.0))  # type: ignore[arg-type]
    cell_clip = float(ctx.attr("cell_clip", 0.0 if v2 else 3.0))  # type: ignore[arg-type]
    peephole = bool(ctx.attr("use_peephole", False))
    ctx.attr("T", None)
    return forget_bias, cell_clip, peephole


@TABLE.register("LSTMBlockCell", inputs=8)
def lstm_block_cell(ctx: NodeContext) -> Outputs:
    """One LSTM step, all seven outputs ``(i, cs, f, o, ci, co, h)`` (TF's kernel, exactly)."""
    forget_bias, cell_clip, peephole = _block_attrs(ctx, False)
    x, cs_prev, h_prev, w, wci, wcf, wco, b = ctx.inputs()
    return _lstm_step(ctx, x, cs_prev, h_prev, w, b, (wci, wcf, wco) if peephole else None,
                      forget_bias, cell_clip, "")


def _used_outputs(ctx: NodeContext) -> set[int]:
    """The output ports of this node that the graph reads (or names as outputs)."""
    used = {k for k in range(7) if ctx.src.consumers(Port(ctx.name, k))}
    return used | {p.index for p in getattr(ctx.src, "outputs", []) if p.node == ctx.name}


@TABLE.register("BlockLSTM", "BlockLSTMV2", inputs=9)
def block_lstm(ctx: NodeContext) -> Outputs:
    """A whole time-major sequence: one LSTMSequence when only ``h`` is read and there are no
    peepholes or cell clipping (``seq_len_max`` becomes its sequence lengths: TF leaves later
    steps zero, as OpenVINO does); otherwise TF's step unrolled over a static T."""
    v2 = ctx.op_type == "BlockLSTMV2"
    forget_bias, cell_clip, peephole = _block_attrs(ctx, v2)
    seq_len_max, x, cs0, h0, w, wci, wcf, wco, b = ctx.inputs()
    used = _used_outputs(ctx)
    xs = ctx.shape(x)
    wv, bv = ctx.value(w), ctx.value(b)
    if used <= {6} and not peephole and cell_clip <= 0 and wv is not None and bv is not None:
        hs = wv.shape[1] // 4
        bv = np.asarray(bv, np.float32).copy()
        order = [1, 0, 2, 3] if v2 else [2, 0, 1, 3]  # TF i, f, ci, o / i, ci, f, o -> f, i, c, o
        bv[order[0] * hs:(order[0] + 1) * hs] += np.float32(forget_bias)
        cell = _cell("LSTM", x, [], x, wv, bv, hs, order)
        xb = ctx.emit("Transpose", x, ints(ctx, [1, 0, 2], "perm"), name="batch_major")
        batch = ctx.emit("Gather", ctx.emit("ShapeOf", x, output_type="int32"),
                         ints(ctx, [1], "batch_index"), ints(ctx, 0, "axis"), batch_dims=0)
        lens = ctx.emit("Broadcast", ctx.emit("Convert", seq_len_max, destination_type="int32"),
                        batch, mode="numpy", name="lengths")
        if xs is not None and xs[0] is not None:
            lens = ctx.emit("Minimum", lens, ctx.const(np.array(xs[0], np.int32), name="steps"))
        y, _, _ = ctx.emit("LSTMSequence", xb,  # type: ignore[misc]
                           ctx.emit("Unsqueeze", h0, ints(ctx, [1], "axes"), name="h0"),
                           ctx.emit("Unsqueeze", cs0, ints(ctx, [1], "axes"), name="c0"),
                           lens, ctx.const(cell.W, name="W"), ctx.const(cell.R, name="R"),
                           ctx.const(cell.B, name="B"), hidden_size=hs, direction="forward",
                           activations=["sigmoid", "tanh", "tanh"], activations_alpha=[],
                           activations_beta=[], clip=0.0, name="sequence")
        h = ctx.emit("Transpose", ctx.emit("Squeeze", y, ints(ctx, [1], "dir_axis")),
                     ints(ctx, [1, 0, 2], "perm"), name="h")
        dead = ctx.builder.dead_port()
        return (dead,) * 6 + (h,)
    ctx.require(xs is not None and xs[0] is not None,
                "BlockLSTM with peepholes, cell clipping or gate outputs read needs a static "
                "number of time steps")
    steps = int(xs[0])  # type: ignore[index]
    limit = ctx.value(seq_len_max)
    ctx.require(limit is not None, "BlockLSTM with peepholes, cell clipping or gate outputs "
                "read needs a constant seq_len_max")
    run = min(steps, int(np.asarray(limit).reshape(-1)[0]))
    outs: list[list[Port]] = [[] for _ in range(7)]
    cs, h = cs0, h0
    for t in range(steps):
        if t < run:
            x_t = ctx.emit("Gather", x, ctx.const(np.array(t, np.int64), name="t"),
                           ints(ctx, 0, "axis"), batch_dims=0, name=f"x{t}")
            step = _lstm_step(ctx, x_t, cs, h, w, b, (wci, wcf, wco) if peephole else None,
                              forget_bias, cell_clip, f"t{t}/", ifco=v2)
            cs, h = step[1], step[6]
        else:  # TF leaves steps past seq_len_max zero
            step = (ctx.emit("Multiply", h, ctx.const(np.array(0, np.float32), name="zero"),
                             name=f"zero{t}"),) * 7
        for k in range(7):
            outs[k].append(ctx.emit("Unsqueeze", step[k], ints(ctx, [0], "axes"),
                                    name=f"t{t}/out{k}"))
    return tuple(ctx.emit("Concat", *ports, axis=0, name=f"out{k}") if len(ports) > 1
                 else ports[0] for k, ports in enumerate(outs))


@TABLE.register("GRUBlockCell", inputs=6)
def gru_block_cell(ctx: NodeContext) -> Outputs:
    """One GRU step ``(r, u, c, h)`` as TF's kernel computes it."""
    ctx.attr("T", None)
    x, h_prev, w_ru, w_c, b_ru, b_c = ctx.inputs()
    xh = ctx.emit("Concat", x, h_prev, axis=1, name="xh")
    ru = ctx.emit("Sigmoid", ctx.emit("Add", ctx.emit("MatMul", xh, w_ru, transpose_a=False,
                                                      transpose_b=False), b_ru), name="ru")
    r, u = ctx.emit("Split", ru, ints(ctx, 1, "axis"), num_splits=2, name="r_u")
    xrh = ctx.emit("Concat", x, ctx.emit("Multiply", r, h_prev, name="r_h"), axis=1, name="xrh")
    c = ctx.emit("Tanh", ctx.emit("Add", ctx.emit("MatMul", xrh, w_c, transpose_a=False,
                                                  transpose_b=False, name="MatMul_c"), b_c),
                 name="c")
    one = scalar_like(ctx, 1.0, u, name="one")
    h = ctx.emit("Add", ctx.emit("Multiply", u, h_prev, name="u_h"),
                 ctx.emit("Multiply", ctx.emit("Subtract", one, u), c, name="new"), name="h")
    return r, u, c, h
