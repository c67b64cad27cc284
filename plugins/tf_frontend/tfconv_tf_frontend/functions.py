"""Freeze checkpoints, MetaGraphs and SavedModels without TensorFlow.

Function calls (``PartitionedCall``/``StatefulPartitionedCall`` or a library function used as
an op) are inlined recursively: a callee's nodes are copied under ``CALL_NODE/`` with their
inputs rewritten from the function form (``arg``, ``node:out_arg:i``) to the graph form
(``node:flat_index``). Variable reads become Const nodes holding the checkpoint's values (numpy
views of the mapped data file, attached to the graph after parsing, never serialised).

Only what the outputs need (through data edges) is visited; a frozen GraphDef's calls are
inlined in place, every node kept (:func:`inline_frozen`). Anything this module does not
understand raises :class:`Fallback` with the reason; the caller then freezes with TensorFlow.
Variable -> checkpoint key: TF2 SavedModels through the object graph (a function's captured
inputs are object-graph nodes whose checkpoint keys the checkpoint's own object graph lists);
TF1 graphs through the saver's RestoreV2 -> Assign/AssignVariableOp nodes, else the variable's
node name.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.errors import ModelFormatError, UsageError

from . import bundle as bundle_mod
from . import functional, proto
from .freeze import Frozen, _node_name, detect_outputs

log = logging.getLogger("tfconv.tf_frontend")

CALL_OPS = {"PartitionedCall", "StatefulPartitionedCall"}
VAR_OPS = {"VariableV2", "Variable", "VarHandleOp"}
PASS_THROUGH = {"Identity", "IdentityN", "Snapshot"}
# Ops whose meaning this module cannot reproduce: TensorFlow freezes such models.
# (Functional While/If/Case are lowered to TF1 control flow by functional.py.)
FALLBACK_OPS = {
    "Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration", "LoopCond",
    "HashTable", "HashTableV2", "MutableHashTable", "MutableHashTableV2",
    "MutableHashTableOfTensors", "MutableHashTableOfTensorsV2", "MutableDenseHashTable",
    "MutableDenseHashTableV2", "AnonymousHashTable", "LookupTableFind", "LookupTableFindV2",
    "LookupTableSize", "LookupTableSizeV2", "InitializeTable", "InitializeTableV2",
    "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
    "ResourceGatherNd", "VarIsInitializedOp", "IsVariableInitialized", "Restore", "RestoreSlice",
    "RestoreV2", "ReadVariableXlaSplitND", "_Arg", "_Retval",
}
# TF1 while-loop ops: copied as they are in a graph (the loop is collapsed and unrolled later,
# see control_flow.py); only inside a function body do they need TensorFlow.
TF1_LOOP_OPS = {"Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration",
                "LoopCond"}
# Output-arg layouts of multi-output-arg ops, for graphs without a stripped op list.
_BN_OUTS = ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2",
            "reserve_space_3"]
BUILTIN_LAYOUTS: dict[str, list[str]] = {
    "FusedBatchNorm": _BN_OUTS[:5], "FusedBatchNormV2": _BN_OUTS[:5], "FusedBatchNormV3": _BN_OUTS,
    "TopKV2": ["values", "indices"], "TopK": ["values", "indices"], "Unique": ["y", "idx"],
    "UniqueV2": ["y", "idx"], "UniqueWithCounts": ["y", "idx", "count"],
    "Switch": ["output_false", "output_true"], "RefSwitch": ["output_false", "output_true"],
    "Merge": ["output", "value_index"], "RefMerge": ["output", "value_index"],
    "QuantizeV2": ["output", "output_min", "output_max"],
    "MaxPoolWithArgmax": ["output", "argmax"], "BroadcastGradientArgs": ["r0", "r1"],
    "NonMaxSuppressionV4": ["selected_indices", "valid_outputs"],
    "NonMaxSuppressionV5": ["selected_indices", "selected_scores", "valid_outputs"],
    "CombinedNonMaxSuppression": ["nmsed_boxes", "nmsed_scores", "nmsed_classes",
                                  "valid_detections"],
    "FakeQuantWithMinMaxVarsGradient": ["backprops_wrt_input", "backprop_wrt_min",
                                        "backprop_wrt_max"],
}
_MAX_DEPTH = 64
_DT_RESOURCE = 20
_DT_STRING = 7


class Fallback(Exception):
    """This model needs TensorFlow to freeze; the message says why."""


@dataclass(frozen=True)
class Tensor:
    node: str
    index: int

    def ref(self) -> str:
        return self.node if self.index == 0 else f"{self.node}:{self.index}"


@dataclass(frozen=True)
class Variable:
    key: str        # checkpoint key
    name: str       # the variable's node (for messages and the const name of ref variables)
    ref: bool       # a ref variable (VariableV2), read by using it directly
    shape: tuple | None = None  # the graph's declared shape (None: unknown)


Binding = Any  # Tensor | Variable


class _Node:
    """How a processed node's outputs resolve: an emitted node, or a list of bindings."""

    __slots__ = ("name", "flat", "src")

    def __init__(self, src: Any, name: str | None = None, flat: list | None = None) -> None:
        self.src, self.name, self.flat = src, name, flat


class Inliner:
    """Builds one flat GraphDef from a graph or function body plus the library."""

    def __init__(self, library: Any, op_list: Any, checkpoint: bundle_mod.Bundle | None,
                 var_keys: dict[str, str] | None = None, partitioned: set[str] | None = None,
                 *, frozen: bool = False):
        # frozen: a frozen GraphDef's calls are inlined, every other node is copied as it is
        # (variables, functional ops: whatever they are, translation reports them)
        self.frozen = frozen
        self.funcs = {f.signature.name: f for f in library.function}
        self.op_defs = {op.name: op for op in op_list.op} if op_list is not None else {}
        self.checkpoint = checkpoint
        self.var_keys = var_keys or {}
        self.partitioned = partitioned or set()
        self.nodes: list[Any] = []
        self.names: set[str] = set()
        self.constants: dict[str, np.ndarray] = {}
        self._var_consts: dict[str, Tensor] = {}
        self.missing: list[str] = []
        self.inlined = 0

    # --- output graph ---------------------------------------------------------------------

    def _claim(self, name: str) -> str:
        if name in self.names:
            raise Fallback(f"two nodes would be named {name!r} after inlining")
        self.names.add(name)
        return name

    def add_node(self, node: Any) -> None:
        self._claim(node.name)
        self.nodes.append(node)

    def var_const(self, var: Variable, dtype: int | None, name: str) -> Tensor:
        """The Const holding ``var``'s checkpoint value (one per variable)."""
        done = self._var_consts.get(var.key)
        if done is not None:
            return done
        if var.key in self.partitioned:
            raise Fallback(f"variable {var.name} is partitioned (sliced in the checkpoint)")
        node = proto.NodeDef(name=self._claim(name), op="Const")
        if self.checkpoint is None or var.key not in self.checkpoint:
            self.missing.append(var.name if var.key == var.name else f"{var.name} ({var.key})")
            value = None
        else:
            try:
                value = self.checkpoint.tensor(var.key)
            except bundle_mod.Unsupported as e:
                raise Fallback(str(e)) from e
            enum = self.checkpoint.dtype(var.key)
            if enum == _DT_STRING:
                raise Fallback(f"variable {var.name} holds strings")
            if dtype is not None and dtype != enum and dtype - 100 != enum:
                raise ModelFormatError(
                    f"checkpoint {self.checkpoint.prefix}: {var.key!r} is "
                    f"{proto.dtype_name(enum)} but the graph reads {var.name} as "
                    f"{proto.dtype_name(dtype)}; is it the checkpoint of this model?")
            declared = var.shape
            if declared is not None and (len(declared) != value.ndim or any(
                    d is not None and d != v for d, v in zip(declared, value.shape))):
                fmt = ",".join("?" if d is None else str(d) for d in declared)
                raise ModelFormatError(
                    f"checkpoint {self.checkpoint.prefix}: {var.key!r} has shape "
                    f"[{','.join(map(str, value.shape))}] but the graph declares variable "
                    f"{var.name} as [{fmt}] (TensorFlow refuses this restore); is it the "
                    "checkpoint of this model?")
            dtype = enum
        node.attr["dtype"].type = dtype or 1
        self.nodes.append(node)
        if value is not None:
            self.constants[node.name] = value
        t = Tensor(node.name, 0)
        self._var_consts[var.key] = t
        return t

    # --- layouts --------------------------------------------------------------------------

    def _attr_or_default(self, node: Any, op_def: Any, name: str) -> Any:
        if name in node.attr:
            return node.attr[name]
        for a in op_def.attr:
            if a.name == name and a.HasField("default_value"):
                return a.default_value
        return None

    def _flat_index(self, node: Any, arg: str, i: int) -> int:
        op = node.op
        if op in CALL_OPS:
            return i
        if op in self.funcs:
            offset = 0
            for a in self.funcs[op].signature.output_arg:
                if a.name == arg:
                    return offset + i
                offset += 1
            raise Fallback(f"{node.name} ({op}) has no output {arg!r}")
        op_def = self.op_defs.get(op)
        if op_def is not None:
            offset = 0
            for a in op_def.output_arg:
                if a.name == arg:
                    return offset + i
                if a.number_attr:
                    v = self._attr_or_default(node, op_def, a.number_attr)
                    offset += v.i if v is not None else 0
                elif a.type_list_attr:
                    v = self._attr_or_default(node, op_def, a.type_list_attr)
                    offset += len(v.list.type) if v is not None else 0
                else:
                    offset += 1
            raise Fallback(f"{node.name} ({op}) has no output {arg!r}")
        names = BUILTIN_LAYOUTS.get(op)
        if names is not None:
            if arg not in names:
                raise Fallback(f"{node.name} ({op}) has no output {arg!r}")
            return names.index(arg) + i
        return i  # one output arg (list or not): every op we translate without a table entry

    # --- scopes ---------------------------------------------------------------------------

    def run(self, body: list[Any], prefix: str, args: dict[str, Binding] | None,
            wanted: list[str], depth: int = 0) -> list[Binding]:
        """Emit what ``wanted`` (refs in this scope's syntax) needs; return their bindings.
        ``args`` is None for a graph (refs ``node[:i]``), the bound arguments for a function
        (refs ``arg`` or ``node:out_arg:i``)."""
        if depth > _MAX_DEPTH:
            raise Fallback("function calls nest too deep (recursion?)")
        by_name = {n.name: n for n in body}
        is_fn = args is not None

        def parse(ref: str) -> tuple[str | None, Any]:
            if is_fn:
                parts = ref.split(":")
                if len(parts) == 1:
                    return (None, ref) if ref in args else (ref, 0)
                if len(parts) == 2:
                    return parts[0], (parts[1], 0)
                return parts[0], (parts[1], int(parts[2]))
            name, _, idx = ref.partition(":")
            return name, int(idx) if idx else 0

        def data_inputs(node: Any) -> list[str]:
            return [i for i in node.input if not i.startswith("^")]

        # Nodes the wanted refs need, in dependency order (iterative DFS). In a graph, a TF1
        # while loop's back edge (NextIteration -> Merge) is followed after the rest: the Merge
        # refers to the NextIteration by its name, which a graph keeps (other cycles fall back).
        order: list[str] = []
        state: dict[str, int] = {}
        stack: list[tuple[str, bool]] = []
        back_edges: set[str] = set()
        for ref in reversed(wanted):
            src, _ = parse(ref)
            if src is not None:
                stack.append((src, False))
        while stack:
            while stack:
                name, done_ = stack.pop()
                if done_:
                    state[name] = 2
                    order.append(name)
                    continue
                st = state.get(name)
                if st == 2:
                    continue
                if st == 1:
                    raise Fallback(f"the graph has a cycle through {prefix}{name} (a TF1 while "
                                   "loop)")
                node = by_name.get(name)
                if node is None:
                    raise ModelFormatError(f"the graph refers to a missing node {prefix}{name}; "
                                           "the file is incomplete or was cut badly")
                state[name] = 1
                stack.append((name, True))
                for ref in reversed(data_inputs(node)):
                    src, _ = parse(ref)
                    if src is None or state.get(src) == 2:
                        continue
                    if not is_fn and node.op in ("Merge", "RefMerge") and src in by_name and \
                            by_name[src].op in ("NextIteration", "RefNextIteration"):
                        back_edges.add(src)
                        continue
                    if state.get(src) == 1:
                        raise Fallback(f"the graph has a cycle through {prefix}{src} "
                                       "(a TF1 while loop)")
                    stack.append((src, False))
            stack = [(n, False) for n in sorted(back_edges) if state.get(n) != 2]

        done: dict[str, _Node] = {}

        def resolve(ref: str) -> Binding:
            src, key = parse(ref)
            if src is None:
                return args[key]  # type: ignore[index]
            if src in back_edges and src not in done:
                return Tensor(prefix + src, key)  # type: ignore[arg-type]
            out = done[src]
            idx = key if isinstance(key, int) else self._flat_index(out.src, *key)
            if out.flat is not None:
                if idx >= len(out.flat):
                    raise Fallback(f"{prefix}{src} has no output {idx}")
                return out.flat[idx]
            return Tensor(out.name, idx)  # type: ignore[arg-type]

        for name in order:
            node = by_name[name]
            done[name] = self._process(node, prefix, is_fn, [resolve(r) for r in data_inputs(node)],
                                       depth)
        for name in back_edges:
            if done[name].name != prefix + name:
                raise Fallback(f"the while loop's {prefix}{name} was renamed")
        return [resolve(r) for r in wanted]

    def _process(self, node: Any, prefix: str, is_fn: bool, inputs: list[Binding],
                 depth: int) -> _Node:
        op = node.op
        new_name = prefix + node.name
        if op in CALL_OPS or op in self.funcs:
            fname = node.attr["f"].func.name if op in CALL_OPS else op
            fn = self.funcs.get(fname)
            if fn is None:
                raise Fallback(f"{new_name} calls {fname!r}, which the library does not define")
            sig = fn.signature
            if len(sig.attr):
                raise Fallback(f"function {fname} is polymorphic (has attrs)")
            if len(inputs) != len(sig.input_arg):
                raise Fallback(f"{new_name} passes {len(inputs)} inputs to {fname}, which "
                               f"takes {len(sig.input_arg)}")
            self.inlined += 1
            bound = {a.name: b for a, b in zip(sig.input_arg, inputs)}
            rets = [fn.ret[a.name] for a in sig.output_arg]
            flat = self.run(list(fn.node_def), new_name + "/", bound, rets, depth + 1)
            return _Node(node, flat=flat)
        if op in functional.FUNCTIONAL_OPS:  # While/If/Case: lowered to TF1 control flow
            return functional.lower(self, node, new_name, inputs, depth)
        if self.frozen:
            return self._copy(node, new_name, inputs)
        if op in VAR_OPS:
            if is_fn:
                raise Fallback(f"function body creates variable {new_name}")
            if node.attr["dtype"].type in (_DT_STRING, _DT_STRING + 100):
                raise Fallback(f"variable {new_name} holds strings")
            key = self.var_keys.get(node.name, node.name)
            shape = proto.shape_to_python(node.attr["shape"].shape) if "shape" in node.attr \
                else None
            return _Node(node, flat=[Variable(key, node.name, op != "VarHandleOp",
                                              None if shape is None else tuple(shape))])
        if op == "ReadVariableOp":
            (handle,) = inputs[:1] or [None]
            if not isinstance(handle, Variable):
                raise Fallback(f"{new_name} reads a resource that is not a checkpoint variable")
            return _Node(node, flat=[self.var_const(handle, node.attr["dtype"].type, new_name)])
        if op == "ResourceGather":  # tf.gather / embedding lookup on a resource variable
            return self._resource_gather(node, new_name, inputs)
        if (op in PASS_THROUGH or (op in TF1_LOOP_OPS and not is_fn)) and \
                any(isinstance(b, Variable) and not b.ref for b in inputs):
            return _Node(node, flat=list(inputs))
        if op in FALLBACK_OPS and not (op in TF1_LOOP_OPS and not is_fn):
            raise Fallback(f"op {op} ({new_name})")
        if op in ("Placeholder", "PlaceholderV2") and node.attr["dtype"].type == _DT_RESOURCE:
            raise Fallback(f"{new_name} is a resource placeholder")
        return self._copy(node, new_name, inputs)

    def _copy(self, node: Any, new_name: str, inputs: list[Binding]) -> _Node:
        """``node`` under its new name and inputs (variables as their Consts)."""
        op = node.op
        new = proto.NodeDef()
        new.CopyFrom(node)
        new.name = new_name
        new.ClearField("device")
        del new.input[:]
        for b in inputs:
            if isinstance(b, Variable):
                if not b.ref:
                    raise Fallback(f"{new_name} ({op}) uses resource variable {b.name} directly")
                b = self.var_const(b, None, b.name)
            new.input.append(b.ref())
        for key in list(new.attr):
            value = new.attr[key]
            kind = value.WhichOneof("value")
            if kind == "placeholder":
                raise Fallback(f"{new_name} has a placeholder attr {key!r}")
            if not self.frozen and (kind == "func" or (kind == "list" and len(value.list.func))):
                raise Fallback(f"functional op {op} ({new_name})")
            if key in ("_read_only_resource_inputs", "_class"):
                del new.attr[key]
        op_def = self.op_defs.get(op)
        if op_def is not None:
            for a in op_def.attr:
                if a.name not in new.attr and a.HasField("default_value"):
                    new.attr[a.name].CopyFrom(a.default_value)
        self.add_node(new)
        return _Node(node, name=new_name)

    def _resource_gather(self, node: Any, new_name: str, inputs: list[Binding]) -> _Node:
        """ResourceGather(variable, indices) -> GatherV2(Const, indices, axis 0)."""
        if len(inputs) != 2 or not isinstance(inputs[0], Variable) \
                or isinstance(inputs[1], Variable):
            raise Fallback(f"{new_name} gathers from a resource that is not a variable")
        params = self.var_const(inputs[0], node.attr["dtype"].type, f"{new_name}/params")
        axis = proto.NodeDef(name=self._claim(f"{new_name}/axis"), op="Const")
        axis.attr["dtype"].type = 3
        axis.attr["value"].tensor.dtype = 3
        axis.attr["value"].tensor.int_val.append(0)
        self.nodes.append(axis)
        new = proto.NodeDef(name=new_name, op="GatherV2")
        new.input.extend([params.ref(), inputs[1].ref(), axis.name])
        new.attr["Tparams"].type = node.attr["dtype"].type
        new.attr["Tindices"].CopyFrom(node.attr["Tindices"])
        new.attr["Taxis"].type = 3
        new.attr["batch_dims"].i = node.attr["batch_dims"].i if "batch_dims" in node.attr else 0
        if "_output_shapes" in node.attr:
            new.attr["_output_shapes"].CopyFrom(node.attr["_output_shapes"])
        self.add_node(new)
        return _Node(node, name=new_name)

    def finish(self, outputs: list[Binding]) -> list[str]:
        """Output tensor names (variables as their Consts); raises on missing checkpoint keys."""
        names = []
        for b in outputs:
            if isinstance(b, Variable):
                b = self.var_const(b, None, b.name)
            names.append(f"{b.node}:{b.index}")
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (", ..." if len(self.missing) > 5 else "")
            where = self.checkpoint.prefix if self.checkpoint is not None else "(none)"
            sample = ""
            if self.checkpoint is not None:
                keys = [k for k in self.checkpoint.keys() if not k.startswith("_")][:3]
                sample = f" (it holds e.g. {', '.join(keys)})" if keys else " (it is empty)"
            raise ModelFormatError(
                f"checkpoint {where} has no value for {len(self.missing)} variable(s) of the "
                f"graph: {shown}{sample}; is it the checkpoint of this graph? Pass the "
                "checkpoint that was saved with it")
        return names

    def graph_def(self, versions: Any | None) -> Any:
        gd = proto.GraphDef()
        if versions is not None:
            gd.versions.CopyFrom(versions)
        gd.node.extend(self.nodes)
        return gd


# --- checkpoints ----------------------------------------------------------------------------


def open_checkpoint(prefix: str) -> bundle_mod.Bundle:
    try:
        return bundle_mod.Bundle(prefix)
    except bundle_mod.Unsupported as e:
        raise Fallback(str(e)) from e


def saver_keys(graph_def: Any) -> tuple[dict[str, str], set[str]]:
    """Variable node -> checkpoint key from the saver's RestoreV2 -> Assign nodes, and the keys
    restored as slices (partitioned variables)."""
    nodes = {n.name: n for n in graph_def.node}
    restores = {n.name: n for n in graph_def.node if n.op == "RestoreV2"}
    if not restores:
        return {}, set()

    def const_strings(ref: str) -> list[str] | None:
        node = nodes.get(_node_name(ref))
        while node is not None and node.op == "Identity" and node.input:
            node = nodes.get(_node_name(node.input[0]))
        if node is None or node.op != "Const":
            return None
        value = proto.tensor_to_numpy(node.attr["value"].tensor)
        return [bytes(v).decode("utf-8", "replace") for v in value.reshape(-1)]

    def source(ref: str) -> tuple[Any, int]:
        name, _, idx = ref.partition(":")
        node = nodes.get(name)
        while node is not None and node.op == "Identity" and node.input:
            name, _, idx = node.input[0].partition(":")
            node = nodes.get(name)
        return node, int(idx) if idx else 0

    keys: dict[str, str] = {}
    sliced: set[str] = set()
    table: dict[str, tuple[list[str], list[str]]] = {}
    for name, node in restores.items():
        if len(node.input) < 3:
            continue
        names = const_strings(node.input[1])
        slices = const_strings(node.input[2])
        if names is not None:
            table[name] = (names, slices or [""] * len(names))
    for node in graph_def.node:
        if node.op not in ("Assign", "AssignVariableOp") or len(node.input) < 2:
            continue
        var, _ = source(node.input[0])
        value, idx = source(node.input[1])
        if var is None or value is None or var.op not in VAR_OPS or value.name not in table:
            continue
        names, slices = table[value.name]
        if idx < len(names):
            keys[var.name] = names[idx]
            if idx < len(slices) and slices[idx]:
                sliced.add(names[idx])
    return keys, sliced


def _graph_outputs(graph_def: Any, user_outputs: tuple[str, ...] | list[str]) -> list[str]:
    if user_outputs:
        names = list(dict.fromkeys(_node_name(o) for o in user_outputs))
        have = {n.name for n in graph_def.node}
        missing = [n for n in names if n not in have]
        if missing:
            raise UsageError(f"output {missing[0]!r} is not a node of the model")
        return names
    outs = detect_outputs(graph_def)
    if not outs:
        raise ModelFormatError("cannot find the model's outputs (every op is consumed or is "
                               "bookkeeping); name them with --output")
    return outs


def _freeze_graph(graph_def: Any, op_list: Any, prefix: str,
                  user_outputs: tuple[str, ...] | list[str]) -> Frozen:
    """A TF1-style graph (variables as nodes) with a V2 checkpoint."""
    names = _graph_outputs(graph_def, user_outputs)
    ckpt = open_checkpoint(prefix)
    keys, sliced = saver_keys(graph_def)
    inl = Inliner(graph_def.library, op_list, ckpt, keys, sliced)
    wanted = [f"{n}:0" for n in names]
    outputs = inl.finish(inl.run(list(graph_def.node), "", None, wanted))
    emitted = inl.names
    inputs = [n.name for n in graph_def.node if n.op in ("Placeholder", "PlaceholderV2")
              and n.name in emitted and n.attr["dtype"].type != _DT_RESOURCE]
    return Frozen(inl.graph_def(graph_def.versions), inputs, outputs, [], inl.constants,
                  inl.inlined)


def inline_frozen(graph_def: Any) -> int:
    """Inline every function call of a frozen GraphDef in place; returns how many calls were
    inlined (nested ones included).

    Each call node becomes an IdentityN of the same name over the inlined body's results (the
    graph's references ``call:i`` stay valid, an output keeps its name); the bodies' nodes
    are added under ``call/``. Every node of the graph is kept. Raises :class:`Fallback` for
    a call that cannot be inlined (unknown or polymorphic function, bad arity, recursion)."""
    funcs = {f.signature.name: f for f in graph_def.library.function}
    calls = [n for n in graph_def.node
             if n.op in CALL_OPS or n.op in funcs or n.op in functional.FUNCTIONAL_OPS]
    if not calls:
        return 0
    inl = Inliner(graph_def.library, None, None, frozen=True)
    inl.names = {n.name for n in graph_def.node}
    for node in calls:
        inputs: list[Binding] = []
        for ref in node.input:
            if not ref.startswith("^"):
                name, _, idx = ref.partition(":")
                inputs.append(Tensor(name, int(idx) if idx else 0))
        flat = inl._process(node, "", False, inputs, 0).flat or []
        if node.op in functional.WHILE_OPS:
            types = list(node.attr["T"].list.type)
        elif node.op in functional.FUNCTIONAL_OPS or "Tout" in node.attr:
            types = list(node.attr["Tout"].list.type)
        else:
            fn = funcs[node.attr["f"].func.name if node.op in CALL_OPS else node.op]
            types = [a.type for a in fn.signature.output_arg]
        shapes = proto.NodeDef()
        if "_output_shapes" in node.attr:
            shapes.attr["_output_shapes"].CopyFrom(node.attr["_output_shapes"])
        node.ClearField("attr")
        node.ClearField("device")
        del node.input[:]
        if not flat:  # nothing to return: only its side effects, which inference drops
            node.op = "NoOp"
            continue
        node.op = "IdentityN"
        node.input.extend(b.ref() for b in flat)
        node.attr["T"].list.type.extend(types[:len(flat)])
        if "_output_shapes" in shapes.attr:
            node.attr["_output_shapes"].CopyFrom(shapes.attr["_output_shapes"])
    graph_def.node.extend(inl.nodes)
    graph_def.ClearField("library")
    return inl.inlined


def freeze_checkpoint(graph_def: Any, prefix: str, outputs: tuple[str, ...]) -> Frozen:
    return _freeze_graph(graph_def, None, prefix, outputs)


def read_meta_graph(path: Path) -> Any:
    data = path.read_bytes()
    meta = proto.MetaGraphDef()
    try:
        meta.ParseFromString(data)
        if meta.HasField("graph_def"):
            return meta
    except Exception:  # noqa: BLE001 - DecodeError: maybe text
        pass
    from google.protobuf import text_format
    meta = proto.MetaGraphDef()
    try:
        text_format.Parse(data.decode("utf-8"), meta, allow_unknown_field=True)
    except Exception as e:  # noqa: BLE001
        raise Fallback(f"our schema cannot parse the MetaGraph ({type(e).__name__})") from e
    return meta


def freeze_meta_graph(path: Path, prefix: str, outputs: tuple[str, ...],
                      meta: Any | None = None) -> Frozen:
    """A MetaGraph (``meta``: already parsed) with a V2 checkpoint."""
    if meta is None:
        meta = read_meta_graph(path)
    op_list = meta.meta_info_def.stripped_op_list if meta.HasField("meta_info_def") else None
    return _freeze_graph(meta.graph_def, op_list, prefix, outputs)


# --- SavedModels ----------------------------------------------------------------------------


def check_signature(graph_def: Any, signature: Any, key: str) -> None:
    """The signature's inputs and outputs against the graph, as TensorFlow checks them when it
    runs one: every tensor exists, each input is a placeholder of the signature's type, and its
    declared shape agrees with the placeholder's (rank and known dims)."""
    nodes = {n.name: n for n in graph_def.node}
    problems = []
    for kind, table in (("input", signature.inputs), ("output", signature.outputs)):
        for name in sorted(table):
            info = table[name]
            node = nodes.get(_node_name(info.name))
            if node is None:
                problems.append(f"{kind} {name!r} names {info.name!r}, which is not in the graph")
                continue
            if kind != "input" or node.op not in ("Placeholder", "PlaceholderV2",
                                                  "PlaceholderWithDefault"):
                continue
            want = node.attr["dtype"].type if "dtype" in node.attr else None
            if info.dtype and want is not None and info.dtype != want:
                problems.append(f"input {name!r} is {proto.dtype_name(info.dtype)} in the signature "
                                f"but placeholder {node.name} is {proto.dtype_name(want)}")
            if info.HasField("tensor_shape") and "shape" in node.attr:
                sig_shape = proto.shape_to_python(info.tensor_shape)
                ph_shape = proto.shape_to_python(node.attr["shape"].shape)
                if sig_shape is not None and ph_shape is not None and (
                        len(sig_shape) != len(ph_shape) or any(
                            a is not None and b is not None and a != b
                            for a, b in zip(sig_shape, ph_shape))):
                    fmt = lambda s: "[" + ",".join("?" if d is None else str(d) for d in s) + "]"  # noqa: E731
                    problems.append(f"input {name!r} is {fmt(sig_shape)} in the signature but "
                                    f"placeholder {node.name} is {fmt(ph_shape)}")
    if problems:
        raise ModelFormatError(f"signature {key!r} does not match its graph: "
                               + "; ".join(problems) + "; the SavedModel is inconsistent "
                               "(TensorFlow cannot run this signature either)")


def freeze_saved_model_v1(directory: Path, meta: Any, signature: Any, key: str = "") -> Frozen:
    """A TF1 SavedModel: the signature's tensors of the top-level graph."""
    in_keys, out_keys = sorted(signature.inputs), sorted(signature.outputs)
    inputs = [_node_name(signature.inputs[k].name) for k in in_keys]
    out_refs = [signature.outputs[k].name for k in out_keys]
    gd = meta.graph_def
    check_signature(gd, signature, key)
    prefix = str(directory / "variables" / "variables")
    ckpt = open_checkpoint(prefix) if Path(prefix + ".index").is_file() else None
    keys, sliced = saver_keys(gd)
    op_list = meta.meta_info_def.stripped_op_list if meta.HasField("meta_info_def") else None
    inl = Inliner(gd.library, op_list, ckpt, keys, sliced)
    outputs = inl.finish(inl.run(list(gd.node), "", None, out_refs))
    return Frozen(inl.graph_def(gd.versions), inputs, outputs, out_keys, inl.constants,
                  inl.inlined)


def _checkpoint_keys(ckpt: bundle_mod.Bundle) -> list[str | None]:
    """Object-graph node id -> the checkpoint key of its VARIABLE_VALUE (None if it has none)."""
    key = "_CHECKPOINTABLE_OBJECT_GRAPH"
    if key not in ckpt:
        raise Fallback("the checkpoint has no object graph")
    graph = proto.TrackableObjectGraph()
    graph.ParseFromString(bytes(ckpt.tensor(key).reshape(-1)[0]))
    out: list[str | None] = []
    for node in graph.nodes:
        found = [a.checkpoint_key for a in node.attributes if a.name == "VARIABLE_VALUE"]
        out.append(found[0] if found else None)
    return out


def freeze_saved_model_v2(directory: Path, meta: Any, signature_key: str) -> Frozen:
    """A TF2 SavedModel: the body of the function the signature calls, inlined, with its
    captured variables read from the object graph and the checkpoint."""
    sig = meta.signature_def[signature_key]
    gd = meta.graph_def
    check_signature(gd, sig, signature_key)
    nodes = {n.name: n for n in gd.node}
    out_keys = sorted(sig.outputs)
    calls = set()
    out_idx = []
    for k in out_keys:
        name, _, idx = sig.outputs[k].name.partition(":")
        calls.add(name)
        out_idx.append(int(idx) if idx else 0)
    if len(calls) != 1:
        raise Fallback("the signature's outputs do not come from one function call")
    call = nodes.get(calls.pop())
    if call is None or call.op not in CALL_OPS:
        raise Fallback("the signature's outputs do not come from a function call")
    fname = call.attr["f"].func.name
    funcs = {f.signature.name: f for f in gd.library.function}
    fn = funcs.get(fname)
    og = meta.object_graph_def
    if fn is None or fname not in og.concrete_functions:
        raise Fallback(f"function {fname} is not in the library and object graph")
    bound = list(og.concrete_functions[fname].bound_inputs)
    args = list(fn.signature.input_arg)
    n_real = len(args) - len(bound)
    data_inputs = [i for i in call.input if not i.startswith("^")]
    if n_real < 0 or len(data_inputs) != len(args):
        raise Fallback(f"call {call.name} does not match function {fname}'s arguments")
    prefix = str(directory / "variables" / "variables")
    ckpt = open_checkpoint(prefix) if bound else None
    keys = _checkpoint_keys(ckpt) if ckpt is not None else []
    inl = Inliner(gd.library, meta.meta_info_def.stripped_op_list, ckpt)
    bindings: dict[str, Binding] = {}
    inputs = []
    for arg, ref in zip(args[:n_real], data_inputs[:n_real]):
        src = nodes.get(_node_name(ref))
        if src is None or src.op not in ("Placeholder", "PlaceholderV2"):
            raise Fallback(f"function input {arg.name} is not fed by a placeholder")
        ph = proto.NodeDef(name=arg.name, op="Placeholder")
        ph.attr["dtype"].type = src.attr["dtype"].type
        if "shape" in src.attr:
            ph.attr["shape"].CopyFrom(src.attr["shape"])
        inl.add_node(ph)
        bindings[arg.name] = Tensor(arg.name, 0)
        inputs.append(arg.name)
    for arg, node_id in zip(args[n_real:], bound):
        obj = og.nodes[node_id] if node_id < len(og.nodes) else None
        if obj is not None and obj.HasField("variable"):
            var = obj.variable
            if len(var.experimental_distributed_variable_components):
                raise Fallback(f"variable {var.name} is distributed")
            key = keys[node_id] if node_id < len(keys) else None
            if key is None:
                raise Fallback(f"variable {var.name} has no checkpoint key in the object graph")
            shape = proto.shape_to_python(var.shape) if var.HasField("shape") else None
            if (ckpt is not None and key in ckpt and shape is not None
                    and None not in shape and tuple(shape) != ckpt.shape(key)):
                raise Fallback(f"variable {var.name} is {list(shape)} in the object graph but "
                               f"{list(ckpt.shape(key))} in the checkpoint")
            bindings[arg.name] = Variable(key, var.name or arg.name, False)
        elif obj is not None and obj.HasField("constant"):
            src = nodes.get(obj.constant.operation)
            if src is None or src.op != "Const":
                raise Fallback(f"captured constant {obj.constant.operation} is not a Const")
            const = proto.NodeDef()
            const.CopyFrom(src)
            const.ClearField("device")
            const.name = f"captured/{src.name}"  # apart from the function body's names
            inl.add_node(const)
            bindings[arg.name] = Tensor(const.name, 0)
        else:
            raise Fallback(f"function {fname} captures {arg.name}, which is neither a variable "
                           "nor a constant (a table, asset or other resource)")
    rets = [fn.ret[a.name] for a in fn.signature.output_arg]
    if any(i >= len(rets) for i in out_idx):
        raise Fallback(f"the signature reads outputs function {fname} does not have")
    flat = inl.run(list(fn.node_def), "", bindings, rets)
    outputs = inl.finish([flat[i] for i in out_idx])
    return Frozen(inl.graph_def(gd.versions), inputs, outputs, out_keys, inl.constants,
                  inl.inlined)
