"""TF1 while loops collapsed into one source node each (``tf_frontend.collapse_while_loops``).

A TF1 ``tf.while_loop`` is a cycle of Enter -> Merge -> Switch -> Identity -> body ->
NextIteration -> Merge, with LoopCond (the condition) feeding every Switch and Exit reading
each Switch's false side. The pass finds every frame (Enter nodes grouped by ``frame_name``)
and replaces each outermost one by a single ``TfconvWhileLoop`` node whose attributes hold the
body as a sub-:class:`Graph` with the wiring, so the outer graph is acyclic:

* inputs: the loop variables' initial values (the inputs of the non-constant Enters that feed
  Merges), then every other value the body reads from outside: constant Enters (loop
  invariants) and outside ports read directly (constants inside a body only have a control edge
  to the loop, which the loader drops, so they look outside);
* body: one Placeholder per input; its outputs are ``[condition, next value of each variable]``;
* outputs: the final value of each loop variable (the Exit ports are re-pointed at them).

Nested frames are collapsed the same way inside the body sub-graph. The translator
(``ops/control_flow.py``) unrolls the loop when its trip count folds to a constant, and makes
it an OpenVINO Loop otherwise.

The ``TfconvWhileLoop`` node contract (TF1 frames and TF2 functional While, lowered by
``functional.py``, both produce it; the translator and ``ops/recurrent.py`` rely on it):

* inputs: ``num_vars`` loop variables' initial values, then the other outside values;
* attrs: ``body`` (a tf-dialect :class:`Graph`), ``num_vars`` (int), ``placeholders`` (the
  body's Placeholder names, one per input, in input order), ``frame_name`` (str, for
  messages), ``loop_cond`` (the LoopCond node's name, informational);
* ``body.outputs``: ``[condition, next value of variable 0, ..., next value of variable
  num_vars-1]``; the condition is a boolean scalar computed from the Placeholders;
* outputs: the final value of each loop variable, in order.
"""
from __future__ import annotations

import logging

import numpy as np

from tfconv.errors import ModelFormatError, UsageError
from tfconv.graph import Graph, GraphError, Port
from tfconv.passes import graph_pass

log = logging.getLogger("tfconv.tf_frontend")

LOOP_OP = "TfconvWhileLoop"
LOOP_STRUCTURE = {"Enter", "RefEnter", "Merge", "RefMerge", "Switch", "RefSwitch", "Exit",
                  "RefExit", "NextIteration", "RefNextIteration", "LoopCond"}


class _Frame:
    """The control nodes of one while frame."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.enters: list[str] = []
        self.merges: list[str] = []      # loop variables, in graph order
        self.members: set[str] = set()   # every node of the frame, nested frames included


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _frames(graph: Graph) -> dict[str, _Frame]:
    frames: dict[str, _Frame] = {}
    for op in graph:
        if op.type in ("Enter", "RefEnter"):
            name = _text(op.attrs.get("frame_name", op.name))
            frames.setdefault(name, _Frame(name)).enters.append(op.name)
    return frames


def _exit_frames(graph: Graph) -> dict[str, str]:
    """Exit node -> its frame: Exit <- Switch <- Merge <- Enter(frame_name)."""
    out = {}
    for op in graph.ops_of_type("Exit", "RefExit"):
        ins = graph.inputs(op.name)
        switch_ins = graph.inputs(ins[0].node) if ins else []
        merge_ins = graph.inputs(switch_ins[0].node) if switch_ins else []
        for p in merge_ins:
            enter = graph.op(p.node)
            if enter.type in ("Enter", "RefEnter"):
                out[op.name] = _text(enter.attrs.get("frame_name"))
                break
    return out


def _exits(graph: Graph, switch: str) -> list[str]:
    return [c for c, _ in graph.consumers(Port(switch, 0))
            if graph.op(c).type in ("Exit", "RefExit")]


def _members(graph: Graph, frame: _Frame, exit_frames: dict[str, str]) -> set[str]:
    """Nodes reachable forward from the frame's Enters, stopping at its own Exits (included)."""
    seen = set(frame.enters)
    work = list(frame.enters)
    while work:
        name = work.pop()
        if exit_frames.get(name) == frame.name:
            continue
        for consumer, _ in graph.consumers(name):
            if consumer not in seen:
                seen.add(consumer)
                work.append(consumer)
    return seen


def _loop_parts(graph: Graph, frame: _Frame) -> tuple[list[tuple[str, str, str]], str | None]:
    """``[(enter, merge, switch)]`` per loop variable and the LoopCond node."""
    parts = []
    loop_cond = None
    for enter in frame.enters:
        for merge, _ in graph.consumers(Port(enter, 0)):
            if graph.op(merge).type not in ("Merge", "RefMerge"):
                continue
            switches = [c for c, _ in graph.consumers(Port(merge, 0))
                        if graph.op(c).type in ("Switch", "RefSwitch")
                        and graph.op(graph.inputs(c)[1].node).type == "LoopCond"]
            if len(switches) != 1:
                continue
            loop_cond = graph.inputs(switches[0])[1].node
            parts.append((enter, merge, switches[0]))
    return parts, loop_cond


def collapse_loops(graph: Graph) -> int:
    """Collapse every outermost TF1 while frame of ``graph``; returns how many."""
    frames = _frames(graph)
    if not frames:
        return 0
    exit_frames = _exit_frames(graph)
    for frame in frames.values():
        frame.members = _members(graph, frame, exit_frames)
    changed = True  # a frame holds the frames whose Enters it reaches, with all their nodes
    while changed:
        changed = False
        for frame in frames.values():
            for other in frames.values():
                if other is not frame and not other.members <= frame.members and \
                        any(e in frame.members for e in other.enters):
                    frame.members |= other.members
                    changed = True
    outer = [f for f in frames.values()
             if not any(f is not g and any(e in g.members for e in f.enters)
                        for g in frames.values())]
    done = 0
    for frame in sorted(outer, key=lambda f: f.name):
        done += _collapse(graph, frame)
    return done


def _collapse(graph: Graph, frame: _Frame) -> int:
    parts, loop_cond = _loop_parts(graph, frame)
    if loop_cond is None:
        return 0  # not a while frame (no LoopCond): the cycle error names it
    members = frame.members
    control = {loop_cond}
    for enter, merge, switch in parts:
        control |= {enter, merge, switch, *_exits(graph, switch)}
        for p in graph.inputs(merge)[1:]:
            if graph.op(p.node).type in ("NextIteration", "RefNextIteration"):
                control.add(p.node)
    base = frame.name[:-len("/while_context")] if frame.name.endswith("/while_context") \
        else frame.name
    body = Graph("tf", name=base)
    outer_inputs: list[Port] = []
    placeholders: list[str] = []
    feeds: dict[Port, Port] = {}   # outer port read inside -> body placeholder port

    def placeholder(outer: Port, label: str, info=None) -> Port:
        info = info or graph.info(outer)
        name = body.unique_name(f"{base}/{label}")
        op = body.add_op("Placeholder", name, (), {"dtype": info.dtype, "shape": info.shape})
        op.outputs[0].shape, op.outputs[0].dtype = info.shape, info.dtype
        outer_inputs.append(outer)
        placeholders.append(name)
        return Port(name, 0)

    remap: dict[Port, Port] = {}
    var_ports = []
    for k, (enter, merge, switch) in enumerate(parts):
        port = placeholder(graph.inputs(enter)[0], f"var_{k}", graph.info(Port(merge, 0)))
        var_ports.append(port)
        remap[Port(merge, 0)] = remap[Port(switch, 1)] = port

    def body_port(p: Port) -> Port:
        if p in remap:
            return remap[p]
        if p.node in members and p.node not in control:
            return p
        if p.node in control:
            msg = f"{p} of the loop's control structure is read inside the loop"
            raise AssertionError(msg)
        if p not in feeds:
            feeds[p] = placeholder(p, "outside")
        return feeds[p]

    copied = [op.name for op in graph if op.name in members and op.name not in control]
    for name in copied:
        op = graph.op(name)
        if op.type in ("Enter", "RefEnter") and _text(op.attrs.get("frame_name")) == frame.name:
            outer = graph.inputs(name)[0]   # a loop invariant
            if outer not in feeds:
                feeds[outer] = placeholder(outer, "invariant")
            remap[Port(name, 0)] = feeds[outer]
            continue
        new = body.add_op(op.type, name, (), dict(op.attrs), num_outputs=len(op.outputs))
        for a, b in zip(new.outputs, op.outputs):
            a.shape, a.dtype = b.shape, b.dtype
    for name in copied:
        if name in body:
            body.set_inputs(name, [body_port(p) for p in graph.inputs(name)])
    nexts = []
    for k, (_, merge, _) in enumerate(parts):
        nxt = [p for p in graph.inputs(merge)[1:]
               if graph.op(p.node).type in ("NextIteration", "RefNextIteration")]
        nexts.append(body_port(graph.inputs(nxt[0].node)[0]) if nxt else var_ports[k])
    body.outputs = [body_port(graph.inputs(loop_cond)[0]), *nexts]
    body.meta["inputs"] = list(placeholders)
    collapse_loops(body)  # nested frames
    body.remove_dead(keep=placeholders)

    exits: dict[str, int] = {}
    for k, (_, _, switch) in enumerate(parts):
        for ex in _exits(graph, switch):
            exits[ex] = k
    loop_name = graph.unique_name(base)
    loop = graph.add_op(LOOP_OP, loop_name, outer_inputs, {
        "body": body, "frame_name": frame.name, "num_vars": len(parts),
        "placeholders": list(placeholders), "loop_cond": loop_cond},
        num_outputs=max(len(parts), 1))
    for k, (_, merge, _) in enumerate(parts):
        info = graph.info(Port(merge, 0))
        loop.outputs[k].shape, loop.outputs[k].dtype = info.shape, info.dtype
    for name in (members | control) - set(exits):
        if name in graph:
            graph.remove(name)
    for ex, k in exits.items():  # an Exit stays as an Identity of the loop's output: its name
        op = graph.op(ex)         # is a tensor name users and signatures refer to
        op.type, op.attrs = "Identity", {}
        graph.set_inputs(ex, [Port(loop_name, k)])
    log.debug("collapsed while loop %s: %d loop variable(s), %d other input(s), %d body node(s)",
              frame.name, len(parts), len(outer_inputs) - len(parts), len(body))
    return 1


@graph_pass("tf_frontend.collapse_while_loops", stage="source",
            after=["tf_frontend.fold_constant_switches", "tf_frontend.remove_training_ops"],
            before=["cleanup.remove_dead_source", "transformations.apply_config"])
def collapse_while_loops(graph: Graph, config) -> None:
    """Each outermost TF1 while frame becomes one ``TfconvWhileLoop`` node with its body as a
    sub-graph (nested frames inside it likewise), so the graph is acyclic."""
    try:
        n = collapse_loops(graph)
    except (IndexError, KeyError, AssertionError, GraphError) as err:
        msg = (f"a TF1 while loop in the graph is malformed (Enter/Merge/Switch/NextIteration/"
               f"Exit nodes that do not form a loop): {err}")
        raise ModelFormatError(msg) from err
    if not n:
        return
    inside = [p for p in graph.outputs if p.node not in graph]
    if inside and config.outputs:
        msg = (f"output {inside[0]} is computed inside a TF1 while loop, whose tensors exist only "
               "during the loop; choose an output after the loop's Exit")
        raise UsageError(msg)
    graph.outputs = [p for p in graph.outputs if p.node in graph]
    log.info("collapsed %d TF1 while loop(s) into single nodes", n)


# --- conds whose branches differ only in constants ------------------------------------------------

IMPURE_PREFIXES = ("TensorArray", "Assign", "Stack", "Queue", "Variable", "VarHandle", "Random",
                   "Stateful")


def _same_value(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    return a == b


class _BranchMatch:
    """Walks a Merge's two inputs back in step: the branches are isomorphic when they apply the
    same ops to the same outside values (through the two sides of one cond's Switches),
    differing at most in constant values."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.pred: Port | None = None
        self.side: tuple[int, int] | None = None     # Switch output index of branch a, b
        self.consts: list[tuple[Port, Port]] = []    # differing constants (a, b)
        self.switches: list[Port] = []               # branch a's Switch outputs
        self.nodes_a: set[str] = set()
        self._seen: dict[tuple[Port, Port], bool] = {}

    def same(self, a: Port, b: Port) -> bool:
        key = (a, b)
        if key not in self._seen:
            self._seen[key] = False  # no cycles through a cond
            self._seen[key] = self._same(a, b)
        return self._seen[key]

    def _same(self, a: Port, b: Port) -> bool:
        g = self.graph
        if a == b:
            return True
        oa, ob = g.op(a.node), g.op(b.node)
        if oa.type != ob.type:
            return False
        ia, ib = g.inputs(a.node), g.inputs(b.node)
        if oa.type not in ("Switch", "RefSwitch") and a.index != b.index:
            return False
        if oa.type in ("Switch", "RefSwitch"):
            if ia != ib or a.index == b.index:
                return False
            if self.pred is None:
                self.pred, self.side = ia[1], (a.index, b.index)
            if self.pred != ia[1] or self.side != (a.index, b.index):
                return False
            self.switches.append(a)
            return True
        if oa.type == "Const":
            va, vb = oa.attrs.get("value"), ob.attrs.get("value")
            if not isinstance(va, np.ndarray) or not isinstance(vb, np.ndarray) or \
                    va.dtype != vb.dtype or va.shape != vb.shape or va.dtype == object:
                return False
            if not np.array_equal(va, vb):
                self.consts.append((a, b))
            self.nodes_a.add(a.node)
            return True
        if oa.type in LOOP_STRUCTURE or oa.type.startswith(IMPURE_PREFIXES) or \
                len(ia) != len(ib) or not ia:
            return False
        keys = (set(oa.attrs) | set(ob.attrs)) - {"_output_shapes", "_class"}
        if any(not _same_value(oa.attrs.get(k), ob.attrs.get(k)) for k in keys):
            return False
        self.nodes_a.add(a.node)
        return all(self.same(x, y) for x, y in zip(ia, ib))


@graph_pass("tf_frontend.unify_cond_branches", stage="source",
            after=["tf_frontend.fold_constant_switches"],
            before=["tf_frontend.collapse_while_loops", "cleanup.remove_dead_source"])
def unify_cond_branches(graph: Graph, config) -> None:
    """A TF1 cond whose two branches are the same ops on the same inputs, differing only in
    constants (the OD API's keep-aspect-ratio resize: two ``resize_images`` to different
    targets), becomes one branch computed with ``SelectV2(pred, c_true, c_false)`` for each
    differing constant, so a predicate known only at run time still gives one tensor of the
    right shape (a Select between the two results could not: their shapes differ)."""
    done = 0
    for op in graph.ops_of_type("Merge", "RefMerge"):
        ins = graph.inputs(op.name)
        if len(ins) != 2 or graph.consumers(Port(op.name, 1)) or \
                any(graph.op(p.node).type in LOOP_STRUCTURE - {"Switch", "RefSwitch"}
                    for p in ins):
            continue
        match = _BranchMatch(graph)
        if not match.same(ins[0], ins[1]) or match.pred is None or not match.consts:
            continue
        true_a = match.side[0] == 1  # type: ignore[index]
        for ca, cb in match.consts:
            name = graph.unique_name(f"{ca.node}/tfconv_select")
            sel = graph.add_op("SelectV2", name, [match.pred, ca if true_a else cb,
                                                  cb if true_a else ca],
                               {"T": graph.op(ca.node).attrs.get("dtype")})
            sel.outputs[0].shape = graph.info(ca).shape
            for consumer, dst in graph.consumers(ca):
                if consumer in match.nodes_a and consumer != name:
                    graph.set_input(consumer, dst, Port(name, 0))
        for sw in match.switches:
            data = graph.inputs(sw.node)[0]
            for consumer, dst in graph.consumers(sw):
                if consumer in match.nodes_a:
                    graph.set_input(consumer, dst, data)
        graph.replace_uses(Port(op.name, 0), ins[0])
        done += 1
    if done:
        log.info("%d cond(s) whose branches differ only in constants computed once with Select "
                 "on the constants", done)


@graph_pass("tf_frontend.drop_cond_pivots", stage="source",
            after=["tf_frontend.fold_constant_switches"], before=["cleanup.remove_dead_source"])
def drop_cond_pivots(graph: Graph, config) -> None:
    """A TF1 cond's pivots (``switch_t``/``switch_f``: Identity of ``Switch(pred, pred)``) only
    feed control edges, so they look like sinks: they are not model outputs."""
    if config.outputs:
        return
    keep = []
    for port in graph.outputs:
        op = graph.op(port.node)
        ins = graph.inputs(port.node)
        if op.type == "Identity" and ins and graph.op(ins[0].node).type in ("Switch", "RefSwitch"):
            sw = graph.inputs(ins[0].node)
            if len(sw) == 2 and sw[0] == sw[1]:
                continue
        keep.append(port)
    graph.outputs = keep
