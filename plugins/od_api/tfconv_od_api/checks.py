"""The od_api plugin's front: the early source pass that decides whether a model is an Object
Detection API graph and checks its pipeline.config, the ``inspect`` finding, and the legacy
``--transformations_config`` recipes it makes unnecessary.

``od_api.check_pipeline_config`` (source stage, before the control-flow and recipe passes):

* an OD API graph without ``--tensorflow_object_detection_api_pipeline_config``: one line
  naming the meta-architecture and the flag (and the pipeline.config beside the model, if any);
* the flag on a graph that is not an OD API export: one line;
* a missing or malformed pipeline.config: one line (file, line and column);
* every field the graph fixes that the config contradicts: one line listing them all, each with
  both values.

On success it leaves ``graph.meta[META_CONFIG]`` (the :class:`~.pipeline_config.ODConfig`) and
``graph.meta[META_RECOGNITION]`` (the :class:`~.recognize.Recognition`) for the conversion
passes (``passes.py``), which declare ``after=["od_api.check_pipeline_config"]``.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from tfconv.errors import UsageError
from tfconv.findings import Finding
from tfconv.graph import Graph
from tfconv.passes import graph_pass

from .plugin import CONFIG_OPTION, FLAG
from .recognize import NMS_TYPES, Recognition, recognize

# The pipeline.config reader (pipeline_config.py) is imported where a config is read: a model
# that is no OD API export never needs it (4 ms of every conversion's start-up).
if TYPE_CHECKING:
    from .pipeline_config import ODConfig

log = logging.getLogger("tfconv.od_api")

META_CONFIG = "od_api_pipeline_config"
META_RECOGNITION = "od_api_recognition"   # passes.RECOGNITION reads it

# The legacy Model Optimizer's Object Detection API recipes (front/tf/*.json) and the
# replacement ids in them: tfconv needs none of them.
LEGACY_RECIPE_FILES = (
    "ssd_support.json", "ssd_v2_support.json", "ssd_support_api_v1.14.json",
    "ssd_support_api_v1.15.json", "ssd_support_api_v2.0.json", "ssd_support_api_v2.4.json",
    "efficient_det_support_api_v2.0.json", "efficient_det_support_api_v2.4.json",
    "faster_rcnn_support.json", "faster_rcnn_support_api_v1.7.json",
    "faster_rcnn_support_api_v1.10.json", "faster_rcnn_support_api_v1.13.json",
    "faster_rcnn_support_api_v1.14.json", "faster_rcnn_support_api_v1.15.json",
    "faster_rcnn_support_api_v2.0.json", "faster_rcnn_support_api_v2.4.json",
    "mask_rcnn_support.json", "mask_rcnn_support_api_v1.7.json", "mask_rcnn_support_api_v1.11.json",
    "mask_rcnn_support_api_v1.13.json", "mask_rcnn_support_api_v1.14.json",
    "mask_rcnn_support_api_v1.15.json", "mask_rcnn_support_api_v2.0.json",
    "mask_rcnn_support_api_v2.4.json",
    "rfcn_support.json", "rfcn_support_api_v1.10.json", "rfcn_support_api_v1.13.json",
    "rfcn_support_api_v1.14.json",
)
LEGACY_REPLACEMENT_IDS = (
    "ObjectDetectionAPIPreprocessorReplacement", "ObjectDetectionAPIPreprocessor2Replacement",
    "ObjectDetectionAPISSDPostprocessorReplacement", "ObjectDetectionAPIOutputReplacement",
    "ObjectDetectionAPIProposalReplacement", "ObjectDetectionAPIDetectionOutputReplacement",
    "ObjectDetectionAPIConstValueOverride", "ObjectDetectionAPIMaskRCNNROIPoolingSecondReplacement",
    "ObjectDetectionAPIMaskRCNNSigmoidReplacement", "ObjectDetectionAPIPSROIPoolingReplacement",
    "ObjectDetectionAPIProposalAndROIPoolingReplacement",
)
LEGACY_NOTICE = (f"the od_api plugin recognises Object Detection API models from the graph and "
                 f"reads {FLAG}; no recipe is needed")

KIND_NAMES = {"ssd": "SSD", "faster_rcnn": "Faster R-CNN", "mask_rcnn": "Mask R-CNN",
              "rfcn": "R-FCN", "center_net": "CenterNet"}


def register_legacy_recipes(registry) -> None:
    """The legacy OD recipe files and ids are accepted and skipped with one notice."""
    registry.supersede(files=LEGACY_RECIPE_FILES, ids=LEGACY_REPLACEMENT_IDS, notice=LEGACY_NOTICE)


# -- the model's own pipeline.config -------------------------------------------------------


def config_beside(model: Path | None) -> Path | None:
    """The pipeline.config the exporter writes beside the model (frozen graph, MetaGraph, or
    the folder holding ``saved_model/``), if there is one."""
    if model is None:
        return None
    model = Path(model)
    folders = [model] if model.is_dir() else []
    folders += [model.parent, model.parent.parent] if model.is_dir() else [model.parent]
    for folder in folders:
        candidate = folder / "pipeline.config"
        if candidate.is_file():
            return candidate
    return None


def _model_name(config) -> str:
    return str(config.model) if config.model is not None else "the model"


def _what(rec: Recognition) -> str:
    return f"an Object Detection API {rec.kind} model"


def _live_nms(graph: Graph) -> bool:
    """Whether a non-max-suppression op feeds the outputs (a --output cut may leave none)."""
    live = graph.ancestors(p.node for p in graph.outputs if p.node in graph)
    return any(graph.op(n).type in NMS_TYPES for n in live)


# -- checking the config against the graph -------------------------------------------------


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)


def _num(value: float) -> str:
    return f"{float(value):g}"


def mismatches(cfg: ODConfig, rec: Recognition) -> list[str]:
    """Every field of ``cfg`` the graph contradicts, as 'field: config says X, the graph Y'."""
    f = rec.facts
    out: list[str] = []
    if cfg.kind != rec.kind:
        out.append(f"meta-architecture: pipeline.config says {cfg.kind}, the graph is "
                   f"{KIND_NAMES[rec.kind]} ({rec.kind})")
    if f.num_classes is not None and cfg.num_classes != f.num_classes:
        background = " (+background)" if cfg.add_background_class else ""
        out.append(f"num_classes: pipeline.config says {cfg.num_classes}, the graph predicts "
                   f"{f.num_classes} classes{background}")
    if f.resizer == "fixed_shape" and f.resize_size is not None:
        size = f"{f.resize_size[0]}x{f.resize_size[1]}"
        if cfg.resizer != "fixed_shape" or (cfg.height, cfg.width) != f.resize_size:
            out.append(f"image_resizer: pipeline.config says {cfg.resizer_text}, the graph "
                       f"resizes every image to {size} (fixed_shape_resizer {size})")
    elif f.resizer == "keep_aspect_ratio":
        rng = f.resize_range
        if cfg.resizer != "keep_aspect_ratio" or (
                rng is not None and (cfg.min_dimension, cfg.max_dimension) != rng):
            graph_text = ("keep_aspect_ratio_resizer" if rng is None else
                          f"keep_aspect_ratio_resizer min {rng[0]} / max {rng[1]}")
            out.append(f"image_resizer: pipeline.config says {cfg.resizer_text}, the graph "
                       f"resizes with {graph_text}")
    if f.score_converter is not None and cfg.score_converter != f.score_converter:
        out.append(f"score_converter: pipeline.config says {cfg.score_converter}, the graph "
                   f"applies {f.score_converter}")
    for name, cfg_value, graph_value in (
            ("iou_threshold", cfg.iou_threshold, f.iou_threshold),
            ("score_threshold", cfg.score_threshold, f.score_threshold)):
        if graph_value is not None and not _close(cfg_value, graph_value):
            out.append(f"{name}: pipeline.config says {_num(cfg_value)}, the graph's NMS uses "
                       f"{_num(graph_value)}")
    for name, cfg_value, graph_value in (
            ("max_detections_per_class", cfg.max_detections_per_class, f.max_detections_per_class),
            ("max_total_detections", cfg.max_total_detections, f.max_total_detections)):
        if graph_value is not None and cfg_value != graph_value:
            out.append(f"{name}: pipeline.config says {cfg_value}, the graph's NMS keeps "
                       f"{graph_value}")
    if f.box_coder_scales is not None and cfg.box_coder == "faster_rcnn_box_coder" and not all(
            _close(a, b) for a, b in zip(cfg.box_coder_scales, f.box_coder_scales)):
        out.append("box_coder scales (y, x, height, width): pipeline.config says "
                   f"{', '.join(map(_num, cfg.box_coder_scales))}, the graph decodes with "
                   f"{', '.join(map(_num, f.box_coder_scales))}")
    if cfg.meta_arch == "faster_rcnn" and rec.meta_arch == "faster_rcnn":
        if f.first_stage_max_proposals is not None and \
                cfg.first_stage_max_proposals != f.first_stage_max_proposals:
            out.append(f"first_stage_max_proposals: pipeline.config says "
                       f"{cfg.first_stage_max_proposals}, the graph's proposal NMS keeps "
                       f"{f.first_stage_max_proposals}")
        if f.first_stage_iou_threshold is not None and cfg.first_stage_nms_iou_threshold is not None \
                and not _close(cfg.first_stage_nms_iou_threshold, f.first_stage_iou_threshold):
            out.append(f"first_stage_nms_iou_threshold: pipeline.config says "
                       f"{_num(cfg.first_stage_nms_iou_threshold)}, the graph's proposal NMS uses "
                       f"{_num(f.first_stage_iou_threshold)}")
        if f.initial_crop_size is not None and cfg.initial_crop_size is not None and \
                cfg.initial_crop_size != f.initial_crop_size:
            out.append(f"initial_crop_size: pipeline.config says {cfg.initial_crop_size}, the "
                       f"graph crops {f.initial_crop_size}x{f.initial_crop_size}")
    if f.mask_size is not None and cfg.mask_height is not None and \
            (cfg.mask_height, cfg.mask_width) != f.mask_size:
        out.append(f"mask size: pipeline.config says {cfg.mask_height}x{cfg.mask_width}, the "
                   f"graph's masks are {f.mask_size[0]}x{f.mask_size[1]}")
    return out


def summary(cfg: ODConfig | None, rec: Recognition) -> str:
    """One line: what was detected (``ssd, 3 classes, fixed_shape_resizer 160x160, ...``)."""
    f = rec.facts
    parts = [rec.kind]
    if f.num_classes is not None:
        parts.append(f"{f.num_classes} classes")
    if cfg is not None:
        parts.append(cfg.resizer_text)
    elif f.resize_size is not None:
        parts.append(f"fixed_shape_resizer {f.resize_size[0]}x{f.resize_size[1]}")
    elif f.resize_range is not None:
        parts.append(f"keep_aspect_ratio_resizer min {f.resize_range[0]} / max {f.resize_range[1]}")
    if f.score_converter:
        parts.append(f"{f.score_converter} scores")
    if f.iou_threshold is not None:
        parts.append(f"NMS IoU {_num(round(f.iou_threshold, 6))}")
    if f.max_total_detections is not None:
        parts.append(f"max {f.max_total_detections} detections")
    if f.first_stage_max_proposals is not None:
        parts.append(f"{f.first_stage_max_proposals} proposals")
    if f.mask_size is not None:
        parts.append(f"{f.mask_size[0]}x{f.mask_size[1]} masks")
    return ", ".join(parts)


def check(graph: Graph, config) -> tuple[ODConfig, Recognition] | None:
    """Recognise the graph and check the flag and its pipeline.config (see the module doc)."""
    path = config.options.get(CONFIG_OPTION)
    rec = recognize(graph)
    if rec is not None and config.outputs and not _live_nms(graph):
        rec = None  # --output cuts the detection part away: nothing OD-specific remains
    model = _model_name(config)
    if rec is None:
        flags = [f for f, given in ((FLAG, path), ("--od_output detection_output",
                                                   config.options.get("od_output") == "detection_output"))
                 if given]
        if flags:
            what = " and ".join(flags)
            msg = (f"{what} {'is' if len(flags) == 1 else 'are'} for TensorFlow Object Detection "
                   f"API models, and {model} is not one (no batch non-max-suppression stage fed by "
                   f"a Preprocessor scope or feeding detection_* outputs): drop {'it' if len(flags) == 1 else 'them'}")
            raise UsageError(msg)
        return None
    if not path:
        from .tf2 import config_for_export, is_tf2_export
        exported = config_for_export(config.model) if is_tf2_export(graph) else None
        if exported is not None:  # exporter_main_v2.py writes it beside saved_model/
            path = str(exported)
            config.options[CONFIG_OPTION] = path
            log.info("%s: using the exporter's %s (pass %s to choose another)", model,
                     exported, FLAG)
    if not path:
        beside = config_beside(config.model)
        where = (f"{beside}" if beside is not None else "<its pipeline.config>")
        tail = (" (the exporter's file beside the model)" if beside is not None else
                "; the Object Detection API exporter writes pipeline.config beside the frozen "
                "graph, the checkpoint and saved_model/")
        msg = f"{model} looks like {_what(rec)}: pass {FLAG} {where}{tail}"
        raise UsageError(msg)
    from .pipeline_config import OdConfigError, load
    cfg = load(path)
    found = mismatches(cfg, rec)
    if found:
        msg = (f"{cfg.source} does not match the graph of {model}: " + "; ".join(found) +
               " (pass the pipeline.config this graph was exported with)")
        raise OdConfigError(msg)
    return cfg, rec


@graph_pass("od_api.check_pipeline_config", stage="source",
            before=["tf_frontend.collapse_while_loops",
                    "transformations.apply_config",
                    "tf_frontend.write_tensorboard", "tf_frontend.fold_constant_switches",
                    "tf_frontend.remove_training_ops", "slim.recognise_topology",
                    "cleanup.remove_dead_source"])
def check_pipeline_config(graph: Graph, config) -> None:
    """OD API graph <-> --tensorflow_object_detection_api_pipeline_config (no-op for other
    models without the flag)."""
    result = check(graph, config)
    if result is None:
        return
    cfg, rec = result
    graph.meta[META_CONFIG] = cfg
    graph.meta[META_RECOGNITION] = rec
    log.info("detected TF Object Detection API model: %s (%s agrees with the graph)",
             summary(cfg, rec), cfg.source)


ALL_PASSES = (check_pipeline_config,)


# -- tfconv inspect / convert's findings ---------------------------------------------------


def describe(path, config, graph: Graph) -> list[Finding] | None:
    rec = recognize(graph)
    if rec is None:
        return None
    details = [summary(None, rec), *rec.evidence]
    if rec.image_input:
        details.append(f"image input {rec.image_input!r} (uint8 image, resized and normalised "
                       "inside the model)")
    given = config.options.get(CONFIG_OPTION) if config is not None else None
    beside = config_beside(path)
    if given:
        from .pipeline_config import OdConfigError, load
        try:
            found = mismatches(load(given), rec)
        except OdConfigError as err:
            details.append(f"{FLAG}: {err}")
        else:
            details.append(f"{given}: " + ("agrees with the graph" if not found else
                                           "does not match the graph: " + "; ".join(found)))
    elif beside is not None:
        details.append(f"the exporter's pipeline.config is beside the model: {beside}")
    flags = (FLAG, str(given or beside or "pipeline.config"))
    data = {"kind": rec.kind, "meta_arch": rec.meta_arch, "image_input": rec.image_input,
            "outputs": list(rec.outputs)}
    return [Finding(kind="topology", title=rec.title, details=tuple(details), flags=flags,
                    plugin="od_api", data=data)]
