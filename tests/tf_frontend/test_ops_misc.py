"""misc.py translators vs real TF: inverse hyperbolics, Atan2, finiteness tests, Xlogy family,
bitwise ops and shifts, Rint, ApproximateEqual, L2Loss, ToBool, Bucketize, Roll,
ReverseSequence, LinSpace, InvertPermutation, UnravelIndex, Unique, ListDiff, Bincount,
BroadcastArgs."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


X = rand((2, 3, 4), "x", -3, 3)
SPECIAL = np.array([[0.0, 1.5, -np.inf, np.inf, np.nan, -2.0, 3e38, -0.0]], np.float32)
# atan2 on every quadrant, both axes and the origin
ATAN_Y = np.array([1, 1, -1, -1, 0, 0, 2, -2, 0, 0.5], np.float32)
ATAN_X = np.array([1, -1, 1, -1, 1, -1, 0, 0, 0, -3], np.float32)
ZEROS_X = np.array([[0.0, 2.0, 0.0, -1.5], [1.0, 0.0, 3.0, 0.0]], np.float32)
ZEROS_Y = np.array([[0.0, 0.5, 2.0, 0.0], [np.inf, np.nan, 0.25, 4.0]], np.float32)
INTS_A = np.array([[0, 5, -7, 12, 255, -1]], np.int32)
INTS_B = np.array([[3, 9, 6, -12, 15, 1]], np.int32)
SHIFTS = np.array([[0, 1, 3, 7, 4, 30]], np.int32)
U8 = np.array([0, 1, 127, 128, 255], np.uint8)
TIES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -3.7], np.float32)


def reverse_sequence(seq_dim, batch_dim):
    def build(x, lengths):
        return raw.ReverseSequence(input=x, seq_lengths=lengths, seq_dim=seq_dim,
                                   batch_dim=batch_dim)
    return build


CASES = [
    # empty tensors, where TF allows them
    case("Bincount-empty", lambda a: raw.Bincount(arr=a, size=4, weights=tf.zeros([0])),
         np.zeros((0,), np.int32)),
    case("Roll-empty", lambda x: raw.Roll(input=x, shift=1, axis=1), np.zeros((0, 3), np.float32)),
    case("IsNan-empty", lambda x: raw.IsNan(x=x), np.zeros((0, 2), np.float32)),
    case("Xlogy-empty", lambda x, y: raw.Xlogy(x=x, y=y), np.zeros((0,), np.float32),
         np.zeros((0,), np.float32)),
    case("ReverseSequence-empty", reverse_sequence(1, 0), np.zeros((0, 4), np.float32),
         np.zeros((0,), np.int64)),
    case("Asinh", lambda x: raw.Asinh(x=x), X),
    case("Acosh", lambda x: raw.Acosh(x=x), rand((2, 5), "ac", 1.0, 6.0)),
    case("Atanh", lambda x: raw.Atanh(x=x), rand((2, 5), "at", -0.95, 0.95)),
    case("Atan2-quadrants", lambda y, x: raw.Atan2(y=y, x=x), ATAN_Y, ATAN_X),
    case("Atan2-broadcast", lambda y, x: raw.Atan2(y=y, x=x), X, rand((4,), "ax", -2, 2)),
    case("IsFinite", lambda x: raw.IsFinite(x=x), SPECIAL),
    case("IsInf", lambda x: raw.IsInf(x=x), SPECIAL),
    case("IsNan", lambda x: raw.IsNan(x=x), SPECIAL),
    case("Xlogy", lambda x, y: raw.Xlogy(x=x, y=y), ZEROS_X, np.abs(ZEROS_Y) + 0.5),
    case("Xlogy-zero-y", lambda x, y: raw.Xlogy(x=x, y=y), ZEROS_X,
         np.where(ZEROS_X == 0, 0.0, 2.0).astype(np.float32)),
    case("Xlog1py", lambda x, y: raw.Xlog1py(x=x, y=y), ZEROS_X, rand((2, 4), "l1p", 0, 3)),
    case("Xdivy", lambda x, y: raw.Xdivy(x=x, y=y), ZEROS_X, np.float32(0.0)),
    case("Xdivy-broadcast", lambda x, y: raw.Xdivy(x=x, y=y), ZEROS_X,
         rand((4,), "xd", 0.5, 2)),
    case("MulNoNan", lambda x, y: raw.MulNoNan(x=x, y=y), ZEROS_Y, ZEROS_X),
    case("Rint", lambda x: raw.Rint(x=x), TIES),
    case("ApproximateEqual", lambda x, y: raw.ApproximateEqual(x=x, y=y, tolerance=0.01),
         np.array([1.0, 1.005, 2.0, -3.0], np.float32),
         np.array([1.0, 1.0, 2.5, -3.009], np.float32)),
    case("L2Loss", lambda x: raw.L2Loss(t=x), X),
    case("CheckNumericsV2", lambda x: raw.CheckNumericsV2(tensor=x, message="m") * 2.0, X),
    case("ToBool-scalar", lambda x: raw.ToBool(input=x), np.float32(0.0)),
    case("ToBool-scalar-int", lambda x: raw.ToBool(input=x), np.int32(-3)),
    case("ToBool-tensor", lambda x: raw.ToBool(input=x), X),
    case("ToBool-empty", lambda x: raw.ToBool(input=x), np.zeros((2, 0), np.float32)),
    # bitwise
    *(case(op, lambda a, b, op=op: getattr(raw, op)(x=a, y=b), INTS_A, INTS_B)
      for op in ["BitwiseAnd", "BitwiseOr", "BitwiseXor"]),
    case("BitwiseAnd-u8-broadcast", lambda a, b: raw.BitwiseAnd(x=a, y=b), U8, np.uint8(0x0F)),
    case("BitwiseXor-int64", lambda a, b: raw.BitwiseXor(x=a, y=b), INTS_A.astype(np.int64),
         INTS_B.astype(np.int64)),
    case("Invert", lambda a: raw.Invert(x=a), INTS_A),
    case("Invert-u8", lambda a: raw.Invert(x=a), U8),
    case("LeftShift", lambda a, b: raw.LeftShift(x=a, y=b), np.abs(INTS_A) % 64, SHIFTS),
    case("RightShift-signed", lambda a, b: raw.RightShift(x=a, y=b), INTS_A * 1000, SHIFTS),
    case("RightShift-u8", lambda a, b: raw.RightShift(x=a, y=b), U8, np.uint8(3)),
    # utilities
    case("Bucketize", lambda x: raw.Bucketize(input=x, boundaries=[-1.0, 0.0, 0.5, 2.0]),
         np.array([[-3.0, -1.0, -0.5, 0.0, 0.4, 0.5, 2.0, 7.0]], np.float32)),
    case("Bucketize-int", lambda x: raw.Bucketize(input=x, boundaries=[0.0, 10.0]),
         np.array([-5, 0, 3, 10, 11], np.int32)),
    case("Roll", lambda x: raw.Roll(input=x, shift=2, axis=1), X),
    case("Roll-multi-negative", lambda x: raw.Roll(input=x, shift=[-1, 5], axis=[-1, 0]), X),
    case("Roll-repeated-axis", lambda x: raw.Roll(input=x, shift=[1, 2], axis=[2, 2]), X),
    case("ReverseSequence", reverse_sequence(1, 0), rand((3, 5, 2), "rs"),
         np.array([5, 2, 0], np.int64)),
    case("ReverseSequence-batch-last", reverse_sequence(0, 2), rand((4, 2, 3), "rs2"),
         np.array([1, 4, 3], np.int32)),
    case("LinSpace", lambda a, b: raw.LinSpace(start=a, stop=b, num=7), np.float32(-1.0),
         np.float32(2.5)),
    case("LinSpace-one", lambda a, b: raw.LinSpace(start=a, stop=b, num=1), np.float32(3.0),
         np.float32(9.0)),
    case("LinSpace-dynamic-num", lambda n: raw.LinSpace(start=0.5, stop=-4.0, num=n),
         np.int32(11)),
    case("InvertPermutation", lambda p: raw.InvertPermutation(x=p),
         np.array([3, 0, 4, 1, 2], np.int32)),
    case("InvertPermutation-int64", lambda p: raw.InvertPermutation(x=p),
         np.array([1, 2, 0], np.int64)),
    case("UnravelIndex", lambda i, d: raw.UnravelIndex(indices=i, dims=d),
         np.array([0, 7, 11, 23], np.int32), np.array([2, 3, 4], np.int32)),
    case("UnravelIndex-scalar", lambda i: raw.UnravelIndex(indices=i, dims=[5, 6]), np.int64(17)),
    case("Unique", lambda x: raw.Unique(x=x), np.array([4, 1, 4, 7, 1, 1, 9], np.int32)),
    case("Unique-float-int64-idx", lambda x: raw.Unique(x=x, out_idx=tf.int64),
         np.array([0.5, -1.0, 0.5, 2.0], np.float32)),
    case("UniqueWithCounts", lambda x: raw.UniqueWithCounts(x=x),
         np.array([3, 3, 2, 3, 8, 2], np.int64)),
    case("ListDiff", lambda x, y: raw.ListDiff(x=x, y=y), np.array([1, 2, 3, 4, 5, 6], np.int32),
         np.array([1, 3, 5], np.int32)),
    case("ListDiff-nothing-left", lambda x, y: raw.ListDiff(x=x, y=y, out_idx=tf.int64),
         np.array([2.0, 2.0], np.float32), np.array([2.0], np.float32)),
    case("Bincount", lambda a, w: raw.Bincount(arr=a, size=6, weights=w),
         np.array([1, 1, 3, 0, 5, 7, 1], np.int32), rand((7,), "bw", 0, 2)),
    case("Bincount-counts", lambda a: raw.Bincount(arr=a, size=4, weights=tf.zeros([0], tf.int32)),
         np.array([[0, 2], [2, 3]], np.int32)),
    case("NthElement", lambda x: raw.NthElement(input=x, n=2), X),
    case("NthElement-reverse-dynamic-n", lambda x, n: raw.NthElement(input=x, n=n, reverse=True),
         X, np.int32(0)),
    case("InTopKV2", lambda p, t: raw.InTopKV2(predictions=p, targets=t, k=2),
         np.array([[0.1, 0.5, 0.3, 0.5], [0.9, 0.2, 0.2, 0.2], [np.nan, 1, 2, 3]], np.float32),
         np.array([2, 3, 0], np.int32)),
    case("InTopK-ties", lambda p, t: raw.InTopK(predictions=p, targets=t, k=1),
         np.array([[0.5, 0.5, 0.1], [0.2, 0.7, 0.7]], np.float32), np.array([1, 0], np.int64)),
    case("HistogramFixedWidth", lambda v: raw.HistogramFixedWidth(
        values=v, value_range=[-1.0, 2.0], nbins=5), rand((4, 6), "hv", -2.3, 3.1)),
    case("HistogramFixedWidth-int64", lambda v, r: raw.HistogramFixedWidth(
        values=v, value_range=r, nbins=4, dtype=tf.int64), rand((30,), "hi", 0, 20, np.int32),
         np.array([2, 12], np.int32)),
    case("CumulativeLogsumexp", lambda x: raw.CumulativeLogsumexp(x=x, axis=1), X),
    case("CumulativeLogsumexp-exclusive-reverse", lambda x: raw.CumulativeLogsumexp(
        x=x, axis=-1, exclusive=True, reverse=True), X),
    case("DenseBincount", lambda a: tf.math.bincount(a, minlength=6, maxlength=6),
         np.array([1, 1, 3, 0, 5, 7, 1], np.int32)),
    case("DenseBincount-weights", lambda a, w: raw.DenseBincount(input=a, size=5, weights=w),
         np.array([1, 1, 3, 0, 4], np.int32), rand((5,), "dw", 0, 2)),
    case("DenseBincount-rows-binary", lambda a: raw.DenseBincount(
        input=a, size=4, weights=tf.zeros([0]), binary_output=True),
         np.array([[0, 2, 2], [3, 3, 1]], np.int64)),
    case("BroadcastArgs", lambda a, b: raw.BroadcastArgs(s0=a, s1=b),
         np.array([2, 1, 4], np.int32), np.array([3, 1], np.int32)),
    case("BroadcastArgs-zero-dim", lambda a, b: raw.BroadcastArgs(s0=a, s1=b),
         np.array([1, 0], np.int64), np.array([5, 1, 1], np.int64)),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_misc_op(build, arrays, kw):
    check(build, *arrays, **kw)


def test_unique_values_alone():
    # only the first output used (OpenVINO's Unique(sorted=false) gets it wrong then)
    check(lambda x: raw.Unique(x=x)[0] * 2, np.array([3, 1, 3, 0, 2], np.int32))


def test_unique_with_dynamic_length():
    # the unique count is only known at run time; a longer feed than the example
    check(lambda x: raw.UniqueWithCounts(x=x), np.array([1, 1], np.int32), shapes=[(None,)],
          feeds=[np.array([5, 4, 5, 5, 0, 4, 9], np.int32)])
