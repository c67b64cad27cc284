"""Graph passes: named, staged (``source`` before translation, ``ir`` after), and ordered by the
``after``/``before`` names they declare. Ordering is deterministic and a cycle is an error."""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Literal

from .errors import PluginError

if TYPE_CHECKING:
    from .config import ConvertConfig
    from .graph import Graph

Stage = Literal["source", "ir"]
STAGES = ("source", "ir")


@dataclass(frozen=True)
class Pass:
    name: str                      # "<plugin>.<verb_noun>", stable: used by --disable_pass
    stage: Stage
    run: Callable[["Graph", "ConvertConfig"], None]
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    plugin: str = "?"


def graph_pass(name: str, *, stage: Stage, after: Iterable[str] = (),
               before: Iterable[str] = ()) -> Callable[[Callable], Pass]:
    """Decorate ``fn(graph, config)`` into a :class:`Pass`."""
    if stage not in STAGES:
        msg = f"pass {name!r}: stage must be one of {STAGES}, not {stage!r}"
        raise PluginError(msg)
    return lambda fn: Pass(name, stage, fn, tuple(after), tuple(before))


class PassRegistry:
    """Every plugin's passes; :meth:`ordered` gives one stage's run order."""

    def __init__(self) -> None:
        self.current_plugin = "?"
        self._passes: dict[str, Pass] = {}

    def add(self, *passes: Pass) -> None:
        for p in passes:
            if p.name in self._passes:
                msg = (f"pass {p.name!r} is registered by both {self._passes[p.name].plugin} "
                       f"and {self.current_plugin}")
                raise PluginError(msg)
            self._passes[p.name] = Pass(p.name, p.stage, p.run, p.after, p.before,
                                        self.current_plugin)

    def __iter__(self):
        return iter(sorted(self._passes.values(), key=lambda p: (p.stage, p.name)))

    def ordered(self, stage: Stage, disabled: Iterable[str] = ()) -> list[Pass]:
        """The passes of ``stage`` in dependency order, ties broken by name."""
        skip = set(disabled)
        chosen = {n: p for n, p in self._passes.items() if p.stage == stage and n not in skip}
        succ: dict[str, set[str]] = {n: set() for n in chosen}
        for p in chosen.values():
            for a in p.after:
                if a in chosen:
                    succ[a].add(p.name)
            succ[p.name].update(b for b in p.before if b in chosen)
        indegree = dict.fromkeys(chosen, 0)
        for targets in succ.values():
            for t in targets:
                indegree[t] += 1
        ready = [n for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)  # Kahn's algorithm, ties broken by name
        order = []
        while ready:
            name = heapq.heappop(ready)
            order.append(name)
            for t in succ[name]:
                indegree[t] -= 1
                if indegree[t] == 0:
                    heapq.heappush(ready, t)
        if len(order) == len(chosen):
            return [chosen[n] for n in order]
        stuck = {n for n, d in indegree.items() if d > 0}
        pred = {n: sorted(m for m in stuck if n in succ[m]) for n in stuck}
        node, walk, seen = min(stuck), [], {}
        while node not in seen:  # producers backwards until one repeats: a cycle
            seen[node] = len(walk)
            walk.append(node)
            node = pred[node][0]
        cycle = walk[seen[node]:][::-1]
        msg = f"passes order themselves in a cycle: {' -> '.join(cycle + cycle[:1])}"
        raise PluginError(msg) from None
