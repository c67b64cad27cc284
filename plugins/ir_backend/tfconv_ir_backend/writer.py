"""The OpenVINO IR v11 writer: ``<name>.xml`` (the topology) plus ``<name>.bin`` (the weights),
and ``<name>.mapping`` (TF tensor names -> IR layer output ports, the Model Optimizer's format).

The writer only serializes. Shapes and element types come from ``Op.outputs``; IR attributes come
from ``Op.attrs`` under their spec names (names starting with ``_`` are private and skipped).
Constant data is streamed straight into the ``.bin`` file, each distinct byte content once.
"""
from __future__ import annotations


import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from tfconv.errors import OutputError
from tfconv.graph import TensorInfo
from tfconv.irops import version_of
from tfconv.output import replaces_existing

from ._arrays import contiguous, release_pages

try:  # hashlib's own blake2b, without hashlib's import of OpenSSL (2-3 ms of every start)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

if TYPE_CHECKING:
    from tfconv.config import ConvertConfig
    from tfconv.graph import Graph, Op

IR_VERSION = "11"

# numpy dtype name -> (IR element type, port precision)
ELEMENT_TYPES: dict[str, tuple[str, str]] = {
    "float32": ("f32", "FP32"), "float16": ("f16", "FP16"), "float64": ("f64", "FP64"),
    "int64": ("i64", "I64"), "int32": ("i32", "I32"), "int16": ("i16", "I16"),
    "int8": ("i8", "I8"), "uint8": ("u8", "U8"), "uint16": ("u16", "U16"),
    "uint32": ("u32", "U32"), "uint64": ("u64", "U64"), "bool": ("boolean", "BOOL"),
}
_IR_NAMES = {ir for ir, _ in ELEMENT_TYPES.values()}

# Attributes whose value is an element type (a numpy dtype or its name).
TYPE_ATTRS = frozenset({"element_type", "destination_type", "output_type", "index_element_type",
                        "count_element_type"})


# -- value formatting --------------------------------------------------------------------------


def element_type(dtype: object, where: str) -> str:
    """The IR element type (``f32``, ``i64``, ``boolean``...) of a numpy dtype or dtype name."""
    if isinstance(dtype, str) and dtype in _IR_NAMES:
        return dtype
    try:
        return _ELEMENT_TYPE_OF[dtype]
    except (KeyError, TypeError):
        pass
    try:
        name = np.dtype(dtype).name  # type: ignore[arg-type]
    except TypeError:
        name = str(dtype)
    if name not in ELEMENT_TYPES:
        msg = (f"{where}: element type {name!r} cannot be written to OpenVINO IR; supported: "
               f"{', '.join(ELEMENT_TYPES)}")
        raise OutputError(msg)
    try:
        _ELEMENT_TYPE_OF[dtype] = ELEMENT_TYPES[name][0]
    except TypeError:  # an unhashable spelling of a dtype
        pass
    return ELEMENT_TYPES[name][0]


_ELEMENT_TYPE_OF: dict[object, str] = {}  # dtype (or its name) -> IR element type, as met


_PRECISIONS: dict[object, str] = {}  # dtype -> port precision, filled as they are met


def precision(dtype: np.dtype | None, where: str) -> str:
    try:
        return _PRECISIONS[dtype]
    except (KeyError, TypeError):
        pass
    if dtype is None:
        msg = f"{where}: the element type is unknown (did shape inference run on this op?)"
        raise OutputError(msg)
    name = np.dtype(dtype).name
    if name not in ELEMENT_TYPES:
        msg = f"{where}: element type {name!r} cannot be written to OpenVINO IR"
        raise OutputError(msg)
    _PRECISIONS[dtype] = ELEMENT_TYPES[name][1]
    return ELEMENT_TYPES[name][1]


def format_scalar(value: object) -> str:
    """One attribute item: bools as ``true``/``false``; floats in a form that parses back to the
    same value (``repr`` of the double, exact for float32 inputs too)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def format_attr(value: object) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist() if value.ndim else value.item()
    if isinstance(value, (list, tuple)):
        return ",".join(format_scalar(v) for v in value)
    return format_scalar(value)


def format_shape(shape: tuple | None) -> str:
    """A Parameter's ``shape``: ``?`` for a dynamic dim, ``...`` for an unknown rank."""
    if shape is None:
        return "..."
    return ",".join("?" if d is None else str(int(d)) for d in shape)


def escape_names(names: list[str]) -> str:
    """Tensor names joined by commas; a comma inside a name is escaped as ``\\,``."""
    return ",".join(n.replace(",", "\\,") for n in names)


# -- weights -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    offset: int
    size: int


class BinWriter:
    """Appends constant data to the ``.bin`` stream, storing identical byte content once."""

    def __init__(self, stream: BinaryIO, write_back: bool = False) -> None:
        self.stream = stream
        self._write_back = write_back  # start the disk early (see write_back)
        self.offset = 0
        # Equal constants are found by content digest (with size, type and shape), confirmed by
        # comparing the (graph-owned) arrays, so no temporary copy is kept. A constant is hashed
        # only once another of its size, type and shape arrives (big weights are rarely
        # hashed); each is hashed at most once, so the cost stays linear where comparing every
        # same-size pair was quadratic (10k nodes: 1.8 s).
        # A big constant's kind also holds a digest of a few hundred bytes spread over it, so
        # same-shape weights that differ (ResNet50's 3x3 convs) are not hashed whole (0.07 s).
        self._first: dict[tuple, tuple[np.ndarray, Blob] | None] = {}
        self._seen: dict[tuple, list[tuple[np.ndarray, Blob]]] = {}
        self._written_back = 0  # bytes whose write-back to disk has been started

    @staticmethod
    def _sample(data: np.ndarray) -> bytes:
        if data.nbytes < SAMPLE_FROM:
            return b""
        step = data.nbytes // 256
        picked = bytes(data[:64]) + bytes(data[-64:]) + data[::step].tobytes()
        return blake2b(picked, digest_size=8).digest()

    @staticmethod
    def _digest(data: np.ndarray) -> bytes:
        return blake2b(memoryview(data), digest_size=16).digest()

    @staticmethod
    def _bytes(value: np.ndarray) -> np.ndarray:
        """The little-endian bytes ``value`` is stored as (a copy only for non-contiguous views
        and big-endian data)."""
        arr = contiguous(value)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        # OpenVINO cannot map a zero-size blob, so an empty constant points at one spare byte.
        return arr.reshape(-1).view(np.uint8) if arr.nbytes else np.zeros(1, np.uint8)

    def add(self, value: np.ndarray) -> Blob:
        data = self._bytes(value)
        kind = (data.nbytes, value.dtype.str, value.shape, self._sample(data))
        if kind not in self._first:  # the first of its kind: written without hashing
            blob = self._append(data, value)
            self._first[kind] = (value, blob)  # not ``data``: that may be a copy
            return blob
        first = self._first[kind]
        if first is not None:  # the second of its kind: index the first by digest now
            other, other_blob = first
            digest = self._digest(self._bytes(other))
            self._seen.setdefault((kind, digest), []).append((other, other_blob))
            self._first[kind] = None
        same = self._seen.setdefault((kind, self._digest(data)), [])
        for other, blob in same:
            if np.array_equal(other, value):
                return blob
        blob = self._append(data, value)
        same.append((value, blob))
        return blob

    def _append(self, data: np.ndarray, value: np.ndarray) -> Blob:
        # In chunks, each released once written: weights viewing a memory map (a checkpoint,
        # a frozen graph, a spilled copy) leave this process's memory as they are copied.
        step = 64 << 20
        for start in range(0, data.nbytes, step):
            chunk = data[start:start + step]
            self.stream.write(memoryview(chunk))
            release_pages(chunk)
        blob = Blob(self.offset, data.nbytes)
        self.offset += data.nbytes
        if self._write_back and self.offset - self._written_back >= WRITE_BACK_EVERY:
            self.write_back()
        return blob

    def write_back(self) -> None:
        """Start writing what the stream holds so far to disk, without waiting: the disk works
        while the rest is converted, and the staging's ``fsync`` finds the file written
        (ResNet50: the 0.04-0.3 s ``fsync`` of 100 MB drops to a few ms). Only for a ``.bin``
        that will replace an existing one (``tfconv.output`` flushes only those): starting the
        disk costs this process the file system's block allocation (ResNet50: ~15 ms, and up to
        0.6 s when the disk is busy), which a new IR leaves to the kernel after tfconv exits."""
        if not self._write_back or not hasattr(os, "posix_fadvise"):
            return
        try:
            self.stream.flush()
            os.posix_fadvise(self.stream.fileno(), self._written_back,
                             self.offset - self._written_back, os.POSIX_FADV_DONTNEED)
        except (OSError, ValueError, AttributeError):  # not a file (BytesIO), or no advice
            return
        self._written_back = self.offset


SAMPLE_FROM = 4096  # bytes: smaller constants are cheap to hash whole when their kind collides
WRITE_BACK_EVERY = 8 << 20  # bytes of .bin between two write-back starts


# The spelling OpenVINO itself writes for a few types (its reader takes both).
XML_TYPE_NAMES = {"Relu": "ReLU", "PRelu": "PReLU"}


# -- layout ----------------------------------------------------------------------------------


def writing_order(graph: Graph) -> list[str]:
    """Parameters (``meta["inputs"]`` order first), the other ops in topological order, then
    Results in model-output order. This order gives the layer ids."""
    topo = graph.topological_order()
    params = [n for n in graph.meta.get("inputs", []) or []  # type: ignore[union-attr]
              if n in graph and graph.op(n).type == "Parameter"]
    listed = set(params)
    params += [op.name for op in graph if op.type == "Parameter" and op.name not in listed]
    results = list(dict.fromkeys(p.node for p in graph.outputs if graph.op(p.node).type == "Result"))
    listed = set(results)
    results += [n for n in topo if graph.op(n).type == "Result" and n not in listed]
    edge = set(params) | set(results)
    return params + [n for n in topo if n not in edge] + results


def _dims(port: ET.Element, shape: tuple | None) -> None:
    for d in shape or ():
        ET.SubElement(port, "dim").text = "-1" if d is None else str(int(d))


def _port(parent: ET.Element, pid: int, info: TensorInfo, where: str, names: bool) -> None:
    attrs = {"id": str(pid), "precision": precision(info.dtype, where)}
    if names and info.names:
        attrs["names"] = escape_names(list(info.names))
    _dims(ET.SubElement(parent, "port", attrs), info.shape)


def _data_attrs(op: Op, bins: BinWriter) -> dict[str, str]:
    where = f"op {op.name!r} ({op.type})"
    if op.type == "Const":
        value = op.attrs.get("value")
        if not isinstance(value, np.ndarray):
            value = np.asarray(value)
        if value.dtype.kind in "OSUV":
            msg = (f"{where}: {value.dtype.kind!r}-kind constants (strings, objects) cannot be "
                   "written to OpenVINO IR; remove or replace this constant before emission")
            raise OutputError(msg)
        et = element_type(value.dtype, where)
        blob = bins.add(value)
        return {"element_type": et, "shape": format_shape(tuple(value.shape)),
                "offset": str(blob.offset), "size": str(blob.size)}
    out: dict[str, str] = {}
    for key, value in op.attrs.items():
        if key.startswith("_"):
            continue
        if op.type == "Parameter" and key == "shape":
            out[key] = format_shape(None if value is None else tuple(value))  # type: ignore[arg-type]
        elif value is None:  # an attribute left unset
            continue
        elif key in TYPE_ATTRS:
            out[key] = element_type(value, f"{where} attribute {key!r}")
        else:
            out[key] = format_attr(value)
    return out


def _layer(layers: ET.Element, lid: int, op: Op, inputs: list[TensorInfo], bins: BinWriter) -> None:
    where = f"op {op.name!r} ({op.type})"
    layer = ET.SubElement(layers, "layer", {"id": str(lid), "name": op.name,
                                            "type": XML_TYPE_NAMES.get(op.type, op.type),
                                            "version": version_of(op.type)})
    data = _data_attrs(op, bins)
    if data:
        ET.SubElement(layer, "data", data)
    if op.attrs.get("_decompression"):
        rt = ET.SubElement(layer, "rt_info")
        ET.SubElement(rt, "attribute", {"name": "decompression", "version": "0"})
    if inputs:
        port_list = ET.SubElement(layer, "input")
        for i, info in enumerate(inputs):
            _port(port_list, i, info, f"{where} input {i}", names=False)
    outputs = [] if op.type == "Result" else op.outputs
    if outputs:
        port_list = ET.SubElement(layer, "output")
        for j, info in enumerate(outputs):
            _port(port_list, len(inputs) + j, info, f"{where} output {j}", names=True)
    if op.type in SUB_NETWORK_OPS:
        SUB_NETWORK_OPS[op.type](layer, op, len(inputs), bins)


# -- sub-networks: Loop and If (attribute contract in tfconv.irops) ------------------------------


def _sub_network(parent: ET.Element, tag: str, body: Graph, bins: BinWriter) -> dict[str, int]:
    """``<tag>`` holding ``body``'s layers and edges; returns its layer ids by op name."""
    element = ET.SubElement(parent, tag)
    return _layers_and_edges(element, body, bins, writing_order(body))


def _port_map_entry(parent: ET.Element, kind: str, external: int, layer: int,
                    axis: int | None = None, purpose: str | None = None) -> None:
    attrs = {"external_port_id": str(external), "internal_layer_id": str(layer)}
    if axis is not None:  # one slice per iteration along ``axis``, in order
        attrs.update(axis=str(axis), start="0", end="-1", stride="1", part_size="1")
    if purpose is not None:
        attrs["purpose"] = purpose
    ET.SubElement(parent, kind, attrs)


def _loop(layer: ET.Element, op: Op, n_inputs: int, bins: BinWriter) -> None:
    port_map = ET.Element("port_map")
    back_edges = ET.Element("back_edges")
    layer.insert(1 if layer.find("data") is not None else 0, back_edges)
    layer.insert(1 if layer.find("data") is not None else 0, port_map)
    ids = _sub_network(layer, "body", op.attrs["_body"], bins)  # type: ignore[arg-type]
    for k, (param, axis) in enumerate(op.attrs["_inputs"]):  # type: ignore[attr-defined]
        _port_map_entry(port_map, "input", k + 2, ids[param], axis)
    for j, (result, axis) in enumerate(op.attrs["_outputs"]):  # type: ignore[attr-defined]
        _port_map_entry(port_map, "output", n_inputs + j, ids[result], axis)
    if op.attrs.get("_current_iteration"):
        _port_map_entry(port_map, "input", -1, ids[op.attrs["_current_iteration"]],  # type: ignore[index]
                        purpose="current_iteration")
    _port_map_entry(port_map, "output", -1, ids[op.attrs["_condition"]],  # type: ignore[index]
                    purpose="execution_condition")
    for result, param in op.attrs.get("_back_edges", ()):  # type: ignore[attr-defined]
        ET.SubElement(back_edges, "edge", {"from-layer": str(ids[result]),
                                           "to-layer": str(ids[param])})


def _if(layer: ET.Element, op: Op, n_inputs: int, bins: BinWriter) -> None:
    at = 1 if layer.find("data") is not None else 0
    for branch in ("else", "then"):
        port_map = ET.Element(f"{branch}_port_map")
        layer.insert(at, port_map)
        ids = _sub_network(layer, f"{branch}_body", op.attrs[f"_{branch}_body"], bins)  # type: ignore[arg-type]
        for k, param in enumerate(op.attrs[f"_{branch}_inputs"]):  # type: ignore[attr-defined]
            if param is not None:
                _port_map_entry(port_map, "input", k + 1, ids[param])
        for j, result in enumerate(op.attrs[f"_{branch}_outputs"]):  # type: ignore[attr-defined]
            _port_map_entry(port_map, "output", n_inputs + j, ids[result])


SUB_NETWORK_OPS = {"Loop": _loop, "If": _if}


def _layers_and_edges(parent: ET.Element, graph: Graph, bins: BinWriter,
                      order: list[str]) -> dict[str, int]:
    """``<layers>`` and ``<edges>`` of ``graph`` (the model, or a Loop/If body) under
    ``parent``; returns the layer ids by op name."""
    ids = {n: i for i, n in enumerate(order)}
    layers = ET.SubElement(parent, "layers")
    inputs = {n: graph.inputs(n) for n in order}
    edges: list[tuple[int, int, int, int]] = []
    for n in order:
        ports = inputs[n]
        _layer(layers, ids[n], graph.op(n), [graph.info(p) for p in ports], bins)
        # Output port ids continue after the producer's input port ids.
        edges.extend((ids[n], dst, ids[src.node], len(inputs[src.node]) + src.index)
                     for dst, src in enumerate(ports))
    edge_list = ET.SubElement(parent, "edges")
    for to_layer, to_port, from_layer, from_port in sorted(edges):
        ET.SubElement(edge_list, "edge", {"from-layer": str(from_layer), "from-port": str(from_port),
                                          "to-layer": str(to_layer), "to-port": str(to_port)})
    return ids


@lru_cache(maxsize=None)
def _package_version() -> str:
    for dist in ("tfconv-ir-backend", "tfconv"):
        version = _installed_version(dist)
        if version is not None:
            return version
    return "unknown"


def _installed_version(dist: str) -> str | None:
    """``importlib.metadata.version(dist)`` (the first install on ``sys.path``), read from the
    ``*.dist-info``/``*.egg-info`` folder's metadata without importing ``importlib.metadata``
    (~20 ms of every conversion); ``importlib.metadata`` itself for anything unexpected."""
    want = dist.replace("-", "_").replace(".", "_").lower()
    for entry in sys.path:
        try:
            children = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for child in children:
            if not child.endswith((".dist-info", ".egg-info")) or \
                    child[:-len(".dist-info")].split("-")[0].replace(".", "_").lower() != want:
                continue
            meta = os.path.join(entry or ".", child,
                                "METADATA" if child.endswith(".dist-info") else "PKG-INFO")
            try:
                with open(meta, encoding="utf-8") as f:
                    for line in f:
                        if line.startswith("Version:"):
                            return line.split(":", 1)[1].strip()
                        if not line.strip():
                            break
            except OSError:
                pass
            return _metadata_version(dist)
    return _metadata_version(dist)


def _metadata_version(dist: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build_xml(graph: Graph, name: str, bins: BinWriter,
              order: list[str] | None = None) -> ET.ElementTree:
    """The IR document; constant data goes to ``bins`` in layer order as a side effect."""
    order = order if order is not None else writing_order(graph)
    net = ET.Element("net", {"name": name, "version": IR_VERSION})
    _layers_and_edges(net, graph, bins, order)
    rt = ET.SubElement(net, "rt_info")
    ET.SubElement(rt, "tfconv_version", {"value": _package_version()})
    tree = ET.ElementTree(net)
    ET.indent(tree, space="  ")
    return tree


def split_tensor_name(name: str) -> tuple[str, int]:
    """``node:P`` -> ``(node, P)``; a bare node name is its output port 0."""
    node, sep, port = name.rpartition(":")
    if sep and node and port.isdigit():
        return node, int(port)
    return name, 0


def build_mapping(graph: Graph, order: list[str]) -> ET.ElementTree:
    """The Model Optimizer's ``.mapping`` document: one ``<map>`` per TF tensor (node, output
    port) that an IR layer output port carries, in layer order."""
    root = ET.Element("mapping")
    seen: set[tuple[str, int]] = set()
    for lid, n in enumerate(order):
        op = graph.op(n)
        if op.type == "Result":
            continue
        n_inputs = len(graph.inputs(n))
        for j, info in enumerate(op.outputs):
            for tensor in info.names:
                key = split_tensor_name(tensor)
                if key in seen:
                    continue
                seen.add(key)
                entry = ET.SubElement(root, "map")
                ET.SubElement(entry, "framework", {"name": key[0], "out_port_id": str(key[1])})
                ET.SubElement(entry, "IR", {"name": op.name, "id": str(lid),
                                            "out_port_id": str(n_inputs + j)})
    tree = ET.ElementTree(root)
    ET.indent(tree, space="  ")
    return tree


# -- serialization ---------------------------------------------------------------------------

_ATTR_SPECIAL = re.compile('[&<>"\r\n\t]')
_TEXT_SPECIAL = re.compile("[&<>]")


class _Unusual(Exception):
    """A tree :func:`write_xml` leaves to ElementTree (namespaces, comments, non-text values)."""


def _attr(value: str) -> str:
    if _ATTR_SPECIAL.search(value) is None:
        return value
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;")
            .replace("\t", "&#09;"))


def _text(value: str) -> str:
    if _TEXT_SPECIAL.search(value) is None:
        return value
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_xml(tree: ET.ElementTree, stream: BinaryIO) -> None:
    """``tree.write(stream, encoding="utf-8", xml_declaration=True)``: the same bytes, about
    twice as fast (ElementTree's general serializer was a tenth of a 200k-node graph's
    conversion). Trees with namespaces, comments or non-text values go to ElementTree."""
    start = stream.tell()
    parts: list[str] = ["<?xml version='1.0' encoding='utf-8'?>\n"]
    append = parts.append
    # Attribute values and texts repeat (indents, dims, types): each is escaped once.
    attrs: dict[str, str] = {}
    texts: dict[str, str] = {}
    keys: set[str] = set()  # attribute names seen to be plain

    def flush() -> None:
        stream.write("".join(parts).encode("utf-8", "xmlcharrefreplace"))
        parts.clear()

    def element(elem: ET.Element) -> None:
        tag = elem.tag
        if tag.__class__ is not str or "{" in tag:
            raise _Unusual
        head = "<" + tag
        for k, v in elem.attrib.items():
            if k not in keys:
                if k.__class__ is not str or "{" in k:
                    raise _Unusual
                keys.add(k)
            e = attrs.get(v)
            if e is None:
                e = attrs[v] = _attr(v)
            head += f' {k}="{e}"'
        text = elem.text
        if text or len(elem):
            if text:
                e = texts.get(text)
                if e is None:
                    e = texts[text] = _text(text)
                append(head + ">" + e)
            else:
                append(head + ">")
            for child in elem:
                element(child)
            append("</" + tag + ">")
        else:
            append(head + " />")
        tail = elem.tail
        if tail:
            e = texts.get(tail)
            if e is None:
                e = texts[tail] = _text(tail)
            append(e)
        if len(parts) > 50_000:
            flush()

    try:
        element(tree.getroot())
    except (_Unusual, TypeError):
        stream.seek(start)
        stream.truncate()
        tree.write(stream, encoding="utf-8", xml_declaration=True)
        return
    flush()


def write_ir(graph: Graph, directory: Path, config: ConvertConfig) -> list[Path]:
    """Write ``<config.name>.xml``, ``<config.name>.bin`` and the tensor-name mapping
    ``<config.name>.mapping`` into ``directory``; returns the three."""
    directory = Path(directory)
    xml_path = directory / f"{config.name}.xml"
    bin_path = directory / f"{config.name}.bin"
    mapping_path = directory / f"{config.name}.mapping"
    order = writing_order(graph)
    # An OSError (a full disk, a read-only folder) propagates: tfconv.output turns it into one
    # message about --output_dir and leaves the existing files untouched.
    with bin_path.open("wb") as stream:
        bins = BinWriter(stream, write_back=replaces_existing(bin_path))
        tree = build_xml(graph, config.name, bins, order)
        bins.write_back()
    with xml_path.open("wb") as stream:
        write_xml(tree, stream)
        stream.write(b"\n")
    with mapping_path.open("wb") as stream:
        write_xml(build_mapping(graph, order), stream)
        stream.write(b"\n")
    return [xml_path, bin_path, mapping_path]

