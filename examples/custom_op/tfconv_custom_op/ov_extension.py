"""The OpenVINO runtime extension for the ``SoftClip`` IR layer, in OpenVINO's Python ``Op`` API.

Load it with ``tfconv validate|classify|detect --extension tfconv_custom_op.ov_extension``, or in
Python::

    core = openvino.Core()
    for op in OPENVINO_EXTENSIONS:
        core.add_extension(op)
"""
from __future__ import annotations

import numpy as np
import openvino as ov

from .irops import OPSET, soft_clip_numpy


class SoftClip(ov.Op):
    """y = limit * tanh(x / limit), element-wise, f32."""

    class_type_info = ov.DiscreteTypeInfo("SoftClip", OPSET)

    def __init__(self, inputs=None, attrs=None) -> None:
        super().__init__(self, inputs)
        self._attrs = {"limit": 1.0}
        self._attrs.update(attrs or {})

    def get_type_info(self):
        return SoftClip.class_type_info

    def validate_and_infer_types(self) -> None:
        self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

    def visit_attributes(self, visitor) -> bool:
        visitor.on_attributes(self._attrs)
        return True

    def clone_with_new_inputs(self, new_inputs):
        return SoftClip(new_inputs, dict(self._attrs))

    def has_evaluate(self, *args) -> bool:
        return True

    def evaluate(self, outputs, inputs) -> bool:
        x = inputs[0].data
        result = soft_clip_numpy(x, float(self._attrs["limit"]))
        outputs[0].shape = result.shape
        outputs[0].data[...] = result
        return True


# What ``--extension tfconv_custom_op.ov_extension`` adds to the OpenVINO Core.
OPENVINO_EXTENSIONS = [SoftClip]
