"""Convolutions, pooling, normalisation, softmax and resizing.

TF keeps these ops in its own data_format; the IR has them channels-first only, so NHWC inputs
are wrapped in ``to_nchw`` / ``to_nhwc`` transposes (a later IR pass cancels the pairs).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._layout import is_channels_first, spatial_of, to_nchw, to_nhwc
from ._util import const_ints, dtype_name, ints, partial_value, text

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs


# -- padding -------------------------------------------------------------------------------------


def same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TF SAME padding of one spatial dim: the odd cell goes to the end."""
    total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def window_pads(ctx: NodeContext, sizes: list, kernel: list[int], strides: list[int],
                dilations: list[int], data_format: str) -> dict[str, object]:
    """IR ``pads_begin``/``pads_end``/``auto_pad`` for TF ``padding`` (SAME/VALID/EXPLICIT)."""
    padding = text(ctx, "padding", "VALID")
    n = len(kernel)
    if padding == "VALID":
        return {"pads_begin": [0] * n, "pads_end": [0] * n, "auto_pad": "explicit"}
    if padding == "EXPLICIT":
        flat = [int(p) for p in ctx.attr("explicit_paddings")]
        pairs = spatial_of([flat[2 * i:2 * i + 2] for i in range(len(flat) // 2)], data_format)
        return {"pads_begin": [p[0] for p in pairs], "pads_end": [p[1] for p in pairs],
                "auto_pad": "explicit"}
    ctx.require(padding == "SAME", f"unsupported padding {padding!r}")
    # A stride-1 dim pads (k - 1) * d whatever its size; others need the size.
    if any(size is None and s != 1 for size, s in zip(sizes, strides)):
        return {"pads_begin": [0] * n, "pads_end": [0] * n, "auto_pad": "same_upper"}
    pads = [same_pads(1 if size is None else size, k, s, d)
            for size, k, s, d in zip(sizes, kernel, strides, dilations)]
    return {"pads_begin": [p[0] for p in pads], "pads_end": [p[1] for p in pads],
            "auto_pad": "explicit"}


def spatial_sizes(ctx: NodeContext, x_nc: Port) -> list:
    shape = ctx.shape(x_nc)
    ctx.require(shape is not None, "the input rank must be known")
    return list(shape[2:])


def data_format(ctx: NodeContext, default: str = "NHWC") -> str:
    fmt = text(ctx, "data_format", default)
    ctx.require(fmt in ("NHWC", "NCHW", "NDHWC", "NCDHW", "NWC", "NCW"),
                f"unsupported data_format {fmt!r}")
    return fmt


def channels_first(ctx: NodeContext, x: Port, fmt: str) -> Port:
    return x if is_channels_first(fmt) else to_nchw(ctx, x)


def restore_layout(ctx: NodeContext, y: Port, fmt: str) -> Port:
    return y if is_channels_first(fmt) else to_nhwc(ctx, y)


def filter_to_oihw(ctx: NodeContext, filt: Port) -> Port:
    """TF filter ``[k..., I, O]`` -> IR ``[O, I, k...]`` (a folded constant for Const filters)."""
    rank = ctx.rank(filt)
    ctx.require(rank is not None, "the filter rank must be known")
    perm = [rank - 1, rank - 2, *range(rank - 2)]
    return ctx.emit("Transpose", filt, ints(ctx, perm), name="weights")


def filter_kernel(ctx: NodeContext, filt: Port) -> list[int]:
    shape = ctx.shape(filt)
    ctx.require(shape is not None and all(d is not None for d in shape[:-2]),
                "the filter's spatial shape must be static")
    return list(shape[:-2])


# -- convolutions --------------------------------------------------------------------------------


@TABLE.register("Conv2D", "Conv3D", inputs=2)
def conv2d(ctx: NodeContext) -> Outputs:
    # TF: y = Conv2D(x[N,H,W,C], filter[kh,kw,I,O])     IR: Convolution(x[N,C,H,W], w[O,I,kh,kw]),
    # or GroupConvolution(w[G,O/G,I,kh,kw]) when C = G * I (grouped convolution)
    x, filt = ctx.inputs()
    fmt = data_format(ctx, "NHWC" if ctx.op_type == "Conv2D" else "NDHWC")
    kernel = filter_kernel(ctx, filt)
    n = len(kernel)
    strides = spatial_of(ctx.attr("strides"), fmt)
    dilations = spatial_of(ctx.attr("dilations", [1] * (n + 2)), fmt)
    x_nc = channels_first(ctx, x, fmt)
    weights = filter_to_oihw(ctx, filt)
    channels = (ctx.shape(x_nc) or [None, None])[1]
    fin, fout = ctx.shape(filt)[-2:]
    ir_type = "Convolution"
    if channels is not None and fin is not None and channels != fin:
        ctx.require(channels % fin == 0 and fout is not None and fout % (channels // fin) == 0,
                    f"input channels {channels} do not match the filter's {fin}")
        groups = channels // fin
        weights = ctx.emit("Reshape", weights, ints(ctx, [groups, fout // groups, fin, *kernel]),
                           special_zero=False, name="group_weights")
        ir_type = "GroupConvolution"
    pads = window_pads(ctx, spatial_sizes(ctx, x_nc), kernel, strides, dilations, fmt)
    y = ctx.emit(ir_type, x_nc, weights, strides=strides, dilations=dilations, **pads)
    return restore_layout(ctx, y, fmt)


@TABLE.register("DepthwiseConv2dNative", inputs=2)
def depthwise_conv2d_native(ctx: NodeContext) -> Outputs:
    # TF: y[..., c*M+m] = DepthwiseConv2dNative(x[N,H,W,C], filter[kh,kw,C,M])
    # IR: GroupConvolution(x[N,C,H,W], w[C, M, 1, kh, kw])
    x, filt = ctx.inputs()
    fmt = data_format(ctx)
    kernel = filter_kernel(ctx, filt)
    strides = spatial_of(ctx.attr("strides"), fmt)
    dilations = spatial_of(ctx.attr("dilations", [1, 1, 1, 1]), fmt)
    x_nc = channels_first(ctx, x, fmt)
    weights = ctx.emit("Transpose", filt, ints(ctx, [2, 3, 0, 1]), name="weights")
    weights = ctx.emit("Unsqueeze", weights, ints(ctx, [2]), name="group_weights")
    pads = window_pads(ctx, spatial_sizes(ctx, x_nc), kernel, strides, dilations, fmt)
    y = ctx.emit("GroupConvolution", x_nc, weights, strides=strides, dilations=dilations, **pads)
    return restore_layout(ctx, y, fmt)


@TABLE.register("Conv2DBackpropInput", "Conv3DBackpropInputV2", inputs=3)
def conv2d_backprop_input(ctx: NodeContext) -> Outputs:
    # TF: y[N,H,W,I] = Conv2DBackpropInput(input_sizes, filter[kh,kw,I,O], dy[N,h,w,O])
    # IR: ConvolutionBackpropData(dy[N,O,h,w], w[O,I,kh,kw]) with the forward conv's pads and
    #     output_padding for the cells of H that no window reached.
    sizes, filt, dy = ctx.inputs()
    fmt = data_format(ctx, "NHWC" if ctx.op_type == "Conv2DBackpropInput" else "NDHWC")
    kernel = filter_kernel(ctx, filt)
    n = len(kernel)
    strides = spatial_of(ctx.attr("strides"), fmt)
    dilations = spatial_of(ctx.attr("dilations", [1] * (n + 2)), fmt)
    known = partial_value(ctx, sizes)
    ctx.require(known is not None and len(known) in (n, n + 2), "input_sizes must be known")
    out_sizes = known if len(known) == n else spatial_of(known, fmt)
    ctx.require(all(s is not None for s in out_sizes),
                "the spatial output size (input_sizes) must be static")
    dy_nc = channels_first(ctx, dy, fmt)
    in_sizes = spatial_sizes(ctx, dy_nc)
    ctx.require(all(s is not None for s in in_sizes), "the input's spatial shape must be static")
    pads = window_pads(ctx, out_sizes, kernel, strides, dilations, fmt)
    ctx.require(pads["auto_pad"] == "explicit", "unexpected dynamic padding")
    out_pad = []
    for i in range(n):
        full = strides[i] * (in_sizes[i] - 1) + (kernel[i] - 1) * dilations[i] + 1
        extra = out_sizes[i] - (full - pads["pads_begin"][i] - pads["pads_end"][i])
        ctx.require(0 <= extra < max(strides[i], dilations[i]),
                    f"output size {out_sizes[i]} does not fit the gradient of a convolution")
        out_pad.append(extra)
    weights = filter_to_oihw(ctx, filt)
    y = ctx.emit("ConvolutionBackpropData", dy_nc, weights, strides=strides, dilations=dilations,
                 output_padding=out_pad, **pads)
    return restore_layout(ctx, y, fmt)


# -- pooling -------------------------------------------------------------------------------------


def pool(ctx: NodeContext, ir_type: str, ksize: list[int], strides: list[int],
         **extra: object) -> Port:
    fmt = data_format(ctx, "NHWC" if len(ksize) == 4 else "NDHWC")
    x_nc = channels_first(ctx, ctx.input(0), fmt)
    kernel, steps = spatial_of(ksize, fmt), spatial_of(strides, fmt)
    pads = window_pads(ctx, spatial_sizes(ctx, x_nc), kernel, steps, [1] * len(kernel), fmt)
    y = ctx.emit(ir_type, x_nc, kernel=kernel, strides=steps, rounding_type="floor",
                 **pads, **extra)
    return restore_layout(ctx, y, fmt)


@TABLE.register("MaxPool", "MaxPool3D", inputs=1)
def max_pool(ctx: NodeContext) -> Outputs:
    # IR MaxPool never counts padded cells, as TF's SAME max pooling.
    return pool(ctx, "MaxPool", ctx.attr("ksize"), ctx.attr("strides"))


@TABLE.register("MaxPoolV2", inputs=3)
def max_pool_v2(ctx: NodeContext) -> Outputs:
    return pool(ctx, "MaxPool", const_ints(ctx, 1, "ksize"), const_ints(ctx, 2, "strides"))


@TABLE.register("AvgPool", "AvgPool3D", inputs=1)
def avg_pool(ctx: NodeContext) -> Outputs:
    # TF's SAME average pooling divides by the number of real (unpadded) cells.
    return pool(ctx, "AvgPool", ctx.attr("ksize"), ctx.attr("strides"),
                **{"exclude-pad": True})


# -- normalisation -------------------------------------------------------------------------------


def per_channel(ctx: NodeContext, port: Port, rank: int | None, fmt: str) -> Port:
    """A ``[C]`` vector shaped to broadcast against the data: ``[C, 1, ...]`` for channels-first."""
    if not is_channels_first(fmt):
        return port
    ctx.require(rank is not None, "the input rank must be known")
    return ctx.emit("Unsqueeze", port, ints(ctx, list(range(1, rank - 1))))


@TABLE.register("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", inputs=5)
def fused_batch_norm(ctx: NodeContext) -> Outputs:
    # TF: y, mean, var, ... = FusedBatchNorm(x, scale, offset, mean, variance, epsilon)
    # IR: y = x * f + (offset - mean * f) with f = scale / sqrt(variance + epsilon)
    x, scale, offset, mean, var = ctx.inputs()
    fmt = data_format(ctx)
    eps = float(ctx.attr("epsilon", 1e-4))
    rank = ctx.rank(x)
    xdt = ctx.dtype(x) or np.dtype(np.float32)
    if ctx.attr("is_training", True):
        # Batch statistics (a graph frozen in training mode).
        c_axis = 1 if is_channels_first(fmt) else -1
        ctx.require(rank is not None, "training-mode batch norm needs a known input rank")
        axes = ints(ctx, [a for a in range(rank) if a != c_axis % rank])
        mean = ctx.emit("ReduceMean", x, axes, keep_dims=False, name="batch_mean")
        keep = per_channel(ctx, mean, rank, fmt)
        var = ctx.emit("ReduceMean", ctx.emit("SquaredDifference", x, keep), axes,
                       keep_dims=False, name="batch_variance")
    values = [ctx.value(p) for p in (scale, offset, mean, var)]
    if all(v is not None for v in values):
        g, b, m, v = (np.asarray(a, np.float32) for a in values)
        factor = (g / np.sqrt(v + np.float32(eps))).astype(np.float32)
        shift = (b - m * factor).astype(np.float32)
        factor_p = ctx.const(factor.astype(xdt), name="scale")
        shift_p = ctx.const(shift.astype(xdt), name="shift")
    else:
        pdt = ctx.dtype(scale) or np.dtype(np.float32)
        std = ctx.emit("Sqrt", ctx.emit("Add", var, ctx.const(np.array(eps, pdt))))
        factor_p = ctx.emit("Divide", scale, std)
        shift_p = ctx.emit("Subtract", offset, ctx.emit("Multiply", mean, factor_p))
        if pdt != xdt:
            factor_p = ctx.emit("Convert", factor_p, destination_type=dtype_name(xdt))
            shift_p = ctx.emit("Convert", shift_p, destination_type=dtype_name(xdt))
    y = ctx.emit("Multiply", x, per_channel(ctx, factor_p, rank, fmt))
    y = ctx.emit("Add", y, per_channel(ctx, shift_p, rank, fmt))
    extra = (var,) if ctx.op_type == "FusedBatchNormV3" else ()
    return (y, mean, var, mean, var, *extra)


@TABLE.register("LRN", inputs=1)
def lrn(ctx: NodeContext) -> Outputs:
    # TF: y = x / (bias + alpha * sum(x[c-r..c+r]^2)) ^ beta   (NHWC, over channels)
    # IR: LRN(x[N,C,H,W], axes=[1], size=2r+1, alpha=alpha*size)  (IR divides alpha by size)
    radius = int(ctx.attr("depth_radius", 5))
    size = 2 * radius + 1
    x_nc = to_nchw(ctx, ctx.input(0))
    y = ctx.emit("LRN", x_nc, ints(ctx, [1]), alpha=float(ctx.attr("alpha", 1.0)) * size,
                 beta=float(ctx.attr("beta", 0.5)), bias=float(ctx.attr("bias", 1.0)), size=size)
    return to_nhwc(ctx, y)


@TABLE.register("Softmax", inputs=1)
def softmax(ctx: NodeContext) -> Outputs:
    return ctx.emit("SoftMax", ctx.input(0), axis=-1)


@TABLE.register("LogSoftmax", inputs=1)
def log_softmax(ctx: NodeContext) -> Outputs:
    return ctx.emit("LogSoftmax", ctx.input(0), axis=-1)


# -- resizing ------------------------------------------------------------------------------------


def resize(ctx: NodeContext, mode: str, coordinates: str, nearest: str) -> Port:
    # TF: y[N,h,w,C] = Resize*(x[N,H,W,C], size=[h,w])    IR: Interpolate(x, sizes, axes=[1,2])
    x, size = ctx.inputs()
    if mode != "nearest" and ctx.dtype(x) != np.float32:  # TF interpolates in float32
        x = ctx.emit("Convert", x, destination_type="float32")
    return ctx.emit("Interpolate", x, size, ints(ctx, [1, 2]), mode=mode,
                    shape_calculation_mode="sizes", coordinate_transformation_mode=coordinates,
                    nearest_mode=nearest, antialias=False, pads_begin=[0, 0, 0, 0],
                    pads_end=[0, 0, 0, 0], cube_coeff=-0.75)


@TABLE.register("ResizeBilinear", inputs=2)
def resize_bilinear(ctx: NodeContext) -> Outputs:
    if ctx.attr("align_corners", False):
        return resize(ctx, "linear_onnx", "align_corners", "floor")
    if ctx.attr("half_pixel_centers", False):
        return resize(ctx, "linear_onnx", "half_pixel", "floor")
    return resize(ctx, "linear_onnx", "asymmetric", "floor")


@TABLE.register("ResizeNearestNeighbor", inputs=2)
def resize_nearest_neighbor(ctx: NodeContext) -> Outputs:
    # align_corners rounds half away from zero; half_pixel_centers floors (x + 0.5) * scale.
    if ctx.attr("align_corners", False):
        return resize(ctx, "nearest", "align_corners", "round_prefer_ceil")
    if ctx.attr("half_pixel_centers", False):
        return resize(ctx, "nearest", "tf_half_pixel_for_nn", "floor")
    return resize(ctx, "nearest", "asymmetric", "floor")
