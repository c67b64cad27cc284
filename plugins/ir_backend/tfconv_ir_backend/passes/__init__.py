"""IR passes of the OpenVINO backend, in run order: layout, fusions, then FP16 compression."""
from __future__ import annotations

from .fusion import fuse_linear, fuse_pad
from .layout import nchw_inputs, sink_transposes
from .preprocess import fold_preprocessing, preprocess_inputs
from .same_pads import explicit_same_pads
from .simplify import (canonicalize, flatten_concats, fold_reshape_shapes, fuse_swish,
                       merge_duplicates, transposes_to_reshapes)

ALL = (canonicalize, fuse_swish, nchw_inputs, sink_transposes, fold_reshape_shapes,
       transposes_to_reshapes, flatten_concats, merge_duplicates, fuse_pad, fuse_linear,
       explicit_same_pads, preprocess_inputs, fold_preprocessing)
