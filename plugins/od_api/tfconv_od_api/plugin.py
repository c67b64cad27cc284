"""od_api plugin entry point (hookimpls only): TensorFlow Object Detection API models.

Flags: ``--tensorflow_object_detection_api_pipeline_config FILE`` (convert, validate, inspect)
and ``--od_output [tf|detection_output]`` (convert, validate). Recognition of the
meta-architecture from the graph (``recognize.py``), the pipeline.config reader
(``pipeline_config.py``), the early checks (``checks.py``) and the conversion passes
(``passes.py``).
"""
from __future__ import annotations

from tfconv import hookimpl

CONFIG_OPTION = "tensorflow_object_detection_api_pipeline_config"
FLAG = "--" + CONFIG_OPTION
OUTPUT_OPTION = "od_output"


@hookimpl
def tfconv_add_options(command):
    import click
    command.params.append(click.Option(
        [FLAG], metavar="FILE",
        help="TensorFlow Object Detection API models: the pipeline.config the exporter wrote "
             "beside the graph. The meta-architecture is recognised from the graph; every field "
             "the conversion uses is checked against it."))
    if command.name != "inspect":  # inspect converts nothing
        command.params.append(click.Option(
            ["--" + OUTPUT_OPTION], type=click.Choice(["tf", "detection_output"]), default="tf",
            show_default=True, metavar="[tf|detection_output]",
            help="Object Detection API models: TensorFlow's outputs (detection_boxes, "
                 "detection_scores, detection_classes, num_detections[, detection_masks]), or "
                 "one [1,1,N,7] DetectionOutput as the legacy converter and the IE samples use."))


@hookimpl
def tfconv_register_passes(registry):
    from .checks import ALL_PASSES as CHECKS
    from .passes import ALL_PASSES as CONVERSION
    from .tf2 import ALL_PASSES as TF2
    registry.add(*CHECKS, *CONVERSION, *TF2)


@hookimpl
def tfconv_register_translators(registry):
    from .nms_merge import TABLE  # TfconvMultiClassNMS: the merged per-class NMS
    registry.add(TABLE)


@hookimpl
def tfconv_register_replacers(registry):
    from .checks import register_legacy_recipes
    register_legacy_recipes(registry)


@hookimpl
def tfconv_describe_model(path, config, graph):
    if graph is None:
        return None
    from .checks import describe
    return describe(path, config, graph)
