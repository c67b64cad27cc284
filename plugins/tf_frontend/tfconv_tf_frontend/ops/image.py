"""Image ops on channels-last images as TF defines them: patch extraction, the colour adjustments
(contrast, RGB <-> HSV, hue, saturation), max pooling with argmax, morphological dilation, and
bicubic and area resizing (bilinear and nearest are in nn.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._layout import to_nchw, to_nhwc
from ._util import ints, scalar_like, text

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs


@TABLE.register("ExtractImagePatches", inputs=1)
def extract_image_patches(ctx: NodeContext) -> Outputs:
    # TF: NHWC images -> [N, out_h, out_w, kh * kw * C] patches
    # IR: ExtractImagePatches-3 on NCHW (same patch order: rows, columns, then channels)
    x = ctx.input(0)
    sizes, strides, rates = (list(ctx.attr(k))[1:3] for k in ("ksizes", "strides", "rates"))
    padding = text(ctx, "padding")
    ctx.require(padding in ("VALID", "SAME"), f"unsupported padding {padding!r}")
    y = ctx.emit("ExtractImagePatches", to_nchw(ctx, x), sizes=sizes, strides=strides,
                 rates=rates, auto_pad="valid" if padding == "VALID" else "same_upper")
    return to_nhwc(ctx, y)


def spatial_mean(ctx: NodeContext, x: Port) -> Port:
    # the mean over height and width (the last three axes are H, W, C)
    return ctx.emit("ReduceMean", x, ints(ctx, [-3, -2]), keep_dims=True)


@TABLE.register("AdjustContrastv2", inputs=2)
def adjust_contrast_v2(ctx: NodeContext) -> Outputs:
    # TF: (x - mean) * factor + mean, the mean per image and channel
    x, factor = ctx.inputs()
    mean = spatial_mean(ctx, x)
    return ctx.emit("Add", ctx.emit("Multiply", ctx.emit("Subtract", x, mean), factor), mean)


def channels(ctx: NodeContext, x: Port) -> tuple[Port, Port, Port]:
    return ctx.emit("Split", x, ints(ctx, -1), num_splits=3)


def rgb_to_hsv_parts(ctx: NodeContext, rgb: Port) -> tuple[Port, Port, Port]:
    # TF's kernel: v = max, range = v - min, s = range / v (0 where v <= 0), h from the channel
    # holding the max (r, then g, then b): ((g - b), (b - r) + 2 range, (r - g) + 4 range) over
    # 6 range, wrapped into [0, 1) (0 for greys)
    r, g, b = channels(ctx, rgb)
    last = ints(ctx, [-1])
    v = ctx.emit("ReduceMax", rgb, last, keep_dims=True)
    rng = ctx.emit("Subtract", v, ctx.emit("ReduceMin", rgb, last, keep_dims=True))
    zero, one = scalar_like(ctx, 0, rgb), scalar_like(ctx, 1, rgb)
    v_pos = ctx.emit("Greater", v, zero)
    s = ctx.emit("Select", v_pos, ctx.emit("Divide", rng, ctx.emit("Select", v_pos, v, one)), zero)
    rng_pos = ctx.emit("Greater", rng, zero)
    r_max, g_max = ctx.emit("Equal", r, v), ctx.emit("Equal", g, v)
    diff = ctx.emit("Select", r_max, ctx.emit("Subtract", g, b), ctx.emit(
        "Select", g_max, ctx.emit("Subtract", b, r), ctx.emit("Subtract", r, g)))
    offset = ctx.emit("Select", r_max, zero, ctx.emit("Select", g_max, scalar_like(ctx, 2, rgb),
                                                       scalar_like(ctx, 4, rgb)))
    sixths = ctx.emit("Add", ctx.emit("Divide", diff, ctx.emit("Select", rng_pos, rng, one)),
                      offset)
    h = ctx.emit("FloorMod", ctx.emit("Multiply", sixths, scalar_like(ctx, 1 / 6, rgb)), one)
    return ctx.emit("Select", rng_pos, h, zero), s, v


def hsv_to_rgb_of(ctx: NodeContext, h: Port, s: Port, v: Port) -> Port:
    # TF's kernel picks (c, x, 0) per hue sector (c = s * v, x = c * (1 - |6h mod 2 - 1|)),
    # (c, 0, 0) for a sector outside 0..5, and adds m = v - c. The same values in closed form,
    # all three channels at once: channel n (5, 3, 1 for r, g, b) is v - c * ramp with
    # ramp = clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6; (0, 1, 1) outside the sectors.
    dh = ctx.emit("Multiply", h, scalar_like(ctx, 6, h))
    k = ctx.emit("FloorMod", ctx.emit("Add", dh, ctx.const(np.array([5, 3, 1], ctx.dtype(h)),
                                                         name="sectors")),
                 scalar_like(ctx, 6, h))
    ramp = ctx.emit("Clamp", ctx.emit("Minimum", k, ctx.emit("Subtract", scalar_like(ctx, 4, h), k)),
                    min=0.0, max=1.0)
    in_range = ctx.emit("LogicalAnd", ctx.emit("GreaterEqual", dh, scalar_like(ctx, 0, h)),
                        ctx.emit("Less", dh, scalar_like(ctx, 6, h)))
    ramp = ctx.emit("Select", in_range, ramp,
                    ctx.const(np.array([0, 1, 1], ctx.dtype(h)), name="outside"))
    return ctx.emit("Subtract", v, ctx.emit("Multiply", ctx.emit("Multiply", s, v), ramp))


@TABLE.register("RGBToHSV", inputs=1)
def rgb_to_hsv(ctx: NodeContext) -> Outputs:
    return ctx.emit("Concat", *rgb_to_hsv_parts(ctx, ctx.input(0)), axis=-1)


@TABLE.register("HSVToRGB", inputs=1)
def hsv_to_rgb(ctx: NodeContext) -> Outputs:
    return hsv_to_rgb_of(ctx, *channels(ctx, ctx.input(0)))


def float_images(ctx: NodeContext) -> Port:
    x = ctx.input(0)
    ctx.require(ctx.dtype(x) is not None and np.issubdtype(ctx.dtype(x), np.floating),
                "only floating-point images are supported")
    return x


@TABLE.register("AdjustSaturation", inputs=2)
def adjust_saturation(ctx: NodeContext) -> Outputs:
    # TF: to HSV, s = clamp(s * scale, 0, 1), back to RGB
    x, scale = float_images(ctx), ctx.input(1)
    h, s, v = rgb_to_hsv_parts(ctx, x)
    s = ctx.emit("Clamp", ctx.emit("Multiply", s, scale), min=0.0, max=1.0)
    return hsv_to_rgb_of(ctx, h, s, v)


@TABLE.register("AdjustHue", inputs=2)
def adjust_hue(ctx: NodeContext) -> Outputs:
    # TF: rotate the hue by delta (a fraction of the circle), wrapped to [0, 1)
    x, delta = float_images(ctx), ctx.input(1)
    h, s, v = rgb_to_hsv_parts(ctx, x)
    h = ctx.emit("FloorMod", ctx.emit("Add", h, delta), scalar_like(ctx, 1, x))
    return hsv_to_rgb_of(ctx, h, s, v)


@TABLE.register("MaxPoolWithArgmax", inputs=1)
def max_pool_with_argmax(ctx: NodeContext) -> Outputs:
    # TF: NHWC max pooling and, per output, the flat index (y * W + x) * C + c of the maximum
    # (+ b * H * W * C with include_batch_in_index), the first in the window on ties.
    # IR: the windows as ExtractImagePatches of the input padded with -inf (SAME as TF pads),
    # TopK over each window, and the index computed from the window offset.
    x = ctx.input(0)
    shape = ctx.shape(x)
    ctx.require(shape is not None and None not in shape[1:], "H, W and C must be known")
    _, height, width, chans = shape
    kh, kw = list(ctx.attr("ksize"))[1:3]
    sh, sw = list(ctx.attr("strides"))[1:3]
    padding = text(ctx, "padding")
    ctx.require(padding in ("VALID", "SAME"), f"unsupported padding {padding!r}")
    pads = []
    for size, k, s in ((height, kh, sh), (width, kw, sw)):
        out = -(-size // s) if padding == "SAME" else (size - k) // s + 1
        total = max((out - 1) * s + k - size, 0) if padding == "SAME" else 0
        pads.append((total // 2, total - total // 2, out))
    (pt, pb, oh), (pl, pr, ow) = pads
    lowest = ctx.const(np.array(-np.inf, ctx.dtype(x)), name="lowest")
    padded = ctx.emit("Pad", x, ints(ctx, [0, pt, pl, 0]), ints(ctx, [0, pb, pr, 0]), lowest,
                      pad_mode="constant")
    windows = ctx.emit("ExtractImagePatches", to_nchw(ctx, padded), sizes=[kh, kw],
                       strides=[sh, sw], rates=[1, 1], auto_pad="valid")
    windows = ctx.emit("Reshape", windows, ints(ctx, [0, kh * kw, chans, oh, ow]),
                       special_zero=True)
    best, offset = ctx.emit("TopK", windows, ints(ctx, 1), axis=1, mode="max", sort="none",
                            index_element_type="int64")
    best, offset = (ctx.emit("Squeeze", p, ints(ctx, [1])) for p in (best, offset))  # [N,C,oh,ow]
    dy = ctx.emit("Divide", ctx.emit("Subtract", offset, ctx.emit("FloorMod", offset,
                                                                   ints(ctx, kw))), ints(ctx, kw))
    dx = ctx.emit("FloorMod", offset, ints(ctx, kw))
    ys = ints(ctx, (np.arange(oh) * sh - pt).reshape(1, 1, oh, 1))
    xs = ints(ctx, (np.arange(ow) * sw - pl).reshape(1, 1, 1, ow))
    cs = ints(ctx, np.arange(chans).reshape(1, chans, 1, 1))
    row = ctx.emit("Add", ys, dy)
    col = ctx.emit("Add", xs, dx)
    index = ctx.emit("Add", ctx.emit("Multiply", ctx.emit(
        "Add", ctx.emit("Multiply", row, ints(ctx, width)), col), ints(ctx, chans)), cs)
    if ctx.attr("include_batch_in_index", False):
        batch = ctx.emit("Range", ints(ctx, 0), ctx.emit("Gather", ctx.emit(
            "ShapeOf", x, output_type="int64"), ints(ctx, 0), ints(ctx, 0), batch_dims=0),
            ints(ctx, 1), output_type="int64")
        batch = ctx.emit("Unsqueeze", batch, ints(ctx, [1, 2, 3]))
        index = ctx.emit("Add", index, ctx.emit("Multiply", batch,
                                                ints(ctx, height * width * chans)))
    out_type = np.dtype(ctx.attr("Targmax", np.dtype(np.int64)))
    if out_type != np.int64:
        index = ctx.emit("Convert", index, destination_type=out_type.name)
    return to_nhwc(ctx, best), to_nhwc(ctx, index)


# -- bicubic and area resizing ----------------------------------------------------------------
# Both are separable: out = Wh . x . Ww^T per image and channel, with the weight matrices
# computed here from TF's kernels for the (static) input and output sizes. The IR is two Einsums.


def resize_scale(size_in: int, size_out: int, align_corners: bool) -> float:
    if align_corners and size_out > 1:
        return (size_in - 1) / (size_out - 1)
    return size_in / size_out


def keys_cubic(d: np.ndarray, a: float) -> np.ndarray:
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def bicubic_weights(size_in: int, size_out: int, align_corners: bool, half_pixel: bool):
    # TF: half_pixel_centers uses Keys' a = -0.5 and drops (renormalises) taps outside the image;
    # the legacy kernel uses a = -0.75 and clamps taps to the edge. Both read their coefficients
    # from a 1024-entry table (the fraction rounded to 1/1024).
    scale = resize_scale(size_in, size_out, align_corners)
    w = np.zeros((size_out, size_in), np.float64)
    for o in range(size_out):
        pos = ((o + 0.5) * scale - 0.5) if half_pixel else o * scale
        base = int(np.floor(pos))
        t = pos - base
        t = np.rint(np.float32(t) * 1024) / 1024
        taps = np.array([base - 1, base, base + 1, base + 2])
        coeffs = keys_cubic(np.array([1 + t, t, 1 - t, 2 - t]), -0.5 if half_pixel else -0.75)
        if half_pixel:
            inside = (taps >= 0) & (taps < size_in)
            coeffs = np.where(inside, coeffs, 0.0)
            coeffs = coeffs / coeffs.sum()
        for tap, c in zip(np.clip(taps, 0, size_in - 1), coeffs):
            w[o, tap] += c
    return w


def area_weights(size_in: int, size_out: int, align_corners: bool):
    # TF: each output cell averages the input cells its box [o, o + 1) * scale covers,
    # weighted by the covered length
    scale = resize_scale(size_in, size_out, align_corners)
    w = np.zeros((size_out, size_in), np.float64)
    for o in range(size_out):
        lo, hi = o * scale, (o + 1) * scale
        for i in range(int(np.floor(lo)), int(np.ceil(hi))):
            w[o, min(i, size_in - 1)] += (min(i + 1, hi) - max(i, lo)) / scale
    return w


def separable_resize(ctx: NodeContext, weights) -> Outputs:
    x, size = ctx.inputs()
    shape = ctx.shape(x)
    ctx.require(shape is not None and len(shape) == 4 and None not in shape[1:3],
                "the image height and width must be known")
    out = ctx.value(size)
    ctx.require(out is not None, "the output size must be constant")
    (oh, ow), (h, w) = [int(v) for v in np.asarray(out).reshape(-1)], shape[1:3]
    align = bool(ctx.attr("align_corners", False))
    wh, ww = weights(h, oh, align), weights(w, ow, align)
    if ctx.dtype(x) != np.float32:
        x = ctx.emit("Convert", x, destination_type="float32")
    rows = ctx.emit("Einsum", ctx.const(wh.astype(np.float32), name="rows"), x,
                    equation="oh,nhwc->nowc")
    return ctx.emit("Einsum", ctx.const(ww.astype(np.float32), name="cols"), rows,
                    equation="pw,nowc->nopc")


@TABLE.register("ResizeBicubic", inputs=2)
def resize_bicubic(ctx: NodeContext) -> Outputs:
    half_pixel = bool(ctx.attr("half_pixel_centers", False))
    return separable_resize(ctx, lambda i, o, align: bicubic_weights(i, o, align, half_pixel))


@TABLE.register("ResizeArea", inputs=2)
def resize_area(ctx: NodeContext) -> Outputs:
    return separable_resize(ctx, area_weights)


@TABLE.register("Dilation2D", inputs=2)
def dilation_2d(ctx: NodeContext) -> Outputs:
    # TF: grayscale morphological dilation, out[b, y, x, c] = max over the window of
    # input[b, y * s + dy * r, x * s + dx * r, c] + filter[dy, dx, c]
    # IR: the windows of the -inf padded input (ExtractImagePatches), plus the filter, ReduceMax
    x, kernel = ctx.inputs()
    shape, k_shape = ctx.shape(x), ctx.shape(kernel)
    ctx.require(shape is not None and None not in shape[1:], "H, W and C must be known")
    ctx.require(k_shape is not None and None not in k_shape, "the filter shape must be known")
    _, height, width, chans = shape
    kh, kw, _ = k_shape
    sh, sw = list(ctx.attr("strides"))[1:3]
    rh, rw = list(ctx.attr("rates"))[1:3]
    padding = text(ctx, "padding")
    ctx.require(padding in ("VALID", "SAME"), f"unsupported padding {padding!r}")
    pads = []
    for size, k, s, r in ((height, kh, sh, rh), (width, kw, sw, rw)):
        span = (k - 1) * r + 1
        out = -(-size // s) if padding == "SAME" else (size - span) // s + 1
        total = max((out - 1) * s + span - size, 0) if padding == "SAME" else 0
        pads.append((total // 2, total - total // 2, out))
    (pt, pb, oh), (pl, pr, ow) = pads
    lowest = ctx.const(np.array(-np.inf, ctx.dtype(x)), name="lowest")
    padded = ctx.emit("Pad", x, ints(ctx, [0, pt, pl, 0]), ints(ctx, [0, pb, pr, 0]), lowest,
                      pad_mode="constant")
    windows = ctx.emit("ExtractImagePatches", to_nchw(ctx, padded), sizes=[kh, kw],
                       strides=[sh, sw], rates=[rh, rw], auto_pad="valid")
    windows = ctx.emit("Reshape", windows, ints(ctx, [0, kh * kw, chans, oh, ow]),
                       special_zero=True)
    offsets = ctx.emit("Reshape", kernel, ints(ctx, [1, kh * kw, chans, 1, 1]), special_zero=False)
    best = ctx.emit("ReduceMax", ctx.emit("Add", windows, offsets), ints(ctx, [1]),
                    keep_dims=False)
    return to_nhwc(ctx, best)
