"""Read a GraphDef file, detecting text vs binary, and explain any other kind of file clearly."""
from __future__ import annotations

import io
import mmap
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from tfconv.errors import ModelFormatError

from . import proto

__all__ = ["describe_file", "read_graph"]

_KERAS_ADVICE = ("tfconv reads TensorFlow graphs: load it in Keras and save it as a SavedModel "
                 "(model.export(DIR) or tf.saved_model.save(model, DIR)), then pass DIR")
_TEXT_GRAPH_START = re.compile(r"(?:node|versions|library|debug_info)\s*:?\s*[{<]|version\s*:\s*\d")
_TEXT_META_START = re.compile(r"(?:meta_info_def|graph_def|saver_def|collection_def|signature_def"
                              r"|asset_file_def|object_graph_def)\s*:?\s*[{<]")
_TEXT_SAVED_MODEL_START = re.compile(r"saved_model_schema_version\s*:|meta_graphs\s*:?\s*[{<]")
_CHECKPOINT_NAME = re.compile(r"\.(?:data-\d{5}-of-\d{5}|index)$")
_SAMPLE = 4096

# Wire types.
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
# Top-level (field number, wire type) pairs each message may contain.
_GRAPHDEF_FIELDS = {(1, _LEN), (2, _LEN), (3, _VARINT), (4, _LEN), (5, _LEN)}
_SAVED_MODEL_FIELDS = {(1, _VARINT), (2, _LEN)}
_META_GRAPH_FIELDS = {(n, _LEN) for n in range(1, 8)}
_ONNX_FIELDS = {(1, _VARINT), (5, _VARINT)} | {(n, _LEN) for n in (2, 3, 4, 6, 7, 8, 14, 20, 25, 26)}


@dataclass(frozen=True)
class _Kind:
    """A recognised non-GraphDef file: what it is and what the user should do."""

    what: str
    advice: str
    not_graph: str = ", not a TensorFlow GraphDef"  # empty when ``what`` already says so

    def error(self, path: Path) -> ModelFormatError:
        """The error to raise when this file was given as a GraphDef."""
        return ModelFormatError(f"{path} is {self.what}{self.not_graph}; {self.advice}")


class _Field(NamedTuple):
    """One top-level protobuf field: number, wire type and the byte range of its value."""

    number: int
    wire: int
    start: int
    end: int


class _Walk(NamedTuple):
    """The top-level fields of a buffer, and where (and why) reading them stopped early."""

    fields: list[_Field]  # the last one may run past the end (see cut_at)
    cut_at: int | None  # offset of the last field when it runs past the end of the data
    needed: int  # the file size that last field needs (when cut)
    invalid: bool  # an impossible tag or wire type: not protobuf at all


# --- public API ----------------------------------------------------------------------


_MAPPED_FROM = 1 << 20  # bytes


def read_graph(path: Path, *, is_text: bool | None,
               external: bool = False) -> tuple[Any, list[str]]:
    """Parse the GraphDef at ``path`` (text or binary, detected) -> (graph, notices for the log).

    ``external=True`` (for callers that read constants only through ``proto.tensor_to_numpy``,
    never re-serialize the graph): a large binary file's big ``tensor_content`` payloads stay
    in the file's memory map instead of being copied into the message, then into bytes."""
    path = Path(path)
    if path.is_dir():
        raise _directory_kind(path).error(path)
    if not path.exists():
        raise ModelFormatError(f"model file {path} does not exist")
    fast = _parse_mapped(path, external)
    if fast is not None:
        graph, text = fast
        notices = [f"{path} is a text GraphDef; read it as text (pass --input_model_is_text "
                   "to say so)"] if text and not is_text else []
        if not text and is_text:
            notices.append(f"{path} is a binary GraphDef, not text; read it as binary "
                           "(drop --input_model_is_text)")
        return graph, notices
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelFormatError(f"cannot read model file {path}: {e.strerror or e}") from e
    if not data:
        raise _EMPTY.error(path)

    text = as_text(data)
    if text is not None:
        return _read_text(path, data, text, is_text)

    notices: list[str] = []
    graph, decode_error = _parse_binary(data)
    if graph is not None and _plausible_graph(graph):
        if is_text:
            notices.append(f"{path} is a binary GraphDef, not text; read it as binary "
                           "(drop --input_model_is_text)")
        return graph, notices
    walk = _walk(data)
    kind = _magic_kind(data) or _protobuf_kind(path, data, walk)
    if kind is not None:
        raise kind.error(path)
    if is_text:
        return _read_text(path, data, data.decode("utf-8", errors="replace").removeprefix("\ufeff"),
                          True)
    raise _binary_failure(path, data, walk, graph, decode_error)


def _parse_mapped(path: Path, external: bool = False) -> tuple[Any, bool] | None:
    """The common case, cheaply: a large binary GraphDef parsed straight from a memory map
    (no copy of the file), or a large text one read by the fast text reader: ``(graph,
    is_text)``; None sends every other file down the careful path."""
    try:
        if path.stat().st_size < _MAPPED_FROM:
            return None
        if external:
            found = _parse_external(path)
            if found is not None:
                return found, False
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if as_text(mm[:_SAMPLE]) is not None:
                graph = proto.parse_text_graphdef_fast(mm, external=external)
                ok = graph is not None and len(graph.node) and _plausible_graph(graph)
                return (graph, True) if ok else None
            view = memoryview(mm)
            try:
                graph, _ = _parse_binary(view)  # type: ignore[arg-type]
            finally:
                view.release()  # protobuf copied what it keeps
    except (OSError, ValueError):
        return None
    return (graph, False) if graph is not None and _plausible_graph(graph) else None


# Where constants sit in a GraphDef: GraphDef.node (1) -> NodeDef.attr (5, a map entry) ->
# entry value (2) -> AttrValue.tensor (8) -> TensorProto.tensor_content (4).
_DESCEND = {(0, 1): 1, (1, 5): 2, (2, 2): 3, (3, 8): 4}
_CONTENT = (4, 4)
_EXTERNAL_FROM = 4096  # bytes of tensor_content left in the map


def _parse_external(path: Path) -> Any | None:
    """A binary GraphDef parsed from a memory map with every large ``tensor_content`` left in
    the map (``proto.external_content``); None when the file does not parse that way."""
    with path.open("rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if as_text(mm[:_SAMPLE]) is not None:
        mm.close()
        return None
    stubs: list[tuple[int, int]] = []
    parts = _strip_contents(mm, 0, len(mm), 0, stubs)
    if parts is None or not stubs:
        mm.close()
        return None
    data = b"".join(p if isinstance(p, bytes) else mm[p[0]:p[1]] for p in parts)
    graph, _ = _parse_binary(data)
    del data
    if graph is None or not _plausible_graph(graph):
        mm.close()
        return None
    return graph


def _strip_contents(buf: Any, start: int, end: int, level: int,
                    stubs: list[tuple[int, int]]) -> list | None:
    """The message in ``buf[start:end]`` as parts (``bytes``, or ``(begin, end)`` ranges of
    ``buf``) with each large ``tensor_content`` replaced by a stand-in; None when the bytes
    are not well-formed protobuf (the careful path then reports why)."""
    parts: list = []
    copy_from = start  # start of the run of fields copied unchanged
    pos = start
    while pos < end:
        field_at = pos
        tag, pos = _varint(buf, pos)
        if pos < 0:
            return None
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            _, pos = _varint(buf, pos)
            if pos < 0:
                return None
        elif wire == _I64:
            pos += 8
        elif wire == _I32:
            pos += 4
        elif wire == _LEN:
            length, body = _varint(buf, pos)
            if body < 0 or body + length > end:
                return None
            pos = body + length
            inner = _DESCEND.get((level, number))
            replaced: list | None = None
            if (level, number) == _CONTENT and length >= _EXTERNAL_FROM:
                replaced = [proto.external_content(buf, body, length)]
                stubs.append((body, length))
            elif inner is not None and length >= _EXTERNAL_FROM:
                sub = _strip_contents(buf, body, pos, inner, stubs)
                if sub is None:
                    return None
                if not (len(sub) == 1 and sub[0] == (body, pos)):
                    replaced = sub
            if replaced is not None:
                if copy_from < field_at:
                    parts.append((copy_from, field_at))
                size = sum(len(p) if isinstance(p, bytes) else p[1] - p[0] for p in replaced)
                parts.append(_encode_varint(tag) + _encode_varint(size))
                parts.extend(replaced)
                copy_from = pos
        else:
            return None
        if pos > end:
            return None
    if copy_from < end:
        parts.append((copy_from, end))
    return parts


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def describe_file(path: Path) -> str | None:
    """A short description of a file that is not a TensorFlow GraphDef, or None (graph/unknown)."""
    path = Path(path)
    if path.is_dir():
        return _directory_kind(path).what
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data:
        return _EMPTY.what
    text = as_text(data)
    if text is not None:
        kind = _text_kind(path, text)
    else:
        kind = _magic_kind(data) or _protobuf_kind(path, data, _walk(data))
    return kind.what if kind else None


# --- text ----------------------------------------------------------------------------


def as_text(data: bytes) -> str | None:
    """The whole file as text if it looks like a text file (UTF-8, no binary control bytes)."""
    sample = data[:_SAMPLE]
    try:
        head = sample.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut by the sample's end is fine; anything else is binary.
        if len(data) <= _SAMPLE or e.start < len(sample) - 3:
            return None
        head = sample[:e.start].decode("utf-8")
    if any(c < " " and c not in "\t\n\r\f\v" for c in head):
        return None  # text protobufs escape control characters; binary ones are full of them
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")  # an editor's BOM


def _strip_comments(text: str) -> str:
    """The text from its first line that is neither blank nor a ``#`` comment."""
    text = text.lstrip("\ufeff")
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return text[pos:].lstrip()
        pos += len(line)
    return ""


def _read_text(path: Path, data: bytes, text: str, is_text: bool | None) -> tuple[Any, list[str]]:
    """Parse a text file as a GraphDef, or explain what kind of text it is instead."""
    body = _strip_comments(text)
    looks_like_graph = not body or _TEXT_GRAPH_START.match(body) is not None
    if not looks_like_graph:
        kind = _text_kind(path, text)
        if kind is not None:
            raise kind.error(path)
        graph, _ = _parse_binary(data)
        if graph is not None and _plausible_graph(graph):
            return graph, []  # a binary GraphDef whose first bytes happen to look like text
        if not is_text:
            first = body.splitlines()[0].strip()
            quoted = first if len(first) <= 60 else first[:57] + "..."
            raise ModelFormatError(
                f"{path} is a text file but not a TensorFlow GraphDef: it starts with {quoted!r}; "
                "a text GraphDef starts with 'node {' or 'versions {'")
    graph = proto.GraphDef()
    try:
        text_format.Parse(text, graph)
    except text_format.ParseError as e:
        line, col = e.GetLine(), e.GetColumn()
        where = f"{path}:{line}:{col}" if line is not None and line >= 0 else str(path)
        message = _unqualify(re.sub(r"^\d+:\d+ : ", "", str(e)))
        raise ModelFormatError(f"{where}: cannot parse the text GraphDef: {message}") from e
    if not graph.node:
        raise _no_nodes(path, graph)
    notices = []
    if not is_text:
        notices.append(f"{path} is a text GraphDef; read it as text "
                       "(pass --input_model_is_text to say so)")
    return graph, notices


def _text_kind(path: Path, text: str) -> _Kind | None:
    """Recognise text files that are not text GraphDefs (LFS pointers, HTML, text SavedModels)."""
    body = _strip_comments(text)
    if body.startswith("version https://git-lfs.github.com/spec/"):
        oid = re.search(r"^oid (\S+)", body, re.MULTILINE)
        size = re.search(r"^size (\d+)", body, re.MULTILINE)
        details = ", ".join(filter(None, [oid and f"oid {oid.group(1)}",
                                          size and f"size {int(size.group(1))} bytes"]))
        return _Kind(f"a Git LFS pointer ({details or 'no oid'}), not the model itself",
                     "run 'git lfs pull' in its repository to fetch the real file", "")
    head = body[:1024].lower()
    if head.startswith(("<!doctype html", "<html", "<head")) or (
            head.startswith(("<?xml", "<!--")) and "<html" in head):
        return _Kind("an HTML page, not a model (a failed download?)",
                     "download the raw model file again", "")
    if _TEXT_SAVED_MODEL_START.match(body):
        directory = path.parent
        return _Kind("a text SavedModel (saved_model.pbtxt)",
                     f"pass its directory: tfconv convert {directory} or --saved_model_dir {directory}")
    if _TEXT_META_START.match(body):
        return _Kind("a text MetaGraph", f"pass it with --input_meta_graph {path}")
    return None


# --- binary --------------------------------------------------------------------------


def _parse_binary(data: bytes) -> tuple[Any | None, str | None]:
    """(graph, None) when ``data`` parses as a binary GraphDef, else (None, protobuf's error)."""
    try:
        return proto.parse_graphdef(data, text=False), None
    except DecodeError as e:
        return None, _unqualify(str(e)) or type(e).__name__


def _unqualify(message: str) -> str:
    """Protobuf's message with our private package name dropped from type names."""
    return message.replace(f"{proto.PACKAGE}.", "")


def _plausible_name(name: str) -> bool:
    """True for a non-empty node/op name without whitespace or control characters."""
    return bool(name) and name.isprintable() and not any(c.isspace() for c in name)


def _plausible_graph(graph: Any) -> bool:
    """True when a parsed GraphDef has nodes whose names and ops look like TensorFlow's."""
    nodes = graph.node
    return bool(nodes) and all(_plausible_name(n.name) and _plausible_name(n.op)
                               for n in (nodes[0], nodes[-1]))


def _magic_kind(data: bytes) -> _Kind | None:
    """Recognise other binary formats by their magic bytes."""
    if any(data[o:o + 8] == b"\x89HDF\r\n\x1a\n" for o in (0, 512, 1024, 2048)):
        return _Kind("an HDF5 file (a Keras .h5 model?)", _KERAS_ADVICE)
    if data[:4] == b"PK\x03\x04":
        return _zip_kind(data)
    if data[4:8] == b"TFL3":
        return _Kind("a TFLite flatbuffer",
                     "tfconv converts TensorFlow graphs: use the source SavedModel or frozen graph, "
                     "or OpenVINO's TFLite frontend")
    if data[:2] == b"\x1f\x8b":
        return _Kind("a gzip-compressed file", "decompress it (gunzip) and pass the file inside")
    if data[257:262] == b"ustar":
        return _Kind("a tar archive", "extract it and pass the model inside")
    return None


def _zip_kind(data: bytes) -> _Kind:
    """Describe a zip archive: a Keras 3 .keras file, a zipped SavedModel, or anything else."""
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return _Kind("a damaged zip archive", "re-download it, unpack it and pass the model inside")
    if "config.json" in names and ({"model.weights.h5", "metadata.json"} & set(names)):
        return _Kind("a Keras 3 archive (.keras)", _KERAS_ADVICE)
    saved = sorted(n for n in names if n.rsplit("/", 1)[-1] == "saved_model.pb")
    if saved:
        inner = saved[0].rsplit("/", 1)[0] if "/" in saved[0] else "."
        return _Kind(f"a zip archive holding a SavedModel ({saved[0]})",
                     f"unzip it and pass the directory {inner!r} inside as the model")
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return _Kind(f"a zip archive ({shown or 'empty'})", "unzip it and pass the model inside")


def _protobuf_kind(path: Path, data: bytes, walk: _Walk) -> _Kind | None:
    """Recognise other protobufs (SavedModel, MetaGraph, ONNX) and checkpoint files."""
    shape = {(f.number, f.wire) for f in walk.fields}
    numbers = [f.number for f in walk.fields]
    if path.name == "saved_model.pb" or (
            not walk.invalid and walk.cut_at is None and shape <= _SAVED_MODEL_FIELDS
            and 2 in numbers and _saved_model(data) is not None):
        return _saved_model_kind(path, data)
    if (not walk.invalid and walk.cut_at is None and shape <= _META_GRAPH_FIELDS
            and numbers.count(1) == 1 and numbers.count(2) == 1):
        meta = _parse(proto.MetaGraphDef, data)
        if meta is not None and _plausible_graph(meta.graph_def):
            tags = ", ".join(meta.meta_info_def.tags)
            return _Kind(f"a MetaGraph (.meta) file{f' (tags: {tags})' if tags else ''}",
                         f"pass it with --input_meta_graph {path}")
    if not walk.invalid and walk.fields and shape <= _ONNX_FIELDS and 1 in numbers and (
            7 in numbers or walk.cut_at is not None):
        producer = next((data[f.start:f.end].decode("utf-8", "replace")
                         for f in walk.fields if f.number == 2), "")
        return _Kind(f"an ONNX model{f' (producer {producer!r})' if producer else ''}",
                     "use OpenVINO's ONNX frontend; tfconv converts TensorFlow graphs")
    if _CHECKPOINT_NAME.search(path.name):
        return _Kind("a TensorFlow checkpoint file (variable values, no graph)",
                     "pass the MetaGraph (.meta) with --input_meta_graph, or a SavedModel directory")
    return None


def _binary_failure(path: Path, data: bytes, walk: _Walk, graph: Any | None,
                    decode_error: str | None) -> ModelFormatError:
    """The error for a binary file that is not a usable GraphDef and not another known format."""
    if walk.cut_at is not None and walk.fields and all(
            (f.number, f.wire) in _GRAPHDEF_FIELDS for f in walk.fields):
        return ModelFormatError(
            f"{path}: protobuf ends mid-message at byte {len(data)} of {walk.needed}: "
            "the file looks truncated (re-download or re-export it)")
    if graph is not None and not graph.node:
        return _no_nodes(path, graph)
    if graph is not None:
        return ModelFormatError(
            f"{path} is not a TensorFlow GraphDef (it parses as protobuf, but its nodes have "
            "no valid names or op types); pass a frozen graph .pb or a SavedModel directory")
    return ModelFormatError(
        f"{path} is not a TensorFlow GraphDef (binary protobuf parse failed: {decode_error}); "
        "if it is a text graph pass --input_model_is_text")


def _no_nodes(path: Path, graph: Any) -> ModelFormatError:
    """The error for a GraphDef without nodes."""
    functions = len(graph.library.function)
    extra = f" (only {functions} library function(s))" if functions else ""
    return ModelFormatError(f"{path} is a GraphDef but contains no nodes{extra}; "
                            "check that this is the right file, or export the graph again")


def _parse(cls: Any, data: bytes) -> Any | None:
    """``cls`` parsed from ``data``, or None when protobuf rejects it."""
    try:
        return cls.FromString(data)
    except DecodeError:
        return None


def _saved_model(data: bytes) -> Any | None:
    """The SavedModel in ``data`` when it parses as one with a graph, else None."""
    sm = _parse(proto.SavedModel, data)
    if sm is None or not sm.meta_graphs or not sm.meta_graphs[0].HasField("graph_def"):
        return None
    return sm


def _saved_model_kind(path: Path, data: bytes) -> _Kind:
    """Describe a SavedModel's saved_model.pb (with its tags and signatures when readable)."""
    directory = path.parent
    details = ""
    sm = _saved_model(data)
    if sm is not None:
        tags = sorted({t for m in sm.meta_graphs for t in m.meta_info_def.tags})
        sigs = sorted({s for m in sm.meta_graphs for s in m.signature_def if not s.startswith("__")})
        parts = ([f"tags: {', '.join(tags)}"] if tags else []) + (
            [f"signatures: {', '.join(sigs[:5])}{', ...' if len(sigs) > 5 else ''}"] if sigs else [])
        details = f" ({'; '.join(parts)})" if parts else ""
    if path.name != "saved_model.pb":
        return _Kind(f"a SavedModel's saved_model.pb, renamed{details}",
                     "put it back as saved_model.pb in its SavedModel directory (next to "
                     "variables/) and pass that directory (tfconv convert DIR or --saved_model_dir DIR)")
    return _Kind(f"a SavedModel's saved_model.pb{details}",
                 f"pass its directory {directory} (tfconv convert {directory} "
                 f"or --saved_model_dir {directory})")


def _directory_kind(path: Path) -> _Kind:
    """Describe a directory given where a GraphDef file was expected."""
    if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
        return _Kind("a SavedModel directory",
                     f"pass it as the positional MODEL (tfconv convert {path}) "
                     f"or with --saved_model_dir {path}")
    candidates = sorted(p.name for p in path.iterdir()
                        if p.suffix in (".pb", ".pbtxt", ".meta") and p.is_file())
    found = f" (it holds {', '.join(candidates[:3])}{', ...' if len(candidates) > 3 else ''})" \
        if candidates else ""
    return _Kind(f"a directory{found}", "pass a frozen GraphDef file (.pb or .pbtxt)")


_EMPTY = _Kind("an empty file (0 bytes)", "re-export or re-download it")


# --- wire format ---------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next offset) of the varint at ``pos``; next offset is -1 past the end, -2 if overlong."""
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            return 0, -2
    return 0, -1


def _walk(data: bytes) -> _Walk:
    """Read the top-level fields of a protobuf without parsing any nested message."""
    fields: list[_Field] = []
    pos, size = 0, len(data)
    while pos < size:
        start = pos
        key, pos = _varint(data, pos)
        if pos == -1:
            return _Walk(fields, start, size + 1, False)
        number, wire = key >> 3, key & 7
        if pos == -2 or number == 0 or wire not in (_VARINT, _I64, _LEN, _I32):
            return _Walk(fields, None, 0, True)
        if wire == _VARINT:
            _, end = _varint(data, pos)
        elif wire == _LEN:
            length, end = _varint(data, pos)
            if end >= 0:
                pos, end = end, end + length
        else:
            end = pos + (8 if wire == _I64 else 4)
        if end == -2:
            return _Walk(fields, None, 0, True)
        fields.append(_Field(number, wire, pos, size + 1 if end == -1 else end))
        if end == -1 or end > size:
            return _Walk(fields, start, fields[-1].end, False)
        pos = end
    return _Walk(fields, None, 0, False)
