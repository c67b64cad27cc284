"""linalg.py translators vs real TF: MatrixBandPart, MatrixDiag (V1, V3), MatrixDiagPart,
MatrixSetDiag, MatrixInverse, MatrixSolve, MatrixTriangularSolve, Cross, and the Batch* names."""
from __future__ import annotations

import numpy as np
import pytest

from optest import CORE, check, compare, convert, rand, tf, to_ov_model

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


def band(lower, upper):
    return lambda x: raw.MatrixBandPart(input=x, num_lower=lower, num_upper=upper)


def well_conditioned(shape, key):
    # a random matrix plus n * identity: far from singular
    n = shape[-1]
    return (rand(shape, key) + n * np.eye(n, dtype=np.float32)).astype(np.float32)


M = rand((2, 4, 5), "m", -3, 3)
TALL = rand((5, 3), "tall", -3, 3)

CASES = [
    case("MatrixDiagV2", lambda d: raw.MatrixDiagV2(
        diagonal=d, k=0, num_rows=-1, num_cols=-1, padding_value=-2.0), rand((2, 3), "dv2")),
    case("MatrixDiagPartV2", lambda x: raw.MatrixDiagPartV2(input=x, k=0, padding_value=0.0), M),
    case("MatrixSetDiagV2", lambda x, d: raw.MatrixSetDiagV2(input=x, diagonal=d, k=0), M,
         rand((2, 4), "sd2")),
    case("MatrixBandPart-empty-batch", band(1, 0), np.zeros((0, 3, 3), np.float32)),
    case("MatrixBandPart-lower", band(1, 0), M),
    case("MatrixBandPart-upper-all", band(0, -1), M),
    case("MatrixBandPart-all", band(-1, -1), TALL),
    case("MatrixBandPart-tridiagonal-int64", lambda x: raw.MatrixBandPart(
        input=x, num_lower=tf.constant(1, tf.int64), num_upper=tf.constant(1, tf.int64)), TALL),
    case("MatrixBandPart-dynamic-bounds", lambda x, lo, up: raw.MatrixBandPart(
        input=x, num_lower=lo, num_upper=up), M, np.int32(2), np.int32(-1)),
    case("MatrixBandPart-dynamic-shape", band(0, 2), M, shapes=[(None, None, None)]),
    case("MatrixBandPart-int", band(0, 0), rand((3, 3), "bi", -9, 9, np.int32)),
    case("MatrixDiag", lambda d: raw.MatrixDiag(diagonal=d), rand((2, 3), "d")),
    case("MatrixDiag-with-inf", lambda d: raw.MatrixDiag(diagonal=d),
         np.array([np.inf, -1.0, np.nan], np.float32)),
    case("MatrixDiagV3", lambda d: tf.linalg.diag(d), rand((2, 2, 4), "d3")),
    case("MatrixDiagV3-padding", lambda d: raw.MatrixDiagV3(
        diagonal=d, k=0, num_rows=-1, num_cols=-1, padding_value=7.0), rand((3,), "dp")),
    case("MatrixDiagPart", lambda x: raw.MatrixDiagPart(input=x), M),
    case("MatrixDiagPart-tall", lambda x: raw.MatrixDiagPart(input=x), TALL),
    case("MatrixDiagPartV3", lambda x: tf.linalg.diag_part(x), rand((2, 3, 3), "dp3")),
    case("MatrixSetDiag-wide", lambda x, d: raw.MatrixSetDiag(input=x, diagonal=d), M,
         rand((2, 4), "sd")),
    case("MatrixSetDiagV3-tall", lambda x, d: tf.linalg.set_diag(x, d), TALL,
         rand((3,), "sd3")),
    case("MatrixInverse", lambda x: raw.MatrixInverse(input=x),
         well_conditioned((2, 4, 4), "inv")),
    case("MatrixInverse-adjoint", lambda x: raw.MatrixInverse(input=x, adjoint=True),
         well_conditioned((3, 3), "adj")),
    case("MatrixSolve", lambda a, b: raw.MatrixSolve(matrix=a, rhs=b),
         well_conditioned((2, 4, 4), "sa"), rand((2, 4, 3), "sb")),
    case("MatrixSolve-adjoint", lambda a, b: raw.MatrixSolve(matrix=a, rhs=b, adjoint=True),
         well_conditioned((3, 3), "sa2"), rand((3, 2), "sb2")),
    case("MatrixTriangularSolve-lower", lambda a, b: raw.MatrixTriangularSolve(
        matrix=a, rhs=b, lower=True), well_conditioned((2, 4, 4), "ta"), rand((2, 4, 2), "tb")),
    case("MatrixTriangularSolve-upper-adjoint", lambda a, b: raw.MatrixTriangularSolve(
        matrix=a, rhs=b, lower=False, adjoint=True), well_conditioned((3, 3), "ta2"),
         rand((3, 5), "tb2")),
    case("Cross", lambda a, b: raw.Cross(a=a, b=b), rand((2, 4, 3), "ca"), rand((2, 4, 3), "cb")),
    case("Cross-int", lambda a, b: raw.Cross(a=a, b=b), rand((5, 3), "ci", -9, 9, np.int32),
         rand((5, 3), "cj", -9, 9, np.int32)),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_linalg_op(build, arrays, kw):
    check(build, *arrays, rtol=1e-4, **kw)


OLD_NAMES = [
    pytest.param(lambda x: raw.MatrixInverse(input=x, name="op"), "BatchMatrixInverse",
                 well_conditioned((2, 2, 3, 3), "binv"), id="BatchMatrixInverse"),
    pytest.param(lambda x: raw.MatrixBandPart(input=x, num_lower=1, num_upper=0, name="op"),
                 "BatchMatrixBandPart", M, id="BatchMatrixBandPart"),
    pytest.param(lambda x: raw.MatrixDiag(diagonal=x, name="op"), "BatchMatrixDiag",
                 rand((2, 3), "bd"), id="BatchMatrixDiag"),
    pytest.param(lambda x: raw.MatrixDiagPart(input=x, name="op"), "BatchMatrixDiagPart", M,
                 id="BatchMatrixDiagPart"),
    pytest.param(lambda x: raw.MatrixSetDiag(input=x, diagonal=tf.ones([2, 4]), name="op"),
                 "BatchMatrixSetDiag", M, id="BatchMatrixSetDiag"),
]


@pytest.mark.parametrize(("build", "old_name", "x"), OLD_NAMES)
def test_old_batch_names(build, old_name, x):
    # TF removed the Batch* spellings at GraphDef version 14 and cannot build them any more: the
    # graph is the current op with the node's op renamed, compared with the current op's result
    graph = tf.Graph()
    with graph.as_default():
        ph = tf.compat.v1.placeholder(tf.float32, x.shape, name="x0")
        out = build(ph)
    with tf.compat.v1.Session(graph=graph) as sess:
        expected = sess.run(out, {ph: x})
    gd = graph.as_graph_def()
    node = next(n for n in gd.node if n.name == "op")
    node.op = old_name
    node.attr.pop("adjoint", None)
    ir = convert(gd.SerializeToString(), ["op:0"])
    model, _ = to_ov_model(ir)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    compare(expected, compiled([x])[compiled.output(0)], 1e-4)
