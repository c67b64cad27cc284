"""The merged multiclass NMS (``tfconv_od_api/nms_merge.py``) at zoo scale: 90 classes.

The graph is the OD API's padded ``multiclass_non_max_suppression`` written out in TF ops as
post_processing.py builds it (per class: slice scores, NonMaxSuppressionV5, zero padding to
``min(max_per_class, N)``, gather, -1 scores past the valid ones, ``zeros_like + class``; then
concatenate, sort by score, top ``max_total``), with shared boxes (SSD) and per-class boxes
(Faster R-CNN's second stage), and the older exporters' unpadded form (NonMaxSuppressionV3,
the selection gathered as it is). Scores are quantised so that ties occur within and across
classes. The IR must hold ONE NonMaxSuppression, few layers, and OpenVINO (f32) must return
TensorFlow's sorted detections exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

from ovrun import ir_layer_types, run_ir

tf = pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

N, C, MAX_PER_CLASS, MAX_TOTAL, IOU, THRESHOLD = 160, 90, 6, 40, 0.5, 0.3


def _graph(per_class_boxes: bool, padded: bool = True):
    g = tf.Graph()
    with g.as_default():
        q = C if per_class_boxes else 1
        boxes = tf.compat.v1.placeholder(tf.float32, [None, q, 4], "boxes")
        scores = tf.compat.v1.placeholder(tf.float32, [None, C], "scores")
        per_box = tf.unstack(boxes, axis=1)
        fields = {"boxes": [], "scores": [], "classes": []}
        for c in range(C):
            b = per_box[c if per_class_boxes else 0]
            s = tf.reshape(tf.slice(scores, [0, c], tf.stack([tf.shape(scores)[0], 1])), [-1])
            k = tf.minimum(MAX_PER_CLASS, tf.shape(b)[0])
            if not padded:  # the older exporters: NonMaxSuppressionV3, the selection as it is
                idx = tf.image.non_max_suppression(b, s, k, IOU, THRESHOLD)
                kept = tf.gather(s, idx)
                fields["boxes"].append(tf.gather(b, idx))
                fields["scores"].append(kept)
                fields["classes"].append(tf.zeros_like(kept) + c)
                continue
            idx, sel = tf.image.non_max_suppression_with_scores(b, s, k, IOU, THRESHOLD)
            valid = tf.shape(idx)[0]
            idx = tf.concat([idx, tf.zeros(k - valid, tf.int32)], 0)
            sel = tf.concat([sel, tf.zeros(k - valid, tf.float32)], -1)
            kept = tf.compat.v1.where(tf.less(tf.range(k), valid), sel, -1 * tf.ones(k))
            fields["boxes"].append(tf.gather(b, idx))
            fields["scores"].append(kept)
            fields["classes"].append(tf.zeros_like(kept) + c)
        cat = {f: tf.concat(v, 0) for f, v in fields.items()}
        _, order = tf.nn.top_k(cat["scores"], tf.shape(cat["scores"])[0])
        top = order[:tf.minimum(MAX_TOTAL, tf.shape(order)[0])]
        for f in ("boxes", "scores", "classes"):
            tf.identity(tf.gather(cat[f], top), name=f"detection_{f}")
    return g


def _data(per_class_boxes: bool, seed: int):
    rng = np.random.default_rng(seed)
    q = C if per_class_boxes else 1
    yx = rng.uniform(0, 0.8, (N, q, 2))
    hw = rng.uniform(0.05, 0.3, (N, q, 2))
    boxes = np.concatenate([yx, yx + hw], -1).astype(np.float32)
    scores = np.round(rng.uniform(0, 1, (N, C)) * 20) / 20  # ties within and across classes
    return boxes, scores.astype(np.float32)


class MergeEverywhere:
    """A test plugin: the merge pass without the OD API gate (the graph has no Preprocessor)."""

    @staticmethod
    def tfconv_register_passes(registry):
        from tfconv.passes import graph_pass
        from tfconv_od_api import nms_merge

        @graph_pass("test.merge_class_nms", stage="source",
                    before=["cleanup.remove_dead_source"])
        def merge(graph, config):
            for stage in nms_merge.find_stages(graph):
                assert nms_merge.rewrite(graph, stage)
        registry.add(merge)


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded_v3"])
@pytest.mark.parametrize("per_class_boxes", [False, True], ids=["shared_boxes", "per_class_boxes"])
def test_90_classes_one_nms(tmp_path, per_class_boxes, padded):
    import tfconv
    from tfconv import hookimpl
    from tfconv.plugins import get_plugin_manager
    g = _graph(per_class_boxes, padded)
    outputs = ["detection_boxes", "detection_scores", "detection_classes"]
    pb = tmp_path / "nms.pb"
    pb.write_bytes(g.as_graph_def().SerializeToString())
    pm = get_plugin_manager()
    plugin = MergeEverywhere()
    plugin.tfconv_register_passes = hookimpl(MergeEverywhere.tfconv_register_passes)
    pm.register(plugin, name="test_merge")
    ir = tfconv.convert_model(str(pb), plugin_manager=pm, output=outputs,
                              input=["boxes", "scores"])
    tfconv.save_model(ir, tmp_path / "ir" / "model.xml")
    types = ir_layer_types(tmp_path / "ir" / "model.xml")
    assert types.count("NonMaxSuppression") == 1
    assert len(types) < 160, len(types)  # unrolled: ~60 TF ops per class, 5,400 at 90
    with tf.compat.v1.Session(graph=g) as sess:
        for seed in (0, 1):
            boxes, scores = _data(per_class_boxes, seed)
            want = sess.run([f"{o}:0" for o in outputs], {"boxes:0": boxes, "scores:0": scores})
            got = run_ir(tmp_path / "ir" / "model.xml", [boxes, scores])
            assert len(want[1]) == MAX_TOTAL and (want[1] > THRESHOLD).all()
            for w, o in zip(want, got):
                np.testing.assert_array_equal(o, w)
