"""Frozen GraphDef -> source-dialect :class:`~tfconv.graph.Graph` (no TensorFlow import)."""
from __future__ import annotations

import difflib
import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tfconv.errors import ModelFormatError, TfconvError, UsageError
from tfconv.graph import Graph, Port, TensorInfo

from . import formats, freeze, functions, outputs, proto, sniff
from .declared_shapes import DECLARED_INPUTS

if TYPE_CHECKING:
    from tfconv.config import ConvertConfig, InputSpec

log = logging.getLogger("tfconv.tf_frontend")

# Op types that are never model outputs even when nothing consumes them.
NOT_OUTPUTS = {"NoOp", "Assert", "SaveV2", "RestoreV2", "Const", "Placeholder", "VarHandleOp",
               "VariableV2", "Variable", "Assign", "AssignVariableOp", "MergeV2Checkpoints"}
INPUT_OPS = {"Placeholder", "PlaceholderV2"}


def graph_from_graphdef(gd: proto.GraphDef, name: str) -> Graph:
    """Build the source graph: one op per NodeDef, data inputs in order, control inputs dropped."""
    graph = Graph("tf", name=name)
    nodes = list(gd.node)
    n_out: dict[str, int] = {}
    parsed: list[tuple[object, list[Port]]] = []
    for node in nodes:
        ports = []
        for ref in node.input:
            if ref.startswith("^"):
                continue
            src, _, idx = ref.partition(":")
            if idx and not idx.isdigit():
                msg = (f"node {node.name!r} ({node.op}) has input {ref!r}, which is not a tensor "
                       "name (node or node:port); the graph is malformed")
                raise ModelFormatError(msg)
            port = Port(src, int(idx) if idx else 0)
            ports.append(port)
            n_out[src] = max(n_out.get(src, 1), port.index + 1)
        parsed.append((node, ports))
    for node, _ in parsed:
        try:
            # keys, then lookups: a protobuf map's items() iterates through a Python generator
            # (collections.abc), a fifth of this loop's time
            attr = node.attr
            attrs = {key: proto.attr_to_python(attr[key]) for key in attr}
        except ModelFormatError as err:
            raise ModelFormatError(f"node {node.name!r} ({node.op}): {err}") from err
        op = graph.add_op(node.op, node.name, (), attrs, num_outputs=n_out.get(node.name, 1))
        shapes = attrs.get("_output_shapes")
        if isinstance(shapes, list):
            for info, shape in zip(op.outputs, shapes):
                info.shape = shape
        if node.op == "Const" and isinstance(attrs.get("value"), np.ndarray):
            op.outputs[0].shape, op.outputs[0].dtype = attrs["value"].shape, attrs["value"].dtype
    missing = []
    for node, ports in parsed:
        bad = [p for p in ports if p.node not in graph]
        if bad:
            missing.append(f"{node.name} <- {bad[0].node}")
            continue
        graph.set_inputs(node.name, ports)
    if missing:
        msg = (f"the graph refers to {len(missing)} missing node(s), e.g. {missing[0]}; "
               "the file is incomplete or was cut badly")
        raise UsageError(msg)
    graph.meta["inputs"] = [op.name for op in graph if op.type in INPUT_OPS]
    graph.outputs, graph.meta["leftover_outputs"] = outputs.for_graph(graph, NOT_OUTPUTS)
    return graph


def default_outputs(graph: Graph) -> list[Port]:
    """Every output port no op consumes, of ops that compute something, but training
    leftovers (``outputs.py``)."""
    return outputs.for_graph(graph, NOT_OUTPUTS)[0]


def placeholders_listing(graph: Graph) -> str:
    rows = []
    for name in graph.meta.get("inputs", []):
        op = graph.op(name)
        shape = op.attrs.get("shape")
        dims = "?" if shape is None else "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"
        rows.append(f"{name} {dims} {np.dtype(op.attrs.get('dtype', np.float32))}")
    return "; ".join(rows) or "none"


_STRIP_PREFIXES = ("import/", "serving_default_")


def _bare(name: str) -> str:
    """``name`` without a ``:0`` suffix and ``import/`` / ``serving_default_`` prefixes, for
    matching a mistyped name against the graph's names."""
    if name.endswith(":0"):
        name = name[:-2]
    changed = True
    while changed:
        changed = False
        for prefix in _STRIP_PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix):], True
    return name


def _did_you_mean(graph: Graph, name: str) -> list[str]:
    """Nearest node names: exact after stripping ``:0``/``import/``/``serving_default_``, names
    that end with the given one (``.../name``), then close spellings."""
    names = [op.name for op in graph]
    by_bare: dict[str, list[str]] = {}
    for n in names:
        by_bare.setdefault(_bare(n), []).append(n)
    want = _bare(name)
    found: list[str] = list(by_bare.get(want, []))
    if want:
        found += [n for n in names if n not in found and n != want
                  and (n.endswith("/" + want) or _bare(n).endswith("/" + want))]
        found += [n for n in names if n not in found and n != want and n.endswith(want)]
    close = difflib.get_close_matches(want, list(by_bare), n=3, cutoff=0.5)
    for bare in close:
        found += [n for n in by_bare[bare] if n not in found]
    return found[:5]


def _unknown_name(graph: Graph, kind: str, name: str) -> UsageError:
    near = _did_you_mean(graph, name)
    outs = ", ".join(str(p) for p in default_outputs(graph)[:5]) or "none"
    hint = f" Did you mean: {', '.join(near)}?" if near else ""
    msg = (f"{kind} {name!r} is not a node of the model.{hint} "
           f"Placeholders: {placeholders_listing(graph)}. Likely outputs: {outs}.")
    return UsageError(msg)


def _num_outputs(graph: Graph, name: str) -> int:
    op = graph.op(name)
    shapes = op.attrs.get("_output_shapes")
    return max(len(op.outputs), len(shapes) if isinstance(shapes, list) else 0)


def _check_out_port(graph: Graph, name: str, port: int, what: str) -> None:
    n = _num_outputs(graph, name)
    if port >= n:
        op = graph.op(name)
        msg = (f"{what}: node {name!r} ({op.type}) has {n} output(s) used in the graph (port 0"
               f"{'' if n == 1 else f'..{n - 1}'}); output port {port} does not exist")
        raise UsageError(msg)


def _split_tensor(graph: Graph, text: str) -> Port:
    name, _, idx = text.partition(":")
    if name not in graph and text in graph:
        return Port(text, 0)
    if name not in graph:
        raise _unknown_name(graph, "output", text)
    return Port(name, int(idx) if idx.isdigit() else 0)


# Ops whose ``T`` is the input type but whose output is boolean.
_BOOL_OUTPUT_OPS = {"Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
                    "LogicalAnd", "LogicalOr", "LogicalNot", "IsNan", "IsInf", "IsFinite"}


def _tensor_dtype(graph: Graph, port: Port) -> np.dtype | None:
    """The element type of an output port, as far as the producer's attrs tell."""
    info = graph.info(port)
    if info.dtype is not None:
        return np.dtype(info.dtype)
    op = graph.op(port.node)
    attrs = op.attrs
    if op.type in _BOOL_OUTPUT_OPS:
        return np.dtype(bool)
    types = attrs.get("_output_types")
    if isinstance(types, list) and port.index < len(types):
        return np.dtype(types[port.index])
    for key in ("DstT", "out_type", "output_type", "dtype", "T"):
        value = attrs.get(key)
        if value is not None and not isinstance(value, list):
            try:
                return np.dtype(value)
            except TypeError:
                continue
    return None


def _tensor_shape(graph: Graph, port: Port) -> tuple | None:
    info = graph.info(port)
    if info.shape is not None:
        return tuple(info.shape)
    shapes = graph.op(port.node).attrs.get("_output_shapes")
    if isinstance(shapes, list) and port.index < len(shapes) and shapes[port.index] is not None:
        return tuple(shapes[port.index])
    return None


def _check_rank(what: str, old: tuple | None, new: tuple) -> None:
    if old is not None and len(old) != len(new):
        msg = (f"input {what} has rank {len(old)} in the model (shape "
               f"[{','.join('?' if d is None else str(d) for d in old)}]) but the given shape "
               f"{list(new)} has rank {len(new)}")
        raise UsageError(msg)


def _resolve_cut(graph: Graph, spec: InputSpec) -> tuple[str, Port, tuple[str, int] | None]:
    """What an ``--input`` item names: ``(label, tensor, consumer)`` where ``tensor`` is the
    port that is cut and ``consumer`` the ``(node, input index)`` for an input-port cut (only
    that input is cut), else None (every consumer of the tensor is cut).

    A bare name of a non-Placeholder node cuts its output port 0 (MO's choice for one-output
    nodes); ``name:P`` cuts output port P; ``P:name`` cuts input port P."""
    raw = spec.name or ""
    name = raw
    out_port = spec.out_port
    if name not in graph and spec.in_port is None and out_port is None and ":" in name:
        base, _, idx = name.rpartition(":")
        if idx.isdigit() and base in graph:
            name, out_port = base, int(idx)
    label = spec.tensor or raw
    if spec.in_port is not None:
        label = f"{spec.in_port}:{raw}"
    if name not in graph:
        raise _unknown_name(graph, "input", label)
    op = graph.op(name)
    if spec.in_port is not None:
        ins = graph.inputs(name)
        if spec.in_port >= len(ins):
            msg = (f"--input {label!r}: node {name!r} ({op.type}) has {len(ins)} input(s)"
                   f"{'' if not ins else f' (port 0..{len(ins) - 1})'}; input port "
                   f"{spec.in_port} does not exist")
            raise UsageError(msg)
        return label, ins[spec.in_port], (name, spec.in_port)
    port = out_port or 0
    _check_out_port(graph, name, port, f"--input {label!r}")
    return label, Port(name, port), None


def _cut(graph: Graph, spec: InputSpec, label: str, tensor: Port,
         consumer: tuple[str, int] | None) -> str | None:
    """Replace the cut tensor by a new Placeholder (or a Const for ``->value``); returns the
    Placeholder's name (None when frozen)."""
    dtype = np.dtype(spec.dtype) if spec.dtype else (_tensor_dtype(graph, tensor) or np.dtype(np.float32))
    shape = _tensor_shape(graph, tensor)
    if spec.shape is not None:
        _check_rank(repr(label), shape, spec.shape)
        shape = tuple(spec.shape)
    if consumer is not None:
        base = f"{consumer[0]}/placeholder_port_{consumer[1]}"
    else:
        base = f"{tensor.node}/placeholder_out_port_{tensor.index}"
    if spec.value is not None:
        value = np.asarray(spec.value, dtype=dtype)
        if shape is not None and spec.shape is None and value.ndim and len(shape) != value.ndim:
            _check_rank(repr(label), shape, value.shape)
        new = graph.add_op("Const", graph.unique_name(f"{base}/frozen"), (), {"value": value})
        new.outputs[0].shape, new.outputs[0].dtype = value.shape, value.dtype
        placeholder = None
    else:
        if base in graph:
            msg = f"--input {label!r}: this tensor is cut twice; name it once"
            raise UsageError(msg)
        new = graph.add_op("Placeholder", base, (), {"dtype": dtype, "shape": shape})
        new.outputs[0].shape, new.outputs[0].dtype = shape, dtype
        placeholder = base
    if consumer is not None:
        graph.set_input(consumer[0], consumer[1], Port(new.name, 0))
    else:
        graph.replace_uses(tensor, Port(new.name, 0))
    return placeholder


def _alias_cut_tensors(graph: Graph, cuts: list[tuple[str, Port]]) -> None:
    """Give each output-port cut's Placeholder the original tensor name ``node:P`` too (an
    Identity named ``node:P`` between it and its consumers: the IR port then carries the names
    ``node/placeholder_out_port_P``, ``node:P`` (and ``node:P:0``)). Only when ``node`` itself
    is no longer needed, so no two IR tensors carry the same name."""
    needed = graph.ancestors(p.node for p in graph.outputs if p.node in graph)
    for placeholder, tensor in cuts:
        alias = f"{tensor.node}:{tensor.index}"
        if tensor.node in needed or alias in graph:
            continue
        src = Port(placeholder, 0)
        users = graph.consumers(src)
        if not users:
            continue
        op = graph.add_op("Identity", alias, [src], {"T": graph.op(placeholder).attrs["dtype"]})
        op.outputs[0].shape = graph.info(src).shape
        op.outputs[0].dtype = graph.info(src).dtype
        for node, dst in users:
            graph.set_input(node, dst, Port(alias, 0))


def apply_user_io(graph: Graph, config: ConvertConfig) -> None:
    """Apply ``--input`` (names, shapes, types, frozen values, cuts at inner nodes), ``-b`` and
    ``--output``.

    IR inputs follow the ``--input`` order; original Placeholders that the outputs still need
    come after (with a warning when the inputs were cut at inner nodes)."""
    if config.outputs:
        graph.outputs = [_split_tensor(graph, o) for o in config.outputs]
    placeholders = list(graph.meta.get("inputs", []))
    graph.meta[DECLARED_INPUTS] = {n: graph.op(n).attrs.get("shape") for n in placeholders}
    specs: list[InputSpec] = list(config.inputs)
    if specs and all(s.name is None for s in specs):
        if len(specs) != len(placeholders):
            msg = (f"{len(specs)} shape(s) given without input names, but the model has "
                   f"{len(placeholders)} placeholder(s): {placeholders_listing(graph)}; "
                   "name them with --input")
            raise UsageError(msg)
        specs = [type(s)(n, s.shape, s.dtype, s.value) for s, n in zip(specs, placeholders)]
    # Resolve every item first, so a bad name fails before the graph changes.
    resolved = []
    for spec in specs:
        label, tensor, consumer = _resolve_cut(graph, spec)
        is_placeholder = graph.op(tensor.node).type in INPUT_OPS and consumer is None
        resolved.append((spec, label, tensor, consumer, is_placeholder))
    needed_before = graph.ancestors(p.node for p in graph.outputs)
    chosen: list[str] = []
    cuts: list[tuple[str, Port]] = []
    cut_any = False
    for spec, label, tensor, consumer, is_placeholder in resolved:
        if not is_placeholder:
            cut_any = True
            placeholder = _cut(graph, spec, label, tensor, consumer)
            if placeholder is not None:
                chosen.append(placeholder)
                if consumer is None:
                    cuts.append((placeholder, tensor))
            continue
        name = tensor.node
        op = graph.op(name)
        if spec.dtype:
            op.attrs["dtype"] = np.dtype(spec.dtype)
        if spec.shape is not None:
            _check_rank(repr(name), op.attrs.get("shape"), spec.shape)
            op.attrs["shape"] = tuple(spec.shape)
        if spec.value is not None:
            value = np.asarray(spec.value, dtype=np.dtype(op.attrs.get("dtype", np.float32)))
            frozen = graph.add_op("Const", graph.unique_name(f"{name}/frozen"), (), {"value": value})
            frozen.outputs[0].shape, frozen.outputs[0].dtype = value.shape, value.dtype
            graph.replace_uses(Port(name, 0), Port(frozen.name, 0))
            if name in placeholders:
                placeholders.remove(name)
            continue
        if name in chosen:
            msg = f"--input names {name!r} twice; name each input once"
            raise UsageError(msg)
        chosen.append(name)
    if cut_any:
        _alias_cut_tensors(graph, cuts)
        needed_after = graph.ancestors(p.node for p in graph.outputs)
        # Placeholders that only fed the cut part are gone; unused ones stay as before.
        placeholders = [p for p in placeholders if p in chosen or p in needed_after
                        or p not in needed_before]
        others = [p for p in placeholders if p not in chosen and p in needed_after]
        if others:
            log.warning("--input cuts the graph, but the outputs still need other input(s), which "
                        "stay IR inputs after the given ones: %s", ", ".join(others))
    if chosen:
        placeholders = chosen + [p for p in placeholders if p not in chosen]
    if config.batch is not None:
        for name in placeholders:
            op = graph.op(name)
            shape = op.attrs.get("shape")
            if shape:
                op.attrs["shape"] = (config.batch, *shape[1:])
                if op.outputs[0].shape is not None and len(op.outputs[0].shape) == len(shape):
                    op.outputs[0].shape = op.attrs["shape"]
    graph.meta["inputs"] = placeholders


def load(path: Path | None, config: ConvertConfig) -> Graph:
    """Read the model in whatever format it is (SavedModel directory, MetaGraph, inference
    graph + checkpoint, frozen GraphDef) and apply the user's input/output choices."""
    path = _model_path(path, config)
    opts = config.options
    if opts.get("input_checkpoint"):
        given = str(opts["input_checkpoint"])
        if formats.is_saved_model(path):
            msg = (f"--input_checkpoint goes with an inference graph or a MetaGraph, not with the "
                   f"SavedModel {path} (its variables/ are used); drop it")
            raise UsageError(msg)
        if path.suffix == ".meta" or opts.get("input_meta_graph") or formats.is_meta_graph(path):
            return _load_meta_graph(path, config, given)
        return _load_checkpoint(path, given, config)
    if formats.is_saved_model(path):
        return _load_saved_model(path, config)
    if path.suffix == ".meta" or opts.get("input_meta_graph"):
        return _load_meta_graph(path, config)
    not_graph = formats.checkpoint_only(path)
    if not_graph is not None:
        raise not_graph
    try:
        return load_frozen(path, config)
    except ModelFormatError:
        # Only now (the frozen path reads each file once): a MetaGraph under another name?
        if formats.is_meta_graph(path):
            return _load_meta_graph(path, config)
        raise


def _model_path(path: Path | None, config: ConvertConfig) -> Path:
    """The model: MODEL/--input_model, --saved_model_dir or --input_meta_graph (one of them)."""
    given = [(flag, Path(str(config.options[key]))) for flag, key in
             (("--saved_model_dir", "saved_model_dir"), ("--input_meta_graph", "input_meta_graph"))
             if config.options.get(key)]
    if path is not None and given and any(p != Path(path) for _, p in given):
        msg = (f"two models given: {path} and {given[0][0]} {given[0][1]}; pass one")
        raise UsageError(msg)
    if len(given) > 1:
        msg = "--saved_model_dir and --input_meta_graph both given; pass one"
        raise UsageError(msg)
    if path is None and not given:
        msg = "no model given: pass MODEL, --input_model, --input_meta_graph or --saved_model_dir"
        raise UsageError(msg)
    chosen = Path(path) if path is not None else given[0][1]
    if given and given[0][0] == "--saved_model_dir" and not formats.is_saved_model(chosen):
        what = sniff.describe_file(chosen) if chosen.exists() else "missing"
        msg = (f"--saved_model_dir {chosen}: not a SavedModel directory (no saved_model.pb); "
               f"it is {what or 'a file'}")
        raise ModelFormatError(msg)
    if given and given[0][0] == "--input_meta_graph" and not chosen.is_file():
        raise ModelFormatError(f"--input_meta_graph {chosen}: no such file")
    return chosen


def _from_frozen(frozen: freeze.Frozen, config: ConvertConfig, source: str) -> Graph:
    """The frozen GraphDef through the frozen-graph path (our schema, no TF objects)."""
    gd = frozen.graph_def
    if isinstance(gd, bytes):
        gd = proto.GraphDef.FromString(gd)
    _inline_calls(f"of the {source}", gd)  # TF-frozen graphs keep functional While/If
    graph = graph_from_graphdef(gd, config.name)
    del gd
    frozen.graph_def = b""
    for name, value in frozen.constants.items():  # checkpoint values, kept as numpy views
        if name in graph:
            op = graph.op(name)
            op.attrs["value"], op.attrs["dtype"] = value, value.dtype
            op.outputs[0].shape, op.outputs[0].dtype = value.shape, value.dtype
    frozen.constants = {}
    if frozen.inputs:
        graph.meta["inputs"] = [n for n in frozen.inputs if n in graph] + [
            n for n in graph.meta["inputs"] if n not in frozen.inputs]
    if frozen.outputs:
        graph.outputs = [_split_tensor(graph, o) for o in frozen.outputs]
        for port in graph.outputs:  # an unconsumed port of a multi-output op (CTC decoders)
            produced = graph.op(port.node).outputs
            produced.extend(TensorInfo() for _ in range(len(produced), port.index + 1))
    graph.meta["source_format"] = source
    if frozen.output_names and len(frozen.output_names) == len(graph.outputs):
        graph.outputs = [_named_output(graph, port, key)
                         for port, key in zip(graph.outputs, frozen.output_names)]
    apply_user_io(graph, config)
    return graph


def _named_output(graph: Graph, port: Port, key: str) -> Port:
    """An Identity named after the signature's output key (the IR output then carries both
    ``key:0`` and the TF tensor name), unless a node already has that name."""
    if not key or key in graph or port.node == key:
        return port
    src = graph.op(port.node)
    dtype = src.attrs.get("T", src.attrs.get("dtype"))
    op = graph.add_op("Identity", key, [port], {"T": dtype} if dtype is not None else {})
    info = graph.info(port)
    op.outputs[0].shape, op.outputs[0].dtype = info.shape, info.dtype
    return Port(key, 0)


def _tf_call(what: str, fn, *args) -> freeze.Frozen:
    """Run a TensorFlow freezing step; TensorFlow's own failures become one clear line. The
    cyclic garbage collector runs with its default thresholds meanwhile (``tfconv convert``
    collects rarely, but TensorFlow's graph building leaves many reference cycles)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        return fn(*args)
    except TfconvError:
        raise
    except ImportError as err:
        msg = (f"reading {what} needs TensorFlow ({err}); install it (pip install "
               "tfconv-tf-frontend[tensorflow]) or convert a frozen graph")
        raise ModelFormatError(msg) from err
    except Exception as err:  # noqa: BLE001 - TF raises many types; the message is what matters
        text = str(getattr(err, "message", "") or err).strip().splitlines()
        first = text[0] if text else type(err).__name__
        msg = f"TensorFlow could not load {what}: {type(err).__name__}: {first}"
        raise ModelFormatError(msg) from err
    finally:
        gc.set_threshold(*thresholds)


def _without_tf(what: str, version: int, fn, *args) -> freeze.Frozen | None:
    """Freeze with our own readers (functions.py); None (and an INFO line saying why) when the
    model needs TensorFlow."""
    if version != 2:
        log.info("%s: V1 checkpoints are read with TensorFlow", what)
        return _needs_tf(what, "it is a V1 checkpoint")
    try:
        return fn(*args)
    except functions.Fallback as err:
        log.info("%s: freezing with TensorFlow, the TF-free path cannot: %s", what, err)
        return _needs_tf(what, str(err))
    except TfconvError:
        raise
    except Exception as err:  # noqa: BLE001 - a reader bug must not cost the user the model
        log.info("%s: freezing with TensorFlow, the TF-free path failed: %s: %s", what,
                 type(err).__name__, err)
        return _needs_tf(what, f"{type(err).__name__}: {err}")


def _needs_tf(what: str, why: str) -> None:
    """None when TensorFlow is installed (the caller falls back to it), else the error saying
    why it is needed."""
    import importlib.util
    if importlib.util.find_spec("tensorflow") is not None:
        return None
    msg = (f"reading {what} needs TensorFlow ({why}), which is not installed; install it "
           "(pip install tfconv-tf-frontend[tensorflow]) or convert a frozen graph")
    raise ModelFormatError(msg)


def _how(frozen: freeze.Frozen) -> str:
    if isinstance(frozen.graph_def, bytes):
        return "with TensorFlow"
    return (f"without TensorFlow ({len(frozen.constants)} variables, {frozen.inlined} function "
            "calls inlined)")


def _load_checkpoint(path: Path, given: str, config: ConvertConfig) -> Graph:
    ckpt = formats.find_checkpoint(given, what=f"graph {path}")
    gd, notices = sniff.read_graph(path, is_text=config.input_model_is_text)
    for notice in notices:
        log.info(notice)
    what = f"graph {path} with checkpoint {ckpt.prefix}"
    sel = _select(config, lambda: outputs.for_graph_def(gd))
    wanted = tuple(config.outputs) or tuple(sel.outputs)
    frozen = _without_tf(what, ckpt.version, functions.freeze_checkpoint, gd, ckpt.prefix,
                         wanted)
    if frozen is None:
        data = gd.SerializeToString()
        del gd
        frozen = _tf_call(what, freeze.freeze_checkpoint, data, ckpt.prefix, wanted)
    log.info("froze graph %s with checkpoint %s (V%d) %s", path.name, ckpt.prefix, ckpt.version,
             _how(frozen))
    return _selected(_from_frozen(frozen, config, f"inference graph + V{ckpt.version} checkpoint"),
                     sel)


def _select(config: ConvertConfig, choose) -> outputs.Selection:
    """The model's outputs (``choose()``) unless ``--output`` names them; logs the leftovers."""
    if config.outputs:
        return outputs.Selection(source="--output")
    sel = choose()
    sel.log()
    return sel


def _selected(graph: Graph, sel: outputs.Selection) -> Graph:
    graph.meta["leftover_outputs"] = list(sel.leftovers)
    return graph


def _load_meta_graph(path: Path, config: ConvertConfig, checkpoint: str | None = None) -> Graph:
    """A MetaGraph with the checkpoint next to it (same prefix), or ``--input_checkpoint``."""
    wrong = formats.not_a_meta_graph(path)
    if wrong is not None:
        raise wrong
    ckpt = formats.find_checkpoint(checkpoint or formats.meta_prefix(path), what=f"MetaGraph {path}")
    what = f"MetaGraph {path} with checkpoint {ckpt.prefix}"
    try:
        meta = functions.read_meta_graph(path)
    except functions.Fallback:
        meta = None  # TensorFlow reads it, and picks the outputs by structure
    sel = _select(config, lambda: outputs.for_meta_graph(meta, path.read_bytes())
                  if meta is not None else outputs.Selection())
    wanted = tuple(config.outputs) or tuple(sel.outputs)
    frozen = _without_tf(what, ckpt.version, functions.freeze_meta_graph, path, ckpt.prefix,
                         wanted, meta)
    del meta
    if frozen is None:
        frozen = _tf_call(what, freeze.freeze_meta_graph, path, ckpt.prefix, wanted)
    if sel.source == "signature":  # its inputs in its order, its outputs named after its keys
        frozen.inputs = list(sel.inputs)
        frozen.output_names = list(sel.output_names)
    log.info("froze MetaGraph %s with checkpoint %s (V%d) %s", path.name,
             Path(ckpt.prefix).name, ckpt.version, _how(frozen))
    return _selected(_from_frozen(frozen, config, "MetaGraph"), sel)


def _load_saved_model(path: Path, config: ConvertConfig) -> Graph:
    sm = formats.read_saved_model(path)
    meta, tags, key, tf2 = formats.choose(path, sm, config.options.get("saved_model_tags"),
                                          config.options.get("saved_model_signature"))
    what = f"SavedModel {path}"
    if tf2:
        frozen = _without_tf(what, 2, functions.freeze_saved_model_v2, path, meta, key)
    else:
        frozen = _without_tf(what, 2, functions.freeze_saved_model_v1, path, meta,
                             meta.signature_def[key], key)
    if frozen is None and tf2:
        frozen = _tf_call(what, freeze.freeze_saved_model_v2, path, tags, key)
    elif frozen is None:
        frozen = _tf_call(what, freeze.freeze_saved_model_v1, path, tags, meta.signature_def[key])
    del sm, meta
    log.info("froze %s SavedModel %s (tags %s, signature %s) %s", "TF2" if tf2 else "TF1",
             path.name, ",".join(tags), key, _how(frozen))
    return _from_frozen(frozen, config, f"{'TF2' if tf2 else 'TF1'} SavedModel")


def load_frozen(path: Path, config: ConvertConfig) -> Graph:
    """Read a frozen GraphDef (binary or text) and apply the user's input/output choices."""
    # Constants are read through tensor_to_numpy only: they stay in the file's memory map
    # (binary) or in their decoded buffers (text), shared with the graph's arrays.
    mark = proto.external_mark()
    gd, notices = sniff.read_graph(path, is_text=config.input_model_is_text, external=True)
    for notice in notices:
        log.info(notice)
    try:
        inlined = _inline_calls(path, gd)
        graph = graph_from_graphdef(gd, config.name)
    finally:
        del gd
        proto.forget_external(mark)
    graph.meta["source_format"] = "frozen GraphDef"
    log.info("loaded frozen GraphDef %s: %d nodes%s", path, len(graph),
             f", {inlined} function call(s) inlined" if inlined else "")
    if not config.outputs:
        outputs.log_leftovers(graph.meta["leftover_outputs"])
    apply_user_io(graph, config)
    return graph


def _inline_calls(path: Path | str, gd: proto.GraphDef) -> int:
    """Inline the frozen graph's function calls in place (``functions.inline_frozen``); what
    cannot be inlined is one clear error."""
    try:
        return functions.inline_frozen(gd)
    except TfconvError:
        raise
    except Exception as err:  # noqa: BLE001 - Fallback, or a malformed library
        msg = (f"frozen GraphDef {path}: cannot inline its function calls: "
               f"{err if isinstance(err, functions.Fallback) else f'{type(err).__name__}: {err}'}")
        raise ModelFormatError(msg) from err
