"""Shape manipulation: reshaping, slicing, joining, splitting, padding, gathering and the
shape-arithmetic ops (Shape, Size, Rank, Fill, Range) that fold to constants when shapes are
static."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._layout import is_channels_first, to_nchw, to_nhwc
from ._util import bits, const_ints, dtype_name, ints, norm_axis, text

if TYPE_CHECKING:
    from tfconv.graph import Port
    from tfconv.translate import NodeContext, Outputs


@TABLE.register("Reshape", inputs=2)
def reshape(ctx: NodeContext) -> Outputs:
    # TF shapes may hold -1 but never mean "copy this dim" by 0: special_zero=False.
    return ctx.emit("Reshape", *ctx.inputs(), special_zero=False)


@TABLE.register("Squeeze", inputs=1)
def squeeze(ctx: NodeContext) -> Outputs:
    x = ctx.input(0)
    axes = [int(a) for a in ctx.attr("squeeze_dims", [])]
    if not axes:
        # Squeeze every size-1 dim; a dynamic dim is taken as not 1 (the IR and the CPU plugin
        # need a static output rank).
        shape = ctx.shape(x)
        ctx.require(shape is not None, "Squeeze without squeeze_dims needs a known input rank")
        axes = [i for i, d in enumerate(shape) if d == 1]
        if not axes:
            return x
    return ctx.emit("Squeeze", x, ints(ctx, axes))


@TABLE.register("ExpandDims", inputs=2)
def expand_dims(ctx: NodeContext) -> Outputs:
    # TF dim -1 appends, as the IR's negative Unsqueeze axes count from the output's end.
    axis = const_ints(ctx, 1, "dim")
    ctx.require(len(axis) == 1, "dim must hold one axis")
    return ctx.emit("Unsqueeze", ctx.input(0), ints(ctx, axis))


@TABLE.register("Transpose", "ConjugateTranspose", inputs=2)
def transpose(ctx: NodeContext) -> Outputs:
    return ctx.emit("Transpose", *ctx.inputs())


def concat(ctx: NodeContext, values: list[Port], axis: int) -> Port:
    if len(values) == 1:
        return values[0]
    rank = next((r for r in (ctx.rank(v) for v in values) if r is not None), None)
    axis = axis if rank is None else norm_axis(ctx, axis, rank)
    return ctx.emit("Concat", *values, axis=axis)


@TABLE.register("ConcatV2", min_inputs=2)
def concat_v2(ctx: NodeContext) -> Outputs:
    # TF: ConcatV2(values..., axis)
    *values, _ = ctx.inputs()
    return concat(ctx, values, const_ints(ctx, ctx.num_inputs - 1, "axis")[0])


@TABLE.register("Concat", min_inputs=2)
def concat_v1(ctx: NodeContext) -> Outputs:
    # TF: Concat(axis, values...)
    return concat(ctx, ctx.inputs()[1:], const_ints(ctx, 0, "concat_dim")[0])


@TABLE.register("Pack", min_inputs=1)
def pack(ctx: NodeContext) -> Outputs:
    # TF: Pack(values..., axis)      IR: Concat(Unsqueeze(v, axis)..., axis)
    values = ctx.inputs()
    axis = norm_axis(ctx, int(ctx.attr("axis", 0)), ctx.rank(values[0]), extra=1)
    axes = ints(ctx, [axis], name="axis")
    parts = [ctx.emit("Unsqueeze", v, axes) for v in values]
    if len(parts) == 1:
        return parts[0]
    return ctx.emit("Concat", *parts, axis=axis)


@TABLE.register("Unpack", inputs=1)
def unpack(ctx: NodeContext) -> Outputs:
    # TF: Unpack(x, num, axis)       IR: Squeeze(Split(x, axis, num)[i], axis)
    x = ctx.input(0)
    num = int(ctx.attr("num"))
    axis = norm_axis(ctx, int(ctx.attr("axis", 0)), ctx.rank(x))
    axes = ints(ctx, [axis], name="axis")
    parts = (x,) if num == 1 else ctx.emit("Split", x, ints(ctx, axis), num_splits=num)
    return tuple(ctx.emit("Squeeze", p, axes) for p in parts)


@TABLE.register("Split", inputs=2)
def split(ctx: NodeContext) -> Outputs:
    # TF: Split(axis, value, num_split)      IR: Split(value, axis, num_splits)
    axis, x = ctx.inputs()
    num = int(ctx.attr("num_split"))
    if num == 1:
        return (x,)
    out = ctx.emit("Split", x, axis, num_splits=num)
    return out


@TABLE.register("SplitV", inputs=3)
def split_v(ctx: NodeContext) -> Outputs:
    # TF: SplitV(value, size_splits, axis)   IR: VariadicSplit(value, axis, split_lengths)
    x, lengths, axis = ctx.inputs()
    if int(ctx.attr("num_split", 2)) == 1:
        return (x,)
    out = ctx.emit("VariadicSplit", x, axis, lengths)
    return out if isinstance(out, tuple) else (out,)


@TABLE.register("StridedSlice", inputs=4)
def strided_slice(ctx: NodeContext) -> Outputs:
    # TF bit masks -> IR lists of 0/1, one per begin entry (bit set = ignore begin/end, as in TF).
    x, begin, end, strides = ctx.inputs()
    shape = ctx.shape(begin)
    ctx.require(shape is not None and len(shape) == 1 and shape[0] is not None,
                "begin must be a vector of known length")
    n = shape[0]
    masks = {name: bits(ctx.attr(name, 0), n) for name in
             ("begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask", "ellipsis_mask")}
    return ctx.emit("StridedSlice", x, begin, end, strides, **masks)


@TABLE.register("Slice", inputs=3)
def slice_(ctx: NodeContext) -> Outputs:
    # TF: Slice(x, begin, size) with size -1 = "to the end"
    # IR: StridedSlice(x, begin, end = size == -1 ? ShapeOf(x) : begin + size, strides=1)
    x, begin, size = ctx.inputs()
    shape = ctx.shape(begin)
    ctx.require(shape is not None and len(shape) == 1 and shape[0] is not None,
                "begin must be a vector of known length")
    n = shape[0]
    idt = ctx.dtype(begin) or np.dtype(np.int64)
    to_end = ctx.emit("ShapeOf", x, output_type=dtype_name(idt))
    sv = ctx.value(size)
    if sv is not None and not (np.asarray(sv) == -1).any():
        end = ctx.emit("Add", begin, size)
    else:
        end = ctx.emit("Select", ctx.emit("Equal", size, ctx.const(np.array(-1, idt))), to_end,
                       ctx.emit("Add", begin, size))
    masks = [0] * n
    return ctx.emit("StridedSlice", x, begin, end, ctx.const(np.ones(n, idt), name="strides"),
                    begin_mask=masks, end_mask=masks, new_axis_mask=masks,
                    shrink_axis_mask=masks, ellipsis_mask=masks)


@TABLE.register("Shape", inputs=1)
def shape_(ctx: NodeContext) -> Outputs:
    return ctx.emit("ShapeOf", ctx.input(0), output_type=dtype_name(ctx.attr("out_type", np.int32)))


@TABLE.register("ShapeN", min_inputs=1)
def shape_n(ctx: NodeContext) -> Outputs:
    out_type = dtype_name(ctx.attr("out_type", np.int32))
    return tuple(ctx.emit("ShapeOf", x, output_type=out_type) for x in ctx.inputs())


@TABLE.register("Size", inputs=1)
def size(ctx: NodeContext) -> Outputs:
    # TF: Size(x)        IR: ReduceProd(ShapeOf(x), [0])
    shape = ctx.emit("ShapeOf", ctx.input(0), output_type=dtype_name(ctx.attr("out_type", np.int32)))
    return ctx.emit("ReduceProd", shape, ints(ctx, [0]), keep_dims=False)


@TABLE.register("Rank", inputs=1)
def rank(ctx: NodeContext) -> Outputs:
    x = ctx.input(0)
    if ctx.rank(x) is not None:
        return ctx.const(np.array(ctx.rank(x), np.int32), name="rank")
    dims = ctx.emit("ShapeOf", ctx.emit("ShapeOf", x, output_type="int32"), output_type="int32")
    return ctx.emit("Squeeze", dims, ints(ctx, [0]))


@TABLE.register("Fill", inputs=2)
def fill(ctx: NodeContext) -> Outputs:
    # TF: Fill(dims, value)     IR: Broadcast(value, dims)
    dims, value = ctx.inputs()
    return ctx.emit("Broadcast", value, dims, mode="numpy")


def filled_like(ctx: NodeContext, value: int) -> Port:
    x = ctx.input(0)
    scalar = ctx.const(np.array(value, ctx.dtype(x) or np.float32), name="value")
    return ctx.emit("Broadcast", scalar, ctx.emit("ShapeOf", x, output_type="int64"),
                    mode="numpy")


@TABLE.register("ZerosLike", inputs=1)
def zeros_like(ctx: NodeContext) -> Outputs:
    return filled_like(ctx, 0)


@TABLE.register("OnesLike", inputs=1)
def ones_like(ctx: NodeContext) -> Outputs:
    return filled_like(ctx, 1)


@TABLE.register("BroadcastTo", inputs=2)
def broadcast_to(ctx: NodeContext) -> Outputs:
    return ctx.emit("Broadcast", *ctx.inputs(), mode="numpy")


@TABLE.register("Tile", inputs=2)
def tile(ctx: NodeContext) -> Outputs:
    return ctx.emit("Tile", *ctx.inputs())


@TABLE.register("Pad", "PadV2", "MirrorPad", min_inputs=2)
def pad(ctx: NodeContext) -> Outputs:
    # TF: Pad(x, paddings[R,2] [, constant_value])   IR: Pad(x, pads_begin, pads_end [, value])
    x, paddings = ctx.input(0), ctx.input(1)
    mode = "constant"
    if ctx.op_type == "MirrorPad":
        tf_mode = text(ctx, "mode").upper()
        ctx.require(tf_mode in ("REFLECT", "SYMMETRIC"), f"unsupported mode {tf_mode!r}")
        mode = tf_mode.lower()
    value = ctx.value(paddings)
    if value is not None:
        pairs = np.asarray(value, np.int64).reshape(-1, 2)
        begin, end = ints(ctx, pairs[:, 0], "pads_begin"), ints(ctx, pairs[:, 1], "pads_end")
    else:
        axis = ints(ctx, 1, "axis")
        begin = ctx.emit("Gather", paddings, ints(ctx, 0), axis, batch_dims=0, name="pads_begin")
        end = ctx.emit("Gather", paddings, ints(ctx, 1), axis, batch_dims=0, name="pads_end")
    extra = [ctx.input(2)] if ctx.op_type == "PadV2" and ctx.num_inputs > 2 else []
    return ctx.emit("Pad", x, begin, end, *extra, pad_mode=mode)


@TABLE.register("GatherV2", inputs=3)
def gather_v2(ctx: NodeContext) -> Outputs:
    params, indices, axis = ctx.inputs()
    return ctx.emit("Gather", params, indices, axis, batch_dims=int(ctx.attr("batch_dims", 0)))


@TABLE.register("Gather", inputs=2)
def gather(ctx: NodeContext) -> Outputs:
    params, indices = ctx.inputs()
    return ctx.emit("Gather", params, indices, ints(ctx, 0, "axis"), batch_dims=0)


@TABLE.register("Range", inputs=3)
def range_(ctx: NodeContext) -> Outputs:
    start, limit, delta = ctx.inputs()
    out_type = dtype_name(ctx.attr("Tidx", ctx.dtype(start) or np.int32))
    return ctx.emit("Range", start, limit, delta, output_type=out_type)


def reverse(ctx: NodeContext, x: Port, axes: list[int]) -> Port:
    # IR: StridedSlice(x, stride -1 on the reversed axes, every begin and end ignored)
    rank = ctx.rank(x)
    ctx.require(rank is not None, "Reverse needs a known input rank")
    axes_n = {norm_axis(ctx, a, rank) for a in axes}
    if not axes_n:
        return x
    strides = [-1 if i in axes_n else 1 for i in range(rank)]
    zeros, ones = [0] * rank, [1] * rank
    return ctx.emit("StridedSlice", x, ints(ctx, zeros, "begin"), ints(ctx, zeros, "end"),
                    ints(ctx, strides, "strides"), begin_mask=ones, end_mask=ones,
                    new_axis_mask=zeros, shrink_axis_mask=zeros, ellipsis_mask=zeros)


@TABLE.register("ReverseV2", inputs=2)
def reverse_v2(ctx: NodeContext) -> Outputs:
    return reverse(ctx, ctx.input(0), const_ints(ctx, 1, "axis"))


@TABLE.register("Reverse", inputs=2)
def reverse_v1(ctx: NodeContext) -> Outputs:
    # TF: Reverse(x, dims: bool[R])
    dims = const_ints(ctx, 1, "dims")
    return reverse(ctx, ctx.input(0), [i for i, d in enumerate(dims) if d])


def block_op(ctx: NodeContext, ir_type: str) -> Port:
    # TF's depth layout is (block_row, block_col, channel): the IR's "blocks_first" mode.
    fmt = text(ctx, "data_format", "NHWC")
    ctx.require(fmt in ("NHWC", "NCHW"), f"unsupported data_format {fmt!r}")
    x = ctx.input(0)
    x_nc = x if is_channels_first(fmt) else to_nchw(ctx, x)
    y = ctx.emit(ir_type, x_nc, block_size=int(ctx.attr("block_size")), mode="blocks_first")
    return y if is_channels_first(fmt) else to_nhwc(ctx, y)


@TABLE.register("DepthToSpace", inputs=1)
def depth_to_space(ctx: NodeContext) -> Outputs:
    return block_op(ctx, "DepthToSpace")


@TABLE.register("SpaceToDepth", inputs=1)
def space_to_depth(ctx: NodeContext) -> Outputs:
    return block_op(ctx, "SpaceToDepth")


@TABLE.register("OneHot", inputs=4)
def one_hot(ctx: NodeContext) -> Outputs:
    indices, depth, on, off = ctx.inputs()
    return ctx.emit("OneHot", indices, depth, on, off, axis=int(ctx.attr("axis", -1)))


# -- batch <-> space (dilated convolutions) ------------------------------------------------------


@TABLE.register("SpaceToBatchND", inputs=3)
def space_to_batch_nd(ctx: NodeContext) -> Outputs:
    # TF: SpaceToBatchND(x[N, S1..Sm, R...], block[m], paddings[m,2])
    # IR: Pad -> Reshape [N, S1/b1, b1, ..., Sm/bm, bm, R...] -> Transpose [b1..bm, N, S1/b1, ...,
    #     R...] -> Reshape [N*b1*..*bm, S1/b1, ..., R...]
    x = ctx.input(0)
    block = const_ints(ctx, 1, "block_shape")
    pads = np.asarray(const_ints(ctx, 2, "paddings"), np.int64).reshape(-1, 2)
    shape = ctx.shape(x)
    m = len(block)
    ctx.require(shape is not None and None not in shape[1:],
                "SpaceToBatchND needs static non-batch dimensions")
    rest = list(shape[m + 1:])
    zero = [[0, 0]] * (len(shape) - m - 1)
    full = np.array([[0, 0], *pads.tolist(), *zero], np.int64)
    if full.any():
        x = ctx.emit("Pad", x, ints(ctx, full[:, 0], "pads_begin"), ints(ctx, full[:, 1], "pads_end"),
                     pad_mode="constant")
    sizes = [shape[1 + i] + int(pads[i].sum()) for i in range(m)]
    ctx.require(all(s % b == 0 for s, b in zip(sizes, block)),
                "the padded spatial size is not a multiple of the block shape")
    split = [-1]
    for s, b in zip(sizes, block):
        split += [s // b, b]
    x = ctx.emit("Reshape", x, ints(ctx, split + rest), special_zero=False, name="split")
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + \
        list(range(1 + 2 * m, 1 + 2 * m + len(rest)))
    x = ctx.emit("Transpose", x, ints(ctx, perm))
    out = [-1] + [s // b for s, b in zip(sizes, block)] + rest
    return ctx.emit("Reshape", x, ints(ctx, out), special_zero=False, name="merge")


@TABLE.register("BatchToSpaceND", inputs=3)
def batch_to_space_nd(ctx: NodeContext) -> Outputs:
    # TF: BatchToSpaceND(x[B, s1..sm, R...], block[m], crops[m,2]), N = B / prod(block)
    # IR: Reshape [b1..bm, N, s1..sm, R...] -> Transpose [N, s1, b1, ..., sm, bm, R...] ->
    #     Reshape [N, s1*b1, ..., R...] -> StridedSlice (crops)
    x = ctx.input(0)
    block = const_ints(ctx, 1, "block_shape")
    crops = np.asarray(const_ints(ctx, 2, "crops"), np.int64).reshape(-1, 2)
    shape = ctx.shape(x)
    m = len(block)
    ctx.require(shape is not None and None not in shape[1:],
                "BatchToSpaceND needs static non-batch dimensions")
    spatial, rest = list(shape[1:m + 1]), list(shape[m + 1:])
    x = ctx.emit("Reshape", x, ints(ctx, [*block, -1, *spatial, *rest]), special_zero=False,
                 name="split")
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    x = ctx.emit("Transpose", x, ints(ctx, perm))
    merged = [s * b for s, b in zip(spatial, block)]
    x = ctx.emit("Reshape", x, ints(ctx, [-1, *merged, *rest]), special_zero=False, name="merge")
    if not crops.any():
        return x
    n = 1 + m
    begin = [0] + [int(c) for c in crops[:, 0]]
    end = [0] + [s - int(c) for s, c in zip(merged, crops[:, 1])]
    zeros = [0] * n
    return ctx.emit("StridedSlice", x, ints(ctx, begin, "begin"), ints(ctx, end, "end"),
                    ints(ctx, [1] * n, "strides"), begin_mask=[1] + [0] * m, end_mask=[1] + [0] * m,
                    new_axis_mask=zeros, shrink_axis_mask=zeros, ellipsis_mask=zeros)
