"""sparse.py translators vs real TF: SparseToDense, SparseTensorDenseAdd, SparseTensorDenseMatMul,
SparseReshape, SparseFillEmptyRows."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


IDX = np.array([[0, 1], [2, 0], [2, 3], [3, 3]], np.int64)
VALS = np.array([1.5, -2.0, 3.0, 0.25], np.float32)
DUP_IDX = np.array([[0, 1], [2, 0], [0, 1]], np.int64)


def fill_empty_rows(shape):
    def build(i, v):
        return raw.SparseFillEmptyRows(indices=i, values=v, dense_shape=shape, default_value=-1.0)
    return build


CASES = [
    case("SparseToDense-no-entries", lambda i, v: raw.SparseToDense(
        sparse_indices=i, output_shape=[2, 3], sparse_values=v, default_value=1.0),
         np.zeros((0, 2), np.int64), np.zeros((0,), np.float32)),
    case("SparseToDense", lambda i, v: raw.SparseToDense(
        sparse_indices=i, output_shape=[4, 5], sparse_values=v, default_value=0.0), IDX, VALS),
    case("SparseToDense-default-and-scalar-value", lambda i: raw.SparseToDense(
        sparse_indices=i, output_shape=[4, 4], sparse_values=7, default_value=-1), IDX),
    case("SparseToDense-1d", lambda i, v: raw.SparseToDense(
        sparse_indices=i, output_shape=[6], sparse_values=v, default_value=0.5),
         np.array([0, 3, 5], np.int32), np.array([1.0, 2.0, 3.0], np.float32)),
    case("SparseToDense-scalar-index", lambda: raw.SparseToDense(
        sparse_indices=tf.constant(2), output_shape=[4], sparse_values=1.0, default_value=0.0)),
    case("SparseToDense-dynamic-shape", lambda i, v, s: raw.SparseToDense(
        sparse_indices=i, output_shape=s, sparse_values=v, default_value=0.0), IDX, VALS,
         np.array([5, 4], np.int64)),
    case("SparseTensorDenseAdd", lambda i, v, b: raw.SparseTensorDenseAdd(
        a_indices=i, a_values=v, a_shape=[4, 4], b=b), IDX, VALS, rand((4, 4), "b")),
    case("SparseTensorDenseMatMul", lambda i, v, b: raw.SparseTensorDenseMatMul(
        a_indices=i, a_values=v, a_shape=[4, 4], b=b), IDX, VALS, rand((4, 3), "mb")),
    case("SparseTensorDenseMatMul-adjoint-duplicates", lambda i, v, b: raw.SparseTensorDenseMatMul(
        a_indices=i, a_values=v, a_shape=[3, 2], b=b, adjoint_a=True, adjoint_b=True),
         DUP_IDX, VALS[:3], rand((5, 3), "mb2")),
    case("SparseReshape", lambda i, s: raw.SparseReshape(
        input_indices=i, input_shape=s, new_shape=[2, -1, 2]), IDX, np.array([4, 4], np.int64)),
    case("SparseReshape-flatten", lambda i: raw.SparseReshape(
        input_indices=i, input_shape=[4, 4], new_shape=[16]), IDX),
    case("SparseReshape-3d-to-2d", lambda i: raw.SparseReshape(
        input_indices=i, input_shape=[2, 3, 4], new_shape=[6, 4]),
         np.array([[0, 0, 1], [1, 2, 3], [1, 0, 0]], np.int64)),
    case("SparseFillEmptyRows", fill_empty_rows([5, 4]), IDX, VALS),
    case("SparseFillEmptyRows-unordered-3d", fill_empty_rows([4, 2, 3]),
         np.array([[2, 1, 0], [0, 0, 2], [2, 0, 1]], np.int64),
         np.array([1.0, 2.0, 3.0], np.float32)),
    case("SparseFillEmptyRows-none-empty", fill_empty_rows([2, 3]),
         np.array([[0, 2], [1, 1]], np.int64), np.array([4.0, 5.0], np.float32)),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_sparse_op(build, arrays, kw):
    check(build, *arrays, **kw)
