"""The graph IR shared by both dialects: ``tf`` (source, before translation) and ``ir`` (after).

A :class:`Graph` is a directed multigraph keyed by unique op names, kept in plain dicts (no
networkx: importing it cost a quarter of a small conversion, and its per-edge dicts a large
share of a big graph's memory). Each node holds an :class:`Op`; each edge carries the
producer's output index (``src``) and the consumer's input index (``dst``). Iteration is always
in insertion order, and topological order breaks ties by insertion order, so every pass is
deterministic. Every algorithm here is iterative (no recursion) and linear in the graph.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from .errors import TfconvError

Shape = "tuple[int | None, ...] | None"


@dataclass(frozen=True, order=True, slots=True)
class Port:
    """One output of an op: ``node`` is the producer's unique name, ``index`` the output number."""

    node: str
    index: int = 0

    def __str__(self) -> str:
        return f"{self.node}:{self.index}"


@dataclass(slots=True)
class TensorInfo:
    """Static knowledge about one output: shape (``None`` dims are dynamic, ``None`` = unknown
    rank), element type, and the source tensor names that the port carries."""

    shape: tuple[int | None, ...] | None = None
    dtype: np.dtype | None = None
    names: list[str] = field(default_factory=list)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(d is not None for d in self.shape)


@dataclass(slots=True)
class Op:
    """A node: ``type`` is a TF op type (tf dialect) or an IR type such as ``Convolution``."""

    type: str
    name: str
    attrs: dict[str, object] = field(default_factory=dict)
    outputs: list[TensorInfo] = field(default_factory=list)

    @property
    def value(self) -> np.ndarray | None:
        """The constant value of a ``Const`` op, else ``None``."""
        return self.attrs.get("value") if self.type == "Const" else None  # type: ignore[return-value]


class GraphError(TfconvError):
    """An inconsistent graph: a dangling edge, a missing port, a leftover internal op."""


class Graph:
    """A directed multigraph of :class:`Op` nodes with ordered input ports."""

    def __init__(self, dialect: str, name: str = "model") -> None:
        self.dialect = dialect
        self.name = name
        self.outputs: list[Port] = []
        self.meta: dict[str, object] = {}
        self._ops: dict[str, Op] = {}       # name -> op, in insertion order
        self._order: dict[str, int] = {}    # name -> insertion sequence number
        # consumer -> producer -> {input index dst: output index src}, and the mirror image
        self._pred: dict[str, dict[str, dict[int, int]]] = {}
        self._succ: dict[str, dict[str, dict[int, int]]] = {}
        self._seq = 0
        self._suffix: dict[str, int] = {}  # base -> the last suffix unique_name gave it
        # Caches, dropped by every change they depend on: each op's input ports (asked for
        # 10-60 times per op by the passes and the writer), and the topological order
        # (``_changes`` counts edits of ops and edges).
        self._inputs: dict[str, tuple[Port, ...]] = {}
        self._changes = 0
        self._topo: tuple[int, list[str]] | None = None

    # -- building -------------------------------------------------------------------------

    def add_op(self, type: str, name: str, inputs: Iterable[Port] = (),
               attrs: dict[str, object] | None = None, num_outputs: int = 1) -> Op:
        """Add an op named ``name`` (which must be new) fed by ``inputs`` in port order."""
        if name in self._ops:
            msg = f"an op named {name!r} already exists"
            raise GraphError(msg)
        op = Op(type, name, dict(attrs or {}), [TensorInfo() for _ in range(num_outputs)])
        self._ops[name] = op
        self._order[name] = self._seq
        self._pred[name] = {}
        self._succ[name] = {}
        self._seq += 1
        self._changes += 1
        self._inputs.pop(name, None)
        for dst, port in enumerate(inputs):
            self._connect(port, name, dst)
        return op

    def unique_name(self, base: str) -> str:
        """``base`` itself if unused, else ``base_1``, ``base_2``, ..."""
        if base not in self._ops:
            return base
        i = self._suffix.get(base, 0) + 1  # linear, not quadratic, in names made from one base
        while f"{base}_{i}" in self._ops:
            i += 1
        self._suffix[base] = i
        return f"{base}_{i}"

    def _connect(self, port: Port, consumer: str, dst: int) -> None:
        if port.node not in self._ops:
            msg = f"{consumer!r} input {dst} refers to a missing op {port.node!r}"
            raise GraphError(msg)
        self._succ[port.node].setdefault(consumer, {})[dst] = port.index
        self._pred[consumer].setdefault(port.node, {})[dst] = port.index
        self._inputs.pop(consumer, None)
        self._changes += 1

    def _disconnect(self, src: str, consumer: str, dst: int) -> None:
        """Remove the edge into input ``dst`` of ``consumer`` from ``src``."""
        out = self._succ[src][consumer]
        del out[dst]
        if not out:
            del self._succ[src][consumer]
        into = self._pred[consumer][src]
        del into[dst]
        if not into:
            del self._pred[consumer][src]
        self._inputs.pop(consumer, None)
        self._changes += 1

    def set_input(self, name: str, dst: int, port: Port) -> None:
        """Re-wire input ``dst`` of ``name`` to ``port``."""
        src = self._producer_of(name, dst)
        if src is not None:
            self._disconnect(src, name, dst)
        self._connect(port, name, dst)

    def set_inputs(self, name: str, ports: Iterable[Port]) -> None:
        """Replace all inputs of ``name``."""
        for src, edges in list(self._pred[name].items()):
            for key in list(edges):
                self._disconnect(src, name, key)
        for dst, port in enumerate(ports):
            self._connect(port, name, dst)

    def _producer_of(self, name: str, dst: int) -> str | None:
        for src, edges in self._pred[name].items():
            if dst in edges:
                return src
        return None

    def replace_uses(self, old: Port, new: Port) -> None:
        """Make every consumer of ``old`` read ``new`` instead; graph outputs follow too."""
        if old == new:
            return
        for consumer, dst in self.consumers(old):
            self._disconnect(old.node, consumer, dst)
            self._connect(new, consumer, dst)
        self.outputs = [new if p == old else p for p in self.outputs]

    def remove(self, name: str) -> None:
        if name not in self._ops:
            msg = f"no op named {name!r}"
            raise GraphError(msg)
        for src in self._pred.pop(name):
            del self._succ[src][name]
        for dst in self._succ.pop(name):
            del self._pred[dst][name]
            self._inputs.pop(dst, None)
        del self._ops[name], self._order[name]
        self._inputs.pop(name, None)
        self._changes += 1

    def remove_dead(self, keep: Iterable[str] = ()) -> int:
        """Remove every op that no graph output (or op in ``keep``) depends on; returns the count."""
        roots = {p.node for p in self.outputs} | set(keep)
        live = self.ancestors(r for r in roots if r in self._ops)
        dead = [n for n in self._ops if n not in live]
        for name in dead:
            self.remove(name)
        return len(dead)

    # -- reading --------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Op]:
        """Ops in insertion order."""
        return iter(self._ops.values())

    def op(self, name: str) -> Op:
        try:
            return self._ops[name]
        except KeyError:
            msg = f"no op named {name!r}"
            raise GraphError(msg) from None

    def info(self, port: Port) -> TensorInfo:
        """Shape, type and names of one output port."""
        return self.op(port.node).outputs[port.index]

    def inputs(self, name: str) -> list[Port]:
        """The ports feeding ``name``, ordered by input index."""
        cached = self._inputs.get(name)
        if cached is None:
            found = [(dst, Port(src, index)) for src, edges in self._pred[name].items()
                     for dst, index in edges.items()]
            found.sort(key=lambda e: e[0])
            cached = self._inputs[name] = tuple(port for _, port in found)
        return list(cached)

    def consumers(self, port: Port | str) -> list[tuple[str, int]]:
        """``(consumer name, input index)`` pairs reading ``port`` (or any output of an op name)."""
        node, index = (port, None) if isinstance(port, str) else (port.node, port.index)
        order = self._order
        found = [(dst_node, key) for dst_node, edges in self._succ[node].items()
                 for key, src in edges.items() if index is None or src == index]
        found.sort(key=lambda c: (order[c[0]], c[1]))
        return found

    def topological_order(self) -> list[str]:
        """All op names, producers first; ties broken by insertion order (Kahn's algorithm)."""
        if self._topo is not None and self._topo[0] == self._changes:
            return list(self._topo[1])  # nothing changed since the last call
        order = self._topological_order()
        self._topo = (self._changes, order)
        return list(order)

    def _topological_order(self) -> list[str]:
        seq, pred, succ = self._order, self._pred, self._succ
        if all(seq[p] < s for n, s in seq.items() for p in pred[n]):
            return list(self._ops)  # every edge runs forward: insertion order is the answer
        indegree = {n: len(pred[n]) for n in self._ops}
        ready = [(seq[n], n) for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, n = heapq.heappop(ready)
            order.append(n)
            for m in succ[n]:
                indegree[m] -= 1
                if indegree[m] == 0:
                    heapq.heappush(ready, (seq[m], m))
        if len(order) != len(indegree):
            path = " -> ".join(self._cycle({n for n, d in indegree.items() if d > 0}))
            msg = f"the graph has a cycle: {path}"
            raise GraphError(msg)
        return order

    def _cycle(self, stuck: set[str]) -> list[str]:
        """One cycle among ``stuck`` (ops Kahn's algorithm could not order, each of which has a
        producer among them), as ``[a, b, ..., a]`` in data-flow order."""
        node = min(stuck, key=self._order.__getitem__)
        seen: dict[str, int] = {}
        walk: list[str] = []
        while node not in seen:  # walk producers backwards until one repeats
            seen[node] = len(walk)
            walk.append(node)
            node = next(p for p in self._pred[node] if p in stuck)
        loop = walk[seen[node]:]
        loop.reverse()
        return [*loop, loop[0]]

    def ops_of_type(self, *types: str) -> list[Op]:
        return [op for op in self if op.type in types]

    def subgraph(self, scope: str) -> list[Op]:
        """Ops whose names start with ``scope/`` (or equal ``scope``), in insertion order."""
        prefix = scope.rstrip("/") + "/"
        return [op for op in self if op.name.startswith(prefix) or op.name == scope.rstrip("/")]

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """``names`` and every op they depend on."""
        return self._reach(names, self._pred)

    def descendants(self, names: Iterable[str]) -> set[str]:
        """``names`` and every op that depends on them."""
        return self._reach(names, self._succ)

    @staticmethod
    def _reach(names: Iterable[str], adjacency: dict[str, dict[str, dict[int, int]]]) -> set[str]:
        found = set(names)
        todo = list(found)
        while todo:
            for other in adjacency[todo.pop()]:
                if other not in found:
                    found.add(other)
                    todo.append(other)
        return found

    def validate(self) -> None:
        """Check edges, port ranges, and (ir dialect) that no internal op survived."""
        for op in self:
            ports = self.inputs(op.name)
            if list(range(len(ports))) != sorted(k for edges in self._pred[op.name].values() for k in edges):
                msg = f"{op.name!r} ({op.type}) has a gap in its input ports"
                raise GraphError(msg)
            for p in ports:
                if p.index >= len(self.op(p.node).outputs):
                    msg = f"{op.name!r} reads output {p.index} of {p.node!r}, which has {len(self.op(p.node).outputs)}"
                    raise GraphError(msg)
            if self.dialect == "ir" and op.type.startswith("tfconv."):
                msg = f"internal op {op.type} ({op.name!r}) was not removed before emission"
                raise GraphError(msg)
        for p in self.outputs:
            if p.node not in self._ops:
                msg = f"graph output {p} refers to a missing op"
                raise GraphError(msg)
