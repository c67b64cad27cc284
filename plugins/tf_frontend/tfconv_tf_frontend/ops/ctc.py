"""CTC decoding: CTCGreedyDecoder, its sparse result built from OpenVINO's dense one."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import ints

if TYPE_CHECKING:
    from tfconv.translate import NodeContext, Outputs


@TABLE.register("CTCGreedyDecoder", inputs=2)
def ctc_greedy_decoder(ctx: NodeContext) -> Outputs:
    # TF: inputs [T, N, C] logits, sequence_length [N] -> the best class per step, repeats
    # merged (merge_repeated) and blanks dropped, as a sparse [N, max_len] tensor (indices,
    # values, dense shape), and log_probability [N, 1] = -sum over t < length of max logit
    # IR: CTCGreedyDecoderSeqLen-6 on [N, T, C]: classes [N, T] padded with -1, lengths [N]
    logits, lengths = ctx.inputs()
    classes = (ctx.shape(logits) or (None, None, None))[-1]
    blank = int(ctx.attr("blank_index", -1))
    if blank < 0:
        ctx.require(classes is not None, "the number of classes must be known")
        blank += classes
    batch_major = ctx.emit("Transpose", logits, ints(ctx, [1, 0, 2]))
    decoded, decoded_len = ctx.emit(
        "CTCGreedyDecoderSeqLen", batch_major, lengths,
        ctx.const(np.array(blank, ctx.dtype(lengths)), name="blank_index"),
        merge_repeated=bool(ctx.attr("merge_repeated", False)),
        classes_index_type="i64", sequence_length_type="i64")
    kept = ctx.emit("NotEqual", decoded, ints(ctx, -1))
    indices = ctx.emit("Transpose", ctx.emit("NonZero", kept, output_type="int64"),
                       ints(ctx, [1, 0]))
    values = ctx.emit("GatherND", decoded, indices, batch_dims=0)
    batch = ctx.emit("Gather", ctx.emit("ShapeOf", decoded, output_type="int64"), ints(ctx, [0]),
                     ints(ctx, 0), batch_dims=0)
    longest = ctx.emit("ReduceMax", decoded_len, ints(ctx, [0]), keep_dims=True)
    shape = ctx.emit("Concat", batch, longest, axis=0)
    # log probability: the best logit of each step within the sequence, summed, negated
    best = ctx.emit("ReduceMax", logits, ints(ctx, [2]), keep_dims=False)          # [T, N]
    steps = ctx.emit("Range", ints(ctx, 0), ctx.emit(
        "Gather", ctx.emit("ShapeOf", logits, output_type="int64"), ints(ctx, 0), ints(ctx, 0),
        batch_dims=0), ints(ctx, 1), output_type="int64")
    within = ctx.emit("Less", ctx.emit("Unsqueeze", steps, ints(ctx, [1])),
                      ctx.emit("Convert", lengths, destination_type="int64"))
    zero = ctx.const(np.array(0, ctx.dtype(logits)))
    total = ctx.emit("ReduceSum", ctx.emit("Select", within, best, zero), ints(ctx, [0]),
                     keep_dims=False)
    log_prob = ctx.emit("Unsqueeze", ctx.emit("Negative", total), ints(ctx, [1]))
    return indices, values, shape, log_prob
