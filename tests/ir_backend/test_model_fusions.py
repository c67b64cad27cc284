"""The fusions that keep tfconv's IR no larger than ovc's on issue 10's model classes, each on a
small real TF graph: TCN's dilated Conv1D (SpaceToBatch form), layer norm, Dense on a rank-3/4
tensor (tensordot), channels-last Dense after a convolution (ConvNeXt), fake-quantized weights,
and an input scale before a convolution (Keras' Rescaling). Every IR runs in OpenVINO (CPU, f32)
and is compared with TensorFlow; the whole networks are in the zoo (tests/test_models.py).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("tensorflow")

from ovrun import rel_err, run_ir  # noqa: E402
from passhelp import LAYOUTS, check, const, conv, convert, rand, tf, tf_net  # noqa: E402


def _tf_ops(net) -> set[str]:
    return {op.type for op in net.graph.get_operations()}


def _check_3d(net, ir, x: np.ndarray, tol: float = 1e-5) -> None:
    """``check`` for a rank-3 input (fed as it is in both layouts)."""
    [expected] = net.run(x)
    [actual] = run_ir(ir.xml, [x])
    assert rel_err(actual, expected) <= tol


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dilated_conv1d_is_one_convolution(tmp_path, layout):
    """Causal dilated Conv1D (Pad, SpaceToBatchND, conv, BatchToSpaceND) -> one Convolution
    with dilations [1, 4], no Reshape or Transpose left but the input's."""
    def build(x):
        y = tf.pad(x, [[0, 0], [8, 0], [0, 0]])
        w = const((3, 5, 6), "w", scale=0.4)
        y = tf.nn.relu(tf.nn.convolution(y, w, padding="VALID", dilations=[4]))
        y = tf.pad(y, [[0, 0], [4, 0], [0, 0]])
        return tf.nn.convolution(y, const((3, 6, 4), "w2", scale=0.4), padding="VALID",
                                 dilations=[2], name="out")

    net = tf_net(tmp_path, build, (None, 40, 5))
    assert {"SpaceToBatchND", "BatchToSpaceND"} <= _tf_ops(net)
    ir = convert(net, tmp_path / layout, layout)
    for n in (1, 3):
        _check_3d(net, ir, rand((n, 40, 5), "x"))
    convs = ir.graph.ops_of_type("Convolution")
    assert sorted(tuple(c.attrs["dilations"]) for c in convs) == [(1, 2), (1, 4)]
    types = ir.types()
    assert types["Reshape"] == 0 and types["Transpose"] <= 2, types


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layer_norm_is_mvn(tmp_path, layout):
    """moments + batch_normalization over the last axis -> MVN + Multiply + Add."""
    def build(x):
        mean, var = tf.nn.moments(x, [-1], keepdims=True)
        return tf.nn.batch_normalization(x, mean, var, const((8,), "beta"),
                                         const((8,), "gamma", low=0.5), 1e-5, name="out")

    net = tf_net(tmp_path, build, (None, 7, 8))
    ir = convert(net, tmp_path / layout, layout)
    _check_3d(net, ir, rand((2, 7, 8), "x", scale=3.0))
    types = ir.types()
    assert types["MVN"] == 1 and types["ReduceMean"] == 0 and types["Sqrt"] == 0, types
    [mvn] = ir.graph.ops_of_type("MVN")
    assert mvn.attrs["eps_mode"] == "inside_sqrt" and mvn.attrs["normalize_variance"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_tensordot_is_one_matmul(tmp_path, layout):
    """Dense on (batch, tokens, C) with a dynamic batch: no ShapeOf arithmetic, one MatMul."""
    def build(x):
        y = tf.tensordot(x, const((8, 6), "w"), axes=[[2], [0]])
        return tf.nn.bias_add(y, const((6,), "b"), name="out")

    net = tf_net(tmp_path, build, (None, 5, 8))
    assert "Prod" in _tf_ops(net)
    ir = convert(net, tmp_path / layout, layout)
    for n in (1, 4):
        _check_3d(net, ir, rand((n, 5, 8), "x"))
    types = ir.types()
    assert types["MatMul"] == 1 and types["ShapeOf"] == 0 and types["Reshape"] == 0, types


@pytest.mark.parametrize("layout", LAYOUTS)
def test_channels_last_dense_after_conv_is_1x1_conv(tmp_path, layout):
    """conv -> Dense on the NHWC feature map -> conv: the Dense runs as a 1x1 Convolution in
    NCHW, no Transpose between the convolutions."""
    def build(x):
        y = conv(x, 3, 6, "c1", bias=True)
        y = tf.nn.relu(tf.tensordot(y, const((6, 5), "w"), axes=[[3], [0]]))
        return tf.identity(conv(y, 5, 4, "c2"), name="out")

    net = tf_net(tmp_path, build, (2, 9, 6, 3))
    ir = convert(net, tmp_path / layout, layout)
    check(net, ir, rand((2, 9, 6, 3), "x"))
    assert ir.inner_transposes() == []
    assert ir.types()["Convolution"] == 3 and ir.types()["MatMul"] == 0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fake_quantized_conv_weights_are_int8(tmp_path, layout):
    """FakeQuant on constant conv weights -> integer levels -> Convert [-> Subtract zero point]
    -> Multiply (ovc's form): i8 for a symmetric range, u8 and a zero point otherwise; on MatMul
    weights -> a folded f32 constant. TF's outputs are reproduced."""
    w = (0.3 * np.random.default_rng(3).standard_normal((3, 3, 3, 4))).astype(np.float32)
    lo, hi = w.min(axis=(0, 1, 2)) - 1e-3, w.max(axis=(0, 1, 2)) + 1e-3
    amax = np.maximum(-lo, hi)
    wd = (0.3 * np.random.default_rng(4).standard_normal((4, 5))).astype(np.float32)

    def build(x):
        wq = tf.quantization.fake_quant_with_min_max_vars_per_channel(
            tf.constant(w), tf.constant(-amax), tf.constant(amax), narrow_range=True)
        y = tf.nn.relu(tf.nn.conv2d(x, wq, [1, 1, 1, 1], "SAME"))
        wq2 = tf.quantization.fake_quant_with_min_max_vars_per_channel(
            tf.constant(w[..., :1]), tf.constant(lo[:1]), tf.constant(hi[:1]))
        y = y + tf.nn.conv2d(x, wq2, [1, 1, 1, 1], "SAME")
        m = tf.reduce_mean(y, axis=[1, 2])
        wdq = tf.quantization.fake_quant_with_min_max_vars(
            tf.constant(wd), tf.constant(-1.0), tf.constant(1.2))
        return tf.matmul(m, wdq, name="out")

    net = tf_net(tmp_path, build, (2, 9, 6, 3))
    ir = convert(net, tmp_path / layout, layout)
    check(net, ir, rand((2, 9, 6, 3), "x"))
    types = ir.types()
    assert types["FakeQuantize"] == 0 and types["Convert"] == 2 and types["Subtract"] == 1, types
    levels = sorted((ir.producer(ir.graph.inputs(c.name)[0]).attrs["value"]
                     for c in ir.graph.ops_of_type("Convert")), key=lambda v: v.dtype.str)
    assert [v.dtype for v in levels] == [np.int8, np.uint8]
    assert np.abs(levels[0].astype(int)).max() <= 127


@pytest.mark.parametrize("layout", LAYOUTS)
def test_input_scale_folds_into_conv(tmp_path, layout):
    """x * (1/255) -> conv (Keras' Rescaling): the scale goes into the weights."""
    def build(x):
        return tf.identity(conv(x * (1.0 / 255), 3, 4, "c1", bias=True), name="out")

    net = tf_net(tmp_path, build, (2, 9, 6, 3))
    ir = convert(net, tmp_path / layout, layout)
    check(net, ir, rand((2, 9, 6, 3), "x", scale=255.0))
    assert ir.types()["Multiply"] == 0, ir.types()
