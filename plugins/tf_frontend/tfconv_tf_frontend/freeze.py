"""Freeze non-frozen TensorFlow models (checkpoint, MetaGraph, SavedModel) into GraphDef bytes
with TensorFlow: the fallback of the TF-free path (``functions.py``), which handles the usual
models (V2 checkpoints, TF1/TF2/Keras SavedModels) without importing TensorFlow.

This is the only module of the plugin that imports TensorFlow, and only when one of its
functions runs: the frozen-GraphDef path never imports it. Each function returns the frozen
GraphDef serialised to bytes (the rest of the plugin parses it with its own schema) and the
input/output names to use.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfconv.errors import ModelFormatError

# Ops that are never outputs of an inference graph, even when nothing consumes them.
_NOT_OUTPUTS = {
    "NoOp", "Assert", "Const", "Placeholder", "PlaceholderV2", "PlaceholderWithDefault",
    "Variable", "VariableV2", "VarHandleOp", "Assign", "AssignAdd", "AssignSub",
    "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "ReadVariableOp",
    "VarIsInitializedOp", "IsVariableInitialized", "SaveV2", "Save", "SaveSlices", "RestoreV2",
    "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename", "StringJoin",
    "ScatterUpdate", "Print", "PrintV2",
}


@dataclass
class Frozen:
    """A frozen GraphDef (serialised) with the inputs and outputs the model declares."""

    graph_def: Any  # serialised bytes (TensorFlow path) or our proto.GraphDef (TF-free path)
    inputs: list[str] = field(default_factory=list)      # Placeholder node names, in order
    outputs: list[str] = field(default_factory=list)     # tensor names ``node:port``
    output_names: list[str] = field(default_factory=list)  # friendly names (signature keys)
    # TF-free path: Const node name -> value (checkpoint views; the Const nodes carry no value)
    constants: dict[str, Any] = field(default_factory=dict)
    inlined: int = 0  # function calls inlined (TF-free path)


def _tf():
    """TensorFlow, imported quietly: its C++ start-up lines (oneDNN, CUDA, absl) go to the
    process's stderr before any Python logging applies, so stderr is muted for the import
    unless tfconv logs at DEBUG."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    mute = not logging.getLogger("tfconv").isEnabledFor(logging.DEBUG)
    saved = devnull = -1
    if mute:
        try:
            sys.stderr.flush()
            saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
        except OSError:
            mute = False
    try:
        import tensorflow as tf
    finally:
        if mute:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    tf.get_logger().setLevel("ERROR")
    return tf


def _node_name(tensor: str) -> str:
    name = tensor[1:] if tensor.startswith("^") else tensor
    return name.rsplit(":", 1)[0] if ":" in name and name.rsplit(":", 1)[1].isdigit() else name


def detect_outputs(graph_def, known: dict[str, str] | None = None) -> list[str]:
    """Node names of ops no other op consumes (data or control), skipping saver, initialiser
    and variable bookkeeping ops, anything under ``save/`` and training leftovers (sinks of
    losses, regularizers, summaries, optimizer updates: ``outputs.py``; ``known``: leftovers
    a MetaGraph's collections name). Logs the leftovers it drops."""
    from . import outputs
    sel = outputs.for_graph_def(graph_def, known)
    sel.log()
    return [_node_name(o) for o in sel.outputs if _node_name(o) not in _NOT_OUTPUTS]


def _placeholders(graph_def) -> list[str]:
    return [n.name for n in graph_def.node if n.op in ("Placeholder", "PlaceholderV2")
            and n.attr["dtype"].type != 20]  # DT_RESOURCE


def _output_nodes(user_outputs, graph_def, known: dict[str, str] | None = None) -> list[str]:
    if user_outputs:
        return list(dict.fromkeys(_node_name(o) for o in user_outputs))
    outs = detect_outputs(graph_def, known)
    if not outs:
        raise ModelFormatError("cannot find the model's outputs (every op is consumed or is "
                               "bookkeeping); name them with --output")
    return outs


def _check_outputs(tf, graph, names: list[str]) -> None:
    missing = [n for n in names if n not in {op.name for op in graph.get_operations()}]
    if missing:
        from tfconv.errors import UsageError
        raise UsageError(f"output {missing[0]!r} is not a node of the model")


def _freeze_session(tf, sess, outputs: list[str]):
    v1 = tf.compat.v1
    gd = sess.graph.as_graph_def()
    frozen = v1.graph_util.convert_variables_to_constants(sess, gd, outputs)
    return v1.graph_util.extract_sub_graph(frozen, outputs)


def freeze_meta_graph(meta: Path, prefix: str, outputs: tuple[str, ...]) -> Frozen:
    """import_meta_graph + Saver.restore in a fresh graph, then convert_variables_to_constants.
    Without ``outputs``, the MetaGraph's signature names them, else its collections and
    structure (``outputs.py``)."""
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    inputs: list[str] = []
    keys: list[str] = []
    with graph.as_default(), v1.Session(graph=graph) as sess:
        saver = v1.train.import_meta_graph(str(meta), clear_devices=True)
        known: dict[str, str] = {}
        if not outputs:
            signature = _meta_signature(tf, meta)
            if signature is not None:
                inputs, outputs, keys = signature
            else:
                from . import outputs as outputs_mod
                cols = {key: [getattr(item, "name", "") for item in graph.get_collection(key)]
                        for key in graph.get_all_collection_keys()}
                known = outputs_mod.known_leftovers(cols)
        names = _output_nodes(outputs, graph.as_graph_def(), known)
        _check_outputs(tf, graph, names)
        if saver is not None:
            saver.restore(sess, prefix)
        else:
            _restore_variables(tf, sess, graph, prefix)
        frozen = _freeze_session(tf, sess, names)
    tensors = [o if ":" in o else f"{o}:0" for o in outputs] if outputs else [f"{n}:0" for n in names]
    return Frozen(frozen.SerializeToString(), inputs or _placeholders(frozen), tensors, keys)


def _meta_signature(tf, meta: Path) -> tuple[list[str], tuple[str, ...], list[str]] | None:
    """(input nodes, output tensors, output keys) of the MetaGraph's serving signature (or
    its only one), None when it has none to choose."""
    from . import outputs as outputs_mod
    from google.protobuf import text_format
    proto = tf.compat.v1.MetaGraphDef()
    data = Path(meta).read_bytes()
    try:
        proto.ParseFromString(data)
    except Exception:  # noqa: BLE001 - DecodeError: a text MetaGraph
        text_format.Parse(data.decode("utf-8"), proto)
    key = outputs_mod.signature_key(proto.signature_def)
    if key is None or not proto.signature_def[key].outputs:
        return None
    sig = proto.signature_def[key]
    keys = sorted(sig.outputs)
    return ([_node_name(sig.inputs[k].name) for k in sorted(sig.inputs)],
            tuple(sig.outputs[k].name for k in keys), keys)


def _restore_variables(tf, sess, graph, prefix: str) -> None:
    """A Saver over every variable op of ``graph`` (ref and resource), restored from ``prefix``."""
    v1 = tf.compat.v1
    var_ops = [op for op in graph.get_operations()
               if op.type in ("VariableV2", "Variable", "VarHandleOp")]
    if not var_ops:
        return
    reader = tf.train.load_checkpoint(prefix)
    stored = reader.get_variable_to_shape_map()
    missing = [op.name for op in var_ops if op.name not in stored]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ModelFormatError(
            f"checkpoint {prefix} has no value for {len(missing)} variable(s) of the graph: "
            f"{shown}; is it the checkpoint of this graph?")
    with graph.as_default():
        existing = {op.name for op in graph.get_operations()}
        for op in var_ops:  # convert_variables_to_constants reads resource variables through these
            if op.type == "VarHandleOp" and f"{op.name}/Read/ReadVariableOp" not in existing:
                with graph.name_scope(f"{op.name}/Read/"):
                    tf.raw_ops.ReadVariableOp(resource=op.outputs[0], dtype=op.get_attr("dtype"),
                                              name="ReadVariableOp")
        # Values are fed through placeholders: embedding them as constants would copy every
        # weight into the GraphDef and through the session (seconds on VGG-sized models).
        assigns, feeds = [], {}
        for op in var_ops:
            value = reader.get_tensor(op.name)
            slot = v1.placeholder(value.dtype, value.shape, name=f"{op.name}/restore_value")
            feeds[slot] = value
            if op.type == "VarHandleOp":
                assigns.append(tf.raw_ops.AssignVariableOp(resource=op.outputs[0], value=slot))
            else:
                assigns.append(v1.assign(op.outputs[0], slot))
    sess.run(assigns, feeds)


def freeze_checkpoint(graph_def_bytes: bytes, prefix: str, outputs: tuple[str, ...]) -> Frozen:
    """Import the inference graph, restore its variables from the checkpoint, freeze."""
    tf = _tf()
    v1 = tf.compat.v1
    gd = v1.GraphDef.FromString(graph_def_bytes)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(gd, name="")
        names = _output_nodes(outputs, gd)
        _check_outputs(tf, graph, names)
        with v1.Session(graph=graph) as sess:
            _restore_variables(tf, sess, graph, prefix)
            frozen = _freeze_session(tf, sess, names)
    return Frozen(frozen.SerializeToString(), _placeholders(frozen), [f"{n}:0" for n in names])


def freeze_saved_model_v1(directory: Path, tags: list[str], signature) -> Frozen:
    """A TF1 SavedModel: loader.load in a session, the signature's tensors, convert_variables_to_constants."""
    tf = _tf()
    v1 = tf.compat.v1
    in_keys, out_keys = sorted(signature.inputs), sorted(signature.outputs)
    inputs = [signature.inputs[k].name for k in in_keys]
    outputs = [signature.outputs[k].name for k in out_keys]
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        v1.saved_model.loader.load(sess, tags, str(directory))
        names = list(dict.fromkeys(_node_name(o) for o in outputs))
        frozen = _freeze_session(tf, sess, names)
    return Frozen(frozen.SerializeToString(), [_node_name(i) for i in inputs], outputs, out_keys)


def freeze_saved_model_v2(directory: Path, tags: list[str], signature_key: str) -> Frozen:
    """A TF2 SavedModel: the signature's ConcreteFunction through convert_variables_to_constants_v2."""
    tf = _tf()
    from tensorflow.python.framework import convert_to_constants
    model = tf.saved_model.load(str(directory), tags=tags)
    func = model.signatures[signature_key]
    frozen_func = convert_to_constants.convert_variables_to_constants_v2(func)
    gd = frozen_func.graph.as_graph_def()
    # The signature's outputs in tf.nest order (dict keys sorted), as the frozen function's.
    structured = func.structured_outputs
    tensors = list(frozen_func.outputs)
    if isinstance(structured, dict) and len(structured) == len(tensors):
        keys = sorted(structured)
    else:
        keys = [t.op.name for t in tensors]
    outputs = [t.name for t in tensors]
    inputs = [t.op.name for t in frozen_func.inputs if t.dtype != tf.resource]
    names = list(dict.fromkeys(_node_name(o) for o in outputs))
    gd = tf.compat.v1.graph_util.extract_sub_graph(gd, names + inputs)
    return Frozen(gd.SerializeToString(), inputs, outputs, keys)
