"""custom_op: hook implementations of the SoftClip example plugin."""
from __future__ import annotations

from tfconv import hookimpl


@hookimpl
def tfconv_register_translators(registry):
    from .translators import TABLE
    registry.add(TABLE)


@hookimpl
def tfconv_register_ir_ops(registry):
    from .irops import OPSET, evaluate_soft_clip, infer_soft_clip
    registry.add("SoftClip", infer_soft_clip, version=OPSET, evaluate=evaluate_soft_clip)


@hookimpl
def tfconv_add_options(command):
    import click

    from . import MODES, OPTION
    command.params.append(click.Option(
        [f"--{OPTION}"], type=click.Choice(MODES), default=MODES[0], show_default=True,
        help="custom_op plugin: write TF's SoftClip as standard IR ops, or as one SoftClip "
             "layer that OpenVINO runs with the extension tfconv_custom_op.ov_extension."))
