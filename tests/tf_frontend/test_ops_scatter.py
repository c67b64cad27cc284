"""scatter.py translators vs real TF: GatherNd, ScatterNd, TensorScatter*, segment reductions
(sorted, unsorted, sparse), DynamicPartition, DynamicStitch."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


P = rand((3, 4, 2), "p")
IDX2 = np.array([[0, 1], [2, 3], [1, 0]], np.int32)
IDS = np.array([0, 0, 2, 2, 3], np.int32)          # sorted, segment 1 empty
UIDS = np.array([3, 0, 3, 1, 0], np.int64)         # unsorted, segment 2 empty
DATA = rand((5, 3), "d", -2, 2)
IDATA = rand((5, 3), "id", -9, 9, np.int32)

CASES = [
    *(case(op, lambda d, x, i, op=op: getattr(raw, op)(data=d, indices=x, segment_ids=i,
                                                      num_segments=4),
           DATA, np.array([4, 0, 1], np.int32), np.array([0, 3, 3], np.int32))
      for op in ["SparseSegmentSumWithNumSegments", "SparseSegmentSqrtNWithNumSegments"]),
    # empty tensors, where TF allows them
    case("GatherNd-no-indices", lambda p, i: raw.GatherNd(params=p, indices=i),
         rand((3, 4), "e"), np.zeros((0, 2), np.int32)),
    case("ScatterNd-no-updates", lambda i, u: raw.ScatterNd(indices=i, updates=u, shape=[4]),
         np.zeros((0, 1), np.int32), np.zeros((0,), np.float32)),
    case("UnsortedSegmentSum-no-data", lambda d, i: raw.UnsortedSegmentSum(
        data=d, segment_ids=i, num_segments=3), np.zeros((0, 2), np.float32),
         np.zeros((0,), np.int32)),
    case("TensorScatterUpdate-no-updates", lambda t, i, u: raw.TensorScatterUpdate(
        tensor=t, indices=i, updates=u), rand((3,), "e3"), np.zeros((0, 1), np.int32),
         np.zeros((0,), np.float32)),
    case("GatherNd-elements", lambda p, i: raw.GatherNd(params=p, indices=i),
         P, np.array([[0, 1, 1], [2, 3, 0]], np.int32)),
    case("GatherNd-slices", lambda p, i: raw.GatherNd(params=p, indices=i), P, IDX2),
    case("GatherNd-rows-int64", lambda p, i: raw.GatherNd(params=p, indices=i), P,
         np.array([[[2], [0]], [[1], [1]]], np.int64)),
    case("GatherNd-int", lambda p, i: raw.GatherNd(params=p, indices=i),
         rand((4, 3), "gi", 0, 50, np.int32), np.array([[3], [0]], np.int32)),
    case("GatherNd-dynamic-batch", lambda p, i: raw.GatherNd(params=p, indices=i), P, IDX2,
         shapes=[(None, 4, 2), (None, 2)]),
    case("ScatterNd", lambda i, u: raw.ScatterNd(indices=i, updates=u, shape=[3, 4]),
         np.array([[0, 1], [2, 3], [0, 1]], np.int32), np.array([1.0, 2.0, 4.0], np.float32)),
    case("ScatterNd-slices", lambda i, u: raw.ScatterNd(indices=i, updates=u, shape=[4, 2, 3]),
         np.array([[3], [1]], np.int64), rand((2, 2, 3), "su")),
    case("ScatterNd-dynamic-shape", lambda i, u, s: raw.ScatterNd(indices=i, updates=u, shape=s),
         np.array([[1], [0]], np.int32), np.array([5, 7], np.int32), np.array([4], np.int32)),
    *(case(op, lambda t, i, u, op=op: getattr(raw, op)(tensor=t, indices=i, updates=u),
           rand((4, 3), op), np.array([[1], [3], [1]], np.int32), rand((3, 3), op + "u"))
      for op in ["TensorScatterAdd", "TensorScatterSub", "TensorScatterMax", "TensorScatterMin"]),
    case("ScatterNdNonAliasingAdd", lambda t, i, u: raw.ScatterNdNonAliasingAdd(
        input=t, indices=i, updates=u), rand((4, 3), "na"), np.array([[1], [3], [1]], np.int32),
         rand((3, 3), "nau")),
    case("TensorScatterUpdate", lambda t, i, u: raw.TensorScatterUpdate(
        tensor=t, indices=i, updates=u), P, IDX2, rand((3, 2), "tu")),
    case("TensorScatterUpdate-int", lambda t, i, u: raw.TensorScatterUpdate(
        tensor=t, indices=i, updates=u), np.arange(6, dtype=np.int64),
        np.array([[5], [0]], np.int64), np.array([-1, -2], np.int64)),
    # sorted segments (the empty segment 1 is 0 in every kind)
    *(case(op, lambda d, i, op=op: getattr(raw, op)(data=d, segment_ids=i), DATA, IDS)
      for op in ["SegmentSum", "SegmentMean", "SegmentMax", "SegmentMin", "SegmentProd"]),
    case("SegmentMax-int-1d", lambda d, i: raw.SegmentMax(data=d, segment_ids=i),
         np.array([4, -3, 9, 2, 2], np.int32), IDS),
    # unsorted segments (empty segments: 0, 1, lowest, highest)
    *(case(op, lambda d, i, op=op: getattr(raw, op)(data=d, segment_ids=i, num_segments=4),
           DATA, UIDS)
      for op in ["UnsortedSegmentSum", "UnsortedSegmentProd", "UnsortedSegmentMax",
                 "UnsortedSegmentMin"]),
    case("UnsortedSegmentMax-int", lambda d, i: raw.UnsortedSegmentMax(
        data=d, segment_ids=i, num_segments=4), IDATA, UIDS),
    *(case(f"{op}-negative-ids-dropped", lambda d, i, op=op: getattr(raw, op)(
        data=d, segment_ids=i, num_segments=3), DATA, np.array([2, -1, 0, -3, 2], np.int32))
      for op in ["UnsortedSegmentSum", "UnsortedSegmentMax", "UnsortedSegmentProd"]),
    case("UnsortedSegmentSum-2d-ids", lambda d, i: raw.UnsortedSegmentSum(
        data=d, segment_ids=i, num_segments=3), rand((2, 3, 2), "u2"),
        np.array([[0, 2, 0], [1, 2, 2]], np.int32)),
    case("UnsortedSegmentSum-dynamic-num", lambda d, i, n: raw.UnsortedSegmentSum(
        data=d, segment_ids=i, num_segments=n), DATA, UIDS, np.int32(6)),
    # sparse segments: rows picked by indices first
    *(case(op, lambda d, x, i, op=op: getattr(raw, op)(data=d, indices=x, segment_ids=i),
           DATA, np.array([4, 0, 1, 1, 3], np.int32), np.array([0, 0, 1, 3, 3], np.int32))
      for op in ["SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN"]),
    case("SparseSegmentMeanWithNumSegments", lambda d, x, i: raw.SparseSegmentMeanWithNumSegments(
        data=d, indices=x, segment_ids=i, num_segments=5), DATA,
        np.array([2, 2, 4], np.int64), np.array([0, 2, 2], np.int64)),
    case("SparseSegmentSum-embedding-1d", lambda d, x, i: raw.SparseSegmentSum(
        data=d, indices=x, segment_ids=i), rand((6,), "e1"), np.array([5, 1], np.int32),
        np.array([0, 1], np.int32)),
    # partition and stitch
    case("DynamicPartition", lambda d, p: raw.DynamicPartition(
        data=d, partitions=p, num_partitions=3), DATA, np.array([2, 0, 2, 2, 0], np.int32)),
    case("DynamicPartition-2d", lambda d, p: raw.DynamicPartition(
        data=d, partitions=p, num_partitions=2), rand((2, 3, 4), "dp"),
        np.array([[1, 0, 1], [1, 1, 0]], np.int32)),
    case("DynamicStitch", lambda a, b, x, y: raw.DynamicStitch(indices=[a, b], data=[x, y]),
         np.array([0, 4, 2], np.int32), np.array([[1], [3]], np.int32), rand((3, 2), "s1"),
         rand((2, 1, 2), "s2")),
    case("ParallelDynamicStitch", lambda a, b, x, y: raw.ParallelDynamicStitch(
        indices=[a, b], data=[x, y]), np.array([1, 2], np.int32), np.array([0], np.int32),
        np.array([5, 6], np.int32), np.array([7], np.int32)),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_scatter_op(build, arrays, kw):
    check(build, *arrays, **kw)


def test_partition_then_stitch_round_trip():
    # the canonical pair: partition rows, transform each part, stitch them back in order
    def build(x, p):
        parts = tf.dynamic_partition(x, p, 2)
        positions = tf.dynamic_partition(tf.range(tf.shape(x)[0]), p, 2)
        return tf.dynamic_stitch(positions, [parts[0] * 2.0, parts[1] - 1.0])
    check(build, rand((6, 2), "rt"), np.array([1, 0, 0, 1, 1, 0], np.int32),
          shapes=[(None, 2), (None,)])
