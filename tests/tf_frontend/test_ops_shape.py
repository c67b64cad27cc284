"""shape.py translators vs real TF: reshaping, slicing, joining, padding, gathering, shape math."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, convert, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


X = rand((2, 3, 4, 5))
M = rand((4, 6), "m")
V = rand((5,), "v")
DYN = {"shapes": [(None, 3, 4, 5)], "feeds": [rand((3, 3, 4, 5), "x3")]}
I32 = np.int32


def flatten(x):  # the Keras Flatten/Reshape pattern: Reshape(x, Pack(Shape(x)[0], -1))
    return tf.reshape(x, tf.stack([tf.shape(x)[0], -1]))


def ss(fn):
    return lambda x: fn(x)


CASES = [
    # Reshape
    case("Reshape-minus-one", lambda x: tf.reshape(x, [2, -1, 5]), X),
    case("Reshape-flat", lambda x: tf.reshape(x, [-1]), X),
    case("Reshape-pack-static", flatten, X),
    case("Reshape-pack-dynamic-batch", flatten, X, **DYN),
    case("Reshape-zero-dim", lambda x: tf.reshape(x, [0, 4]), np.zeros((0, 2, 2), np.float32)),
    # Squeeze / ExpandDims
    case("Squeeze-dims", lambda x: tf.squeeze(x, [1, 2]), rand((2, 1, 1, 3))),
    case("Squeeze-neg-dims", lambda x: tf.squeeze(x, [-2]), rand((2, 3, 1, 3))),
    case("Squeeze-all", lambda x: tf.squeeze(x), rand((1, 3, 1, 2))),
    case("Squeeze-all-dynamic", lambda x: tf.squeeze(x), rand((2, 1, 1, 3)),
         shapes=[(None, 1, 1, 3)]),
    case("ExpandDims-0", lambda x: tf.expand_dims(x, 0), M),
    case("ExpandDims-neg1", lambda x: tf.expand_dims(x, -1), M),
    case("ExpandDims-mid", lambda x: tf.expand_dims(x, 1), M),
    case("ExpandDims-neg2", lambda x: tf.expand_dims(x, -2), M),
    # Transpose
    case("Transpose", lambda x: tf.transpose(x, [0, 3, 1, 2]), X),
    case("Transpose-dynamic-perm", lambda x, p: tf.transpose(x, p), X,
         np.array([3, 1, 0, 2], I32)),
    case("ConjugateTranspose", lambda x: raw.ConjugateTranspose(x=x, perm=[1, 0]), M),
    # joining and splitting
    case("ConcatV2-last", lambda x, y: tf.concat([x, y, x], -1), X, rand((2, 3, 4, 2))),
    case("ConcatV2-0", lambda x, y: tf.concat([x, y], 0), M, rand((1, 6))),
    case("Concat-v1", lambda x, y: raw.Concat(concat_dim=1, values=[x, y]), M, M),
    case("ConcatV2-dynamic-batch", lambda x: tf.concat([x, x * 2.0], 3), X, **DYN),
    case("Pack-0", lambda x, y: tf.stack([x, y]), M, M),
    case("Pack-neg1", lambda x, y: tf.stack([x, y, x], -1), M, M),
    case("Pack-1", lambda x: tf.stack([x], 1), M),
    case("Pack-scalars", lambda x: tf.stack([x[0, 0], x[1, 1], 3.0]), M),
    case("Unpack-1", lambda x: tf.unstack(x, axis=1), X),
    case("Unpack-neg1", lambda x: tf.unstack(x, axis=-1), M),
    case("Unpack-single", lambda x: tf.unstack(x, axis=0), rand((1, 3))),
    case("Split-3", lambda x: tf.split(x, 3, axis=-1), M),
    case("Split-1", lambda x: raw.Split(axis=0, value=x, num_split=1), M),
    case("SplitV", lambda x: tf.split(x, [1, -1, 2], axis=1), M),
    # StridedSlice
    case("SS-basic", lambda x: x[1:3, ::2], M),
    case("SS-shrink-ellipsis", lambda x: x[..., 1], X),
    case("SS-new-axis", lambda x: x[:, tf.newaxis, 1:], M),
    case("SS-negative-shrink", lambda x: x[-1], M),
    case("SS-reverse", lambda x: x[::-1, ::-2], M),
    case("SS-neg-begin-end", lambda x: x[-3:-1, 1:-1], M),
    case("SS-mixed", lambda x: x[1, ..., tf.newaxis, 2:4], X),
    case("SS-masks", lambda x: tf.strided_slice(x, [1, 1], [0, 3], [1, 1],
                                                begin_mask=1, end_mask=1), M),
    case("SS-out-of-range", lambda x: x[1:100, -100:2], M),
    case("SS-shape-dynamic", lambda x: tf.shape(x)[0] * 2, X, **DYN),
    case("SS-dynamic-begin", lambda x, b: tf.strided_slice(x, b, [4, 6]), M,
         np.array([1, 2], I32)),
    # Slice
    case("Slice", lambda x: tf.slice(x, [1, 0, 1, 0], [1, -1, 2, 3]), X),
    case("Slice-dynamic-begin", lambda x, b: tf.slice(x, b, [2, -1]), M, np.array([1, 3], I32)),
    case("Slice-dynamic-size", lambda x, s: tf.slice(x, [1, 1], s), M, np.array([-1, 2], I32)),
    # shape arithmetic
    case("Shape-i32", lambda x: tf.shape(x), X),
    case("Shape-i64", lambda x: tf.shape(x, out_type=tf.int64), X),
    case("Shape-dynamic", lambda x: tf.shape(x), X, **DYN),
    case("ShapeN", lambda x, y: raw.ShapeN(input=[x, y]), X, M),
    case("Size", lambda x: tf.size(x), X),
    case("Size-dynamic", lambda x: tf.size(x), X, **DYN),
    case("Rank", lambda x: tf.rank(x), X),
    case("Fill", lambda x: tf.fill([2, 3], x[0]), V),
    case("Fill-dynamic", lambda x: tf.fill(tf.shape(x), 1.5), X, **DYN),
    case("ZerosLike", lambda x: tf.zeros_like(x) + x, X),
    case("OnesLike-dynamic", lambda x: raw.OnesLike(x=x), X, **DYN),
    case("BroadcastTo", lambda x: tf.broadcast_to(x, [3, 4, 5]), V),
    case("Tile", lambda x: tf.tile(x, [2, 1, 3]), rand((2, 3, 1))),
    case("Range-int", lambda x: tf.range(2, 11, 3) + tf.cast(x[0], tf.int32), V),
    case("Range-float", lambda x: tf.range(0.5, 3.0, 0.25) + x[0], V),
    case("Range-dynamic", lambda n: tf.range(0, n, 2), np.array(9, I32)),
    # padding
    case("Pad", lambda x: tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]), X),
    case("PadV2", lambda x: tf.pad(x, [[1, 0], [0, 3]], constant_values=-2.5), M),
    case("MirrorPad-reflect", lambda x: tf.pad(x, [[1, 2], [2, 1]], mode="REFLECT"), M),
    case("MirrorPad-symmetric", lambda x: tf.pad(x, [[1, 2], [2, 1]], mode="SYMMETRIC"), M),
    case("Pad-dynamic-paddings", lambda x, p: tf.pad(x, p), M, np.array([[1, 0], [2, 3]], I32)),
    case("Pad-dynamic-batch", lambda x: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), X, **DYN),
    # gathering
    case("GatherV2-axis1", lambda x: tf.gather(x, [3, 0, 0, 5], axis=1), M),
    case("GatherV2-2d-indices", lambda x: tf.gather(x, [[1, 2], [0, 3]], axis=0), M),
    case("GatherV2-neg-axis", lambda x: tf.gather(x, [2, 0], axis=-2), X),
    case("GatherV2-batch-dims", lambda x, i: tf.gather(x, i, axis=1, batch_dims=1), M,
         np.array([[0, 5], [1, 1], [2, 0], [3, 3]], I32)),
    case("GatherV2-dynamic-indices", lambda x, i: tf.gather(x, i), M, np.array([3, 1], I32)),
    case("Gather-v1", lambda x: raw.Gather(params=x, indices=[2, 1]), M),
    # reversing, block ops, one-hot, batch/space
    case("ReverseV2", lambda x: tf.reverse(x, [1, -1]), X),
    case("Reverse-v1", lambda x: raw.Reverse(tensor=x, dims=[True, False]), M),
    case("DepthToSpace", lambda x: tf.nn.depth_to_space(x, 2), rand((1, 3, 4, 8))),
    case("SpaceToDepth", lambda x: tf.nn.space_to_depth(x, 2), rand((1, 4, 6, 3))),
    case("OneHot", lambda i: tf.one_hot(i, 5, 2.0, -1.0), np.array([0, 4, 2, -1], I32)),
    case("OneHot-axis0", lambda i: tf.one_hot(i, 4, axis=0), np.array([[0, 3], [2, 1]], I32)),
    case("SpaceToBatchND", lambda x: tf.space_to_batch_nd(x, [2, 3], [[1, 1], [0, 1]]),
         rand((2, 4, 5, 3))),
    case("BatchToSpaceND", lambda x: tf.compat.v1.batch_to_space_nd(x, [2, 2], [[0, 1], [1, 0]]),
         rand((8, 3, 3, 2))),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_shape_op(build, arrays, kw):
    check(build, *arrays, **kw)


def test_rank_of_unknown_rank_input_is_computed():
    # The CPU plugin cannot run a dynamic-rank Parameter: check the translation only.
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, None, name="x")
        raw.Rank(input=x, name="r")
    ir = convert(graph.as_graph_def().SerializeToString(), ["r:0"])
    assert [op.type for op in ir].count("ShapeOf") == 2


def test_shape_subgraph_folds_when_static():
    out = check(flatten, X)
    assert set(out.types) == {"Parameter", "Const", "Reshape", "Result"}


def test_shape_subgraph_stays_dynamic_with_dynamic_batch():
    out = check(flatten, X, **DYN)
    assert out.types["ShapeOf"] == 1 and out.types["StridedSlice"] == 1


def _clip_and_unstack(boxes, n):
    # the OD API's PadOrClipBoxList then unstack (TF2 Faster R-CNN's first stage): a box list
    # sliced to a computed count, padded back, split into its four coordinates
    kept = tf.slice(boxes, [0, 0], tf.stack([tf.minimum(tf.shape(boxes)[0], n), -1]))
    padded = tf.pad(kept, tf.stack([[0, tf.maximum(n - tf.shape(kept)[0], 0)], [0, 0]]))
    return tf.unstack(padded, num=4, axis=-1)


def test_computed_slice_bounds_keep_the_rank():
    # the slice's end is computed: its rank, and the dim it leaves whole, are still known, so
    # an unstack along a negative axis converts
    check(_clip_and_unstack, rand((7, 4)), np.array(5, I32), shapes=[(None, 4), ()])
    check(_clip_and_unstack, rand((3, 4)), np.array(5, I32), shapes=[(None, 4), ()])


def test_strided_slice_masks_are_lists():
    out = check(lambda x: x[1, ..., tf.newaxis, 2:4], X)
    op = next(op for op in out.ir if op.type == "StridedSlice")
    assert op.attrs["shrink_axis_mask"] == [1, 0, 0, 0]
    assert op.attrs["ellipsis_mask"] == [0, 1, 0, 0]
    assert op.attrs["new_axis_mask"] == [0, 0, 1, 0]
