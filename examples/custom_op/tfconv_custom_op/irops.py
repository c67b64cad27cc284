"""The IR op ``SoftClip`` of the ``tfconv_custom_op`` opset: its shape and type rule and a numpy
evaluator (tfconv folds it on constant inputs), registered by ``tfconv_register_ir_ops``."""
from __future__ import annotations

import numpy as np

OPSET = "tfconv_custom_op"


def soft_clip_numpy(x: np.ndarray, limit: float) -> np.ndarray:
    return (np.float32(limit) * np.tanh(x / np.float32(limit))).astype(x.dtype)


def infer_soft_clip(attrs, inputs, values):
    """Element-wise: the output has the input's shape and element type."""
    return [(inputs[0].shape, inputs[0].dtype)]


def evaluate_soft_clip(attrs, values):
    return [soft_clip_numpy(values[0], attrs["limit"])]
