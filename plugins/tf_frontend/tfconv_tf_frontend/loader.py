"""Frozen GraphDef -> source-dialect :class:`~tfconv.graph.Graph` (no TensorFlow import)."""
from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tfconv.errors import UsageError
from tfconv.graph import Graph, Port

from . import proto, sniff

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


def load(path: Path, config: ConvertConfig) -> Graph:
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
