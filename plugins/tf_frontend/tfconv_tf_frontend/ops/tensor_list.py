"""TF2 TensorLists (``tf.TensorArray`` in TF2, ``map_fn``/``scan`` accumulators): symbolic.

A TensorList is a value (every op returns a new list), so it lives at translation time only,
like the TF1 TensorArrays of ``control_flow.py``: each list is a tiny Const handle port keyed
to a :class:`_List` of element ports. Unrolled loops (``TfconvWhileLoop``) make the indices
constants. A list made from one tensor (``TensorListFromTensor``) keeps that tensor: its
elements are Gathers of its rows, also at an index known only at run time, and stacking it
back unchanged gives the tensor itself.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from tfconv.graph import Port

from . import TABLE
from ._util import ints

if TYPE_CHECKING:
    from tfconv.translate import NodeContext, Outputs

_UNSET = None


@dataclass(frozen=True)
class _List:
    dtype: np.dtype
    element_shape: tuple | None           # None: unknown rank; None dims: unknown
    items: tuple                          # Port or None (unset, or a row of ``stacked``)
    stacked: Port | None = None           # items left None are rows of this tensor
    length_port: Port | None = None       # the length when only known at run time
    # Inside the body of an OpenVINO Loop: a list the loop carries, and its (index, value)
    # writes in one iteration (see loop_accumulator)
    in_loop: bool = False
    writes: tuple = ()


def _lists(ctx: NodeContext) -> dict[Port, _List]:
    return ctx.builder.state.setdefault("tensor_lists", {})  # type: ignore[return-value]


def _new(ctx: NodeContext, lst: _List, name: str = "handle") -> Port:
    handle = ctx.const(np.zeros((), np.int32), name=name)
    _lists(ctx)[handle] = lst
    return handle


def _list(ctx: NodeContext, i: int = 0) -> _List:
    lst = _lists(ctx).get(ctx.input(i))
    if lst is None:
        ctx.fail(f"input {i} ({ctx.input(i).node!r}) is not a TensorList tfconv can follow "
                 "(TensorLists are followed through loops whose trip count folds)")
    return lst  # type: ignore[return-value]


def _shape_input(ctx: NodeContext, i: int) -> tuple | None:
    """An ``element_shape`` input: -1 (unknown rank) gives None, -1 dims None."""
    v = ctx.value(i)
    if v is None:
        return None
    v = np.asarray(v).reshape(-1) if np.ndim(v) else np.asarray(v)
    if v.ndim == 0:
        return None if int(v) == -1 else ()
    return tuple(None if int(d) < 0 else int(d) for d in v)


def _merge_shapes(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None or len(a) != len(b):
        return a if b is None else b
    return tuple(x if x is not None else y for x, y in zip(a, b))


def _ints(ctx: NodeContext, i: int, what: str) -> list[int]:
    v = ctx.value(i)
    ctx.require(v is not None, f"the TensorList {what} must be known at conversion time (a loop "
                "whose trip count folds to a constant gives one)")
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _dtype(ctx: NodeContext) -> np.dtype:
    return np.dtype(ctx.attr("element_dtype"))


def _row(ctx: NodeContext, tensor: Port, index: int | Port) -> Port:
    idx = ctx.const(np.array(index, np.int64), name="index") if isinstance(index, int) else \
        ctx.emit("Convert", index, destination_type="int64")
    return ctx.emit("Gather", tensor, idx, ints(ctx, 0, "axis"), name="Gather", batch_dims=0)


def _item(ctx: NodeContext, lst: _List, index: int, zeros: bool = True) -> Port:
    if index < 0 or index >= len(lst.items):
        ctx.fail(f"index {index} is outside the TensorList of {len(lst.items)} element(s)")
    item = lst.items[index]
    if item is not None:
        return item
    if lst.stacked is not None:
        return _row(ctx, lst.stacked, index)
    shapes = [ctx.shape(p) for p in lst.items if p is not None] + [lst.element_shape]
    shape = next((s for s in shapes if s is not None and all(d is not None for d in s)), None)
    ctx.require(zeros and shape is not None,
                f"element {index} of the TensorList is read before it is set and its shape is "
                "unknown")
    return ctx.const(np.zeros(shape, lst.dtype), name=f"unset_{index}")  # type: ignore[arg-type]


def _stack(ctx: NodeContext, lst: _List, indices: list[int], element_shape: tuple | None) -> Port:
    if lst.stacked is not None and all(p is None for p in lst.items) and \
            indices == list(range(len(lst.items))):
        return lst.stacked
    if not indices:
        shape = _merge_shapes(lst.element_shape, element_shape)
        ctx.require(shape is not None and all(d is not None for d in shape),
                    "stacking an empty TensorList needs a known element shape")
        return ctx.const(np.zeros((0, *shape), lst.dtype), name="empty")  # type: ignore[misc]
    rows = [ctx.emit("Unsqueeze", _item(ctx, lst, i), ints(ctx, [0], "axes"), name="Unsqueeze")
            for i in indices]
    return rows[0] if len(rows) == 1 else ctx.emit("Concat", *rows, axis=0)


def _known_length(ctx: NodeContext, lst: _List) -> None:
    ctx.require(lst.length_port is None, "the TensorList's length is known only at run time; "
                "this use of it needs a length known at conversion time (static input shapes, "
                "--input_shape, may give one)")


# --- making lists ----------------------------------------------------------------------------


@TABLE.register("TensorListReserve", inputs=2)
def tensor_list_reserve(ctx: NodeContext) -> Outputs:
    if ctx.value(1) is None:  # a size known at run time: a loop fills it (loop_accumulator)
        size = ctx.emit("Convert", ctx.input(1), destination_type="int32")
        return _new(ctx, _List(_dtype(ctx), _shape_input(ctx, 0), (), length_port=size))
    (n,) = _ints(ctx, 1, "size")
    return _new(ctx, _List(_dtype(ctx), _shape_input(ctx, 0), (_UNSET,) * max(n, 0)))


@TABLE.register("EmptyTensorList", inputs=2)
def empty_tensor_list(ctx: NodeContext) -> Outputs:
    return _new(ctx, _List(_dtype(ctx), _shape_input(ctx, 0), ()))


@TABLE.register("TensorListFromTensor", inputs=2)
def tensor_list_from_tensor(ctx: NodeContext) -> Outputs:
    tensor = ctx.input(0)
    shape = ctx.shape(0)
    ctx.require(shape is not None and len(shape) >= 1, "the tensor needs a known rank >= 1")
    element = _merge_shapes(_shape_input(ctx, 1), tuple(shape[1:]))  # type: ignore[index]
    n = shape[0]  # type: ignore[index]
    length = None
    if n is None:  # rows known only at run time: reads at run-time indices are still Gathers
        length = ctx.emit("Gather", ctx.emit("ShapeOf", tensor, output_type="int32"),
                          ints(ctx, 0, "i"), ints(ctx, 0, "axis"), batch_dims=0)
        n = 0
    return _new(ctx, _List(np.dtype(ctx.attr("element_dtype", ctx.dtype(0))), element,
                           (_UNSET,) * n, tensor, length))


@TABLE.register("TensorListSplit", inputs=3)
def tensor_list_split(ctx: NodeContext) -> Outputs:
    tensor = ctx.input(0)
    lengths = _ints(ctx, 2, "split lengths")
    items, start = [], 0
    for n in lengths:
        items.append(ctx.emit("StridedSlice", tensor, ints(ctx, [start], "begin"),
                              ints(ctx, [start + n], "end"), ints(ctx, [1], "strides"),
                              name="Slice", begin_mask=[0], end_mask=[0], new_axis_mask=[0],
                              shrink_axis_mask=[0], ellipsis_mask=[0]))
        start += n
    return _new(ctx, _List(_dtype(ctx), _shape_input(ctx, 1), tuple(items)))


@TABLE.register("TensorListScatter", "TensorListScatterV2", min_inputs=3)
def tensor_list_scatter(ctx: NodeContext) -> Outputs:
    indices = _ints(ctx, 1, "scatter indices")
    size = max(indices, default=-1) + 1
    if ctx.op_type == "TensorListScatterV2":
        size = max(size, _ints(ctx, 3, "num_elements")[0])
    base = _List(_dtype(ctx), _shape_input(ctx, 2), (_UNSET,) * size)
    return _new(ctx, _scatter(ctx, base, ctx.input(0), indices))


def _scatter(ctx: NodeContext, lst: _List, tensor: Port, indices: list[int]) -> _List:
    rows = (ctx.shape(tensor) or [None])[0]
    if indices == list(range(len(lst.items))) and rows == len(indices) and \
            all(p is None for p in lst.items):
        return replace(lst, stacked=tensor)
    items = list(lst.items) + [_UNSET] * max(0, max(indices, default=-1) + 1 - len(lst.items))
    for j, i in enumerate(indices):
        items[i] = _row(ctx, tensor, j)
    return replace(lst, items=tuple(items))


@TABLE.register("TensorListScatterIntoExistingList", inputs=3)
def tensor_list_scatter_into(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    _known_length(ctx, lst)
    return _new(ctx, _scatter(ctx, _materialised(ctx, lst), ctx.input(1),
                              _ints(ctx, 2, "scatter indices")))


# --- changing lists --------------------------------------------------------------------------


def _materialised(ctx: NodeContext, lst: _List) -> _List:
    """``lst`` with every row of its source tensor an item of its own (before a change)."""
    if lst.stacked is None:
        return lst
    items = tuple(p if p is not None else _row(ctx, lst.stacked, i)
                  for i, p in enumerate(lst.items))
    return replace(lst, items=items, stacked=None)


@TABLE.register("TensorListSetItem", inputs=3)
def tensor_list_set_item(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    if lst.in_loop:  # recorded; the Loop makes the written values its concatenated output
        return _new(ctx, replace(lst, writes=(*lst.writes, (ctx.input(1), ctx.input(2)))))
    if lst.length_port is not None and lst.stacked is None:  # a loop fills the rest (tf.scan)
        (index,) = _ints(ctx, 1, "index")
        ctx.require(0 <= index <= len(lst.items), "a TensorList of a size known only at run "
                    "time is written before a loop at an index that does not extend its start")
        items = lst.items[:index] + (ctx.input(2),) + lst.items[index + 1:]
        return _new(ctx, replace(lst, items=items))
    _known_length(ctx, lst)
    (index,) = _ints(ctx, 1, "index")
    items = list(_materialised(ctx, lst).items)
    if index >= len(items):
        ctx.require(bool(ctx.attr("resize_if_index_out_of_bounds", False)),
                    f"index {index} is outside the TensorList of {len(items)} element(s)")
        items += [_UNSET] * (index + 1 - len(items))
    ctx.require(index >= 0, f"negative index {index}")
    items[index] = ctx.input(2)
    return _new(ctx, replace(lst, items=tuple(items), stacked=None))


@TABLE.register("TensorListPushBack", inputs=2)
def tensor_list_push_back(ctx: NodeContext) -> Outputs:
    lst = _materialised(ctx, _list(ctx))
    _known_length(ctx, lst)
    return _new(ctx, replace(lst, items=(*lst.items, ctx.input(1))))


@TABLE.register("TensorListPopBack", inputs=2)
def tensor_list_pop_back(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    _known_length(ctx, lst)
    ctx.require(lst.items, "popping from an empty TensorList")
    item = _item(ctx, replace(lst, element_shape=_merge_shapes(lst.element_shape,
                                                               _shape_input(ctx, 1))),
                 len(lst.items) - 1)
    rest = _materialised(ctx, replace(lst, items=lst.items[:-1]))
    return _new(ctx, rest), item


@TABLE.register("TensorListResize", inputs=2)
def tensor_list_resize(ctx: NodeContext) -> Outputs:
    lst = _materialised(ctx, _list(ctx))
    _known_length(ctx, lst)
    (size,) = _ints(ctx, 1, "size")
    items = lst.items[:size] + (_UNSET,) * max(0, size - len(lst.items))
    return _new(ctx, replace(lst, items=items))


# --- reading lists ---------------------------------------------------------------------------


@TABLE.register("TensorListGetItem", inputs=3)
def tensor_list_get_item(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    ctx.attr("element_dtype", None)
    v = ctx.value(1)
    if v is None:
        ctx.require(lst.stacked is not None and all(p is None for p in lst.items),
                    "a TensorList read at an index known only at run time needs a list made "
                    "from one tensor (TensorListFromTensor)")
        return _row(ctx, lst.stacked, ctx.input(1))  # type: ignore[arg-type]
    index = int(np.asarray(v).reshape(-1)[0])
    if lst.length_port is not None:
        return _row(ctx, lst.stacked, index)  # type: ignore[arg-type]
    return _item(ctx, replace(lst, element_shape=_merge_shapes(lst.element_shape,
                                                               _shape_input(ctx, 2))), index)


@TABLE.register("TensorListStack", inputs=2)
def tensor_list_stack(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    ctx.attr("element_dtype", None)
    ctx.attr("num_elements", -1)
    if lst.length_port is not None:
        return lst.stacked  # type: ignore[return-value]
    element = _merge_shapes(lst.element_shape, _shape_input(ctx, 1))
    return _stack(ctx, replace(lst, element_shape=element), list(range(len(lst.items))), element)


@TABLE.register("TensorListGather", inputs=3)
def tensor_list_gather(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    ctx.attr("element_dtype", None)
    element = _merge_shapes(lst.element_shape, _shape_input(ctx, 2))
    v = ctx.value(1)
    if v is None or lst.length_port is not None:
        ctx.require(lst.stacked is not None and all(p is None for p in lst.items),
                    "a TensorList gather at indices known only at run time needs a list made "
                    "from one tensor (TensorListFromTensor)")
        idx = ctx.emit("Convert", ctx.input(1), destination_type="int64")
        return ctx.emit("Gather", lst.stacked, idx, ints(ctx, 0, "axis"), batch_dims=0)  # type: ignore[arg-type]
    indices = [int(x) for x in np.asarray(v).reshape(-1)]
    return _stack(ctx, replace(lst, element_shape=element), indices, element)


@TABLE.register("TensorListLength", inputs=1)
def tensor_list_length(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    if lst.length_port is not None:
        return lst.length_port
    return ctx.const(np.array(len(lst.items), np.int32), name="length")


@TABLE.register("TensorListElementShape", inputs=1)
def tensor_list_element_shape(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    dtype = np.dtype(ctx.attr("shape_type", np.dtype(np.int32)))
    shape = lst.element_shape
    if shape is not None and all(d is not None for d in shape):
        return ctx.const(np.array(shape, dtype), name="shape")
    if lst.stacked is not None:
        full = ctx.emit("ShapeOf", lst.stacked, output_type=dtype.name)
        return ctx.emit("StridedSlice", full, ints(ctx, [1], "begin"), ints(ctx, [0], "end"),
                        ints(ctx, [1], "strides"), begin_mask=[0], end_mask=[1],
                        new_axis_mask=[0], shrink_axis_mask=[0], ellipsis_mask=[0])
    item = next((p for p in lst.items if p is not None), None)
    ctx.require(item is not None, "the TensorList's element shape is unknown")
    return ctx.emit("ShapeOf", item, output_type=dtype.name)


@TABLE.register("TensorListConcat", "TensorListConcatV2", min_inputs=1)
def tensor_list_concat(ctx: NodeContext) -> Outputs:
    lst = _list(ctx)
    ctx.attr("element_dtype", None)
    ctx.attr("element_shape", None)
    if lst.length_port is None and lst.items:
        parts = [_item(ctx, lst, i) for i in range(len(lst.items))]
    else:
        ctx.require(lst.stacked is not None, "concatenating an empty TensorList")
        # a list of the rows of one tensor: concatenating them merges its first two dims
        shape = ctx.shape(lst.stacked)  # type: ignore[arg-type]
        ctx.require(shape is not None and len(shape) >= 2 and shape[1] is not None,
                    "the TensorList's elements need a static first dimension to concatenate")
        value = ctx.emit("Reshape", lst.stacked, ints(ctx, [-1, *[0] * (len(shape) - 2)],  # type: ignore[arg-type,misc]
                                                      "shape"), special_zero=True)
        n = ctx.emit("Gather", ctx.emit("ShapeOf", lst.stacked, output_type="int64"),  # type: ignore[arg-type]
                     ints(ctx, 0, "i"), ints(ctx, 0, "axis"), batch_dims=0)
        lengths = ctx.emit("Broadcast", ctx.const(np.array(shape[1], np.int64), name="len"),
                           ctx.emit("Unsqueeze", n, ints(ctx, [0], "axes")), mode="numpy")
        return value, lengths
    lengths = [(ctx.shape(p) or [None])[0] for p in parts]
    ctx.require(all(n is not None for n in lengths),
                "the TensorList's elements need a static first dimension to concatenate")
    value = parts[0] if len(parts) == 1 else ctx.emit("Concat", *parts, axis=0)
    return value, ctx.const(np.array(lengths, np.int64), name="lengths")


# --- lists through an OpenVINO Loop (ops/control_flow.py calls these) ----------------------------


def is_list(ctx: NodeContext, port: Port) -> bool:
    return port in _lists(ctx)


def loop_invariant(ctx: NodeContext, body, outer: Port) -> Port:
    """The list ``outer`` inside a Loop body (``body``: ops/control_flow.py's ``_LoopBody``),
    its tensors brought in as invariant inputs."""
    lst = _lists(ctx)[outer]
    take = body.take
    inner = replace(lst, items=tuple(None if p is None else take(p) for p in lst.items),
                    stacked=None if lst.stacked is None else take(lst.stacked),
                    length_port=None if lst.length_port is None else take(lst.length_port))
    handle = body.bb.const(np.zeros((), np.int32), f"{ctx.name}/body/list")
    body.bb.state.setdefault("tensor_lists", {})[handle] = inner
    return handle


def loop_accumulator(ctx: NodeContext, body, outer: Port) -> Port:
    """A list the Loop carries, inside its body: readable as before the loop; SetItems are
    recorded (see :func:`loop_outputs`), not applied."""
    handle = loop_invariant(ctx, body, outer)
    lists = body.bb.state["tensor_lists"]
    lists[handle] = replace(lists[handle], in_loop=True)
    return handle


@dataclass(frozen=True)
class LoopWrites:
    """What a Loop outputs for a list its body writes: ``ports`` (body port, concatenation
    axis or None for the last iteration's value) and the element indices they give."""
    ports: list
    rows: bool                 # one row per iteration after the list's elements (else last values)
    indices: tuple = ()


def loop_outputs(ctx: NodeContext, body, nxt: Port, counters: dict[Port, int]) -> LoopWrites | None:
    """The Loop outputs a carried list needs, or None when the body does not write it:
    written at the iteration number (a counter from the list's length by 1), a list of a size
    known only at run time gets one row per iteration; written at constant indices, a list of
    a known size gets the value of the last iteration at each."""
    lst = body.bb.state.get("tensor_lists", {}).get(nxt)
    if lst is None or not lst.writes:
        return None
    if lst.length_port is not None and lst.stacked is None and \
            all(p is not None for p in lst.items):
        ctx.require(len(lst.writes) == 1, "a TensorList is written more than once per iteration "
                    "of a loop whose trip count is known only at run time")
        index, value = lst.writes[0]
        ctx.require(counters.get(index) == len(lst.items), "a TensorList is written inside a "
                    "loop whose trip count is known only at run time at an index that is not the "
                    "iteration number (a loop variable counting by 1 from the list's length)")
        axes = body.bb.const(np.array([0], np.int64), f"{ctx.name}/body/axes")
        row = body.bb.emit("Unsqueeze", [value, axes], f"{ctx.name}/body/list_row")[0]
        return LoopWrites([(row, 0)], True)
    last: dict[int, Port] = {}
    for index, value in lst.writes:
        v = body.bb.value(index)
        ctx.require(v is not None and lst.length_port is None, "a TensorList is written inside "
                    "a loop whose trip count is known only at run time at an index known only "
                    "at run time; tfconv supports writes at the iteration number into a list "
                    "the loop fills, and writes at constant indices")
        last[int(np.asarray(v).reshape(-1)[0])] = value
    order = sorted(last)
    return LoopWrites([(last[i], None) for i in order], False, tuple(order))


def after_loop(ctx: NodeContext, outer: Port, writes: LoopWrites, ports: list[Port]) -> Port:
    """The carried list after the Loop, from the Loop's outputs for its writes."""
    lst = _lists(ctx)[outer]
    if not writes.rows:
        items = list(_materialised(ctx, lst).items)
        for i, port in zip(writes.indices, ports):
            ctx.require(0 <= i < len(items), f"index {i} is outside the TensorList of "
                        f"{len(items)} element(s)")
            items[i] = port
        return _new(ctx, replace(lst, items=tuple(items), stacked=None), name="list")
    rows = ports[0]
    if lst.items:  # the elements set before the loop come first
        first = [ctx.emit("Unsqueeze", p, ints(ctx, [0], "axes"), name="Unsqueeze")
                 for p in lst.items]
        rows = ctx.emit("Concat", *first, rows, axis=0, name="list_rows")
    length = ctx.emit("Gather", ctx.emit("ShapeOf", rows, output_type="int32"),
                      ints(ctx, 0, "i"), ints(ctx, 0, "axis"), name="list_length", batch_dims=0)
    return _new(ctx, _List(lst.dtype, lst.element_shape, (), rows, length), name="list")
