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
import re
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
UPDATE = "variable updates (moving averages)"
METRIC = "metrics"
INIT = "initializers"
REASONS = (REGULARIZER, LOSS, SUMMARY, SAVER, OPTIMIZER, UPDATE, METRIC, INIT)

# MetaGraph collections whose members are training leftovers.
LEFTOVER_COLLECTIONS = {
    "regularization_losses": REGULARIZER, "losses": LOSS, "summaries": SUMMARY,
    "train_op": OPTIMIZER, "update_ops": UPDATE, "saved_model_main_op": INIT,
    "saved_model_train_op": OPTIMIZER, "local_init_op": INIT, "init_op": INIT,
    "ready_op": INIT, "ready_for_local_init_op": INIT, "table_initializer": INIT,
    "metric_variables": METRIC, "savers": SAVER, "global_step": OPTIMIZER,
    "cond_context": None, "while_context": None,
}
LOSS_OPS = {"SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits",
            "SigmoidCrossEntropyWithLogits", "Nll", "CTCLoss", "CTCLossV2"}
SAVER_OPS = {"SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice"}
UPDATE_OPS = {"Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
              "AssignSubVariableOp", "ScatterUpdate", "ScatterAdd", "ScatterSub",
              "ResourceScatterUpdate", "ResourceScatterAdd", "ResourceScatterSub",
              "CountUpTo", "ResourceCountUpTo"}
# Ops that accumulate into a variable (metrics' total and count, step counters): what reads
# such a variable is a metric.
ACCUMULATE_OPS = {"AssignAdd", "AssignAddVariableOp", "ScatterAdd", "ResourceScatterAdd",
                  "CountUpTo", "ResourceCountUpTo"}
VARIABLE_OPS = {"Variable", "VariableV2", "VarHandleOp"}
# Name scopes that only losses have (a component of the node name; also ``*_loss``).
LOSS_SCOPES = ("losses", "loss", "total_loss", "regularization_loss")


def _is_loss_scope(part: str) -> bool:
    return (part in LOSS_SCOPES or part.endswith(("_loss", "_losses"))
            or part.startswith(("loss_", "losses_", "total_loss")))


def _node_name(ref: str) -> str:
    name = ref[1:] if ref.startswith("^") else ref
    base, sep, idx = name.rpartition(":")
    return base if sep and idx.isdigit() else name


# Every name op_reason can mark contains one of these; every op it can mark is below. A node
# with neither (nearly all of an inference graph) is decided without splitting its name.
_MARKED_NAME = re.compile("gradients|Regularizer|l2_regularizer|save|summaries|loss")
_MARKED_OPS = ({"L2Loss"} | SAVER_OPS | ACCUMULATE_OPS | UPDATE_OPS | LOSS_OPS)


def op_reason(name: str, op: str) -> str | None:
    """Why one node marks the branch it is on as a training leftover (None: it does not)."""
    if (op not in _MARKED_OPS and "Summary" not in op and "Apply" not in op
            and _MARKED_NAME.search(name) is None):
        return None
    parts = name.split("/")
    if "gradients" in parts[:-1] or any(p.startswith("gradients_") for p in parts[:-1]):
        return OPTIMIZER
    if op == "L2Loss" or "Regularizer" in parts or any(p.startswith("l2_regularizer")
                                                        for p in parts):
        return REGULARIZER
    if op in SAVER_OPS or any(_is_saver_scope(p) for p in parts[:-1]):
        return SAVER
    if "Summary" in op or "summaries" in parts:
        return SUMMARY
    if op.startswith(("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")):
        return OPTIMIZER
    if op in ACCUMULATE_OPS:
        return METRIC
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
                   known: Mapping[str, str] | None = None, weights: set[str] | None = None,
                   candidate=None) -> tuple[list[str], list[tuple[str, str]]]:
    """Split ``sinks`` into (outputs, [(leftover, reason)]).

    ``nodes``: name -> (op type, input node names); ``known``: node -> reason from the
    MetaGraph's collections. A sink is a leftover when it, or a node only it needs (its
    exclusive ancestors), is known or marks a training branch (:func:`op_reason`; the sink's
    own reason first), or when it reads a variable something accumulates into (a metric).

    A tensor only training branches consume is no sink: the logits of a training graph, which
    only its loss (and metrics, summaries) read. Such a tensor that a loss reads and that
    depends on ``weights`` (variables, weight constants) is an output too (after the sinks);
    ``candidate(name)`` says whether a node may be an output at all."""
    if len(sinks) <= 1:  # one sink is the output whatever its reasons (nothing better)
        return list(sinks), []
    known = known or {}
    accumulators = _accumulators(nodes)
    owner, metric = _owners(nodes, sinks, accumulators)
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
    for i in metric:
        reasons.setdefault(i, METRIC)
    outputs = [s for i, s in enumerate(sinks) if i not in reasons]
    leftovers = [(s, reasons[i]) for i, s in enumerate(sinks) if i in reasons]
    if leftovers and weights:
        outputs += [n for n in _loss_inputs(nodes, known, accumulators, weights, candidate)
                    if n not in outputs]
    if not outputs:  # nothing better: keep them all
        return list(sinks), []
    return outputs, leftovers


def _own(sink: str, nodes: Mapping[str, tuple[str, Sequence[str]]],
         known: Mapping[str, str]) -> bool:
    return bool(known.get(sink) or op_reason(sink, nodes[sink][0]))


def _accumulators(nodes: Mapping[str, tuple[str, Sequence[str]]]) -> set[str]:
    """Variables an AssignAdd-like op (outside initialisers and the Saver) accumulates into."""
    out = set()
    for name, (op, ins) in nodes.items():
        if op not in ACCUMULATE_OPS or not ins or name.startswith(("save/", "init")):
            continue
        src = ins[0]
        while src in nodes and nodes[src][0] in ("Identity", "ReadVariableOp") and nodes[src][1]:
            src = nodes[src][1][0]
        if src in nodes and nodes[src][0] in VARIABLE_OPS | {"Const"}:  # Const: frozen
            out.add(src)
    return out


def _owners(nodes: Mapping[str, tuple[str, Sequence[str]]], sinks: Sequence[str],
            accumulators: set[str]) -> tuple[dict[str, int], set[int]]:
    """(node -> index of the only sink needing it (-1 when several do), the sinks that read
    an accumulator variable).

    Linear time: the ancestors of a node already shared are shared, so a walk stops there."""
    owner: dict[str, int] = {}
    for i, sink in enumerate(sinks):
        stack = [sink]
        while stack:
            name = stack.pop()
            prev = owner.get(name)
            if prev == i or prev == -1:
                continue
            owner[name] = i if prev is None else -1
            stack += [src for src in nodes[name][1] if src in nodes]
    reads = _downstream(nodes, accumulators)
    return owner, {i for i, sink in enumerate(sinks) if sink in reads}


def _downstream(nodes: Mapping[str, tuple[str, Sequence[str]]], start: Iterable[str]) -> set[str]:
    consumers: dict[str, list[str]] = {}
    for name, (_, ins) in nodes.items():
        for src in ins:
            consumers.setdefault(src, []).append(name)
    seen: set[str] = set()
    work = list(start)
    while work:
        name = work.pop()
        if name not in seen:
            seen.add(name)
            work += consumers.get(name, [])
    return seen


def _loss_inputs(nodes: Mapping[str, tuple[str, Sequence[str]]], known: Mapping[str, str],
                 accumulators: set[str], weights: set[str], candidate) -> list[str]:
    """Tensors only training branches consume, among them a loss, and that depend on weights.

    The training region is everything downstream of a node that marks a training branch (or
    reads an accumulator); a node all of whose consumers are in it joins it, unless a loss
    reads it and it depends on weights: that is an output."""
    consumers: dict[str, list[str]] = {}
    for name, (_, ins) in nodes.items():
        for src in ins:
            if src in nodes:
                consumers.setdefault(src, []).append(name)
    marks = {n: known.get(n) or op_reason(n, op) for n, (op, _) in nodes.items()}
    region: set[str] = set()
    work = [n for n, r in marks.items() if r is not None] + list(accumulators)
    while work:  # downstream of every mark
        name = work.pop()
        if name in region:
            continue
        region.add(name)
        work += [c for c in consumers.get(name, ()) if c not in region]
    found: list[str] = []
    depends: dict[str, bool] = {}

    def weighty(start: str) -> bool:
        if start in depends:
            return depends[start]
        stack, seen, hit = [start], {start}, False
        while stack and not hit:
            name = stack.pop()
            hit = name in weights
            for src in nodes[name][1]:
                if src not in seen and src in nodes:
                    seen.add(src)
                    stack.append(src)
        depends[start] = hit
        return hit

    work = sorted({p for n in region for p in nodes[n][1] if p in nodes and p not in region})
    stopped: set[str] = set()
    while work:  # upstream, while every consumer is training
        name = work.pop()
        if name in region or name in stopped:
            continue
        users = consumers.get(name, [])
        if not users or not all(u in region for u in users):
            continue
        loss_read = any(marks.get(u) == LOSS or nodes[u][0] in LOSS_OPS for u in users)
        if loss_read and (candidate is None or candidate(name)) and weighty(name):
            found.append(name)
            stopped.add(name)
            continue
        region.add(name)
        work += [p for p in nodes[name][1] if p in nodes and p not in region]
    return sorted(found)


# --- GraphDefs and MetaGraphs --------------------------------------------------------------


def graph_def_nodes(graph_def: Any) -> dict[str, tuple[str, list[str]]]:
    return {n.name: (n.op, [_node_name(i) for i in n.input]) for n in graph_def.node}


def _is_saver_scope(part: str) -> bool:
    """``save``, ``save_1``...: the name scopes tf.train.Saver builds in."""
    return part == "save" or (part.startswith("save_") and part[5:].isdigit())


def _candidate(name: str, op: str) -> bool:
    """Whether a node may be an output: not bookkeeping (initialisers, variables, the Saver)."""
    return not (op in BOOKKEEPING_OPS or op in SAVER_OPS or name.startswith("init")
                or any(_is_saver_scope(p) for p in name.split("/")[:-1]))


def graph_def_sinks(graph_def: Any) -> list[str]:
    """Nodes no other node consumes (data or control) that may be outputs."""
    consumed = {_node_name(i) for n in graph_def.node for i in n.input}
    return [n.name for n in graph_def.node if n.name not in consumed and _candidate(n.name, n.op)]


def for_graph_def(graph_def: Any, known: Mapping[str, str] | None = None) -> Selection:
    """Outputs of an inference graph (+ checkpoint) or a MetaGraph's graph, by structure."""
    sinks = graph_def_sinks(graph_def)
    nodes = graph_def_nodes(graph_def)
    weights = {n.name for n in graph_def.node if n.op in VARIABLE_OPS or (
        n.op == "Const" and len(n.attr["value"].tensor.tensor_shape.dim) >= 2)}
    outs, leftovers = classify_sinks(nodes, sinks, known, weights,
                                     lambda name: _candidate(name, nodes[name][0]))
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
    if len(sinks) <= 1:  # classify_sinks keeps a lone sink: no need to map the graph
        return [Port(n, 0) for n in sinks], []
    nodes = {op.name: (op.type, [p.node for p in graph.inputs(op.name)]) for op in graph}
    weights = {op.name for op in graph if op.type in VARIABLE_OPS or (
        op.type == "Const" and op.outputs[0].shape is not None and len(op.outputs[0].shape) >= 2)}
    outs, leftovers = classify_sinks(nodes, sinks, None, weights,
                                     lambda name: nodes[name][0] not in skip)
    return [Port(n, 0) for n in outs], [(f"{n}:0", r, nodes[n][0]) for n, r in leftovers]
