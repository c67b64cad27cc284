"""The TF op ``SoftClip`` (y = limit * tanh(x / limit)) as IR, in the form ``--soft_clip_as``
chooses: ``ir_ops`` (standard opset ops, runs on any OpenVINO) or ``custom_layer`` (one
``SoftClip`` layer of the ``tfconv_custom_op`` opset, run by ``ov_extension.SoftClip``)."""
from __future__ import annotations

import numpy as np

from tfconv.translate import OpTable

from . import MODES, OPTION  # noqa: F401 - re-exported

TABLE = OpTable("tf")


@TABLE.register("SoftClip", inputs=1)
def soft_clip(ctx):
    # TF: y = SoftClip(x, limit)
    # IR (ir_ops):       y = Multiply(Tanh(Divide(x, limit)), limit)
    # IR (custom_layer): y = SoftClip(x, limit)    version="tfconv_custom_op"
    limit = float(ctx.attr("limit", 1.0))
    ctx.require(limit > 0, f"limit must be > 0, got {limit}")
    x = ctx.input(0)
    if ctx.config.options.get(OPTION) == "custom_layer":
        return ctx.emit("SoftClip", x, limit=limit)
    scale = ctx.const(np.array(limit, np.float32))
    return ctx.emit("Multiply", ctx.emit("Tanh", ctx.emit("Divide", x, scale)), scale)
