"""Exact simplifications that keep the IR as small as OpenVINO's own: Subtract of a constant
as Add, nested Concats flattened, dynamic-batch shape sub-graphs
feeding Reshape turned into ``special_zero`` copies, and Transposes that only move size-1
dimensions turned into Reshapes (merged with neighbouring Reshapes)."""
from __future__ import annotations

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .fusion import _bypass, _const, _sole_consumer
from .layout import perm_of


@graph_pass("ir_backend.canonicalize", stage="ir", before=["ir_backend.nchw_inputs"])
def canonicalize(graph: Graph, config) -> None:
    """x - c -> x + (-c) for float constants, so fusions see one kind of bias."""
    b = IRBuilder(graph)
    for op in graph.ops_of_type("Subtract"):
        x, c = graph.inputs(op.name)
        value = _const(graph, c)
        if value is None or value.dtype.kind != "f" or graph.info(x).dtype != value.dtype:
            continue
        op.type = "Add"
        graph.set_input(op.name, 1, b.const(-value, f"{c.node}/negated"))


@graph_pass("ir_backend.flatten_concats", stage="ir", after=["ir_backend.sink_transposes"])
def flatten_concats(graph: Graph, config) -> None:
    """Concat(a, Concat(b, c), d) on one axis -> Concat(a, b, c, d)."""
    b = IRBuilder(graph)
    for name in graph.topological_order():
        if name not in graph or graph.op(name).type != "Concat":
            continue
        op = graph.op(name)
        rank = graph.info(Port(name)).rank
        if rank is None:
            continue
        axis = op.attrs["axis"] % rank
        flat: list[Port] = []
        merged = []
        for p in graph.inputs(name):
            inner = graph.op(p.node)
            if inner.type == "Concat" and inner.attrs["axis"] % rank == axis and \
                    _sole_consumer(graph, p) == name:
                flat.extend(graph.inputs(inner.name))
                merged.append(inner.name)
            else:
                flat.append(p)
        if merged:
            graph.set_inputs(name, flat)
            for m in merged:
                graph.remove(m)
            b.reinfer(name)


def _dim_source(graph: Graph, port: Port) -> tuple[Port, int] | None:
    """If ``port`` is a 1-element tensor holding dim ``i`` of some tensor's shape, return
    (that tensor, i)."""
    op = graph.op(port.node)
    ins = graph.inputs(op.name)
    if op.type == "Unsqueeze":
        return _dim_source(graph, ins[0])
    if op.type == "Gather":
        idx, axis = _const(graph, ins[1]), _const(graph, ins[2])
        src = graph.op(ins[0].node)
        if src.type == "ShapeOf" and idx is not None and idx.size == 1 and axis is not None \
                and int(axis.reshape(-1)[0]) == 0 and int(idx.reshape(-1)[0]) >= 0:
            return graph.inputs(src.name)[0], int(idx.reshape(-1)[0])
        return None
    if op.type == "StridedSlice":
        src = graph.op(ins[0].node)
        begin, end = _const(graph, ins[1]), _const(graph, ins[2])
        strides = _const(graph, ins[3]) if len(ins) > 3 else np.ones(1)
        if src.type != "ShapeOf" or begin is None or end is None or strides is None:
            return None
        if begin.size != 1 or int(strides.reshape(-1)[0]) != 1 or \
                any(op.attrs.get(k, [0])[:1] != [0] for k in
                    ("begin_mask", "new_axis_mask", "ellipsis_mask")):
            return None
        i = int(begin.reshape(-1)[0])
        shrink = op.attrs.get("shrink_axis_mask", [0])[:1] == [1]
        end_ok = shrink or (op.attrs.get("end_mask", [0])[:1] == [0] and int(end.reshape(-1)[0]) == i + 1)
        return (graph.inputs(src.name)[0], i) if i >= 0 and end_ok else None
    return None


def _same_dim(graph: Graph, a: Port, b: Port, i: int) -> bool:
    """Does tensor ``a`` have the same dim ``i`` as tensor ``b`` (through Transposes that keep
    dim ``i`` and element-wise ops)?"""
    def root(p: Port) -> Port:
        while True:
            op = graph.op(p.node)
            perm = perm_of(graph, p)
            if perm is not None and i < len(perm) and perm[i] == i:
                p = graph.inputs(op.name)[0]
            else:
                return p
    return root(a) == root(b)


@graph_pass("ir_backend.fold_reshape_shapes", stage="ir", after=["ir_backend.sink_transposes"],
            before=["ir_backend.transposes_to_reshapes"])
def fold_reshape_shapes(graph: Graph, config) -> None:
    """Reshape(x, Concat(dim i of ShapeOf(x), consts...)) -> Reshape(x, [0, consts], special_zero)."""
    b = IRBuilder(graph)
    changed = False
    for op in graph.ops_of_type("Reshape"):
        x, shape = graph.inputs(op.name)
        if _const(graph, shape) is not None:
            continue
        target = _shape_with_copies(graph, x, shape)
        if target is None:
            continue
        op.attrs["special_zero"] = True
        graph.set_input(op.name, 1, b.const(np.array(target, np.int64), f"{op.name}/shape"))
        changed = True
    if changed:
        graph.remove_dead(keep=[op.name for op in graph.ops_of_type("Parameter")])
        b.reinfer_all()  # shapes downstream of the Reshapes become known


def _shape_with_copies(graph: Graph, x: Port, shape: Port) -> list[int] | None:
    cat = graph.op(shape.node)
    parts = graph.inputs(cat.name) if cat.type == "Concat" else [shape]
    target: list[int] = []
    for part in parts:
        value = _const(graph, part)
        if value is not None:
            flat = [int(v) for v in value.reshape(-1)]
            if 0 in flat:
                return None
            target.extend(flat)
            continue
        src = _dim_source(graph, part)
        if src is None or src[1] != len(target) or not _same_dim(graph, src[0], x, src[1]):
            return None
        target.append(0)
    return target


def _reshape_like(shape: tuple | None, perm: tuple[int, ...]) -> bool:
    """A transpose of ``shape`` by ``perm`` that keeps the order of the non-1 dims."""
    if shape is None:
        return False
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


@graph_pass("ir_backend.transposes_to_reshapes", stage="ir", after=["ir_backend.sink_transposes"],
            before=["ir_backend.fuse_pad"])
def transposes_to_reshapes(graph: Graph, config) -> None:
    """A Transpose that only moves size-1 dims is a Reshape; next to a Reshape it vanishes."""
    b = IRBuilder(graph)
    for op in list(graph.ops_of_type("Transpose")):
        if op.name not in graph:
            continue
        perm = perm_of(graph, Port(op.name))
        x = graph.inputs(op.name)[0]
        in_shape = graph.info(x).shape
        if perm is None or not _reshape_like(in_shape, perm):
            continue
        out_shape = tuple(in_shape[p] for p in perm)
        dynamic = [i for i, d in enumerate(out_shape) if d is None]
        if any(perm[i] != i for i in dynamic):
            continue
        producer = graph.op(x.node)
        users = graph.consumers(Port(op.name))
        if producer.type == "Reshape" and _sole_consumer(graph, x) == op.name and \
                (len(dynamic) <= 1 or _copies_ok(graph, producer, dynamic)):
            source = graph.inputs(producer.name)[0]
        elif users and all(graph.op(u).type == "Reshape" and d == 0 and
                           _copies_kept(graph, graph.op(u), perm) for u, d in users):
            source = None  # every consumer reshapes anyway: the Transpose is not needed
        else:
            continue
        if source is None:
            _bypass(graph, op.name, x)
            continue
        # One dynamic dim is inferred (-1); several are copied from the source (special zero).
        fill = -1 if len(dynamic) == 1 else 0
        target = np.array([fill if d is None else d for d in out_shape], np.int64)
        new = b.emit("Reshape", [source, b.const(target, f"{op.name}/shape")], f"{op.name}/reshape",
                     {"special_zero": fill == 0})[0]
        _bypass(graph, op.name, new)
        graph.remove(producer.name)


def _copies_ok(graph: Graph, reshape, dynamic: list[int]) -> bool:
    """The inner Reshape copies each dynamic dim from the same position of its input."""
    shape = _const(graph, graph.inputs(reshape.name)[1])
    if shape is None:
        return not dynamic
    flat = [int(v) for v in shape.reshape(-1)]
    return all(i < len(flat) and flat[i] == 0 and reshape.attrs.get("special_zero") for i in dynamic)


def _copies_kept(graph: Graph, reshape, perm: tuple[int, ...]) -> bool:
    """A consumer Reshape's ``special_zero`` copies only dims the Transpose leaves in place."""
    shape = _const(graph, graph.inputs(reshape.name)[1])
    if shape is None:
        return False
    if not reshape.attrs.get("special_zero"):
        return True
    return all(int(v) != 0 or (i < len(perm) and perm[i] == i)
               for i, v in enumerate(shape.reshape(-1)))


@graph_pass("ir_backend.merge_duplicates", stage="ir", after=["ir_backend.sink_transposes"],
            before=["ir_backend.fuse_pad"])
def merge_duplicates(graph: Graph, config) -> None:
    """Ops of one type with the same inputs and attributes compute the same tensor: keep one
    (e.g. the NHWC->NCHW Transposes of one input feeding several convolutions)."""
    seen: dict[tuple, str] = {}
    for name in graph.topological_order():
        op = graph.op(name)
        if op.type in ("Const", "Parameter", "Result") or len(op.outputs) != 1:
            continue
        try:
            key = (op.type, tuple(_input_key(graph, p) for p in graph.inputs(name)),
                   tuple(sorted((k, repr(v)) for k, v in op.attrs.items() if not k.startswith("_"))))
        except TypeError:
            continue
        keep = seen.setdefault(key, name)
        if keep != name:
            _bypass(graph, name, Port(keep))


def _input_key(graph: Graph, port: Port) -> object:
    """Small constants compare by value, everything else by port."""
    value = _const(graph, port)
    if value is not None and value.size <= 64:
        return ("const", value.dtype.str, value.shape, value.tobytes())
    return port
