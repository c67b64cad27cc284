"""ir_backend: the OpenVINO IR writer and the IR-stage passes."""
from __future__ import annotations

from typing import TYPE_CHECKING

from tfconv import hookimpl

if TYPE_CHECKING:
    from tfconv.emit import EmitterRegistry
    from tfconv.passes import PassRegistry


@hookimpl
def tfconv_register_emitters(registry: EmitterRegistry) -> None:
    from .writer import write_ir  # here, not at import: ``tfconv --help`` needs no writer
    registry.add("ir", write_ir, "OpenVINO IR v11 (model.xml + model.bin)")


@hookimpl
def tfconv_register_passes(registry: PassRegistry) -> None:
    from . import passes
    from .fp16 import compress_fp16
    registry.add(*passes.ALL, compress_fp16)


@hookimpl
def tfconv_to_openvino(graph, name, core):
    from .in_memory import to_openvino
    return to_openvino(graph, name, core)


@hookimpl
def tfconv_register_commands(cli) -> None:
    """validate, classify and detect (the OpenVINO runtime is imported only when they run)."""
    from .tools import register
    register(cli)
