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


def rel_err(actual: np.ndarray, expected: np.ndarray) -> float:
    """max|actual - expected| / max|expected|."""
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) or 1.0
    return float(np.max(np.abs(actual.astype(np.float64) - expected))) / scale


def ir_layer_types(xml: Path) -> list[str]:
    import xml.etree.ElementTree as ET
    return [layer.get("type") for layer in ET.parse(xml).getroot().iter("layer")]
