"""detection.py translators vs real TF: NonMaxSuppression V1-V5, CropAndResize, Where, Assert.

Every case runs with dynamic-shape placeholders (the box count, the image size and the number of
selected boxes are unknown to the converter), as in Object Detection API graphs.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from optest import check, convert, rng_for, tf

raw = tf.raw_ops
I32 = np.int32
F32 = np.float32


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


def boxes(n: int, key: str, flip: float = 0.0) -> np.ndarray:
    """``n`` random boxes [y1, x1, y2, x2] in [0, 1]; a ``flip`` share has swapped corners."""
    r = rng_for(f"boxes{key}{n}")
    lo = r.uniform(0, 0.7, (n, 2))
    hi = lo + r.uniform(0.05, 0.4, (n, 2))
    out = np.concatenate([lo, hi], 1)
    flipped = r.random(n) < flip
    out[flipped] = out[flipped][:, [2, 3, 0, 1]]
    return out.astype(F32)


def scores(n: int, key: str, decimals: int | None = None) -> np.ndarray:
    s = rng_for(f"scores{key}{n}").random(n)
    return (s if decimals is None else np.round(s, decimals)).astype(F32)


B40, S40 = boxes(40, "a", flip=0.3), scores(40, "a")
S40_TIES = scores(40, "t", decimals=1)  # many equal scores, some equal to the 0.3 threshold
B6 = boxes(6, "b")
DYN_NMS = {"shapes": [(None, 4), (None,)]}
EXACT = np.array([[0, 0, 1, 1], [0, 0, 1, 2], [2, 2, 3, 3], [3, 3, 2, 2]], F32)  # IoU 0.5, 1.0
EXACT_S = np.array([0.9, 0.8, 0.7, 0.6], F32)


def v3(max_size, iou, threshold):
    return lambda b, s: raw.NonMaxSuppressionV3(boxes=b, scores=s, max_output_size=max_size,
                                                iou_threshold=iou, score_threshold=threshold)


def v4(max_size, iou, threshold, pad):
    return lambda b, s: list(raw.NonMaxSuppressionV4(
        boxes=b, scores=s, max_output_size=max_size, iou_threshold=iou,
        score_threshold=threshold, pad_to_max_output_size=pad))


def v5(max_size, iou, threshold, sigma, pad=False):
    return lambda b, s: list(raw.NonMaxSuppressionV5(
        boxes=b, scores=s, max_output_size=max_size, iou_threshold=iou,
        score_threshold=threshold, soft_nms_sigma=sigma, pad_to_max_output_size=pad))


NMS_CASES = [
    case("V1", lambda b, s: raw.NonMaxSuppression(boxes=b, scores=s, max_output_size=10,
                                                 iou_threshold=0.5), B40, S40, **DYN_NMS),
    case("V2", lambda b, s: raw.NonMaxSuppressionV2(boxes=b, scores=s, max_output_size=10,
                                                   iou_threshold=0.4), B40, S40, **DYN_NMS),
    case("V2-negative-scores", lambda b, s: raw.NonMaxSuppressionV2(
        boxes=b, scores=-s, max_output_size=10, iou_threshold=0.4), B40, S40, **DYN_NMS),
    case("V2-max-above-count", lambda b, s: raw.NonMaxSuppressionV2(
        boxes=b, scores=s, max_output_size=100, iou_threshold=0.7), B6, scores(6, "b"),
         **DYN_NMS),
    case("V3-threshold-ties", v3(20, 0.5, 0.3), B40, S40_TIES, **DYN_NMS),
    case("V3-all-below-threshold", v3(20, 0.5, 2.0), B40, S40, **DYN_NMS),
    case("V3-max-zero", v3(0, 0.5, 0.0), B40, S40, **DYN_NMS),
    case("V3-no-boxes", v3(5, 0.5, 0.0), np.zeros((0, 4), F32), np.zeros((0,), F32), **DYN_NMS),
    case("V3-iou-equal-threshold", v3(10, 0.5, 0.0), EXACT, EXACT_S, **DYN_NMS),
    case("V3-iou-one", v3(10, 1.0, 0.0), EXACT, EXACT_S, **DYN_NMS),
    case("V3-iou-zero", v3(40, 0.0, 0.0), B40, S40, **DYN_NMS),  # only disjoint boxes stay
    case("V3-all-flipped", v3(15, 0.3, 0.1), boxes(30, "f", flip=1.0), scores(30, "f"),
         **DYN_NMS),
    case("V4-unpadded", v4(8, 0.5, 0.2, False), B40, S40, **DYN_NMS),
    case("V4-padded", v4(30, 0.3, 0.6, True), B40, S40, **DYN_NMS),
    case("V4-padded-empty", v4(7, 0.5, 5.0, True), B40, S40, **DYN_NMS),
    case("V5-hard", v5(12, 0.5, 0.1, 0.0), B40, S40_TIES, **DYN_NMS),
    case("V5-hard-padded", v5(50, 0.5, 0.1, 0.0, True), B40, S40, **DYN_NMS),
    case("V5-soft", v5(12, 0.5, 0.2, 0.5), B40, S40, **DYN_NMS),
    case("V5-soft-threshold", v5(40, 0.3, 0.5, 0.1), B40, S40, **DYN_NMS),
    # boxes on a coarse grid: many zero-area and identical boxes (TF: IoU 0 with a zero-area box)
    case("V5-soft-zero-area", v5(30, 1.0, 0.0, 1.0), np.round(boxes(30, "g", 0.3) * 4) / 4,
         scores(30, "g", decimals=1), **DYN_NMS),
    case("V5-hard-zero-area", v5(30, 0.5, 0.0, 0.0), np.round(boxes(30, "g", 0.3) * 4) / 4,
         scores(30, "g", decimals=1), **DYN_NMS),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), NMS_CASES)
def test_non_max_suppression(build, arrays, kw):
    check(build, *arrays, **kw)


@pytest.mark.parametrize("iou", [0.45, 0.0])
def test_non_max_suppression_computed_limits(iou):
    # max_output_size, iou and score thresholds fed at run time (not constants)
    def build(b, s, m, iou, t):
        return list(raw.NonMaxSuppressionV5(boxes=b, scores=s, max_output_size=m,
                                            iou_threshold=iou, score_threshold=t,
                                            soft_nms_sigma=0.0, pad_to_max_output_size=True))
    out = check(build, B40, S40, np.array(9, I32), np.array(iou, F32), np.array(0.25, F32),
                shapes=[(None, 4), (None,), (), (), ()])
    assert out.types["NonMaxSuppression"] == 1


def test_non_max_suppression_is_one_ir_op():
    out = check(v3(20, 0.5, 0.3), B40, S40, **DYN_NMS)
    nms = next(op for op in out.ir if op.type == "NonMaxSuppression")
    assert nms.attrs["box_encoding"] == "corner"
    assert out.types["Loop"] == 0 and out.types["TopK"] == 0


# -- CropAndResize -----------------------------------------------------------------------------

IMAGES = rng_for("images").uniform(-1, 1, (2, 7, 9, 3)).astype(F32)
CROP_BOXES = np.array([
    [0.1, 0.2, 0.8, 0.9],     # inside
    [0.0, 0.0, 1.0, 1.0],     # the whole image: samples on the last row/column
    [0.9, 0.7, 0.2, 0.1],     # flipped
    [-0.3, 0.5, 0.6, 1.4],    # partly outside: extrapolated rows and columns
    [1.2, -0.5, 1.5, -0.1],   # wholly outside
    [0.33, 0.25, 0.33, 0.75],  # zero height
], F32)
BOX_IND = np.array([0, 1, 1, 0, 1, 0], I32)
DYN_CROP = {"shapes": [(None, None, None, 3), (None, 4), (None,)]}


def crop(size, method="bilinear", extrapolation=0.0):
    return lambda im, b, i: raw.CropAndResize(image=im, boxes=b, box_ind=i, crop_size=size,
                                              method=method, extrapolation_value=extrapolation)


CROP_CASES = [
    case(f"{method}-{h}x{w}", crop([h, w], method, 0.25), IMAGES, CROP_BOXES, BOX_IND, **DYN_CROP)
    for method in ("bilinear", "nearest") for h, w in ((4, 5), (1, 1), (1, 6), (3, 1))
] + [
    case("bilinear-upsample", crop([14, 18]), IMAGES, CROP_BOXES, BOX_IND, **DYN_CROP),
    case("bilinear-uint8", crop([3, 3]), rng_for("u8").integers(0, 255, (2, 5, 6, 3)).astype(
        np.uint8), CROP_BOXES, BOX_IND, **DYN_CROP),
    case("bilinear-no-boxes", crop([2, 2]), IMAGES, np.zeros((0, 4), F32), np.zeros(0, I32),
         **DYN_CROP),
    case("bilinear-random", crop([7, 7], extrapolation=-1.0), IMAGES,
         rng_for("rb").uniform(-0.2, 1.2, (20, 4)).astype(F32),
         rng_for("ri").integers(0, 2, 20).astype(I32), **DYN_CROP),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CROP_CASES)
def test_crop_and_resize(build, arrays, kw):
    check(build, *arrays, **kw)


@pytest.mark.parametrize(("height", "crop_h"), [(8, 14), (5, 8), (11, 26), (17, 5), (38, 14)])
def test_crop_and_resize_boxes_clipped_to_the_image(height, crop_h):
    # Boxes ending exactly at 1.0 (Faster R-CNN clips its proposals to the image): TF's last
    # sample is y2*(H-1) up to its rounding of (H-1)/(crop-1), e.g. 13*(7/13) = 7.0000005 > 7,
    # extrapolated, where OpenVINO's ROIPooling interpolates; the IR must decide as TF does.
    r = rng_for(f"clip{height}")
    lo = r.uniform(0, 0.6, (300, 2)).astype(F32)
    clipped = np.concatenate([lo, np.ones((300, 2), F32)], 1)
    clipped[:4, :2] = 0
    clipped[4, 3] = 0.52754384
    image = r.normal(size=(1, height, height + 3, 2)).astype(F32)
    outcome = check(crop([crop_h, crop_h + 1]), image, clipped, np.zeros(300, I32),
                    shapes=[(None, None, None, 2), (None, 4), (None,)])
    assert (outcome.tf_outputs[0] == 0).any(), "no last sample extrapolated: the case is moot"


# -- Where and Assert ----------------------------------------------------------------------------

MASK = rng_for("mask").random((4, 5, 3)) < 0.4


@pytest.mark.parametrize(("build", "arrays", "kw"), [
    case("bool-3d", tf.where, MASK, shapes=[(None, None, 3)]),
    case("bool-all-false", tf.where, np.zeros((3, 4), bool), shapes=[(None, None)]),
    case("bool-all-true", tf.where, np.ones((2, 3), bool), shapes=[(None, None)]),
    case("float", lambda x: [tf.where(x > 0.5), raw.Where(condition=x)],
         rng_for("wf").random((6, 4)).round(1).astype(F32) * (rng_for("wz").random((6, 4)) > 0.5)),
    case("vector", lambda x: raw.Where(condition=x), MASK[:, 0, 0], shapes=[(None,)]),
    case("Select-3-input", lambda c, x: tf.compat.v1.where(c, x, -x), MASK[:, :, 0],
         rng_for("sx").random((4, 5)).astype(F32), shapes=[(None, 5), (None, 5)]),
])
def test_where(build, arrays, kw):
    check(build, *arrays, **kw)


def test_assert_is_dropped_and_never_blocks():
    def build(x):
        check_op = tf.debugging.Assert(tf.reduce_all(x > -10.0), [x], name="check")
        with tf.control_dependencies([check_op]):
            return tf.identity(x * 2.0, name="y")
    out = check(build, rng_for("assert").random(5).astype(F32), shapes=[(None,)])
    assert "Assert" not in out.types


# -- the Object Detection API's loop bodies ------------------------------------------------------
#
# The OD API fixtures run their post-processing (per-class NMS, box decoding, the R-FCN
# position-sensitive crops) inside TF1 while loops. One iteration of such a body, flattened into a
# plain graph (loop variables at their initial values, TensorArray reads fed TF's own element 0,
# everything with fully dynamic shapes), is the exact mix of ops these graphs need.

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("TFCONV_OD_FIXTURES", ROOT.parent / "shared" / "fixtures" / "od_api"))


def _flatten_loop_body(fixture: str, scope: str):
    """(graph_def, feeds, outputs) of iteration 0 of the while loop ``scope`` (``.../while/``)."""
    from tensorflow.core.framework import node_def_pb2

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString((FIXTURES / fixture / "frozen_inference_graph.pb").read_bytes())
    by = {n.name: n for n in gd.node}
    node_of = lambda ref: ref.lstrip("^").split(":")[0]  # noqa: E731
    nodes, fetch, outputs = {}, {}, []

    def copy_const(name: str, as_name: str) -> None:
        c = node_def_pb2.NodeDef()
        c.CopyFrom(by[name])
        c.name = as_name
        nodes[as_name] = c

    for n in gd.node:
        if not n.name.startswith(scope):
            continue
        ins = [i for i in n.input if not i.startswith("^")]
        if n.op == "Enter":  # loop invariants: constants, or TF's value of the outer tensor
            outer = by[node_of(ins[0])]
            if outer.op == "Const":
                copy_const(outer.name, n.name)
            elif not outer.op.startswith("TensorArray"):
                fetch[n.name] = (ins[0], False)
        elif n.op == "TensorArrayReadV3":  # element 0 of the scattered tensor
            scatter = by[node_of(by[node_of(ins[2])].input[0])]
            fetch[n.name] = (scatter.input[2], True)
        elif n.op == "TensorArrayWriteV3":
            outputs.append(ins[2] if ":" in ins[2] else ins[2] + ":0")
        elif n.op in ("Merge", "Switch"):  # iteration 0: the value entering the loop
            m = node_def_pb2.NodeDef(name=n.name, op="Identity", input=[ins[0]])
            m.attr["T"].CopyFrom(n.attr["T"])
            nodes[n.name] = m
        elif n.op not in ("NextIteration", "Exit", "LoopCond"):
            m = node_def_pb2.NodeDef()
            m.CopyFrom(n)
            del m.input[:]
            for i in ins:
                src = by[node_of(i)]
                if src.op == "Switch":
                    i = src.name
                elif not src.name.startswith(scope):
                    copy_const(src.name, src.name)
                m.input.append(i)
            nodes[n.name] = m
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    image = np.load(FIXTURES / fixture / "reference.npz")["input_0"]
    with tf.compat.v1.Session(graph=graph) as sess:
        values = sess.run([t if ":" in t else t + ":0" for t, _ in fetch.values()],
                          {"image_tensor:0": image})
    feeds = {}
    for (name, (_, first)), value in zip(fetch.items(), values):
        feeds[name] = np.asarray(value[0] if first else value)
        p = node_def_pb2.NodeDef(name=name, op="Placeholder")
        p.attr["dtype"].type = tf.as_dtype(feeds[name].dtype).as_datatype_enum
        p.attr["shape"].shape.SetInParent()
        for _ in feeds[name].shape:  # every dim dynamic
            p.attr["shape"].shape.dim.add().size = -1
        nodes[name] = p
    flat = tf.compat.v1.GraphDef()
    flat.node.extend(nodes.values())
    flat = tf.compat.v1.graph_util.extract_sub_graph(flat, [node_of(o) for o in outputs])
    kept = {n.name for n in flat.node}
    return flat, {k: v for k, v in feeds.items() if k in kept}, outputs


@pytest.mark.parametrize(("fixture", "scope", "ops"), [
    pytest.param("ssd_mobilenet_v2_tiny", "Postprocessor/BatchMultiClassNonMaxSuppression/map/while/",
                 {"NonMaxSuppression": 3}, id="ssd-multiclass-nms"),
    pytest.param("faster_rcnn_inception_v2_tiny", "BatchMultiClassNonMaxSuppression/map/while/",
                 {"NonMaxSuppression": 1}, id="faster-rcnn-first-stage-nms"),
    pytest.param("rfcn_tiny", "SecondStageBoxPredictor/map/while/", {"ROIPooling": 9},
                 id="rfcn-position-sensitive-crops"),
])
def test_od_api_loop_body(fixture, scope, ops):
    from optest import CORE, compare, to_ov_model

    graph_def, feeds, outputs = _flatten_loop_body(fixture, scope)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        expected = sess.run(outputs, {k + ":0": v for k, v in feeds.items()})
    ir = convert(graph_def.SerializeToString(), outputs)
    types = Counter(op.type for op in ir)
    assert all(types[t] >= n for t, n in ops.items()), types
    model, names = to_ov_model(ir)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled.create_infer_request().infer([feeds[n] for n in names])
    for i, e in enumerate(expected):
        compare(e, got[compiled.output(i)], 1e-5, outputs[i])
