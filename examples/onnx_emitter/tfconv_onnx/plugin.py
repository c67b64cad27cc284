"""onnx: the ``onnx`` emitter target (hookimpls only)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from tfconv import hookimpl

if TYPE_CHECKING:
    from pathlib import Path

    from tfconv.config import ConvertConfig
    from tfconv.emit import EmitterRegistry
    from tfconv.graph import Graph


def write_onnx(graph: Graph, directory: Path, config: ConvertConfig) -> list[Path]:
    """The emitter; the ``onnx`` package is imported only when ``--target onnx`` runs."""
    from .emitter import write_onnx as write
    return write(graph, directory, config)


@hookimpl
def tfconv_register_emitters(registry: EmitterRegistry) -> None:
    registry.add("onnx", write_onnx, "ONNX model (<name>.onnx), ONNX opset 20")
