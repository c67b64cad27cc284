"""reduce.py translators vs real TF: reductions with keep_dims and negative axes, ArgMax/ArgMin."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops
X = rand((2, 3, 4, 5))
B = rand((2, 3, 4), "b") > 0
# Ties: ArgMax/ArgMin must return the first extreme index, as TF does.
TIES = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [0, -1, 5, -1]], np.float32)


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


CASES = [
    case("Mean-spatial", lambda x: tf.reduce_mean(x, [1, 2]), X),
    case("Mean-keepdims", lambda x: tf.reduce_mean(x, [1, 2], keepdims=True), X),
    case("Mean-negative", lambda x: tf.reduce_mean(x, [-1, -3]), X),
    case("Mean-scalar-axis", lambda x: raw.Mean(input=x, axis=2), X),
    case("Mean-all", lambda x: tf.reduce_mean(x), X),
    case("Mean-no-axes", lambda x: raw.Mean(input=x, axis=tf.constant([], tf.int32)), X),
    case("Mean-dynamic-axes", lambda x, a: raw.Mean(input=x, axis=a, keep_dims=True), X,
         np.array([0, 3], np.int32)),
    case("Mean-dynamic-batch", lambda x: tf.reduce_mean(x, [1, 2], keepdims=True), X,
         shapes=[(None, 3, 4, 5)], feeds=[rand((3, 3, 4, 5), "b3")]),
    case("Sum", lambda x: tf.reduce_sum(x, [0, 2]), X),
    case("Max", lambda x: tf.reduce_max(x, -1, keepdims=True), X),
    case("Min", lambda x: tf.reduce_min(x, 1), X),
    case("Prod", lambda x: tf.reduce_prod(x + 1.0, 3), X),
    case("Sum-int", lambda x: tf.reduce_sum(x, 1), rand((3, 4), "i", -9, 9, np.int32)),
    case("All", lambda x: tf.reduce_all(x, 2), B),
    case("Any", lambda x: tf.reduce_any(x, [0, 1], keepdims=True), B),
    case("EuclideanNorm", lambda x: raw.EuclideanNorm(input=x, axis=[1, 3]), X),
    case("ArgMax", lambda x: tf.argmax(x, 1), TIES),
    case("ArgMax-axis0-i32", lambda x: tf.argmax(x, 0, output_type=tf.int32), TIES),
    case("ArgMin", lambda x: tf.argmin(x, -1), TIES),
    case("ArgMax-4d", lambda x: tf.argmax(x, -1), X),
    case("TopKV2", lambda x: tf.math.top_k(x, 3), X),
    case("TopKV2-ties", lambda x: tf.math.top_k(x, 2), TIES),
    case("TopKV2-dynamic-k", lambda x, k: tf.math.top_k(x, k), X, np.array(2, np.int32)),
    case("ArgMax-dynamic-batch", lambda x: tf.argmax(x, -1), X,
         shapes=[(None, 3, 4, 5)], feeds=[rand((3, 3, 4, 5), "b3")]),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_reduce_op(build, arrays, kw):
    check(build, *arrays, **kw)


# Large TopKV2s (the OD API sorts thousands of scores) become an unstable sort with TF's tie
# order restored; when the size is known only at run time, an If keeps the stable TopK for
# sizes whose tie-fixing key would overflow int32. Few distinct values: ties everywhere.
LEVELS = (rand((3, 3000), "levels", 0, 40).astype(np.int32) / 4).astype(np.float32)
LONG = (rand((50000,), "long", 0, 40).astype(np.int32) / 4).astype(np.float32)


def raw_top_k(index_type):
    return lambda x, k: raw.TopKV2(input=x, k=k, sorted=True, index_type=index_type)


@pytest.mark.parametrize(("build", "arrays", "kw", "fast", "branch"), [
    pytest.param(lambda x: tf.math.top_k(x, 3000), [LEVELS], {}, True, False, id="full-static"),
    pytest.param(lambda x: tf.math.top_k(x, 500), [LEVELS], {}, True, False, id="k500-static"),
    pytest.param(lambda x: tf.math.top_k(x, tf.shape(x)[-1]), [LEVELS],
                 {"shapes": [(None, None)]}, True, True, id="full-dynamic"),
    pytest.param(raw_top_k(tf.int64), [LEVELS[0], np.array(1000, np.int32)], {}, True, False,
                 id="dynamic-k-int64-index"),
    pytest.param(lambda x: tf.math.top_k(x, 40), [LEVELS], {}, False, False, id="small-k-stable"),
    pytest.param(lambda x: tf.math.top_k(x, tf.shape(x)[-1] // 5000), [LONG],
                 {"shapes": [(None,)]}, True, True, id="too-long-for-the-key"),
])
def test_top_k_large_keeps_tf_tie_order(build, arrays, kw, fast, branch):
    outcome = check(build, *arrays, **kw)
    assert ("If" in outcome.types) == branch, outcome.types
    types = set(outcome.types)
    for op in outcome.ir:  # an If's branches: the fast one sorts, the other is a stable TopK
        types |= {o.type for key in ("_then_body", "_else_body") if key in op.attrs
                  for o in op.attrs[key]}
    assert ("CumSum" in types) == fast, types
