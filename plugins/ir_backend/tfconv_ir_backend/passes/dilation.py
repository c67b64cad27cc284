"""SpaceToBatch -> convolution -> BatchToSpace (TF's dilated convolution) -> one dilated
convolution.

TF runs an atrous convolution (Keras' ``Conv1D(dilation_rate=d)``, keras-tcn's causal dilated
convolutions) as ``SpaceToBatchND(x, [d]) -> Conv(dilation 1, VALID) -> BatchToSpaceND(y, [d])``;
the frontend spells each of the two as Reshape -> Transpose -> Reshape. Folding the ``d`` phases
of the signal into the batch and back is what a convolution with dilation ``d`` does in one op,
so the seven ops become the convolution alone (with ``dilations[axis] = d``).

Matched before the layout passes, in TF's channels-last layout: every Reshape is checked against
the split/merge it must be (from the inferred shapes, ``-1`` only where the batch goes), every
op between the two is batch-independent (Unsqueeze/Squeeze/Transpose that keep axis 0, the
convolution with stride 1 and no padding), and the dilated axis is followed through them.
"""
from __future__ import annotations

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .fusion import _const, _sole_consumer

CONVS = ("Convolution", "GroupConvolution")
CHAIN = ("Unsqueeze", "Squeeze", "Transpose") + CONVS


def _shape(graph: Graph, port: Port) -> tuple | None:
    return graph.info(port).shape


def _reshape_to(graph: Graph, port: Port, dims: tuple) -> bool:
    """``port`` is a Reshape to ``dims`` (None: the batch) whose constant target has -1 at most
    in the batch's position."""
    op = graph.op(port.node)
    if op.type != "Reshape":
        return False
    target = _const(graph, graph.inputs(op.name)[1])
    if target is None or op.attrs.get("special_zero"):
        return False
    target = [int(v) for v in target.reshape(-1)]
    if len(target) != len(dims) or sum(t == -1 for t in target) > 1 or \
            any(t == -1 and want is not None for t, want in zip(target, dims)):
        return False
    shape = _shape(graph, port)
    return shape is not None and len(shape) == len(dims) and all(
        want is None or (have == want and (t == -1 or t == want))
        for have, want, t in zip(shape, dims, target))


def _perm(graph: Graph, port: Port) -> tuple | None:
    op = graph.op(port.node)
    if op.type != "Transpose":
        return None
    value = _const(graph, graph.inputs(op.name)[1])
    return None if value is None else tuple(int(v) for v in value.reshape(-1))


def _space_to_batch(graph: Graph, merge: Port):
    """merge = Reshape(Transpose(Reshape(base, [B, L/d, d, C]), [2, 0, 1, 3]), [d*B, L/d, C]):
    (base port, d)."""
    shape = _shape(graph, merge)
    if shape is None or len(shape) != 3 or graph.op(merge.node).type != "Reshape":
        return None
    t = graph.inputs(merge.node)[0]
    if _perm(graph, t) != (2, 0, 1, 3) or _sole_consumer(graph, t) != merge.node:
        return None
    split = graph.inputs(t.node)[0]
    base = graph.inputs(split.node)[0] if graph.op(split.node).type == "Reshape" else None
    bshape = None if base is None else _shape(graph, base)
    sshape = _shape(graph, split)
    if bshape is None or sshape is None or len(bshape) != 3 or len(sshape) != 4 or \
            _sole_consumer(graph, split) != t.node:
        return None
    d = sshape[2]
    if d is None or d < 2 or bshape[1] is None or bshape[1] % d or bshape[2] is None:
        return None
    if not _reshape_to(graph, split, (bshape[0], bshape[1] // d, d, bshape[2])) or \
            not _reshape_to(graph, merge, (None, bshape[1] // d, bshape[2])):
        return None
    return base, d


def _batch_to_space(graph: Graph, split: Port, d: int):
    """split = Reshape(y[d*B, L, C], [d, B, L, C]) -> Transpose [1, 2, 0, 3] -> Reshape
    [B, L*d, C]: the final merge port."""
    y = graph.inputs(split.node)[0] if graph.op(split.node).type == "Reshape" else None
    yshape = None if y is None else _shape(graph, y)
    if yshape is None or len(yshape) != 3 or yshape[1] is None or yshape[2] is None:
        return None
    _, length, channels = yshape
    if not _reshape_to(graph, split, (d, None, length, channels)):
        return None
    users = graph.consumers(split)
    if len(users) != 1:
        return None
    t = Port(users[0][0])
    if _perm(graph, t) != (1, 2, 0, 3):
        return None
    users = graph.consumers(t)
    if len(users) != 1:
        return None
    merge = Port(users[0][0])
    return merge if _reshape_to(graph, merge, (None, length * d, channels)) else None


def _axes(graph: Graph, name: str, rank: int) -> list[int] | None:
    value = _const(graph, graph.inputs(name)[1])
    return None if value is None else sorted(int(a) % rank for a in value.reshape(-1))


def _fold(graph: Graph, b: IRBuilder, merge: Port) -> bool:
    got = _space_to_batch(graph, merge)
    if got is None:
        return False
    base, d = got
    chain, port, pos, conv = [], merge, 1, None  # pos: the dilated axis in `port`'s tensor
    while True:
        users = graph.consumers(port)
        if len(users) != 1 or users[0][1] != 0:
            return False
        name = users[0][0]
        op = graph.op(name)
        if op.type == "Reshape":
            break
        if op.type not in CHAIN:
            return False
        rank = len(_shape(graph, port) or ())
        if op.type == "Unsqueeze":
            out_rank = len(_shape(graph, Port(name)) or ())
            axes = _axes(graph, name, out_rank)
            if axes is None or 0 in axes:
                return False
            kept = [i for i in range(out_rank) if i not in axes]
            pos = kept[pos]
        elif op.type == "Squeeze":
            axes = _axes(graph, name, rank) if len(graph.inputs(name)) > 1 else None
            if axes is None or 0 in axes or pos in axes:
                return False
            pos -= sum(a < pos for a in axes)
        elif op.type == "Transpose":
            perm = _perm(graph, Port(name))
            if perm is None or perm[0] != 0:
                return False
            pos = perm.index(pos)
        else:
            if conv is not None or _const(graph, graph.inputs(name)[1]) is None or pos < 2 or \
                    any(v != 1 for v in op.attrs.get("strides", [])) or \
                    any(v != 1 for v in op.attrs.get("dilations", [])) or \
                    any(op.attrs.get("pads_begin", [])) or any(op.attrs.get("pads_end", [])) or \
                    op.attrs.get("auto_pad", "explicit") not in ("explicit", "notset", "valid"):
                return False
            conv = (name, pos - 2)
        chain.append(name)
        port = Port(name)
    if conv is None or pos != 1:
        return False
    out = _batch_to_space(graph, Port(name), d)
    if out is None:
        return False
    graph.set_input(chain[0], 0, base)
    conv_op = graph.op(conv[0])
    dilations = list(conv_op.attrs.get("dilations", [1] * len(conv_op.attrs["strides"])))
    dilations[conv[1]] = d
    conv_op.attrs["dilations"] = dilations
    for name in chain:
        b.reinfer(name)
    names = graph.info(out).names
    target = graph.info(Port(chain[-1])).names
    target.extend(n for n in names if n not in target)
    graph.replace_uses(out, Port(chain[-1]))
    return True


@graph_pass("ir_backend.fold_space_to_batch", stage="ir", after=["ir_backend.canonicalize"],
            before=["ir_backend.nchw_inputs"])
def fold_space_to_batch(graph: Graph, config) -> None:
    """SpaceToBatch (Reshape/Transpose/Reshape) -> conv -> BatchToSpace -> dilated conv."""
    b = IRBuilder(graph)
    found = False
    for op in list(graph.ops_of_type("Reshape")):
        if op.name in graph and _fold(graph, b, Port(op.name)):
            found = True
    if found:
        graph.remove_dead(keep=[op.name for op in graph.ops_of_type("Parameter")])
