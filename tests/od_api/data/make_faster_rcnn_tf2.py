"""Builds ``faster_rcnn_resnet50_tf2.tar.xz`` and (argument ``mask``) ``mask_rcnn_resnet50_tf2.tar.xz``
(the record of how; the tests only unpack them).

The Object Detection API cannot be installed into the test virtualenv (its ``_pb2`` modules
predate protobuf 4, and it imports modules it never uses), so this runs outside ``make``, with
the API beside the venv's TensorFlow:

    .venv/bin/pip install --no-deps --target /tmp/od/site tf-models-research-object-detection==2.8.0.post1
    .venv/bin/pip install --no-deps --target /tmp/od/site scipy
    mkdir -p /tmp/od/stubs/tensorflow_io && touch /tmp/od/stubs/tensorflow_io/__init__.py
    PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python TF_USE_LEGACY_KERAS=1 \\
        PYTHONPATH=/tmp/od/site:/tmp/od/stubs .venv/bin/python tests/od_api/data/make_faster_rcnn_tf2.py OUT_DIR [mask]

The model: the TF2 zoo's ``faster_rcnn_resnet50_v1_640x640`` config (``faster_rcnn_resnet50_keras``)
with 3 classes, a 160-pixel keep_aspect_ratio resizer, 30 proposals and 20 detections, built by
``model_builder`` and exported by ``exporter_lib_v2`` (input ``image_tensor``). Its weights:
every kernel is a rotation of one shared random sequence of 65,521 floats (std 1, so the
variables compress to almost nothing); each backbone conv's BatchNorm then normalises: moving
statistics calibrated on an image, gamma/beta random; the predictors are calibrated on the same
image: class logits centred per class and scaled to std 1 (RPN) and 1.5 (second stage), plus
biases of std 0.1; box encodings scaled to std 0.5; the mask head's convs to std 1 and its mask
logits centred and scaled to std 1. It prints TF's detections on the test's three images.
"""
import importlib
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import tensorflow as tf

# -- shims: what the API imports at module level but this model never uses ----------------------
for _a, _t in [("int", int), ("float", float), ("bool", bool), ("object", object)]:
    if _a not in np.__dict__:
        setattr(np, _a, _t)
from tensorflow.python.framework import ops as _ops  # noqa: E402

if not hasattr(_ops, "Tensor"):
    _ops.Tensor = tf.Tensor
for _m in ["legacy_tf_layers", "legacy_tf_layers.base", "legacy_tf_layers.core",
           "legacy_tf_layers.convolutional", "legacy_tf_layers.normalization",
           "legacy_tf_layers.pooling", "legacy_tf_layers.variable_scope_shim"]:
    try:
        sys.modules["tf_keras." + _m] = importlib.import_module("tf_keras.src." + _m)
    except ImportError:
        pass
_effnet = "official.legacy.image_classification.efficientnet"
for _n in ["official", "official.legacy", "official.legacy.image_classification", _effnet,
           _effnet + ".efficientnet_model"]:
    sys.modules[_n] = types.ModuleType(_n)
sys.modules[_effnet].efficientnet_model = sys.modules[_effnet + ".efficientnet_model"]

from google.protobuf import text_format  # noqa: E402
from object_detection import exporter_lib_v2  # noqa: E402
from object_detection.builders import model_builder  # noqa: E402
from object_detection.protos import pipeline_pb2  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from od_api.test_od_fixtures import scene  # noqa: E402

NAMES = {False: "faster_rcnn_resnet50_tf2", True: "mask_rcnn_resnet50_tf2"}
# Mask R-CNN (the ``mask`` argument): the same model with the TF2 zoo's Mask R-CNN mask head
# (predict_instance_masks, a third stage that predicts the masks of the detections), small.
MASK_HEAD = """
      conv_hyperparams { op: CONV regularizer { l2_regularizer { weight: 0.0 } }
        initializer { truncated_normal_initializer { stddev: 0.01 } } }
      predict_instance_masks: true mask_prediction_conv_depth: 32 mask_height: 8 mask_width: 8
      mask_prediction_num_conv_layers: 2"""
PERIOD = 65521
# Layers calibrated on their first call: (kind, output std). "class" logits are centred per
# class, "mask" logits per class channel; "box" encodings and "hidden" layers only scaled (the
# mask head's convs have no BatchNorm: unscaled, its logits would be ~1e4 and their sigmoid a
# step that float rounding flips).
TARGETS = {"ClassPredictor": ("class", 1.0), "ClassPredictor_dense": ("class", 1.5),
           "BoxEncodingPredictor": ("box", 0.5), "BoxEncodingPredictor_dense": ("box", 0.5),
           "MaskPredictor_conv2d_0": ("hidden", 1.0), "MaskPredictor_upsample_conv2d": ("hidden", 1.0),
           "MaskPredictor_last_conv2d": ("mask", 1.0)}
CONFIG = """
model {
  faster_rcnn {
    STAGES
    num_classes: 3
    image_resizer { keep_aspect_ratio_resizer { min_dimension: 160 max_dimension: 160 pad_to_max_dimension: true } }
    feature_extractor { type: 'faster_rcnn_resnet50_keras' batch_norm_trainable: true }
    first_stage_anchor_generator { grid_anchor_generator {
      scales: [0.25, 0.5, 1.0, 2.0] aspect_ratios: [0.5, 1.0, 2.0] height_stride: 16 width_stride: 16 } }
    first_stage_box_predictor_conv_hyperparams {
      op: CONV regularizer { l2_regularizer { weight: 0.0 } }
      initializer { truncated_normal_initializer { stddev: 0.01 } } }
    first_stage_nms_score_threshold: 0.0
    first_stage_nms_iou_threshold: 0.7
    first_stage_max_proposals: 30
    first_stage_localization_loss_weight: 2.0
    first_stage_objectness_loss_weight: 1.0
    initial_crop_size: 14
    maxpool_kernel_size: 2
    maxpool_stride: 2
    second_stage_box_predictor { mask_rcnn_box_predictor {
      use_dropout: false dropout_keep_probability: 1.0
      fc_hyperparams { op: FC regularizer { l2_regularizer { weight: 0.0 } }
        initializer { variance_scaling_initializer { factor: 1.0 uniform: true mode: FAN_AVG } } }
      share_box_across_classes: true MASK_HEAD } }
    second_stage_post_processing { batch_non_max_suppression {
      score_threshold: 0.0 iou_threshold: 0.6 max_detections_per_class: 20 max_total_detections: 20 }
      score_converter: SOFTMAX }
    second_stage_localization_loss_weight: 2.0
    second_stage_classification_loss_weight: 1.0
    use_static_shapes: true
    use_matmul_crop_and_resize: true
    clip_anchors_to_image: true
    use_static_balanced_label_sampler: true
    use_matmul_gather_in_matcher: true
  }
}
"""


def layers_of(model):
    seen, out = set(), []
    for m in model.submodules:
        if id(m) not in seen and isinstance(m, tf.keras.layers.Layer):
            seen.add(id(m))
            out.append(m)
    return out


def install_calibration(model, rng):
    """Wrap each BatchNorm and predictor layer so that its first call calibrates it."""
    done = set()
    for layer in layers_of(model):
        if hasattr(layer, "moving_mean") and hasattr(layer, "moving_variance"):
            def bn_call(inputs, *a, _l=layer, _o=layer.call, **k):
                if id(_l) not in done:
                    axes = list(range(len(inputs.shape) - 1))
                    c = inputs.shape[-1]
                    _l.moving_mean.assign(tf.reduce_mean(inputs, axes))
                    _l.moving_variance.assign(tf.math.reduce_variance(inputs, axes) + 1e-3)
                    _l.gamma.assign(rng.uniform(0.6, 1.4, c).astype(np.float32))
                    _l.beta.assign(rng.normal(0.1, 0.3, c).astype(np.float32))
                    done.add(id(_l))
                return _o(inputs, *a, **k)
            layer.call = bn_call
        elif layer.name in TARGETS and hasattr(layer, "kernel"):
            kind, target = TARGETS[layer.name]

            def pred_call(inputs, *a, _l=layer, _o=layer.call, _kind=kind, _t=target, **k):
                if id(_l) not in done:
                    pre = _o(inputs, *a, **k) - _l.bias
                    axes = list(range(len(pre.shape) - 1))
                    # logits centred per class (a shared component would make one class win
                    # everywhere), then scaled to std _t
                    centred = _kind in ("class", "mask")
                    mean = tf.reduce_mean(pre, axes) if centred else tf.zeros_like(_l.bias)
                    scale = _t / max(float(tf.math.reduce_std(pre - mean)), 1e-12)
                    _l.kernel.assign(_l.kernel * scale)
                    noise = rng.normal(0.0, 0.1, _l.bias.shape) if _kind == "class" else 0.0
                    _l.bias.assign((-mean * scale + noise).numpy().astype(np.float32))
                    done.add(id(_l))
                return _o(inputs, *a, **k)
            layer.call = pred_call


def forward(model, image):
    pre, shapes = model.preprocess(tf.cast(image, tf.float32))
    return model.postprocess(model.predict(pre, shapes), shapes)


def main(out_dir: Path, mask: bool) -> None:
    name = NAMES[mask]
    work = out_dir / name
    shutil.rmtree(work, ignore_errors=True)
    cfg = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(CONFIG.replace("STAGES", "number_of_stages: 3" if mask else "")
                      .replace("MASK_HEAD", MASK_HEAD if mask else ""), cfg)
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    image = scene(150, 200, 0)
    model = model_builder.build(cfg.model, is_training=False)
    forward(model, image)  # creates the variables
    base = np.random.default_rng(1).standard_normal(PERIOD).astype(np.float32)
    for v in model.variables:
        if "kernel" in v.name.split("/")[-1]:
            n = int(np.prod(v.shape))
            v.assign(base[(np.arange(n) + int(rng.integers(0, PERIOD))) % PERIOD].reshape(v.shape))
    install_calibration(model, rng)
    forward(model, image)
    ckpt_dir = out_dir / "train"
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(ckpt_dir), 1).save()
    exporter_lib_v2.export_inference_graph("image_tensor", cfg, str(ckpt_dir), str(work))
    shutil.rmtree(ckpt_dir)
    shutil.rmtree(work / "checkpoint")
    archive = Path(__file__).with_name(f"{name}.tar.xz")
    tar = subprocess.Popen(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
                            "--mtime=2026-12-03", "-C", str(out_dir), "-cf", "-", name],
                           stdout=subprocess.PIPE)
    with open(archive, "wb") as f:
        subprocess.run(["xz", "-9e", "-T1"], stdin=tar.stdout, stdout=f, check=True)
    tar.wait()
    fn = tf.saved_model.load(str(work / "saved_model")).signatures["serving_default"]
    for i, (h, w) in enumerate([(150, 200), (117, 205), (230, 149)]):
        out = fn(input_tensor=tf.constant(scene(h, w, i)))
        classes, counts = np.unique(out["detection_classes"].numpy(), return_counts=True)
        scores = out["detection_scores"].numpy()[0]
        masks = f", masks {float(out['detection_masks'].numpy().std()):.3f} std" if mask else ""
        print(f"image {i} {h}x{w}: {int(out['num_detections'][0])} detections, classes "
              f"{dict(zip(classes.astype(int).tolist(), counts.tolist()))}, scores "
              f"{scores.min():.3f}-{scores.max():.3f}{masks}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:] == ["mask"])
