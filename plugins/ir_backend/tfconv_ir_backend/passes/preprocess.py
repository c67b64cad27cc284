"""Preprocessing embedded in the IR: ``--reverse_input_channels``, ``--mean_values``,
``--scale_values`` and ``--scale``, so that the IR's inputs take raw images.

The data flow is fixed whatever the flag order: ``x_model = (reverse(x_raw) - mean) / scale``
along the channel axis. Two passes do it:

``preprocess_inputs`` (before the layout passes) checks the flags against the inputs
(:meth:`tfconv.config.Preprocessing.resolve`) and puts marker ops right after each Parameter,
in TF layout: a Multiply by ones that stands for the channel reversal, an Add of ``-mean`` and a
Multiply by ``1/scale``. Their constants are per-channel tensors, so the layout passes carry
them into NCHW like any other element-wise op: afterwards the constant's shape says on which
axis the channels are.

``fold_preprocessing`` (after the layout passes, before the linear fusions) removes them again
where that is exact: when every consumer is a Convolution or a MatMul with constant weights,
reversal and scale go into the weights (``W'[:, c] = W[:, C-1-c] / s[C-1-c]``) and the mean into
the bias (``b' = b - sum(W' * rev(m))``), so the IR has no extra op. A convolution that pads
sees padded zeros, which are ``-m/s`` in the model's normalised space but ``0`` there: the mean
then stays as one Add on the raw input (reversal and scale still fold). Otherwise the ops stay
explicit: a Gather for the reversal, the Add and the Multiply.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from tfconv.config import ModelInput, Preprocessing
from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .fusion import _bypass, _channel_vector, _const, _sole_consumer
from .layout import NCHW_TO_NHWC, perm_of

if TYPE_CHECKING:
    from tfconv.config import ConvertConfig, InputPreprocess

log = logging.getLogger("tfconv.ir_backend")

MARK = "_preprocess"          # attribute of the marker ops: {"input", "role", "values"}
ROLES = ("reverse", "mean", "scale")
UNPADDED = ("explicit", "notset", "valid")


def _spec(graph: Graph, config: ConvertConfig) -> Preprocessing:
    """The user's flags, else a plugin's preset in ``graph.meta["preprocess"]`` (user flags win)."""
    spec = getattr(config, "preprocess", None) or Preprocessing()
    preset = graph.meta.get("preprocess")
    if preset and spec:
        source = preset.get("source", "a plugin") if isinstance(preset, dict) else "a plugin"
        log.info("the preprocessing flags replace the preset of %s", source)
    elif preset:
        spec = Preprocessing.from_meta(preset)
    return spec


@graph_pass("ir_backend.preprocess_inputs", stage="ir",
            after=["ir_backend.canonicalize", "ir_backend.fuse_swish"],
            before=["ir_backend.nchw_inputs"])
def preprocess_inputs(graph: Graph, config: ConvertConfig) -> None:
    """Check the preprocessing flags against the inputs; put marker ops after each Parameter."""
    spec = _spec(graph, config)
    if not spec:
        return
    params = graph.ops_of_type("Parameter")
    inputs = []
    for op in params:
        info = op.outputs[0]
        kind = np.dtype(info.dtype).kind if info.dtype is not None else "?"
        aliases = tuple(n for n in info.names if n != op.name)
        aliases += tuple(n[:-2] for n in info.names if n.endswith(":0"))
        inputs.append(ModelInput(op.name, aliases, info.shape, kind == "f"))
    plan = spec.resolve(inputs)
    if spec.reverse_input_channels:
        skipped = [i.name for i in inputs if i.name not in plan or not plan[i.name][0].reverse_channels]
        if skipped:
            log.info("--reverse_input_channels: inputs without 3 channels left as they are: %s",
                     ", ".join(skipped))
    if spec.source != "flags" and not plan:
        log.warning("%s preprocessing not applied: the model has no 3-channel image input",
                    spec.source)
    b = IRBuilder(graph, fold=False)
    applied: dict[str, str] = {}
    for op in params:
        if op.name not in plan:
            continue
        pre, axis = plan[op.name]
        _insert_markers(graph, b, op.name, pre, axis)
        where = "" if spec.source == "flags" else f" (preset {spec.source})"
        applied[op.name] = pre.formula(op.name) + where
        log.info("input %s: the model sees %s", op.name, applied[op.name])
    graph.meta["preprocessing"] = applied
    # {input: (InputPreprocess, channel axis in TF layout)}: InputPreprocess.apply(x, axis)
    # gives what the original model sees for a raw input x (e.g. to feed TensorFlow).
    graph.meta["preprocess_plan"] = dict(plan)


def _insert_markers(graph: Graph, b: IRBuilder, name: str, pre: InputPreprocess,
                    axis: int | None) -> None:
    param = Port(name)
    info = graph.info(param)
    rank = len(info.shape) if info.shape is not None else 0
    dtype = np.dtype(info.dtype)
    consumers = graph.consumers(param)

    def shaped(values) -> np.ndarray:
        vec = np.asarray(values, np.float64)
        shape = [1] * rank
        if vec.size > 1:
            shape[axis] = vec.size  # type: ignore[index]
        return vec.reshape(shape).astype(dtype)

    x = param
    steps = [("reverse", (1.0,) * info.shape[axis] if pre.reverse_channels else None,  # type: ignore[index]
              "Multiply", lambda v: shaped(v)),
             ("mean", pre.mean, "Add", lambda v: -shaped(v)),
             ("scale", pre.scale, "Multiply", lambda v: shaped(1.0 / np.asarray(v, np.float64)))]
    for role, values, ir_type, const in steps:
        if values is None:
            continue
        c = b.const(const(values), f"{name}/preprocess/{role}/value")
        x = b.emit(ir_type, [x, c], f"{name}/preprocess/{role}")[0]
        graph.op(x.node).attrs[MARK] = {"input": name, "role": role,
                                        "values": tuple(float(v) for v in values)}
    for user, dst in consumers:
        graph.set_input(user, dst, x)


# -- folding ---------------------------------------------------------------------------------


@graph_pass("ir_backend.fold_preprocessing", stage="ir",
            after=["ir_backend.sink_transposes", "ir_backend.fuse_pad",
                   "ir_backend.merge_duplicates", "ir_backend.flatten_concats",
                   "ir_backend.fold_reshape_shapes", "ir_backend.transposes_to_reshapes"],
            before=["ir_backend.fuse_linear"])
def fold_preprocessing(graph: Graph, config: ConvertConfig) -> None:
    """Fold the marker ops into the first convolutions/MatMuls where exact; else make them
    explicit ops (Gather for the reversal, Add, Multiply)."""
    chains: dict[str, dict[str, str]] = {}
    for op in graph:
        mark = op.attrs.get(MARK)
        if mark:
            chains.setdefault(mark["input"], {})[mark["role"]] = op.name
    b = IRBuilder(graph, fold=False)
    done = graph.meta.setdefault("preprocessing", {})
    for name, roles in chains.items():
        _restore_nhwc_input(graph, b, name, roles)
        how = _fold_chain(graph, b, roles)
        if name in done:  # type: ignore[operator]
            done[name] = f"{done[name]}: {how}"  # type: ignore[index]
        log.info("input %s preprocessing: %s", name, how)


def _chain(graph: Graph, roles: dict[str, str]) -> list[str] | None:
    """The marker ops in data-flow order if they still form a single-use chain."""
    ordered = [roles[r] for r in ROLES if r in roles]
    for prev, nxt in zip(ordered, ordered[1:]):
        if graph.inputs(nxt)[0] != Port(prev) or _sole_consumer(graph, Port(prev)) != nxt:
            return None
    return ordered


def _axis_of(graph: Graph, names: list[str]) -> tuple[int | None, int]:
    """(channel axis, channel count) read off the marker constants' shapes (None: scalars)."""
    for n in names:
        value = _const(graph, graph.inputs(n)[1])
        if value is not None and value.size > 1:
            axis = next(i for i, d in enumerate(value.shape) if d > 1)
            return axis, value.shape[axis]
    return None, 1


def _fold_chain(graph: Graph, b: IRBuilder, roles: dict[str, str]) -> str:
    ops = _chain(graph, roles)
    if ops is None:
        _make_explicit(graph, b, roles)
        return "kept as explicit ops"
    marks = {graph.op(n).attrs[MARK]["role"]: graph.op(n).attrs[MARK] for n in ops}
    axis, channels = _axis_of(graph, ops)
    out = Port(ops[-1])
    targets = []
    for user, dst in graph.consumers(out):
        found = _targets(graph, user, dst, axis)
        if found is None:
            targets = []
            break
        targets.extend(found)
    if not targets or out in graph.outputs:
        _make_explicit(graph, b, roles)
        return "kept as explicit ops (an input consumer is not a convolution or MatMul with constant weights)"
    n = channels if axis is not None else targets[0][2]
    if any(t[2] != n for t in targets):
        _make_explicit(graph, b, roles)
        return "kept as explicit ops (the channel counts of its consumers differ)"
    reverse = "reverse" in marks
    def values(role: str) -> np.ndarray | None:
        return np.broadcast_to(np.asarray(marks[role]["values"], np.float64), (n,)) \
            if role in marks else None

    mean, scale = values("mean"), values("scale")
    if scale is None:
        scale = np.ones(n)
    order = np.arange(n)[::-1] if reverse else np.arange(n)
    raw_mean = None if mean is None else mean[order]     # the mean in the raw input's channel order
    keep_mean = raw_mean is not None and any(t[3] for t in targets)
    source = graph.inputs(ops[0])[0]
    reweigh = reverse or "scale" in marks or not keep_mean
    added = [user for user, kind, _, _ in targets if reweigh and
             _fold_into(graph, b, user, kind, scale[order], order, None if keep_mean else raw_mean)]
    # Re-wire: the consumers read the raw input (or the kept mean Add on it).
    feed = source
    if keep_mean:
        mean_op = roles["mean"]
        value = np.asarray(_const(graph, graph.inputs(mean_op)[1]))
        vec = -raw_mean if axis is not None else -raw_mean[:1]  # type: ignore[index]
        c = b.const(vec.reshape(value.shape).astype(value.dtype), f"{mean_op}/raw_value")
        graph.set_inputs(mean_op, [source, c])
        graph.op(mean_op).attrs.pop(MARK, None)
        feed = Port(mean_op)
    graph.replace_uses(out, feed)
    for n_ in reversed(ops):
        if n_ in graph and not graph.consumers(n_) and Port(n_) != feed:
            const = graph.inputs(n_)[1]
            graph.remove(n_)
            if not graph.consumers(const.node):
                graph.remove(const.node)
    kinds = sorted({t[1] for t in targets})
    names = ", ".join(t[0] for t in targets)
    if keep_mean:
        what = " and ".join(w for w, given in (("reversal", reverse), ("scale", "scale" in marks)) if given)
        folded = f"{what} folded into the weights of {names}; " if reweigh else ""
        return (f"{folded}the mean stays as one Add on the raw input because the convolution "
                "pads with zeros (folding it would change the padded border)")
    if added:
        return (f"folded into the weights and bias of {names} ({'/'.join(kinds)}); "
                f"{', '.join(added)} had no bias, so one bias Add follows")
    return f"folded into the weights and bias of {names} ({'/'.join(kinds)}), no extra ops"


def _targets(graph: Graph, user: str, dst: int, axis: int | None) -> list[tuple] | None:
    """The ops that would take the preprocessing into their weights when ``user`` reads the
    chain at input ``dst``, looking through one Transpose (NHWC inputs); None if any cannot."""
    op = graph.op(user)
    if op.type != "Transpose":
        found = _foldable(graph, op, dst, axis)
        return None if found is None else [found]
    perm = perm_of(graph, Port(user))
    users = graph.consumers(Port(user))
    if dst != 0 or perm is None or not users or Port(user) in graph.outputs:
        return None
    inner_axis = None if axis is None else perm.index(axis)
    found = [_foldable(graph, graph.op(u), d, inner_axis) for u, d in users]
    return None if any(f is None for f in found) else found


def _foldable(graph: Graph, op, dst: int, axis: int | None) -> tuple | None:
    """``(name, kind, channels, pads)`` when ``op`` reads the preprocessed data at input
    ``dst`` and can take it into its constant weights, else None."""
    if dst != 0:
        return None
    ins = graph.inputs(op.name)
    w = _const(graph, ins[1]) if len(ins) > 1 else None
    if w is None or w.dtype.kind != "f":
        return None
    if op.type == "Convolution" and w.ndim >= 3 and axis in (1, None):
        pads = op.attrs.get("auto_pad", "explicit") not in UNPADDED or \
            any(op.attrs.get("pads_begin", [])) or any(op.attrs.get("pads_end", []))
        return (op.name, "Convolution", w.shape[1], bool(pads))
    if op.type == "MatMul" and w.ndim == 2 and not op.attrs.get("transpose_a"):
        rank = graph.info(ins[0]).rank
        if rank is None or rank < 2 or axis not in (rank - 1, None):
            return None
        k = w.shape[1] if op.attrs.get("transpose_b") else w.shape[0]
        return (op.name, "MatMul", k, False)
    return None


def _fold_into(graph: Graph, b: IRBuilder, name: str, kind: str,
               scale_raw: np.ndarray, order: np.ndarray, raw_mean: np.ndarray | None) -> bool:
    """Weights read the raw channels: ``W'[:, c] = W[:, order[c]] / scale[order[c]]``; with
    ``raw_mean`` the bias gains ``-sum(W' * raw_mean)``. True when a bias Add was inserted."""
    op = graph.op(name)
    w = _const(graph, graph.inputs(name)[1]).astype(np.float64)  # type: ignore[union-attr]
    if kind == "Convolution":
        w2 = w[:, order] / scale_raw.reshape((1, -1) + (1,) * (w.ndim - 2))
        delta = None if raw_mean is None else \
            -np.einsum("oc...,c->o...", w2, raw_mean).reshape(w2.shape[0], -1).sum(axis=1)
    elif op.attrs.get("transpose_b"):
        w2 = w[:, order] / scale_raw.reshape(1, -1)
        delta = None if raw_mean is None else -(w2 @ raw_mean)
    else:
        w2 = w[order, :] / scale_raw.reshape(-1, 1)
        delta = None if raw_mean is None else -(raw_mean @ w2)
    dtype = graph.info(graph.inputs(name)[1]).dtype
    graph.set_input(name, 1, b.const(np.ascontiguousarray(w2.astype(dtype)),
                                     f"{name}/preprocessed_weights"))
    if delta is not None and np.any(delta != 0):
        return _add_bias(graph, b, name, kind, delta.astype(dtype))
    return False


def _add_bias(graph: Graph, b: IRBuilder, name: str, kind: str, delta: np.ndarray) -> bool:
    """Add ``delta`` (one value per output channel) to the op's constant bias Add, or insert
    one (then True)."""
    out = Port(name)
    rank = graph.info(out).rank
    axis = 1 if kind == "Convolution" else rank - 1  # type: ignore[operator]
    shape = [1] * rank  # type: ignore[arg-type]
    shape[axis] = delta.size
    # conv -> [Multiply(per-channel c)] -> Add(per-channel b): (y + d) * c + b = y * c + (d * c + b)
    port, factor, passed = out, np.ones(delta.size), []
    for _ in range(2):
        user = _sole_consumer(graph, port)
        if user is None or graph.op(user).type not in ("Add", "Multiply") or port in graph.outputs:
            break
        ins = graph.inputs(user)
        other = ins[1] if ins[0] == port else ins[0]
        value = _const(graph, other)
        vec = None if value is None else _channel_vector(value, rank, delta.size, axis)
        if vec is None or value.dtype != delta.dtype:
            break
        if graph.op(user).type == "Multiply":
            if passed:
                break
            factor, port = vec.astype(np.float64), Port(user)
            passed.append(port)
            continue
        new = (vec.astype(np.float64) + delta * factor).astype(delta.dtype).reshape(shape)
        c = b.const(new, f"{other.node}/preprocessed")
        graph.set_inputs(user, [port if p == port else c for p in ins])
        b.reinfer(user)
        for p in (out, *passed):  # before the bias they no longer equal TF's tensors
            graph.info(p).names.clear()
        return False
    users = graph.consumers(out)
    was_output = out in graph.outputs
    c = b.const(delta.reshape(shape), f"{name}/preprocess_bias")
    add = b.emit("Add", [out, c], f"{name}/preprocess_bias_add")[0]
    for u, dst in users:
        graph.set_input(u, dst, add)
    if was_output:
        graph.outputs = [add if p == out else p for p in graph.outputs]
    names = graph.info(out).names
    graph.info(add).names.extend(names)
    names.clear()
    return True


def _restore_nhwc_input(graph: Graph, b: IRBuilder, name: str, roles: dict[str, str]) -> None:
    """The layout pass gives an NCHW Parameter back its NHWC layout when its input Transpose
    cannot be cancelled. With preprocessing ops in between, that Transpose was moved along them
    (sunk below them, ``<last op>/sink``, or hoisted back above them) and the layout pass did
    not recognise it: do the same here, so that the flags never change an input's layout."""
    ops = [roles[r] for r in ROLES if r in roles]
    if graph.op(name).type != "Parameter":
        return
    users = graph.consumers(Port(name))
    above = len(users) == 1 and perm_of(graph, Port(users[0][0])) == NCHW_TO_NHWC and \
        _sole_consumer(graph, Port(users[0][0])) == ops[0]
    below = False
    if not above and graph.inputs(ops[0])[0] == Port(name) and len(users) == 1:
        after = graph.consumers(Port(ops[-1]))
        below = len(after) == 1 and after[0][0] == f"{ops[-1]}/sink" and \
            perm_of(graph, Port(after[0][0])) == NCHW_TO_NHWC
    if not (above or below):
        return
    param = graph.op(name)
    shape = param.attrs["shape"]
    param.attrs["shape"] = tuple(shape[i] for i in NCHW_TO_NHWC)
    b.reinfer(name)
    if above:
        t = users[0][0]
        _drop_transpose(graph, t, Port(name))
    for op_name in ops:
        c = graph.inputs(op_name)[1]
        value = _const(graph, c)
        if below and value is not None and value.ndim == 4:
            moved = b.const(np.ascontiguousarray(np.transpose(value, NCHW_TO_NHWC)), f"{c.node}/nhwc")
            graph.set_input(op_name, 1, moved)
            if not graph.consumers(c.node):
                graph.remove(c.node)
        b.reinfer(op_name)
    if below:
        _drop_transpose(graph, f"{ops[-1]}/sink", Port(ops[-1]))


def _drop_transpose(graph: Graph, t: str, source: Port) -> None:
    order = graph.inputs(t)[1].node
    _bypass(graph, t, source)
    if not graph.consumers(order):
        graph.remove(order)


def _make_explicit(graph: Graph, b: IRBuilder, roles: dict[str, str]) -> None:
    """Keep the Add and Multiply as they are; the reversal marker becomes a Gather."""
    for role, name in roles.items():
        op = graph.op(name)
        op.attrs.pop(MARK, None)
        if role != "reverse":
            continue
        x, c = graph.inputs(name)
        value = _const(graph, c)
        axis = next(i for i, d in enumerate(value.shape) if d > 1)  # type: ignore[union-attr]
        channels = value.shape[axis]  # type: ignore[union-attr]
        idx = b.const(np.arange(channels, dtype=np.int64)[::-1].copy(), f"{name}/indices")
        ax = b.const(np.array(axis, np.int64), f"{name}/axis")
        g = b.emit("Gather", [x, idx, ax], f"{name}/gather", {"batch_dims": 0})[0]
        _bypass(graph, name, g)
        if not graph.consumers(c.node):
            graph.remove(c.node)
