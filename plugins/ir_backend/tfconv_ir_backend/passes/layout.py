"""Layout passes: the spec's NHWC -> NCHW input translation and transpose sinking.

Translators keep TF's layout and wrap NCHW-only IR ops in Transpose pairs. ``nchw_inputs``
turns 4-D image Parameters into NCHW ones followed by a Transpose back to NHWC, and
``sink_transposes`` pushes every Transpose down through layout-agnostic ops until it meets its
inverse (both vanish) or an op that needs the layout (it stays there).
"""
from __future__ import annotations

import logging

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

log = logging.getLogger("tfconv.ir_backend")

NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)

UNARY = {"Relu", "Clamp", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Negative", "Floor",
         "Ceiling", "Erf", "Elu", "Swish", "HSwish", "HSigmoid", "Mish", "SoftPlus", "Gelu",
         "Convert", "Sign", "Round", "LogicalNot", "SoftSign", "Sin", "Cos"}
BINARY = {"Add", "Subtract", "Multiply", "Divide", "Maximum", "Minimum", "Power",
          "SquaredDifference", "FloorMod", "Equal", "NotEqual", "Less", "LessEqual", "Greater",
          "GreaterEqual", "LogicalAnd", "LogicalOr", "LogicalXor", "Select", "FakeQuantize",
          "PRelu"}  # PRelu: its slope is sunk rank-aligned (a 1-D slope would mean axis 1)
REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2",
          "ReduceLogicalAnd", "ReduceLogicalOr"}


def perm_of(graph: Graph, port: Port) -> tuple[int, ...] | None:
    """The constant permutation of a Transpose op's output port, else None."""
    op = graph.op(port.node)
    if op.type != "Transpose":
        return None
    perm_src = graph.op(graph.inputs(op.name)[1].node)
    if perm_src.type != "Const":
        return None
    perm = tuple(int(p) for p in np.asarray(perm_src.attrs["value"]).reshape(-1))
    return perm or None


def inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _is_identity(perm: tuple[int, ...]) -> bool:
    return perm == tuple(range(len(perm)))


def _move_names(graph: Graph, src: Port, dst: Port) -> None:
    names = graph.info(src).names
    target = graph.info(dst).names
    target.extend(n for n in names if n not in target)
    names.clear()


@graph_pass("ir_backend.nchw_inputs", stage="ir")
def nchw_inputs(graph: Graph, config) -> None:
    """Give 4-D image Parameters NCHW shapes (the spec's default), unless --disable_nhwc_to_nchw."""
    if not config.nchw:
        return
    has_layout_ops = any(perm_of(graph, Port(op.name)) == NHWC_TO_NCHW
                         for op in graph.ops_of_type("Transpose"))
    if not has_layout_ops:
        return
    b = IRBuilder(graph)
    for op in graph.ops_of_type("Parameter"):
        shape = op.attrs.get("shape")
        if shape is None or len(shape) != 4:
            continue
        param = Port(op.name)
        consumers = graph.consumers(param)
        op.attrs["shape"] = tuple(shape[i] for i in NHWC_TO_NCHW)
        b.reinfer(op.name)
        perm = b.const(np.array(NCHW_TO_NHWC, np.int64), f"{op.name}/to_nhwc/order")
        back = b.emit("Transpose", [param, perm], f"{op.name}/to_nhwc")[0]
        graph.op(back.node).attrs["_from_input"] = True
        for name, dst in consumers:
            graph.set_input(name, dst, back)


@graph_pass("ir_backend.sink_transposes", stage="ir", after=["ir_backend.nchw_inputs"])
def sink_transposes(graph: Graph, config) -> None:
    """Push Transposes down through layout-agnostic ops; cancel inverse pairs."""
    b = IRBuilder(graph, fold=True)
    for _ in range(4):
        changed = False
        for name in graph.topological_order():
            if name in graph and _sink_into(graph, b, name):
                changed = True
        _drop_unused_transposes(graph)
        if not changed:
            break
    _restore_unused_nchw_inputs(graph, b)
    while any(_hoist(graph, b, name) for name in reversed(graph.topological_order())
              if name in graph and graph.op(name).type == "Transpose"):
        _drop_unused_transposes(graph)


def _hoisting_helps(graph: Graph, port: Port) -> bool:
    """Hoist only along a single-use chain that reaches a Parameter, passes a Pad, or reaches
    constant weights (there the Transpose folds away, e.g. Const -> FakeQuantize -> conv)."""
    while True:
        op = graph.op(port.node)
        if op.type in ("Parameter", "Pad", "Const"):
            return True
        hoistable = op.type in UNARY or (op.type in BINARY and op.type != "Select") or \
            op.type == "Unsqueeze"
        if not hoistable or len(graph.consumers(op.name)) != 1:
            return False
        ins = graph.inputs(op.name)
        data = ins[:1] if op.type in ("FakeQuantize", "Unsqueeze") else \
            [p for p in ins if graph.op(p.node).type != "Const"]
        if len(data) != 1:
            return False
        port = data[0]


def _hoist(graph: Graph, b: IRBuilder, name: str) -> bool:
    """Transpose(X(a, consts)) -> X'(Transpose(a), consts') for a layout-agnostic X used only
    here, so that the Transpose meets the Parameter or a Pad meets its convolution."""
    perm = perm_of(graph, Port(name))
    x_port = graph.inputs(name)[0]
    x = graph.op(x_port.node)
    if perm is None or len(graph.consumers(x.name)) != 1 or len(x.outputs) != 1 or \
            not _hoisting_helps(graph, x_port):
        return False
    ports = graph.inputs(x.name)
    if x.type == "Unsqueeze":
        return _hoist_over_unsqueeze(graph, b, name, perm)
    if x.type in UNARY or x.type == "Pad":
        data, consts = 0, []
    elif x.type == "FakeQuantize":
        data, consts = 0, [1, 2, 3, 4]
        if any(graph.op(ports[i].node).type != "Const" for i in consts):
            return False
    elif x.type in BINARY and x.type != "Select":
        flags = [graph.op(p.node).type == "Const" for p in ports]
        if flags.count(False) != 1:
            return False
        data, consts = flags.index(False), [i for i, f in enumerate(flags) if f]
    else:
        return False
    rank = len(perm)
    new_inputs = list(ports)
    if x.type == "Pad":
        for k in (1, 2):
            pads = b.value(ports[k])
            if pads is None or len(pads) != rank:
                return False
            new_inputs[k] = b.const(np.array([pads[perm[j]] for j in range(rank)], pads.dtype),
                                    f"{x.name}/pads_hoisted")
    for i in consts:
        value = graph.op(ports[i].node).attrs["value"]
        if value.ndim > rank:
            return False
        value = value.reshape((1,) * (rank - value.ndim) + value.shape)
        new_inputs[i] = b.const(np.ascontiguousarray(np.transpose(value, perm)), f"{ports[i].node}/hoisted")
    order = b.const(np.array(perm, np.int64), f"{x.name}/hoisted_order")
    new_inputs[data] = b.emit("Transpose", [ports[data], order], f"{x.name}/hoisted")[0]
    graph.set_inputs(x.name, new_inputs)
    b.reinfer(x.name)
    graph.info(x_port).names.clear()  # the un-transposed tensor no longer exists
    _move_names(graph, Port(name), x_port)
    graph.replace_uses(Port(name), x_port)
    graph.remove(name)
    return True


def _hoist_over_unsqueeze(graph: Graph, b: IRBuilder, name: str, perm: tuple[int, ...]) -> bool:
    """Transpose(Unsqueeze(a, [k]), p) -> Unsqueeze(Transpose(a, p'), [p.index(k)])."""
    x_port = graph.inputs(name)[0]
    a_port, axes_port = graph.inputs(x_port.node)
    axes = b.value(axes_port)
    if axes is None or axes.size != 1:
        return False
    k = int(axes.reshape(-1)[0]) % len(perm)
    o = perm.index(k)
    inner = tuple(u if u < k else u - 1 for q, u in enumerate(perm) if q != o)
    order = b.const(np.array(inner, np.int64), f"{x_port.node}/hoisted_order")
    t = b.emit("Transpose", [a_port, order], f"{x_port.node}/hoisted")[0]
    graph.set_inputs(x_port.node, [t, b.const(np.array([o], axes.dtype), f"{x_port.node}/axes")])
    b.reinfer(x_port.node)
    graph.info(x_port).names.clear()
    _move_names(graph, Port(name), x_port)
    graph.replace_uses(Port(name), x_port)
    graph.remove(name)
    return True


def _drop_unused_transposes(graph: Graph) -> None:
    for op in list(graph.ops_of_type("Transpose")):
        if op.name in graph and not graph.consumers(op.name) and \
                Port(op.name) not in graph.outputs:
            perm = graph.inputs(op.name)[1].node
            graph.remove(op.name)
            if not graph.consumers(perm):
                graph.remove(perm)


def _restore_unused_nchw_inputs(graph: Graph, b: IRBuilder) -> None:
    """An input Transpose that could not be cancelled is worse than an NHWC Parameter: undo it."""
    for op in graph.ops_of_type("Parameter"):
        consumers = graph.consumers(Port(op.name))
        if len(consumers) != 1:
            continue
        t = graph.op(consumers[0][0])
        if t.type == "Transpose" and t.attrs.get("_from_input") and \
                perm_of(graph, Port(t.name)) == NCHW_TO_NHWC:
            shape = op.attrs["shape"]
            op.attrs["shape"] = tuple(shape[i] for i in NCHW_TO_NHWC)
            b.reinfer(op.name)
            graph.replace_uses(Port(t.name), Port(op.name))
            _drop_unused_transposes(graph)


def _transposed_inputs(graph: Graph, ports: list[Port]) -> tuple[int, ...] | None:
    """The common perm of the Transposes among ``ports`` if every non-constant input is one."""
    perm = None
    for p in ports:
        q = perm_of(graph, p)
        if q is not None:
            if perm is not None and q != perm:
                return None
            perm = q
        elif graph.op(p.node).type != "Const":
            return None
    return perm


def _sink_into(graph: Graph, b: IRBuilder, name: str) -> bool:
    op = graph.op(name)
    ports = graph.inputs(name)
    if op.type == "Transpose":
        return _merge_transposes(graph, b, name)
    if op.type == "MatMul":
        return _matmul_as_conv(graph, b, name)
    if op.type == "Unsqueeze":
        return _sink_unsqueeze(graph, b, name)
    if op.type in UNARY:
        data = ports[:1]
    elif op.type in BINARY or op.type == "Concat":
        data = ports
    elif op.type in REDUCE or op.type == "Pad" or (op.type == "Squeeze" and len(ports) == 2):
        data = ports[:1]
    else:
        return False
    perm = _transposed_inputs(graph, data)
    if perm is None:
        return False
    rank = len(perm)
    inv = inverse(perm)
    new_inputs = list(ports)
    for i, p in enumerate(data):
        if perm_of(graph, p) is not None:
            new_inputs[i] = graph.inputs(p.node)[0]
        else:  # a constant: bring it into the un-transposed layout
            value = graph.op(p.node).attrs["value"]
            if value.ndim > rank:
                return False
            value = value.reshape((1,) * (rank - value.ndim) + value.shape)
            new_inputs[i] = b.const(np.ascontiguousarray(np.transpose(value, inv)), f"{p.node}/sunk")
    out_perm = perm
    if op.type == "Concat":
        op.attrs["axis"] = perm[op.attrs["axis"] % rank]
    elif op.type in REDUCE or op.type == "Squeeze":
        axes_val = b.value(ports[1])
        if axes_val is None:
            return False
        axes = sorted(int(a) % rank for a in np.asarray(axes_val).reshape(-1))
        new_axes = np.array(sorted(perm[a] for a in axes), dtype=axes_val.dtype)
        new_inputs[1] = b.const(new_axes, f"{name}/axes_sunk")
        if op.type == "Squeeze" or not op.attrs.get("keep_dims", False):
            kept_src = [perm[i] for i in range(rank) if i not in axes]
            order = sorted(kept_src)
            out_perm = tuple(order.index(s) for s in kept_src)
    elif op.type == "Pad":
        new_pads = []
        for k in (1, 2):
            pads = b.value(ports[k])
            if pads is None:
                return False
            pads = np.asarray(pads).reshape(-1)
            new_pads.append(b.const(np.array([pads[inv[j]] for j in range(rank)], pads.dtype),
                                    f"{name}/pads_sunk"))
        new_inputs[1], new_inputs[2] = new_pads
    graph.set_inputs(name, new_inputs)
    for p in data:  # a bypassed Transpose no one uses: its TF names go to the permuted tensor
        if perm_of(graph, p) is not None and not graph.consumers(p) and p not in graph.outputs:
            _move_names(graph, p, graph.inputs(p.node)[0])
    b.reinfer(name)
    for i in range(len(op.outputs)):
        out = Port(name, i)
        users = graph.consumers(out)
        if not users or _is_identity(out_perm):
            continue
        order = b.const(np.array(out_perm, np.int64), f"{name}/sink/order")
        t = b.emit("Transpose", [out, order], f"{name}/sink")[0]
        for user, dst in users:
            graph.set_input(user, dst, t)
        _move_names(graph, out, t)
    return True


def _matmul_as_conv(graph: Graph, b: IRBuilder, name: str) -> bool:
    """MatMul(Transpose(x[N,C,H,W], to NHWC), W[C,K]) -> Transpose(Convolution(x, W as K x C x
    1 x 1), to NHWC): a Dense layer on channels-last features (ConvNeXt's pointwise layers) is a
    1x1 convolution, which keeps the NCHW layout; the Transpose sinks on past it."""
    op = graph.op(name)
    x, w_port = graph.inputs(name)
    w = b.value(w_port)
    if perm_of(graph, x) != NCHW_TO_NHWC or w is None or w.ndim != 2 or \
            op.attrs.get("transpose_a") or len(graph.consumers(x)) != 1:
        return False
    kernel = w if op.attrs.get("transpose_b") else w.T  # [K, C]
    weights = b.const(np.ascontiguousarray(kernel).reshape(kernel.shape + (1, 1)),
                      f"{name}/conv_weights")
    conv = b.emit("Convolution", [graph.inputs(x.node)[0], weights], f"{name}/conv1x1",
                  {"strides": [1, 1], "dilations": [1, 1], "pads_begin": [0, 0],
                   "pads_end": [0, 0], "auto_pad": "explicit"})[0]
    order = b.const(np.array(NCHW_TO_NHWC, np.int64), f"{name}/sink/order")
    t = b.emit("Transpose", [conv, order], f"{name}/sink")[0]
    _move_names(graph, Port(name), t)
    graph.replace_uses(Port(name), t)
    graph.remove(name)
    return True


def _sink_unsqueeze(graph: Graph, b: IRBuilder, name: str) -> bool:
    """Unsqueeze(Transpose(x, p), [a]) -> Transpose(Unsqueeze(x, [a']), p'). The new axis goes
    where the Transpose that follows (a Conv1D's to-NCHW) then cancels, if there is one."""
    x_t, axes_port = graph.inputs(name)
    perm = perm_of(graph, x_t)
    axes = b.value(axes_port)
    if perm is None or axes is None or axes.size != 1:
        return False
    rank = len(perm)
    a = int(axes.reshape(-1)[0]) % (rank + 1)
    kept = [q for q in range(rank + 1) if q != a]  # output positions of the Transpose's axes

    def out_perm(a2: int) -> tuple[int, ...]:
        where = [j if j < a2 else j + 1 for j in range(rank)]  # x axis j in Unsqueeze(x, a2)
        p2 = [0] * (rank + 1)
        p2[a] = a2
        for i, q in enumerate(kept):
            p2[q] = where[perm[i]]
        return tuple(p2)

    choice = a
    users = graph.consumers(Port(name))
    nxt = perm_of(graph, Port(users[0][0])) if len(users) == 1 else None
    if nxt is not None and len(nxt) == rank + 1:
        for a2 in range(rank + 1):
            if _is_identity(tuple(out_perm(a2)[i] for i in nxt)):
                choice = a2
    new_axes = b.const(np.array([choice], axes.dtype), f"{name}/axes_sunk")
    graph.set_inputs(name, [graph.inputs(x_t.node)[0], new_axes])
    if not graph.consumers(x_t) and x_t not in graph.outputs:
        _move_names(graph, x_t, graph.inputs(x_t.node)[0])
    b.reinfer(name)
    p2 = out_perm(choice)
    if users and not _is_identity(p2):
        order = b.const(np.array(p2, np.int64), f"{name}/sink/order")
        t = b.emit("Transpose", [Port(name), order], f"{name}/sink")[0]
        for user, dst in users:
            graph.set_input(user, dst, t)
        _move_names(graph, Port(name), t)
    return True


def _merge_transposes(graph: Graph, b: IRBuilder, name: str) -> bool:
    """Transpose(Transpose(x, p1), p2) -> Transpose(x, p1[p2]) or x itself."""
    ports = graph.inputs(name)
    first = perm_of(graph, ports[0])
    second = perm_of(graph, Port(name))
    if first is None or second is None or len(first) != len(second):
        return False
    source = graph.inputs(ports[0].node)[0]
    combined = tuple(first[i] for i in second)
    if _is_identity(combined):
        out = Port(name)
        names = list(graph.info(out).names)
        graph.replace_uses(out, source)
        src_names = graph.info(source).names
        src_names.extend(n for n in names if n not in src_names)
        graph.remove(name)
        return True
    order = b.const(np.array(combined, np.int64), f"{name}/merged_order")
    graph.set_inputs(name, [source, order])
    b.reinfer(name)
    return True
