"""Detection ops: non-max suppression, CropAndResize, Where (coordinates of true elements) and
Assert. Every translator here works with dynamic shapes: the boxes, the image size and the number
of selected detections may all be unknown until run time."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import const_ints, ints, text

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs

F32 = np.float32


def _float(ctx: NodeContext, x: Port) -> Port:
    """``x`` as float32 (TF lets boxes and scores be half or double; the IR op wants f32)."""
    if ctx.dtype(x) == np.dtype(F32):
        return x
    return ctx.emit("Convert", x, destination_type="float32")


def _scalar(ctx: NodeContext, x: Port) -> Port:
    """A 0-d view of a scalar or one-element input (TF accepts both for NMS limits)."""
    if ctx.rank(x) == 0:
        return x
    return ctx.emit("Reshape", x, ints(ctx, [], "scalar"), special_zero=False)


def _iou_threshold(ctx: NodeContext, iou: Port) -> Port:
    # TF suppresses a box when IoU > threshold; OpenVINO when IoU >= threshold. The next float32
    # up gives TF's rule exactly for a constant threshold (in OD API graphs it always is); at
    # least the smallest normal float, as the CPU flushes denormals (a threshold of 0 would
    # then suppress disjoint boxes too).
    tiny = np.finfo(F32).tiny
    value = ctx.value(iou)
    if value is not None:
        t = np.float32(np.asarray(value, F32).reshape(-1)[0])
        up = max(np.nextafter(t, np.float32(np.inf)), tiny)
        return ctx.const(np.float32(up), name="iou_threshold")
    # A computed threshold: one ulp up, x * (1 + 2^-23) (exact up to one ulp on ties).
    iou = ctx.emit("Multiply", _scalar(ctx, _float(ctx, iou)),
                   ctx.const(np.float32(1 + 2 ** -23), name="ulp"))
    return ctx.emit("Maximum", iou, ctx.const(tiny, name="tiny"))


def _apart_if_empty(ctx: NodeContext, boxes: Port) -> Port:
    """Soft-NMS only: zero-area boxes moved to disjoint unit boxes beyond every coordinate.

    TF takes a zero-area box's IoU as 0; OpenVINO's soft-NMS divides 0 by 0 for two of them and
    gives infinite scores. Box i goes to [m+1+2i, m+1, m+2+2i, m+2] (m = max |coordinate|): IoU 0
    with everything, as in TF; only indices and scores leave the op, so no output changes."""
    y1, x1, y2, x2 = ctx.emit("Split", boxes, ints(ctx, 1, "axis"), num_splits=4, name="corners")
    area = ctx.emit("Multiply", ctx.emit("Subtract", y2, y1), ctx.emit("Subtract", x2, x1))
    empty = ctx.emit("Equal", area, ctx.const(F32(0), name="zero"), name="empty")
    m = ctx.emit("ReduceMax", ctx.emit("Abs", boxes), ints(ctx, [0, 1], "axes"), keep_dims=False)
    one = ctx.emit("Add", m, ctx.const(F32(1), name="one"))
    n = ctx.emit("Gather", ctx.emit("ShapeOf", boxes, output_type="int64"), ints(ctx, 0, "i"),
                 ints(ctx, 0, "axis"), batch_dims=0)
    index = ctx.emit("Range", ints(ctx, 0, "start"), n, ints(ctx, 1, "step"), output_type="float32")
    row = ctx.emit("Add", one, ctx.emit("Multiply", index, ctx.const(F32(2), name="two")))
    row = ctx.emit("Unsqueeze", row, ints(ctx, [1], "axis"))  # [N, 1]
    col = ctx.emit("Add", ctx.emit("Multiply", row, ctx.const(F32(0), name="zero")), one)
    unit = ctx.const(F32(1), name="unit")
    apart = ctx.emit("Concat", row, col, ctx.emit("Add", row, unit), ctx.emit("Add", col, unit),
                     axis=1, name="apart")
    return ctx.emit("Select", empty, apart, boxes, auto_broadcast="numpy")


def non_max_suppression(ctx: NodeContext, boxes: Port, scores: Port, max_size: Port, iou: Port,
                        threshold: Port | None, sigma: Port | None) -> tuple[Port, Port, Port]:
    """TF's single-class NMS as IR NonMaxSuppression on one batch and one class.

    Returns (selected indices int32 [M], their scores [M], valid count int32 [1])."""
    # TF: NMS(boxes[N,4], scores[N], max_output_size, iou, score_threshold, soft_nms_sigma)
    # IR: NonMaxSuppression(boxes[1,N,4], scores[1,1,N], max, iou, score_threshold, sigma)
    #       -> selected_indices[M,3] (batch, class, box), selected_scores[M,3], valid[1]
    # Both order the selection by score (soft-NMS: by updated score), ties by lower index; both
    # keep scores > threshold; corner boxes may be flipped ([y2,x2,y1,x1]) in both. With one
    # batch and one class the selection order is TF's already: no sort across classes (it
    # cost ~20% of NMS time on the SSD FPN fixture).
    boxes = _float(ctx, boxes)
    sigma_value = None if sigma is None else ctx.value(sigma)
    soft = sigma is not None and (sigma_value is None or
                                  float(np.asarray(sigma_value).reshape(-1)[0]) > 0)
    if soft:
        boxes = _apart_if_empty(ctx, boxes)
    b = ctx.emit("Unsqueeze", boxes, ints(ctx, [0], "batch_axis"))
    s = ctx.emit("Unsqueeze", _float(ctx, scores), ints(ctx, [0, 1], "batch_class_axes"))
    if threshold is None:  # V1/V2: no threshold at all
        threshold = ctx.const(np.float32(-np.inf), name="score_threshold")
    else:
        threshold = _scalar(ctx, _float(ctx, threshold))
    if sigma is None:
        sigma = ctx.const(np.float32(0), name="soft_nms_sigma")
    else:
        sigma = _scalar(ctx, _float(ctx, sigma))
    selected, selected_scores, valid = ctx.emit(
        "NonMaxSuppression", b, s, _scalar(ctx, max_size), _iou_threshold(ctx, iou), threshold,
        sigma, box_encoding="corner", sort_result_descending=False, output_type="int32")
    column, axis = ints(ctx, 2, "box_column"), ints(ctx, 1, "axis")
    indices = ctx.emit("Gather", selected, column, axis, batch_dims=0, name="selected_indices")
    picked = ctx.emit("Gather", selected_scores, column, axis, batch_dims=0, name="selected_scores")
    if ctx.dtype(scores) != np.dtype(F32):
        picked = ctx.emit("Convert", picked, destination_type=np.dtype(ctx.dtype(scores)).name)
    return indices, picked, valid


def _padded(ctx: NodeContext, x: Port, max_size: Port, valid: Port) -> Port:
    # TF pads selected_indices (and scores) with zeros up to max_output_size.
    size = ctx.emit("Convert", ctx.emit("Reshape", max_size, ints(ctx, [1], "one"),
                                        special_zero=False), destination_type="int64")
    end = ctx.emit("Subtract", size, ctx.emit("Convert", valid, destination_type="int64"))
    zero = ctx.const(np.zeros((), ctx.dtype(x)), name="pad_value")
    return ctx.emit("Pad", x, ints(ctx, [0], "pads_begin"), end, zero, pad_mode="constant",
                    name="padded")


@TABLE.register("NonMaxSuppression", inputs=3)
def non_max_suppression_v1(ctx: NodeContext) -> Outputs:
    # TF: NonMaxSuppression(boxes, scores, max_output_size, iou_threshold: attr)
    boxes, scores, max_size = ctx.inputs()
    iou = ctx.const(np.float32(ctx.attr("iou_threshold", 0.5)), name="iou")
    return non_max_suppression(ctx, boxes, scores, max_size, iou, None, None)[0]


@TABLE.register("NonMaxSuppressionV2", inputs=4)
def non_max_suppression_v2(ctx: NodeContext) -> Outputs:
    boxes, scores, max_size, iou = ctx.inputs()
    return non_max_suppression(ctx, boxes, scores, max_size, iou, None, None)[0]


@TABLE.register("NonMaxSuppressionV3", inputs=5)
def non_max_suppression_v3(ctx: NodeContext) -> Outputs:
    boxes, scores, max_size, iou, threshold = ctx.inputs()
    return non_max_suppression(ctx, boxes, scores, max_size, iou, threshold, None)[0]


@TABLE.register("NonMaxSuppressionV4", inputs=5)
def non_max_suppression_v4(ctx: NodeContext) -> Outputs:
    # TF: selected_indices, valid_outputs = V4(boxes, scores, max, iou, score_threshold,
    #                                          pad_to_max_output_size)
    boxes, scores, max_size, iou, threshold = ctx.inputs()
    indices, _, valid = non_max_suppression(ctx, boxes, scores, max_size, iou, threshold, None)
    if ctx.attr("pad_to_max_output_size", False):
        indices = _padded(ctx, indices, max_size, valid)
    return indices, ctx.emit("Squeeze", valid, ints(ctx, [0], "axis"), name="valid_outputs")


@TABLE.register("NonMaxSuppressionV5", inputs=6)
def non_max_suppression_v5(ctx: NodeContext) -> Outputs:
    # TF: selected_indices, selected_scores, valid_outputs = V5(boxes, scores, max, iou,
    #                                          score_threshold, soft_nms_sigma, pad_to_max)
    # Soft-NMS (sigma > 0) is OpenVINO's: both rescale by exp(-0.5 * iou^2 / sigma) and stop
    # hard suppression.
    boxes, scores, max_size, iou, threshold, sigma = ctx.inputs()
    indices, picked, valid = non_max_suppression(ctx, boxes, scores, max_size, iou, threshold,
                                                 sigma)
    if ctx.attr("pad_to_max_output_size", False):
        indices = _padded(ctx, indices, max_size, valid)
        picked = _padded(ctx, picked, max_size, valid)
    return indices, picked, ctx.emit("Squeeze", valid, ints(ctx, [0], "axis"),
                                     name="valid_outputs")


# -- CropAndResize ---------------------------------------------------------------------------


def _sample_positions(ctx: NodeContext, c1: Port, c2: Port, size_m1: Port, n: int,
                      axis: str) -> Port:
    """TF's sampling positions along one axis: [B, n] (or [B, 1] for n == 1)."""
    # TF: in = c1*(size-1) + i * ((c2-c1)*(size-1)/(n-1))   (n > 1)
    #     in = 0.5*(c1+c2)*(size-1)                         (n == 1)
    if n == 1:
        mid = ctx.emit("Multiply", ctx.emit("Add", c1, c2), ctx.const(F32(0.5), name="half"))
        return ctx.emit("Multiply", mid, size_m1, name=f"{axis}_in")
    # The quotient must be TF's correctly rounded one: boxes clipped to the image put the last
    # sample a rounding error beyond H-1 in TF (7/13*13 = 7.0000005: extrapolated). OpenVINO's
    # CPU divides f32 by a reciprocal (off by an ulp for ~half of all values); in f64 it is exact.
    span = ctx.emit("Convert", ctx.emit("Multiply", ctx.emit("Subtract", c2, c1), size_m1),
                    destination_type="float64")
    step = ctx.emit("Convert", ctx.emit("Divide", span, ctx.const(n - 1, np.float64,
                                                                  name=f"{axis}_steps")),
                    destination_type="float32", name=f"{axis}_scale")
    grid = ctx.const(np.arange(n, dtype=F32)[None, :], name=f"{axis}_grid")
    return ctx.emit("Add", ctx.emit("Multiply", c1, size_m1), ctx.emit("Multiply", grid, step),
                    name=f"{axis}_in")


def _inside(ctx: NodeContext, pos: Port, size_m1: Port) -> Port:
    zero = ctx.const(F32(0), name="zero")
    return ctx.emit("LogicalAnd", ctx.emit("GreaterEqual", pos, zero),
                    ctx.emit("LessEqual", pos, size_m1))


def _nearest(ctx: NodeContext, pos: Port, size_m1: Port) -> Port:
    """TF's nearest index (roundf: half away from zero) as an in-range int64 (out-of-range
    samples are masked later)."""
    pos = ctx.emit("Round", pos, mode="half_away_from_zero")
    pos = ctx.emit("Minimum", ctx.emit("Maximum", pos, ctx.const(F32(0), name="zero")), size_m1)
    return ctx.emit("Convert", pos, destination_type="int64")


@TABLE.register("CropAndResize", inputs=4)
def crop_and_resize(ctx: NodeContext) -> Outputs:
    # TF: crops[B, ch, cw, C] = CropAndResize(image[N,H,W,C], boxes[B,4] (y1,x1,y2,x2 normalised,
    #     possibly flipped or outside [0,1]), box_ind[B], crop_size=[ch, cw]), float32
    # IR: bilinear: ROIPooling(method=bilinear) on the NCHW image, rois (b, x1, y1, x2, y2):
    #     TF's sample positions (including the ch == 1 centre rule and flipped boxes) and TF's
    #     blend order. nearest: Gather(flat image, (b*H + y)*W + x) at TF's rounded positions.
    #     Either way the samples TF puts outside [0, H-1] x [0, W-1] take extrapolation_value,
    #     decided by TF's own arithmetic (_sample_positions): the last sample of a box clipped
    #     to the image is outside in TF for about half of all boxes, by a rounding error.
    image, boxes, box_ind, _ = ctx.inputs()
    method = text(ctx, "method", "bilinear")
    ctx.require(method in ("bilinear", "nearest"), f"unsupported method {method!r}")
    ch, cw = const_ints(ctx, 3, "crop_size")
    ctx.require(ch > 0 and cw > 0, "crop_size must be positive")
    extrapolation = float(ctx.attr("extrapolation_value", 0.0))
    image = _float(ctx, image)
    shape = ctx.emit("ShapeOf", image, output_type="int64")
    dims = ctx.emit("Split", shape, ints(ctx, 0, "axis"), num_splits=4, name="dims")
    h, w = dims[1], dims[2]
    hm1, wm1 = (ctx.emit("Convert", ctx.emit("Subtract", d, ints(ctx, [1], "one")),
                         destination_type="float32") for d in (h, w))
    y1, x1, y2, x2 = ctx.emit("Split", _float(ctx, boxes), ints(ctx, 1, "axis"), num_splits=4,
                              name="corners")  # each [B, 1]
    in_y = _sample_positions(ctx, y1, y2, hm1, ch, "y")  # [B, ch|1]
    in_x = _sample_positions(ctx, x1, x2, wm1, cw, "x")  # [B, cw|1]
    in_y = ctx.emit("Unsqueeze", in_y, ints(ctx, [2], "axis"))  # [B, ch, 1]
    in_x = ctx.emit("Unsqueeze", in_x, ints(ctx, [1], "axis"))  # [B, 1, cw]
    if method == "bilinear":
        # ROIPooling extrapolates where ITS position leaves [0, size-1], which near the image's
        # edge is not always where TF's does (its arithmetic rounds differently). So it gets
        # the image with a one-pixel edge-replicated border and the box moved into that frame
        # (c' = (c*(size-1) + 1) / (size+1): the same samples, one pixel in): it then never
        # extrapolates a sample TF keeps, and the mask (_kept) drops those TF extrapolates.
        index = ctx.emit("Convert", ctx.emit("Unsqueeze", box_ind, ints(ctx, [1], "axis")),
                         destination_type="float32", name="box_index")
        one, two = ctx.const(F32(1), name="one"), ctx.const(F32(2), name="two")

        def framed(c: Port, size_m1: Port) -> Port:
            return ctx.emit("Divide", ctx.emit("Add", ctx.emit("Multiply", c, size_m1), one),
                            ctx.emit("Add", size_m1, two))

        rois = ctx.emit("Concat", index, framed(x1, wm1), framed(y1, hm1), framed(x2, wm1),
                        framed(y2, hm1), axis=1, name="rois")
        nchw = ctx.emit("Transpose", image, ints(ctx, [0, 3, 1, 2], "to_nchw"))
        border = ints(ctx, [0, 0, 1, 1], "border")
        nchw = ctx.emit("Pad", nchw, border, border, pad_mode="edge", name="bordered")
        pooled = ctx.emit("ROIPooling", nchw, rois, pooled_h=ch, pooled_w=cw, spatial_scale=1.0,
                          method="bilinear", name="crops")
        # masked before the transpose back to NHWC, which then meets the layout pass's
        # transpose to NCHW of the next NHWC op (the second stage's pool or conv) and cancels
        kept = ctx.emit("Select", _kept(ctx, in_y, in_x, hm1, wm1, 1), pooled,
                        _fill(ctx, extrapolation), auto_broadcast="numpy", name="masked")
        return ctx.emit("Transpose", kept, ints(ctx, [0, 2, 3, 1], "to_nhwc"), name="")
    else:
        b = ctx.emit("Convert", box_ind, destination_type="int64")
        base = ctx.emit("Reshape", ctx.emit("Multiply", b, h), ints(ctx, [-1, 1, 1], "box_shape"),
                        special_zero=False)  # flat row of the sampled image: b*H -> [B, 1, 1]
        channels = ctx.emit("Concat", ints(ctx, [-1], "rows"), dims[3], axis=0)
        flat = ctx.emit("Reshape", image, channels, special_zero=False, name="pixels")
        at = ctx.emit("Add", ctx.emit("Multiply", ctx.emit(
            "Add", base, _nearest(ctx, in_y, hm1)), w), _nearest(ctx, in_x, wm1))
        out = ctx.emit("Gather", flat, at, ints(ctx, 0, "axis0"), batch_dims=0)
    return ctx.emit("Select", _kept(ctx, in_y, in_x, hm1, wm1, -1), out,
                    _fill(ctx, extrapolation), auto_broadcast="numpy", name="")


def _kept(ctx: NodeContext, in_y: Port, in_x: Port, hm1: Port, wm1: Port, axis: int) -> Port:
    """The samples TF keeps ([B, ch, cw], both positions inside the image), with a channel
    axis inserted at ``axis`` (1: NCHW crops, -1: NHWC)."""
    inside = ctx.emit("LogicalAnd", _inside(ctx, in_y, hm1), _inside(ctx, in_x, wm1))
    return ctx.emit("Unsqueeze", inside, ints(ctx, [axis], "channel_axis"))


def _fill(ctx: NodeContext, extrapolation: float) -> Port:
    return ctx.const(F32(extrapolation), name="extrapolation_value")


# -- Where and Assert --------------------------------------------------------------------------


@TABLE.register("Where", inputs=1)
def where(ctx: NodeContext) -> Outputs:
    # TF: coords[num_true, rank] int64 = Where(x)     IR: Transpose(NonZero(x), [1, 0])
    coords = ctx.emit("NonZero", ctx.input(0), output_type="int64")
    return ctx.emit("Transpose", coords, ints(ctx, [1, 0], "perm"))


@TABLE.register("Assert")
def assert_(ctx: NodeContext) -> Outputs:
    # No data outputs; graphs use it only as a control input (control edges are not translated),
    # so it is dropped and never blocks anything.
    return ()
