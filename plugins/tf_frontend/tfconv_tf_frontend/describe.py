"""``tfconv_describe_model`` for TensorFlow models: the format (frozen GraphDef binary or text,
inference graph with a V1/V2 checkpoint, a checkpoint alone, MetaGraph, TF1/TF2 SavedModel),
a SavedModel's signatures, and FakeQuant quantization. Reads files without TensorFlow; the graph,
when given, is the one the loader built."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfconv.errors import ModelFormatError, TfconvError, UsageError
from tfconv.findings import Finding

from . import formats, loader, sniff

if TYPE_CHECKING:
    from tfconv.config import ConvertConfig
    from tfconv.graph import Graph

PLUGIN = "tf_frontend"
VARIABLE_OPS = {"VariableV2", "Variable", "VarHandleOp"}
INPUT_OPS = {"Placeholder", "PlaceholderV2"}


def describe(path: Path | None, config: ConvertConfig, graph: Graph | None) -> list[Finding] | None:
    if path is None or (graph is not None and graph.dialect != "tf"):
        return None
    try:  # flags that contradict each other: the load error says it, nothing to describe
        path = loader._model_path(Path(path), config)
    except TfconvError:
        return None
    if config.options.get("input_checkpoint") and formats.is_saved_model(path):
        return None
    findings: list[Finding] = []
    if formats.is_saved_model(path):
        findings += _saved_model(path, config)
    else:
        fmt = _file_format(path, config, graph)
        if fmt is not None:
            findings.append(fmt)
    if graph is not None:
        quant = quantization(graph)
        if quant is not None:
            findings.append(quant)
    return findings or None


# --- format ------------------------------------------------------------------------------------


def _encoding(path: Path) -> str:
    """"text" or "binary" for a protobuf file, from its first bytes."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return "binary"
    return "text" if head and sniff.as_text(head) is not None else "binary"


def _checkpoint_text(ckpt: formats.Checkpoint) -> str:
    return f"V{ckpt.version} checkpoint {ckpt.prefix} ({', '.join(ckpt.files)})"


def _graph_details(graph: Graph | None) -> list[str]:
    if graph is None:
        return []
    return [f"{len(graph)} nodes after loading"]


def _file_format(path: Path, config: ConvertConfig, graph: Graph | None) -> Finding | None:
    """The format of a model file (everything but a SavedModel directory)."""
    opts = config.options
    given_ckpt = opts.get("input_checkpoint")
    is_meta = path.is_file() and (path.suffix == ".meta" or bool(opts.get("input_meta_graph"))
                                  or formats.is_meta_graph(path))
    if is_meta:
        try:
            ckpt = formats.find_checkpoint(str(given_ckpt or formats.meta_prefix(path)),
                                           what=f"MetaGraph {path}")
            where = f"variables from the {_checkpoint_text(ckpt)}"
            flags: tuple[str, ...] = ()
        except ModelFormatError:
            where = "no checkpoint found next to it: its variables cannot be restored"
            flags = ("--input_checkpoint", "PREFIX")
        return Finding("format", f"MetaGraph ({_encoding(path)})",
                       (where, *_graph_details(graph),
                        "variables are frozen into constants when converting (without TensorFlow where it can)"),
                       flags, PLUGIN,
                       {"format": "meta_graph", "encoding": _encoding(path)})
    if given_ckpt and path.is_file():
        try:
            ckpt = formats.find_checkpoint(str(given_ckpt), what=f"graph {path}")
        except ModelFormatError as err:
            return Finding("format", f"inference graph ({_encoding(path)} GraphDef) with a "
                           "checkpoint that cannot be found", (str(err),), (), PLUGIN,
                           {"format": "inference_graph+checkpoint"})
        return Finding("format", f"inference graph ({_encoding(path)} GraphDef) with a "
                       f"V{ckpt.version} checkpoint",
                       (f"variables from the {_checkpoint_text(ckpt)}", *_graph_details(graph),
                        "variables are frozen into constants when converting (without TensorFlow where it can)"),
                       (), PLUGIN, {"format": "inference_graph+checkpoint",
                                    "encoding": _encoding(path), "checkpoint": ckpt.version})
    weights = _weights_only(path)
    if weights is not None:
        return weights
    if path.is_file() and graph is not None:
        enc = _encoding(path)
        details = _graph_details(graph)
        variables = [op.name for op in graph if op.type in VARIABLE_OPS]
        flags = ()
        if variables:
            details.append(f"{len(variables)} variable(s) (e.g. {variables[0]}): not frozen; "
                           "pass their checkpoint with --input_checkpoint")
            flags = ("--input_checkpoint", "PREFIX")
        return Finding("format", f"frozen GraphDef ({enc})", tuple(details), flags, PLUGIN,
                       {"format": "frozen_graph", "encoding": enc})
    return None


def _weights_only(path: Path) -> Finding | None:
    """A checkpoint (prefix, .index or .data file) given without its graph."""
    prefix = formats._strip_checkpoint_suffix(str(path))
    if not formats.checkpoint_files(prefix) or path.is_dir():
        return None
    try:
        ckpt = formats.find_checkpoint(prefix, what=f"checkpoint {path}")
    except ModelFormatError:
        return None
    meta = Path(prefix + ".meta")
    if meta.is_file():
        flags: tuple[str, ...] = ("--input_meta_graph", str(meta))
        advice = f"its MetaGraph {meta} is next to it: pass that (--input_meta_graph {meta})"
    else:
        flags = ("--input_model", "GRAPH.pb", "--input_checkpoint", prefix)
        advice = ("pass the inference graph with --input_model GRAPH.pb --input_checkpoint "
                  f"{prefix}, or the MetaGraph with --input_meta_graph {prefix}.meta")
    return Finding("format", f"TensorFlow V{ckpt.version} checkpoint (weights only, no graph)",
                   (f"{_checkpoint_text(ckpt)}", advice), flags, PLUGIN,
                   {"format": "checkpoint", "checkpoint": ckpt.version})


# --- SavedModel ----------------------------------------------------------------------------------


def _is_tf2(meta: Any) -> bool:
    """A MetaGraph written by TF2 carries an object graph (field 7)."""
    return any(f.number == 7 for f in sniff._walk(meta.SerializeToString()).fields)


def _tensors(mapping: Any) -> dict[str, str]:
    return {k: formats._fmt_tensor(v) for k, v in sorted(mapping.items())}


def _saved_model(path: Path, config: ConvertConfig) -> list[Finding]:
    """The format finding (TF1/TF2, tag sets, which signature converts) and one finding per
    signature, with the flags that select it."""
    try:
        sm = formats.read_saved_model(path)
    except ModelFormatError:
        return []
    opts = config.options
    chosen: tuple[tuple[str, ...], str] | None = None
    problem = ""
    try:
        meta, tags, key, _ = formats.choose(path, sm, opts.get("saved_model_tags"),
                                            opts.get("saved_model_signature"))
        chosen = (tuple(sorted(tags)), key)
    except UsageError:
        tags = formats.parse_tags(opts.get("saved_model_tags"))
        if not any(set(m.meta_info_def.tags) == set(tags) for m in sm.meta_graphs):
            problem = f"no tag set {','.join(tags)!r}: pick one with --saved_model_tags TAGS"
        elif opts.get("saved_model_signature"):
            problem = (f"no signature {opts['saved_model_signature']!r} in tag set "
                       f"{','.join(tags)!r}: pick one with --saved_model_signature NAME")
        else:
            problem = (f"none is {formats.DEFAULT_SIGNATURE!r} and there are several: pick one "
                       "with --saved_model_signature NAME")
    tf2 = any(_is_tf2(m) for m in sm.meta_graphs)
    tag_sets = [",".join(m.meta_info_def.tags) or "(no tags)" for m in sm.meta_graphs]
    keras = (path / "keras_metadata.pb").is_file()
    kind = f"{'TF2' if tf2 else 'TF1'} SavedModel" + (" (tf_keras model.save)" if keras else "")
    n_sigs = sum(len([k for k in m.signature_def if not k.startswith("__")])
                 for m in sm.meta_graphs)
    details = [f"{len(tag_sets)} tag set(s): {'; '.join(repr(t) for t in tag_sets)}; "
               f"{n_sigs} signature(s)",
               "variables: " + ("variables/ present" if (path / "variables").is_dir() else
                                "no variables/ directory")]
    if chosen is not None:
        details.append(f"converts signature {chosen[1]!r} of tag set {','.join(chosen[0])!r} "
                       "(choose another with --saved_model_signature / --saved_model_tags)")
    else:
        details.append(f"no signature is converted: {problem}")
    findings = [Finding("format", kind, tuple(details), (), PLUGIN,
                        {"format": "saved_model", "tf2": tf2, "tag_sets": tag_sets,
                         "chosen": list(chosen) if chosen else None})]
    for meta in sm.meta_graphs:
        tags = tuple(meta.meta_info_def.tags)
        for key in sorted(k for k in meta.signature_def if not k.startswith("__")):
            sig = meta.signature_def[key]
            ins, outs = _tensors(sig.inputs), _tensors(sig.outputs)
            selected = chosen is not None and chosen == (tuple(sorted(tags)), key)
            flags: tuple[str, ...] = ()
            if set(tags) != set(formats.parse_tags(None)):
                flags += ("--saved_model_tags", ",".join(tags))
            flags += ("--saved_model_signature", key)
            findings.append(Finding(
                "signature",
                f"{key!r} (tag set {','.join(tags)!r})" + (", converted by default" if selected and
                                                            not opts.get("saved_model_signature")
                                                            else ", selected" if selected else ""),
                tuple([f"input  {k}: {v}" for k, v in ins.items()]
                      + [f"output {k}: {v}" for k, v in outs.items()]),
                flags, PLUGIN,
                {"tags": list(tags), "signature": key, "inputs": ins, "outputs": outs,
                 "selected": selected}))
    return findings


# --- FakeQuant -----------------------------------------------------------------------------------


def quantization(graph: Graph) -> Finding | None:
    """Counts of FakeQuant* nodes by op type, bit width and narrow range."""
    counts: Counter[tuple[str, int, bool]] = Counter()
    for op in graph:
        if op.type.startswith("FakeQuantWithMinMax") and not op.type.endswith("Gradient"):
            bits = int(op.attrs.get("num_bits", 8))  # type: ignore[call-overload]
            counts[(op.type, bits, bool(op.attrs.get("narrow_range", False)))] += 1
    if not counts:
        return None
    by_type: dict[str, list[str]] = {}
    data: dict[str, dict[str, int]] = {}
    for (op_type, bits, narrow), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[0][1], kv[0][2])):
        label = f"{bits}-bit" + (" narrow range" if narrow else "")
        by_type.setdefault(op_type, []).append(f"{label} x{n}")
        data.setdefault(op_type, {})[label] = n
    total = sum(counts.values())
    details = [f"{op_type} x{sum(data[op_type].values())}: {', '.join(parts)}"
               for op_type, parts in by_type.items()]
    details.append("each becomes an IR FakeQuantize with TF's nudged range "
                   "(levels = 2^bits, one less with narrow range)")
    flags, shape_notes = input_shape_flags(graph)
    details += shape_notes
    return Finding("quantization", f"FakeQuant quantization: {total} FakeQuant node(s)",
                   tuple(details), flags, PLUGIN, {"counts": data, "total": total})


def input_shape_flags(graph: Graph) -> tuple[tuple[str, ...], list[str]]:
    """``--input a,b --input_shape [..],[..]`` when an input has an unknown rank or an unknown
    dimension other than the batch (batch 1 suggested; unknown image sizes written H and W, to
    be replaced), with notes; nothing when every input shape is known but the batch."""
    names = [n for n in graph.meta.get("inputs", []) if n in graph]  # type: ignore[union-attr]
    shapes = []
    undefined = False
    letters = False
    for name in names:
        op = graph.op(name)
        shape = op.attrs.get("shape") if op.type in INPUT_OPS else None
        if shape is None:
            shape = op.outputs[0].shape
        if shape is None:
            undefined = letters = True
            shapes.append("[1,HEIGHT,WIDTH,3]")
            continue
        dims = list(shape)  # type: ignore[arg-type]
        if any(d is None for d in dims[1:]):
            undefined = True
        text = []
        for i, d in enumerate(dims):
            if d is not None:
                text.append(str(d))
            elif i == 0:
                text.append("1")
            else:
                letters = True
                text.append({1: "HEIGHT", 2: "WIDTH", 3: "CHANNELS"}.get(i, f"D{i}") if len(dims) == 4 else f"D{i}")
        shapes.append("[" + ",".join(text) + "]")
    if not undefined or not names:
        return (), []
    notes = [f"input shape undefined ({', '.join(names)}): give it with --input_shape"]
    if letters:
        notes.append("replace HEIGHT, WIDTH (and CHANNELS, D<i>) by the sizes the model was trained for; "
                     "an unknown rank is assumed to be an NHWC image")
    return ("--input", ",".join(names), "--input_shape", ",".join(shapes)), notes
