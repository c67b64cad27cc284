"""The TensorFlow op table: one small pure translator per TF op type, grouped by family.

Find a TF op's translator with ``grep -rn '"OpType"' ops/`` or ``tfconv ops``.
"""
from __future__ import annotations

from tfconv.translate import OpTable

TABLE = OpTable("tf")

from . import control, detection, elementwise, math, nn, quant, reduce, shape  # noqa: E402,F401  (fill TABLE)
from . import control_flow  # noqa: E402,F401  (TF1 loops, TensorArrays, conds)
from . import recurrent  # noqa: E402,F401  (RNN loops -> LSTM/GRU/RNNSequence, fused cells)
from . import ctc, image, linalg, lookup, misc, qdq, ragged, random, scatter, signal, sparse  # noqa: E402,F401  (issue 12 op coverage families)
from . import tensor_list  # noqa: E402,F401  (TF2 TensorLists, symbolic)
