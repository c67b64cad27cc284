"""Conversion passes of the od_api plugin (source stage, TF dialect).

They run only when ``--tensorflow_object_detection_api_pipeline_config`` is given and the graph
is recognised as an Object Detection API export; otherwise each is a no-op.

* ``od_api.select_outputs``: without ``--output``, the IR returns the exporter's outputs with
  TensorFlow's names and order: ``detection_boxes``, ``detection_scores``,
  ``detection_classes``, ``num_detections`` (+ ``detection_masks`` when the model has masks).
  A SavedModel's signature decides what else is returned: its other outputs
  (``raw_detection_boxes``, ``raw_detection_scores``, ``detection_multiclass_scores``) follow
  in signature order. A frozen graph or MetaGraph returns the standard ones only (name the
  others with ``--output`` to get them).
* ``od_api.set_image_input``: the image Placeholder (uint8 ``[-1,-1,-1,3]``) gets batch 1 unless
  ``--input_shape``/``--input NAME[...]``/``--batch`` set its shape; height and width stay
  dynamic (the resize happens inside the IR, whatever the image size).
* ``od_api.replace_preprocessor``: the Preprocessor's per-image ``map_fn`` loop becomes
  batch-wide resize ops (:mod:`.preprocessor`).
* ``od_api.pack_detection_output``: with ``--od_output detection_output``, the detections are
  packed into one ``[1,1,N,7]`` tensor ``detection_output`` in the Inference Engine's
  DetectionOutput layout (image_id, label, confidence, xmin, ymin, xmax, ymax; rows past
  ``num_detections`` have image_id -1), the single IR output.

All run before the dead-code cleanup (what they disconnect disappears) and before
tf_frontend's ``collapse_while_loops`` (the Preprocessor loop is gone before it looks).
"""
from __future__ import annotations

import logging

import numpy as np

from tfconv.errors import UsageError
from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass

from .tfops import F32, I32, TfOps

log = logging.getLogger("tfconv.od_api")

PIPELINE_OPTION = "tensorflow_object_detection_api_pipeline_config"
OD_OUTPUT_OPTION = "od_output"
DEAD_CLEANUP = "cleanup.remove_dead_source"
COLLAPSE_WHILE = "tf_frontend.collapse_while_loops"
EARLY = ["tf_frontend.remove_training_ops", "tf_frontend.fold_constant_switches"]

# The exporter's output tensors (object_detection/exporter.py), in its order.
STANDARD_OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
MASKS = "detection_masks"
DETECTION_OUTPUT = "detection_output"
IMAGE_INPUT = "image_tensor"
RECOGNITION = "od_api_recognition"  # graph.meta key: the front's Recognition (checks.py sets it)
KNOWN_OUTPUTS = "known_output_shapes"  # graph.meta key: output shapes tf_frontend's IR keeps


def active(graph: Graph, config) -> bool:
    """The flag is given and the graph is an OD API export (recognised once per graph)."""
    if not config.options.get(PIPELINE_OPTION):
        return False
    if RECOGNITION not in graph.meta:
        from .recognize import recognize  # structure: NMS stages, Preprocessor, outputs
        graph.meta[RECOGNITION] = recognize(graph)
    return graph.meta[RECOGNITION] is not None


def image_input(graph: Graph) -> str | None:
    """The image Placeholder: the recognised one, ``image_tensor``, else the only 4-D uint8
    graph input."""
    inputs = list(graph.meta.get("inputs", []))
    rec = graph.meta.get(RECOGNITION)
    if rec is not None and rec.image_input in inputs:
        return rec.image_input
    if IMAGE_INPUT in inputs:
        return IMAGE_INPUT
    images = [n for n in inputs if graph.op(n).attrs.get("dtype") == np.dtype(np.uint8)
              and len(graph.op(n).attrs.get("shape") or ()) == 4]
    return images[0] if len(images) == 1 else None


def _shape_given(config, name: str, n_inputs: int) -> bool:
    if config.batch is not None:
        return True
    for spec in config.inputs:
        if spec.shape is not None and (spec.name == name or (spec.name is None and n_inputs == 1)):
            return True
    return False


def _refuse_tf2_batch(graph: Graph, name: str, shape) -> None:
    """A TF2 export's signature takes one image (``[1, h, w, 3]``) and its post-processing
    unstacks that one image: another batch (``--batch``, ``--input_shape``) would give the
    first image's detections only, so it is refused rather than converted wrongly."""
    from .tf2 import is_tf2_export

    if shape is None or len(shape) != 4 or shape[0] in (None, 1) or not is_tf2_export(graph):
        return
    msg = (f"this TF2 Object Detection API export takes one image per call (its signature's "
           f"{name!r} is [1, height, width, 3] and its post-processing handles one image), so "
           f"batch {shape[0]} cannot be converted: drop --batch (or give batch 1 in "
           "--input_shape) and run the images one at a time, or re-export the model with a "
           "larger batch")
    raise UsageError(msg)


def detection_ports(graph: Graph) -> dict[str, Port]:
    """The exporter's detection tensors present in the graph, TF name -> port."""
    rec = graph.meta.get(RECOGNITION)
    found = dict(rec.outputs) if rec is not None else {}
    ports = {}
    for name in (*STANDARD_OUTPUTS, MASKS):
        node = found.get(name, name)
        node, _, index = str(node).partition(":")
        if node in graph:
            ports[name] = Port(node, int(index) if index.isdigit() else 0)
    return ports


@graph_pass("od_api.select_outputs", stage="source", after=EARLY, before=[DEAD_CLEANUP, COLLAPSE_WHILE])
def select_outputs(graph: Graph, config) -> None:
    if config.outputs or not active(graph, config):
        return
    ports = detection_ports(graph)
    missing = [n for n in STANDARD_OUTPUTS if n not in ports]
    if missing:
        msg = (f"the Object Detection API graph has no {', '.join(missing)} output(s), which the "
               "exporter names; name the outputs with --output")
        raise UsageError(msg)
    chosen = [ports[n] for n in (*STANDARD_OUTPUTS, MASKS) if n in ports]
    if "SavedModel" in str(graph.meta.get("source_format", "")):
        chosen += [p for p in graph.outputs if p not in chosen]  # the signature's others
    dropped = [p for p in graph.outputs if p not in chosen]
    graph.outputs = chosen
    _declare_shapes(graph, ports)
    log.info("OD API outputs: %s%s", ", ".join(p.node for p in chosen),
             f" ({len(dropped)} other sink(s) dropped)" if dropped else "")


def _declare_shapes(graph: Graph, ports: dict[str, Port]) -> None:
    """The exporter pads every image's detections to ``max_total_detections`` (and the masks to
    the mask size): the outputs' shapes for tf_frontend to keep (its ``declared_shapes``
    contract: ``graph.meta[KNOWN_OUTPUTS]``, tensor -> shape, None for a dim left as it is),
    which the padding by a computed amount hides from OpenVINO's shape inference."""
    facts = graph.meta[RECOGNITION].facts
    total = facts.max_total_detections
    if total is None:
        return
    shapes = {"detection_boxes": (None, total, 4), "detection_scores": (None, total),
              "detection_classes": (None, total), "num_detections": (None,)}
    if facts.mask_size is not None:
        shapes[MASKS] = (None, total, *facts.mask_size)
    known = graph.meta.setdefault(KNOWN_OUTPUTS, {})
    for name, shape in shapes.items():
        if name in ports:
            known[str(ports[name])] = shape  # type: ignore[index]


@graph_pass("od_api.set_image_input", stage="source", after=EARLY, before=[DEAD_CLEANUP, COLLAPSE_WHILE])
def set_image_input(graph: Graph, config) -> None:
    if not active(graph, config):
        return
    name = image_input(graph)
    if name is None:
        return
    op = graph.op(name)
    shape = op.attrs.get("shape")
    _refuse_tf2_batch(graph, name, shape)
    if _shape_given(config, name, len(graph.meta.get("inputs", []))) or shape is None \
            or len(shape) != 4 or shape[0] is not None:
        return
    op.attrs["shape"] = (1, *shape[1:])
    op.outputs[0].shape = op.attrs["shape"]
    log.info("OD API image input %s: batch 1 (set --batch or --input_shape for another)", name)


@graph_pass("od_api.replace_preprocessor", stage="source",
            after=[*EARLY, "od_api.select_outputs"], before=[DEAD_CLEANUP, COLLAPSE_WHILE])
def replace_preprocessor(graph: Graph, config) -> None:
    if not active(graph, config):
        return
    from . import preprocessor  # only for OD API graphs (1 ms of every start-up)
    for loop in preprocessor.find_loops(graph):
        done = preprocessor.replace(graph, loop)
        log.info("OD API Preprocessor loop %s replaced by a batch-wide resize: %s", loop.frame,
                 ", ".join(f"{k}={v}" for k, v in done.items()))


@graph_pass("od_api.pack_detection_output", stage="source",
            after=[*EARLY, "od_api.select_outputs"], before=[DEAD_CLEANUP, COLLAPSE_WHILE])
def pack_detection_output(graph: Graph, config) -> None:
    layout = config.options.get(OD_OUTPUT_OPTION)
    if not layout or layout == "tf" or not active(graph, config):
        return
    if layout != DETECTION_OUTPUT:
        msg = f"--od_output takes {DETECTION_OUTPUT} (or tf, the default), not {layout!r}"
        raise UsageError(msg)
    if config.outputs:
        msg = f"--od_output {DETECTION_OUTPUT} chooses the output; drop --output"
        raise UsageError(msg)
    graph.outputs = [pack(graph)]
    log.info("OD API detections packed into %s [1,1,N,7] (image_id, label, confidence, "
             "xmin, ymin, xmax, ymax)", DETECTION_OUTPUT)


def pack(graph: Graph) -> Port:
    """``detection_output`` [1,1,N,7] from the exporter's four outputs (batch 1)."""
    b = TfOps(graph, DETECTION_OUTPUT)
    ports = detection_ports(graph)
    boxes, scores, classes, num = (ports[n] for n in STANDARD_OUTPUTS)
    n = b.element(b.shape(scores, "Shape"), 1, "N")
    rows = b.cast(b.op("Range", "Range", [b.const(np.int32(0), "start"), n,
                                          b.const(np.int32(1), "delta")], I32, (None,),
                       Tidx=I32), F32, "row")
    valid = b.binary("Less", b.expand_dims(rows, 0, "rows"), b.expand_dims(num, 1, "num"), "valid")
    image_id = b.op("SelectV2", "image_id", [valid, b.const(np.float32(0), "zero"),
                                             b.const(np.float32(-1), "minus_one")], F32)
    xyxy = b.op("GatherV2", "xyxy", [boxes, b.const(np.array([1, 0, 3, 2], np.int32), "order"),
                                     b.const(np.int32(2), "axis")], F32, batch_dims=0,
                Taxis=I32, Tindices=I32)
    columns = [b.expand_dims(t, 2, f"{label}_column") for t, label in
               ((image_id, "image_id"), (classes, "label"), (scores, "confidence"))]
    packed = b.concat([*columns, xyxy], 2, "rows_7")
    return b.identity(b.expand_dims(packed, 1, "packed"), DETECTION_OUTPUT) \
        if DETECTION_OUTPUT not in graph else b.expand_dims(packed, 1, "packed")


from .nms_merge import merge_class_nms  # noqa: E402  (one NonMaxSuppression for all classes)

ALL_PASSES = [select_outputs, set_image_input, replace_preprocessor, pack_detection_output,
              merge_class_nms]
