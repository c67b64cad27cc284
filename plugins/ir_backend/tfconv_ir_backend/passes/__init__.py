"""IR passes of the OpenVINO backend, in run order: activation fusions (activations.py), layout,
fusions, then FP16 compression."""
from __future__ import annotations

from . import activations
from .dilation import fold_space_to_batch
from .fusion import fuse_linear, fuse_pad
from .layer_norm import fuse_layer_norm
from .layout import nchw_inputs, sink_transposes
from .preprocess import fold_preprocessing, preprocess_inputs
from .quant_weights import compress_fq_weights
from .same_pads import explicit_same_pads
from .simplify import (canonicalize, flatten_concats, fold_reshape_shapes, merge_duplicates,
                       transposes_to_reshapes)
from .tensordot import fold_tensordot

ALL = (canonicalize, *activations.ALL, nchw_inputs, sink_transposes, fold_reshape_shapes,
       transposes_to_reshapes, flatten_concats, merge_duplicates, fuse_pad, fuse_linear,
       fuse_layer_norm, fold_tensordot, fold_space_to_batch, compress_fq_weights,
       explicit_same_pads, preprocess_inputs, fold_preprocessing)
