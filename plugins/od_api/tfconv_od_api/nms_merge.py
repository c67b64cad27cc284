"""One NonMaxSuppression for all classes of the OD API's ``multiclass_non_max_suppression``.

The Object Detection API's ``multiclass_non_max_suppression`` (post_processing.py) is a Python
loop over the classes: for class ``c`` it slices the class's scores (and, when the boxes are
per class, its boxes), runs one ``NonMaxSuppressionV5`` (``pad_to_max_output_size`` exports:
``non_max_suppression_with_scores``), pads the selected indices and scores with zeros to
``K = min(max_detections_per_class, num_boxes)``, gathers the boxes and fields, sets the padding
scores to -1 and adds a ``classes`` field filled with ``c``. ``box_list_ops.concatenate`` then
concatenates every field over the classes (one ``ConcatV2`` per field, one input per class),
and the rest (sort by score, clip, top ``max_total_detections``) works on the concatenation.
In the graph this is ~60 ops per class: 180 on a 3-class fixture, ~5,400 on a 90-class zoo
model.

The source pass ``od_api.merge_class_nms`` (before tf_frontend's ``collapse_while_loops``)
recognises that structure and replaces each concatenated field by a few ops reading one
``TfconvMultiClassNMS`` node, which :func:`translate` makes ONE OpenVINO ``NonMaxSuppression``
(opset9) for all classes, whatever their number:

* shared boxes (SSD, ``q = 1``): boxes ``[1, N, 4]``, scores ``[1, C, N]`` (the NMS's classes);
  per-class boxes (Faster R-CNN's second stage, ``[N, C, 4]``): boxes ``[C, N, 4]``, scores
  ``[C, 1, N]`` (one NMS batch per class: OpenVINO's boxes have no class axis);
* ``sort_result_descending=false``: selections come grouped by batch, then class, each group by
  descending score with ties to the lower box index, which is TF's per-class order;
* a selection of group ``g`` and rank ``r`` within it goes to position ``g * K + r`` of the
  padded ``[C * K]`` layout TF concatenates (``ScatterUpdate``), so every field, the -1 padding
  scores and the class of each block are element for element TF's; the downstream sort
  (``TopKV2``: ties to the lower index), clipping and top-k see the same tensor.

IoU: TF suppresses at IoU > threshold, OpenVINO at >=; the threshold goes one float32 up, as
tf_frontend's single-class NMS does. Soft-NMS (sigma != 0), thresholds that are not constants,
or any op of the per-class chain not in the forms above leave the stage unrolled.
The older exporters' unpadded form (``non_max_suppression`` V2/V3 per class, the selection
gathered as it is, no padding) becomes the same node with ``padded=False``: the NMS's rows in
class order are then TF's concatenation itself.

Interface for other passes (the TF2 exporter's NMS, issue 17): :func:`merged_nms` adds the node,
see ``/tmp/h/notes_odnms.md``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import OpTable

log = logging.getLogger("tfconv.od_api")

MERGED_NMS = "TfconvMultiClassNMS"
TABLE = OpTable("tf")
NMS_TYPES = ("NonMaxSuppressionV5", "NonMaxSuppressionV3", "NonMaxSuppressionV2")
I32, F32 = np.dtype(np.int32), np.dtype(np.float32)


# -- recognition -----------------------------------------------------------------------------


@dataclass
class ClassNMS:
    """One class's NMS and the tensors it reads."""
    nms: str
    boxes: Port           # Unpack(R, axis=1):k
    box_source: Port      # R [N, q, 4]
    box_column: int       # k
    score_source: Port    # S [N, C'] the class's column is sliced from
    score_column: int
    max_size: str         # the Minimum(const, num_boxes) node: K
    max_value: int
    iou: float
    threshold: float


@dataclass
class Stage:
    classes: list[ClassNMS]
    fields: list[tuple[str, str, object]] = field(default_factory=list)  # (concat, kind, data)


def _const(graph: Graph, port: Port):
    op = graph.op(port.node)
    return np.asarray(op.attrs["value"]) if op.type == "Const" else None


def _src(graph: Graph, name: str, i: int) -> Port:
    return graph.inputs(name)[i]


def _type(graph: Graph, port_or_name) -> str:
    return graph.op(port_or_name.node if isinstance(port_or_name, Port) else port_or_name).type


def _class_nms(graph: Graph, name: str) -> ClassNMS | None:
    """The inputs of one class's NonMaxSuppressionV5, if they have the OD API's form."""
    ins = graph.inputs(name)
    if len(ins) not in (4, 5, 6):
        return None
    boxes, scores, max_size, iou = ins[:4]
    values = [_const(graph, p) for p in ins[3:]]
    if len(ins) == 4:  # V2: no score threshold
        values.append(np.float32(-np.inf))
    if any(v is None or np.asarray(v).size != 1 for v in values) or \
            (len(values) == 3 and float(values[2].reshape(-1)[0]) != 0.0):  # soft-NMS
        return None
    values = [np.asarray(v) for v in values]
    unpack = graph.op(boxes.node)
    if unpack.type != "Unpack" or int(unpack.attrs.get("axis", 0)) != 1:
        return None
    # scores: Reshape(Slice(S, [0, c], [n, 1]), [-1])
    if _type(graph, scores) != "Reshape" or _type(graph, _src(graph, scores.node, 0)) != "Slice":
        return None
    sl = _src(graph, scores.node, 0).node
    begin = _const(graph, _src(graph, sl, 1))
    if begin is None or begin.shape != (2,) or int(begin[0]) != 0:
        return None
    # max_output_size: Minimum(const, n)
    if _type(graph, max_size) != "Minimum" or max_size.index != 0:
        return None
    m = [_const(graph, p) for p in graph.inputs(max_size.node)]
    m = [v for v in m if v is not None and v.size == 1]
    if len(m) != 1 or graph.info(_src(graph, sl, 0)).dtype not in (None, F32):
        return None
    return ClassNMS(name, boxes, _src(graph, boxes.node, 0), boxes.index, _src(graph, sl, 0),
                    int(begin[1]), max_size.node, int(m[0].reshape(-1)[0]),
                    float(values[0].reshape(-1)[0]), float(values[1].reshape(-1)[0]))


def _padded(graph: Graph, port: Port, nms: ClassNMS, index: int) -> bool:
    """``port`` is ConcatV2([nms:index, Fill(K - valid, 0)], 0 or -1)."""
    if _type(graph, port) != "ConcatV2" or port.index != 0:
        return False
    ins = graph.inputs(port.node)
    axis = _const(graph, ins[-1]) if len(ins) == 3 else None
    if axis is None or int(axis) not in (0, -1) or ins[0] != Port(nms.nms, index):  # 1-D
        return False
    fill = graph.op(ins[1].node)
    value = _const(graph, _src(graph, fill.name, 1)) if fill.type == "Fill" else None
    return value is not None and float(value) == 0.0


def _field(graph: Graph, port: Port, nms: ClassNMS) -> tuple[str, object] | None:
    """What one class's input of a concatenated field is: ``("gather", X)``: X gathered at the
    padded indices; ``("score", fill)``: the padded NMS scores, ``fill`` past the valid ones;
    ``("class", value)``: ``zeros_like(scores) + value``."""
    op = graph.op(port.node)
    ins = graph.inputs(op.name)
    if op.type == "GatherV2" and port.index == 0 and int(op.attrs.get("batch_dims", 0)) == 0:
        axis = _const(graph, ins[2])
        if axis is not None and int(axis) == 0 and _padded(graph, ins[1], nms, 0):
            return "gather", ins[0]
        if axis is not None and int(axis) == 0 and ins[1] == Port(nms.nms, 0):
            # the older unpadded form: the selection gathered as it is
            if ins[0] == graph.inputs(nms.nms)[1]:
                return "score_u", None  # the class's own score column
            return "gather_u", ins[0]
    if op.type in ("Select", "SelectV2") and port.index == 0:
        less, scores, fill = ins
        if _type(graph, less) != "Less" or not _padded(graph, scores, nms, 1):
            return None
        rng, count = graph.inputs(less.node)
        # Less(Range(0, K, 1), shape(nms:0)[0])
        if _type(graph, rng) != "Range" or _src(graph, rng.node, 1).node != nms.max_size:
            return None
        if _type(graph, count) != "StridedSlice" or \
                _type(graph, _src(graph, count.node, 0)) != "Shape" or \
                _src(graph, _src(graph, count.node, 0).node, 0) != Port(nms.nms, 0):
            return None
        if _type(graph, fill) != "Mul":  # -1 * ones(K)
            return None
        a, b = graph.inputs(fill.node)
        k, ones = (a, b) if _const(graph, a) is not None else (b, a)
        kv = _const(graph, k)
        one = _const(graph, _src(graph, ones.node, 1)) if _type(graph, ones) == "Fill" else None
        if kv is None or one is None or kv.size != 1 or float(one) != 1.0:
            return None
        return "score", float(kv.reshape(-1)[0])
    if op.type in ("AddV2", "Add") and port.index == 0:
        a, b = ins
        zl, v = (a, b) if _type(graph, a) == "ZerosLike" else (b, a)
        value = _const(graph, v)
        if _type(graph, zl) != "ZerosLike" or value is None or value.size != 1:
            return None
        inner = _field(graph, _src(graph, zl.node, 0), nms)
        if inner is None or inner[0] not in ("score", "score_u"):
            return None
        return "class" if inner[0] == "score" else "class_u", float(value.reshape(-1)[0])
    return None


def _owner(graph: Graph, port: Port, limit: int = 8) -> str | None:
    """The one NonMaxSuppressionV5 within a few ops upstream of ``port``."""
    seen, frontier, found = set(), [port.node], set()
    for _ in range(limit):
        nxt = []
        for name in frontier:
            if name in seen:
                continue
            seen.add(name)
            if graph.op(name).type in NMS_TYPES:
                found.add(name)
                continue
            nxt.extend(p.node for p in graph.inputs(name))
        frontier = nxt
    return found.pop() if len(found) == 1 else None


def find_stages(graph: Graph) -> list[Stage]:
    """Every multiclass NMS (two or more classes) whose concatenated fields all have known forms."""
    classes = {}
    for op in graph.ops_of_type(*NMS_TYPES):
        found = _class_nms(graph, op.name)
        if found is not None:
            classes[op.name] = found
    stages: dict[tuple[str, ...], Stage] = {}
    for op in graph.ops_of_type("ConcatV2"):
        ins = graph.inputs(op.name)
        values = ins[:-1]
        axis = _const(graph, ins[-1]) if ins else None
        if len(values) < 2 or axis is None or int(axis) != 0:
            continue
        owners = [_owner(graph, p) for p in values]
        if any(o not in classes for o in owners) or len(set(owners)) != len(owners):
            continue
        kinds = [_field(graph, p, classes[o]) for p, o in zip(values, owners)]
        if any(k is None for k in kinds) or len({k[0] for k in kinds}) != 1:
            continue
        stage = stages.setdefault(tuple(owners), Stage([classes[o] for o in owners]))
        stage.fields.append((op.name, kinds[0][0], [k[1] for k in kinds]))
    return [s for s in stages.values() if _consistent(graph, s)]


def _consistent(graph: Graph, stage: Stage) -> bool:
    """One box source, one score source, one K, one threshold pair, and nothing but the
    replaced concatenations reads the per-class chains."""
    first = stage.classes[0]
    same = all(c.box_source == first.box_source and c.score_source == first.score_source and
               c.max_value == first.max_value and c.iou == first.iou and
               c.threshold == first.threshold for c in stage.classes)
    kinds = {kind for _, kind, _ in stage.fields}
    padded = bool(kinds & {"gather", "score", "class"})
    if not same or (padded and (kinds & {"gather_u", "score_u", "class_u"} or "score" not in kinds)):
        return False
    for concat, kind, data in stage.fields:
        if kind in ("gather", "gather_u"):
            shared = len(set(data)) == 1
            unpacked = all(_type(graph, p) == "Unpack" and
                           int(graph.op(p.node).attrs.get("axis", 0)) == 1 and
                           p.node == data[0].node and p.index == c.box_column
                           for p, c in zip(data, stage.classes))
            if not shared and not unpacked:
                return False
    # The per-class chains (forward from each NMS up to the concatenations) must not reach
    # anything else: a graph output, a loop's NextIteration/Exit, a TensorArray write.
    stop = {concat for concat, _, _ in stage.fields}
    outputs = {p.node for p in graph.outputs}
    seen, work = set(), [c.nms for c in stage.classes]
    while work:
        name = work.pop()
        if name in seen or name in stop:
            continue
        seen.add(name)
        if name in outputs or graph.op(name).type in (
                "NextIteration", "Exit", "TensorArrayWriteV3", "TensorArrayScatterV3"):
            return False
        work.extend(c for c, _ in graph.consumers(name))
    # Every op reading a chain op must lie on the chains (or be a replaced concatenation).
    return all(c in seen or c in stop for name in seen for c, _ in graph.consumers(name))


# -- rewriting -------------------------------------------------------------------------------


def _add(graph: Graph, type_: str, name: str, inputs: list[Port], out_dtype, out_shape=None,
         outputs: int = 1, /, **attrs):
    op = graph.add_op(type_, graph.unique_name(name), inputs, attrs, num_outputs=outputs)
    for info in op.outputs:
        info.dtype, info.shape = np.dtype(out_dtype), out_shape
    return op


def _tf_const(graph: Graph, name: str, value) -> Port:
    value = np.asarray(value)
    op = _add(graph, "Const", name, [], value.dtype, value.shape, value=value, dtype=value.dtype)
    return Port(op.name, 0)


def merged_nms(graph: Graph, scope: str, boxes: Port, scores: Port, box_columns: list[int],
               score_columns: list[int], max_per_class: int, iou_threshold: float,
               score_threshold: float, padded: bool = True) -> list[Port]:
    """Add one ``TfconvMultiClassNMS`` node; returns its four ports (all ``[C * K]``, TF's padded
    per-class layout, ``K = min(max_per_class, N)``): box index (int32, 0 on padding), NMS score
    (0 on padding), valid (bool), class block ``0..C-1`` (int32).

    ``boxes``: ``[N, q, 4]`` float32, class ``c`` uses ``boxes[:, box_columns[c]]``;
    ``scores``: ``[N, C']`` float32, class ``c`` scores column ``score_columns[c]``.

    ``padded=False`` (the older exporters' form): the outputs are ``[M]``, the selections of
    every class one after the other (class order, each by descending score) with no padding:
    TF's concatenation of the per-class selections; ``valid`` is all true."""
    op = _add(graph, MERGED_NMS, f"{scope}/{MERGED_NMS}", [boxes, scores], I32, (None,), 4,
              box_columns=[int(c) for c in box_columns],
              score_columns=[int(c) for c in score_columns], max_per_class=int(max_per_class),
              iou_threshold=float(iou_threshold), score_threshold=float(score_threshold),
              padded=bool(padded))
    for info, dtype in zip(op.outputs, (I32, F32, np.dtype(bool), I32)):
        info.dtype = dtype
    return [Port(op.name, i) for i in range(4)]


def rewrite(graph: Graph, stage: Stage) -> str:
    first = stage.classes[0]
    scope = first.nms.rsplit("/", 2)[0] if first.nms.count("/") >= 2 else first.nms
    padded = any(kind == "score" for _, kind, _ in stage.fields)
    index, score, valid, block = merged_nms(
        graph, scope, first.box_source, first.score_source,
        [c.box_column for c in stage.classes], [c.score_column for c in stage.classes],
        first.max_value, first.iou, first.threshold, padded)
    axis0 = _tf_const(graph, f"{scope}/merged/axis", np.int32(0))
    for concat, kind, data in stage.fields:
        dtype = graph.info(Port(concat, 0)).dtype or F32
        base = f"{concat}/merged"
        def by_column(source: Port, per_class: list[int]):
            """``source[index, per_class[block]]``: each row's column of its class."""
            columns = _tf_const(graph, f"{base}/columns", np.array(per_class, np.int32))
            col = _add(graph, "GatherV2", f"{base}/column", [columns, block, axis0], I32,
                       batch_dims=0, Tparams=I32, Tindices=I32, Taxis=I32)
            at = _add(graph, "Pack", f"{base}/at", [index, Port(col.name, 0)], I32, N=2, axis=1,
                      T=I32)
            return _add(graph, "GatherNd", base, [source, Port(at.name, 0)], dtype,
                        Tparams=dtype, Tindices=I32)

        if kind == "score_u":  # the input scores at each row's class column
            new = by_column(first.score_source, [c.score_column for c in stage.classes])
        elif kind in ("gather", "gather_u") and len(set(data)) == 1:
            new = _add(graph, "GatherV2", base, [data[0], index, axis0], dtype, batch_dims=0,
                       Tparams=dtype, Tindices=I32, Taxis=I32)
        elif kind in ("gather", "gather_u"):  # per-class boxes at each row's box column
            new = by_column(_src(graph, data[0].node, 0), [c.box_column for c in stage.classes])
        elif kind == "score":
            if len(set(data)) != 1:
                return ""
            fill = _tf_const(graph, f"{base}/fill", np.asarray(data[0], dtype))
            new = _add(graph, "SelectV2", base, [valid, score, fill], dtype, T=dtype)
        else:  # class, class_u
            values = _tf_const(graph, f"{base}/classes", np.asarray(data, dtype))
            new = _add(graph, "GatherV2", base, [values, block, axis0], dtype, batch_dims=0,
                       Tparams=dtype, Tindices=I32, Taxis=I32)
        graph.replace_uses(Port(concat, 0), Port(new.name, 0))
    return scope


@graph_pass("od_api.merge_class_nms", stage="source",
            after=["od_api.replace_preprocessor", "od_api.select_outputs"],
            before=["cleanup.remove_dead_source", "tf_frontend.collapse_while_loops"])
def merge_class_nms(graph: Graph, config) -> None:
    from .passes import active
    if not active(graph, config):
        return
    for stage in find_stages(graph):
        scope = rewrite(graph, stage)
        log.info("OD API multiclass NMS %s: %d per-class NMS merged into one NonMaxSuppression",
                 scope, len(stage.classes))


# -- translation -----------------------------------------------------------------------------


@TABLE.register(MERGED_NMS, inputs=2)
def translate(ctx):
    from tfconv_tf_frontend.ops._util import ints
    from tfconv_tf_frontend.ops.detection import _iou_threshold
    boxes, scores = ctx.inputs()
    box_columns = [int(c) for c in ctx.attr("box_columns")]
    columns = [int(c) for c in ctx.attr("score_columns")]
    n_classes = len(columns)
    axis1 = ints(ctx, 1, "axis1")
    axis0 = ints(ctx, 0, "axis0")
    per_class = ctx.emit("Gather", scores, ints(ctx, columns, "score_columns"), axis1,
                         batch_dims=0)                                  # [N, C]
    per_class = ctx.emit("Transpose", per_class, ints(ctx, [1, 0], "perm"))  # [C, N]
    if len(set(box_columns)) == 1:  # shared boxes: the NMS's classes
        b = ctx.emit("Gather", boxes, ints(ctx, [box_columns[0]], "box_column"), axis1,
                     batch_dims=0)                                      # [N, 1, 4]
        b = ctx.emit("Transpose", b, ints(ctx, [1, 0, 2], "box_perm"))   # [1, N, 4]
        s = ctx.emit("Unsqueeze", per_class, axis0)                      # [1, C, N]
        group = 1
    else:  # per-class boxes: one NMS batch per class
        b = ctx.emit("Gather", boxes, ints(ctx, box_columns, "box_columns"), axis1, batch_dims=0)
        b = ctx.emit("Transpose", b, ints(ctx, [1, 0, 2], "box_perm"))   # [C, N, 4]
        s = ctx.emit("Unsqueeze", per_class, axis1)                      # [C, 1, N]
        group = 0
    max_per_class = int(ctx.attr("max_per_class"))
    iou = _iou_threshold(ctx, ctx.const(np.float32(ctx.attr("iou_threshold")), name="iou"))
    selected, selected_scores, _ = ctx.emit(
        "NonMaxSuppression", b, s, ctx.const(np.int64(max_per_class), name="max_per_class"), iou,
        ctx.const(np.float32(ctx.attr("score_threshold")), name="score_threshold"),
        ctx.const(np.float32(0), name="soft_nms_sigma"), box_encoding="corner",
        sort_result_descending=False, output_type="int64")
    g = ctx.emit("Gather", selected, ints(ctx, group, "group_column"), axis1, batch_dims=0,
                 name="group")                                          # [M]
    box = ctx.emit("Gather", selected, ints(ctx, 2, "box_column"), axis1, batch_dims=0,
                   name="box")
    picked = ctx.emit("Gather", selected_scores, ints(ctx, 2, "score_column"), axis1,
                      batch_dims=0, name="picked")
    if not ctx.attr("padded", True):  # the selections one after the other, no padding
        flag = ctx.emit("NotEqual", g, ints(ctx, -1, "none"), name="valid")
        return (ctx.emit("Convert", box, destination_type="int32"), picked, flag,
                ctx.emit("Convert", g, destination_type="int32"))
    # K = min(max_per_class, N); rank within the group = row - first row of the group
    n = ctx.emit("Gather", ctx.emit("ShapeOf", scores, output_type="int64"), ints(ctx, 0, "i0"),
                 axis0, batch_dims=0)
    k = ctx.emit("Minimum", n, ints(ctx, max_per_class, "max"), name="K")
    onehot = ctx.emit("Equal", ctx.emit("Unsqueeze", g, axis1),
                      ints(ctx, np.arange(n_classes)[None, :], "classes"))
    counts = ctx.emit("ReduceSum", ctx.emit("Convert", onehot, destination_type="int64"), axis0,
                      keep_dims=False)
    first = ctx.emit("CumSum", counts, axis0, exclusive=True, reverse=False)
    m = ctx.emit("Gather", ctx.emit("ShapeOf", g, output_type="int64"), ints(ctx, 0, "i0"),
                 axis0, batch_dims=0)
    row = ctx.emit("Range", ints(ctx, 0, "start"), m, ints(ctx, 1, "step"), output_type="int64")
    rank = ctx.emit("Subtract", row, ctx.emit("Gather", first, g, axis0, batch_dims=0))
    pos = ctx.emit("Add", ctx.emit("Multiply", g, k), rank, name="position")
    total = ctx.emit("Multiply", k, ints(ctx, n_classes, "C"), name="CK")
    size = ctx.emit("Unsqueeze", total, axis0)

    def scatter(zero, updates, name):
        base = ctx.emit("Broadcast", zero, size, mode="numpy")
        return ctx.emit("ScatterUpdate", base, pos, updates, axis0, name=name)

    index = scatter(ctx.const(np.int32(0), name="zero_i"),
                    ctx.emit("Convert", box, destination_type="int32"), "index")
    score = scatter(ctx.const(np.float32(0), name="zero_f"), picked, "score")
    ones = ctx.emit("Broadcast", ctx.const(np.int32(1), name="one"),
                    ctx.emit("ShapeOf", g, output_type="int64"), mode="numpy")
    valid = ctx.emit("NotEqual", scatter(ctx.const(np.int32(0), name="zero_v"), ones, "valid"),
                     ctx.const(np.int32(0), name="zero"))
    block = ctx.emit("Divide", ctx.emit("Range", ints(ctx, 0, "start"), total,
                                        ints(ctx, 1, "step"), output_type="int64"),
                     ctx.emit("Maximum", k, ints(ctx, 1, "one")), name="block")
    block = ctx.emit("Convert", block, destination_type="int32")
    return index, score, valid, block


ALL_PASSES = [merge_class_nms]
