"""FakeQuantize on constant weights -> integer constant + Convert + Multiply (+ Subtract).

A quantization-aware-trained TF graph fake-quantizes every weight tensor; the frontend emits
``Const -> FakeQuantize(il, ih, ol, oh)`` for it (six layers with the range constants). The pass
evaluates that FakeQuantize (TF's float32 formula) and stores the result as the integer levels it
takes: ``Const(i8 levels) -> Convert(f32) -> Multiply(step)`` when the zero point is at level 0
of a signed byte, ``Const(u8) -> Convert -> Subtract(zero point) -> Multiply(step)`` otherwise;
OpenVINO's low-precision transformations read that as quantized weights (int8 kernels), as they
read ovc's IR. The rewrite is taken only where it reproduces the FakeQuantize output within
float32 rounding, and only for convolution weights: with integer MatMul weights the CPU plugin
quantizes the MatMul's input on the fly too (dynamic quantization, 2e-2 off on a 1000-class head,
in f32 inference). Other weights (or levels that fit no byte) become plain float32 constants.
"""
from __future__ import annotations

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .fusion import CONVS, _bypass, _const, _weights_as_nk

TOLERANCE = 4 * float(np.finfo(np.float32).eps)  # of the tensor's largest magnitude


def fake_quantize(x: np.ndarray, il, ih, ol, oh, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """FakeQuantize of ``x``: (level index per element, output as float64).

    Where the output range is the input range (the frontend's FakeQuantize from TF's
    FakeQuantWithMinMax*), in float32 as TF's kernel computes it: ``floor((clamp(x) - min) *
    (1 / step) + 0.5)``; a weight within float32 noise of a midpoint between two levels then
    takes the level TF gives it. Otherwise the opset's formula in float64."""
    f32 = np.float32
    x, il, ih, ol, oh = (np.asarray(v) for v in (x, il, ih, ol, oh))
    if np.array_equal(np.broadcast_to(il, np.broadcast_shapes(il.shape, ol.shape)), ol) and \
            np.array_equal(np.broadcast_to(ih, np.broadcast_shapes(ih.shape, oh.shape)), oh):
        lo, hi = il.astype(f32), ih.astype(f32)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = ((hi - lo) / f32(levels - 1)).astype(f32)
            inv = (f32(1) / step).astype(f32)
            shifted = (np.clip(x.astype(f32), lo, hi) - lo).astype(f32)
            k = np.floor((shifted * inv).astype(f32) + f32(0.5)).astype(np.float64)
        k = np.clip(np.nan_to_num(k, posinf=0.0, neginf=0.0), 0, levels - 1)
        return k, np.where(step != 0, k * step.astype(np.float64) + lo, lo.astype(np.float64))
    x, il, ih, ol, oh = (np.asarray(v, np.float64) for v in (x, il, ih, ol, oh))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.round((x - il) / (ih - il) * (levels - 1))
    k = np.where(x <= np.minimum(il, ih), 0, np.where(x > np.maximum(il, ih), levels - 1, k))
    k = np.nan_to_num(k)
    return k, k / (levels - 1) * (oh - ol) + ol


def _feeds_conv_weights(graph: Graph, port: Port) -> bool:
    """Every use of ``port`` is a convolution's weights, directly or through Reshapes / Unsqueezes (the
    group split of a depthwise kernel)."""
    users = graph.consumers(port)
    return bool(users) and all(
        (graph.op(user).type in CONVS and dst == 1) or
        (graph.op(user).type in ("Reshape", "Unsqueeze") and dst == 0 and
         _feeds_conv_weights(graph, Port(user)))
        for user, dst in users)


@graph_pass("ir_backend.compress_fq_weights", stage="ir", after=["ir_backend.fuse_linear"],
            before=["ir_backend.compress_fp16"])
def compress_fq_weights(graph: Graph, config) -> None:
    """Const -> FakeQuantize with constant ranges: integer levels + Convert + Multiply."""
    b = IRBuilder(graph, fold=False)
    for fq in list(graph.ops_of_type("FakeQuantize")):
        ins = graph.inputs(fq.name)
        values = [_const(graph, p) for p in ins]
        if any(v is None for v in values) or values[0].dtype != np.float32:
            continue
        x, il, ih, ol, oh = values
        levels = int(fq.attrs["levels"])
        if fq.attrs.get("auto_broadcast", "numpy") != "numpy" or levels > 256:
            continue
        k, out = fake_quantize(x, il, ih, ol, oh, levels)
        out32 = out.astype(np.float32)
        step = ((oh.astype(np.float64) - ol) / (levels - 1))
        zero = np.round(-ol / np.where(step != 0, step, 1))
        bshape = np.broadcast_shapes(il.shape, ih.shape, ol.shape, oh.shape)
        bshape = (1,) * (x.ndim - len(bshape)) + bshape  # rank-aligned: plugins read it per axis
        step32 = np.broadcast_to(step, bshape).astype(np.float32)
        zero = np.broadcast_to(zero, bshape)
        limit = TOLERANCE * max(float(np.abs(out32).max(initial=0)), 1e-30)
        signed = k - zero
        name, deq = fq.name, None
        convs_only = _feeds_conv_weights(graph, Port(name))
        if not convs_only:
            pass  # a MatMul's integer weights make the CPU plugin quantize its input too
        elif signed.min(initial=0) >= -128 and signed.max(initial=0) <= 127 and \
                np.abs(signed * step32.astype(np.float64) - out32).max(initial=0) <= limit:
            q = b.const(signed.astype(np.int8), f"{name}/levels")
            deq = b.emit("Convert", [q], f"{name}/to_f32", {"destination_type": "float32"})[0]
        elif convs_only and np.all(zero >= 0) and np.all(zero <= 255) and k.max(initial=0) <= 255 and \
                np.abs((k - zero) * step32.astype(np.float64) - out32).max(initial=0) <= limit:
            q = b.const(k.astype(np.uint8), f"{name}/levels")
            deq = b.emit("Convert", [q], f"{name}/to_f32", {"destination_type": "float32"})[0]
            deq = b.emit("Subtract", [deq, b.const(zero.astype(np.float32), f"{name}/zero_point")],
                         f"{name}/shift")[0]
        if not convs_only or deq is None:
            folded = b.const(out32, f"{name}/folded")
            _bypass(graph, name, folded)
            for user, dst in graph.consumers(folded):
                if graph.op(user).type == "MatMul" and dst == 1:
                    _weights_as_nk(graph, b, user)
            continue
        scaled = b.emit("Multiply", [deq, b.const(step32, f"{name}/scale")], f"{name}/scaled")[0]
        _bypass(graph, name, scaled)
    graph.remove_dead(keep=[op.name for op in graph.ops_of_type("Parameter")])
