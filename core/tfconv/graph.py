"""The graph IR shared by both dialects: ``tf`` (source, before translation) and ``ir`` (after).

A :class:`Graph` wraps a ``networkx.MultiDiGraph`` keyed by unique op names. Each node holds an
:class:`Op`; each edge carries the producer's output index (``src``) and the consumer's input
index (``dst``). Iteration is always in insertion order, and topological order breaks ties by
insertion order, so every pass is deterministic.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import networkx as nx
import numpy as np

from .errors import TfconvError

Shape = "tuple[int | None, ...] | None"


@dataclass(frozen=True, order=True)
class Port:
    """One output of an op: ``node`` is the producer's unique name, ``index`` the output number."""

    node: str
    index: int = 0

    def __str__(self) -> str:
        return f"{self.node}:{self.index}"


@dataclass
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


@dataclass
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
        self._g = nx.MultiDiGraph()
        self._seq = 0
        self._suffix: dict[str, int] = {}  # base -> the last suffix unique_name gave it

    # -- building -------------------------------------------------------------------------

    def add_op(self, type: str, name: str, inputs: Iterable[Port] = (),
               attrs: dict[str, object] | None = None, num_outputs: int = 1) -> Op:
        """Add an op named ``name`` (which must be new) fed by ``inputs`` in port order."""
        if name in self._g:
            msg = f"an op named {name!r} already exists"
            raise GraphError(msg)
        op = Op(type, name, dict(attrs or {}), [TensorInfo() for _ in range(num_outputs)])
        self._g.add_node(name, op=op, seq=self._seq)
        self._seq += 1
        for dst, port in enumerate(inputs):
            self._connect(port, name, dst)
        return op

    def unique_name(self, base: str) -> str:
        """``base`` itself if unused, else ``base_1``, ``base_2``, ..."""
        if base not in self._g:
            return base
        i = self._suffix.get(base, 0) + 1  # linear, not quadratic, in names made from one base
        while f"{base}_{i}" in self._g:
            i += 1
        self._suffix[base] = i
        return f"{base}_{i}"

    def _connect(self, port: Port, consumer: str, dst: int) -> None:
        if port.node not in self._g:
            msg = f"{consumer!r} input {dst} refers to a missing op {port.node!r}"
            raise GraphError(msg)
        self._g.add_edge(port.node, consumer, key=dst, src=port.index, dst=dst)

    def set_input(self, name: str, dst: int, port: Port) -> None:
        """Re-wire input ``dst`` of ``name`` to ``port``."""
        src = self._producer_of(name, dst)
        if src is not None:
            self._g.remove_edge(src, name, key=dst)
        self._connect(port, name, dst)

    def set_inputs(self, name: str, ports: Iterable[Port]) -> None:
        """Replace all inputs of ``name``."""
        for src, _, key in list(self._g.in_edges(name, keys=True)):
            self._g.remove_edge(src, name, key=key)
        for dst, port in enumerate(ports):
            self._connect(port, name, dst)

    def _producer_of(self, name: str, dst: int) -> str | None:
        for src, _, key in self._g.in_edges(name, keys=True):
            if key == dst:
                return src
        return None

    def replace_uses(self, old: Port, new: Port) -> None:
        """Make every consumer of ``old`` read ``new`` instead; graph outputs follow too."""
        if old == new:
            return
        for consumer, dst in self.consumers(old):
            self._g.remove_edge(old.node, consumer, key=dst)
            self._connect(new, consumer, dst)
        self.outputs = [new if p == old else p for p in self.outputs]

    def remove(self, name: str) -> None:
        self._g.remove_node(name)

    def remove_dead(self, keep: Iterable[str] = ()) -> int:
        """Remove every op that no graph output (or op in ``keep``) depends on; returns the count."""
        roots = {p.node for p in self.outputs} | set(keep)
        live: set[str] = set()
        for root in roots:
            if root in self._g and root not in live:
                live.add(root)
                live |= nx.ancestors(self._g, root)
        dead = [n for n in self._g if n not in live]
        self._g.remove_nodes_from(dead)
        return len(dead)

    # -- reading --------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __iter__(self) -> Iterator[Op]:
        """Ops in insertion order."""
        for _, data in self._g.nodes(data=True):
            yield data["op"]

    def op(self, name: str) -> Op:
        try:
            return self._g.nodes[name]["op"]
        except KeyError:
            msg = f"no op named {name!r}"
            raise GraphError(msg) from None

    def info(self, port: Port) -> TensorInfo:
        """Shape, type and names of one output port."""
        return self.op(port.node).outputs[port.index]

    def inputs(self, name: str) -> list[Port]:
        """The ports feeding ``name``, ordered by input index."""
        # Read networkx's adjacency dicts directly: its edge views cost more than the work.
        found = [(dst, Port(src, data["src"])) for src, edges in self._g.pred[name].items()
                 for dst, data in edges.items()]
        found.sort(key=lambda e: e[0])
        return [port for _, port in found]

    def consumers(self, port: Port | str) -> list[tuple[str, int]]:
        """``(consumer name, input index)`` pairs reading ``port`` (or any output of an op name)."""
        node, index = (port, None) if isinstance(port, str) else (port.node, port.index)
        nodes = self._g.nodes
        found = [(dst_node, key) for dst_node, edges in self._g.succ[node].items()
                 for key, data in edges.items() if index is None or data["src"] == index]
        found.sort(key=lambda c: (nodes[c[0]]["seq"], c[1]))
        return found

    def topological_order(self) -> list[str]:
        """All op names, producers first; ties broken by insertion order (Kahn's algorithm)."""
        nodes = self._g.nodes
        pred, succ = self._g.pred, self._g.succ
        indegree = {n: len(pred[n]) for n in nodes}
        ready = [(nodes[n]["seq"], n) for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, n = heapq.heappop(ready)
            order.append(n)
            for m in succ[n]:
                indegree[m] -= 1
                if indegree[m] == 0:
                    heapq.heappush(ready, (nodes[m]["seq"], m))
        if len(order) != len(indegree):
            cycle = nx.find_cycle(self._g.subgraph(n for n, d in indegree.items() if d > 0))
            path = " -> ".join([e[0] for e in cycle] + [cycle[0][0]])
            msg = f"the graph has a cycle: {path}"
            raise GraphError(msg)
        return order

    def ops_of_type(self, *types: str) -> list[Op]:
        return [op for op in self if op.type in types]

    def subgraph(self, scope: str) -> list[Op]:
        """Ops whose names start with ``scope/`` (or equal ``scope``), in insertion order."""
        prefix = scope.rstrip("/") + "/"
        return [op for op in self if op.name.startswith(prefix) or op.name == scope.rstrip("/")]

    def ancestors(self, names: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for name in names:
            found.add(name)
            found |= nx.ancestors(self._g, name)
        return found

    def validate(self) -> None:
        """Check edges, port ranges, and (ir dialect) that no internal op survived."""
        for op in self:
            ports = self.inputs(op.name)
            if [p for p in range(len(ports))] != sorted(k for _, _, k in self._g.in_edges(op.name, keys=True)):
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
            if p.node not in self._g:
                msg = f"graph output {p} refers to a missing op"
                raise GraphError(msg)
