"""Source-stage passes that remove training leftovers from frozen TensorFlow graphs.

* ``tf_frontend.fold_constant_switches``: Switch/Merge on constant predicates (``is_training``
  frozen with ``--input is_training->False``, or a Const predicate) become plain data flow.
* ``tf_frontend.remove_training_ops``: Assert, CheckNumerics, NoOp, Print, summaries and
  save/restore nodes are dropped (and are never model outputs).
* ``tf_frontend.resolve_placeholder_defaults``: a PlaceholderWithDefault not named in
  ``--input`` becomes its default value.
* ``tf_frontend.replace_input_pipelines``: queue and iterator heads become IR inputs (for graphs
  another plugin loaded; this plugin's loader does it at load time, see below).
* ``tf_frontend.write_tensorboard``: ``--tensorboard_logdir``.

Named PlaceholderWithDefault nodes, and queue/iterator heads, must be turned into Placeholders
before the loader applies ``--input`` and ``-b``, so that part runs at load time
(:func:`load_with_defaults`): ``--input batch:1[2]{i32}`` then names the head's output 1.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from tfconv.errors import TfconvError, UsageError
from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass

log = logging.getLogger("tfconv.tf_frontend")

DEAD_CLEANUP = "cleanup.remove_dead_source"
FORWARDING = {"Identity", "Snapshot", "StopGradient", "PreventGradient", "PlaceholderWithDefault",
              "CheckNumerics", "EnsureShape", "Print"}
TRAINING_OPS = {"Assert", "NoOp", "ScalarSummary", "HistogramSummary", "ImageSummary",
                "AudioSummary", "AudioSummaryV2", "TensorSummary", "TensorSummaryV2",
                "MergeSummary", "WriteSummary", "SaveV2", "Save", "SaveSlices", "RestoreV2",
                "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename",
                "ShardedFilespec", "PrintV2",
                # the feeding side of input pipelines, whose heads become IR inputs
                "QueueEnqueueV2", "QueueEnqueueManyV2", "QueueEnqueue", "QueueEnqueueMany",
                "QueueCloseV2", "QueueClose", "QueueSizeV2", "QueueSize", "MakeIterator",
                "IteratorToStringHandle"}
# tf.data ops (TensorDataset, BatchDatasetV2, ...): the input pipeline behind an iterator head
DATASET_SUFFIXES = ("Dataset", "DatasetV2", "DatasetV3", "DatasetV4")
PASS_THROUGH_TRAINING = {"CheckNumerics", "Print"}   # forward input 0: uses are rewired to it
HEADS = {"IteratorGetNext": "output_types", "IteratorGetNextSync": "output_types",
         "QueueDequeueV2": "component_types", "QueueDequeueManyV2": "component_types",
         "QueueDequeueUpToV2": "component_types", "QueueDequeue": "component_types",
         "QueueDequeueMany": "component_types", "QueueDequeueUpTo": "component_types"}


def _is_training_op(op_type: str) -> bool:
    return (op_type in TRAINING_OPS or op_type in PASS_THROUGH_TRAINING or "Summary" in op_type
            or op_type.endswith(DATASET_SUFFIXES))


def _input_names(config) -> set[str]:
    names = set()
    for spec in config.inputs:
        if spec.name:
            names.add(spec.name)
            if spec.name.endswith(":0"):
                names.add(spec.name[:-2])
    return names


# --- Switch / Merge on constant predicates ---------------------------------------------------


def _constant(graph: Graph, port: Port) -> np.ndarray | None:
    """The constant behind ``port``, looking through forwarding ops."""
    seen = set()
    while port.node not in seen:
        seen.add(port.node)
        op = graph.op(port.node)
        if op.type == "Const":
            return op.value
        if op.type not in FORWARDING or port.index != 0:
            return None
        ins = graph.inputs(port.node)
        if not ins:
            return None
        port = ins[0]
    return None


def _predicate(graph: Graph, switch: str) -> bool | None:
    ins = graph.inputs(switch)
    if len(ins) != 2:
        return None
    value = _constant(graph, ins[1])
    if value is None or np.size(value) != 1:
        return None
    return bool(np.asarray(value).reshape(()))


def _propagate(graph: Graph, seeds: list[Port], *, merge_kills: bool) -> set[Port]:
    """Forward closure over ports: every output of a consumer of a marked port is marked, except
    that a Merge output is marked only when all its inputs are (``merge_kills``) or, for
    'gated' marks, when any is."""
    marked = set(seeds)
    work = list(seeds)
    while work:
        port = work.pop()
        for consumer, _ in graph.consumers(port):
            op = graph.op(consumer)
            if op.type == "Merge" and merge_kills:
                if not all(p in marked for p in graph.inputs(consumer)):
                    continue
            for i in range(len(op.outputs)):
                out = Port(consumer, i)
                if out not in marked:
                    marked.add(out)
                    work.append(out)
    return marked


@graph_pass("tf_frontend.fold_constant_switches", stage="source", before=[DEAD_CLEANUP],
            after=["tf_frontend.resolve_placeholder_defaults"])
def fold_constant_switches(graph: Graph, config) -> None:
    """Switch with a constant predicate forwards its data to the taken port; the other port and
    everything computed from it is dead; a Merge with one live input becomes that input.

    Repeated until no constant Switch is left: a cond nested in another cond gets its predicate
    through a Switch of the outer one, which is constant only once the outer one is folded."""
    done: set[str] = set()
    merged: set[str] = set()
    rounds = 0
    while True:
        taken: dict[str, int] = {}
        for op in graph.ops_of_type("Switch", "RefSwitch"):
            if op.name in done:
                continue
            pred = _predicate(graph, op.name)
            if pred is not None:
                taken[op.name] = 1 if pred else 0
        if not taken:
            break
        rounds += 1
        merged |= _fold_switches(graph, config, taken, merged)
        done |= set(taken)
    if done:
        log.info("removed %d Switch and %d Merge node(s) on constant predicates (%d round(s))",
                 len(done), len(merged), rounds)


def _fold_switches(graph: Graph, config, taken: dict[str, int], merged: set[str]) -> set[str]:
    """One round of :func:`fold_constant_switches` for the Switches in ``taken`` (name -> taken
    output port); returns the Merges it resolved."""
    dead = _propagate(graph, [Port(s, 1 - t) for s, t in taken.items()], merge_kills=True)
    gated = _propagate(graph, [Port(s, t) for s, t in taken.items()], merge_kills=False)
    pivots = {op.name for op in graph.ops_of_type("Identity")
              if any(p.node in taken for p in graph.inputs(op.name))}
    resolved: set[str] = set()
    for op in graph.ops_of_type("Merge", "RefMerge"):
        if op.name in merged or Port(op.name, 0) in dead:
            continue
        ins = graph.inputs(op.name)
        live = [(i, p) for i, p in enumerate(ins) if p not in dead]
        if len(live) > 1:  # a branch that is a bare constant has no data path from the Switch
            from_switch = [(i, p) for i, p in live if p in gated]
            if len(from_switch) != 1:
                continue
            live = from_switch
        if len(live) != 1:
            continue
        index, chosen = live[0]
        graph.replace_uses(Port(op.name, 0), chosen)
        if len(op.outputs) > 1 and (graph.consumers(Port(op.name, 1))
                                    or Port(op.name, 1) in graph.outputs):
            value = np.asarray(index, dtype=np.int32)
            const = graph.add_op("Const", graph.unique_name(f"{op.name}/value_index"), (),
                                 {"value": value, "dtype": np.dtype(np.int32)})
            const.outputs[0].shape, const.outputs[0].dtype = (), value.dtype
            graph.replace_uses(Port(op.name, 1), Port(const.name, 0))
        resolved.add(op.name)
    for name, port in taken.items():
        data = graph.inputs(name)[0]
        graph.replace_uses(Port(name, port), data)
    _drop_dead_outputs(graph, config, dead, set(taken), pivots)
    return resolved


def _drop_dead_outputs(graph: Graph, config, dead: set[Port], switches: set[str],
                       pivots: set[str]) -> None:
    bad = [p for p in graph.outputs if p in dead]
    if bad and config.outputs:
        msg = (f"output {bad[0]} is computed only in the branch of a Switch that the constant "
               "predicate never takes; choose another --output")
        raise UsageError(msg)
    keep = []
    for port in graph.outputs:
        if port in dead or port.node in switches:
            continue
        if not config.outputs and port.node in pivots:
            continue  # a cond pivot (switch_t / switch_f): only control edges use it
        keep.append(port)
    graph.outputs = list(dict.fromkeys(keep))


# --- training and bookkeeping ops --------------------------------------------------------------


@graph_pass("tf_frontend.remove_training_ops", stage="source", before=[DEAD_CLEANUP],
            after=["tf_frontend.fold_constant_switches"])
def remove_training_ops(graph: Graph, config) -> None:
    """Drop Assert, CheckNumerics, NoOp, Print, summaries and save/restore nodes."""
    ops = [op for op in graph if _is_training_op(op.type)]
    if not ops:
        return
    names = {op.name for op in ops}
    asked = [p for p in graph.outputs if p.node in names]
    if asked and config.outputs:
        op = graph.op(asked[0].node)
        msg = (f"output {asked[0].node!r} is a {op.type} node (training or bookkeeping), not a "
               "model output; choose another --output")
        raise UsageError(msg)
    graph.outputs = [p for p in graph.outputs if p.node not in names]
    if not config.outputs:  # detected outputs: the Saver's sub-graph is bookkeeping too
        graph.outputs = [p for p in graph.outputs
                         if not (p.node.startswith("save/") or "/save/" in p.node)]
    for op in ops:
        if op.type in PASS_THROUGH_TRAINING and graph.inputs(op.name):
            graph.replace_uses(Port(op.name, 0), graph.inputs(op.name)[0])
    removed = 0
    for op in ops:  # consumers first: a summary may feed a MergeSummary
        if all(c in names for c, _ in graph.consumers(op.name)):
            continue
        names.discard(op.name)  # still feeds a real op: keep it
    for op in ops:
        if op.name in names:
            graph.remove(op.name)
            removed += 1
    if removed:
        log.info("removed %d training/bookkeeping node(s) (Assert, CheckNumerics, NoOp, "
                 "summaries, save/restore)", removed)


# --- PlaceholderWithDefault --------------------------------------------------------------------


@graph_pass("tf_frontend.resolve_placeholder_defaults", stage="source", before=[DEAD_CLEANUP])
def resolve_placeholder_defaults(graph: Graph, config) -> None:
    """A PlaceholderWithDefault that is not an input becomes its default value."""
    for op in graph.ops_of_type("PlaceholderWithDefault"):
        ins = graph.inputs(op.name)
        if ins:
            graph.replace_uses(Port(op.name, 0), ins[0])


def promote_named_defaults(graph: Graph, config) -> list[str]:
    """Turn each PlaceholderWithDefault named in ``--input`` into a Placeholder with the default's
    shape and type, appended to ``graph.meta["inputs"]``; returns their names."""
    names = _input_names(config)
    done = []
    for op in graph.ops_of_type("PlaceholderWithDefault"):
        if op.name not in names:
            continue
        ins = graph.inputs(op.name)
        info = graph.info(ins[0]) if ins else None
        shape = op.attrs.get("shape")
        if shape is None and info is not None:
            shape = info.shape
        dtype = op.attrs.get("dtype")
        if dtype is None and info is not None:
            dtype = info.dtype
        graph.set_inputs(op.name, [])
        op.type = "Placeholder"
        op.attrs = {"dtype": np.dtype(dtype if dtype is not None else np.float32),
                    "shape": None if shape is None else tuple(shape)}
        op.outputs[0].shape, op.outputs[0].dtype = op.attrs["shape"], op.attrs["dtype"]
        inputs = list(graph.meta.get("inputs", []))
        graph.meta["inputs"] = [*inputs, op.name] if op.name not in inputs else inputs
        done.append(op.name)
    return done


def load_with_defaults(loader, path, config):
    """``loader.load`` where ``--input`` may also name a PlaceholderWithDefault or a queue or
    iterator head: the graph is loaded without the input choices, heads and named defaults
    become Placeholders, then ``--input``, ``-b`` and ``--output`` apply as usual."""
    bare = dataclasses.replace(config, inputs=(), batch=None)
    graph = loader.load(path, bare)
    config = promote_input_pipelines(graph, config)
    if not config.inputs or all(s.name is None for s in config.inputs):
        loader.apply_user_io(graph, config)
        return graph
    promoted = promote_named_defaults(graph, config)
    if promoted:
        log.info("PlaceholderWithDefault node(s) named in --input kept as inputs: %s",
                 ", ".join(promoted))
    loader.apply_user_io(graph, config)
    return graph


# --- queue and iterator heads --------------------------------------------------------------------


def _head_shape(graph: Graph, op, i: int):
    """``output_shapes``/``_output_shapes`` of the head, else the queue's ``shapes`` (with the
    batch dimension of DequeueMany/UpTo in front), else unknown."""
    for key in ("output_shapes", "_output_shapes"):
        shapes = op.attrs.get(key)
        if isinstance(shapes, (list, tuple)) and i < len(shapes):
            shape = shapes[i]
            return None if shape is None else tuple(shape)
    ins = graph.inputs(op.name)
    if not ins or "Queue" not in op.type:
        return None
    shapes = graph.op(ins[0].node).attrs.get("shapes")
    if not isinstance(shapes, (list, tuple)) or i >= len(shapes) or shapes[i] is None:
        return None
    shape = tuple(shapes[i])
    if "Many" in op.type or "UpTo" in op.type:
        n = _constant(graph, ins[1]) if len(ins) > 1 and "Many" in op.type else None
        shape = (int(n) if n is not None and np.size(n) == 1 else None, *shape)
    return shape


def _replace_head(graph: Graph, op, wanted: set[int] = frozenset()) -> dict[int, str]:
    """Replace the head ``op`` by one Placeholder per used (or ``wanted``) output port: port 0
    keeps the head's name, port i is ``<name>_port_<i>``. Returns {port: placeholder name}."""
    name = op.name
    types = op.attrs.get(HEADS[op.type]) or []
    if not isinstance(types, (list, tuple)):
        types = [types]
    n = max(len(op.outputs), len(types))
    used = [i for i in range(n) if i in wanted or graph.consumers(Port(name, i))
            or Port(name, i) in graph.outputs]
    uses = {i: graph.consumers(Port(name, i)) for i in used}
    shapes = {}
    for i in used:
        shape = _head_shape(graph, op, i)
        if shape is None and i < len(op.outputs):
            shape = op.outputs[i].shape
        shapes[i] = shape
    kind = op.type
    graph.remove(name)
    created: dict[int, str] = {}
    for i in used:
        pname = name if i == 0 else graph.unique_name(f"{name}_port_{i}")
        dtype = np.dtype(types[i]) if i < len(types) else np.dtype(np.float32)
        ph = graph.add_op("Placeholder", pname, (), {"dtype": dtype, "shape": shapes[i]})
        ph.outputs[0].shape, ph.outputs[0].dtype = shapes[i], dtype
        for consumer, dst in uses[i]:
            graph.set_input(consumer, dst, Port(pname, 0))
        graph.outputs = [Port(pname, 0) if p == Port(name, i) else p for p in graph.outputs]
        created[i] = pname
    graph.meta["inputs"] = [*graph.meta.get("inputs", []), *created.values()]
    log.info("%s %s became IR input(s): %s", kind, name, ", ".join(created.values()) or "none used")
    return created


def _split_name(graph: Graph, name: str, out_port: int | None) -> tuple[str, int | None]:
    """``(node, port)`` an ``--input``/``--output`` name refers to (port None: not given)."""
    if out_port is None and name not in graph and ":" in name:
        base, _, idx = name.rpartition(":")
        if idx.isdigit() and base in graph:
            return base, int(idx)
    return name, out_port


def _head_of(graph: Graph, node: str, what: str):
    """The head op an ``--input`` ``node`` names: the head itself, or the queue/iterator that
    only one head reads. None when ``node`` is neither."""
    if node not in graph:
        return None
    op = graph.op(node)
    if op.type in HEADS:
        return op
    heads = sorted({c for c, _ in graph.consumers(node) if graph.op(c).type in HEADS})
    if not heads:
        return None
    if len(heads) > 1:
        msg = (f"{what} {node!r} is a {op.type} read by {len(heads)} nodes ({', '.join(heads)}); "
               "name the one that feeds the model")
        raise UsageError(msg)
    return graph.op(heads[0])


def promote_input_pipelines(graph: Graph, config):
    """Turn every queue dequeue / iterator GetNext into Placeholders (see :func:`_replace_head`)
    and return ``config`` with the ``--input``/``--output`` items that name a head output (or the
    queue/iterator behind it), ``head:P``, re-pointed at its Placeholder."""
    heads = [op for op in graph if op.type in HEADS]
    if not heads:
        return config
    refs = []  # (kind, index, head name, port)
    for i, spec in enumerate(config.inputs):
        if spec.name is None or spec.in_port is not None:
            continue
        node, port = _split_name(graph, spec.name, spec.out_port)
        head = _head_of(graph, node, "--input")
        if head is not None:
            refs.append(("input", i, head.name, port or 0))
    for i, text in enumerate(config.outputs):
        node, port = _split_name(graph, text, None)
        if node in graph and graph.op(node).type in HEADS:
            refs.append(("output", i, node, port or 0))
    created: dict[str, dict[int, str]] = {}
    for op in heads:
        n_out = max(len(op.outputs), len(op.attrs.get(HEADS[op.type]) or []))
        wanted = {port for _, _, h, port in refs if h == op.name}
        bad = [port for port in wanted if port >= n_out]
        if bad:
            msg = (f"--input/--output: {op.type} node {op.name!r} has {n_out} output(s) (port "
                   f"0..{n_out - 1}); output port {bad[0]} does not exist")
            raise UsageError(msg)
        created[op.name] = _replace_head(graph, op, wanted)
    inputs, outputs = list(config.inputs), list(config.outputs)
    for kind, i, head, port in refs:
        placeholder = created[head][port]
        if kind == "input":
            inputs[i] = dataclasses.replace(inputs[i], name=placeholder, out_port=None)
        else:
            outputs[i] = placeholder
    return dataclasses.replace(config, inputs=tuple(inputs), outputs=tuple(outputs))


@graph_pass("tf_frontend.replace_input_pipelines", stage="source", before=[DEAD_CLEANUP])
def replace_input_pipelines(graph: Graph, config) -> None:
    """Each used output of a queue dequeue or iterator GetNext becomes a Placeholder (heads this
    plugin's loader left: none; a graph another plugin loaded may still have them)."""
    for op in [o for o in graph if o.type in HEADS]:
        _replace_head(graph, op)


# --- TensorBoard -------------------------------------------------------------------------------


@graph_pass("tf_frontend.write_tensorboard", stage="source",
            before=["tf_frontend.fold_constant_switches", "tf_frontend.remove_training_ops",
                    "tf_frontend.resolve_placeholder_defaults",
                    "tf_frontend.replace_input_pipelines", DEAD_CLEANUP])
def write_tensorboard(graph: Graph, config) -> None:
    """``--tensorboard_logdir DIR``: the model's GraphDef as a TensorBoard events file."""
    logdir = config.options.get("tensorboard_logdir")
    if not logdir:
        return
    write_graph_events(config.model, Path(str(logdir)), config.input_model_is_text)


def write_graph_events(model: Path | None, logdir: Path, is_text: bool | None = None) -> Path:
    """Write the GraphDef at ``model`` (frozen .pb/.pbtxt) for TensorBoard; returns the file."""
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        probe = logdir / ".tfconv-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        msg = f"--tensorboard_logdir {logdir}: cannot write there ({err.strerror or err})"
        raise UsageError(msg) from err
    if model is None or not Path(model).is_file():
        msg = (f"--tensorboard_logdir needs a GraphDef file as the model; {model} is not one "
               "(freeze it with 'tfconv freeze' first)")
        raise UsageError(msg)
    from . import sniff
    from .freeze import _tf
    gd, _ = sniff.read_graph(Path(model), is_text=is_text)
    data = gd.SerializeToString()
    del gd
    before = set(logdir.iterdir())
    try:
        tf = _tf()
        graph_def = tf.compat.v1.GraphDef.FromString(data)
        with tf.Graph().as_default() as g:
            tf.graph_util.import_graph_def(graph_def, name="")
            writer = tf.compat.v1.summary.FileWriter(str(logdir), graph=g)
            writer.flush()
            writer.close()
    except TfconvError:
        raise
    except Exception as err:  # noqa: BLE001 - TF raises many types
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        msg = f"--tensorboard_logdir {logdir}: TensorFlow could not write the graph: {first}"
        raise UsageError(msg) from err
    new = sorted(set(logdir.iterdir()) - before)
    written = new[0] if new else logdir
    log.info("wrote the graph for TensorBoard: %s", written)
    return written


# --- custom op libraries -----------------------------------------------------------------------


def load_custom_libraries(text: str | None) -> list[str]:
    """``--tensorflow_custom_layer_libraries a.so,b.so``: ``tf.load_op_library`` each."""
    libs = [s.strip() for s in (text or "").split(",") if s.strip()]
    for lib in libs:
        if not Path(lib).is_file():
            msg = f"--tensorflow_custom_layer_libraries: {lib}: no such file"
            raise UsageError(msg)
    if not libs:
        return []
    from .freeze import _tf
    tf = _tf()
    for lib in libs:
        try:
            tf.load_op_library(lib)
        except Exception as err:  # noqa: BLE001
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            msg = f"--tensorflow_custom_layer_libraries: TensorFlow could not load {lib}: {first}"
            raise UsageError(msg) from err
        log.info("loaded TensorFlow op library %s", lib)
    return libs


ALL_PASSES = (fold_constant_switches, remove_training_ops, resolve_placeholder_defaults,
              replace_input_pipelines, write_tensorboard)
