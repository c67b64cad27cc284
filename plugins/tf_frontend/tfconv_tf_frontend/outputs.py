"""Which tensors of a TensorFlow graph are the model's outputs, when ``--output`` does not say.

In this order, as far as the model tells:

1. a MetaGraph's (or SavedModel's) ``signature_def``: ``serving_default``, or the only one;
2. its collections: what ``regularization_losses``, ``losses``, ``summaries``, ``train_op``,
   ``update_ops``, ``*init_op``... hold is a training leftover, never an output;
3. structure, for a bare inference graph or a frozen graph: every sink (a node nothing
   consumes) is a candidate, and a sink whose exclusive ancestors (those no other sink needs)
   hold a loss, a weight regularizer, a summary, a saver, an optimizer update or a metric
   update is a training leftover.

Leftovers are dropped with one INFO line that counts them by reason; ``tfconv inspect`` lists
them after the outputs, marked (``graph.meta["leftover_outputs"]``). When every sink is a
leftover, they all stay outputs (the model then says nothing better).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import sniff

log = logging.getLogger("tfconv.tf_frontend")

# Sinks that are bookkeeping, never listed (not even as leftovers).
BOOKKEEPING_OPS = {
    "NoOp", "Assert", "Const", "Placeholder", "PlaceholderV2", "PlaceholderWithDefault",
    "Variable", "VariableV2", "VarHandleOp", "ReadVariableOp", "VarIsInitializedOp",
    "IsVariableInitialized", "MergeV2Checkpoints", "ShardedFilename", "StringJoin", "Print",
    "PrintV2",
}

# Reasons, in the order the INFO line and inspect list them.
REGULARIZER = "weight regularizers (L2Loss)"
LOSS = "losses"
SUMMARY = "summaries"
SAVER = "saver ops"
OPTIMIZER = "optimizer updates"
UPDATE = "variable updates (batch-norm moving averages, metrics)"
INIT = "initializers"
REASONS = (REGULARIZER, LOSS, SUMMARY, SAVER, OPTIMIZER, UPDATE, INIT)

# MetaGraph collections whose members are training leftovers.
LEFTOVER_COLLECTIONS = {
    "regularization_losses": REGULARIZER, "losses": LOSS, "summaries": SUMMARY,
    "train_op": OPTIMIZER, "update_ops": UPDATE, "saved_model_main_op": INIT,
    "saved_model_train_op": OPTIMIZER, "local_init_op": INIT, "init_op": INIT,
    "ready_op": INIT, "ready_for_local_init_op": INIT, "table_initializer": INIT,
    "metric_variables": UPDATE, "savers": SAVER, "global_step": OPTIMIZER,
    "cond_context": None, "while_context": None,
}
LOSS_OPS = {"SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits",
            "SigmoidCrossEntropyWithLogits", "Nll", "CTCLoss", "CTCLossV2"}
SAVER_OPS = {"SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice"}
UPDATE_OPS = {"Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
              "AssignSubVariableOp", "ScatterUpdate", "ScatterAdd", "ScatterSub",
              "ResourceScatterUpdate", "ResourceScatterAdd", "ResourceScatterSub",
              "CountUpTo", "ResourceCountUpTo"}
# Name scopes that only losses have (a component of the node name; also ``*_loss``).
LOSS_SCOPES = ("losses", "loss", "total_loss", "regularization_loss")


def _is_loss_scope(part: str) -> bool:
    return (part in LOSS_SCOPES or part.endswith(("_loss", "_losses"))
            or part.startswith(("loss_", "losses_", "total_loss")))


def _node_name(ref: str) -> str:
    name = ref[1:] if ref.startswith("^") else ref
    base, sep, idx = name.rpartition(":")
    return base if sep and idx.isdigit() else name


def op_reason(name: str, op: str) -> str | None:
    """Why one node marks the branch it is on as a training leftover (None: it does not)."""
    parts = name.split("/")
    if "gradients" in parts[:-1] or any(p.startswith("gradients_") for p in parts[:-1]):
        return OPTIMIZER
    if op == "L2Loss" or "Regularizer" in parts or any(p.startswith("l2_regularizer")
                                                        for p in parts):
        return REGULARIZER
    if op in SAVER_OPS or parts[0] == "save" or (len(parts) > 1 and "save" in parts[:-1]):
        return SAVER
    if "Summary" in op or "summaries" in parts:
        return SUMMARY
    if op.startswith(("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")):
        return OPTIMIZER
    if op in UPDATE_OPS:
        return UPDATE
    if op in LOSS_OPS or any(_is_loss_scope(p) for p in parts[:-1]) \
            or parts[-1] in ("total_loss", "loss"):
        return LOSS
    return None


@dataclass
class Selection:
    """The chosen output tensors (``node:port``), the inputs a signature names (empty when
    none does), friendly output names (signature keys) and the dropped leftovers."""

    outputs: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    leftovers: list[tuple[str, str, str]] = field(default_factory=list)  # tensor, reason, op
    source: str = "structure"

    def log(self) -> None:
        log_leftovers(self.leftovers, self.source)


def summary(leftovers: Sequence[tuple[str, ...]]) -> str:
    counts = Counter(item[1] for item in leftovers)
    order = {r: i for i, r in enumerate(REASONS)}
    parts = [f"{n} {r}" for r, n in sorted(counts.items(), key=lambda kv: order.get(kv[0], 99))]
    return ", ".join(parts)


def log_leftovers(leftovers: Sequence[tuple[str, ...]], source: str = "structure") -> None:
    if not leftovers:
        return
    how = {"collections": " (the MetaGraph's collections say so)",
           "signature": " (not in the signature)"}.get(source, "")
    log.info("ignored %d training-only sink(s)%s: %s; name outputs with --output to keep one",
             len(leftovers), how, summary(leftovers))


def classify_sinks(nodes: Mapping[str, tuple[str, Sequence[str]]], sinks: Sequence[str],
                   known: Mapping[str, str] | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """Split ``sinks`` into (outputs, [(leftover, reason)]).

    ``nodes``: name -> (op type, input node names); ``known``: node -> reason from the
    MetaGraph's collections. A sink is a leftover when it, or a node only it needs (its
    exclusive ancestors), is known or marks a training branch (:func:`op_reason`; the sink's
    own reason first). A tensor that only training branches consume (the logits of a training
    graph) is not a sink, so it is not found: name it with ``--output``."""
    known = known or {}
    owner = _owners(nodes, sinks)
    reasons: dict[int, str] = {}
    for i, sink in enumerate(sinks):
        reason = known.get(sink) or op_reason(sink, nodes[sink][0])
        if reason is not None:
            reasons[i] = reason
    for name, i in owner.items():
        if i < 0 or sinks[i] == name:
            continue
        reason = known.get(name) or op_reason(name, nodes[name][0])
        if reason is not None and not _own(sinks[i], nodes, known):
            prev = reasons.get(i)
            if prev is None or REASONS.index(reason) < REASONS.index(prev):
                reasons[i] = reason
    outputs = [s for i, s in enumerate(sinks) if i not in reasons]
    if not outputs:  # nothing better: keep them all
        return list(sinks), []
    return outputs, [(s, reasons[i]) for i, s in enumerate(sinks) if i in reasons]


def _own(sink: str, nodes: Mapping[str, tuple[str, Sequence[str]]],
         known: Mapping[str, str]) -> bool:
    return bool(known.get(sink) or op_reason(sink, nodes[sink][0]))


def _owners(nodes: Mapping[str, tuple[str, Sequence[str]]],
            sinks: Sequence[str]) -> dict[str, int]:
    """node -> index of the only sink needing it (-1 when several do)."""
    owner: dict[str, int] = {}
    for i, sink in enumerate(sinks):
        stack, seen = [sink], {sink}
        while stack:
            name = stack.pop()
            prev = owner.get(name)
            owner[name] = i if prev is None or prev == i else -1
            for src in nodes[name][1]:
                if src not in seen and src in nodes:
                    seen.add(src)
                    stack.append(src)
    return owner


# --- GraphDefs and MetaGraphs --------------------------------------------------------------


def graph_def_nodes(graph_def: Any) -> dict[str, tuple[str, list[str]]]:
    return {n.name: (n.op, [_node_name(i) for i in n.input]) for n in graph_def.node}


def _candidate(name: str, op: str) -> bool:
    """Whether a node may be an output: not bookkeeping (initialisers, variables, the Saver)."""
    return not (op in BOOKKEEPING_OPS or op in SAVER_OPS or name.startswith(("save/", "init"))
                or "/save/" in name)


def graph_def_sinks(graph_def: Any) -> list[str]:
    """Nodes no other node consumes (data or control) that may be outputs."""
    consumed = {_node_name(i) for n in graph_def.node for i in n.input}
    return [n.name for n in graph_def.node if n.name not in consumed and _candidate(n.name, n.op)]


def for_graph_def(graph_def: Any, known: Mapping[str, str] | None = None) -> Selection:
    """Outputs of an inference graph (+ checkpoint) or a MetaGraph's graph, by structure."""
    sinks = graph_def_sinks(graph_def)
    nodes = graph_def_nodes(graph_def)
    outs, leftovers = classify_sinks(nodes, sinks, known)
    source = "collections" if known and any(n in known for n, _ in leftovers) else "structure"
    return Selection([f"{n}:0" for n in outs], [], [],
                     [(f"{n}:0", r, nodes[n][0]) for n, r in leftovers], source)


def signature_key(signatures: Iterable[str]) -> str | None:
    keys = [k for k in sorted(signatures) if not k.startswith("__")]
    if "serving_default" in keys:
        return "serving_default"
    return keys[0] if len(keys) == 1 else None


def collections(data: bytes) -> dict[str, list[str]]:
    """A binary MetaGraphDef's ``collection_def`` (field 4): name -> node names of its
    ``node_list`` (the collections of tensors and ops). Empty for text or unreadable data."""
    out: dict[str, list[str]] = {}
    walk = sniff._walk(data)
    if walk.invalid or walk.cut_at is not None:
        return out
    for f in walk.fields:
        if f.number != 4 or f.wire != 2:
            continue
        entry = data[f.start:f.end]
        key, value = "", b""
        for g in sniff._walk(entry).fields:
            if g.number == 1 and g.wire == 2:
                key = entry[g.start:g.end].decode("utf-8", "replace")
            elif g.number == 2 and g.wire == 2:
                value = entry[g.start:g.end]
        names: list[str] = []
        for g in sniff._walk(value).fields:
            if g.number == 1 and g.wire == 2:  # node_list
                node_list = value[g.start:g.end]
                names += [node_list[h.start:h.end].decode("utf-8", "replace")
                          for h in sniff._walk(node_list).fields if h.number == 1 and h.wire == 2]
        out[key] = names
    return out


def known_leftovers(cols: Mapping[str, list[str]]) -> dict[str, str]:
    """node name -> reason, for the members of the leftover collections."""
    known: dict[str, str] = {}
    for key, names in cols.items():
        reason = LEFTOVER_COLLECTIONS.get(key)
        if reason is None:
            continue
        for name in names:
            known.setdefault(_node_name(name), reason)
    return known


def for_meta_graph(meta: Any, data: bytes | None) -> Selection:
    """A MetaGraph's outputs: its signature when it has one to choose, else its collections
    and structure."""
    key = signature_key(meta.signature_def)
    if key is not None:
        sig = meta.signature_def[key]
        outs = sorted(sig.outputs)
        ins = sorted(sig.inputs)
        if outs:
            return Selection([sig.outputs[k].name for k in outs],
                             [_node_name(sig.inputs[k].name) for k in ins], outs, [],
                             "signature")
    known = known_leftovers(collections(data)) if data else {}
    return for_graph_def(meta.graph_def, known)


# --- source graphs (the frozen path) -------------------------------------------------------


def for_graph(graph: Any, not_outputs: set[str]) -> tuple[list[Any], list[tuple[str, str, str]]]:
    """(output ports, [(leftover tensor, reason, op type)]) of a source-dialect graph: ports no op
    consumes, of ops that compute something."""
    from tfconv.graph import Port
    skip = set(not_outputs) | BOOKKEEPING_OPS
    sinks = [op.name for op in graph if op.type not in skip and not graph.consumers(op.name)]
    nodes = {op.name: (op.type, [p.node for p in graph.inputs(op.name)]) for op in graph}
    outs, leftovers = classify_sinks(nodes, sinks)
    return [Port(n, 0) for n in outs], [(f"{n}:0", r, nodes[n][0]) for n, r in leftovers]
