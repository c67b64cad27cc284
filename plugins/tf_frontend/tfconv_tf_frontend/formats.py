"""Which TensorFlow model format the user gave, without TensorFlow: SavedModel directories,
MetaGraphs, checkpoints (V1 single file or V2 prefix) and their tag sets and signatures."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfconv.errors import ModelFormatError, UsageError

from . import proto, sniff

DEFAULT_TAGS = "serve"
DEFAULT_SIGNATURE = "serving_default"
_DATA = re.compile(r"\.data-\d{5}-of-\d{5}$")


# --- checkpoints ---------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    prefix: str      # what Saver.restore takes
    version: int     # 1 or 2
    files: tuple[str, ...]


def _strip_checkpoint_suffix(text: str) -> str:
    if text.endswith(".index"):
        return text[: -len(".index")]
    match = _DATA.search(text)
    return text[: match.start()] if match else text


def checkpoint_files(prefix: str) -> list[Path]:
    """The V2 files of ``prefix`` that exist (``.index`` and ``.data-*``)."""
    p = Path(prefix)
    if not p.parent.is_dir():
        return []
    return sorted(f for f in p.parent.iterdir()
                  if f.name == p.name + ".index" or (f.name.startswith(p.name + ".data-")
                                                     and _DATA.search(f.name)))


def find_checkpoint(given: str, *, what: str) -> Checkpoint:
    """Resolve ``--input_checkpoint`` (a V2 prefix or any of its files, or a V1 file)."""
    prefix = _strip_checkpoint_suffix(given)
    files = checkpoint_files(prefix)
    if any(f.name.endswith(".index") for f in files):
        return Checkpoint(prefix, 2, tuple(f.name for f in files))
    if prefix == given and Path(given).is_file():
        return Checkpoint(given, 1, (Path(given).name,))
    found = f" (found only {', '.join(f.name for f in files)})" if files else ""
    msg = (f"{what} given but checkpoint prefix {prefix} has no .index/.data files{found}: "
           "pass the prefix, e.g. model.ckpt (for model.ckpt.index and "
           "model.ckpt.data-00000-of-00001), or a V1 checkpoint file")
    raise ModelFormatError(msg)


def checkpoint_only(path: Path) -> ModelFormatError | None:
    """The error for a model path that is a checkpoint (weights without a graph), else None."""
    prefix = _strip_checkpoint_suffix(str(path))
    if prefix == str(path):
        return None
    files = checkpoint_files(prefix)
    if not files:
        return None
    meta = Path(prefix + ".meta")
    hint = (f"pass the MetaGraph {meta} (--input_meta_graph {meta})" if meta.is_file() else
            f"pass the inference graph with --input_model GRAPH.pb --input_checkpoint {prefix}, "
            f"or the MetaGraph with --input_meta_graph {prefix}.meta")
    return ModelFormatError(f"weights found ({', '.join(f.name for f in files)}) but no graph: "
                            f"{hint}")


# --- MetaGraph -----------------------------------------------------------------------


def is_meta_graph(path: Path) -> bool:
    """A ``.meta`` file, or a file that parses as a MetaGraphDef (binary or text)."""
    if not path.is_file():
        return False
    if path.suffix == ".meta":
        return True
    what = sniff.describe_file(path)
    return bool(what) and "MetaGraph" in what


def not_a_meta_graph(path: Path) -> ModelFormatError | None:
    """None when ``path`` holds a MetaGraphDef (binary or text), else the error saying what the
    file is instead (a GraphDef given as ``--input_meta_graph`` or renamed to ``.meta``, ...)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return ModelFormatError(f"cannot read MetaGraph {path}: {e.strerror or e}")
    meta = proto.MetaGraphDef()
    try:
        meta.ParseFromString(data)
        if meta.HasField("graph_def") and len(meta.graph_def.node) and all(
                n.name and n.op for n in meta.graph_def.node[:50]):
            return None
    except Exception:  # noqa: BLE001 - DecodeError: not binary, or not this message
        pass
    text = sniff.as_text(data)
    if text is not None and _TEXT_META.match(text.lstrip()):
        return None  # text MetaGraph: parsed (and its errors reported) by the reader
    fix = "pass a .meta file written by tf.train.Saver / export_meta_graph"
    try:
        graph, _ = sniff.read_graph(path, is_text=None)
    except ModelFormatError:
        what = sniff.describe_file(path)
        return ModelFormatError(f"{path} is not a MetaGraph"
                                f"{': it is ' + what if what else ' (nor a GraphDef)'}; {fix}")
    return ModelFormatError(
        f"{path} is not a MetaGraph: it is a GraphDef ({len(graph.node)} nodes); convert it as "
        "the model itself (MODEL or --input_model, without --input_meta_graph), with "
        "--input_checkpoint if its variables are in a checkpoint")


_TEXT_META = re.compile(r"(?:#[^\n]*\n\s*)*(meta_info_def|graph_def|saver_def|collection_def|"
                        r"signature_def|asset_file_def|object_graph_def)\s*[{:]")


def meta_prefix(meta: Path) -> str:
    """The checkpoint prefix Saver.save wrote next to a MetaGraph: its path without suffix."""
    return str(meta.with_suffix("")) if meta.suffix else str(meta) + ".ckpt"


# --- SavedModel ----------------------------------------------------------------------


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and ((path / "saved_model.pb").is_file()
                              or (path / "saved_model.pbtxt").is_file())


def read_saved_model(directory: Path) -> Any:
    pb, pbtxt = directory / "saved_model.pb", directory / "saved_model.pbtxt"
    sm = proto.SavedModel()
    try:
        if pb.is_file():
            sm.ParseFromString(pb.read_bytes())
        else:
            from google.protobuf import text_format
            text_format.Parse(pbtxt.read_text(), sm, allow_unknown_field=True)
    except Exception as e:  # noqa: BLE001 - DecodeError, ParseError, OSError: one message
        msg = f"{directory} holds a saved_model.pb that cannot be parsed: {e}"
        raise ModelFormatError(msg) from e
    if not sm.meta_graphs:
        raise ModelFormatError(f"{directory}/saved_model.pb holds no MetaGraph")
    return sm


def parse_tags(text: str | None) -> list[str]:
    return [t.strip() for t in (text or DEFAULT_TAGS).split(",") if t.strip()]


def _fmt_tensor(info: Any) -> str:
    shape = proto.shape_to_python(info.tensor_shape) if info.HasField("tensor_shape") else None
    dims = "?" if shape is None else "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"
    return f"{info.name or '?'} {dims} {proto.dtype_name(info.dtype)}"


def listing(sm: Any) -> str:
    """Every tag set and every signature with its inputs and outputs, one line each."""
    lines = []
    for meta in sm.meta_graphs:
        tags = ",".join(meta.meta_info_def.tags) or "(no tags)"
        lines.append(f"tag set {tags!r}:")
        sigs = [k for k in sorted(meta.signature_def) if not k.startswith("__")]
        if not sigs:
            lines.append("  (no signatures)")
        for key in sigs:
            sig = meta.signature_def[key]
            ins = ", ".join(f"{k}={_fmt_tensor(v)}" for k, v in sorted(sig.inputs.items()))
            outs = ", ".join(f"{k}={_fmt_tensor(v)}" for k, v in sorted(sig.outputs.items()))
            lines.append(f"  signature {key!r}: inputs {ins or 'none'} -> outputs {outs or 'none'}")
    return "\n".join(lines)


def choose(directory: Path, sm: Any, tags_text: str | None,
           signature: str | None) -> tuple[Any, list[str], str, bool]:
    """(MetaGraphDef, tags, signature key, is TF2) for the user's --saved_model_tags and
    --saved_model_signature, or one error listing every tag set and signature."""
    tags = parse_tags(tags_text)
    metas = [m for m in sm.meta_graphs if set(m.meta_info_def.tags) == set(tags)]
    if not metas:
        msg = (f"SavedModel {directory} has no MetaGraph with tag set {','.join(tags)!r}; "
               "choose one with --saved_model_tags. The SavedModel holds:\n" + listing(sm))
        raise UsageError(msg)
    meta = metas[0]
    sigs = [k for k in sorted(meta.signature_def) if not k.startswith("__")]
    if signature is None:
        if DEFAULT_SIGNATURE in sigs:
            key = DEFAULT_SIGNATURE
        elif len(sigs) == 1:
            key = sigs[0]
        else:
            what = "has no signatures" if not sigs else \
                f"has {len(sigs)} signatures and none is {DEFAULT_SIGNATURE!r}"
            msg = (f"SavedModel {directory} (tags {','.join(tags)!r}) {what}; choose one with "
                   "--saved_model_signature. The SavedModel holds:\n" + listing(sm))
            raise UsageError(msg)
    elif signature in sigs:
        key = signature
    else:
        msg = (f"SavedModel {directory} (tags {','.join(tags)!r}) has no signature "
               f"{signature!r}; choose one with --saved_model_signature. The SavedModel holds:\n"
               + listing(sm))
        raise UsageError(msg)
    walk = sniff._walk(meta.SerializeToString())  # object_graph_def (field 7): saved by TF2
    tf2 = any(f.number == 7 for f in walk.fields)
    return meta, tags, key, tf2
