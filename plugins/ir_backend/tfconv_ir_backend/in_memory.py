"""The IR graph as an ``openvino.Model`` in memory: the writer's XML and weights as bytes, read by
OpenVINO without touching the disk (``tfconv.to_openvino``)."""
from __future__ import annotations

import io
from typing import Any

import numpy as np

from tfconv.graph import Graph

from .writer import BinWriter, build_xml, writing_order


def ir_bytes(graph: Graph, name: str) -> tuple[bytes, bytes]:
    """The ``.xml`` and ``.bin`` that ``write_ir`` would write for ``graph``, byte for byte."""
    weights = io.BytesIO()
    tree = build_xml(graph, name, BinWriter(weights), writing_order(graph))
    xml = io.BytesIO()
    tree.write(xml, encoding="utf-8", xml_declaration=True)
    xml.write(b"\n")
    return xml.getvalue(), weights.getvalue()


def to_openvino(graph: Graph, name: str, core: Any = None) -> Any:
    """An ``openvino.Model`` of ``graph``; ``core`` (an ``openvino.Core``) is the one whose
    extensions read custom layers (a fresh Core by default)."""
    import openvino as ov

    xml, weights = ir_bytes(graph, name)
    core = core if core is not None else ov.Core()
    tensor = ov.Tensor(np.frombuffer(weights or b"\0", dtype=np.uint8).copy())
    return core.read_model(model=xml, weights=tensor)
