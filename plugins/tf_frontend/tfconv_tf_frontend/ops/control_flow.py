"""TF1 control flow: while loops (unrolled, or an OpenVINO Loop), TensorArrays (symbolic) and
conds (Switch/Merge: pruned, Select, or an OpenVINO If).

* ``TfconvWhileLoop`` is the node ``tf_frontend.collapse_while_loops`` makes of a TF1 while
  frame (its contract: ``control_flow.py``). A recognised recurrent cell becomes Sequence ops
  (``recurrent.py``). Else it is unrolled: the condition is translated with constant folding;
  while it folds to True the body is translated once more (same op table, fresh names) and the
  loop variables advance; when it folds to False the loop's outputs are the current values. A
  condition that does not fold, or more than :data:`MAX_UNROLL` iterations, gives one Loop
  (opset5, :func:`_emit_loop`): the body translated into its own IR graph
  (``NodeContext.body_builder``), loop-invariant work outside, TensorArrays written at the
  iteration number as concatenated outputs.
* TensorArrays live at translation time only: the handle and flow outputs are tiny constants
  that end up dead, keyed to a :class:`_TensorArray` holding the element ports (or the one
  tensor whose rows they are). Unrolled loops make every index constant; in a Loop body an
  array is a proxy of the outer one (``parent``) that brings outer ports in (``importer``) and
  records the iteration's writes.
* Switch/Merge outside loops: a predicate that folds prunes the untaken branch (its tensors
  are dead, and a Merge takes its live input); a computed predicate gives
  ``Select(pred, true, false)`` when both branches' results have the same shape, else an
  If (opset8) holding each branch's IR ops (:func:`emit_if`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from tfconv.graph import Port

from . import TABLE, recurrent, tensor_list
from ._util import ints

if TYPE_CHECKING:
    from tfconv.translate import NodeContext, Outputs

MAX_UNROLL = 256  # iterations a TF1 while loop may be unrolled into


# --- while loops ---------------------------------------------------------------------------------


def _condition_text(ctx: NodeContext, body, cond: Port) -> str:
    """The loop condition in the model's own tensor names: ``Less(i, Cast:0)``."""
    n = int(ctx.attr("num_vars"))
    outer = ctx.src.inputs(ctx.name)
    label = {}
    for k, name in enumerate(ctx.attr("placeholders")):
        label[name] = f"loop variable {k} (from {outer[k]})" if k < n else str(outer[k])
    ins = body.inputs(cond.node)
    if not ins:
        return str(cond)
    args = ", ".join(label.get(p.node, str(p)) for p in ins)
    return f"{cond.node} = {body.op(cond.node).type}({args})"


# Body ops translated afresh in every iteration even when their inputs do not change: each
# TensorArray they create is a new array.
FRESH_PREFIXES = ("TensorArrayV", "Random", "Stateless")


def _variant_nodes(body, var_names: list[str]) -> set[str]:
    """Body nodes whose value can change from one iteration to the next: those fed by a loop
    variable, or by an op that must be translated afresh. The rest is translated once."""
    seeds = list(var_names) + [op.name for op in body if op.type.startswith(FRESH_PREFIXES)]
    seen = set(seeds)
    while seeds:
        for consumer, _ in body.consumers(seeds.pop()):
            if consumer not in seen:
                seen.add(consumer)
                seeds.append(consumer)
    return seen


@TABLE.register("TfconvWhileLoop")
def while_loop(ctx: NodeContext) -> Outputs:
    sequence = recurrent.recognise(ctx)  # a recognised RNN cell: one Sequence op per layer
    if sequence is not None:
        return sequence
    body = ctx.attr("body")
    n = int(ctx.attr("num_vars"))
    frame = ctx.attr("frame_name")
    names = list(ctx.attr("placeholders"))
    ctx.attr("loop_cond")
    inputs = ctx.inputs()
    values = inputs[:n]
    invariant = {Port(name, 0): port for name, port in zip(names[n:], inputs[n:])}
    cond_port, next_ports = body.outputs[0], body.outputs[1:]
    variant = _variant_nodes(body, names[:n])
    hoisted: dict[Port, Port] = {}  # translations of loop-invariant body nodes, made once
    saved = _snapshot(_arrays(ctx))  # unrolling writes to the arrays; a Loop starts afresh
    for iteration in range(MAX_UNROLL + 1):
        feeds = {**invariant, **{Port(name, 0): v for name, v in zip(names[:n], values)}}
        cache: dict[Port, Port] = dict(hoisted)
        (cond,) = ctx.translate_subgraph(body, feeds, [cond_port], cache)
        go = ctx.value(cond)
        if go is None or iteration == MAX_UNROLL:
            # a trip count known only at run time, or too many iterations to unroll
            ctx.builder.state["tensor_arrays"] = saved
            return _emit_loop(ctx, body, n, names, inputs, variant)
        if not bool(np.asarray(go).reshape(-1)[0]):
            return values
        values = ctx.translate_subgraph(body, feeds, next_ports, cache)
        hoisted = {p: q for p, q in cache.items() if p.node not in variant and p not in feeds}
    raise AssertionError  # unreachable: the last iteration emits a Loop


# --- while loops as an OpenVINO Loop -------------------------------------------------------------


def _frontier(body, variant: set[str]) -> list[Port]:
    """Loop-invariant body ports the loop needs: read by a variant node, or a body output.
    They are translated once, outside the Loop, and enter it as invariant inputs."""
    out: dict[Port, None] = {}
    for op in body:
        if op.name not in variant:
            continue
        for p in body.inputs(op.name):
            if p.node not in variant:
                out[p] = None
    for p in body.outputs:
        if p.node not in variant:
            out[p] = None
    return list(out)


def _source_counters(ctx: NodeContext, body, n: int, names: list[str],
                     inputs: list[Port]) -> dict[int, int]:
    """Loop variables (by number) that start at an integer constant and whose next value is
    the variable plus 1 in the source body: ``{k: start}``."""

    def skip_identity(p: Port) -> Port:
        while body.op(p.node).type in ("Identity", "Snapshot"):
            p = body.inputs(p.node)[0]
        return p

    out = {}
    for k in range(n):
        start = ctx.value(inputs[k])
        if start is None or start.size != 1 or start.dtype.kind not in "iu":
            continue
        nxt = skip_identity(body.outputs[1 + k])
        if body.op(nxt.node).type not in ("Add", "AddV2"):
            continue
        a, b = (skip_identity(p) for p in body.inputs(nxt.node))
        var = Port(names[k], 0)
        other = b if a == var else a if b == var else None
        value = None
        if other is not None and other.node in names:  # a constant from outside the loop
            value = ctx.value(inputs[names.index(other.node)])
        elif other is not None:
            value = body.op(other.node).value
        if value is not None and np.asarray(value).size == 1 and \
                int(np.asarray(value).reshape(-1)[0]) == 1:
            out[k] = int(start.reshape(-1)[0])
    return out


def _counters(bb, params: list[Port], nexts: list[Port], starts: list) -> dict[Port, int]:
    """Loop variables that start at a constant and grow by one each iteration, by their body
    Parameter: the value is ``start + current iteration``."""
    out = {}
    g = bb.graph
    for param, nxt, start in zip(params, nexts, starts):
        if start is None or np.asarray(start).size != 1 or np.asarray(start).dtype.kind not in "iu":
            continue
        op = g.op(nxt.node)
        ins = g.inputs(nxt.node) if op.type == "Add" else []
        if len(ins) == 2 and param in ins:
            step = bb.value(ins[1] if ins[0] == param else ins[0])
            if step is not None and step.size == 1 and int(step.reshape(-1)[0]) == 1:
                out[param] = int(np.asarray(start).reshape(-1)[0])
    return out


class _LoopBody:
    """The body of one OpenVINO Loop being built: its graph, Parameters and Loop inputs."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.bb = ctx.body_builder(f"{ctx.name}/body")
        self.graph = self.bb.graph
        self.outer: list[Port] = []          # Loop inputs 2..
        self.params: list[str] = []          # their body Parameters
        self.axes: dict[str, int] = {}       # sliced inputs: Parameter -> axis
        self.imported: dict[Port, Port] = {}
        self.sliced: dict[Port, Port] = {}

    def parameter(self, outer: Port | None, label: str, shape, dtype) -> Port:
        name = self.graph.unique_name(f"{self.ctx.name}/body/{label}")
        op = self.graph.add_op("Parameter", name, (), {
            "shape": None if shape is None else tuple(shape), "element_type": np.dtype(dtype)})
        op.outputs[0].shape = None if shape is None else tuple(shape)
        op.outputs[0].dtype = np.dtype(dtype)
        if outer is not None:
            self.outer.append(outer)
            self.params.append(name)
        return Port(name, 0)

    def take(self, outer: Port) -> Port:
        """An outer IR port inside the body: a constant is copied, anything else becomes an
        invariant input (once per port)."""
        if outer in self.imported:
            return self.imported[outer]
        value = self.ctx.value(outer)
        if value is not None:
            port = self.bb.const(value, f"{self.ctx.name}/body/{outer.node}")
        else:
            info = self.ctx.builder.graph.info(outer)
            port = self.parameter(outer, "invariant", info.shape, info.dtype)
            partial = self.ctx.builder.partial_value(outer)
            if partial is not None:
                self.bb.partial[port] = partial
        self.imported[outer] = port
        return port

    def slice(self, outer: Port) -> Port:
        """Row ``i`` of an outer tensor in iteration ``i``: a sliced input (axis 0, one row per
        iteration), squeezed."""
        if outer not in self.sliced:
            info = self.ctx.builder.graph.info(outer)
            shape = None if info.shape is None else (1, *info.shape[1:])
            param = self.parameter(outer, "slice", shape, info.dtype)
            self.axes[param.node] = 0
            axis = self.bb.const(np.array([0], np.int64), f"{self.ctx.name}/body/slice_axis")
            self.sliced[outer] = self.bb.emit("Squeeze", [param, axis], f"{param.node}/row")[0]
        return self.sliced[outer]

    def result(self, port: Port, label: str) -> str:
        name = self.graph.unique_name(f"{self.ctx.name}/body/{label}/result")
        self.graph.add_op("Result", name, [port], {})
        self.graph.outputs.append(Port(name, 0))
        return name


def _trip_count(ctx: NodeContext, lb: _LoopBody, cond: Port, next_ports: list[Port],
                counters: dict[Port, int], params: list[Port]) -> Port:
    """The Loop's trip count: ``bound - start`` when the condition is (a conjunction holding)
    ``counter < bound`` with ``bound`` loop-invariant, else -1 (the condition alone decides).
    A known bound lets OpenVINO size the concatenated outputs once (200 LSTM steps: a median
    of 5.6 ms against 6.6 ms with -1)."""
    g = lb.graph
    work = [cond]
    while work:
        port = work.pop()
        op = g.op(port.node)
        ins = g.inputs(port.node)
        if op.type == "LogicalAnd":
            work.extend(ins)
            continue
        if op.type != "Less" or ins[0] not in next_ports:
            continue
        param = params[next_ports.index(ins[0])]
        if param not in counters:
            continue
        bound = ins[1]
        value = lb.bb.value(bound)
        if value is not None and value.size == 1:
            outer = ctx.const(value.reshape(()).astype(np.int64), name="bound")
        elif g.op(bound.node).type == "Parameter" and bound.node in lb.params:
            outer = lb.outer[lb.params.index(bound.node)]
            if ctx.shape(outer) != ():
                continue
            if ctx.dtype(outer) != np.int64:
                outer = ctx.emit("Convert", outer, destination_type="int64", name="bound")
        else:
            continue
        left = outer
        if counters[param]:
            start = ctx.const(np.array(counters[param], np.int64), name="start")
            left = ctx.emit("Subtract", outer, start, name="iterations")
        return ctx.emit("Maximum", left, ctx.const(np.array(0, np.int64), name="none"),  # type: ignore[return-value]
                        name="trip_count")
    return ctx.const(np.array(-1, np.int64), name="trip_count")


def _emit_loop(ctx: NodeContext, body, n: int, names: list[str], inputs: list[Port],
               variant: set[str]) -> list[Port]:
    """The loop as one OpenVINO Loop (opset5): trip count -1 and the condition on the initial
    values outside; in the body the next values, then the condition on them (the next
    iteration's execution condition). Loop-invariant work is translated outside and enters as
    invariant inputs; a TensorArray written at the iteration number is a concatenated output."""
    arrays = _arrays(ctx)
    flows = {ta.flow for ta in arrays.values() if ta.flow is not None}
    feeds0 = {Port(name, 0): port for name, port in zip(names, inputs)}
    (cond0,) = ctx.translate_subgraph(body, feeds0, [body.outputs[0]], {})
    frontier = _frontier(body, variant)
    invariant_feeds = {Port(name, 0): port for name, port in zip(names[n:], inputs[n:])}
    outer_frontier = ctx.translate_subgraph(body, invariant_feeds, frontier, {})
    shapes = [ctx.shape(p) for p in inputs[:n]]
    for _attempt in range(3):  # a variable whose shape changes in the body gets dynamic dims
        built = _build_body(ctx, body, n, names, inputs, frontier, outer_frontier, shapes, flows)
        lb, next_ports = built[0], built[1]
        widened = [s if k in built[2] else _widen(s, lb.graph.info(p).shape)
                   for k, (s, p) in enumerate(zip(shapes, next_ports))]
        if widened == shapes:
            break
        shapes = widened
    else:
        ctx.fail("a loop variable's shape keeps changing from one iteration to the next")
    return _finish_loop(ctx, built, n, inputs, cond0)


def _widen(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def _build_body(ctx, body, n, names, inputs, frontier, outer_frontier, shapes, flows):
    counters = _source_counters(ctx, body, n, names, inputs)
    lb = _LoopBody(ctx)
    bb = lb.bb
    body_arrays: dict[str, _TensorArray] = bb.state.setdefault("tensor_arrays", {})  # type: ignore[assignment]
    outer_arrays = _arrays(ctx)
    mapped: dict[Port, Port] = {}
    for p, q in zip(frontier, outer_frontier):
        ta = outer_arrays.get(q.node)
        if ta is not None:  # a TensorArray handle: the body sees the array through a proxy
            handle = bb.const(np.zeros((), np.int32), f"{ctx.name}/body/handle")
            body_arrays[handle.node] = _TensorArray(
                ta.name, ta.size, ta.dtype, ta.element_shape, ta.dynamic_size,
                flow=bb.const(np.zeros((), np.float32), f"{ctx.name}/body/flow"),
                parent=ta, importer=lb.take, slicer=lb.slice, writes=[])
            mapped[p] = handle
        elif tensor_list.is_list(ctx, q):  # a TF2 TensorList read in the loop
            mapped[p] = tensor_list.loop_invariant(ctx, lb, q)
        else:
            mapped[p] = lb.take(q)
    params: list[Port] = []
    flow_vars: set[int] = set()
    for k in range(n):
        if inputs[k] in flows:  # a TensorArray's flow: only orders TF's array ops
            flow_vars.add(k)
            params.append(bb.const(np.zeros((), np.float32), f"{ctx.name}/body/flow"))
        elif tensor_list.is_list(ctx, inputs[k]):  # a TF2 TensorList the loop fills
            flow_vars.add(k)
            params.append(tensor_list.loop_accumulator(ctx, lb, inputs[k]))
        else:
            info = ctx.builder.graph.info(inputs[k])
            params.append(lb.parameter(inputs[k], f"var_{k}", shapes[k], info.dtype))
    bb.state["loop_counters"] = {params[k]: start for k, start in counters.items()}
    feeds = {**mapped, **{Port(name, 0): p for name, p in zip(names[:n], params)}}
    next_ports = ctx.translate_subgraph(body, feeds, body.outputs[1:], {}, builder=bb)
    cond_feeds = {**mapped, **{Port(name, 0): p for name, p in zip(names[:n], next_ports)}}
    (cond,) = ctx.translate_subgraph(body, cond_feeds, [body.outputs[0]], {}, builder=bb)
    return lb, next_ports, flow_vars, params, cond, body_arrays


def _finish_loop(ctx, built, n, inputs, cond0) -> list[Port]:
    lb, next_ports, flow_vars, params, cond, body_arrays = built
    bb, g = lb.bb, lb.graph
    starts = [ctx.value(p) for p in inputs[:n]]
    counters = _counters(bb, params, next_ports, starts)
    outputs: list[tuple[str, int | None]] = []
    back_edges: list[tuple[str, str]] = []
    for k in range(n):
        if k in flow_vars:
            continue
        result = lb.result(next_ports[k], f"var_{k}")
        outputs.append((result, None))
        back_edges.append((result, params[k].node))
    concat: list[tuple[_TensorArray, int]] = []
    for ta in body_arrays.values():
        if not ta.writes:
            continue
        ctx.require(len(ta.writes) == 1, f"the TensorArray {ta.name!r} is written more than once "
                    "per iteration of a loop whose trip count is known only at run time")
        index, value = ta.writes[0]
        ctx.require(counters.get(index) == 0, f"the TensorArray {ta.name!r} is written inside a "
                    "loop whose trip count is known only at run time at an index that is not "
                    "the iteration number (a loop variable counting from 0 by 1)")
        ctx.require(ta.parent is not None and not ta.parent.elements,
                    f"the TensorArray {ta.name!r} is written both before and inside a loop")
        row = bb.emit("Unsqueeze", [value, bb.const(np.array([0], np.int64),
                                                     f"{ctx.name}/body/axes")],
                      f"{ctx.name}/body/{ta.name}/row")[0]
        concat.append((ta.parent, len(outputs)))  # type: ignore[arg-type]
        outputs.append((lb.result(row, f"{ta.name}/rows"), 0))
    list_outs = {}  # TF2 TensorLists the body writes: Loop outputs (ops/tensor_list.py)
    for k in sorted(flow_vars):
        writes = tensor_list.loop_outputs(ctx, lb, next_ports[k], counters)
        if writes is not None:
            list_outs[k] = (writes, len(outputs))
            outputs.extend((lb.result(p, f"var_{k}/list"), axis) for p, axis in writes.ports)
    condition = lb.result(cond, "condition")
    g.remove_dead(keep=[name for name in lb.params])
    for name in list(lb.params):  # invariant inputs nothing in the body reads
        if not g.consumers(Port(name, 0)) and name not in {p.node for p in params}:
            i = lb.params.index(name)
            del lb.params[i], lb.outer[i]
            g.remove(name)
    g.meta["inputs"] = list(lb.params)
    trip = _trip_count(ctx, lb, cond, next_ports, counters, params)
    go = cond0 if ctx.dtype(cond0) == np.bool_ else \
        ctx.emit("Convert", cond0, destination_type="boolean", name="execution_condition")
    loop = ctx.emit("Loop", trip, go, *lb.outer, outputs=len(outputs), name="",
                    _body=g, _inputs=[(name, lb.axes.get(name)) for name in lb.params],
                    _outputs=outputs,
                    _back_edges=back_edges, _current_iteration=None, _condition=condition)
    ports = [loop] if isinstance(loop, Port) else list(loop)
    for ta, j in concat:
        ta.scattered, ta.size, ta.size_port = ports[j], None, None
    values, j = [], 0
    for k in range(n):
        if k in list_outs:
            writes, first = list_outs[k]
            values.append(tensor_list.after_loop(ctx, inputs[k], writes,
                                                 ports[first:first + len(writes.ports)]))
        elif k in flow_vars:
            values.append(inputs[k])
        else:
            values.append(ports[j])
            j += 1
    return values


# --- TensorArrays ---------------------------------------------------------------------------------


@dataclass
class _TensorArray:
    name: str
    size: int | None
    dtype: np.dtype
    element_shape: tuple | None
    dynamic_size: bool = False
    elements: dict[int, Port] = field(default_factory=dict)
    scattered: Port | None = None       # every element is a row of this tensor
    flow: Port | None = None
    size_port: Port | None = None       # the size given at run time (when not a constant)
    # Inside the body of an OpenVINO Loop: the outer array this one stands for, the function
    # that brings an outer port into the body, and the (index, value) writes of one iteration.
    parent: _TensorArray | None = None
    importer: Callable[[Port], Port] | None = field(default=None, repr=False)
    slicer: Callable[[Port], Port] | None = field(default=None, repr=False)
    writes: list[tuple[Port, Port]] | None = None


def _snapshot(arrays: dict[str, _TensorArray]) -> dict[str, _TensorArray]:
    return {k: replace(ta, elements=dict(ta.elements),
                       writes=None if ta.writes is None else list(ta.writes))
            for k, ta in arrays.items()}


def _scattered(ta: _TensorArray) -> Port | None:
    """The tensor whose rows are the elements; in a Loop body, the outer one brought in."""
    if ta.scattered is None and ta.parent is not None and ta.importer is not None:
        outer = _scattered(ta.parent)
        if outer is not None and not ta.parent.elements:
            ta.scattered = ta.importer(outer)
    return ta.scattered


def _arrays(ctx: NodeContext) -> dict[str, _TensorArray]:
    return ctx.builder.state.setdefault("tensor_arrays", {})  # type: ignore[return-value]


def _array(ctx: NodeContext) -> _TensorArray:
    handle = ctx.input(0)
    ta = _arrays(ctx).get(handle.node)
    if ta is None:
        ctx.fail(f"input 0 ({handle.node!r}) is not a TensorArray handle tfconv can follow")
    return ta  # type: ignore[return-value]


def _index(ctx: NodeContext, i: int, what: str = "index") -> list[int] | None:
    v = ctx.value(i)
    return None if v is None else [int(x) for x in np.asarray(v).reshape(-1)]


def _element_shape(ctx: NodeContext) -> tuple | None:
    shape = ctx.attr("element_shape", None)
    if shape is None:
        return None
    shape = tuple(shape)
    return shape


@TABLE.register("TensorArrayV3", "TensorArrayV2", inputs=1)
def tensor_array(ctx: NodeContext) -> Outputs:
    size = _index(ctx, 0)
    dynamic = bool(ctx.attr("dynamic_size", False))
    ctx.attr("clear_after_read", True)
    ctx.attr("identical_element_shapes", False)
    ctx.attr("tensor_array_name", "")
    dtype = np.dtype(ctx.attr("dtype"))
    handle = ctx.const(np.zeros((), np.int32), name="handle")
    flow = ctx.const(np.zeros((), np.float32), name="flow")
    _arrays(ctx)[handle.node] = _TensorArray(ctx.name, None if size is None else size[0], dtype,
                                             _element_shape(ctx), dynamic, flow=flow,
                                             size_port=None if size is not None else ctx.input(0))
    return (handle, flow) if ctx.op_type == "TensorArrayV3" else handle


def _flow(ctx: NodeContext, ta: _TensorArray) -> Port:
    return ta.flow if ta.flow is not None else ctx.const(np.zeros((), np.float32), name="flow")


def _put(ctx: NodeContext, ta: _TensorArray, index: int, value: Port) -> None:
    if ta.size is not None and index >= ta.size:
        if not ta.dynamic_size:
            ctx.fail(f"index {index} is out of the TensorArray's size {ta.size}")
        ta.size = index + 1
    ta.elements[index] = value


def _get(ctx: NodeContext, ta: _TensorArray, index: int, zeros: bool = False) -> Port:
    if index in ta.elements:
        return ta.elements[index]
    if ta.parent is not None and ta.importer is not None and index in ta.parent.elements:
        return ta.importer(_get(ctx, ta.parent, index))
    if _scattered(ta) is not None:
        return ctx.emit("Gather", ta.scattered, ctx.const(np.array(index, np.int64), name="index"),
                        ints(ctx, 0, "axis"), name=f"Gather_{index}", batch_dims=0)
    if zeros:  # TF's gather/stack gives zeros for elements never written, when their shape is known
        shapes = [ctx.shape(p) for p in ta.elements.values()] + [ta.element_shape]
        shape = next((s for s in shapes if s is not None and all(d is not None for d in s)), None)
        if shape is not None:
            return ctx.const(np.zeros(shape, ta.dtype), name=f"unwritten_{index}")
    ctx.fail(f"element {index} of the TensorArray {ta.name!r} is read before it is written")
    raise AssertionError  # unreachable


@TABLE.register("TensorArrayWriteV3", "TensorArrayWriteV2", inputs=4)
def tensor_array_write(ctx: NodeContext) -> Outputs:
    ta = _array(ctx)
    index = _index(ctx, 1)
    if index is None and ta.writes is not None:  # in a Loop body: a row of a Loop output
        ta.writes.append((ctx.input(1), ctx.input(2)))
        return _flow(ctx, ta)
    ctx.require(index is not None, "the write index must be known at conversion time (a TF1 "
                "loop whose trip count folds to a constant gives one)")
    _put(ctx, ta, index[0], ctx.input(2))  # type: ignore[index]
    return _flow(ctx, ta)


@TABLE.register("TensorArrayReadV3", "TensorArrayReadV2", inputs=3)
def tensor_array_read(ctx: NodeContext) -> Outputs:
    ta = _array(ctx)
    ctx.attr("dtype", None)
    index = _index(ctx, 1)
    if index is None:
        counters = ctx.builder.state.get("loop_counters", {})
        if ta.slicer is not None and ta.parent is not None and not ta.elements and \
                counters.get(ctx.input(1)) == 0 and _scattered(ta.parent) is not None and \
                not ta.parent.elements:  # type: ignore[union-attr]
            return ta.slicer(ta.parent.scattered)  # type: ignore[arg-type]  # a sliced input
        ctx.require(_scattered(ta) is not None and not ta.elements,
                    "a TensorArray read at an index not known at conversion time needs an array "
                    "scattered (unstacked) from one tensor")
        idx = ctx.emit("Convert", ctx.input(1), destination_type="int64")
        return ctx.emit("Gather", ta.scattered, idx, ints(ctx, 0, "axis"), batch_dims=0)
    return _get(ctx, ta, index[0])


@TABLE.register("TensorArrayScatterV3", "TensorArrayScatterV2", inputs=4)
def tensor_array_scatter(ctx: NodeContext) -> Outputs:
    ta = _array(ctx)
    value = ctx.input(2)
    indices = _index(ctx, 1)
    rows = (ctx.shape(value) or [None])[0]
    if indices is None or indices == list(range(len(indices))) and rows == len(indices):
        ta.scattered = value  # unstack: element i is row i
        if indices is not None:
            ta.size = max(ta.size or 0, len(indices))
        elif rows is not None:
            ta.size = max(ta.size or 0, rows)
        return _flow(ctx, ta)
    for j, i in enumerate(indices):
        row = ctx.emit("Gather", value, ctx.const(np.array(j, np.int64), name="row"),
                       ints(ctx, 0, "axis"), name=f"Gather_{j}", batch_dims=0)
        _put(ctx, ta, i, row)
    return _flow(ctx, ta)


def _stack(ctx: NodeContext, ta: _TensorArray, indices: list[int]) -> Port:
    if not indices:
        shape = ta.element_shape
        ctx.require(shape is not None and all(d is not None and d >= 0 for d in shape),
                    "gathering an empty TensorArray needs a known element shape")
        return ctx.const(np.zeros((0, *shape), ta.dtype), name="empty")  # type: ignore[misc]
    if _scattered(ta) is not None and not ta.elements:
        if indices == list(range((ctx.shape(ta.scattered) or [None])[0] or -1)):
            return ta.scattered  # type: ignore[return-value]
        # rows of one tensor (a Loop's concatenated output): one Gather
        return ctx.emit("Gather", ta.scattered, ctx.const(np.array(indices, np.int64), name="rows"),
                        ints(ctx, 0, "axis"), batch_dims=0)
    rows = [ctx.emit("Unsqueeze", _get(ctx, ta, i, zeros=True), ints(ctx, [0], "axes"),
                     name=f"Unsqueeze_{i}")
            for i in indices]
    return rows[0] if len(rows) == 1 else ctx.emit("Concat", *rows, axis=0)


@TABLE.register("TensorArrayGatherV3", "TensorArrayGatherV2", inputs=3)
def tensor_array_gather(ctx: NodeContext) -> Outputs:
    ta = _array(ctx)
    ctx.attr("dtype", None)
    indices = _index(ctx, 1)
    if indices is None:  # a run-time index list: rows of the array's one tensor
        ctx.require(_scattered(ta) is not None and not ta.elements,
                    "a TensorArray gathered at indices not known at conversion time needs an "
                    "array scattered from one tensor or written by an OpenVINO Loop")
        element = _element_shape(ctx) or ta.element_shape
        if _every_row(ctx, ctx.input(1), ta.scattered):  # type: ignore[arg-type]
            out = ta.scattered  # stack(): gather(range(0, size()))
        else:
            idx = ctx.emit("Convert", ctx.input(1), destination_type="int64")
            out = ctx.emit("Gather", ta.scattered, idx, ints(ctx, 0, "axis"), batch_dims=0)
        _refine(ctx, out, None if element is None else (None, *element))  # type: ignore[arg-type]
        return out  # type: ignore[return-value]
    out = _stack(ctx, ta, indices)  # type: ignore[arg-type]
    element = _element_shape(ctx) or ta.element_shape
    _refine(ctx, out, None if element is None else (len(indices), *element))  # type: ignore[arg-type]
    return out


def _every_row(ctx: NodeContext, indices: Port, rows_of: Port) -> bool:
    """Whether ``indices`` is ``Range(0, n, 1)`` with ``n`` the row count of ``rows_of`` that
    :func:`tensor_array_size` gave."""
    g = ctx.builder.graph

    def through_convert(p: Port) -> Port:
        while g.op(p.node).type == "Convert":
            p = g.inputs(p.node)[0]
        return p

    indices = through_convert(indices)
    if g.op(indices.node).type != "Range":
        return False
    start, stop, step = g.inputs(indices.node)
    lengths = ctx.builder.state.get("array_lengths", {})
    return _is(ctx, start, 0) and _is(ctx, step, 1) and \
        lengths.get(through_convert(stop)) == rows_of  # type: ignore[union-attr]


def _is(ctx: NodeContext, port: Port, number: int) -> bool:
    v = ctx.value(port)
    return v is not None and v.size == 1 and int(v.reshape(-1)[0]) == number


def _refine(ctx: NodeContext, port: Port, shape: tuple | None) -> None:
    """Fill unknown dims of ``port``'s inferred shape from the shape TF guarantees (the
    TensorArray's element shape, which TF checks at run time)."""
    if shape is None:
        return
    info = ctx.builder.graph.info(port)
    if info.shape is None:
        info.shape = tuple(shape)
    elif len(info.shape) == len(shape):
        info.shape = tuple(a if a is not None else b for a, b in zip(info.shape, shape))


@TABLE.register("TensorArraySizeV3", "TensorArraySizeV2", inputs=2)
def tensor_array_size(ctx: NodeContext) -> Outputs:
    ta = _array(ctx)
    if ta.size is None and not ta.elements:
        if ta.size_port is None and ta.parent is not None and ta.importer is not None and \
                ta.parent.size is None and ta.parent.size_port is not None:
            ta.size_port = ta.importer(ta.parent.size_port)
        if ta.size_port is not None and _scattered(ta) is None:
            return ctx.emit("Convert", ta.size_port, destination_type="int32")
        if ta.parent is not None and ta.parent.size is not None:
            return ctx.const(np.array(ta.parent.size, np.int32), name="size")
        if _scattered(ta) is not None:  # its rows: a Loop's concatenated output
            rows = ctx.emit("Gather", ctx.emit("ShapeOf", ta.scattered, output_type="int32"),
                            ints(ctx, 0, "index"), ints(ctx, 0, "axis"), batch_dims=0)
            ctx.builder.state.setdefault("array_lengths", {})[rows] = ta.scattered  # type: ignore[index]
            return rows
    size = ta.size if ta.size is not None else (max(ta.elements) + 1 if ta.elements else 0)
    return ctx.const(np.array(size, np.int32), name="size")


@TABLE.register("TensorArrayConcatV3", "TensorArrayConcatV2", inputs=2)
def tensor_array_concat(ctx: NodeContext) -> Outputs:
    ta = _array(ctx)
    ctx.attr("dtype", None)
    ctx.attr("element_shape_except0", None)
    size = ta.size if ta.size is not None else (max(ta.elements) + 1 if ta.elements else 0)
    parts = [_get(ctx, ta, i) for i in range(size)]
    ctx.require(parts, "concatenating an empty TensorArray is not supported")
    lengths = [(ctx.shape(p) or [None])[0] for p in parts]
    ctx.require(all(n is not None for n in lengths),
                "the TensorArray's elements need a static first dimension to concatenate")
    value = parts[0] if len(parts) == 1 else ctx.emit("Concat", *parts, axis=0)
    return value, ctx.const(np.array(lengths, np.int64), name="lengths")


@TABLE.register("TensorArraySplitV3", "TensorArraySplitV2", inputs=4)
def tensor_array_split(ctx: NodeContext) -> Outputs:
    ta = _array(ctx)
    lengths = _index(ctx, 2)
    ctx.require(lengths is not None, "the split lengths must be known at conversion time")
    value = ctx.input(1)
    start = 0
    for i, n in enumerate(lengths):  # type: ignore[arg-type]
        piece = ctx.emit("StridedSlice", value, ints(ctx, [start], "begin"),
                         ints(ctx, [start + n], "end"), ints(ctx, [1], "strides"),
                         name=f"Slice_{i}", begin_mask=[0], end_mask=[0], new_axis_mask=[0],
                         shrink_axis_mask=[0], ellipsis_mask=[0])
        _put(ctx, ta, i, piece)
        start += n
    return _flow(ctx, ta)


@TABLE.register("TensorArrayCloseV3", "TensorArrayCloseV2", inputs=1)
def tensor_array_close(ctx: NodeContext) -> Outputs:
    return ()


# --- conds: Switch / Merge ------------------------------------------------------------------------


@TABLE.register("Switch", "RefSwitch", inputs=2)
def switch(ctx: NodeContext) -> Outputs:
    """``(false side, true side)``: both forward the data; a constant predicate kills one.
    With a computed predicate each side is marked ``(predicate, side)`` for the Merge."""
    data = ctx.input(0)
    pred = ctx.value(1)
    if pred is not None:
        taken = int(bool(np.asarray(pred).reshape(-1)[0]))
        dead = ctx.builder.dead_port()
        return (data, dead) if taken == 0 else (dead, data)
    key = ctx.src.inputs(ctx.name)[1]  # the cond: every Switch of one cond reads its pred_id
    ctx.builder.state.setdefault("cond_preds", {})[key] = ctx.input(1)  # type: ignore[index]
    # what the cond's branches read from outside: where an If's branch bodies begin
    ctx.builder.state.setdefault("cond_inputs", {}).setdefault(key, set()).add(data)  # type: ignore[union-attr]
    tags = ctx.builder.tags
    mine = tuple(t for t in tags.get(Port(ctx.name, 0), ()) if t[0] != key)
    tags[Port(ctx.name, 0)] = (*mine, (key, 0))
    tags[Port(ctx.name, 1)] = (*mine, (key, 1))
    return data, data


@TABLE.register("Merge", "RefMerge", min_inputs=1, sees_dead=True)
def merge(ctx: NodeContext) -> Outputs:
    """The live input; two live inputs from the two sides of one computed cond become
    ``Select(pred, true, false)``."""
    live = [i for i in range(ctx.num_inputs) if not ctx.is_dead(i)]
    if not live:
        dead = ctx.builder.dead_port()
        return dead, dead
    if len(live) == 1:
        return ctx.input(live[0]), ctx.const(np.array(live[0], np.int32), name="value_index")
    ctx.require(len(live) == 2, f"{len(live)} live inputs from a computed predicate")
    tags = [ctx.branch_tags(i) for i in live]
    preds = ctx.builder.state.get("cond_preds", {})
    # The cond both inputs are on opposite sides of; an input with no mark of a cond is a
    # branch of constants: then the innermost cond the other input is in.
    found = None
    for a, b in ((0, 1), (1, 0)):
        for key, side in reversed(tags[a]):
            if (key, 1 - side) in tags[b]:
                found = (key, side, a, b)
                break
        if found:
            break
    if found is None:
        for a, b in ((0, 1), (1, 0)):
            if not tags[b] and tags[a]:
                key, side = tags[a][-1]
                found = (key, side, a, b)
                break
    ctx.require(found is not None and found[0] in preds,  # type: ignore[index]
                "cannot tell which input comes from which side of the cond's Switch")
    key, side, a, b = found  # type: ignore[misc]
    sides = {side: live[a], 1 - side: live[b]}
    t, f = ctx.input(sides[1]), ctx.input(sides[0])
    st, sf = ctx.shape(t), ctx.shape(f)
    pred = preds[key]  # type: ignore[index]
    if st is not None and st == sf:  # equal shapes, dynamic dims included: as before
        value = ctx.emit("Select", pred, t, f, name="")
    else:  # results whose shapes differ (or may): only the taken branch runs
        stops = ctx.builder.state.get("cond_inputs", {}).get(key, set())  # type: ignore[union-attr]
        value = emit_if(ctx, pred, t, f, stops)
    index = ctx.emit("Select", pred, ctx.const(np.array(sides[1], np.int32), name="t"),
                     ctx.const(np.array(sides[0], np.int32), name="f"), name="value_index")
    out_tags = tuple(x for x in ctx.builder.tags.get(Port(ctx.name, 0), ()) if x[0] != key)
    for i in range(2):
        ctx.builder.tags[Port(ctx.name, i)] = out_tags
    return value, index


# --- conds with branches of different shapes: OpenVINO If ----------------------------------------


def _branch(ctx: NodeContext, top: Port, stops: set[Port], label: str):
    """The IR ops computing ``top`` from the cond's inputs (``stops``, the data its Switches
    forward), copied into a new graph: ``(graph, [(outer port, Parameter)], Result)``.
    Constants are copied; a model input or a cond input becomes a Parameter."""
    g = ctx.builder.graph
    bb = ctx.body_builder(f"{ctx.name}/{label}")
    body = bb.graph
    made: dict[Port, Port] = {}
    params: list[tuple[Port, str]] = []
    order: list[str] = []
    seen: set[str] = set()

    def boundary(p: Port) -> bool:
        return p in stops or g.op(p.node).type == "Parameter"

    work = [(top.node, False)] if not boundary(top) else []
    while work:  # post-order walk of the producers, stopping at the boundary
        name, done = work.pop()
        if done:
            order.append(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        work.append((name, True))
        for p in reversed(g.inputs(name)):
            if not boundary(p) and p.node not in seen:
                work.append((p.node, False))

    def port(p: Port) -> Port:
        if p not in made and boundary(p):
            info = g.info(p)
            pname = body.unique_name(f"{ctx.name}/{label}/input")
            op = body.add_op("Parameter", pname, (), {
                "shape": info.shape, "element_type": info.dtype})
            op.outputs[0].shape, op.outputs[0].dtype = info.shape, info.dtype
            params.append((p, pname))
            made[p] = Port(pname, 0)
        return made[p]

    for name in order:
        op = g.op(name)
        ins = [port(p) for p in g.inputs(name)]
        new = body.add_op(op.type, body.unique_name(name), ins, dict(op.attrs),
                          num_outputs=len(op.outputs))
        for a, b in zip(new.outputs, op.outputs):
            a.shape, a.dtype = b.shape, b.dtype
        for i in range(len(op.outputs)):
            made[Port(name, i)] = Port(new.name, i)
    result = body.unique_name(f"{ctx.name}/{label}/result")
    body.add_op("Result", result, [port(top)], {})
    body.outputs = [Port(result, 0)]
    body.meta["inputs"] = [pname for _, pname in params]
    return body, params, result


def emit_if(ctx: NodeContext, pred: Port, t: Port, f: Port, stops: set[Port]) -> Port:
    """``If(pred)`` (opset8) running the ops of the taken branch only."""
    then, then_params, then_result = _branch(ctx, t, stops, "then")
    other, else_params, else_result = _branch(ctx, f, stops, "else")
    outer = list(dict.fromkeys([p for p, _ in then_params] + [p for p, _ in else_params]))
    then_by, else_by = dict(then_params), dict(else_params)
    if ctx.dtype(pred) != np.bool_:
        pred = ctx.emit("Convert", pred, destination_type="boolean", name="condition")
    return ctx.emit("If", pred, *outer, name="", _then_body=then, _else_body=other,  # type: ignore[return-value]
                    _then_inputs=[then_by.get(p) for p in outer],
                    _else_inputs=[else_by.get(p) for p in outer],
                    _then_outputs=[then_result], _else_outputs=[else_result])
