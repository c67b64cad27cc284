"""Run an IR in the real OpenVINO runtime (f32 inference precision) and compare with TF."""
from __future__ import annotations

from pathlib import Path

import numpy as np

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
_CORE = None


def core():
    global _CORE
    if _CORE is None:
        import openvino as ov
        _CORE = ov.Core()
    return _CORE


def run_ir(xml: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Compile ``xml`` on CPU in f32 and run it on ``feeds`` (in model input order)."""
    compiled = core().compile_model(str(xml), "CPU", F32)
    result = compiled(feeds)
    return [np.asarray(result[out]) for out in compiled.outputs]


def exact_int8() -> bool:
    """Whether this CPU has VNNI/AMX int8 dot products. Without them (AVX2 only) OpenVINO's CPU
    plugin runs a FakeQuantize network's int8 convolutions with 16-bit saturating pair sums
    (vpmaddubsw), so every IR of such a net, ovc's too, drifts from TF's float simulation of
    the quantization (a random-weight quantized MobileNet: 1.5e-2 on an AMD EPYC with AVX2)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def rel_err(actual: np.ndarray, expected: np.ndarray) -> float:
    """max|actual - expected| / max|expected|."""
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) or 1.0
    return float(np.max(np.abs(actual.astype(np.float64) - expected))) / scale


def ir_layer_types(xml: Path) -> list[str]:
    import xml.etree.ElementTree as ET
    return [layer.get("type") for layer in ET.parse(xml).getroot().iter("layer")]
