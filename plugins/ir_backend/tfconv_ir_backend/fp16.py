"""``--compress_to_fp16``: store float32 weights as float16 constants plus a decompression Convert.

Each compressible float32 ``Const`` named ``w`` becomes ``Const w_compressed`` (f16) followed by
``Convert w`` (``destination_type=float32``, ``_decompression=True``), so the layer name and
tensor names of ``w`` stay on an f32 output. The writer marks the Convert with OpenVINO's
``decompression`` runtime attribute, which tells the plugins to keep (or fuse) it rather than
constant-fold it back to f32.
"""
from __future__ import annotations

import logging
import tempfile
from typing import TYPE_CHECKING

import numpy as np

from tfconv.graph import Port, TensorInfo
from tfconv.passes import graph_pass

from ._arrays import release_pages

if TYPE_CHECKING:
    from tfconv.config import ConvertConfig
    from tfconv.graph import Graph, Op

log = logging.getLogger("tfconv.ir_backend.fp16")

F16_MAX = float(np.finfo(np.float16).max)  # 65504

# Inputs whose float values decide shapes or quantization ranges, not data: (op type, first input).
NOT_DATA_INPUTS: dict[str, int] = {
    "ShapeOf": 0,
    "Range": 0,          # start/stop/step give the output length
    "Interpolate": 1,    # scales (and sizes, axes)
    "FakeQuantize": 1,   # input/output ranges
}

SHOWN = 10  # names listed in one log message

# float32 constants at least this big are halved chunk by chunk into a memory-mapped temporary
# file whose pages leave this process's memory as they are written (and again once the writer
# has copied them into the .bin): a multi-GB model converts in bounded memory.
SPILL_FROM = 64 << 20  # bytes of float32
CHUNK = 16 << 20  # bytes of float32 per chunk


def _halve(value: np.ndarray) -> tuple[np.ndarray, bool, int, int]:
    """``value`` as float16: ``(half, overflows, non-zeros before, non-zeros after)``."""
    if value.nbytes < SPILL_FROM or value.ndim == 0:
        with np.errstate(over="ignore"):
            half = value.astype(np.float16)
        overflow = bool(np.any(np.isinf(half) & np.isfinite(value)))
        return half, overflow, int(np.count_nonzero(value)), int(np.count_nonzero(half))
    with tempfile.TemporaryFile(prefix="tfconv-fp16-") as f:
        half = np.memmap(f, dtype=np.float16, mode="w+", shape=value.shape)
    rows = max(1, CHUNK // max(1, value[0].nbytes))
    overflow, before, after = False, 0, 0
    for i in range(0, value.shape[0], rows):
        part, out = value[i:i + rows], half[i:i + rows]
        with np.errstate(over="ignore"):
            out[...] = part
        overflow |= bool(np.any(np.isinf(out) & np.isfinite(part)))
        before += int(np.count_nonzero(part))
        after += int(np.count_nonzero(out))
        release_pages(out)  # written to the file's page cache; not this process's memory
        release_pages(part)
    return half, overflow, before, after


def _feeds_data_only(graph: Graph, name: str) -> bool:
    users = graph.consumers(Port(name, 0))
    if not users:
        return False
    for consumer, dst in users:
        op = graph.op(consumer)
        first = NOT_DATA_INPUTS.get(op.type)
        if first is not None and dst >= first:
            return False
        if op.type == "Convert" and not _is_float(op.attrs.get("destination_type")):
            return False  # values cast to integers (often shapes): f16 would round 2049 to 2048
    return True


def _is_float(dtype: object) -> bool:
    try:
        return np.dtype(dtype).kind == "f"  # type: ignore[arg-type]
    except TypeError:
        return str(dtype) in ("f16", "f32", "f64", "bf16")


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _compress(graph: Graph, op: Op, half: np.ndarray) -> None:
    """Replace ``op`` by an f16 Const and a decompression Convert that keeps its name."""
    name, info = op.name, op.outputs[0]
    users = graph.consumers(Port(name, 0))
    graph.remove(name)
    extra = {k: v for k, v in op.attrs.items() if k != "value"}
    packed = graph.add_op("Const", graph.unique_name(f"{name}_compressed"),
                          attrs={**extra, "value": half})
    packed.outputs[0] = TensorInfo(tuple(half.shape), half.dtype)
    convert = graph.add_op("Convert", name, [Port(packed.name, 0)],
                           {"destination_type": "float32", "_decompression": True})
    convert.outputs[0] = TensorInfo(info.shape, np.dtype(np.float32), list(info.names))
    for consumer, dst in users:
        graph.set_input(consumer, dst, Port(name, 0))


@graph_pass("ir_backend.compress_fp16", stage="ir",
            after=["ir_backend.fuse_linear", "cleanup.remove_dead_ir"])
def compress_fp16(graph: Graph, config: ConvertConfig) -> None:
    """Compress float32 weight constants to float16 when ``config.compress_to_fp16`` is set.

    Constants with finite values beyond the float16 range (|x| > 65504) stay float32, with a
    warning naming them; so do constants most of whose non-zero values would flush to zero.
    """
    if not config.compress_to_fp16:
        return
    overflow: list[str] = []
    underflow: list[str] = []
    compressed = 0
    for op in list(graph.ops_of_type("Const")):
        value = op.attrs.get("value")
        if not isinstance(value, np.ndarray) or value.dtype != np.float32 or value.size == 0:
            continue
        if not _feeds_data_only(graph, op.name):
            continue
        half, overflows, nonzero, kept = _halve(value)
        if overflows:
            overflow.append(op.name)
            continue
        if nonzero and 2 * (nonzero - kept) > nonzero:
            underflow.append(op.name)
            continue
        _compress(graph, op, half)
        compressed += 1
    if overflow:
        log.warning("--compress_to_fp16: kept %d constant(s) in float32 because they hold values "
                    "beyond the float16 range (|x| > %g): %s", len(overflow), F16_MAX,
                    _listing(overflow))
    if underflow:
        log.info("--compress_to_fp16: kept %d constant(s) in float32 because float16 would flush "
                 "most of their values to zero: %s", len(underflow), _listing(underflow))
    log.debug("--compress_to_fp16: compressed %d constant(s)", compressed)
