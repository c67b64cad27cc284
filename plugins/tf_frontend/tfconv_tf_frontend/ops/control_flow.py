"""TF1 control flow: while loops (unrolled), TensorArrays (symbolic) and conds (Switch/Merge).

* ``TfconvWhileLoop`` is the node ``tf_frontend.collapse_while_loops`` makes of a TF1 while
  frame. It is unrolled: the condition is translated with constant folding; while it folds to
  True the body is translated once more (same op table, fresh names) and the loop variables
  advance; when it folds to False the loop's outputs are the current values. A condition that
  does not fold (a data-dependent trip count) or more than :data:`MAX_UNROLL` iterations is one
  error naming the loop.
* TensorArrays live at translation time only: the handle and flow outputs are tiny constants
  that end up dead, keyed to a :class:`_TensorArray` holding the element ports. Unrolled loops
  make every index constant.
* Switch/Merge outside loops: a predicate that folds prunes the untaken branch (its tensors
  are dead, and a Merge takes its live input); a computed predicate gives
  ``Select(pred, true, false)`` when both branches' results have the same shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tfconv.graph import Port

from . import TABLE, recurrent
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
    for iteration in range(MAX_UNROLL + 1):
        feeds = {**invariant, **{Port(name, 0): v for name, v in zip(names[:n], values)}}
        cache: dict[Port, Port] = dict(hoisted)
        (cond,) = ctx.translate_subgraph(body, feeds, [cond_port], cache)
        go = ctx.value(cond)
        if go is None:
            ctx.fail(f"the TF1 while loop {frame!r} has a dynamic trip count: at iteration "
                     f"{iteration} its condition {_condition_text(ctx, body, cond_port)} is "
                     "known only at run time; tfconv unrolls TF1 loops whose trip count folds "
                     "to a constant (static input shapes, --input_shape, may make it one); "
                     "OpenVINO Loop support is issue 12")
        if not bool(np.asarray(go).reshape(-1)[0]):
            return values
        if iteration == MAX_UNROLL:
            break
        values = ctx.translate_subgraph(body, feeds, next_ports, cache)
        hoisted = {p: q for p, q in cache.items() if p.node not in variant and p not in feeds}
    ctx.fail(f"the TF1 while loop {frame!r} runs more than {MAX_UNROLL} iterations, the most "
             "tfconv unrolls (OpenVINO Loop support is issue 12)")
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
    if ta.scattered is not None:
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
        ctx.require(ta.scattered is not None and not ta.elements,
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
    if ta.scattered is not None and not ta.elements and \
            indices == list(range((ctx.shape(ta.scattered) or [None])[0] or -1)):
        return ta.scattered
    rows = [ctx.emit("Unsqueeze", _get(ctx, ta, i, zeros=True), ints(ctx, [0], "axes"),
                     name=f"Unsqueeze_{i}")
            for i in indices]
    return rows[0] if len(rows) == 1 else ctx.emit("Concat", *rows, axis=0)


@TABLE.register("TensorArrayGatherV3", "TensorArrayGatherV2", inputs=3)
def tensor_array_gather(ctx: NodeContext) -> Outputs:
    ta = _array(ctx)
    ctx.attr("dtype", None)
    indices = _index(ctx, 1)
    ctx.require(indices is not None, "the gather indices must be known at conversion time")
    out = _stack(ctx, ta, indices)  # type: ignore[arg-type]
    element = _element_shape(ctx) or ta.element_shape
    _refine(ctx, out, None if element is None else (len(indices), *element))  # type: ignore[arg-type]
    return out


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
    if ta.size is None and ta.size_port is not None and not ta.elements and ta.scattered is None:
        return ctx.emit("Convert", ta.size_port, destination_type="int32")
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
    ctx.require(st is not None and st == sf,
                f"the cond's two branches give tensors of shapes {st} and {sf}, which may differ "
                "at run time; tfconv selects between branch results only when their shapes are "
                "equal")
    pred = preds[key]  # type: ignore[index]
    value = ctx.emit("Select", pred, t, f, name="")
    index = ctx.emit("Select", pred, ctx.const(np.array(sides[1], np.int32), name="t"),
                     ctx.const(np.array(sides[0], np.int32), name="f"), name="value_index")
    out_tags = tuple(x for x in ctx.builder.tags.get(Port(ctx.name, 0), ()) if x[0] != key)
    for i in range(2):
        ctx.builder.tags[Port(ctx.name, i)] = out_tags
    return value, index
