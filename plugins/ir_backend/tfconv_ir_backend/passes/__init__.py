"""IR passes of the OpenVINO backend, in run order: layout, fusions, then FP16 compression."""
from __future__ import annotations

from .fusion import fuse_linear, fuse_pad
from .layout import nchw_inputs, sink_transposes

ALL = (nchw_inputs, sink_transposes, fuse_pad, fuse_linear)
