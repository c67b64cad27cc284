"""Object Detection API TF2 exports (``exporter_main_v2.py`` SavedModels).

The TF2 exporter writes a SavedModel whose ``serving_default`` signature takes ``input_tensor``
(uint8 ``[1,-1,-1,3]``) and calls the Keras model through ``StatefulPartitionedCall``. Once
loaded (function bodies inlined under ``StatefulPartitionedCall/``), three things differ from a
TF1 export:

* **the image loop**: the exporter maps its preprocessing over the batch with ``tf.map_fn``,
  a while loop of ``TensorList`` ops (``TensorListFromTensor`` -> ``TensorListGetItem`` in the
  body -> ``TensorListSetItem`` -> ``TensorListStack``) instead of TF1's TensorArrays, and the
  ``Preprocessor`` scope (or CenterNet's ``ResizeToRange``) sits inside its body, on one image
  ``[h, w, 3]``. The signature's batch is 1: :func:`replace_preprocessing` (pass
  ``od_api.replace_tf2_preprocessor``) computes the body batch-wide on the ``[1, h, w, 3]``
  input: the cast, the element-wise normalisation before the resize (moved after it when it
  is a per-channel affine map, so a camera frame is not normalised at full size), the resize
  (``fixed_shape_resizer``, or ``keep_aspect_ratio_resizer`` with its cond on ``h < w``, in
  float32 as TF), ``pad_to_max_dimension``'s per-channel padding and the normalisation after
  it, reusing :mod:`.preprocessor`'s size and padding rules. Everything stays 4-D, so the
  layout pass keeps the NCHW input. A body it does not recognise is left to tf_frontend, which
  unrolls the loop (its TensorList ops are symbolic there) with an NHWC input. Post-processing
  needs no loop: the TF2 exporter unstacks the batch statically (one NMS per class, CenterNet's
  peaks).
* **CenterNet**, which has no NMS: its peaks are a 3x3 stride-1 ``MaxPool`` of the class
  heatmap compared with the heatmap (``|x - maxpool(x)| < eps``) and a ``TopKV2`` over them
  (:func:`recognize_center_net`); these are translated op for op (MaxPool, Less, TopK).
* **pipeline.config**: ``exporter_main_v2.py`` writes it beside ``saved_model/``; when the flag
  is not given, the file there is used and one info line says so (:func:`config_for_export`).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tfconv.graph import Graph, Op, Port
from tfconv.passes import graph_pass

log = logging.getLogger("tfconv.od_api")

CALL_SCOPE = "StatefulPartitionedCall"   # the exporter's call of the Keras model's function
CENTER_NET_OUTPUTS = ("detection_boxes_strided", "detection_multiclass_scores")
LIST_PASS = ("Identity", "StopGradient", "Enter")
MAP_BODY = "/map/while/"   # the exporter's per-image tf.map_fn


def is_tf2_export(graph: Graph) -> bool:
    """A TF2 SavedModel whose ops run inside the exporter's ``StatefulPartitionedCall``."""
    if "TF2" not in str(graph.meta.get("source_format", "")):
        return False
    return any(op.name.startswith(CALL_SCOPE + "/") for op in graph)


def config_for_export(model: Path | None) -> Path | None:
    """The pipeline.config ``exporter_main_v2.py`` wrote beside ``saved_model/`` (or in it)."""
    if model is None:
        return None
    model = Path(model)
    folder = model if model.is_dir() else model.parent
    for candidate in (folder.parent / "pipeline.config", folder / "pipeline.config"):
        if candidate.is_file():
            return candidate
    return None


# -- CenterNet -----------------------------------------------------------------------------


def _const_value(graph: Graph, port: Port) -> np.ndarray | None:
    op = graph.op(port.node)
    while op.type in ("Identity", "Enter") and graph.inputs(op.name):
        op = graph.op(graph.inputs(op.name)[0].node)
    return None if op.value is None else np.asarray(op.value)


def _peak_pools(graph: Graph) -> list[Op]:
    """3x3-or-larger stride-1 SAME MaxPools whose input is compared with their output: the
    CenterNet peak test (``|x - maxpool(x)| < eps`` or ``Equal(x, maxpool(x))``)."""
    found = []
    for op in graph.ops_of_type("MaxPool"):
        strides = list(op.attrs.get("strides") or ())
        if strides[1:3] != [1, 1] or op.attrs.get("padding") not in (b"SAME", "SAME"):
            continue
        src = graph.inputs(op.name)[0]
        for consumer, _ in graph.consumers(Port(op.name, 0)):
            c = graph.op(consumer)
            if c.type in ("Sub", "Equal") and src in graph.inputs(consumer):
                found.append(op)
                break
    return found


def recognize_center_net(graph: Graph):
    """A CenterNet export (peak MaxPool -> TopKV2, detection_* outputs), else None."""
    from .recognize import GraphFacts, Recognition, _detection_outputs, _image_input, \
        _preprocessor_ops, _resizer
    outputs = _detection_outputs(graph)
    for name in CENTER_NET_OUTPUTS:
        if name not in outputs:
            for port in graph.outputs:
                if port.node.split("/")[-1] == name:
                    outputs[name] = port.node
    pools = _peak_pools(graph)
    if not pools or "detection_boxes" not in outputs or "detection_scores" not in outputs:
        return None
    pool = pools[0]
    topk = [op for op in graph.ops_of_type("TopKV2")
            if pool.name in graph.ancestors([op.name])]
    if not topk:
        return None
    heat = graph.inputs(pool.name)[0]
    classes = graph.info(heat).shape[-1] if graph.info(heat).shape else None
    k = None
    k_port = graph.inputs(topk[0].name)[1]
    k_op = graph.op(k_port.node)
    candidates = [k_port] + (graph.inputs(k_op.name) if k_op.type == "Minimum" else [])
    for port in candidates:
        value = _const_value(graph, port)
        if value is not None and value.size == 1:
            k = int(value.reshape(-1)[0])
            break
    if classes is None:  # the heatmap head's last conv has one channel per class
        for name in graph.ancestors([heat.node]):
            op = graph.op(name)
            if op.type == "Conv2D":
                kernel = _const_value(graph, graph.inputs(name)[1])
                if kernel is not None and kernel.ndim == 4:
                    classes = int(kernel.shape[-1])
                    break
    # CenterNet's exporter has no Preprocessor scope: its preprocessing is the image map_fn
    pre = _preprocessor_ops(graph) or [op for op in graph if MAP_BODY in op.name]
    facts = {"num_classes": None if classes is None else int(classes),
             "max_total_detections": k, "score_converter": "SIGMOID"}
    facts.update(_resizer(graph, pre))
    evidence = (f"peak extraction: {pool.name} ({pool.attrs.get('ksize')}) compared with its "
                f"input, then {topk[0].name} (top {k})",
                "no NMS: CenterNet (keypoint centres, no anchors)",
                "outputs " + ", ".join(outputs))
    image = _image_input(graph, pre)
    return Recognition("center_net", image, outputs, GraphFacts(**facts), evidence)


# -- the exporter's image map_fn, batch-wide ------------------------------------------------

ELEMENTWISE = ("Mul", "Sub", "Add", "AddV2", "RealDiv", "Maximum", "Minimum")


class _Unknown(Exception):
    """The map body is not the exporter's preprocessing as this module knows it."""


def _source(graph: Graph, port: Port) -> Op:
    op = graph.op(port.node)
    while op.type in LIST_PASS and graph.inputs(op.name):
        op = graph.op(graph.inputs(op.name)[0].node)
    return op


def _is_constant(graph: Graph, port: Port) -> bool:
    """A value computed from constants only (e.g. ``Reshape(Const, Const)``)."""
    names = graph.ancestors([port.node]) | {port.node}
    return all(graph.op(n).type in ("Const", "Reshape", "Identity", "Cast", "Pack") for n in names) \
        and any(graph.op(n).type == "Const" for n in names)


def _strided(op: Op, shrink: int, new_axis: int) -> bool:
    return op.type == "StridedSlice" and int(op.attrs.get("shrink_axis_mask", 0)) == shrink \
        and int(op.attrs.get("new_axis_mask", 0)) == new_axis \
        and int(op.attrs.get("ellipsis_mask", 0)) == 0


def _elementwise_chain(graph: Graph, port: Port, stop) -> tuple[list[tuple[Op, int]], Port]:
    """Walking up from ``port`` through element-wise ops with one constant operand:
    ``([(op, variable input index)] outermost first, the port above them)``."""
    chain = []
    while not stop(graph.op(port.node)):
        op = graph.op(port.node)
        ins = graph.inputs(op.name)
        if op.type == "Identity":
            port = ins[0]
            continue
        if op.type not in ELEMENTWISE or len(ins) != 2:
            raise _Unknown(f"{op.name} ({op.type})")
        consts = [_is_constant(graph, p) for p in ins]
        if sorted(consts) != [False, True]:
            raise _Unknown(f"{op.name} ({op.type}) has no constant operand")
        var = consts.index(False)
        chain.append((op, var))
        port = ins[var]
    return chain, port


def _replay(b, graph: Graph, chain: list[tuple[Op, int]], x: Port) -> Port:
    for op, var in reversed(chain):
        ins = list(graph.inputs(op.name))
        ins[var] = x
        x = b.op(op.type, op.name.rsplit("/", 1)[-1], ins, np.float32)
    return x


AFFINE = ("Mul", "Sub", "Add", "AddV2", "RealDiv")


def _affine(graph: Graph, chain: list[tuple[Op, int]]) -> bool:
    """Every op is ``x * c``, ``x +- c``, ``c +- x`` or ``x / c`` with a scalar or per-channel
    constant ``c``: bilinear, bicubic, area and nearest resizing commute with it (up to float
    rounding: the interpolation weights sum to 1), so it can run on the resized image."""
    for op, var in chain:
        if op.type not in AFFINE or (op.type == "RealDiv" and var != 0):
            return False
        const = graph.inputs(op.name)[1 - var]
        shape = graph.info(const).shape
        value = _const_value(graph, const)
        size = value.size if value is not None else (
            int(np.prod(shape)) if shape and all(d is not None for d in shape) else None)
        if size is None or (size != 1 and (shape is None or shape[-1] != size)):
            return False
    return True


def _written(graph: Graph, port: Port) -> Op:
    """The TensorListSetItem behind a loop's result list (through Exit, Switch, Merge and
    NextIteration), else the op reached."""
    op = graph.op(port.node)
    for _ in range(32):
        ins = graph.inputs(op.name)
        if op.type == "Merge":
            nxt = [p for p in ins if graph.op(p.node).type == "NextIteration"]
            if not nxt:
                return op
            op = graph.op(nxt[0].node)
        elif op.type in (*LIST_PASS, "Exit", "Switch", "NextIteration") and ins:
            op = graph.op(ins[0].node)
        else:
            return op
    return op


def _preprocessing(graph: Graph, source: Op, stacks: dict[str, Op], frame: str):
    """The batch-wide equivalent of the exporter's map body (cast, normalisation, resize,
    padding, normalisation): replaces the two stacked outputs; raises _Unknown otherwise."""
    from . import preprocessor as pp
    from .tfops import F32, I32, TfOps
    image_put = shape_put = None
    for stack in stacks.values():
        put = _written(graph, graph.inputs(stack.name)[0])
        if put.type != "TensorListSetItem":
            raise _Unknown(f"{stack.name} does not stack a TensorListSetItem")
        value = graph.inputs(put.name)[2]
        last = _source(graph, value)
        if not _strided(last, 1, 0):
            raise _Unknown(f"{put.name} writes {last.name}, not an [0] slice")
        packed = _source(graph, graph.inputs(last.name)[0])
        is_shape = packed.type == "Pack" and int(packed.attrs.get("N", 0)) == 1 and \
            _source(graph, graph.inputs(packed.name)[0]).type in ("Shape", "Const")
        if is_shape:
            shape_put = (stack, _source(graph, graph.inputs(packed.name)[0]))
        else:
            image_put = (stack, graph.inputs(last.name)[0])
    if image_put is None:
        raise _Unknown("no image write")
    resizes = [op for op in graph if op.type in pp.RESIZE_OPS and op.name.startswith(frame + "/")]
    if not resizes or len({(r.type, tuple(bool(r.attrs.get(a, False)) for a in pp.RESIZE_ATTRS))
                           for r in resizes}) != 1:
        raise _Unknown("resize ops")
    # after the resize (and padding): [1,h,w,c] = Pack(N=1), then element-wise ops
    post, packed = _elementwise_chain(graph, image_put[1], lambda o: o.type == "Pack")
    packed_op = graph.op(packed.node)
    if int(packed_op.attrs.get("N", 0)) != 1 or int(packed_op.attrs.get("axis", 0)) != 0:
        raise _Unknown(f"{packed_op.name}: not a batch of one")
    core = _source(graph, graph.inputs(packed_op.name)[0])
    padding = None
    if core.type == "Pack":  # pad_to_max_dimension: Pack(axis 2) of Pad(Unpack(image))
        values, sizes = [], set()
        for i, port in enumerate(graph.inputs(core.name)):
            pad = graph.op(port.node)
            ins = graph.inputs(pad.name)
            if pad.type not in ("Pad", "PadV2") or graph.op(ins[0].node).type != "Unpack" \
                    or ins[0].index != i:
                raise _Unknown(f"{pad.name}: not a per-channel pad")
            value = _const_value(graph, ins[2]) if pad.type == "PadV2" else np.float32(0)
            values.append(float(np.asarray(value).reshape(-1)[0]))
            for name in graph.ancestors([ins[1].node]):
                if graph.op(name).type == "Sub":
                    first = _const_value(graph, graph.inputs(name)[0])
                    if first is not None and first.size == 1:
                        sizes.add(int(first.reshape(-1)[0]))
        if len(sizes) != 1 or int(core.attrs.get("axis", 0)) not in (2, -1):
            raise _Unknown(f"{core.name}: padding size")
        padding = pp.Padding(sizes.pop(), values)
    # before the resize: Cast, [tf.newaxis], element-wise ops, Unpack(axis 0, num 1)
    first = graph.inputs(resizes[0].name)[0]
    unpack = first
    for _ in range(8):
        op = graph.op(unpack.node)
        if op.type == "Unpack":
            break
        unpack = graph.inputs(op.name)[0]
    unpack_op = graph.op(unpack.node)
    if unpack_op.type != "Unpack" or int(unpack_op.attrs.get("num", 0)) != 1:
        raise _Unknown("no batch-of-one unstack before the resize")
    pre, above = _elementwise_chain(graph, graph.inputs(unpack_op.name)[0],
                                    lambda o: _strided(o, 0, 1))
    cast = _source(graph, graph.inputs(above.node)[0])
    if cast.type != "Cast" or _source(graph, graph.inputs(cast.name)[0]).type != \
            "TensorListGetItem":
        raise _Unknown("the image is not cast right after it is read")
    x = graph.inputs(source.name)[0]
    b = TfOps(graph, frame.rsplit("/", 1)[0] + "/Preprocessor")
    loop = type("Frame", (), {"frame": frame})()
    shape = b.shape(x, "Shape")
    image = b.cast(x, F32, "ToFloat")
    # a per-channel affine normalisation runs after the resize (before any padding): on the
    # resized image, not on the camera frame
    late = _affine(graph, pre)
    if not late:
        image = _replay(b, graph, pre, image)
    sizes = [_const_value(graph, graph.inputs(r.name)[1]) for r in resizes]
    channels = b.element(shape, 3, "channels")
    if len(resizes) == 1 and sizes[0] is not None and padding is None:
        height, width = (int(v) for v in sizes[0].reshape(-1)[:2])
        size = b.const(np.array([height, width], np.int32), "size")
        true_shape = b.pack([b.const(np.int32(height), "h"), b.const(np.int32(width), "w"),
                             channels], "true_shape")
        what = f"fixed_shape {height}x{width}"
    elif len(resizes) == 2:
        branches = {pp._branch(graph, r): pp._target(graph, loop, r) for r in resizes}
        if set(branches) != {True, False}:
            raise _Unknown("the resize cond is not on height < width")
        h, w = b.element(shape, 1, "height"), b.element(shape, 2, "width")
        target = b.op("SelectV2", "target", [b.binary("Less", h, w, "height_lt_width"),
                                             b.const(branches[True], "target_if_wide"),
                                             b.const(branches[False], "target_if_tall")])
        target_f = b.cast(target, F32, "target_f")
        hf, wf = b.cast(h, F32, "height_f"), b.cast(w, F32, "width_f")
        scale = b.binary("Minimum", b.binary("RealDiv", b.element(target_f, 0, "target_h"), hf,
                                             "scale_h"),
                         b.binary("RealDiv", b.element(target_f, 1, "target_w"), wf, "scale_w"),
                         "scale")
        new_h = b.cast(b.op("Round", "round_h", [b.binary("Mul", scale, hf, "new_h_f")]), I32,
                       "new_h")
        new_w = b.cast(b.op("Round", "round_w", [b.binary("Mul", scale, wf, "new_w_f")]), I32,
                       "new_w")
        size = b.pack([new_h, new_w], "size")
        true_shape = b.pack([new_h, new_w, channels], "true_shape")
        what = "keep_aspect_ratio " + "/".join(str(tuple(int(v) for v in branches[k]))
                                               for k in (True, False))
    else:
        raise _Unknown(f"{len(resizes)} resize ops")
    attrs = {a: bool(resizes[0].attrs.get(a, False)) for a in pp.RESIZE_ATTRS}
    resized = b.op(resizes[0].type, resizes[0].type, [image, size], F32, None, **attrs)
    if late and pre:
        resized = _replay(b, graph, pre, resized)
        what += ", normalised after the resize"
    if padding is not None:
        resized = pp._pad(b, resized, size, padding)
        what += f", padded to {padding.size}"
    graph.replace_uses(Port(image_put[0].name, 0), _replay(b, graph, post, resized))
    if shape_put is not None:
        graph.replace_uses(Port(shape_put[0].name, 0), b.expand_dims(true_shape, 0, "true_shapes"))
    return what


def replace_preprocessing(graph: Graph) -> list[str]:
    """Every batch-1 TensorList map whose body is the exporter's preprocessing, replaced by
    batch-wide ops (what is done, one line per loop)."""
    done = []
    for source in graph.ops_of_type("TensorListFromTensor"):
        x = graph.op(graph.inputs(source.name)[0].node)
        shape = graph.info(Port(x.name, 0)).shape or x.attrs.get("shape")
        if not shape or shape[0] != 1:
            continue
        gets = [graph.op(n) for n in graph.descendants([source.name])
                if graph.op(n).type == "TensorListGetItem"]
        if len(gets) != 1:
            continue
        frame = gets[0].name.rsplit("/", 1)[0]
        frame = frame[:frame.index("/while/") + len("/while")] if "/while/" in frame else frame
        stacks = {op.name: op for op in graph.ops_of_type("TensorListStack")
                  if _written(graph, graph.inputs(op.name)[0]).name.startswith(frame + "/")}
        if len(stacks) not in (1, 2):
            continue
        try:
            done.append(f"{frame}: {_preprocessing(graph, source, stacks, frame)}")
        except _Unknown as why:
            log.info("OD API TF2 loop %s is left to tf_frontend's loop unrolling (%s)", frame,
                     why)
    return done


@graph_pass("od_api.replace_tf2_preprocessor", stage="source",
            after=["od_api.check_pipeline_config", "tf_frontend.remove_training_ops",
                   "tf_frontend.fold_constant_switches", "od_api.set_image_input"],
            before=["cleanup.remove_dead_source", "tf_frontend.collapse_while_loops",
                    "od_api.replace_preprocessor"])
def replace_tf2_preprocessor(graph: Graph, config) -> None:
    """The TF2 exporter's batch-1 image map_fn (a TensorList while loop) as batch-wide ops."""
    from .passes import active
    if not active(graph, config) or not is_tf2_export(graph):
        return
    for what in replace_preprocessing(graph):
        log.info("OD API TF2 Preprocessor loop replaced by batch-wide ops: %s", what)


ALL_PASSES = (replace_tf2_preprocessor,)
