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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ir_backend"))

from passhelp import rng, tf  # noqa: E402
from tfconv_tf_frontend.ops.quant import nudge  # noqa: E402

F32 = np.float32
FQ_TYPES = ("FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars",
            "FakeQuantWithMinMaxVarsPerChannel")
# Ranges: symmetric, asymmetric, zero not representable (all positive / all negative), tiny min.
RANGES = [(-6.0, 6.0), (0.1, 2.3), (-2.7, -0.2), (-1.0, 3.3), (-0.37, 1.91), (0.0, 1.0),
          (-1e-3, 5.0)]
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
    """Equal within 1e-6 except within float32 noise of a midpoint between two levels (where
    exactly one step of difference is allowed). ``nmin``/``nmax`` broadcast against ``x``."""
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
    far = diff[~near]
    assert far.size == 0 or far.max() <= 1e-6, (
        f"{what}: max |ir - tf| = {far.max():.3g} away from rounding ties "
        f"({int((far > 1e-6).sum())} of {far.size} values); x={x[~near][far > 1e-6][:5]}")
    if near.any():
        tie = diff[near] - step[near]
        assert tie.max() <= 1e-6, f"{what}: {tie.max():.3g} more than one step at a rounding tie"


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



def run(ir, *arrays: np.ndarray) -> list[np.ndarray]:
    """``ir.run`` for inputs of any rank (``passhelp.IR.run`` transposes every input to NCHW
    first): a 4-D input goes in NCHW only when its Parameter was made NCHW."""
    from ovrun import run_ir
    feeds = []
    for a, shape in zip(arrays, ir.param_shapes()):
        if a.ndim == 4 and tuple(shape) != a.shape and \
                tuple(shape) == tuple(a.shape[i] for i in (0, 3, 1, 2)):
            a = np.ascontiguousarray(np.transpose(a, (0, 3, 1, 2)))
        feeds.append(a)
    return run_ir(ir.xml, feeds)
