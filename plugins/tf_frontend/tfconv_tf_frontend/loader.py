"""Frozen GraphDef -> source-dialect :class:`~tfconv.graph.Graph` (no TensorFlow import)."""
from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tfconv.errors import ModelFormatError, TfconvError, UsageError
from tfconv.graph import Graph, Port

from . import formats, freeze, proto, sniff

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
            port = Port(src, int(idx) if idx else 0)
            ports.append(port)
            n_out[src] = max(n_out.get(src, 1), port.index + 1)
        parsed.append((node, ports))
    for node, _ in parsed:
        attrs = {key: proto.attr_to_python(value) for key, value in node.attr.items()}
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
    graph.outputs = default_outputs(graph)
    return graph


def default_outputs(graph: Graph) -> list[Port]:
    """Every output port no op consumes, of ops that compute something."""
    outs = []
    for op in graph:
        if op.type in NOT_OUTPUTS or graph.consumers(op.name):
            continue
        outs.append(Port(op.name, 0))
    return outs


def placeholders_listing(graph: Graph) -> str:
    rows = []
    for name in graph.meta.get("inputs", []):
        op = graph.op(name)
        shape = op.attrs.get("shape")
        dims = "?" if shape is None else "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"
        rows.append(f"{name} {dims} {np.dtype(op.attrs.get('dtype', np.float32))}")
    return "; ".join(rows) or "none"


def _unknown_name(graph: Graph, kind: str, name: str) -> UsageError:
    near = difflib.get_close_matches(name, [op.name for op in graph], n=3, cutoff=0.5)
    outs = ", ".join(str(p) for p in default_outputs(graph)[:5]) or "none"
    hint = f" Did you mean: {', '.join(near)}?" if near else ""
    msg = (f"{kind} {name!r} is not a node of the model.{hint} "
           f"Placeholders: {placeholders_listing(graph)}. Likely outputs: {outs}.")
    return UsageError(msg)


def _split_tensor(graph: Graph, text: str) -> Port:
    name, _, idx = text.partition(":")
    if name not in graph and text in graph:
        return Port(text, 0)
    if name not in graph:
        raise _unknown_name(graph, "output", text)
    return Port(name, int(idx) if idx.isdigit() else 0)


def apply_user_io(graph: Graph, config: ConvertConfig) -> None:
    """Apply ``--input`` (names, shapes, types, frozen values), ``-b`` and ``--output``."""
    if config.outputs:
        graph.outputs = [_split_tensor(graph, o) for o in config.outputs]
    placeholders = list(graph.meta.get("inputs", []))
    specs: list[InputSpec] = list(config.inputs)
    if specs and all(s.name is None for s in specs):
        if len(specs) != len(placeholders):
            msg = (f"{len(specs)} shape(s) given without input names, but the model has "
                   f"{len(placeholders)} placeholder(s): {placeholders_listing(graph)}; "
                   "name them with --input")
            raise UsageError(msg)
        specs = [type(s)(n, s.shape, s.dtype, s.value) for s, n in zip(specs, placeholders)]
    chosen = []
    for spec in specs:
        name = spec.name or ""
        if name.endswith(":0") and name not in graph:
            name = name[:-2]
        if name not in graph:
            raise _unknown_name(graph, "input", spec.name or "")
        op = graph.op(name)
        if op.type not in INPUT_OPS:
            msg = (f"input {name!r} is a {op.type}, not a Placeholder; cutting the graph at "
                   f"inner nodes is not supported yet. Placeholders: {placeholders_listing(graph)}")
            raise UsageError(msg)
        if spec.dtype:
            op.attrs["dtype"] = np.dtype(spec.dtype)
        if spec.shape is not None:
            old = op.attrs.get("shape")
            if old is not None and len(old) != len(spec.shape):
                msg = (f"input {name!r} has rank {len(old)} in the model but the given shape "
                       f"{list(spec.shape)} has rank {len(spec.shape)}")
                raise UsageError(msg)
            op.attrs["shape"] = tuple(spec.shape)
        if spec.value is not None:
            value = np.asarray(spec.value, dtype=np.dtype(op.attrs.get("dtype", np.float32)))
            frozen = graph.add_op("Const", graph.unique_name(f"{name}/frozen"), (), {"value": value})
            frozen.outputs[0].shape, frozen.outputs[0].dtype = value.shape, value.dtype
            graph.replace_uses(Port(name, 0), Port(frozen.name, 0))
            placeholders.remove(name)
            continue
        chosen.append(name)
    if chosen:
        placeholders = chosen + [p for p in placeholders if p not in chosen]
    if config.batch is not None:
        for name in placeholders:
            shape = graph.op(name).attrs.get("shape")
            if shape:
                graph.op(name).attrs["shape"] = (config.batch, *shape[1:])
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
    """The frozen GraphDef bytes through the frozen-graph path (our schema, no TF objects)."""
    gd = proto.GraphDef.FromString(frozen.graph_def)
    graph = graph_from_graphdef(gd, config.name)
    del gd
    if frozen.inputs:
        graph.meta["inputs"] = [n for n in frozen.inputs if n in graph] + [
            n for n in graph.meta["inputs"] if n not in frozen.inputs]
    if frozen.outputs:
        graph.outputs = [_split_tensor(graph, o) for o in frozen.outputs]
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
    """Run a TensorFlow freezing step; TensorFlow's own failures become one clear line."""
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


def _load_checkpoint(path: Path, given: str, config: ConvertConfig) -> Graph:
    ckpt = formats.find_checkpoint(given, what=f"graph {path}")
    gd, notices = sniff.read_graph(path, is_text=config.input_model_is_text)
    for notice in notices:
        log.info(notice)
    data = gd.SerializeToString()
    del gd
    frozen = _tf_call(f"graph {path} with checkpoint {ckpt.prefix}", freeze.freeze_checkpoint,
                      data, ckpt.prefix, config.outputs)
    log.info("froze graph %s with checkpoint %s (V%d)", path.name, ckpt.prefix, ckpt.version)
    return _from_frozen(frozen, config, f"inference graph + V{ckpt.version} checkpoint")


def _load_meta_graph(path: Path, config: ConvertConfig, checkpoint: str | None = None) -> Graph:
    """A MetaGraph with the checkpoint next to it (same prefix), or ``--input_checkpoint``."""
    ckpt = formats.find_checkpoint(checkpoint or formats.meta_prefix(path), what=f"MetaGraph {path}")
    frozen = _tf_call(f"MetaGraph {path} with checkpoint {ckpt.prefix}", freeze.freeze_meta_graph,
                      path, ckpt.prefix, config.outputs)
    log.info("froze MetaGraph %s with checkpoint %s (V%d)", path.name,
             Path(ckpt.prefix).name, ckpt.version)
    return _from_frozen(frozen, config, "MetaGraph")


def _load_saved_model(path: Path, config: ConvertConfig) -> Graph:
    sm = formats.read_saved_model(path)
    meta, tags, key, tf2 = formats.choose(path, sm, config.options.get("saved_model_tags"),
                                          config.options.get("saved_model_signature"))
    if tf2:
        frozen = _tf_call(f"SavedModel {path}", freeze.freeze_saved_model_v2, path, tags, key)
    else:
        frozen = _tf_call(f"SavedModel {path}", freeze.freeze_saved_model_v1, path, tags,
                          meta.signature_def[key])
    log.info("froze %s SavedModel %s (tags %s, signature %s)", "TF2" if tf2 else "TF1",
             path.name, ",".join(tags), key)
    return _from_frozen(frozen, config, f"{'TF2' if tf2 else 'TF1'} SavedModel")


def load_frozen(path: Path, config: ConvertConfig) -> Graph:
    """Read a frozen GraphDef (binary or text) and apply the user's input/output choices."""
    gd, notices = sniff.read_graph(path, is_text=config.input_model_is_text)
    for notice in notices:
        log.info(notice)
    graph = graph_from_graphdef(gd, config.name)
    del gd
    graph.meta["source_format"] = "frozen GraphDef"
    log.info("loaded frozen GraphDef %s: %d nodes", path, len(graph))
    apply_user_io(graph, config)
    return graph
