"""Graph's cached input ports and topological order follow every edit (issue 15 speed-ups)."""
from __future__ import annotations

import random

from tfconv.graph import Graph, Port


def _uncached_inputs(g: Graph, name: str) -> list[Port]:
    found = sorted((dst, Port(src, index)) for src, edges in g._pred[name].items()
                   for dst, index in edges.items())
    return [p for _, p in found]


def _uncached_order(g: Graph) -> list[str]:
    return g._topological_order()


def test_caches_follow_random_edits():
    rng = random.Random(0)
    g = Graph("ir")
    names: list[str] = []
    for step in range(600):
        action = rng.random()
        if action < 0.35 or len(names) < 3:
            name = g.unique_name("n")
            # inputs only from earlier ops, or later re-wired: the order stays acyclic
            g.add_op("Op", name, [Port(rng.choice(names)) for _ in range(rng.randint(0, 2))]
                     if names else [], num_outputs=2)
            names.append(name)
        elif action < 0.55:
            name = rng.choice(names[1:])
            earlier = names[:names.index(name)]
            ports = [Port(rng.choice(earlier), rng.randint(0, 1)) for _ in range(rng.randint(0, 3))]
            g.set_inputs(name, ports)
        elif action < 0.7:
            name = rng.choice(names[1:])
            if g.inputs(name):
                earlier = names[:names.index(name)]
                g.set_input(name, 0, Port(rng.choice(earlier)))
        elif action < 0.8:
            old = Port(rng.choice(names[:-1]), 0)
            later = names[names.index(old.node) + 1:]
            first = min((c for c, _ in g.consumers(old)), key=names.index, default=None)
            candidates = [n for n in names[:names.index(first)] if n != old.node] if first else []
            if candidates:
                g.replace_uses(old, Port(rng.choice(candidates)))
            del later
        elif action < 0.9:
            name = names.pop(rng.randrange(len(names)))
            for consumer, dst in g.consumers(name):
                g.set_inputs(consumer, [p for p in g.inputs(consumer) if p.node != name])
            g.remove(name)
        else:
            g.remove_dead(keep=names[-3:])
            names = [n for n in names if n in g]
        if step % 7 == 0:  # read (and fill the caches) between edits
            for n in names:
                assert g.inputs(n) == _uncached_inputs(g, n)
            assert g.topological_order() == _uncached_order(g)
    for n in names:
        assert g.inputs(n) == _uncached_inputs(g, n)
    assert g.topological_order() == _uncached_order(g)


def test_cached_results_are_copies():
    g = Graph("ir")
    g.add_op("Op", "a")
    g.add_op("Op", "b", [Port("a")])
    g.inputs("b").append(Port("x"))
    g.topological_order().append("x")
    assert g.inputs("b") == [Port("a")]
    assert g.topological_order() == ["a", "b"]


def test_a_name_reused_after_removal_has_its_own_inputs():
    g = Graph("ir")
    g.add_op("Op", "a")
    g.add_op("Op", "b", [Port("a")])
    assert g.inputs("b") == [Port("a")]
    g.remove("b")
    g.add_op("Op", "b")
    assert g.inputs("b") == []
    g.add_op("Op", "c", [Port("b")])
    g.remove("b")  # c loses its input: its cached ports must go too
    assert g.inputs("c") == []
