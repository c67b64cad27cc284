"""Builds the TF1 exports of ``tf1_exports.tar.xz`` (the record of how; the tests only unpack it):
rows of the spec's Object Detection API table that ``../shared/fixtures/od_api`` does not cover,
made by the API's own TF1 ``model_builder`` and ``exporter.export_inference_graph``.

    ssd_mobilenet_v1_ppn   SSD MobileNet V1 PPN (pooling pyramid, weight-shared predictor)
    ssd_resnet50_v1_fpn    SSD ResNet50 V1 FPN (RetinaNet: multiscale anchors, focal-loss head)

Each is the zoo's config shrunk (3 classes, 128/160-pixel fixed resizer, depth multiplier 0.25,
20 detections). Its weights: every conv kernel a rotation of one shared random sequence of
65,521 floats (std 1, so the frozen graph compresses to almost nothing); every conv is followed
by a BatchNorm, given random gamma/beta and moving statistics calibrated on an image (in
topological order); the box predictor's class logits are centred and scaled to std 2 per
channel (biases -3 +- 0.3: the top scores then spread over the sigmoid's middle), its box
encodings scaled to std 0.5. The archive holds each model's
``frozen_inference_graph.pb`` and the exporter's ``pipeline.config``.

Run outside ``make``, with the Object Detection API beside the venv's TensorFlow (see
``make_faster_rcnn_tf2.py``; TF1 mode needs the ``tensorflow.contrib`` stubs below):

    PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python TF_USE_LEGACY_KERAS=1 \\
        PYTHONPATH=/tmp/od/site:/tmp/od/stubs .venv/bin/python tests/od_api/data/make_tf1_exports.py OUT_DIR
"""
import importlib
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import tensorflow as tf

tf.compat.v1.disable_v2_behavior()
v1 = tf.compat.v1


# -- shims: the tensorflow.contrib modules the API imports in TF1 mode (unused by these models) --
def _mod(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


_contrib = _mod("tensorflow.contrib")
for _sub in ["image", "image.python", "image.python.ops", "image.python.ops.image_ops",
             "quantize", "tpu", "learn", "slim", "opt", "training"]:
    _mod("tensorflow.contrib." + _sub)
for _path in ["training", "image", "image.python", "image.python.ops", "image.python.ops.image_ops",
              "quantize", "tpu", "learn"]:
    _parent, _, _leaf = ("tensorflow.contrib." + _path).rpartition(".")
    setattr(sys.modules[_parent], _leaf, sys.modules["tensorflow.contrib." + _path])
tf.contrib = _contrib
for _a, _t in [("int", int), ("float", float), ("bool", bool), ("object", object)]:
    if _a not in np.__dict__:
        setattr(np, _a, _t)
for _m in ["legacy_tf_layers", "legacy_tf_layers.base", "legacy_tf_layers.core",
           "legacy_tf_layers.convolutional", "legacy_tf_layers.normalization",
           "legacy_tf_layers.pooling", "legacy_tf_layers.variable_scope_shim"]:
    try:
        sys.modules["tf_keras." + _m] = importlib.import_module("tf_keras.src." + _m)
    except ImportError:
        pass
from tensorflow.python.framework import ops as _ops  # noqa: E402

if not hasattr(_ops, "Tensor"):
    _ops.Tensor = tf.Tensor

from google.protobuf import text_format  # noqa: E402
from object_detection import exporter  # noqa: E402
from object_detection.builders import model_builder  # noqa: E402
from object_detection.protos import pipeline_pb2  # noqa: E402

exporter.profile_inference_graph = lambda graph: None  # it needs tf.contrib.tfprof

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from od_api.test_od_fixtures import scene  # noqa: E402

PERIOD = 65521
TARGETS = {"ClassPredictor": 2.0, "BoxPredictor": 0.5}  # output std of the predictor convs
ARCHIVE = Path(__file__).with_name("tf1_exports.tar.xz")

HYPER = """conv_hyperparams { activation: RELU_6, regularizer { l2_regularizer { weight: 0.00004 } }
  initializer { random_normal_initializer { stddev: 0.01 mean: 0.0 } }
  batch_norm { scale: true center: true decay: 0.97 epsilon: 0.001 } }"""
COMMON = """inplace_batchnorm_update: true freeze_batchnorm: false num_classes: 3
box_coder { faster_rcnn_box_coder { y_scale: 10.0 x_scale: 10.0 height_scale: 5.0 width_scale: 5.0 } }
matcher { argmax_matcher { matched_threshold: 0.5 unmatched_threshold: 0.5 ignore_thresholds: false
  negatives_lower_than_unmatched: true force_match_for_each_row: true use_matmul_gather: true } }
similarity_calculator { iou_similarity { } }
encode_background_as_zeros: true
loss { classification_loss { weighted_sigmoid_focal { alpha: 0.25 gamma: 2.0 } }
  localization_loss { weighted_smooth_l1 { } } classification_weight: 1.0 localization_weight: 1.0 }
normalize_loss_by_num_matches: true normalize_loc_loss_by_codesize: true
post_processing { batch_non_max_suppression { score_threshold: 1e-8 iou_threshold: 0.6
  max_detections_per_class: 20 max_total_detections: 20 } score_converter: SIGMOID }"""
CONFIGS = {
    "ssd_mobilenet_v1_ppn": f"""model {{ ssd {{ {COMMON}
anchor_generator {{ ssd_anchor_generator {{ num_layers: 6 min_scale: 0.15 max_scale: 0.95
  aspect_ratios: 1.0 aspect_ratios: 2.0 aspect_ratios: 0.5 aspect_ratios: 3.0 aspect_ratios: 0.3333
  reduce_boxes_in_lowest_layer: false }} }}
image_resizer {{ fixed_shape_resizer {{ height: 128 width: 128 }} }}
box_predictor {{ weight_shared_convolutional_box_predictor {{ depth: 32 class_prediction_bias_init: -4.6
  {HYPER} num_layers_before_predictor: 1 kernel_size: 1 share_prediction_tower: true }} }}
feature_extractor {{ type: 'ssd_mobilenet_v1_ppn' depth_multiplier: 0.25 min_depth: 8 {HYPER}
  override_base_feature_extractor_hyperparams: true }} }} }}""",
    "ssd_resnet50_v1_fpn": f"""model {{ ssd {{ {COMMON}
anchor_generator {{ multiscale_anchor_generator {{ min_level: 3 max_level: 7 anchor_scale: 4.0
  aspect_ratios: [1.0, 2.0, 0.5] scales_per_octave: 2 }} }}
image_resizer {{ fixed_shape_resizer {{ height: 160 width: 160 }} }}
box_predictor {{ weight_shared_convolutional_box_predictor {{ depth: 32 class_prediction_bias_init: -4.6
  {HYPER} num_layers_before_predictor: 2 kernel_size: 3 }} }}
feature_extractor {{ type: 'ssd_resnet50_v1_fpn' min_depth: 8 depth_multiplier: 0.25 {HYPER}
  override_base_feature_extractor_hyperparams: true }} }} }}""",
}


def var_of(tensor, by_op):
    op = tensor.op
    while op.type in ("Identity", "ReadVariableOp") and op.name not in by_op:
        op = op.inputs[0].op
    return by_op.get(op.name)


def compact_kernels(sess, rng):
    base = np.random.default_rng(1).standard_normal(PERIOD).astype(np.float32)
    for v in v1.global_variables():
        if v.op.name.rsplit("/", 1)[-1] in ("weights", "depthwise_weights", "kernel"):
            n = int(np.prod(v.shape.as_list()))
            start = int(rng.integers(0, PERIOD))
            v.load(base[(np.arange(n) + start) % PERIOD].reshape(v.shape.as_list()), sess)


def calibrate(sess, graph, feed, rng):
    """In creation (topological) order: each BatchNorm's statistics from the image, random
    gamma/beta; each predictor weight (shared by every level's conv) calibrated to TARGETS."""
    by_op = {v.op.name: v for v in v1.global_variables()}
    done = set()
    for op in graph.get_operations():
        if op.type.startswith("FusedBatchNorm"):
            x, scale, offset, mean, var = op.inputs[:5]
            vm = var_of(mean, by_op)
            if vm is None or vm.op.name in done:
                continue
            xv = sess.run(x, feed)
            c = xv.shape[-1]
            vm.load(xv.mean(axis=(0, 1, 2)), sess)
            var_of(var, by_op).load(xv.var(axis=(0, 1, 2)) + 1e-3, sess)
            for v, value in ((var_of(scale, by_op), rng.uniform(0.6, 1.4, c)),
                             (var_of(offset, by_op), rng.normal(0.1, 0.3, c))):
                if v is not None:
                    v.load(value.astype(np.float32), sess)
            done.add(vm.op.name)
        elif op.type == "Conv2D":
            w = var_of(op.inputs[1], by_op)
            kind = None if w is None else w.op.name.split("/")[-2]
            if kind not in TARGETS or w.op.name in done:
                continue
            users = [o for o in graph.get_operations() if o.type == "Conv2D"
                     and var_of(o.inputs[1], by_op) is w]
            outs = sess.run([u.outputs[0] for u in users], feed)
            flat = np.concatenate([o.reshape(-1, o.shape[-1]) for o in outs])
            # class logits centred and scaled per channel (a shared component, or one wider
            # channel, would make one class win everywhere); box encodings scaled as a whole
            if kind == "ClassPredictor":
                mean, spread = flat.mean(0), np.maximum(flat.std(0), 1e-12)
            else:
                mean, spread = np.zeros(flat.shape[-1]), max(float(flat.std()), 1e-12)
            scale = np.float32(TARGETS[kind]) / np.asarray(spread, np.float32)
            w.load(sess.run(w) * scale, sess)
            b = by_op.get(w.op.name.rsplit("/", 1)[0] + "/biases")
            if b is not None:
                noise = rng.normal(-3.0, 0.3, mean.shape) if kind == "ClassPredictor" else 0.0
                b.load((-mean * scale + noise).astype(np.float32), sess)
            done.add(w.op.name)


def export(name: str, out_dir: Path) -> None:
    work = out_dir / name
    shutil.rmtree(work, ignore_errors=True)
    cfg = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(CONFIGS[name], cfg)
    rng = np.random.default_rng(0)
    ckpt = str(out_dir / f"{name}-train" / "model.ckpt")
    image = scene(150, 200, 0)
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(0)
        model = model_builder.build(cfg.model, is_training=False)
        outputs, ph = exporter.build_detection_graph("image_tensor", model, None, "inference_op",
                                                     None)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            compact_kernels(sess, rng)
            calibrate(sess, graph, {ph["inputs"]: image}, rng)
            v1.train.Saver().save(sess, ckpt)
    with tf.Graph().as_default():
        exporter.export_inference_graph("image_tensor", cfg, ckpt, str(work))
    shutil.rmtree(Path(ckpt).parent)
    for extra in work.iterdir():  # the archive keeps the frozen graph and the config
        if extra.name not in ("frozen_inference_graph.pb", "pipeline.config"):
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    gd = v1.GraphDef()
    gd.ParseFromString((work / "frozen_inference_graph.pb").read_bytes())
    with tf.Graph().as_default() as g:
        v1.import_graph_def(gd, name="")
        with v1.Session(graph=g) as sess:
            for i, (h, w) in enumerate([(150, 200), (117, 205), (230, 149)]):
                boxes, scores, classes, num = sess.run(
                    ["detection_boxes:0", "detection_scores:0", "detection_classes:0",
                     "num_detections:0"], {"image_tensor:0": scene(h, w, i)})
                kinds, counts = np.unique(classes[0], return_counts=True)
                print(f"{name} image {i} {h}x{w}: {int(num[0])} detections, classes "
                      f"{dict(zip(kinds.astype(int).tolist(), counts.tolist()))}, scores "
                      f"{scores.min():.3f}-{scores.max():.3f}")


def main(out_dir: Path) -> None:
    for name in CONFIGS:
        export(name, out_dir)
    tar = subprocess.Popen(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
                            "--mtime=2026-12-03", "-C", str(out_dir), "-cf", "-", *CONFIGS],
                           stdout=subprocess.PIPE)
    with open(ARCHIVE, "wb") as f:
        subprocess.run(["xz", "-9e", "-T1"], stdin=tar.stdout, stdout=f, check=True)
    tar.wait()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
