"""ragged.py translators vs real TF: RaggedTensorToTensor (row splits, value row ids, fixed
widths, inner dims) and RaggedTensorToSparse."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


VALUES = rand((7,), "rv")
SPLITS = np.array([0, 2, 2, 6, 7], np.int64)        # rows of 2, 0, 4, 1
ROWIDS = np.array([0, 0, 2, 2, 2, 2, 3], np.int64)


def from_splits(v, s):
    return tf.RaggedTensor.from_row_splits(v, s, validate=False)


def to_sparse(v, s):
    sparse = from_splits(v, s).to_sparse()
    return sparse.indices, sparse.values, sparse.dense_shape


CASES = [
    case("RaggedTensorToTensor-splits", lambda v, s: from_splits(v, s).to_tensor(), VALUES,
         SPLITS),
    case("RaggedTensorToTensor-default", lambda v, s: from_splits(v, s).to_tensor(-1.0), VALUES,
         SPLITS),
    case("RaggedTensorToTensor-int32-splits-int", lambda v, s: from_splits(v, s).to_tensor(),
         np.arange(7, dtype=np.int32), SPLITS.astype(np.int32)),
    case("RaggedTensorToTensor-width-crop", lambda v, s: from_splits(v, s).to_tensor(
        shape=[None, 3]), VALUES, SPLITS),
    case("RaggedTensorToTensor-width-pad", lambda v, s: from_splits(v, s).to_tensor(
        shape=[4, 6]), VALUES, SPLITS),
    case("RaggedTensorToTensor-inner-dims", lambda v, s: from_splits(v, s).to_tensor(),
         rand((7, 3), "rv3"), SPLITS),
    case("RaggedTensorToTensor-rowids", lambda v, r: raw.RaggedTensorToTensor(
        shape=-1, values=v, default_value=0.5, row_partition_tensors=[tf.constant(5, tf.int64), r],
        row_partition_types=["FIRST_DIM_SIZE", "VALUE_ROWIDS"]), VALUES, ROWIDS),
    case("RaggedTensorToSparse", to_sparse, VALUES, SPLITS),
    case("RaggedTensorToSparse-int32", to_sparse,
         np.arange(5, dtype=np.int64), np.array([0, 0, 3, 5], np.int32)),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_ragged_op(build, arrays, kw):
    check(build, *arrays, **kw)
