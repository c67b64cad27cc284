"""Helpers of ``test_quant.py``: probe inputs for fake quantization, the comparison rule, and a
small quantized MobileNet-V1-like TF graph.

TF's own kernel is not bit-reproducible at rounding ties: ``floor((x - nmin) * inv_scale -
zero_point + 0.5)`` is computed with or without a fused multiply-add depending on where the
element falls (vectorized body or scalar tail), so for inputs within float32 noise of a midpoint
between two levels TF itself picks either level. OpenVINO rounds such points its own way too.
``assert_fq_match`` therefore requires equality (<= 1e-6) everywhere except in a thin band
around the midpoints, where the outputs may differ by exactly one quantization step.
"""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ir_backend"))

from passhelp import rng, tf  # noqa: E402
from tfconv_tf_frontend.ops.quant import nudge  # noqa: E402

F32 = np.float32
FQ_TYPES = ("FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars",
            "FakeQuantWithMinMaxVarsPerChannel")
# Ranges: symmetric, asymmetric, zero not representable (all positive / all negative), tiny min,
# and a zero point exactly halfway between two integers (TF rounds it away from zero).
RANGES = [(-6.0, 6.0), (0.1, 2.3), (-2.7, -0.2), (-1.0, 3.3), (-0.37, 1.91), (0.0, 1.0),
          (-1e-3, 5.0), (-2.5, 12.5)]
PROBE_LEN = 2400


def levels_of(bits: int, narrow: bool) -> int:
    return (1 << bits) - (1 if narrow else 0)


def probe(lo: float, hi: float, bits: int, narrow: bool, key: str) -> np.ndarray:
    """``PROBE_LEN`` float32 inputs: every level (sampled for 16 bits) and its float32
    neighbours, the midpoints between levels, a dense grid over and beyond the range, the range
    ends, far-away values and random values."""
    nmin, nmax, levels = nudge(lo, hi, bits, narrow)
    step = (np.float64(nmax) - np.float64(nmin)) / (levels - 1)
    k = np.unique(np.linspace(-2, levels + 1, min(levels + 4, 300)).round())
    exact = (nmin + k * step).astype(F32)
    mids = (nmin + (k + 0.5) * step).astype(F32)
    near = np.concatenate([np.nextafter(exact, F32(np.inf)), np.nextafter(exact, F32(-np.inf))])
    dense = np.linspace(lo - 1, hi + 1, 601, dtype=np.float64).astype(F32)
    ends = np.array([lo, hi, nmin, nmax, 0.0, -1e6, 1e6, lo - 1e-3, hi + 1e-3], F32)
    r = rng(key)
    rand = r.uniform(lo - 2, hi + 2, 300).astype(F32)
    out = np.concatenate([exact, mids, near, dense, ends, rand]).astype(F32)
    r.shuffle(out)
    return np.resize(out, PROBE_LEN).astype(F32)


def assert_fq_match(actual: np.ndarray, expected: np.ndarray, x: np.ndarray, nmin, nmax,
                    levels: int, what: str) -> None:
    """Equal within 1e-6 (or 4 float32 ulps of the range's largest end, if more) except within
    float32 noise of a midpoint between two levels (where exactly one step of difference is
    allowed). ``nmin``/``nmax`` broadcast against ``x``."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    nmin = np.asarray(nmin, np.float64)
    nmax = np.asarray(nmax, np.float64)
    step = np.broadcast_to((nmax - nmin) / (levels - 1), x.shape)
    clipped = np.clip(x.astype(np.float64), nmin, nmax)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(step > 0, (clipped - nmin) / np.where(step > 0, step, 1), 0)
    # float32 noise of a value of magnitude ~levels in level units, plus margin
    band = max(1e-3, levels * 2.0 ** -22)
    near = np.abs(q - np.floor(q) - 0.5) < band
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    # float32 arithmetic on values as large as the range's ends: a few ulps of them
    tol = max(1e-6, 4 * float(np.spacing(F32(np.max(np.abs(np.concatenate(
        [np.atleast_1d(nmin), np.atleast_1d(nmax)])))))))
    far = diff[~near]
    assert far.size == 0 or far.max() <= tol, (
        f"{what}: max |ir - tf| = {far.max():.3g} away from rounding ties "
        f"({int((far > tol).sum())} of {far.size} values); x={x[~near][far > tol][:5]}")
    if near.any():
        tie = diff[near] - step[near]
        assert tie.max() <= tol, f"{what}: {tie.max():.3g} more than one step at a rounding tie"


# -- a quantized MobileNet-V1-like net -------------------------------------------------------


def _const(shape, key, scale=0.5):
    return tf.constant((scale * rng(key).standard_normal(shape)).astype(F32), name=key)


def fq_vars(x, lo, hi, name, bits=8, narrow=False):
    return tf.quantization.fake_quant_with_min_max_vars(
        x, tf.constant(F32(lo), name=f"{name}/min"), tf.constant(F32(hi), name=f"{name}/max"),
        num_bits=bits, narrow_range=narrow, name=name)


def fq_per_channel(x, lo, hi, name, bits=8, narrow=True):
    return tf.quantization.fake_quant_with_min_max_vars_per_channel(
        x, tf.constant(np.asarray(lo, F32), name=f"{name}/min"),
        tf.constant(np.asarray(hi, F32), name=f"{name}/max"),
        num_bits=bits, narrow_range=narrow, name=name)


def weight_range(w: np.ndarray, axis=None):
    lo = np.minimum(w.min(axis=axis), 0) - 1e-3
    hi = np.maximum(w.max(axis=axis), 0) + 1e-3
    return lo, hi


# The activation FakeQuant after the MatMul: the last one; its step is the comparison tolerance.
OUT_RANGE = (-3.0, 3.0)
OUT_BITS = 8
NARROW_W2 = True


def mobilenet_like(x):
    """input FQ -> conv (per-tensor FQ weights) -> BiasAdd -> Relu6 -> FQ -> depthwise (FQ
    weights) -> Relu6 -> FQ  |  conv (per-channel FQ weights) -> BiasAdd -> Relu6 -> FQ;
    Add -> FQ -> Concat -> FQ -> Mean -> MatMul (per-channel FQ weights) -> FQ."""
    cin, c = 3, 8
    x = tf.quantization.fake_quant_with_min_max_args(x, min=-1.0, max=1.0, num_bits=8,
                                                     name="input_fq")
    w1 = (0.4 * rng("w1").standard_normal((3, 3, cin, c))).astype(F32)
    lo, hi = weight_range(w1)
    w1q = fq_vars(tf.constant(w1, name="w1"), lo, hi, "w1_fq", narrow=True)
    a = tf.nn.conv2d(x, w1q, [1, 1, 1, 1], "SAME", name="conv1")
    a = tf.nn.bias_add(a, _const((c,), "b1", 0.2), name="conv1_bias")
    a = fq_vars(tf.nn.relu6(a, name="relu1"), 0.0, 6.0, "relu1_fq")
    dw = (0.5 * rng("dw").standard_normal((3, 3, c, 1))).astype(F32)
    lo, hi = weight_range(dw)
    dwq = fq_vars(tf.constant(dw, name="dw"), lo, hi, "dw_fq", bits=4, narrow=True)
    a = tf.nn.depthwise_conv2d(a, dwq, [1, 1, 1, 1], "SAME", name="dwconv")
    a = fq_vars(tf.nn.relu6(a, name="relu2"), 0.0, 6.0, "relu2_fq")

    w2 = (0.4 * rng("w2").standard_normal((1, 1, cin, c))).astype(F32)
    lo, hi = weight_range(w2, axis=(0, 1, 2))
    w2q = fq_per_channel(tf.constant(w2, name="w2"), lo, hi, "w2_fq", narrow=NARROW_W2)
    b = tf.nn.conv2d(x, w2q, [1, 1, 1, 1], "SAME", name="conv2")
    b = tf.nn.bias_add(b, _const((c,), "b2", 0.2), name="conv2_bias")
    b = fq_vars(tf.nn.relu6(b, name="relu3"), 0.0, 6.0, "relu3_fq")

    s = fq_vars(tf.add(a, b, name="add"), 0.0, 12.0, "add_fq")
    cat = tf.concat([s, a], axis=3, name="concat")
    cat = fq_vars(cat, 0.0, 12.0, "concat_fq")
    m = tf.reduce_mean(cat, axis=[1, 2], name="mean")
    wf = (0.3 * rng("wf").standard_normal((2 * c, 5))).astype(F32)
    lo, hi = weight_range(wf, axis=0)
    wfq = fq_per_channel(tf.constant(wf, name="wf"), lo, hi, "wf_fq")
    y = tf.matmul(m, wfq, name="fc")
    return fq_vars(y, *OUT_RANGE, "logits_fq", bits=OUT_BITS)


def fq_levels(graph: tf.Graph) -> list[int]:
    """``levels`` of every FakeQuant node of a TF graph."""
    out = []
    for op in graph.get_operations():
        if op.type in FQ_TYPES:
            out.append(levels_of(op.get_attr("num_bits"), op.get_attr("narrow_range")))
    return sorted(out)


# -- IR XML --------------------------------------------------------------------------------


def xml_fq_inputs(xml: Path) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """For each FakeQuantize layer of the XML: its name and, per input port 0..4, the producing
    layer's type and (for Const) element_type."""
    root = ET.parse(xml).getroot()
    layers = {layer.get("id"): layer for layer in root.iter("layer")}
    producer = {}
    for edge in root.iter("edge"):
        producer[(edge.get("to-layer"), edge.get("to-port"))] = edge.get("from-layer")
    out = []
    for lid, layer in layers.items():
        if layer.get("type") != "FakeQuantize":
            continue
        ports = [p.get("id") for p in layer.find("input").iter("port")]
        srcs = []
        for port in ports:
            src = layers[producer[(lid, port)]]
            data = src.find("data")
            srcs.append((src.get("type"), None if data is None else data.get("element_type")))
        out.append((layer.get("name"), srcs))
    return out



def _feeds(ir, arrays) -> list[np.ndarray]:
    """A 4-D input goes in NCHW only when its Parameter was made NCHW."""
    feeds = []
    for a, shape in zip(arrays, ir.param_shapes()):
        if a.ndim == 4 and tuple(shape) != a.shape and \
                tuple(shape) == tuple(a.shape[i] for i in (0, 3, 1, 2)):
            a = np.ascontiguousarray(np.transpose(a, (0, 3, 1, 2)))
        feeds.append(a)
    return feeds


def run(ir, *arrays: np.ndarray) -> list[np.ndarray]:
    """``ir.run`` for inputs of any rank (``passhelp.IR.run`` transposes every input to NCHW
    first), on OpenVINO's CPU plugin."""
    from ovrun import run_ir
    return run_ir(ir.xml, _feeds(ir, arrays))


def run_reference(ir, *arrays: np.ndarray) -> list[np.ndarray]:
    """The IR evaluated by OpenVINO's reference implementations (``Model.evaluate``: the opset's
    semantics, no CPU plugin, no low-precision transformations). A second oracle for outputs
    the CPU plugin is known to mis-execute."""
    import openvino as ov
    from ovrun import core
    model = core().read_model(str(ir.xml))
    feeds = _feeds(ir, arrays)
    model.reshape({p.get_any_name(): list(a.shape) for p, a in zip(model.inputs, feeds)})
    outs = [ov.Tensor(np.zeros(tuple(o.get_shape()), np.float32)) for o in model.outputs]
    assert model.evaluate(outs, [ov.Tensor(np.ascontiguousarray(a)) for a in feeds])
    return [np.array(t.data) for t in outs]


def tf_nudged(lows, highs, bits: int, narrow: bool) -> tuple[np.ndarray, np.ndarray]:
    """TensorFlow's own nudged ``[min, max]`` per range: what its per-channel kernel clamps
    +-1e6 to. Tests compare IR ranges with these, never with the converter's ``nudge``."""
    lows = np.atleast_1d(np.asarray(lows, F32))
    highs = np.atleast_1d(np.asarray(highs, F32))
    x = np.broadcast_to(np.array([[-1e6], [1e6]], F32), (2, lows.size))
    t = tf.quantization.fake_quant_with_min_max_vars_per_channel(
        x, lows, highs, num_bits=bits, narrow_range=narrow).numpy()
    return t[0].copy(), t[1].copy()


# -- OpenVINO CPU plugin bugs, each reproduced on a FakeQuantize built directly in OpenVINO ----

STRIPPED = "OpenVINO's CPU plugin strips 65536-level FakeQuantize (int16 QDQ stripping)"
PER_CHANNEL_LAST_AXIS = ("OpenVINO's CPU plugin mis-executes a 15/255-level FakeQuantize whose "
                         "ranges vary along the last axis of a rank >= 3 tensor")


def _direct_fq(shape, lo, hi, levels: int, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Parameter -> FakeQuantize(lo, hi, lo, hi, levels) -> Result, built with OpenVINO's own
    opset API: (CPU plugin output, or None when it cannot compile it; reference output)."""
    import openvino as ov
    import openvino.opset13 as ops
    from ovrun import F32 as HINT, core
    p = ops.parameter(list(shape), np.float32, name="x")
    lo, hi = np.asarray(lo, F32), np.asarray(hi, F32)
    model = ov.Model([ops.fake_quantize(p, lo, hi, lo, hi, levels)], [p])
    ref = [ov.Tensor(np.zeros(shape, F32))]
    assert model.evaluate(ref, [ov.Tensor(x)])
    try:
        cpu = core().compile_model(model, "CPU", HINT)([x])[0]
    except RuntimeError:
        return None, ref[0].data
    return np.asarray(cpu), ref[0].data


def cpu_bug_reproduces(bug: str, levels: int, channels: int = 3) -> bool:
    """Whether the CPU plugin still shows ``bug`` on a FakeQuantize built directly in OpenVINO
    (no tfconv involved): it cannot run the model, or its output differs from OpenVINO's
    reference evaluation by a fraction of a step or by more than one step."""
    r = np.random.default_rng(7)
    if bug == STRIPPED:
        shape, lo, hi = (64,), np.float32(-1.0), np.float32(3.0)
    elif bug == PER_CHANNEL_LAST_AXIS:
        shape = (2, 4, 4, channels)
        lo = np.linspace(-2.0, -0.5, channels).astype(F32)
        hi = np.linspace(0.7, 4.0, channels).astype(F32)
    else:
        raise ValueError(bug)
    x = r.uniform(-5, 5, shape).astype(F32)
    cpu, ref = _direct_fq(shape, lo, hi, levels, x)
    if cpu is None:
        return True
    steps = np.abs(cpu.astype(np.float64) - ref) / ((np.asarray(hi, np.float64) - lo) / (levels - 1))
    # A rounding tie may differ by one whole step; a fraction of a step is a wrong result.
    return bool(((steps > 0.01) & (np.abs(steps - np.round(steps)) > 0.01)).any()
                or (steps > 1.01).any())


# -- quantized whole-network graphs (test_quant_models.py) ----------------------------------
#
# FakeQuant goes where TF's quantization rewriter puts it: on every conv and depthwise weight
# (8 bits, narrow range; per-tensor or per-channel on the output-channel axis), after every
# activation (Relu6, or the layer itself when it is linear), after residual Adds and Concats, and
# on the input. Activation ranges are calibrated: the graph is first built without activation
# FakeQuant, run on random images, and each range is that tensor's [min, max] (widened to hold 0),
# so no output is saturated or constant.

INPUT_RANGE = (-1.0, 1.0)


class Quantizer:
    """Builds the FakeQuant nodes of one graph. ``ranges=None``: calibration (activations pass
    through and are recorded in ``seen``); otherwise ``ranges[name]`` is each activation's range.
    ``args=True`` uses FakeQuantWithMinMaxArgs (ranges as attributes) everywhere, else
    FakeQuantWithMinMaxVars / ...PerChannel with Const ranges."""

    def __init__(self, ranges: dict | None = None, args: bool = False):
        self.ranges = ranges
        self.args = args
        self.seen: dict[str, object] = {}
        self.last_input = None  # the input of the most recent activation FakeQuant
        self.last_range = None

    def act(self, x, name: str, bits: int = 8):
        """Activation FakeQuant named ``name`` (num_bits ``bits``, narrow_range false)."""
        self.last_input = x
        if self.ranges is None:
            self.seen[name] = x
            return x
        lo, hi = self.ranges[name]
        self.last_range = (lo, hi, bits, False)
        if self.args:
            return tf.quantization.fake_quant_with_min_max_args(
                x, min=lo, max=hi, num_bits=bits, narrow_range=False, name=name)
        return fq_vars(x, lo, hi, name, bits=bits)

    def weights(self, w: np.ndarray, name: str, per_channel: bool):
        """``w`` as a Const followed by its FakeQuant (8 bits, narrow range, as TF's rewriter
        quantizes weights); per-channel ranges run over the last axis (the output channels)."""
        if per_channel and not self.args:
            lo, hi = weight_range(w, axis=tuple(range(w.ndim - 1)))
            return fq_per_channel(tf.constant(w, name=name), lo, hi, f"{name}_fq")
        lo, hi = weight_range(w)
        if self.args:
            return tf.quantization.fake_quant_with_min_max_args(
                tf.constant(w, name=name), min=float(lo), max=float(hi), num_bits=8,
                narrow_range=True, name=f"{name}_fq")
        return fq_vars(tf.constant(w, name=name), lo, hi, f"{name}_fq", narrow=True)


def _channels(x) -> int:
    """The channel count of NHWC ``x``; 3 (RGB) for an input of undeclared shape."""
    if x.shape.rank is None or x.shape[-1] is None:
        return 3
    return int(x.shape[-1])


def _he(shape, key: str, fan_in: int, gain: float = 2.0) -> np.ndarray:
    return (np.sqrt(gain / fan_in) * rng(key).standard_normal(shape)).astype(F32)


def qconv(x, q: Quantizer, name: str, cout: int, k: int = 1, stride: int = 1,
          per_channel: bool = True, relu6: bool = True):
    """Conv2D (FakeQuant weights) -> BiasAdd -> [Relu6] -> FakeQuant: a folded conv-BN layer."""
    cin = _channels(x)
    w = _he((k, k, cin, cout), f"{name}/w", k * k * cin, 2.0 if relu6 else 1.0)
    y = tf.nn.conv2d(x, q.weights(w, f"{name}/weights", per_channel), [1, stride, stride, 1],
                     "SAME", name=f"{name}/Conv2D")
    y = tf.nn.bias_add(y, tf.constant((0.1 * rng(f"{name}/b").standard_normal(cout)).astype(F32),
                                      name=f"{name}/biases"), name=f"{name}/BiasAdd")
    if relu6:
        y = tf.nn.relu6(y, name=f"{name}/Relu6")
    return q.act(y, f"{name}/act_quant")


def qdepthwise(x, q: Quantizer, name: str, stride: int = 1):
    """DepthwiseConv2dNative 3x3 (per-tensor FakeQuant weights) -> BiasAdd -> Relu6 -> FakeQuant."""
    c = int(x.shape[-1])
    w = _he((3, 3, c, 1), f"{name}/w", 9)
    y = tf.nn.depthwise_conv2d(x, q.weights(w, f"{name}/depthwise_weights", False),
                               [1, stride, stride, 1], "SAME", name=f"{name}/depthwise")
    y = tf.nn.bias_add(y, tf.constant((0.1 * rng(f"{name}/b").standard_normal(c)).astype(F32),
                                      name=f"{name}/biases"), name=f"{name}/BiasAdd")
    return q.act(tf.nn.relu6(y, name=f"{name}/Relu6"), f"{name}/act_quant")


def logits_head(x, q: Quantizer, classes: int):
    """AvgPool over the whole map (VALID) -> 1x1 conv (per-channel FakeQuant weights) ->
    BiasAdd -> FakeQuant (the last one) -> SpatialSqueeze, as in slim's MobileNet."""
    h, w = x.shape[1], x.shape[2]
    if h is not None and w is not None:
        x = tf.nn.avg_pool2d(x, [1, h, w, 1], [1, 1, 1, 1], "VALID", name="Logits/AvgPool")
    else:  # an input of undeclared size: a global mean, as slim does then
        x = tf.reduce_mean(x, [1, 2], keepdims=True, name="Logits/AvgPool")
    x = qconv(x, q, "Logits/Conv2d_1c_1x1", classes, relu6=False)
    return tf.squeeze(x, [1, 2], name="Logits/SpatialSqueeze")


def mobilenet_v1(x, q: Quantizer, width: float, blocks=((1, 64), (2, 128), (2, 256)),
                 classes: int = 16):
    """MobileNet V1's op mix with fewer blocks: input FakeQuant, Conv2d_0 (3x3/2, per-tensor
    weights), then depthwise (3x3, per-tensor) + pointwise (1x1, per-channel) blocks, then the
    logits head. Channel counts scale with ``width`` like slim's depth_multiplier (at least 8)."""
    def depth(d):
        return max(int(d * width), 8)

    x = q.act(x, "input_quant")
    x = qconv(x, q, "Conv2d_0", depth(32), k=3, stride=2, per_channel=False)
    for i, (stride, d) in enumerate(blocks, start=1):
        x = qdepthwise(x, q, f"Conv2d_{i}_depthwise", stride)
        x = qconv(x, q, f"Conv2d_{i}_pointwise", depth(d))
    return logits_head(x, q, classes)


def mobilenet_v2_block(x, q: Quantizer, classes: int = 16):
    """MobileNet V2's inverted residuals: expand 1x1 -> depthwise 3x3 -> linear project 1x1 ->
    FakeQuant -> Add with the block input -> FakeQuant (twice; a third block is strided and has
    no residual), then Conv_1 (1x1, Relu6) and the logits head, as in slim's MobileNet V2."""
    x = q.act(x, "input_quant")
    x = qconv(x, q, "Conv", 16, k=3, stride=2, per_channel=False)
    for i, (stride, cout) in enumerate(((1, 16), (1, 16), (2, 24)), start=1):
        name = f"expanded_conv_{i}"
        cin = int(x.shape[-1])
        y = qconv(x, q, f"{name}/expand", 6 * cin)
        y = qdepthwise(y, q, f"{name}/depthwise", stride)
        y = qconv(y, q, f"{name}/project", cout, relu6=False)
        if stride == 1 and cin == cout:
            y = q.act(tf.add(y, x, name=f"{name}/add"), f"{name}/add_quant")
        x = y
    x = qconv(x, q, "Conv_1", 64)
    return logits_head(x, q, classes)


def inception_block(x, q: Quantizer, classes: int = 16):
    """Inception's Mixed block: four parallel branches (1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3;
    MaxPool 3x3 -> 1x1), Concat on channels -> FakeQuant, a second Mixed block, logits head."""
    x = q.act(x, "input_quant")
    x = qconv(x, q, "Conv2d_1a_3x3", 16, k=3, stride=2, per_channel=False)
    x = tf.nn.max_pool2d(x, 3, 2, "SAME", name="MaxPool_2a_3x3")
    for block in ("Mixed_3b", "Mixed_3c"):
        b0 = qconv(x, q, f"{block}/Branch_0/Conv2d_0a_1x1", 8)
        b1 = qconv(x, q, f"{block}/Branch_1/Conv2d_0a_1x1", 8)
        b1 = qconv(b1, q, f"{block}/Branch_1/Conv2d_0b_3x3", 12, k=3)
        b2 = qconv(x, q, f"{block}/Branch_2/Conv2d_0a_1x1", 4)
        b2 = qconv(b2, q, f"{block}/Branch_2/Conv2d_0b_3x3", 8, k=3, per_channel=False)
        b2 = qconv(b2, q, f"{block}/Branch_2/Conv2d_0c_3x3", 8, k=3)
        b3 = tf.nn.max_pool2d(x, 3, 1, "SAME", name=f"{block}/Branch_3/MaxPool_0a_3x3")
        b3 = qconv(b3, q, f"{block}/Branch_3/Conv2d_0b_1x1", 4)
        x = tf.concat([b0, b1, b2, b3], axis=3, name=f"{block}/concat")
        x = q.act(x, f"{block}/concat_quant")
    return logits_head(x, q, classes)


@dataclass
class QuantNet:
    """A frozen quantized graph. ``outputs``: the network output (after the last FakeQuant)
    and the last FakeQuant's input; ``last_range``: that FakeQuant's (min, max, bits, narrow)."""
    net: object  # passhelp.TFNet
    last_range: tuple

    @property
    def step(self) -> float:
        """One quantization step of the last FakeQuant (TF's nudged range)."""
        lo, hi, bits, narrow = self.last_range
        nmin, nmax, levels = nudge(lo, hi, bits, narrow)
        return (float(nmax) - float(nmin)) / (levels - 1)


def images(shape, key: str) -> np.ndarray:
    """Random images in the input FakeQuant's range, smooth enough to look like pictures at
    every scale (a sum of a coarse and a fine random field)."""
    r = rng(key)
    n, h, w, c = shape
    coarse = r.uniform(-1, 1, (n, (h + 7) // 8, (w + 7) // 8, c))
    coarse = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)[:, :h, :w]
    x = 0.6 * coarse + 0.4 * r.uniform(-1, 1, (n, h, w, c))
    return np.clip(x, *INPUT_RANGE).astype(F32)


CALIB_BATCH = 4


def quantized_net(directory: Path, build, shape, *, args: bool = False,
                  placeholder_shape="same", key: str = "calib",
                  input_name: str = "input") -> QuantNet:
    """Calibrate (on images of TF shape ``shape``) and freeze ``build(x, quantizer)`` into
    ``directory / "model.pb"``: one float32 Placeholder named ``input_name`` declared with
    ``shape``, or with ``placeholder_shape`` (``None``: no shape attribute)."""
    from passhelp import TFNet, tf1

    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, (None, *shape[1:]), name="input")
        calib = Quantizer()
        build(x, calib)
        names = list(calib.seen)
        with tf1.Session(graph=graph) as sess:
            values = sess.run([calib.seen[n] for n in names],
                              {x: images((CALIB_BATCH, *shape[1:]), key)})
    ranges = {n: (float(min(v.min(), 0.0)), float(max(v.max(), 0.0)))
              for n, v in zip(names, values)}
    ranges["input_quant"] = INPUT_RANGE
    graph = tf.Graph()
    with graph.as_default():
        declared = shape if placeholder_shape == "same" else placeholder_shape
        x = tf1.placeholder(tf.float32, declared, name=input_name)
        q = Quantizer(ranges, args=args)
        out = build(x, q)
        outs = [out, q.last_input]
    directory.mkdir(parents=True, exist_ok=True)
    pb = directory / "model.pb"
    pb.write_bytes(graph.as_graph_def().SerializeToString())
    return QuantNet(TFNet(graph, [x], outs, pb), q.last_range)


def xml_fq_levels(xml: Path) -> list[int]:
    """``levels`` of every FakeQuantize layer of an IR .xml, sorted."""
    root = ET.parse(xml).getroot()
    return sorted(int(layer.find("data").get("levels")) for layer in root.iter("layer")
                  if layer.get("type") == "FakeQuantize")


def activation_fqs(graph: tf.Graph) -> list:
    """The FakeQuant ops of ``graph`` that quantize activations (not a Const), in graph order."""
    return [op for op in graph.get_operations()
            if op.type in FQ_TYPES and op.inputs[0].op.type != "Const"]


def fq_range(op, sess) -> tuple[np.ndarray, np.ndarray, int]:
    """A FakeQuant op's nudged range and levels (``sess`` evaluates its min/max inputs)."""
    bits, narrow = op.get_attr("num_bits"), op.get_attr("narrow_range")
    if op.type == "FakeQuantWithMinMaxArgs":
        lo, hi = op.get_attr("min"), op.get_attr("max")
    else:
        lo, hi = sess.run([op.inputs[1], op.inputs[2]])
    return nudge(lo, hi, bits, narrow)


def assert_layer_match(ir_pre, tf_pre, ir_out, tf_out, nmin, nmax, levels: int,
                       what: str) -> None:
    """One FakeQuant layer of the IR against TF fed with the IR's own upstream activations:
    the FakeQuant's input within 1e-4 relative, its output equal (float32 rounding of a level:
    1e-6 relative to the range) except where TF's
    input lies within the two inputs' difference (plus 1e-3 steps) of a midpoint between two
    levels, where it may be one step off."""
    from ovrun import rel_err
    err = rel_err(ir_pre, tf_pre)
    assert err <= 1e-4, f"{what}: FakeQuant input off by {err:.3g} relative"
    step = (float(nmax) - float(nmin)) / (levels - 1)
    q = (np.clip(tf_pre.astype(np.float64), nmin, nmax) - float(nmin)) / step
    band = np.abs(ir_pre.astype(np.float64) - tf_pre) / step + 1e-3
    tie = np.abs(q - np.floor(q) - 0.5) < band
    diff = np.abs(ir_out.astype(np.float64) - tf_out)
    exact = 1e-6 * max(1.0, abs(float(nmin)), abs(float(nmax)))  # float32 rounding of a level
    bad = (diff > exact) & ~(tie & (diff <= step + exact))
    assert not bad.any(), (f"{what}: {int(bad.sum())} of {bad.size} outputs differ (max "
                           f"{diff[bad].max() / step:.3g} steps) away from rounding ties")
