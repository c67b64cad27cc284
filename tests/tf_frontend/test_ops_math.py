"""math.py translators vs real TF: MatMul, BatchMatMul (V1-V3), Einsum, Cumsum."""
from __future__ import annotations

import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


A, B = rand((3, 4), "a"), rand((4, 5), "b")
BA, BB = rand((2, 3, 4), "ba"), rand((2, 4, 5), "bb")

CASES = [
    case("MatMul", lambda a, b: tf.matmul(a, b), A, B),
    case("MatMul-ta", lambda a, b: raw.MatMul(a=a, b=b, transpose_a=True), rand((4, 3)), B),
    case("MatMul-tb", lambda a, b: raw.MatMul(a=a, b=b, transpose_b=True), A, rand((5, 4))),
    case("MatMul-const-weights", lambda a: tf.matmul(a, tf.constant(B)) + 1.0, A),
    case("MatMul-dynamic-batch", lambda a: tf.matmul(a, tf.constant(B)), A,
         shapes=[(None, 4)], feeds=[rand((7, 4), "a7")]),
    case("BatchMatMul", lambda a, b: raw.BatchMatMul(x=a, y=b), BA, BB),
    case("BatchMatMul-adj", lambda a, b: raw.BatchMatMul(x=a, y=b, adj_x=True, adj_y=True),
         rand((2, 4, 3)), rand((2, 5, 4))),
    case("BatchMatMulV2-broadcast", lambda a, b: raw.BatchMatMulV2(x=a, y=b),
         rand((2, 1, 3, 4)), rand((3, 4, 5))),
    case("BatchMatMulV3", lambda a, b: raw.BatchMatMulV3(x=a, y=b, Tout=tf.float32), BA, BB),
    # Einsum: the equations of Keras MultiHeadAttention (projections, scores, context), a
    # dynamic batch and an ellipsis
    case("Einsum-mha-projection", lambda a: tf.einsum("abc,cde->abde", a, tf.constant(
        rand((4, 2, 3), "w"))), BA),
    case("Einsum-mha-scores", lambda q, k: tf.einsum("aecd,abcd->acbe", k, q),
         rand((2, 5, 3, 4), "q"), rand((2, 6, 3, 4), "k")),
    case("Einsum-mha-context", lambda s, v: tf.einsum("acbe,aecd->abcd", s, v),
         rand((2, 3, 5, 6), "s"), rand((2, 6, 3, 4), "v")),
    case("Einsum-mha-output", lambda a: tf.einsum("abcd,cde->abe", a, tf.constant(
        rand((3, 4, 7), "o"))), rand((2, 5, 3, 4), "c"), shapes=[(None, 5, 3, 4)]),
    case("Einsum-ellipsis", lambda a, b: tf.einsum("...ij,...jk->...ik", a, b), BA, BB),
    case("Cumsum", lambda x: tf.cumsum(x, 1), BA),
    case("Cumsum-exclusive-reverse", lambda x: tf.cumsum(x, -1, exclusive=True, reverse=True),
         BA),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_math_op(build, arrays, kw):
    check(build, *arrays, **kw)
