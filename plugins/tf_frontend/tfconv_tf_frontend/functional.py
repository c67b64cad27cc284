"""TF2 functional control flow lowered to TF1 frames while freezing (no TensorFlow).

TF2 graphs spell loops and conditionals as ops holding functions: ``While``/``StatelessWhile``
(``cond`` and ``body``), ``If``/``StatelessIf`` (``then_branch``, ``else_branch``) and
``Case``/``StatelessCase`` (``branches``). The freezer (:class:`functions.Inliner`) lowers
each one here, while it inlines the function library, into the dataflow form TF1 uses, so
that everything downstream of TF1 control flow serves TF2 graphs too (``docs/control_flow.md``):

* **While** -> one frame named ``<node>/while_context``: per loop variable
  ``Enter -> Merge(Enter, NextIteration) -> Switch(LoopCond)``; the ``cond`` function is
  inlined on the Merges (its result feeds LoopCond), the ``body`` function on
  ``Identity(Switch:1)`` (its results feed the NextIterations), and ``Exit(Switch:0)`` is the
  loop's result. A loop variable the body returns unchanged (captured tensors, TF's
  ``maximum_iterations``) is an invariant: a constant Enter, and the While's result is its
  input. ``tf_frontend.collapse_while_loops`` then makes the frame one ``TfconvWhileLoop``
  node (body sub-graph with the condition as output 0), which is unrolled when its trip count
  folds. ``maximum_iterations`` is part of the cond function TF writes, so it is honoured.
* **If** -> every input goes through ``Switch(x, pred)``; the ``then`` branch is inlined on the
  true sides, ``else`` on the false sides, and each result pair passes one more Switch (so a
  branch returning a constant is still marked as being on its side) into a
  ``Merge(else, then)``. A predicate that folds kills the untaken branch; a computed one gives
  ``Select`` when both results have one shape (``ops/control_flow.py``).
* **Case** -> a chain of Ifs on ``Equal(branch_index, k)``; the last branch is the default, as
  in TensorFlow (an index out of range runs it).

The lowered graph is valid TensorFlow (constants of a loop body get a control input from the
frame's pivot, as in TF's own lowering; tfconv's loader drops control edges), which the tests
check by running it.

Captured resource variables stay bindings: a loop-invariant or branch input that is a variable
is read inside the body as the variable's constant. A variable changed by the loop is a
:class:`functions.Fallback`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass

from . import proto

if TYPE_CHECKING:
    from .functions import Inliner, _Node

WHILE_OPS = {"While", "StatelessWhile", "_While"}
IF_OPS = {"If", "StatelessIf", "_If"}
CASE_OPS = {"Case", "StatelessCase"}
FUNCTIONAL_OPS = WHILE_OPS | IF_OPS | CASE_OPS
log = logging.getLogger("tfconv.tf_frontend")
_DT_BOOL = 10
_DT_INT32 = 3


def lower(inl: Inliner, node: Any, new_name: str, inputs: list, depth: int) -> _Node:
    """Emit ``node`` (a functional op) lowered to TF1 control flow; its flat result bindings."""
    from .functions import _Node
    if node.op in WHILE_OPS:
        flat = _While(inl, node, new_name, inputs, depth).emit()
    elif node.op in IF_OPS:
        fns = [_func(inl, node, "then_branch"), _func(inl, node, "else_branch")]
        types = list(node.attr["Tout"].list.type)
        pred = _as_bool(inl, inputs[0], node.attr["Tcond"].type if "Tcond" in node.attr
                        else _DT_BOOL, f"{new_name}/pred")
        flat = _cond(inl, new_name, pred, fns[0],
                     lambda args, prefix: _inline(inl, fns[1], f"{prefix}/else/", args, depth),
                     inputs[1:], types, depth, list(node.attr["Tin"].list.type))
    else:
        names = [f.name for f in node.attr["branches"].list.func]
        fns = [_lookup(inl, new_name, name) for name in names]
        types = list(node.attr["Tout"].list.type)
        flat = _case(inl, new_name, inputs[0], fns, inputs[1:], types, depth,
                     list(node.attr["Tin"].list.type))
    inl.inlined += 1
    return _Node(node, flat=flat)


# --- helpers ---------------------------------------------------------------------------------


def _lookup(inl: Inliner, where: str, name: str) -> Any:
    from .functions import Fallback
    fn = inl.funcs.get(name)
    if fn is None:
        msg = f"{where} calls {name!r}, which the library does not define"
        raise Fallback(msg)
    if len(fn.signature.attr):
        msg = f"function {name} is polymorphic (has attrs)"
        raise Fallback(msg)
    return fn


def _func(inl: Inliner, node: Any, attr: str) -> Any:
    return _lookup(inl, node.name, node.attr[attr].func.name)


def _inline(inl: Inliner, fn: Any, prefix: str, args: list, depth: int) -> list:
    """Inline function ``fn`` on ``args`` (bindings) under ``prefix``; its result bindings."""
    from .functions import Fallback
    sig = fn.signature
    if len(args) != len(sig.input_arg):
        msg = f"{prefix[:-1]} passes {len(args)} inputs to {sig.name}, which takes " \
              f"{len(sig.input_arg)}"
        raise Fallback(msg)
    bound = {a.name: b for a, b in zip(sig.input_arg, args)}
    rets = [fn.ret[a.name] for a in sig.output_arg]
    return inl.run(list(fn.node_def), prefix, bound, rets, depth + 1)


def _pin(inl: Inliner, start: int, pivot: str) -> None:
    """Give the nodes emitted since ``start`` that have no inputs at all (constants of a loop
    body) a control input from ``pivot``, as TensorFlow's own lowering does: that puts them in
    the loop's frame, so the lowered graph is a valid TF graph (tfconv drops control edges)."""
    for node in inl.nodes[start:]:
        if not node.input:
            node.input.append(f"^{pivot}")


def _emit(inl: Inliner, name: str, op: str, inputs: list, dtype: int | None = None,
          add: bool = True, **attrs: Any) -> Any:
    """A NodeDef ``name`` (claimed now; appended unless ``add`` is False)."""
    from .functions import Fallback, Variable
    node = proto.NodeDef(name=inl._claim(name), op=op)
    for b in inputs:
        if isinstance(b, Variable):
            msg = f"{name} ({op}) would carry resource variable {b.name} through control flow"
            raise Fallback(msg)
        node.input.append(b if isinstance(b, str) else b.ref())
    if dtype is not None:
        node.attr["T"].type = dtype
    for key, value in attrs.items():
        if isinstance(value, bool):
            node.attr[key].b = value
        elif isinstance(value, int):
            node.attr[key].i = value
        elif isinstance(value, str):
            node.attr[key].s = value.encode()
        else:
            node.attr[key].CopyFrom(value)
    if add:
        inl.nodes.append(node)
    return node


def _tensor(name: str, index: int = 0) -> Any:
    from .functions import Tensor
    return Tensor(name, index)


def _is_var(b: Any) -> bool:
    from .functions import Variable
    return isinstance(b, Variable)


def _as_bool(inl: Inliner, pred: Any, dtype: int, name: str) -> Any:
    """An If's predicate as a bool tensor (TF: a non-zero number is True)."""
    if dtype == _DT_BOOL:
        return pred
    node = _emit(inl, name, "Cast", [pred])
    node.attr["SrcT"].type = dtype
    node.attr["DstT"].type = _DT_BOOL
    return _tensor(node.name)


# --- conditionals ----------------------------------------------------------------------------


def _cond(inl: Inliner, prefix: str, pred: Any, then_fn: Any, else_inline, args: list,
          types: list[int], depth: int, in_types: list[int]) -> list:
    """``pred ? then_fn(args) : else_inline(args)`` as Switch/Merge; result bindings."""
    from .functions import Fallback
    t_args, f_args = [], []
    for k, b in enumerate(args):
        if _is_var(b):
            t_args.append(b)
            f_args.append(b)
            continue
        sw = _emit(inl, f"{prefix}/switch_{k}", "Switch", [b, pred],
                   in_types[k] if k < len(in_types) else None)
        t_args.append(_tensor(sw.name, 1))
        f_args.append(_tensor(sw.name, 0))
    t_out = _inline(inl, then_fn, f"{prefix}/then/", t_args, depth)
    f_out = else_inline(f_args, prefix)
    if len(t_out) != len(f_out):
        msg = f"the two branches of {prefix} return {len(t_out)} and {len(f_out)} values"
        raise Fallback(msg)
    out = []
    for i, (t, f) in enumerate(zip(t_out, f_out)):
        dtype = types[i] if i < len(types) else None
        st = _emit(inl, f"{prefix}/then_out_{i}", "Switch", [t, pred], dtype)
        sf = _emit(inl, f"{prefix}/else_out_{i}", "Switch", [f, pred], dtype)
        merge = _emit(inl, f"{prefix}/merge_{i}", "Merge", [_tensor(sf.name, 0),
                                                            _tensor(st.name, 1)], dtype, N=2)
        out.append(_tensor(merge.name))
    return out


def _case(inl: Inliner, prefix: str, index: Any, fns: list, args: list, types: list[int],
          depth: int, in_types: list[int], k: int = 0) -> list:
    """Branch ``k`` if ``index == k`` else the branches after it; the last is the default."""
    if k == len(fns) - 1:
        return _inline(inl, fns[k], f"{prefix}/branch_{k}/", args, depth)
    const = _emit(inl, f"{prefix}/index_{k}", "Const", [])
    const.attr["dtype"].type = _DT_INT32
    const.attr["value"].tensor.dtype = _DT_INT32
    const.attr["value"].tensor.int_val.append(k)
    eq = _emit(inl, f"{prefix}/is_{k}", "Equal", [index, _tensor(const.name)], _DT_INT32)
    return _cond(inl, f"{prefix}/case_{k}", _tensor(eq.name), fns[k],
                 lambda rest, sub: _case(inl, prefix, index, fns, rest, types, depth, in_types,
                                         k + 1),
                 args, types, depth, in_types)


# --- while loops -----------------------------------------------------------------------------


def _returns_arg(fn: Any, ref: str, arg: str) -> bool:
    """Whether the function result ``ref`` is its argument ``arg`` (through Identity nodes)."""
    nodes = {n.name: n for n in fn.node_def}
    seen = 0
    while ref != arg and seen < len(nodes) + 1:
        node = nodes.get(ref.split(":")[0])
        if node is None or node.op not in ("Identity", "Snapshot"):
            return False
        data = [i for i in node.input if not i.startswith("^")]
        if len(data) != 1:
            return False
        ref = data[0]
        seen += 1
    return ref == arg


class _While:
    """One functional While lowered to a TF1 frame (see the module docstring)."""

    def __init__(self, inl: Inliner, node: Any, name: str, inputs: list, depth: int) -> None:
        self.inl, self.node, self.name, self.inputs, self.depth = inl, node, name, inputs, depth
        self.cond = _func(inl, node, "cond")
        self.body = _func(inl, node, "body")
        self.types = list(node.attr["T"].list.type)
        sig = self.body.signature
        rets = [self.body.ret[a.name] for a in sig.output_arg]
        self.invariant = [k < len(rets) and k < len(sig.input_arg) and
                          _returns_arg(self.body, rets[k], sig.input_arg[k].name)
                          for k in range(len(inputs))]

    def emit(self) -> list:
        from .functions import Fallback
        inl, name = self.inl, self.name
        frame = f"{name}/while_context"
        n = len(self.inputs)
        if len(self.types) != n:
            msg = f"{name} has {n} inputs but {len(self.types)} types"
            raise Fallback(msg)
        cond_args: list = [None] * n
        merges: dict[int, Any] = {}
        nexts: dict[int, Any] = {}
        for k, b in enumerate(self.inputs):
            if self.invariant[k]:
                if _is_var(b):
                    cond_args[k] = b
                    continue
                enter = _emit(inl, f"{name}/enter_{k}", "Enter", [b], self.types[k],
                              frame_name=frame, is_constant=True, parallel_iterations=1)
                cond_args[k] = _tensor(enter.name)
                continue
            if _is_var(b):
                msg = f"the while loop {name} changes resource variable {b.name}"
                raise Fallback(msg)
            enter = _emit(inl, f"{name}/enter_{k}", "Enter", [b], self.types[k],
                          frame_name=frame, is_constant=False, parallel_iterations=1)
            nexts[k] = _emit(inl, f"{name}/next_{k}", "NextIteration", [], self.types[k],
                             add=False)
            merges[k] = _emit(inl, f"{name}/merge_{k}", "Merge",
                              [_tensor(enter.name), nexts[k].name], self.types[k], N=2)
            cond_args[k] = _tensor(merges[k].name)
        if not merges:  # nothing changes: the loop runs zero or infinitely many times
            return list(self.inputs)
        start = len(inl.nodes)
        (pred,) = _inline(inl, self.cond, f"{name}/cond/", cond_args, self.depth)[:1]
        _pin(inl, start, next(iter(merges.values())).name)
        loop_cond = _emit(inl, f"{name}/loop_cond", "LoopCond", [pred])
        body_args = list(cond_args)
        exits: dict[int, Any] = {}
        for k, merge in merges.items():
            sw = _emit(inl, f"{name}/switch_{k}", "Switch",
                       [_tensor(merge.name), _tensor(loop_cond.name)], self.types[k])
            ident = _emit(inl, f"{name}/body_arg_{k}", "Identity", [_tensor(sw.name, 1)],
                          self.types[k])
            body_args[k] = _tensor(ident.name)
            exits[k] = _tensor(sw.name, 0)
        start = len(inl.nodes)
        results = _inline(inl, self.body, f"{name}/body/", body_args, self.depth)
        _pin(inl, start, body_args[next(iter(merges))].node)
        if len(results) < n:
            msg = f"the body of {name} returns {len(results)} values for {n} loop variables"
            raise Fallback(msg)
        out = list(self.inputs)
        for k, nxt in nexts.items():
            value = results[k]
            if _is_var(value):
                msg = f"the body of {name} returns resource variable {value.name}"
                raise Fallback(msg)
            nxt.input.append(value.ref())
            inl.nodes.append(nxt)
            ex = _emit(inl, f"{name}/exit_{k}", "Exit", [exits[k]], self.types[k])
            out[k] = _tensor(ex.name)
        return out


# --- frozen graphs TensorFlow lowered: _SwitchN (a Case) -----------------------------------------


def _switch_n_groups(graph: Graph) -> dict[Port, list[str]]:
    """``_SwitchN`` nodes grouped by their branch index port (one group per lowered Case)."""
    groups: dict[Port, list[str]] = {}
    for op in graph.ops_of_type("_SwitchN"):
        groups.setdefault(graph.inputs(op.name)[1], []).append(op.name)
    return groups


def _case_merges(graph: Graph, switches: list[str], n: int) -> list[str]:
    """The Merges of ``n`` inputs the Case's branches end in (first ones reached forward)."""
    seen, work, merges = set(switches), list(switches), []
    while work:
        for consumer, _ in graph.consumers(work.pop()):
            if consumer in seen:
                continue
            seen.add(consumer)
            op = graph.op(consumer)
            if op.type in ("Merge", "RefMerge") and len(graph.inputs(consumer)) == n:
                merges.append(consumer)
            else:
                work.append(consumer)
    return sorted(merges)


def lower_switch_n(graph: Graph) -> int:
    """TensorFlow's lowering of a Case (``_SwitchN(data, index)`` -> branch k -> ``Merge`` of N
    inputs) rewritten as a chain of two-way conds on ``Equal(index, k)`` (the last branch is
    the default, as in TF), which the Switch/Merge translators handle; returns how many Cases."""
    done = 0
    for index, switches in sorted(_switch_n_groups(graph).items(), key=lambda kv: kv[1][0]):
        n = int(graph.op(switches[0]).attrs.get("num_outs", 0))
        if any(int(graph.op(s).attrs.get("num_outs", 0)) != n for s in switches) or n < 1:
            continue
        base = switches[0].rsplit("/", 1)[0] if "/" in switches[0] else switches[0]
        preds = []
        for k in range(n - 1):
            const = graph.add_op("Const", graph.unique_name(f"{base}/case_index_{k}"),
                                 attrs={"value": np.array(k, np.int32), "dtype": np.dtype(np.int32)})
            const.outputs[0].shape, const.outputs[0].dtype = (), np.dtype(np.int32)
            eq = graph.add_op("Equal", graph.unique_name(f"{base}/case_is_{k}"),
                              [index, Port(const.name, 0)], {"T": np.dtype(np.int32)})
            eq.outputs[0].shape, eq.outputs[0].dtype = (), np.dtype(bool)
            preds.append(Port(eq.name, 0))
        merges = _case_merges(graph, switches, n)
        for name in switches:
            data = graph.inputs(name)[0]
            outs: list[Port] = []
            for k, pred in enumerate(preds):
                sw = graph.add_op("Switch", graph.unique_name(f"{name}/case_{k}"), [data, pred],
                                  num_outputs=2)
                outs.append(Port(sw.name, 1))
                data = Port(sw.name, 0)
            outs.append(data)
            for k, port in enumerate(outs[:len(graph.op(name).outputs)]):
                graph.replace_uses(Port(name, k), port)
            graph.remove(name)
        for name in merges:
            ins = graph.inputs(name)
            acc = ins[-1]
            for k in range(n - 2, 0, -1):
                m = graph.add_op("Merge", graph.unique_name(f"{name}/case_{k}"), [acc, ins[k]],
                                 num_outputs=2)
                acc = Port(m.name, 0)
            graph.set_inputs(name, [acc, ins[0]] if n > 1 else [acc])
        done += 1
    return done


@graph_pass("tf_frontend.lower_switch_n", stage="source",
            before=["tf_frontend.collapse_while_loops", "tf_frontend.unify_cond_branches",
                    "cleanup.remove_dead_source"])
def lower_switch_n_pass(graph: Graph, config) -> None:
    """A Case TensorFlow lowered when freezing (``_SwitchN`` + N-input Merges) becomes a chain
    of two-way Switch/Merge conds."""
    n = lower_switch_n(graph)
    if n:
        log.info("lowered %d TensorFlow _SwitchN case(s) to two-way conds", n)
