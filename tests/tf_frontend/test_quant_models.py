"""Frozen quantized topologies (issue 5): whole quantized networks, real TF vs real OpenVINO.

The spec's frozen quantized models are MobileNet V1 (width 0.25/0.5/0.75/1.0 x input
128/160/192/224), MobileNet V2 1.0 224 and Inception V1-V4, trained with TF's quantization
rewriter. The tests build graphs with the same op mix and FakeQuant placement
(``quantnets.mobilenet_v1`` etc.: FakeQuant on the input, on every weight, per-tensor and
per-channel, after every Relu6, after residual Adds and Concats; activation ranges calibrated
on random images) but fewer blocks (3 depthwise-separable blocks for V1's 13) and 16 classes,
so the whole width x size matrix, in both layouts, takes about 15 s of CPU time. Each graph is converted as a user would (NCHW by default and with
``--disable_nhwc_to_nchw``) and checked three ways:

* with the backend's compress_fq_weights pass off, the IR keeps every FakeQuantize, with the
  levels of the TF graph's FakeQuant nodes, and the weight FakeQuantizes stay Const ->
  FakeQuantize (by default the weights become int8 levels + Convert + Multiply);
* the network output, in both forms, equals TF's within one quantization step of the last
  FakeQuant;
* layer by layer (a second conversion with every FakeQuant's input and output as extra
  ``--output`` tensors, among them the input of the last FakeQuant): TF, fed with the IR's own
  upstream activations, gives each FakeQuant input within 1e-4 relative and each FakeQuant output
  exactly, except one step at rounding ties. Fed this way, one rounding tie that TF and OpenVINO
  resolve differently (float32 noise, see ``quantnets``) cannot hide or fake an error downstream.
"""
from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("tensorflow")

from quantnets import (activation_fqs, assert_layer_match, fq_levels, fq_range,  # noqa: E402
                       fq_per_channel, fq_vars, images, inception_block, mobilenet_v1,
                       mobilenet_v2_block, quantized_net, rng, tf, weight_range, xml_fq_inputs,
                       xml_fq_levels)
from cliassert import assert_clean_failure  # noqa: E402
from ovrun import rel_err  # noqa: E402
from passhelp import LAYOUTS, convert, tf1, tf_net  # noqa: E402

F32 = np.float32
WIDTHS = (0.25, 0.5, 0.75, 1.0)
SIZES = (128, 160, 192, 224)
IMAGES = ("a", "b")
TFCONV = Path(sys.executable).with_name("tfconv")

NETS = {
    **{f"mobilenet_v1_{w}_{s}": (functools.partial(mobilenet_v1, width=w), s, False)
       for w in WIDTHS for s in SIZES},
    "mobilenet_v2_1.0_224": (mobilenet_v2_block, 224, False),
    "inception_299": (inception_block, 299, False),
    "mobilenet_v1_0.5_160_args": (functools.partial(mobilenet_v1, width=0.5), 160, True),
}


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """Each network built, calibrated and frozen once (shared by both layouts)."""
    cache = {}

    def get(name):
        if name not in cache:
            build, size, args = NETS[name]
            cache[name] = quantized_net(tmp_path_factory.mktemp(name), build,
                                        (1, size, size, 3), args=args, key=f"calib {name}")
        return cache[name]
    return get


def as_tf_layout(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """An IR output in TF's layout (an NCHW intermediate tensor back to NHWC)."""
    if actual.shape != expected.shape and actual.ndim == 4:
        actual = np.transpose(actual, (0, 2, 3, 1))
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    return actual


def compiled(xml: Path, layout: str):
    """The IR compiled once (CPU, f32): a function of one NHWC image returning every output
    (in NCHW when ``layout`` made the image input NCHW)."""
    from ovrun import F32 as HINT, core
    model = core().compile_model(str(xml), "CPU", HINT)

    def run(x):
        if layout == "nchw":
            x = np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
        result = model([x])
        return [np.asarray(result[out]) for out in model.outputs]
    return run


# The structure checks are of the FakeQuantize the translators emit: on constant convolution
# weights the backend's compress_fq_weights pass turns it into int8 levels + Convert + Multiply,
# so it is off for them; the "packed" IR (the default conversion) is checked on the outputs.
KEEP_WEIGHT_FQ = {"disable_pass": "ir_backend.compress_fq_weights"}


def check_quantized(qn, directory: Path, layout: str, name: str) -> None:
    net = qn.net
    graph = net.graph
    fqs = activation_fqs(graph)
    ir = convert(net, directory / "plain", layout, output=net.outputs[0].name, **KEEP_WEIGHT_FQ)
    packed = convert(net, directory / "packed", layout, output=net.outputs[0].name)
    assert not [n for n, srcs in xml_fq_inputs(packed.xml) if srcs[0][0] == "Const"]

    # every FakeQuant is a FakeQuantize with its levels; weights stay Const -> FakeQuantize
    tf_levels = fq_levels(graph)
    assert xml_fq_levels(ir.xml) == tf_levels
    n_weights = len(tf_levels) - len(fqs)
    on_const = [n for n, srcs in xml_fq_inputs(ir.xml) if srcs[0][0] == "Const"]
    assert len(on_const) == n_weights, on_const

    # a second conversion with every FakeQuant's input and output as extra outputs
    pre = [fq.inputs[0].name for fq in fqs]
    post = [fq.outputs[0].name for fq in fqs]
    probed = [t for t in pre if graph.get_tensor_by_name(t).op.type != "Placeholder"] + post
    ir2 = convert(net, directory / "probe", layout, output=",".join([net.outputs[0].name, *probed]),
                  **KEEP_WEIGHT_FQ)
    run, run2 = compiled(ir.xml, layout), compiled(ir2.xml, layout)
    run_packed = compiled(packed.xml, layout)
    x_name = net.placeholders[0].name

    step = qn.step
    worst = pre_worst = last_pre = 0.0
    ties = 0
    with tf1.Session(graph=graph) as sess:
        nmin, nmax, _ = fq_range(fqs[-1], sess)
        ranges = [fq_range(fq, sess) for fq in fqs]
        for key in IMAGES:
            x = images(net.placeholders[0].shape.as_list(), f"{name} {key}")
            expected, expected_pre = sess.run([t.name for t in net.outputs], {x_name: x})

            # the output: within one step of the last FakeQuant
            (actual,) = run(x)
            saturated = np.mean((expected <= nmin) | (expected >= nmax))
            assert len(np.unique(expected)) > 4 and saturated < 0.5, \
                f"degenerate reference: {np.unique(expected)}"
            err = np.abs(actual.astype(np.float64) - expected).max() / step
            assert err <= 1 + 1e-4, f"{layout}: output off by {err:.3g} steps"
            worst = max(worst, err)
            (actual,) = run_packed(x)
            err = np.abs(actual.astype(np.float64) - expected).max() / step
            assert err <= 1 + 1e-4, f"{layout}, int8 weights: output off by {err:.3g} steps"
            worst = max(worst, err)

            # layer by layer: TF computes each FakeQuant's input from the IR's upstream
            # FakeQuant outputs, then each FakeQuant from those inputs
            outs = run2(x)
            err = np.abs(outs[0].astype(np.float64) - expected).max() / step
            assert err <= 1 + 1e-4, f"{layout}, extra outputs: output off by {err:.3g} steps"
            values = {t: as_tf_layout(v, np.empty(graph.get_tensor_by_name(t).shape))
                      for t, v in zip(probed, outs[1:])}
            tf_pre = sess.run(pre, {x_name: x, **{t: values[t] for t in post}})
            tf_out = sess.run(post, dict(zip(pre, tf_pre)))
            for i, (fq, (lo, hi, lev)) in enumerate(zip(fqs, ranges)):
                ir_pre = values.get(pre[i], x)
                assert_layer_match(ir_pre, tf_pre[i], values[post[i]], tf_out[i], lo, hi, lev,
                                   f"{layout} {fq.name}")
                assert len(np.unique(tf_out[i])) > 2, f"{fq.name}: constant activation"
                pre_worst = max(pre_worst, rel_err(ir_pre, tf_pre[i]))
                ties += int((np.abs(values[post[i]] - tf_out[i]) > (hi - lo) / (lev - 1) / 2).sum())
            last_pre = max(last_pre, rel_err(values[pre[-1]], expected_pre))
    print(f"\n{name} {layout}: {len(tf_levels)} FakeQuantize ({n_weights} on weights), output "
          f"error {worst:.3g} steps, FakeQuant inputs <= {pre_worst:.2g} relative (TF fed with "
          f"the IR's activations), {ties} one-step ties; last FakeQuant input end to end "
          f"{last_pre:.3g} relative")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("width", WIDTHS)
def test_mobilenet_v1_matrix(tmp_path, nets, width, size, layout):
    """The 16 MobileNet V1 variants of the spec (fewer blocks, same op mix)."""
    name = f"mobilenet_v1_{width}_{size}"
    check_quantized(nets(name), tmp_path, layout, name)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["mobilenet_v2_1.0_224", "inception_299",
                                  "mobilenet_v1_0.5_160_args"])
def test_quantized_blocks(tmp_path, nets, name, layout):
    """MobileNet V2's inverted residuals (FakeQuant after Add), Inception's Mixed blocks
    (FakeQuant after Concat), and MobileNet V1 with FakeQuantWithMinMaxArgs everywhere."""
    qn = nets(name)
    types = {op.type for op in qn.net.graph.get_operations()}
    expected = {"mobilenet_v2_1.0_224": "AddV2", "inception_299": "ConcatV2",
                "mobilenet_v1_0.5_160_args": "FakeQuantWithMinMaxArgs"}[name]
    assert expected in types, sorted(types)
    if name.endswith("_args"):
        assert not types & {"FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel"}
    check_quantized(qn, tmp_path, layout, name)


# -- an input left without a shape -------------------------------------------------------------


def assert_within_step(qn, run, x: np.ndarray, what: str) -> float:
    """The IR's network output on ``x`` within one step of TF's; returns the error in steps."""
    expected = qn.net.run(x)[0]
    assert len(np.unique(expected)) > 4, "degenerate reference"
    err = np.abs(run(x)[0].astype(np.float64) - expected).max() / qn.step
    assert err <= 1 + 1e-4, f"{what}: output off by {err:.3g} steps"
    return err


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("input_name", ["input", "image_tensor"])
def test_undefined_input_shape(tmp_path, input_name, layout):
    """A Placeholder without a shape feeding a quantized MobileNet: the spec's note. Without
    ``--input NAME --input_shape [1,HEIGHT,WIDTH,3]`` the CLI says exactly that (and writes
    nothing); with it the graph converts and matches TF."""
    qn = quantized_net(tmp_path / "pb", functools.partial(mobilenet_v1, width=0.25),
                       (1, 128, 128, 3), placeholder_shape=None, input_name=input_name)
    assert qn.net.placeholders[0].shape.rank is None
    layout_flags = ["--disable_nhwc_to_nchw"] if layout == "nhwc" else []
    out = tmp_path / "ir"
    result = subprocess.run([str(TFCONV), "convert", str(qn.net.pb), "-o", str(out),
                             *layout_flags], capture_output=True, text=True)
    message = assert_clean_failure(result, out, f"the shape of input {input_name!r} is undefined",
                                   "(no shape, not even a rank)",
                                   f"add --input {input_name} --input_shape [1,HEIGHT,WIDTH,3]")
    assert result.returncode == 2 and message.count("\n") == 1, message

    result = subprocess.run([str(TFCONV), "convert", str(qn.net.pb), "-o", str(out), "--input",
                             input_name, "--input_shape", "[1,128,128,3]", *layout_flags,
                             "--disable_pass", KEEP_WEIGHT_FQ["disable_pass"]],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    xml = out / "model.xml"
    assert xml_fq_levels(xml) == fq_levels(qn.net.graph)
    run = compiled(xml, layout)
    for key in IMAGES:
        assert_within_step(qn, run, images((1, 128, 128, 3), f"undefined {key}"), layout)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_undefined_image_size(tmp_path, layout):
    """A Placeholder ``[?,?,?,3]``: the graph converts as it is (the IR keeps the sizes
    dynamic) and runs at any image size; ``--input_shape`` makes them static."""
    qn = quantized_net(tmp_path / "pb", functools.partial(mobilenet_v1, width=0.25),
                       (1, 128, 128, 3), placeholder_shape=(None, None, None, 3))
    dynamic = convert(qn.net, tmp_path / "dynamic", layout, output=qn.net.outputs[0].name,
                      **KEEP_WEIGHT_FQ)
    static = convert(qn.net, tmp_path / "static", layout, output=qn.net.outputs[0].name,
                     input="input", input_shape="[1,160,160,3]", **KEEP_WEIGHT_FQ)
    hw = (2, 3) if layout == "nchw" else (1, 2)
    assert [dynamic.param_shapes()[0][i] for i in hw] == [None, None]
    assert static.param_shapes()[0] == ((1, 3, 160, 160) if layout == "nchw" else (1, 160, 160, 3))
    for ir in (dynamic, static):
        assert xml_fq_levels(ir.xml) == fq_levels(qn.net.graph)
    run = compiled(dynamic.xml, layout)
    for size in (128, 160):
        assert_within_step(qn, run, images((1, size, size, 3), f"dynamic {size}"), f"{size}")
    assert_within_step(qn, compiled(static.xml, layout), images((1, 160, 160, 3), "static"),
                       "static")


# OpenVINO 2026.4 CPU, measured with ovc's IR of the same graph too: after a FakeQuantize whose
# range is signed (zero point inside the range), an AvgPool feeding a convolution with
# FakeQuantize weights runs in low precision and its mean is rounded (1e-2 relative for 3x3,
# 7e-2 for 24x24). Unsigned ranges (after Relu6, as in every network above) are exact.
SIGNED_AVGPOOL = ("OpenVINO's CPU plugin rounds an AvgPool between a signed-range FakeQuantize "
                  "and a convolution with FakeQuantize weights")


@pytest.mark.xfail(reason=SIGNED_AVGPOOL, strict=True)
def test_signed_fq_avgpool_conv(tmp_path):
    w = (0.3 * rng("avgpool w").standard_normal((1, 1, 24, 16))).astype(F32)

    def build(x):
        y = fq_vars(x, -3.4, 3.7, "act_quant")
        y = tf.nn.avg_pool2d(y, [1, 3, 3, 1], [1, 1, 1, 1], "VALID", name="pool")
        wq = fq_per_channel(tf.constant(w), *weight_range(w, axis=(0, 1, 2)), "w_fq")
        return tf.nn.conv2d(y, wq, [1, 1, 1, 1], "SAME", name="conv")

    net = tf_net(tmp_path, build, (1, 12, 12, 24))
    ir = convert(net, tmp_path, "nchw")
    x = rng("avgpool x").uniform(-4, 4, (1, 12, 12, 24)).astype(F32)
    (expected,), (actual,) = net.run(x), ir.run(x)
    assert rel_err(actual, expected) <= 1e-4
