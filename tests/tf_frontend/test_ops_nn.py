"""nn.py translators (convolutions, pooling, batch norm, LRN, softmax, resize) vs real TF."""
from __future__ import annotations

import pytest

from optest import check, rand, tf

raw = tf.raw_ops
NHWC_TO_NCHW, NCHW_TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


def w(shape, key="w"):
    return tf.constant(rand(shape, key))


def conv(f_shape, strides, padding, dilations=(1, 1), fmt="NHWC", **extra):
    s = [1, *strides, 1] if fmt == "NHWC" else [1, 1, *strides]
    d = [1, *dilations, 1] if fmt == "NHWC" else [1, 1, *dilations]
    return lambda x: raw.Conv2D(input=x, filter=w(f_shape), strides=s, padding=padding,
                                dilations=d, data_format=fmt, **extra)


def depthwise(f_shape, strides, padding, dilations=(1, 1), fmt="NHWC"):
    s = [1, *strides, 1] if fmt == "NHWC" else [1, 1, *strides]
    d = [1, *dilations, 1] if fmt == "NHWC" else [1, 1, *dilations]
    return lambda x: raw.DepthwiseConv2dNative(input=x, filter=w(f_shape), strides=s,
                                               padding=padding, dilations=d, data_format=fmt)


def pool(op, k, s, padding, fmt="NHWC"):
    ks = [1, *k, 1] if fmt == "NHWC" else [1, 1, *k]
    ss = [1, *s, 1] if fmt == "NHWC" else [1, 1, *s]
    arg = "value" if op == "AvgPool" else "input"
    return lambda x: getattr(raw, op)(**{arg: x}, ksize=ks, strides=ss, padding=padding,
                                      data_format=fmt)


def deconv(out_shape, f_shape, strides, padding, dynamic_batch=False):
    def build(x):
        sizes = tf.constant(out_shape, tf.int32)
        if dynamic_batch:  # as tf_keras builds it: Pack(Shape(x)[0], Shape(x)[1] * s, ...)
            shape = tf.shape(x)
            sizes = tf.stack([shape[0], shape[1] * strides[0], shape[2] * strides[1],
                              out_shape[3]])
        return raw.Conv2DBackpropInput(input_sizes=sizes, filter=w(f_shape), out_backprop=x,
                                       strides=[1, *strides, 1], padding=padding)
    return build


def batch_norm(op, eps, fmt="NHWC", training=False, c=5):
    def build(x):
        params = [tf.constant(rand((c,), k, 0.5, 1.5)) for k in ("g", "b", "m", "v")]
        params[1] = params[1] - 1.0
        if training:
            params[2] = params[3] = tf.constant([], tf.float32)
        return getattr(raw, op)(x=x, scale=params[0], offset=params[1], mean=params[2],
                                variance=params[3], epsilon=eps, data_format=fmt,
                                is_training=training)[0]
    return build


def batch_norm_inputs(x, g, b, m, v):
    return raw.FusedBatchNormV3(x=x, scale=g, offset=b, mean=m, variance=v, epsilon=1e-3,
                                is_training=False)[0]


def nchw(fn):
    """TF reference for an NCHW op: the NHWC op between transposes."""
    return lambda x: tf.transpose(fn(tf.transpose(x, NCHW_TO_NHWC)), NHWC_TO_NCHW)


X9 = rand((1, 9, 9, 3))
X8 = rand((1, 8, 8, 4), "x8")
X9C = rand((1, 3, 9, 9), "nchw")

CASES = [
    # Conv2D
    case("conv-same-s1", conv((3, 3, 3, 4), (1, 1), "SAME"), X9),
    case("conv-same-s2-odd", conv((3, 3, 3, 4), (2, 2), "SAME"), X9),
    case("conv-same-s2-even", conv((3, 3, 4, 2), (2, 2), "SAME"), X8),
    case("conv-same-k4-s2", conv((4, 4, 4, 2), (2, 2), "SAME"), X8),
    case("conv-valid-s1", conv((3, 3, 3, 4), (1, 1), "VALID"), X9),
    case("conv-valid-s2", conv((3, 3, 3, 4), (2, 2), "VALID"), X9),
    case("conv-valid-k7-s4", conv((7, 7, 3, 4), (4, 4), "VALID"), rand((1, 19, 19, 3))),
    case("conv-same-dil2", conv((3, 3, 3, 4), (1, 1), "SAME", (2, 2)), X9),
    case("conv-valid-dil2", conv((3, 3, 3, 4), (1, 1), "VALID", (2, 2)), X9),
    case("conv-same-s21-k35", conv((3, 5, 3, 4), (2, 1), "SAME"), X9),
    case("conv-1x1", conv((1, 1, 3, 6), (1, 1), "VALID"), X9),
    case("conv-explicit", conv((3, 3, 3, 4), (2, 2), "EXPLICIT",
                          explicit_paddings=[0, 0, 1, 2, 0, 1, 0, 0]), X9),
    case("conv-grouped", conv((3, 3, 2, 6), (1, 1), "SAME"), X8),
    case("conv-nchw-same-s2", conv((3, 3, 3, 4), (2, 2), "SAME", fmt="NCHW"), X9C),
    case("conv-nchw-valid-dil2", conv((3, 3, 3, 4), (1, 1), "VALID", (2, 2), fmt="NCHW"),
         X9C),
    case("conv-dynamic-batch", conv((3, 3, 3, 4), (2, 2), "SAME"), X9,
         shapes=[(None, 9, 9, 3)], feeds=[rand((2, 9, 9, 3), "b2")]),
    case("conv-dynamic-spatial", conv((3, 3, 3, 4), (2, 2), "SAME"), X9,
         shapes=[(None, None, None, 3)], feeds=[rand((2, 11, 10, 3), "b2")]),
    case("conv3d-same-s2", lambda x: raw.Conv3D(input=x, filter=w((3, 3, 3, 2, 4)),
                                                strides=[1, 2, 2, 2, 1], padding="SAME"),
         rand((1, 5, 6, 7, 2))),
    # Conv3DBackpropInputV2 (tf.nn.conv3d_transpose)
    case("deconv3d-same-s2", lambda x: tf.nn.conv3d_transpose(
        x, w((3, 3, 3, 2, 4)), [1, 6, 8, 10, 2], [1, 2, 2, 2, 1], "SAME"), rand((1, 3, 4, 5, 4))),
    case("deconv3d-valid-s122", lambda x: tf.nn.conv3d_transpose(
        x, w((2, 3, 3, 3, 4)), [1, 4, 9, 11, 3], [1, 1, 2, 2, 1], "VALID"),
        rand((1, 3, 4, 5, 4))),
    # DepthwiseConv2dNative
    case("dw-m1-same-s1", depthwise((3, 3, 3, 1), (1, 1), "SAME"), X9),
    case("dw-m2-same-s2", depthwise((3, 3, 3, 2), (2, 2), "SAME"), X9),
    case("dw-m1-valid-s2", depthwise((3, 3, 4, 1), (2, 2), "VALID"), X8),
    case("dw-m8-k7-s2", depthwise((7, 7, 3, 8), (2, 2), "SAME"), rand((1, 14, 14, 3))),
    case("dw-m2-dil2", depthwise((3, 3, 3, 2), (1, 1), "SAME", (2, 2)), X9),
    case("dw-nchw-m2", depthwise((3, 3, 3, 2), (2, 2), "SAME", fmt="NCHW"), X9C),
    case("dw-dynamic-batch", depthwise((3, 3, 3, 2), (1, 1), "SAME"), X9,
         shapes=[(None, 9, 9, 3)], feeds=[rand((2, 9, 9, 3), "b2")]),
    case("dw-atrous-space-to-batch",
         lambda x: tf.nn.depthwise_conv2d(x, w((3, 3, 3, 2)), [1, 1, 1, 1], "SAME",
                                          dilations=[2, 2]), rand((1, 10, 10, 3))),
    case("atrous-valid-odd",
         lambda x: tf.nn.depthwise_conv2d(x, w((3, 3, 3, 1)), [1, 1, 1, 1], "VALID",
                                          dilations=[3, 3]), rand((1, 13, 11, 3))),
    # Conv2DBackpropInput
    case("deconv-same-s2", deconv([1, 10, 10, 2], (3, 3, 2, 4), (2, 2), "SAME"),
         rand((1, 5, 5, 4))),
    case("deconv-same-s2-odd", deconv([1, 9, 9, 2], (3, 3, 2, 4), (2, 2), "SAME"),
         rand((1, 5, 5, 4))),
    case("deconv-valid-s2", deconv([1, 11, 11, 2], (3, 3, 2, 4), (2, 2), "VALID"),
         rand((1, 5, 5, 4))),
    case("deconv-valid-s2-extra", deconv([1, 12, 12, 2], (3, 3, 2, 4), (2, 2), "VALID"),
         rand((1, 5, 5, 4))),
    case("deconv-same-s1-k4", deconv([1, 5, 5, 2], (4, 4, 2, 4), (1, 1), "SAME"),
         rand((1, 5, 5, 4))),
    case("deconv-s3-k2", deconv([1, 15, 15, 2], (2, 2, 2, 4), (3, 3), "SAME"),
         rand((1, 5, 5, 4))),
    case("deconv-dynamic-batch", deconv([1, 10, 10, 2], (3, 3, 2, 4), (2, 2), "SAME", True),
         rand((1, 5, 5, 4)), shapes=[(None, 5, 5, 4)], feeds=[rand((2, 5, 5, 4), "b2")]),
    # pooling
    case("maxpool-k3-s2-same-odd", pool("MaxPool", (3, 3), (2, 2), "SAME"), X9),
    case("maxpool-k3-s2-same-even", pool("MaxPool", (3, 3), (2, 2), "SAME"), X8),
    case("maxpool-k2-s2-valid", pool("MaxPool", (2, 2), (2, 2), "VALID"), X9),
    case("maxpool-k3-s1-same", pool("MaxPool", (3, 3), (1, 1), "SAME"), X8),
    case("maxpool-nchw", pool("MaxPool", (3, 3), (2, 2), "SAME", "NCHW"), X9C),
    case("maxpool-dynamic-spatial", pool("MaxPool", (3, 3), (2, 2), "SAME"), X9,
         shapes=[(None, None, None, 3)], feeds=[rand((2, 10, 7, 3), "b2")]),
    case("maxpool-v2", lambda x: raw.MaxPoolV2(input=x, ksize=[1, 3, 3, 1],
                                               strides=[1, 2, 2, 1], padding="SAME"), X9),
    case("avgpool-k3-s2-same-odd", pool("AvgPool", (3, 3), (2, 2), "SAME"), X9),
    case("avgpool-k3-s1-same", pool("AvgPool", (3, 3), (1, 1), "SAME"), X8),
    case("avgpool-k5-s3-same", pool("AvgPool", (5, 5), (3, 3), "SAME"), X8),
    case("avgpool-k2-s2-valid", pool("AvgPool", (2, 2), (2, 2), "VALID"), X9),
    case("avgpool-nchw", pool("AvgPool", (3, 3), (2, 2), "SAME", "NCHW"), X9C),
    case("avgpool-dynamic-batch", pool("AvgPool", (3, 3), (2, 2), "SAME"), X9,
         shapes=[(None, 9, 9, 3)], feeds=[rand((2, 9, 9, 3), "b2")]),
    case("avgpool-dynamic-spatial", pool("AvgPool", (3, 3), (2, 2), "SAME"), X9,
         shapes=[(None, None, None, 3)], feeds=[rand((2, 10, 7, 3), "b2")]),
    case("maxpool3d", lambda x: raw.MaxPool3D(input=x, ksize=[1, 2, 3, 3, 1],
                                              strides=[1, 2, 2, 2, 1], padding="SAME"),
         rand((1, 5, 6, 7, 2))),
    case("avgpool3d", lambda x: raw.AvgPool3D(input=x, ksize=[1, 2, 3, 3, 1],
                                              strides=[1, 2, 2, 2, 1], padding="SAME"),
         rand((1, 5, 6, 7, 2))),
    # batch norm
    case("fbn-v1", batch_norm("FusedBatchNorm", 1e-3), rand((2, 4, 4, 5))),
    case("fbn-v2", batch_norm("FusedBatchNormV2", 1.001e-5), rand((2, 4, 4, 5))),
    case("fbn-v3", batch_norm("FusedBatchNormV3", 1e-4), rand((2, 4, 4, 5))),
    case("fbn-v3-nchw", batch_norm("FusedBatchNormV3", 1e-3, "NCHW"), rand((2, 5, 4, 3))),
    case("fbn-v3-training", batch_norm("FusedBatchNormV3", 1e-3, training=True),
         rand((2, 4, 4, 5))),
    case("fbn-v3-nonconst", batch_norm_inputs, rand((2, 4, 4, 5)), rand((5,), "g", 0.5, 1.5),
         rand((5,), "b"), rand((5,), "m"), rand((5,), "v", 0.5, 1.5)),
    case("fbn-dynamic-batch", batch_norm("FusedBatchNormV3", 1e-3), rand((2, 4, 4, 5)),
         shapes=[(None, 4, 4, 5)]),
    # softmax, LRN
    case("softmax-2d", tf.nn.softmax, rand((3, 10), "s", -4, 4)),
    case("softmax-4d", tf.nn.softmax, rand((2, 3, 4, 10), "s", -4, 4)),
    case("log-softmax", tf.nn.log_softmax, rand((3, 10), "s", -4, 4)),
    case("lrn", lambda x: tf.nn.lrn(x, 2, 1.0, 1e-3, 0.75), rand((1, 5, 5, 8), "l", -5, 5)),
    case("lrn-big-alpha", lambda x: tf.nn.lrn(x, 1, 2.0, 0.5, 0.5), rand((1, 3, 3, 4))),
    # resize
    case("resize-bilinear", lambda x: raw.ResizeBilinear(images=x, size=[7, 9]), X8),
    case("resize-bilinear-align", lambda x: raw.ResizeBilinear(
        images=x, size=[15, 15], align_corners=True), X8),
    case("resize-bilinear-half-pixel", lambda x: raw.ResizeBilinear(
        images=x, size=[12, 5], half_pixel_centers=True), X8),
    case("resize-nearest", lambda x: raw.ResizeNearestNeighbor(images=x, size=[16, 16]), X8),
    case("resize-nearest-down", lambda x: raw.ResizeNearestNeighbor(images=x, size=[5, 3]), X8),
    case("resize-nearest-align", lambda x: raw.ResizeNearestNeighbor(
        images=x, size=[13, 11], align_corners=True), X8),
    case("resize-nearest-half-pixel", lambda x: raw.ResizeNearestNeighbor(
        images=x, size=[13, 11], half_pixel_centers=True), X8),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_nn_op(build, arrays, kw):
    check(build, *arrays, **kw)


def test_conv_emits_nchw_convolution_between_transposes():
    out = check(conv((3, 3, 3, 4), (2, 2), "SAME"), X9)
    assert out.types["Convolution"] == 1 and out.types["Transpose"] == 2
    conv_op = next(op for op in out.ir if op.type == "Convolution")
    assert conv_op.attrs["pads_begin"] == [1, 1] and conv_op.attrs["pads_end"] == [1, 1]
    weights = out.ir.op(out.ir.inputs(conv_op.name)[1].node)
    assert weights.type == "Const" and weights.attrs["value"].shape == (4, 3, 3, 3)


def test_same_padding_is_asymmetric_at_the_end():
    out = check(conv((3, 3, 4, 2), (2, 2), "SAME"), X8)
    conv_op = next(op for op in out.ir if op.type == "Convolution")
    assert conv_op.attrs["pads_begin"] == [0, 0] and conv_op.attrs["pads_end"] == [1, 1]


def test_nchw_conv_has_no_transposes():
    out = check(conv((3, 3, 3, 4), (1, 1), "SAME", fmt="NCHW"), X9C)
    assert "Transpose" not in out.types


def test_depthwise_weights_layout():
    out = check(depthwise((3, 3, 3, 2), (1, 1), "SAME"), X9)
    op = next(op for op in out.ir if op.type == "GroupConvolution")
    assert out.ir.op(out.ir.inputs(op.name)[1].node).attrs["value"].shape == (3, 2, 1, 3, 3)


def test_batch_norm_folds_to_multiply_add():
    out = check(batch_norm("FusedBatchNormV3", 1e-3), rand((2, 4, 4, 5)))
    assert out.types["Multiply"] == 1 and out.types["Add"] == 1
    assert not {"Sqrt", "Divide", "Subtract"} & set(out.types)


def test_nchw_reference_agrees_with_transposed_nhwc():
    # The NCHW cases above compare with TF's own NCHW kernels; make sure they mean the same.
    nhwc = pool("AvgPool", (3, 3), (2, 2), "SAME")
    check(pool("AvgPool", (3, 3), (2, 2), "SAME", "NCHW"), X9C, reference=nchw(nhwc))
