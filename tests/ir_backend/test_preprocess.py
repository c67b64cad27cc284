"""Preprocessing embedded in the IR (``--mean_values``, ``--scale_values``, ``--scale``,
``--reverse_input_channels``) and the FP16 range report.

Every IR is fed a raw 0..255 image and run by OpenVINO; TensorFlow is fed the same image
preprocessed by hand (reverse the channels, subtract the mean, divide by the scale) and the
outputs must agree (max|ov - tf| / max|tf| <= 1e-4, top-1 equal). Folding tests also check the
op counts against the plain conversion of the same model. Flag parsing and the checks against
the model's inputs are tested without TensorFlow, the CLI errors through the ``tfconv`` script.
"""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cliassert import assert_clean_failure
from tfconv.config import ModelInput, Preprocessing, build_preprocessing, parse_channel_values
from tfconv.errors import UsageError

pytest.importorskip("openvino")
pytest.importorskip("tensorflow")

import tfconv  # noqa: E402
from ovrun import ir_layer_types, rel_err, run_ir  # noqa: E402
from passhelp import IR, LAYOUTS, conv, const, convert, rng, tf, tf1, tf_net  # noqa: E402

MEAN = [123.68, 116.78, 103.94]
STD = [58.4, 57.1, 57.4]
SHAPE = (2, 8, 8, 3)
TOL = 1e-4
TFCONV = [sys.executable, "-m", "tfconv.cli"]


def raw_image(shape=SHAPE, key: str = "raw") -> np.ndarray:
    """A raw image batch: values in 0..255, channels last."""
    return (255.0 * rng(key).random(shape)).astype(np.float32)


def preprocessed(x: np.ndarray, mean=None, scale=None, reverse=False) -> np.ndarray:
    """What the flags promise the original model sees: reverse, subtract the mean, divide."""
    y = x[..., ::-1] if reverse else x
    if mean is not None:
        y = y - np.asarray(mean, np.float32)
    if scale is not None:
        y = y / np.asarray(scale, np.float32)
    return np.ascontiguousarray(y, dtype=np.float32)


def assert_matches(expected: list[np.ndarray], actual: list[np.ndarray], tol: float = TOL) -> float:
    """Relative error within ``tol`` and the same top-1 per batch item; returns the error."""
    worst = 0.0
    for e, a in zip(expected, actual):
        assert np.std(e) > 1e-3 * np.max(np.abs(e)), "degenerate reference"
        err = rel_err(a, e)
        assert err <= tol, f"relative error {err:.3g} > {tol:g}"
        n = e.shape[0]
        assert (a.reshape(n, -1).argmax(-1) == e.reshape(n, -1).argmax(-1)).all(), "top-1 differs"
        worst = max(worst, err)
    return worst


def types_without_consts(ir: IR) -> Counter:
    types = ir.xml_types()
    del types["Const"]
    return types


# -- parsing and validation (no TensorFlow) ---------------------------------------------------


IMAGE = ModelInput("input", ("input:0",), (None, 224, 224, 3))


@pytest.mark.parametrize("text, expected", [
    ("[123.68,116.78,103.94]", {None: (123.68, 116.78, 103.94)}),
    ("(1 2 3)", {None: (1.0, 2.0, 3.0)}),
    ("input[1,2,3]", {"input": (1.0, 2.0, 3.0)}),
    ("a[1,2,3],b[4,5,6]", {"a": (1.0, 2.0, 3.0), "b": (4.0, 5.0, 6.0)}),
    ("[127.5]", {None: (127.5,)}),
])
def test_parse_channel_values(text, expected):
    assert parse_channel_values(text, "--mean_values") == expected


def test_unnamed_lists_follow_the_input_order():
    assert parse_channel_values("[1,2,3],[4,5,6]", "--mean_values", ["b", "a"]) == \
        {"b": (1.0, 2.0, 3.0), "a": (4.0, 5.0, 6.0)}


@pytest.mark.parametrize("text, needle", [
    ("a[1,2,3],[4,5,6]", "mixes named and unnamed"),
    ("[1,2,3],[4,5,6]", "name the inputs"),
    ("[1,x,3]", "not a number"),
    ("[1,nan,3]", "finite"),
    ("1,2,3", "cannot be parsed"),
    ("a[1,2,3],a[4,5,6]", "twice"),
])
def test_bad_values_are_usage_errors(text, needle):
    with pytest.raises(UsageError, match=needle):
        parse_channel_values(text, "--mean_values")


def test_scale_checks():
    with pytest.raises(UsageError, match="both given"):
        build_preprocessing(None, "[1,2,3]", 2.0, False)
    with pytest.raises(UsageError, match="divide the input by zero"):
        build_preprocessing(None, None, 0.0, False)
    with pytest.raises(UsageError, match="divide the input by zero"):
        build_preprocessing(None, "[1,0,3]", None, False)
    spec = build_preprocessing("[1,2,3]", None, 127.5, True)
    assert spec.scale == {None: (127.5,)} and spec.reverse_input_channels
    assert not build_preprocessing(None, None, None, False)


def test_resolve_finds_the_channel_axis_and_checks_counts():
    spec = build_preprocessing(str(MEAN), str(STD), None, True)
    plan = spec.resolve([IMAGE])
    pre, axis = plan["input"]
    assert axis == 3 and pre.reverse_channels and pre.mean == tuple(MEAN)
    assert pre.formula("input") == \
        "(input[channels reversed] - [123.68,116.78,103.94]) / [58.4,57.1,57.4]"
    # A model that takes channels-first data: the 3 values go on axis 1.
    assert Preprocessing({None: (1.0, 2.0, 3.0)}).resolve(
        [ModelInput("x", (), (1, 3, 32, 40))])["x"][1] == 1
    # Inputs answer to their tensor names too.
    assert Preprocessing({"input:0": (1.0, 2.0, 3.0)}).resolve([IMAGE])["input"][1] == 3
    # One value needs no channel axis, whatever the shape.
    assert Preprocessing(scale={None: (2.0,)}).resolve([ModelInput("x", (), None)])["x"][1] is None


def test_apply_gives_what_the_model_sees():
    pre, axis = build_preprocessing(str(MEAN), None, 2.0, True).resolve([IMAGE])["input"]
    raw = raw_image((2, 4, 4, 3))
    np.testing.assert_allclose(pre.apply(raw, axis), preprocessed(raw, MEAN, [2.0], True), rtol=1e-6)
    chw = np.ascontiguousarray(raw.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(pre.apply(chw, 1), preprocessed(raw, MEAN, [2.0], True).transpose(0, 3, 1, 2),
                               rtol=1e-6)


@pytest.mark.parametrize("spec, inputs, needle", [
    (Preprocessing({None: (1.0, 2.0)}), [IMAGE], "gives 2 values for input 'input'"),
    (Preprocessing({"nope": (1.0, 2.0, 3.0)}), [IMAGE, ModelInput("aux", (), (None, 4))],
     "names input 'nope', which the model does not have; its inputs are: input [?,224,224,3], aux [?,4]"),
    (Preprocessing(reverse_input_channels=True), [ModelInput("x", (), (1, 8, 8, 4))],
     "no float input has 3 channels"),
    (Preprocessing(reverse_input_channels=True), [ModelInput("x", (), (1, 8, 8, None))],
     "ambiguous whether it has 3 channels"),
    (Preprocessing({None: (1.0, 2.0, 3.0)}), [ModelInput("x", (), (1, 8, 8, None))],
     "is dynamic, so it is ambiguous"),
    (Preprocessing({None: (1.0, 2.0, 3.0)}), [ModelInput("x", (), None)], "rank of input 'x' is unknown"),
    (Preprocessing({"n": (1.0, 2.0, 3.0)}), [ModelInput("n", (), (3,), is_float=False)],
     "holds integers"),
    (Preprocessing({None: (1.0, 2.0, 3.0)}), [IMAGE, ModelInput("aux", (), (None, 4))],
     "--mean_values aux[...]"),
    (Preprocessing(scale={None: (2.0,)}), [ModelInput("ids", (), (1, 5), is_float=False)],
     "--scale_values cannot apply: the model has no float input"),
])
def test_resolve_errors_say_why(spec, inputs, needle):
    with pytest.raises(UsageError) as err:
        spec.resolve(inputs)
    assert needle in str(err.value)


def test_preset_applies_to_image_inputs_only():
    spec = Preprocessing.from_meta({"mean_values": [127.5] * 3, "scale_values": [127.5],
                                    "reverse_input_channels": False, "source": "slim:inception_v3"})
    plan = spec.resolve([IMAGE, ModelInput("aux", (), (None, 4))])
    assert list(plan) == ["input"] and plan["input"][0].scale == (127.5,)
    assert spec.source == "slim:inception_v3" and spec.images_only


# -- small TF nets: folding into the first layer ----------------------------------------------


FLAGS = {"mean_values": str(MEAN), "scale_values": str(STD), "reverse_input_channels": True}


def conv_net(tmp_path: Path, padding: str, bias: bool):
    def build(x):
        y = tf.nn.relu(conv(x, 3, 6, "c1", padding=padding, bias=bias))
        y = conv(y, 6, 5, "c2", padding="VALID", bias=True)
        return tf.reduce_mean(y, axis=[1, 2], name="out")
    return tf_net(tmp_path / f"{padding}{bias}", build, SHAPE)


def check_flags(net, tmp_path, layout, flags=FLAGS, mean=MEAN, scale=STD, reverse=True):
    raw = raw_image()
    ir = convert(net, tmp_path / f"pre-{layout}", layout, **flags)
    plain = convert(net, tmp_path / f"plain-{layout}", layout)
    err = assert_matches(net.run(preprocessed(raw, mean, scale, reverse)), ir.run(raw))
    return ir, plain, err


@pytest.mark.parametrize("layout", LAYOUTS)
def test_valid_conv_with_bias_folds_without_extra_ops(tmp_path, layout):
    ir, plain, _ = check_flags(conv_net(tmp_path, "VALID", True), tmp_path, layout)
    assert ir.xml_types() == plain.xml_types()
    assert len(ir.graph) == len(plain.graph)
    assert "folded into the weights and bias of c1" in ir.graph.meta["preprocessing"]["x0"]
    # The IR's input is the raw image: same name and shape as without preprocessing.
    assert ir.param_shapes() == plain.param_shapes()
    assert [op.name for op in ir.graph.ops_of_type("Parameter")] == ["x0"]


def test_folded_weights_compress_to_fp16(tmp_path):
    net = conv_net(tmp_path, "VALID", True)
    raw = raw_image()
    ir = convert(net, tmp_path / "fp16", "nchw", data_type="FP16", **FLAGS)
    plain = convert(net, tmp_path / "plain", "nchw", data_type="FP16")
    assert ir.xml_types() == plain.xml_types() and ir.xml_types()["Convert"] >= 2
    assert_matches(net.run(preprocessed(raw, MEAN, STD, True)), ir.run(raw), tol=1e-2)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_valid_conv_without_bias_gets_one_bias_add(tmp_path, layout):
    ir, plain, _ = check_flags(conv_net(tmp_path, "VALID", False), tmp_path, layout)
    assert ir.xml_types() - plain.xml_types() == Counter({"Add": 1, "Const": 1})
    assert plain.xml_types() - ir.xml_types() == Counter()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_padded_conv_keeps_one_mean_add_on_the_raw_input(tmp_path, layout):
    """SAME padding: zeros padded in normalised space are not -mean/scale in raw space, so the
    mean stays as one Add before the convolution; reversal and scale still fold."""
    ir, plain, _ = check_flags(conv_net(tmp_path, "SAME", True), tmp_path, layout)
    assert ir.xml_types() - plain.xml_types() == Counter({"Add": 1, "Const": 1})
    param = ir.graph.ops_of_type("Parameter")[0]
    first = ir.graph.op(ir.graph.consumers(param.name)[0][0])
    assert first.type == "Add" if layout == "nchw" else first.type in ("Add", "Transpose")
    assert "Gather" not in ir.xml_types() and "Multiply" not in ir.xml_types()


def test_padded_conv_with_mean_only_keeps_the_weights(tmp_path):
    net = conv_net(tmp_path, "SAME", True)
    ir, plain, _ = check_flags(net, tmp_path, "nchw", {"mean_values": str(MEAN)}, mean=MEAN,
                               scale=None, reverse=False)
    assert ir.xml_types() - plain.xml_types() == Counter({"Add": 1, "Const": 1})
    weights = [ir.const_input(ir.graph.op("c1/Convolution"), 1),
               plain.const_input(plain.graph.op("c1/Convolution"), 1)]
    np.testing.assert_array_equal(*weights)
    assert ir.graph.meta["preprocessing"]["x0"].endswith(
        "the mean stays as one Add on the raw input because the convolution pads with zeros "
        "(folding it would change the padded border)")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_padded_conv_with_scale_only_folds_exactly(tmp_path, layout):
    """Zero padding commutes with a scale: nothing extra even with SAME padding."""
    flags = {"scale": 127.5, "reverse_input_channels": True}
    ir, plain, _ = check_flags(conv_net(tmp_path, "SAME", True), tmp_path, layout, flags,
                               mean=None, scale=[127.5], reverse=True)
    assert ir.xml_types() == plain.xml_types()


def test_matmul_first_layer_folds(tmp_path):
    feats = 6

    def build(x):
        y = tf.nn.bias_add(tf.matmul(x, const((feats, 10), "fc1_w")), const((10,), "fc1_b"))
        return tf.matmul(tf.nn.relu(y), const((10, 4), "fc2_w"), name="out")

    net = tf_net(tmp_path, build, (3, feats))
    mean = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    scale = [2.0, 4.0, 8.0, 0.5, 1.0, 3.0]
    raw = (100 * rng("feats").random((3, feats))).astype(np.float32)
    ir = convert(net, tmp_path / "pre", "nchw", mean_values=str(mean), scale_values=str(scale))
    plain = convert(net, tmp_path / "plain", "nchw")
    assert_matches(net.run(preprocessed(raw, mean, scale)), run_ir(ir.xml, [raw]))
    assert ir.xml_types() == plain.xml_types()
    assert "MatMul" in ir.graph.meta["preprocessing"]["x0"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_input_with_two_kinds_of_consumers_gets_explicit_ops(tmp_path, layout):
    """x feeds a convolution and an Add: nothing to fold into, so Gather, Add and Multiply
    follow the Parameter (on its channel axis in either layout)."""
    def build(x):
        y = conv(x, 3, 3, "c1", k=1, padding="VALID", bias=True)
        return tf.nn.relu(y + x, name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir, plain, _ = check_flags(net, tmp_path, layout)
    extra = types_without_consts(ir) - types_without_consts(plain)
    assert extra == Counter({"Gather": 1, "Add": 1, "Multiply": 1}), extra
    assert "explicit ops" in ir.graph.meta["preprocessing"]["x0"]


def test_flags_do_not_change_an_input_layout(tmp_path):
    """x1 is only flattened: the default conversion keeps it NHWC (its input Transpose cannot
    be cancelled); with preprocessing ops after it, it must stay NHWC too."""
    def build(x0, x1):
        a = tf.reduce_mean(conv(x0, 3, 4, "ca", padding="VALID", bias=True), axis=[1, 2])
        b = tf.matmul(tf.reshape(x1, [2, -1]), const((8 * 8 * 3, 4), "fc_w"))
        return tf.add(a, b, name="out")

    net = tf_net(tmp_path, build, SHAPE, SHAPE)
    ir = convert(net, tmp_path / "pre", "nchw", **FLAGS)
    plain = convert(net, tmp_path / "plain", "nchw")
    assert ir.param_shapes() == plain.param_shapes() == [(2, 3, 8, 8), (2, 8, 8, 3)]
    assert "Transpose" not in ir.xml_types()
    a, b = raw_image(key="a"), raw_image(key="b")
    assert_matches(net.run(preprocessed(a, MEAN, STD, True), preprocessed(b, MEAN, STD, True)),
                   ir.run(a, b))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_input_read_by_two_convolutions_folds_into_both(tmp_path, layout):
    def build(x):
        a = conv(x, 3, 4, "ca", padding="VALID", bias=True)
        b = conv(x, 3, 4, "cb", k=1, padding="VALID", bias=True)
        return tf.reduce_mean(a, axis=[1, 2]) + tf.reduce_mean(b, axis=[1, 2], name="out")

    net = tf_net(tmp_path, build, SHAPE)
    ir, plain, _ = check_flags(net, tmp_path, layout)
    assert ir.xml_types() == plain.xml_types()
    assert "ca/Convolution, cb/Convolution" in ir.graph.meta["preprocessing"]["x0"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_two_inputs_with_their_own_values(tmp_path, layout):
    def build(x0, x1):
        a = tf.reduce_mean(conv(x0, 3, 4, "ca", padding="VALID", bias=True), axis=[1, 2])
        b = tf.reduce_mean(conv(x1, 3, 4, "cb", padding="SAME", bias=True), axis=[1, 2])
        return tf.concat([a, b], axis=1, name="out")

    net = tf_net(tmp_path, build, SHAPE, SHAPE)
    mean1 = [10.0, 20.0, 30.0]
    flags = {"mean_values": f"x0{MEAN},x1{mean1}", "scale_values": f"x1[2,3,4],x0{STD}",
             "reverse_input_channels": True}
    ir = convert(net, tmp_path / layout, layout, **flags)
    a, b = raw_image(key="a"), raw_image(key="b")
    expected = net.run(preprocessed(a, MEAN, STD, True), preprocessed(b, mean1, [2, 3, 4], True))
    assert_matches(expected, ir.run(a, b))
    applied = ir.graph.meta["preprocessing"]
    assert applied["x0"].startswith("(x0[channels reversed] - [123.68,116.78,103.94]) / [58.4,57.1,57.4]")
    assert applied["x1"].startswith("(x1[channels reversed] - [10,20,30]) / [2,3,4]")


def test_flag_order_does_not_matter(tmp_path):
    """Same bytes whatever the order of the four flags on the command line."""
    net = conv_net(tmp_path, "SAME", True)
    orders = [
        ["--reverse_input_channels", "--mean_values", str(MEAN), "--scale", "57.5"],
        ["--scale", "57.5", "--mean_values", str(MEAN), "--reverse_input_channels"],
    ]
    outputs = []
    for i, flags in enumerate(orders):
        out = tmp_path / f"order{i}"
        result = subprocess.run([*TFCONV, "convert", str(net.pb), "-o", str(out), "--output", "out",
                                 *flags], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "takes raw data; the model sees (x0[channels reversed] - [123.68,116.78,103.94]) / 57.5" \
            in result.stdout
        outputs.append(out)
    for suffix in (".xml", ".bin"):
        assert (outputs[0] / f"model{suffix}").read_bytes() == (outputs[1] / f"model{suffix}").read_bytes()
    raw = raw_image()
    got = run_ir(outputs[0] / "model.xml", [np.ascontiguousarray(raw.transpose(0, 3, 1, 2))])
    assert_matches(net.run(preprocessed(raw, MEAN, [57.5], True)), got)


# -- the plugins' preset: graph.meta["preprocess"] --------------------------------------------


class PresetPlugin:
    """Stands in for a plugin (such as slim) that recognises the model and sets its preset."""

    preset = {"mean_values": [127.5, 127.5, 127.5], "scale_values": [127.5],
              "reverse_input_channels": True, "source": "slim:test_net"}

    @tfconv.hookimpl
    def tfconv_register_passes(self, registry):
        from tfconv.passes import graph_pass

        @graph_pass("preset_test.set_preset", stage="source")
        def set_preset(graph, config):
            graph.meta["preprocess"] = dict(self.preset)

        registry.add(set_preset)


def test_preset_from_graph_meta_and_user_flags_win(tmp_path):
    from tfconv.plugins import get_plugin_manager
    net = conv_net(tmp_path, "VALID", True)
    pm = get_plugin_manager()
    pm.register(PresetPlugin(), name="preset_test")
    raw = raw_image()
    graph = tfconv.convert_model(net.pb, plugin_manager=pm, output="out")
    xml = [p for p in tfconv.save_model(graph, tmp_path / "preset" / "m.xml") if p.suffix == ".xml"][0]
    ir = IR(graph, xml, "nchw")
    assert_matches(net.run(preprocessed(raw, [127.5] * 3, [127.5], True)), ir.run(raw))
    assert "folded" in graph.meta["preprocessing"]["x0"]
    assert "(preset slim:test_net)" in graph.meta["preprocessing"]["x0"]
    # User flags replace the preset entirely (no reversal, their own scale).
    graph = tfconv.convert_model(net.pb, plugin_manager=pm, output="out", scale=4.0)
    xml = [p for p in tfconv.save_model(graph, tmp_path / "user" / "m.xml") if p.suffix == ".xml"][0]
    assert_matches(net.run(preprocessed(raw, None, [4.0], False)), IR(graph, xml, "nchw").run(raw))
    assert graph.meta["preprocessing"]["x0"].startswith("x0 / 4")


# -- CLI errors --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory) -> Path:
    """A frozen model with one 3-channel image input ``x0`` and one 4-channel input ``x1``."""
    d = tmp_path_factory.mktemp("cli")

    def build(x0, x1):
        a = tf.reduce_mean(conv(x0, 3, 4, "ca", padding="VALID"), axis=[1, 2])
        b = tf.reduce_mean(conv(x1, 4, 4, "cb", padding="VALID"), axis=[1, 2])
        return tf.add(a, b, name="out")

    return tf_net(d, build, SHAPE, (2, 8, 8, 4)).pb


@pytest.mark.parametrize("flags, needles", [
    (["--mean_values", "x0[1,2]"], ["--mean_values gives 2 values for input 'x0' [2,8,8,3]",
                                    "give 3 values"]),
    (["--scale", "2", "--scale_values", "[1,2,3]"], ["--scale and --scale_values are both given"]),
    (["--mean_values", "image[1,2,3]"], ["names input 'image', which the model does not have",
                                         "its inputs are: x0 [2,8,8,3], x1 [2,8,8,4]"]),
    (["--scale_values", "x0[1,0,2]"], ["a scale of 0 would divide the input by zero"]),
    (["--scale", "0"], ["a scale of 0 would divide the input by zero"]),
    (["--mean_values", "x0[1,2,3],[4,5,6,7]"], ["mixes named and unnamed"]),
    (["--mean_values", "[1,2,3]"], ["gives 3 values for input 'x1' [2,8,8,4]", "--mean_values x1[...]"]),
    (["--input", "x0[2,8,8,?],x1", "--mean_values", "x0[1,2,3]"], ["is dynamic, so it is ambiguous"]),
])
def test_bad_preprocessing_flags_fail_cleanly(cli_model, tmp_path, flags, needles):
    out = tmp_path / "out"
    result = subprocess.run([*TFCONV, "convert", str(cli_model), "-o", str(out), *flags],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert_clean_failure(result, out, *needles)


def test_reverse_without_a_three_channel_input_fails_cleanly(tmp_path):
    net = tf_net(tmp_path, lambda x: tf.reduce_mean(conv(x, 4, 2, "c", padding="VALID"), axis=[1, 2],
                                                    name="out"), (1, 8, 8, 4))
    out = tmp_path / "out"
    result = subprocess.run([*TFCONV, "convert", str(net.pb), "-o", str(out),
                             "--reverse_input_channels"], capture_output=True, text=True)
    assert_clean_failure(result, out, "--reverse_input_channels cannot apply: no float input has 3 channels",
                         "x0 [1,8,8,4]")


def test_small_scale_warns_that_inputs_are_divided(cli_model, tmp_path):
    result = subprocess.run([*TFCONV, "convert", str(cli_model), "-o", str(tmp_path / "o"),
                             "--scale", "0.5"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--scale 0.5 divides every input by 0.5" in result.stderr


# -- FP16: values beyond the float16 range are named, not turned into inf ----------------------


def test_data_type_fp16_names_constants_beyond_the_f16_range(tmp_path):
    def build(x):
        huge = tf.constant(np.array([1.0, 7.0e4, -2.0], np.float32), name="huge_gain")
        y = tf.multiply(x, huge, name="scaled")
        return tf.add(y, const((3,), "shift"), name="out")

    net = tf_net(tmp_path, build, (4, 3))
    out = tmp_path / "fp16"
    result = subprocess.run([*TFCONV, "convert", str(net.pb), "-o", str(out), "--data_type", "FP16"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "beyond the float16 range" in result.stderr and "'huge_gain" in result.stderr
    xml = out / "model.xml"
    import xml.etree.ElementTree as ET
    kept = [layer for layer in ET.parse(xml).getroot().iter("layer") if "huge_gain" in layer.get("name")]
    assert [layer.find("data").get("element_type") for layer in kept] == ["f32"]
    assert "Convert" in ir_layer_types(xml)  # the in-range constant was compressed
    x = rng("fp16").standard_normal((4, 3)).astype(np.float32)
    assert_matches(net.run(x), run_ir(xml, [x]), tol=1e-3)


# -- zoo networks ------------------------------------------------------------------------------


def _zoo_case(name: str):
    from models import zoo
    return zoo.get(name)


def _convert_case(case, out: Path, layout: str, **flags):
    graph = tfconv.convert_model(case.pb, disable_nhwc_to_nchw=(layout == "nhwc"), **flags)
    xml = [p for p in tfconv.save_model(graph, out / "model.xml") if p.suffix == ".xml"][0]
    return IR(graph, xml, layout)


def _raw_for_reference(x: np.ndarray, mean, scale, reverse: bool) -> np.ndarray:
    """The raw image whose preprocessing gives exactly the zoo's reference input ``x``."""
    raw = x * np.asarray(scale, np.float32) + np.asarray(mean, np.float32)
    return np.ascontiguousarray(raw[..., ::-1] if reverse else raw, dtype=np.float32)


@pytest.mark.zoo
@pytest.mark.parametrize("layout", LAYOUTS)
def test_zoo_slim_resnet_v1_50_takes_raw_images(tmp_path, layout):
    """Per-channel mean and scale with reversal; slim's first convolution pads, so the mean
    stays as one Add and everything else folds."""
    case = _zoo_case("slim-resnet_v1_50")
    ref = np.load(case.reference)
    mean, scale = [126.0, 127.5, 129.0], [126.0, 127.0, 126.0]
    flags = {"mean_values": f"input{mean}", "scale_values": str(scale), "reverse_input_channels": True}
    ir = _convert_case(case, tmp_path / "pre", layout, **flags)
    plain = _convert_case(case, tmp_path / "plain", layout)
    raw = _raw_for_reference(ref["input"], mean, scale, True)
    assert raw.min() >= 0 and raw.max() <= 255
    assert_matches([ref[case.outputs[0]]], ir.run(raw))
    assert ir.xml_types() - plain.xml_types() == Counter({"Add": 1, "Const": 1})


@pytest.mark.zoo
@pytest.mark.parametrize("layout", LAYOUTS)
def test_zoo_keras_inception_v3_folds_completely(tmp_path, layout):
    """InceptionV3's first convolution is VALID: mean, scale and reversal all go into its
    weights and bias; the IR has exactly the plain conversion's ops."""
    case = _zoo_case("keras3-InceptionV3")
    ref = np.load(case.reference)
    flags = {"mean_values": "[127.5,127.5,127.5]", "scale": 127.5, "reverse_input_channels": True}
    ir = _convert_case(case, tmp_path / "pre", layout, **flags)
    plain = _convert_case(case, tmp_path / "plain", layout)
    raw = _raw_for_reference(ref["input"], [127.5] * 3, [127.5], True)
    assert_matches([ref[case.outputs[0]]], ir.run(raw))
    assert ir.xml_types() == plain.xml_types()
    assert "no extra ops" in ir.graph.meta["preprocessing"]["input"]
