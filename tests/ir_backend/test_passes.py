"""The IR passes (layout, fusions, simplifications, FP16) on real TF graphs.

Each graph is built with ``tf.compat.v1`` and frozen to a .pb, converted with
``tfconv.convert_model`` + ``tfconv.save_model``, run by OpenVINO (CPU, f32) and compared with
TensorFlow on the same input (max|ov - tf| / max|tf| <= 1e-5); the IR graph's structure is
checked too. Both layouts are covered: the default NCHW input and ``disable_nhwc_to_nchw``.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("tensorflow")

from passhelp import (LAYOUTS, check, const, conv, convert, rand, tf,  # noqa: E402
                      tf1, tf_net)

# Non-square, and pads that differ per side and per axis: an H/W swap in a pass must show.
SHAPE = (2, 9, 6, 3)


def assert_layout_edges(ir, in_shape=SHAPE, out_rank: int = 4, input_uses: int = 1) -> None:
    """The only Transposes are at the edges of the graph.

    Default layout: the Parameter is NCHW and nothing transposes it. NHWC layout: the Parameter
    stays NHWC and each of its ``input_uses`` convolution branches starts with one
    ``(0, 3, 1, 2)`` Transpose right after it. A 4-D output keeps TF's NHWC layout through
    exactly one final ``(0, 2, 3, 1)`` Transpose; a lower-rank output needs none.
    """
    n, h, w, c = in_shape
    if ir.layout == "nchw":
        assert ir.param_shapes() == [(n, c, h, w)]
        assert ir.input_transposes() == [], ir.types()
    else:
        assert ir.param_shapes() == [(n, h, w, c)]
        ins = ir.input_transposes()
        assert len(ins) == input_uses, ir.types()
        assert all(ir.perm(t) == (0, 3, 1, 2) for t in ins)
    outs = ir.output_transposes()
    if out_rank == 4:
        assert len(outs) == 1 and ir.perm(outs[0]) == (0, 2, 3, 1), ir.types()
    else:
        assert outs == [], ir.types()
    assert ir.inner_transposes() == [], ir.types()
    assert ir.xml_types()["Transpose"] == len(ir.transposes())


def convert_checked(net, tmp_path, layout, *arrays, tol=1e-5, **options):
    ir = convert(net, tmp_path / layout, layout, **options)
    check(net, ir, *arrays, tol=tol)
    return ir


def bn(y, channels: int):
    """Inference-mode ``FusedBatchNormV3`` with random statistics."""
    out, _, _ = tf1.nn.fused_batch_norm(
        y, const((channels,), "bn_scale", 1.0, low=0.5), const((channels,), "bn_offset"),
        mean=const((channels,), "bn_mean"), variance=const((channels,), "bn_var", 1.0, low=0.5),
        epsilon=1e-3, is_training=False, name="bn")
    return out


# -- layout: transpose sinking, NCHW inputs, concat axes --------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_conv_bias_relu_chain(tmp_path, layout):
    """conv -> bias -> relu -> conv -> relu: no Transpose but the layout edges."""
    def build(x):
        y = tf.nn.relu(conv(x, 3, 4, "c1", bias=True))
        return tf.nn.relu(conv(y, 4, 5, "c2"), name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    types = ir.types()
    assert (types["Convolution"], types["Relu"], types["Add"]) == (2, 2, 1), types


@pytest.mark.parametrize("layout", LAYOUTS)
def test_residual_add(tmp_path, layout):
    """Add(relu, conv2(relu)): both Add inputs come NCHW, no cancelling Transpose pair is left;
    the 4-D output goes back to NHWC through one final Transpose."""
    def build(x):
        y = tf.nn.relu(conv(x, 3, 4, "c1", bias=True))
        return tf.add(y, conv(y, 4, 4, "c2"), name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    assert ir.types()["Add"] == 2


@pytest.mark.parametrize("layout", LAYOUTS)
def test_channel_concat_becomes_axis_1(tmp_path, layout):
    """Concat on TF's channel axis 3 of two conv branches runs NCHW on axis 1."""
    def build(x):
        a = tf.nn.relu(conv(x, 3, 4, "a"))
        b = tf.nn.relu(conv(x, 3, 2, "b", k=1))
        return conv(tf.concat([a, b], axis=3, name="cat"), 6, 5, "c")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    # NHWC: the branches share one input Transpose (merge_duplicates).
    assert_layout_edges(ir, input_uses=1)
    [cat] = ir.graph.ops_of_type("Concat")
    assert cat.attrs["axis"] % 4 == 1


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nested_concat_is_flattened(tmp_path, layout):
    def build(x):
        a = conv(x, 3, 2, "a")
        b = conv(x, 3, 3, "b", k=1)
        c = conv(x, 3, 1, "c")
        inner = tf.concat([a, b], axis=3, name="inner")
        outer = tf.concat([inner, c], axis=-1, name="outer")
        return conv(outer, 6, 4, "d")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir, input_uses=1)
    [cat] = ir.graph.ops_of_type("Concat")
    assert cat.attrs["axis"] % 4 == 1
    assert len(ir.graph.inputs(cat.name)) == 3


# -- fusions: batch norm, pads, identities, subtract ------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fused_batch_norm_folds_into_conv(tmp_path, layout):
    """conv -> FusedBatchNormV3 (inference): the scale goes into the weights, one Add stays."""
    def build(x):
        return tf.nn.relu(bn(conv(x, 3, 4, "c1"), 4), name="out")

    net = tf_net(tmp_path, build, SHAPE)
    assert "FusedBatchNormV3" in [n.op for n in net.graph.as_graph_def().node]
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    types = ir.types()
    assert (types["Convolution"], types["Add"], types["Multiply"]) == (1, 1, 0), types


@pytest.mark.parametrize("layout", LAYOUTS)
def test_conv_bias_batch_norm_leaves_one_add(tmp_path, layout):
    """conv -> bias_add -> BN: the bias is scaled too and both Adds merge into one."""
    def build(x):
        return bn(conv(x, 3, 4, "c1", bias=True), 4)

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    types = ir.types()
    assert (types["Convolution"], types["Add"], types["Multiply"]) == (1, 1, 0), types


PAD = [[0, 0], [1, 2], [3, 0], [0, 0]]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["conv", "depthwise"])
def test_zero_pad_folds_into_conv(tmp_path, layout, kind):
    def build(x):
        y = tf.pad(x, PAD, name="pad")
        if kind == "depthwise":
            return tf.nn.depthwise_conv2d(y, const((3, 3, 3, 2), "dw"), [1, 1, 1, 1], "VALID")
        return conv(y, 3, 4, "c1", padding="VALID")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    assert ir.types()["Pad"] == 0
    [c] = ir.graph.ops_of_type("Convolution", "GroupConvolution")
    assert list(c.attrs["pads_begin"]) == [1, 3] and list(c.attrs["pads_end"]) == [2, 0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_zero_pad_adds_to_same_padding(tmp_path, layout):
    """A Pad before a static-shape stride-2 SAME conv adds to the conv's explicit pads."""
    shape = (2, 9, 7, 3)

    def build(x):
        return tf.nn.conv2d(tf.pad(x, PAD), const((3, 3, 3, 4), "w"), 2, "SAME", name="out")

    net = tf_net(tmp_path, build, shape)
    ir = convert_checked(net, tmp_path, layout, rand(shape, "x"))
    assert_layout_edges(ir, shape)
    assert ir.types()["Pad"] == 0


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("stride", [2, 3])
def test_zero_pad_before_dynamic_same_conv(tmp_path, layout, stride):
    """With dynamic spatial dims and stride > 1 the SAME pads are not known at conversion time.
    OpenVINO's CPU plugin folds a zero Pad into an adjacent same_upper convolution and then
    computes the pads from the unpadded input (9x6 padded 1+2 / 3+0: 5x4 instead of TF's 6x5 at
    stride 2), so the IR computes the SAME pads from the padded shape and merges them into the
    Pad: the convolution is explicit with zero pads and no same_* conv follows a Pad."""
    def build(x):
        return tf.nn.conv2d(tf.pad(x, PAD), const((3, 3, 3, 4), "w"), stride, "SAME", name="out")

    net = tf_net(tmp_path, build, (None, None, None, 3))
    ir = convert(net, tmp_path / layout, layout)
    assert ir.types()["Pad"] == 1
    [c] = ir.graph.ops_of_type("Convolution")
    assert c.attrs["auto_pad"] == "explicit" and list(c.attrs["pads_begin"]) == [0, 0]
    assert ir.producer(ir.graph.inputs(c.name)[0]).type == "Pad"
    for shape in [(2, 9, 6, 3), (1, 8, 11, 3), (1, 5, 5, 3)]:
        check(net, ir, rand(shape, "x"))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dynamic_same_stride_1_conv_pads_statically(tmp_path, layout):
    """Stride 1 SAME pads are (k - 1) * d whatever the size: explicit, and a Pad before folds."""
    def build(x):
        return tf.nn.conv2d(tf.pad(x, PAD), const((3, 2, 3, 4), "w"), 1, "SAME",
                            dilations=[1, 1, 2, 1], name="out")

    net = tf_net(tmp_path, build, (None, None, None, 3))
    ir = convert(net, tmp_path / layout, layout)
    assert ir.types()["Pad"] == 0
    [c] = ir.graph.ops_of_type("Convolution")
    assert c.attrs["auto_pad"] == "explicit"
    # H: kernel 3 pads 1/1; W: kernel 2 dilated 2 spans 3, pads 1/1; plus the Pad's 1/2 and 3/0
    assert list(c.attrs["pads_begin"]) == [1 + 1, 3 + 1] and list(c.attrs["pads_end"]) == [2 + 1, 0 + 1]
    for shape in [(2, 9, 6, 3), (1, 4, 7, 3)]:
        check(net, ir, rand(shape, "x"))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pad_before_max_pool_stays(tmp_path, layout):
    def build(x):
        y = tf.nn.relu(conv(x, 3, 4, "c1")) - 1.0  # negative values: a lost zero pad would show
        y = tf.pad(y, [[0, 0], [1, 0], [2, 1], [0, 0]], name="pad")
        return tf.nn.max_pool2d(y, 3, 2, "VALID", name="pool")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    assert ir.types()["Pad"] == 1


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nonzero_pad_stays(tmp_path, layout):
    def build(x):
        return conv(tf.pad(x, PAD, constant_values=1.5), 3, 4, "c1", padding="VALID")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    assert ir.types()["Pad"] == 1


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("order", [
    "const_second",
    "const_first",
])
def test_identity_arithmetic_vanishes(tmp_path, layout, order):
    """conv + zeros and x * ones are dropped."""
    def build(x):
        y = conv(x, 3, 4, "c1")
        zeros, ones = tf.zeros([4]), tf.ones([1, 1, 1, 4])
        if order == "const_second":
            y = tf.nn.relu(tf.add(y, zeros)) * ones
        else:
            y = ones * tf.nn.relu(tf.add(zeros, y))
        return tf.nn.relu(y, name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    types = ir.types()
    assert (types["Add"], types["Multiply"]) == (0, 0), types


@pytest.mark.parametrize("layout", LAYOUTS)
def test_subtract_of_constant_folds_like_a_bias(tmp_path, layout):
    """conv -> bias_add -> subtract(c): one Add holds bias - c, no Subtract is left."""
    def build(x):
        y = conv(x, 3, 4, "c1", bias=True)
        y = tf.subtract(y, const((4,), "shift"), name="sub")
        return tf.nn.relu(y, name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    types = ir.types()
    assert (types["Subtract"], types["Add"]) == (0, 1), types


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unfused_batch_norm_folds_into_conv(tmp_path, layout):
    """tf.nn.batch_normalization ((x - mean) * scale + offset as separate ops): Conv + Add."""
    def build(x):
        return tf.nn.batch_normalization(
            conv(x, 3, 4, "c1"), const((4,), "m"), const((4,), "v", 1.0, low=0.5),
            const((4,), "o"), const((4,), "s", 1.0, low=0.5), 1e-3)

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    types = ir.types()
    assert (types["Convolution"], types["Add"], types["Multiply"], types["Subtract"]) == \
        (1, 1, 0, 0), types


# -- swish ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sigmoid_swish(tmp_path, layout):
    """x * sigmoid(x) -> Swish(x); sigmoid(1.5 * x) * x -> Swish(x, 1.5)."""
    def build(x):
        y = conv(x, 3, 4, "c1", bias=True)
        y = y * tf.sigmoid(y)
        y = conv(y, 4, 4, "c2", bias=True)
        return tf.multiply(tf.sigmoid(1.5 * y), y, name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir)
    types = ir.types()
    assert (types["Swish"], types["Sigmoid"], types["Multiply"]) == (2, 0, 0), types
    betas = sorted(float(ir.const_input(s, 1)) if len(ir.graph.inputs(s.name)) > 1 else 1.0
                   for s in ir.graph.ops_of_type("Swish"))
    assert betas == [1.0, 1.5]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_swish_with_shared_sigmoid_is_kept(tmp_path, layout):
    """A Sigmoid that is also an output cannot become part of a Swish."""
    def build(x):
        y = conv(x, 3, 4, "c1", bias=True)
        s = tf.sigmoid(y, name="gate")
        return [tf.multiply(y, s, name="out"), tf.nn.max_pool2d(s, 2, 2, "VALID", name="pool")]

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    types = ir.types()
    assert (types["Swish"], types["Sigmoid"], types["Multiply"]) == (0, 1, 1), types


# -- shapes, reductions, reshapes -------------------------------------------------------------


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_spatial_mean(tmp_path, layout, keepdims):
    """Mean over TF's [1, 2] is a ReduceMean over [2, 3] of the NCHW tensor."""
    def build(x):
        y = tf.nn.relu(conv(x, 3, 4, "c1", bias=True))
        return tf.reduce_mean(y, axis=[1, 2], keepdims=keepdims, name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    [mean] = ir.graph.ops_of_type("ReduceMean")
    assert sorted(int(a) % 4 for a in ir.const_input(mean, 1).reshape(-1)) == [2, 3]
    assert_layout_edges(ir, out_rank=4 if keepdims else 2)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dynamic_batch_flatten(tmp_path, layout):
    """reshape(y, stack([shape(y)[0], -1])) -> Reshape(y, [0, -1], special_zero)."""
    def build(x):
        y = tf.nn.relu(conv(x, 3, 4, "c1", bias=True))
        return tf.reshape(y, tf.stack([tf.shape(y)[0], -1]), name="out")

    net = tf_net(tmp_path, build, (None,) + SHAPE[1:])
    ir = convert(net, tmp_path / layout, layout)
    for n in (1, 3):
        check(net, ir, rand((n,) + SHAPE[1:], "x"))
    types = ir.types()
    assert (types["ShapeOf"], types["StridedSlice"], types["Gather"], types["Concat"]) == \
        (0, 0, 0, 0), types
    [reshape] = ir.graph.ops_of_type("Reshape")
    target = [int(v) for v in ir.const_input(reshape, 1)]
    assert (target == [0, -1] and reshape.attrs.get("special_zero")) or target == [-1, 9 * 6 * 4]
    if layout == "nchw":
        assert ir.param_shapes() == [(None, 3, 9, 6)]
    # The flatten needs TF's NHWC element order: one Transpose right before the Reshape.
    [before] = ir.inner_transposes()
    assert ir.graph.consumers(before.name) == [(reshape.name, 0)]
    assert len(ir.transposes()) == 1 + (layout == "nhwc")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("batch", [2, None])
def test_squeeze_after_1x1_output_conv(tmp_path, layout, batch):
    """[N, 1, 1, C] squeezed on [1, 2]: the Squeeze runs NCHW on [2, 3], no Transpose after."""
    shape = (batch, 3, 3, 3)

    def build(x):
        y = conv(x, 3, 6, "c1", padding="VALID", bias=True)  # [N, 1, 1, 6]
        return tf.squeeze(y, axis=[1, 2], name="out")

    net = tf_net(tmp_path, build, shape)
    ir = convert_checked(net, tmp_path, layout, rand((2, 3, 3, 3), "x"))
    assert_layout_edges(ir, shape, out_rank=2)
    [sq] = ir.graph.ops_of_type("Squeeze")
    assert sorted(int(a) % 4 for a in ir.const_input(sq, 1).reshape(-1)) == [2, 3]


@pytest.mark.parametrize("batch", [2, None])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_squeeze_excitation(tmp_path, layout, batch):
    """Mean -> reshape [N, 1, 1, C] -> 1x1 conv -> relu -> 1x1 conv -> sigmoid -> multiply: the
    1x1 conv's reshape-like (0, 3, 1, 2) Transpose merges into the Reshape."""
    def build(x):
        y = tf.nn.relu(conv(x, 3, 8, "c1", bias=True))
        s = tf.reduce_mean(y, axis=[1, 2])
        s = tf.reshape(s, [-1, 1, 1, 8])
        s = tf.nn.relu(conv(s, 8, 2, "squeeze", k=1, bias=True))
        s = tf.sigmoid(conv(s, 2, 8, "excite", k=1, bias=True))
        return tf.multiply(y, s, name="out")

    net = tf_net(tmp_path, build, (batch,) + SHAPE[1:])
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"))
    assert_layout_edges(ir, (batch,) + SHAPE[1:])
    [reshape] = ir.graph.ops_of_type("Reshape")
    target = [int(v) for v in ir.const_input(reshape, 1)]
    assert target in ([-1, 8, 1, 1], [0, 8, 1, 1], [2, 8, 1, 1]), target


# -- FP16 and determinism ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fp16_weights(tmp_path, layout):
    """data_type=FP16: every weight is an f16 Const + decompression Convert; still 1e-2 close."""
    def build(x):
        y = tf.nn.relu(bn(conv(x, 3, 4, "c1"), 4))
        y = tf.add(y, conv(y, 4, 4, "c2", bias=True))
        return tf.multiply(y, tf.sigmoid(1.5 * y), name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir = convert_checked(net, tmp_path, layout, rand(SHAPE, "x"), tol=1e-2, data_type="FP16")
    assert_layout_edges(ir)
    graph = ir.graph
    types = ir.types()
    assert (types["Swish"], types["Multiply"], types["Convolution"]) == (1, 0, 2), types
    for c in graph.ops_of_type("Convolution"):
        w = graph.op(graph.inputs(c.name)[1].node)
        assert w.type == "Convert" and w.attrs["destination_type"] == "float32"
        assert graph.op(graph.inputs(w.name)[0].node).attrs["value"].dtype == np.float16
    f32_consts = [op.name for op in graph.ops_of_type("Const")
                  if op.attrs["value"].dtype == np.float32]
    assert f32_consts == []
    assert 'element_type="f16"' in ir.xml.read_text()
    assert ir.xml_types()["Convert"] == types["Convert"] >= 4  # 2 weights, 2 biases, beta


@pytest.mark.parametrize("layout", LAYOUTS)
def test_conversion_is_deterministic(tmp_path, layout):
    def build(x):
        a = tf.nn.relu(conv(x, 3, 4, "a", bias=True))
        b = conv(tf.pad(x, [[0, 0], [2, 0], [1, 1], [0, 0]]), 3, 4, "b", padding="VALID")
        y = tf.concat([a, b * tf.sigmoid(b)], axis=3)
        y = bn(y, 8) - 0.5
        return tf.reduce_mean(y, axis=[1, 2], name="out")

    net = tf_net(tmp_path, build, SHAPE)
    first = convert(net, tmp_path / "first", layout)
    second = convert(net, tmp_path / "second", layout)
    assert first.xml.read_bytes() == second.xml.read_bytes()
    assert first.bin.read_bytes() == second.bin.read_bytes()
    check(net, first, rand(SHAPE, "x"))
