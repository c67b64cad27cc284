"""Random sampling ops, the ones the peers convert: RandomUniform, RandomUniformInt, Multinomial.

OpenVINO's RandomUniform-8 (alignment "tensorflow") runs TensorFlow's Philox generator from the
node's seed and seed2, so a seeded op gives TensorFlow's very numbers; unseeded ops (both 0)
are random in both. The IR is the same bytes either way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import TABLE
from ._util import dtype_name, ints

if TYPE_CHECKING:
    from tfconv.translate import NodeContext, Outputs


def seeds(ctx: NodeContext) -> dict[str, int]:
    return {"global_seed": int(ctx.attr("seed", 0)), "op_seed": int(ctx.attr("seed2", 0))}


@TABLE.register("RandomUniform", inputs=1)
def random_uniform(ctx: NodeContext) -> Outputs:
    # TF: uniform in [0, 1) of the given shape and dtype
    dtype = np.dtype(ctx.attr("dtype"))
    shape = ctx.emit("Convert", ctx.input(0), destination_type="int64")
    return ctx.emit("RandomUniform", shape, ctx.const(np.array(0, dtype), name="min"),
                    ctx.const(np.array(1, dtype), name="max"), output_type=dtype_name(dtype),
                    alignment="tensorflow", **seeds(ctx))


@TABLE.register("RandomUniformInt", inputs=3)
def random_uniform_int(ctx: NodeContext) -> Outputs:
    # TF: integers uniform in [minval, maxval)
    shape, low, high = ctx.inputs()
    shape = ctx.emit("Convert", shape, destination_type="int64")
    return ctx.emit("RandomUniform", shape, low, high, output_type=dtype_name(ctx.dtype(low)),
                    alignment="tensorflow", **seeds(ctx))


@TABLE.register("Multinomial", inputs=2)
def multinomial(ctx: NodeContext) -> Outputs:
    # TF: num_samples class indices per row of logits [batch, classes], with replacement
    # IR: Multinomial-13 on log-probabilities
    logits, num = ctx.inputs()
    # (convert_type is spelled as the IR spells it: i32 or i64)
    out_type = {"int32": "i32", "int64": "i64"}[dtype_name(ctx.attr("output_dtype",
                                                                     np.dtype(np.int64)))]
    num = ctx.emit("Convert", num, destination_type="int64")
    return ctx.emit("Multinomial", logits, ctx.emit("Reshape", num, ints(ctx, [1]),
                                                    special_zero=False),
                    convert_type=out_type, with_replacement=True, log_probs=True, **seeds(ctx))
