"""Recognising an Object Detection API graph and its meta-architecture from the graph's structure.

Nothing here depends on an exporter version or a list of node names. What is read:

* **batch NMS groups**: the ``NonMaxSuppression*`` ops, grouped by the scope that holds them
  (``.../BatchMultiClassNonMaxSuppression[_N]``, one op per class); the group no other group
  feeds is the detection NMS, a group that feeds it is the first-stage (proposal) NMS;
* **the preprocessor**: the ops of a ``Preprocessor`` scope, whose resize ops give the resizer
  (a constant size is ``fixed_shape_resizer``; a size computed from the image between two
  target sizes is ``keep_aspect_ratio_resizer`` with its min/max dimensions);
* **crops**: ``CropAndResize`` ops outside loops are a second stage (Faster R-CNN; two crops
  are Mask R-CNN), many inside one loop are R-FCN's position-sensitive crops;
* **the image input**: the placeholder that reaches the preprocessor;
* **the outputs**: the nodes named ``detection_boxes``/``detection_scores``/
  ``detection_classes``/``num_detections``/``detection_masks`` (any scope prefix), as the
  exporters of every API version name them.

From these, :class:`GraphFacts` holds what the graph fixes and the pipeline.config must agree
with: the number of classes (one NMS per class), NMS thresholds and sizes (the NMS ops' constant
inputs), the resizer's sizes, the score converter (the activation between the class predictions
and the NMS), the box coder's scale factors (the divisors of the decoded codes), the first
stage's proposal count and the mask size.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tfconv.graph import Graph, Op, Port

NMS_TYPES = ("NonMaxSuppression", "NonMaxSuppressionV2", "NonMaxSuppressionV3",
             "NonMaxSuppressionV4", "NonMaxSuppressionV5", "NonMaxSuppressionWithOverlaps",
             "CombinedNonMaxSuppression")
RESIZE_TYPES = ("ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea")
PREPROCESSOR = "Preprocessor"       # the scope the exporters give the image preprocessing
PASS_THROUGH = ("Identity", "Enter", "StopGradient", "Snapshot")
OUTPUT_NAMES = ("detection_boxes", "detection_scores", "detection_classes", "num_detections",
                "detection_masks")
SCORE_CONVERTERS = {"Sigmoid": "SIGMOID", "Softmax": "SOFTMAX"}
KIND_TITLES = {"ssd": "SSD", "faster_rcnn": "Faster R-CNN", "mask_rcnn": "Mask R-CNN",
               "rfcn": "R-FCN", "center_net": "CenterNet"}
_NMS_SCOPE = re.compile(r"nonmaxsuppression|non_max_suppression", re.IGNORECASE)
_MULTICLASS = re.compile(r"multi_?class_?non_?max_?suppression", re.IGNORECASE)


@dataclass(frozen=True)
class GraphFacts:
    """What the graph fixes that pipeline.config must agree with (``None``: not found)."""

    num_classes: int | None = None
    iou_threshold: float | None = None
    score_threshold: float | None = None
    max_detections_per_class: int | None = None
    max_total_detections: int | None = None
    resizer: str | None = None                 # "fixed_shape" | "keep_aspect_ratio"
    resize_size: tuple[int, int] | None = None  # fixed_shape: (height, width)
    resize_range: tuple[int, int] | None = None  # keep_aspect_ratio: (min, max dimension)
    score_converter: str | None = None          # "SIGMOID" | "SOFTMAX" | "IDENTITY"
    box_coder_scales: tuple[float, float, float, float] | None = None  # y, x, h, w
    first_stage_max_proposals: int | None = None
    first_stage_iou_threshold: float | None = None
    initial_crop_size: int | None = None
    mask_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Recognition:
    """An Object Detection API graph: its meta-architecture ``kind`` (``ssd``, ``faster_rcnn``,
    ``mask_rcnn``, ``rfcn``), image input, detection outputs (TF's names -> node), the facts
    the config is checked against and the evidence, one line each."""

    kind: str
    image_input: str | None
    outputs: dict[str, str]
    facts: GraphFacts
    evidence: tuple[str, ...]
    nms_groups: tuple[str, ...] = field(default=())   # scope of each batch-NMS, first stage first

    @property
    def title(self) -> str:
        return f"Object Detection API {self.kind}"

    @property
    def meta_arch(self) -> str:
        return self.kind if self.kind in ("ssd", "center_net") else "faster_rcnn"


# -- helpers -------------------------------------------------------------------------------


def _parts(name: str) -> list[str]:
    return name.split("/")


def _const(graph: Graph, port: Port, depth: int = 8) -> np.ndarray | None:
    """The constant value behind ``port`` (through Identity/Enter chains), or None."""
    for _ in range(depth):
        op = graph.op(port.node)
        if op.type == "Const":
            value = op.value
            return None if value is None else np.asarray(value)
        if op.type not in PASS_THROUGH:
            return None
        ins = graph.inputs(op.name)
        if not ins:
            return None
        port = ins[0]
    return None


def _scalar(value: np.ndarray | None) -> float | None:
    if value is None or value.size != 1 or value.dtype.kind not in "iuf":
        return None
    return value.reshape(-1)[0].item()


def _nms_group(name: str) -> str:
    parts = _parts(name)
    for i, part in enumerate(parts[:-1]):
        if _NMS_SCOPE.search(part):
            return "/".join(parts[:i + 1])
    return "/".join(parts[:-1]) or name


def _in_loop(name: str) -> bool:
    return "/while/" in f"/{name}/"


def _input_const(graph: Graph, op: Op, index: int) -> float | None:
    ins = graph.inputs(op.name)
    if index >= len(ins):
        return None
    return _scalar(_const(graph, ins[index]))


def _minimum_const(graph: Graph, port: Port) -> float | None:
    """``max_output_size``: a constant, or ``Minimum(constant, count)``."""
    value = _scalar(_const(graph, port))
    if value is not None:
        return value
    op = graph.op(port.node)
    if op.type == "Minimum":
        for p in graph.inputs(op.name):
            value = _scalar(_const(graph, p))
            if value is not None:
                return value
    return None


def _bfs_back(graph: Graph, starts: list[Port], stop, limit: int = 4000):
    """Ops reachable backwards from ``starts`` in BFS order, not crossing ``stop(op)``."""
    seen: set[str] = set()
    todo = deque(p.node for p in starts)
    while todo and len(seen) < limit:
        name = todo.popleft()
        if name in seen:
            continue
        seen.add(name)
        op = graph.op(name)
        yield op
        if stop(op):
            continue
        todo.extend(p.node for p in graph.inputs(name))


# -- the parts -----------------------------------------------------------------------------


def _nms(graph: Graph) -> dict[str, list[Op]]:
    groups: dict[str, list[Op]] = {}
    for op in graph:
        if op.type in NMS_TYPES:
            groups.setdefault(_nms_group(op.name), []).append(op)
    return groups


def _order_groups(graph: Graph, groups: dict[str, list[Op]]) -> list[str]:
    """Groups in data-flow order (a group another one reads comes first)."""
    ancestors = {g: graph.ancestors([ops[0].name]) for g, ops in groups.items()}
    def feeds(a: str, b: str) -> bool:
        return groups[a][0].name in ancestors[b]
    order = list(groups)
    order.sort(key=lambda g: sum(feeds(other, g) for other in groups if other != g))
    return order


def _nms_facts(graph: Graph, ops: list[Op]) -> dict:
    """num_classes (one NMS per class), iou/score thresholds, max per class and in total."""
    first = ops[0]
    if first.type == "CombinedNonMaxSuppression":  # use_combined_nms: one op for all classes
        per_class, total = (_input_const(graph, first, i) for i in (2, 3))
        iou, score = (_input_const(graph, first, i) for i in (4, 5))
        return {"num_classes": None,
                "iou_threshold": None if iou is None else float(iou),
                "score_threshold": None if score is None else float(score),
                "max_detections_per_class": None if per_class is None else int(per_class),
                "max_total_detections": None if total is None else int(total)}
    if first.type == "NonMaxSuppression":
        iou = first.attrs.get("iou_threshold")
        score = None
    else:
        iou = _input_const(graph, first, 3)
        score = _input_const(graph, first, 4) if first.type in (
            "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5") else None
    ins = graph.inputs(first.name)
    per_class = _minimum_const(graph, ins[2]) if len(ins) > 2 else None
    # max_total_size: the other Minimum(constant, count) of the group's scope
    scope = _nms_group(first.name) + "/"
    size_inputs = {graph.inputs(o.name)[2].node for o in ops if len(graph.inputs(o.name)) > 2}
    totals = []
    for op in graph:
        if op.type == "Minimum" and op.name.startswith(scope) and op.name not in size_inputs:
            value = _minimum_const(graph, Port(op.name, 0))
            if value is not None and float(value).is_integer() and value > 0:
                totals.append(int(value))
    return {
        "num_classes": len(ops),
        "iou_threshold": None if iou is None else float(iou),
        "score_threshold": None if score is None else float(score),
        "max_detections_per_class": None if per_class is None else int(per_class),
        "max_total_detections": max(totals) if totals else None,
    }


def _preprocessor_ops(graph: Graph) -> list[Op]:
    return [op for op in graph if PREPROCESSOR in _parts(op.name)[:-1]]


def _resizer(graph: Graph, pre: list[Op]) -> dict:
    resizes = [op for op in pre if op.type in RESIZE_TYPES]
    if not resizes:
        return {}
    inside = {op.name for op in pre}
    sizes = []
    for op in resizes:
        value = _const(graph, graph.inputs(op.name)[1])
        if value is not None and value.size == 2:
            sizes.append(tuple(int(v) for v in value.reshape(-1)))
    if sizes and len(set(sizes)) == 1:
        return {"resizer": "fixed_shape", "resize_size": sizes[0]}
    # computed sizes: the target sizes are the constants the size computation reads
    pairs, scalars = set(), set()
    starts = [graph.inputs(op.name)[1] for op in resizes]
    for op in _bfs_back(graph, starts, lambda o: o.name not in inside or o.type == "Shape"):
        if op.type != "Const" or op.name not in inside or op.value is None:
            continue
        value = np.asarray(op.value)
        if value.dtype.kind not in "iuf" or value.size not in (1, 2):
            continue
        flat = [float(v) for v in value.reshape(-1)]
        if value.size == 2 and all(v > 2 and v.is_integer() for v in flat):
            pairs.add(tuple(sorted(int(v) for v in flat)))
        elif value.size == 1 and flat[0] > 2 and flat[0].is_integer():
            scalars.add(int(flat[0]))
    if len(pairs) == 1:
        return {"resizer": "keep_aspect_ratio", "resize_range": next(iter(pairs))}
    if not pairs and len(scalars) == 2:
        return {"resizer": "keep_aspect_ratio", "resize_range": tuple(sorted(scalars))}
    return {"resizer": "keep_aspect_ratio"} if not sizes else {}


def _score_converter(graph: Graph, final: list[Op]) -> str:
    """The activation nearest to the detection NMS's scores, not crossing another NMS or a crop."""
    ins = graph.inputs(final[0].name)
    if len(ins) < 2:
        return "IDENTITY"
    stop_types = set(NMS_TYPES) | {"CropAndResize"}
    for op in _bfs_back(graph, [ins[1]], lambda o: o.type in stop_types and o is not final[0]):
        if op.type in SCORE_CONVERTERS:
            return SCORE_CONVERTERS[op.type]
    return "IDENTITY"


def _box_coder(graph: Graph, final: list[Op]) -> tuple[float, float, float, float] | None:
    """The faster_rcnn box coder divides the four unstacked codes by (y, x, h, w) scales."""
    by_unpack: dict[str, dict[int, float]] = {}
    candidates = [op for op in graph if op.type in ("RealDiv", "Div") and len(graph.inputs(op.name)) == 2]
    for op in candidates:
        num, den = graph.inputs(op.name)
        if graph.op(num.node).type != "Unpack":
            continue
        value = _scalar(_const(graph, den))
        if value is not None:
            by_unpack.setdefault(num.node, {})[num.index] = float(value)
    quads = [v for v in by_unpack.values() if sorted(v) == [0, 1, 2, 3]]
    if not quads:
        return None
    last = quads[-1]
    return (last[0], last[1], last[2], last[3])


def _kernel_channels(graph: Graph, op: Op) -> int | None:
    ins = graph.inputs(op.name)
    value = _const(graph, ins[1]) if len(ins) > 1 else None
    if value is None or value.ndim not in (2, 4):
        return None
    if op.type == "MatMul" and op.attrs.get("transpose_b"):
        return int(value.shape[0])
    return int(value.shape[-1])


def _class_channels(graph: Graph, first_stage: set[str]) -> int | None:
    """Classes (background included) the class predictor scores per box: a fully connected
    ``ClassPredictor`` outputs them directly; a convolutional one outputs them per anchor, the
    anchors being its sibling box predictor's channels / 4. The first stage's objectness
    predictor (an op ``first_stage``, the proposal NMS's ancestors, holds) does not count."""
    found = None
    for op in graph:
        parts = _parts(op.name)
        if op.type not in ("Conv2D", "MatMul") or "ClassPredictor" not in parts[:-1] or \
                op.name in first_stage:
            continue
        channels = _kernel_channels(graph, op)
        if channels is None:
            continue
        if op.type == "MatMul":
            found = channels
            continue
        parent = "/".join(parts[:parts.index("ClassPredictor")]) + "/"
        for other in graph:
            other_parts = _parts(other.name)
            if other.type == "Conv2D" and other.name.startswith(parent) and \
                    {"BoxEncodingPredictor", "BoxPredictor"} & set(other_parts[:-1]):
                box = _kernel_channels(graph, other)
                if box and box % 4 == 0 and channels % (box // 4) == 0:
                    found = channels // (box // 4)
                break
    return found


def _detection_outputs(graph: Graph) -> dict[str, str]:
    found: dict[str, str] = {}
    for port in graph.outputs:
        last = _parts(port.node)[-1]
        if last in OUTPUT_NAMES and last not in found:
            found[last] = port.node
    for op in graph:
        last = _parts(op.name)[-1]
        if last in OUTPUT_NAMES and last not in found:
            found[last] = op.name
    return {k: found[k] for k in OUTPUT_NAMES if k in found}


def _image_input(graph: Graph, pre: list[Op]) -> str | None:
    inside = {op.name for op in pre}
    names = [n for n in (graph.meta.get("inputs") or []) if n in graph] or \
        [op.name for op in graph.ops_of_type("Placeholder", "PlaceholderWithDefault")]
    best = None
    for name in names:
        seen, todo = {name}, deque([name])
        while todo and len(seen) < 200:
            cur = todo.popleft()
            if cur in inside:
                return name
            for consumer, _ in graph.consumers(cur):
                if consumer not in seen:
                    seen.add(consumer)
                    todo.append(consumer)
        dtype = graph.op(name).attrs.get("dtype")
        if best is None and dtype is not None and np.dtype(dtype) == np.uint8:  # type: ignore[arg-type]
            best = name
    return best


# -- recognition ---------------------------------------------------------------------------


def recognize(graph: Graph) -> Recognition | None:
    """The OD API meta-architecture of ``graph``, or ``None`` when it is not an OD API graph."""
    if graph.dialect != "tf":
        return None
    groups = _nms(graph)
    if not groups:  # CenterNet (TF2 exports) has peaks instead of an NMS
        from .tf2 import recognize_center_net
        return recognize_center_net(graph)
    pre = _preprocessor_ops(graph)
    outputs = _detection_outputs(graph)
    multiclass = any(_MULTICLASS.search(g) for g in groups)
    if not pre and not (outputs and multiclass):
        # an NMS alone, or a detector of another origin that names its outputs detection_*,
        # is not an OD API export: that needs its Preprocessor or its multi-class NMS scopes
        return None
    order = _order_groups(graph, groups)
    final = groups[order[-1]]
    crops = graph.ops_of_type("CropAndResize")
    loop_crops = [op for op in crops if _in_loop(op.name)]
    free_crops = [op for op in crops if not _in_loop(op.name)]
    evidence = [f"{len(groups)} batch NMS stage(s): " + ", ".join(
        f"{g} ({len(groups[g])} NMS)" for g in order)]
    if pre:
        evidence.append(f"preprocessor scope {_parts(pre[0].name)[:_parts(pre[0].name).index(PREPROCESSOR) + 1][-1]!r} "
                        f"({len(pre)} ops)")
    two_stage = len(groups) >= 2 or bool(crops)
    if not two_stage:
        kind = "ssd"
        evidence.append("one NMS stage and no crops: single-shot detector")
    elif len(loop_crops) >= 4 and not free_crops:
        kind = "rfcn"
        evidence.append(f"{len(loop_crops)} CropAndResize in loops (position-sensitive crops)")
    elif "detection_masks" in outputs or len(free_crops) >= 2:
        kind = "mask_rcnn"
        evidence.append(f"{len(free_crops)} CropAndResize (box and mask crops)"
                        + (", output detection_masks" if "detection_masks" in outputs else ""))
    else:
        kind = "faster_rcnn"
        evidence.append(f"{len(free_crops)} CropAndResize (second-stage crop) after a proposal NMS")

    facts = dict(_nms_facts(graph, final))
    first_stage = graph.ancestors([groups[order[0]][0].name]) if len(order) >= 2 else set()
    with_background = _class_channels(graph, first_stage)
    if with_background is not None:
        evidence.append(f"class predictor: {with_background} scores per box "
                        f"({with_background - 1} classes + background)")
        if facts["num_classes"] is None:
            facts["num_classes"] = with_background - 1
    facts.update(_resizer(graph, pre))
    facts["score_converter"] = _score_converter(graph, final)
    if kind == "ssd":
        facts["box_coder_scales"] = _box_coder(graph, final)
    else:
        if len(order) >= 2:
            first = _nms_facts(graph, groups[order[0]])
            facts["first_stage_max_proposals"] = first["max_total_detections"] or \
                first["max_detections_per_class"]
            facts["first_stage_iou_threshold"] = first["iou_threshold"]
        if free_crops:
            size = _const(graph, graph.inputs(free_crops[0].name)[3])
            if size is not None and size.size == 2 and size.reshape(-1)[0] == size.reshape(-1)[1]:
                facts["initial_crop_size"] = int(size.reshape(-1)[0])
        if kind == "mask_rcnn":
            inside = {op.name for op in pre}
            for op in graph:
                if op.type in RESIZE_TYPES and op.name not in inside:
                    size = _const(graph, graph.inputs(op.name)[1])
                    if size is not None and size.size == 2:
                        facts["mask_size"] = tuple(int(v) for v in size.reshape(-1))
    image = _image_input(graph, pre)
    if outputs:
        evidence.append("outputs " + ", ".join(outputs))
    return Recognition(kind, image, outputs, GraphFacts(**facts), tuple(evidence), tuple(order))
