"""Fourier transforms and the complex numbers around them: FFT/IFFT/RFFT/IRFFT (1-3 D), Complex,
Real, Imag, ComplexAbs, Angle, Conj.

The IR has no complex type. A complex tensor of shape S is carried, as OpenVINO's DFT ops take
it, as a real tensor of shape S + [2] (real, imaginary). Only the ops here know that, so a
complex result may only feed them (through Identity-like ops), and a complex input must come
from one of them: anything else is refused by name rather than computed wrong.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import ints
from .misc import atan2_of

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs

# TF op -> (IR op, number of transformed axes)
FFTS = {"FFT": ("DFT", 1), "FFT2D": ("DFT", 2), "FFT3D": ("DFT", 3),
        "IFFT": ("IDFT", 1), "IFFT2D": ("IDFT", 2), "IFFT3D": ("IDFT", 3)}
RFFTS = {"RFFT": 1, "RFFT2D": 2, "RFFT3D": 3}
IRFFTS = {"IRFFT": 1, "IRFFT2D": 2, "IRFFT3D": 3}
MAKES_COMPLEX = {"Complex", "Conj", *FFTS, *RFFTS}
TAKES_COMPLEX = {"Real", "Imag", "ComplexAbs", "Angle", "Conj", *FFTS, *IRFFTS}
TRANSPARENT = {"Identity", "Snapshot", "StopGradient", "PreventGradient", "EnsureShape"}


def check_complex_uses(ctx: NodeContext) -> None:
    """Refuse a complex result that reaches an op unaware of the (real, imag) layout."""
    src = ctx.src
    needed = src.ancestors(p.node for p in src.outputs)
    stack = [ctx.name]
    while stack:
        for consumer, _ in src.consumers(stack.pop()):
            op_type = src.op(consumer).type
            if consumer not in needed:
                continue
            if op_type in TRANSPARENT:
                stack.append(consumer)
            elif op_type not in TAKES_COMPLEX:
                ctx.fail(f"its complex result feeds {consumer!r} ({op_type}); tfconv computes "
                         "on complex numbers only in Real, Imag, ComplexAbs, Angle, Conj and "
                         "the FFTs")


def complex_input(ctx: NodeContext, i: int = 0) -> Port:
    """Input ``i``, which must be a complex tensor that a translator here made."""
    src = ctx.src
    port = src.inputs(ctx.name)[i]
    while src.op(port.node).type in TRANSPARENT:
        port = src.inputs(port.node)[0]
    producer = src.op(port.node)
    if producer.type not in MAKES_COMPLEX:
        ctx.fail(f"its complex input comes from {producer.name!r} ({producer.type}); only "
                 "complex tensors made by Complex, Conj or an FFT can be converted")
    return ctx.input(i)


def known_rank(ctx: NodeContext, x: Port) -> int:
    rank = ctx.rank(x)
    ctx.require(rank is not None, "the input rank must be known")
    return rank


def part(ctx: NodeContext, x: Port, index: int) -> Port:
    return ctx.emit("Gather", x, ints(ctx, index), ints(ctx, -1), batch_dims=0)


@TABLE.register("Complex", inputs=2)
def complex_(ctx: NodeContext) -> Outputs:
    # TF: real + i * imag (broadcasting)       IR: the two stacked on a last axis of 2
    check_complex_uses(ctx)
    re, im = ctx.inputs()
    if ctx.shape(re) != ctx.shape(im) or ctx.shape(re) is None or None in ctx.shape(re):
        shape = ctx.emit("ShapeOf", ctx.emit("Add", re, im), output_type="int64")
        re = ctx.emit("Broadcast", re, shape, mode="numpy")
        im = ctx.emit("Broadcast", im, shape, mode="numpy")
    last = ints(ctx, [-1])
    return ctx.emit("Concat", ctx.emit("Unsqueeze", re, last), ctx.emit("Unsqueeze", im, last),
                    axis=-1)


@TABLE.register("Real", inputs=1)
def real(ctx: NodeContext) -> Outputs:
    return part(ctx, complex_input(ctx), 0)


@TABLE.register("Imag", inputs=1)
def imag(ctx: NodeContext) -> Outputs:
    return part(ctx, complex_input(ctx), 1)


@TABLE.register("ComplexAbs", inputs=1)
def complex_abs(ctx: NodeContext) -> Outputs:
    # TF: |z| = sqrt(re^2 + im^2)
    z = complex_input(ctx)
    return ctx.emit("Sqrt", ctx.emit("ReduceSum", ctx.emit("Multiply", z, z), ints(ctx, [-1]),
                                     keep_dims=False))


@TABLE.register("Angle", inputs=1)
def angle(ctx: NodeContext) -> Outputs:
    # TF: atan2(im, re)
    z = complex_input(ctx)
    return atan2_of(ctx, part(ctx, z, 1), part(ctx, z, 0))


@TABLE.register("Conj", inputs=1)
def conj(ctx: NodeContext) -> Outputs:
    # TF: re - i * im        IR: times [1, -1] on the last axis
    check_complex_uses(ctx)
    z = complex_input(ctx)
    return ctx.emit("Multiply", z, ctx.const(np.array([1, -1], ctx.dtype(z)), name="conj"))


@TABLE.register(*FFTS, inputs=1)
def fft(ctx: NodeContext) -> Outputs:
    # TF: the (inverse) DFT over the innermost 1-3 axes (IFFT scaled by 1/n)
    # IR: DFT/IDFT over the same axes of the (.., 2) layout
    check_complex_uses(ctx)
    z = complex_input(ctx)
    ir_type, n = FFTS[ctx.op_type]
    rank = known_rank(ctx, z) - 1
    return ctx.emit(ir_type, z, ints(ctx, list(range(rank - n, rank))))


def fft_length(ctx: NodeContext, n: int) -> Port:
    shape = ctx.shape(1)
    ctx.require(shape is not None and list(shape) == [n], f"fft_length must have {n} entries")
    return ctx.emit("Convert", ctx.input(1), destination_type="int64")


@TABLE.register(*RFFTS, inputs=2)
def rfft(ctx: NodeContext) -> Outputs:
    # TF: the DFT of a real signal over the innermost axes, cropped or zero-padded to
    # fft_length, the last axis keeping fft_length // 2 + 1 entries     IR: RDFT
    check_complex_uses(ctx)
    x = ctx.input(0)
    n = RFFTS[ctx.op_type]
    rank = known_rank(ctx, x)
    return ctx.emit("RDFT", x, ints(ctx, list(range(rank - n, rank))), fft_length(ctx, n))


@TABLE.register(*IRFFTS, inputs=2)
def irfft(ctx: NodeContext) -> Outputs:
    # TF: the real inverse of RFFT, fft_length samples per axis      IR: IRDFT
    z = complex_input(ctx)
    n = IRFFTS[ctx.op_type]
    rank = known_rank(ctx, z) - 1
    return ctx.emit("IRDFT", z, ints(ctx, list(range(rank - n, rank))), fft_length(ctx, n))
