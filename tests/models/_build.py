"""Builder subprocess for the model zoo.

    python -m models._build CACHE_DIR NAME [NAME ...]

All names must belong to one family (keras3 / tf_keras / slim) - the families
use incompatible Keras/TF worlds and are never mixed in one process.  Each
case is built into a temp dir inside CACHE_DIR and atomically renamed to
CACHE_DIR/NAME (if another process won the race, our copy is discarded).

Per case the directory holds:
  model.pb       frozen binary GraphDef
  reference.npz  inputs (under the input names) and TF outputs (output names)
  meta.json      inputs/outputs/shapes + build info (time, ops, logits stats)
                 and "forms": the non-frozen forms below, relative paths
slim cases also keep (same weights as model.pb):
  ckpt/model.ckpt.{index,data-*}  V2 checkpoint
  ckpt/model.ckpt.meta            its MetaGraph
  inference_graph.pb / .pbtxt     the un-frozen inference GraphDef (binary / text)
Keras cases (zoo.SAVED_MODEL_APPS: all) also keep:
  saved_model/   Keras 3 ``model.export``; tf_keras ``tf.saved_model.save`` (layer calls traced)
                 for zoo.TRACED_SAVED_MODEL_APPS, else ``model.save(save_traces=False)``
A cached case that lacks a form zoo.expected_forms() lists is rebuilt and swapped in.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import collections  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402

from models import _custom, zoo  # noqa: E402

REF_BATCH = 2
CALIB_BATCH = 8  # batch-norm statistics calibration
HEAD_BATCH = 16  # classifier standardisation (calibration batch + 8 more)
N_CANDIDATES = 8  # candidate reference images (pick 2 with different top-1)

# Input value range each Keras application expects *after* its
# `preprocess_input` (EfficientNet preprocesses inside the model).
_KERAS_RANGE = {
    "MobileNet": (-1.0, 1.0),
    "MobileNetV2": (-1.0, 1.0),
    "InceptionV3": (-1.0, 1.0),
    "Xception": (-1.0, 1.0),
    "ResNet50V2": (-1.0, 1.0),
    "ResNet50": (-128.0, 128.0),  # "caffe": BGR minus ImageNet mean
    "VGG16": (-128.0, 128.0),  # "caffe"
    "DenseNet121": (-2.0, 2.0),  # "torch": (x/255 - mean) / std
    "EfficientNetB0": (0.0, 255.0),  # raw pixels, rescaling is in the model
    # Keras' default include_preprocessing=True: raw pixels, Rescaling/Normalization in the model
    "MobileNetV3Small": (0.0, 255.0),
    "MobileNetV3Large": (0.0, 255.0),
    "ConvNeXtTiny": (0.0, 255.0),
    "RegNetX002": (0.0, 255.0),
    "TransformerEncoder": (-1.0, 1.0),
}
# ConvNeXtTiny at 96x96 (3x3 at its last stage): a ninth of its 224x224 FLOPs for CI.
_KERAS_SIZE = {"InceptionV3": 299, "Xception": 299, "ConvNeXtTiny": 96,
               "TransformerEncoder": _custom.VIT_IMAGE}
_CUSTOM_KERAS = {"TransformerEncoder": _custom.transformer_encoder, "TCN": _custom.tcn}


def _seed(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def make_images(rng: np.random.Generator, n: int, size: int, lo: float, hi: float):
    """Random but image-like batch in [lo, hi].

    Each image gets its own "style" - grid size of the random colour blocks,
    contrast, colour offset and amount of fine noise - so that images differ
    in global statistics.  (Images drawn from one i.i.d. distribution give
    near-identical globally pooled features in a random network, hence
    near-identical logits.)"""
    out = np.empty((n, size, size, 3), np.float64)
    for i in range(n):
        grid = int(rng.choice([2, 4, 8, 16, 32]))
        coarse = rng.uniform(-1.0, 1.0, (grid, grid, 3))
        idx = (np.arange(size) * grid) // size
        img = coarse[idx][:, idx]
        img = (rng.uniform(-0.5, 0.5, (1, 1, 3))
               + rng.uniform(0.2, 1.0) * img
               + rng.uniform(0.0, 0.5) * rng.uniform(-1.0, 1.0, (size, size, 3)))
        out[i] = np.clip(img, -1.0, 1.0)
    return (lo + (out + 1.0) * 0.5 * (hi - lo)).astype(np.float32)


def logits_stats(logits: np.ndarray) -> dict:
    logits = np.asarray(logits, np.float64).reshape(logits.shape[0], -1)
    amax = np.abs(logits).max(axis=1)
    std_rel = logits.std(axis=1) / np.maximum(amax, 1e-30)
    return {
        "std_rel_min": float(std_rel.min()),
        "std": [float(v) for v in logits.std(axis=1)],
        "absmax": float(amax.max()),
        "top1": [int(v) for v in logits.argmax(axis=1)],
        "finite": bool(np.isfinite(logits).all()),
    }


def standardize_head(y, kernel, bias, rng):
    """Data-dependent re-scaling of the classifier layer.

    ``y`` are the classifier's outputs (kernel/bias applied) on HEAD_BATCH
    random images.  Random nets map all inputs to similar feature vectors,
    so the logits would be dominated by the common part and every image would
    get the same top-1.  Remove the batch mean through the bias and scale so
    that the image-dependent part has unit std; a little bias noise keeps a
    per-class offset.  Returns (new kernel, new bias, info dict)."""
    y = np.asarray(y, np.float64)
    m = y.reshape(-1, y.shape[-1]).mean(axis=0)
    s = float((y - m).std())
    if not np.isfinite(s) or s <= 0:
        raise RuntimeError(f"classifier output has no variation (std={s})")
    kernel = np.asarray(kernel, np.float64) / s
    bias = (np.asarray(bias, np.float64) - m) / s + rng.normal(0.0, 0.1, m.shape)
    # head_gain ~ how much rounding errors of the features get amplified by
    # removing the common part (1 = no cancellation).
    info = {"head_gain": float(np.sqrt(np.mean(y * y)) / s)}
    return kernel.astype(np.float32), bias.astype(np.float32), info


# --------------------------------------------------------------------------
# frozen-graph helpers (TF imported lazily by the family builders)


class FrozenRunner:
    """Runs a frozen GraphDef with a TF1 session (graph imported once)."""

    def __init__(self, tf, graph_def):
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        # No graph rewriting: constant folding over VGG-sized constants costs
        # tens of seconds, and the reference should be the graph as written.
        cfg = tf.compat.v1.ConfigProto()
        cfg.graph_options.rewrite_options.disable_meta_optimizer = True
        cfg.graph_options.optimizer_options.opt_level = tf.compat.v1.OptimizerOptions.L0
        self.sess = tf.compat.v1.Session(graph=self.graph, config=cfg)

    def __call__(self, feeds: dict, outputs: list):
        return self.sess.run(
            [o + ":0" for o in outputs], {k + ":0": v for k, v in feeds.items()}
        )

    def close(self):
        self.sess.close()


def finish_case(tf, name, graph_def, inputs, outputs, make_inputs, outdir, extra):
    """Choose reference inputs, run the frozen graph, check non-degeneracy and
    write model.pb / reference.npz / meta.json to ``outdir``."""
    assert len(inputs) == 1 and len(outputs) == 1, (inputs, outputs)
    in_name, out_name = next(iter(inputs)), outputs[0]
    run = FrozenRunner(tf, graph_def)
    cand = make_inputs(N_CANDIDATES)
    cand_out = run({in_name: cand}, outputs)[0]
    cst = logits_stats(cand_out)
    top1 = cst["top1"]
    if not cst["finite"]:
        raise RuntimeError(f"{name}: non-finite logits")
    if len(set(top1)) < 2:
        raise RuntimeError(f"{name}: degenerate, all candidates have top-1 {top1[0]}")
    j = next(i for i in range(1, len(top1)) if top1[i] != top1[0])
    x = np.ascontiguousarray(cand[[0, j]])
    y = run({in_name: x}, outputs)[0]
    run.close()
    st = logits_stats(y)
    if st["std_rel_min"] <= 1e-2:
        raise RuntimeError(f"{name}: degenerate logits {st}")
    if y.ndim != 2 or y.shape[0] != REF_BATCH or y.shape[1] < 10:
        raise RuntimeError(f"{name}: unexpected logits shape {y.shape}")

    (outdir / "model.pb").write_bytes(graph_def.SerializeToString(deterministic=True))
    np.savez(outdir / "reference.npz", **{in_name: x, out_name: y})
    ops = collections.Counter(n.op for n in graph_def.node)
    meta = {
        "name": name,
        "pb": "model.pb",
        "reference": "reference.npz",
        "inputs": {k: list(v) for k, v in inputs.items()},
        "outputs": list(outputs),
        "num_nodes": len(graph_def.node),
        "num_library_functions": len(graph_def.library.function),
        "op_counts": dict(sorted(ops.items())),
        "logits": st,
        "candidate_top1": top1,
        "versions": {
            "tensorflow": tf.__version__,
            "numpy": np.__version__,
        },
    }
    meta.update(extra)
    return meta


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(root: pathlib.Path, name: str, build_fn) -> None:
    final = root / name
    if zoo.is_complete(final, name):
        return
    tmp = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{name}-"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700
    try:
        t0 = time.perf_counter()
        meta = build_fn(tmp)
        meta["build_seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        old = None
        if final.exists():  # an older build without some form: swap the new one in
            old = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=f".old-{name}-"))
            os.rename(final, old / name)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "meta.json").is_file():
                raise
            # another builder won the race: keep theirs
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"[zoo] built {name} in {meta['build_seconds']}s", flush=True)


# --------------------------------------------------------------------------
# Keras 3 / tf_keras


def _keras_layers(model):
    """All layers, recursing into nested models."""
    out = []
    for layer in model.layers:
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(_keras_layers(layer))
    return out


def build_keras(family: str, app: str, outdir: pathlib.Path) -> dict:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    if family == "keras3":
        import keras
    else:
        import tf_keras as keras
    name = f"{family}-{app}"
    seed = _seed(name)
    # Fresh layer-name counters: graph node names must not depend on which
    # other models were built earlier in this process.
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)

    if app == "TCN":
        input_shape = (_custom.TCN_STEPS, _custom.TCN_FEATURES)
        lo, hi = -1.0, 1.0  # not a range: make_sequences decides

        def make_inputs(n):
            return _custom.make_sequences(rng, n)
    else:
        size = _KERAS_SIZE.get(app, 224)
        input_shape = (size, size, 3)
        lo, hi = _KERAS_RANGE[app]

        def make_inputs(n):
            return make_images(rng, n, size, lo, hi)
    if app in _CUSTOM_KERAS:
        model = _CUSTOM_KERAS[app](keras)
    else:
        # (the older cases keep the graphs they were cached with: no input_shape argument)
        kwargs = {"input_shape": input_shape} if app in zoo.EXTRA_CASES[family] else {}
        model = getattr(keras.applications, app)(weights=None, classifier_activation=None,
                                                 **kwargs)
    assert tuple(model.input_shape) == (None,) + input_shape, model.input_shape

    layers = _keras_layers(model)
    bns = [l for l in layers if isinstance(l, keras.layers.BatchNormalization)]
    # Randomise biases (zero-initialised by Keras) so bias handling is tested.
    for layer in layers:
        bias = getattr(layer, "bias", None)
        if bias is not None and not isinstance(layer, keras.layers.BatchNormalization):
            bias.assign(rng.normal(0.0, 0.05, tuple(bias.shape)).astype(np.float32))
    if not bns:
        # No batch norm (VGG16): He-normal re-init keeps ReLU activations O(1).
        for layer in layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
                k = layer.kernel
                fan_in = int(np.prod(k.shape[:-1]))
                w = rng.standard_normal(tuple(k.shape), dtype=np.float32)
                w *= np.float32(np.sqrt(2.0 / fan_in))
                k.assign(w)
    norms = bns + [l for l in layers if isinstance(l, keras.layers.LayerNormalization)]
    for bn in norms:
        if getattr(bn, "gamma", None) is not None:
            bn.gamma.assign(rng.uniform(0.5, 1.5, tuple(bn.gamma.shape)).astype(np.float32))
        if getattr(bn, "beta", None) is not None:
            bn.beta.assign(rng.normal(0.0, 0.1, tuple(bn.beta.shape)).astype(np.float32))

    calib = make_inputs(CALIB_BATCH)
    if bns:
        # Calibrate moving statistics: momentum 0 + one training-mode pass
        # makes every BN's moving stats equal to its batch stats, so
        # inference on the calibration batch reproduces the (well-scaled)
        # training-mode activations.  Dropout (incl. EfficientNet's
        # drop-connect) is disabled during the pass.
        drops = [l for l in layers if isinstance(l, keras.layers.Dropout)]
        saved_m = [bn.momentum for bn in bns]
        saved_r = [d.rate for d in drops]
        for bn in bns:
            bn.momentum = 0.0
        for d in drops:
            d.rate = 0.0
        model(tf.constant(calib), training=True)
        for bn, m in zip(bns, saved_m):
            bn.momentum = m
        for d, r in zip(drops, saved_r):
            d.rate = r

    # Classifier layer = last layer with a kernel (Dense, or the 1x1 Conv2D
    # in MobileNet).  Standardise its outputs over HEAD_BATCH images.
    head = [l for l in layers if getattr(l, "kernel", None) is not None][-1]
    head_x = np.concatenate([calib, make_inputs(HEAD_BATCH - CALIB_BATCH)])
    y = keras.Model(model.inputs, head.output)(tf.constant(head_x), training=False)
    k, b, head_info = standardize_head(np.asarray(y), np.asarray(head.kernel),
                                       np.asarray(head.bias), rng)
    head.kernel.assign(k)
    head.bias.assign(b)

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(
        tf.TensorSpec((None,) + input_shape, tf.float32, name="input")
    )
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    inputs = {
        t.name.split(":")[0]: tuple(t.shape.as_list())
        for t in frozen.inputs
        if t.dtype != tf.resource
    }
    outputs = [t.name.split(":")[0] for t in frozen.outputs]

    meta = finish_case(tf, name, graph_def, inputs, outputs, make_inputs, outdir, {})
    # Sanity: the frozen graph computes what the live model computes.
    ref = np.load(outdir / "reference.npz")
    live = np.asarray(model(tf.constant(ref[next(iter(inputs))]), training=False))
    frozen_out = ref[outputs[0]]
    meta["live_vs_frozen_rel"] = float(
        np.abs(live - frozen_out).max() / np.abs(frozen_out).max()
    )
    if meta["live_vs_frozen_rel"] > 1e-4:
        raise RuntimeError(f"{name}: frozen graph differs from live model: {meta['live_vs_frozen_rel']}")
    forms = {}
    t_forms = time.perf_counter()
    if app in zoo.SAVED_MODEL_APPS:
        sm_dir = outdir / "saved_model"
        if family == "keras3":
            model.export(str(sm_dir), verbose=False)  # signature input named after model input
            saver = "keras.Model.export"
        elif app in zoo.TRACED_SAVED_MODEL_APPS:
            tf.saved_model.save(model, str(sm_dir), signatures=concrete)  # input "input"
            saver = "tf.saved_model.save"
        else:
            model.save(str(sm_dir), save_format="tf", signatures=concrete, save_traces=False)
            saver = "tf_keras.Model.save(save_traces=False)"
        forms["saved_model"] = "saved_model"
        meta["saved_model_saver"] = saver
    meta.update(
        forms=forms,
        forms_seconds=round(time.perf_counter() - t_forms, 2),
        family=family,
        model=app,
        input_range=[lo, hi],
        seed=seed,
        num_bn_layers=len(bns),
        **head_info,
        keras_version=keras.__version__,
    )
    return meta


# --------------------------------------------------------------------------
# tf_slim (TF1 graph mode)


def _slim_net(net: str):
    from tf_slim.nets import alexnet, inception, resnet_v1, resnet_v2, vgg

    return {
        "inception_v1": (inception.inception_v1, inception.inception_v1_arg_scope),
        "inception_v2": (inception.inception_v2, inception.inception_v2_arg_scope),
        "inception_v3": (inception.inception_v3, inception.inception_v3_arg_scope),
        "resnet_v1_50": (resnet_v1.resnet_v1_50, resnet_v1.resnet_arg_scope),
        "resnet_v2_50": (resnet_v2.resnet_v2_50, resnet_v2.resnet_arg_scope),
        "vgg_16": (vgg.vgg_16, vgg.vgg_arg_scope),
        "alexnet_v2": (alexnet.alexnet_v2, alexnet.alexnet_v2_arg_scope),
        "resnet_v1_101": (resnet_v1.resnet_v1_101, resnet_v1.resnet_arg_scope),
        "resnet_v1_152": (resnet_v1.resnet_v1_152, resnet_v1.resnet_arg_scope),
        "resnet_v2_101": (resnet_v2.resnet_v2_101, resnet_v2.resnet_arg_scope),
        "resnet_v2_152": (resnet_v2.resnet_v2_152, resnet_v2.resnet_arg_scope),
        "vgg_19": (vgg.vgg_19, vgg.vgg_arg_scope),
    }[net]


# Input sizes below the nets' default (global pooling makes any size work): the deep ResNets
# cost a twelfth of their 224x224 FLOPs to build, reference and test at 64x64.
_SLIM_SIZE = {"resnet_v1_101": 64, "resnet_v1_152": 64, "resnet_v2_101": 64, "resnet_v2_152": 64}
# Random deep ResNet v1s are chaotic: each post-activation unit amplifies a small perturbation,
# and the rounding differences between TF and OpenVINO (ovc's IR as much as tfconv's) grow to
# 3.5e-4 relative through resnet_v1_152's 50 units; f16 weights flip resnet_v1_101's top-1.
# Damping their residual branches (the last batch norm's gamma) keeps them in a stable regime.
_SLIM_BRANCH_GAIN = {"resnet_v1_101": 0.2, "resnet_v1_152": 0.2}


_BN_OPS = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
_VAR_OPS = ("VarHandleOp", "VariableV2", "Variable")


def _source_variable_op(tensor):
    """Follow Identity / ReadVariableOp chains back to the variable op."""
    op = tensor.op
    while op.type not in _VAR_OPS:
        if op.type not in ("Identity", "ReadVariableOp") or not op.inputs:
            raise RuntimeError(f"cannot trace {tensor.name} to a variable (at {op.type})")
        op = op.inputs[0].op
    return op


def _fix_legacy_layers_alias():
    """TF 2.21's ``tf.compat.v1.layers`` batch norm (used by slim.batch_norm)
    lazily imports ``tf_keras.legacy_tf_layers.normalization``, but tf_keras
    2.21 ships it as ``tf_keras.src.legacy_tf_layers``.  Alias it."""
    try:
        import tf_keras.legacy_tf_layers.normalization  # noqa: F401
        return
    except ImportError:
        pass
    import tf_keras.src.legacy_tf_layers as legacy
    import tf_keras.src.legacy_tf_layers.normalization as norm

    sys.modules.setdefault("tf_keras.legacy_tf_layers", legacy)
    sys.modules.setdefault("tf_keras.legacy_tf_layers.normalization", norm)


def _slim_head(logits, gvars):
    """(pre-squeeze classifier output tensor, weights var, biases var)."""
    op = logits.op
    while op.type != "BiasAdd":
        if op.type not in ("Squeeze", "Identity", "Reshape"):
            raise RuntimeError(f"unexpected op {op.type} ({op.name}) above logits BiasAdd")
        op = op.inputs[0].op
    conv = op.inputs[0].op
    if conv.type not in ("Conv2D", "MatMul"):
        raise RuntimeError(f"unexpected classifier op {conv.type} ({conv.name})")
    w = gvars[_source_variable_op(conv.inputs[1]).name]
    b = gvars[_source_variable_op(op.inputs[1]).name]
    return op.outputs[0], w, b


def _batch_statistics(tf, slim, net_fn, scope_fn, size, values, calib, cfg) -> dict:
    """Calibration in one run: {beta variable name: (mean, variance)} of every batch norm's
    input when each normalises with the batch's own statistics (a training-mode copy of the net
    in its own graph, with the variables' ``values``). Setting the inference net's moving
    statistics to them reproduces these activations on ``calib``, which is what calibrating the
    batch norms wave by wave (one run per depth, each re-planning the whole graph: minutes on
    the 100+-layer ResNets) computes."""
    g2 = tf.Graph()
    with g2.as_default():
        x2 = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3])
        with slim.arg_scope(scope_fn()):
            net_fn(x2, num_classes=1000, is_training=True)
        stats = {}
        for op in g2.get_operations():
            if op.type in _BN_OPS:
                beta = _source_variable_op(op.inputs[2]).name
                stats[beta] = tf.nn.moments(op.inputs[0], axes=[0, 1, 2])
        with tf.compat.v1.Session(graph=g2, config=cfg) as sess:
            v2 = {v.op.name: v for v in tf.compat.v1.global_variables()}
            _load_all(tf, sess, v2, {k: values[k] for k in v2})
            return sess.run(stats, {x2: calib})


def _load_all(tf, sess, variables: dict, values: dict) -> None:
    """``variables[name].load(values[name])`` for every name in one run (a run per variable
    costs a minute on the nets with a thousand variables): like ``load``, each variable's
    initializer with its initial value fed, so the graph gets no new ops."""
    names = sorted(values)
    sess.run([variables[n].initializer for n in names],
             {variables[n].initializer.inputs[1]: values[n] for n in names})


def build_slim(net: str, outdir: pathlib.Path) -> dict:
    import tensorflow as tf
    import tf_slim as slim

    _fix_legacy_layers_alias()

    name = f"slim-{net}"
    seed = _seed(name)
    rng = np.random.default_rng(seed)
    net_fn, scope_fn = _slim_net(net)
    # resnet_v*_50 are plain wrappers without the attribute (224 like resnet_v*)
    size = _SLIM_SIZE.get(net, getattr(net_fn, "default_image_size", 224))
    lo, hi = -1.0, 1.0

    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.set_random_seed(seed)
        x = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3], name="input")
        with slim.arg_scope(scope_fn()):
            logits, _ = net_fn(x, num_classes=1000, is_training=False)
        if logits.shape.rank == 4:
            # tf_slim's resnet_v*_50 have no spatial_squeeze; add the one the
            # later TF-models slim versions have (same name as theirs).
            logits = tf.squeeze(logits, [1, 2], name=f"{net}/SpatialSqueeze")
        logits_name = logits.op.name
        gvars = {v.op.name: v for v in tf.compat.v1.global_variables()}

        bn_ops = [op for op in g.get_operations() if op.type in _BN_OPS]
        # BN depth = number of BN layers on the longest path from the input;
        # layers of equal depth can be calibrated together.
        level, bn_depth = {}, {}
        for op in g.get_operations():
            lv = max([level.get(t.op, 0) for t in op.inputs]
                     + [level.get(c, 0) for c in op.control_inputs] + [0])
            if op.type in _BN_OPS:
                bn_depth[op] = lv
                lv += 1
            level[op] = lv
        waves = collections.defaultdict(list)
        bn_vars = []
        for op in bn_ops:
            if op.get_attr("is_training"):
                raise RuntimeError(f"{op.name} is in training mode")
            inp = op.inputs[0]
            mm = gvars[_source_variable_op(op.inputs[3]).name]
            mv = gvars[_source_variable_op(op.inputs[4]).name]
            mean, var = tf.nn.moments(inp, axes=[0, 1, 2])
            waves[bn_depth[op]] += [
                tf.compat.v1.assign(mm, mean).op,
                tf.compat.v1.assign(mv, var).op,
            ]
            bn_vars += [mm, mv]
        n_movings = sum(1 for k in gvars if k.endswith(("/moving_mean", "/moving_variance")))
        if n_movings != len(bn_vars):
            raise RuntimeError(f"{name}: {n_movings} moving stats vs {len(bn_ops)} fused BN ops")

        # Grappler would re-optimise the graph for every run with new fetches (seconds on the
        # 100+-layer nets); the values computed are the same without it.
        cfg = tf.compat.v1.ConfigProto()
        cfg.graph_options.rewrite_options.disable_meta_optimizer = True
        with tf.compat.v1.Session(graph=g, config=cfg) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            # Deterministic re-initialisation of everything we care about.
            chosen = {}
            for vname in sorted(gvars):
                v = gvars[vname]
                shape = tuple(v.shape.as_list())
                leaf = vname.rsplit("/", 1)[-1]
                val = None
                if leaf == "gamma":
                    val = rng.uniform(0.5, 1.5, shape)
                    if vname.endswith("/conv3/BatchNorm/gamma"):  # a residual branch's output
                        val *= _SLIM_BRANCH_GAIN.get(net, 1.0)
                elif leaf == "beta":
                    val = rng.normal(0.0, 0.1, shape)
                elif leaf == "biases":
                    val = rng.normal(0.0, 0.05, shape)
                elif leaf in ("weights", "depthwise_weights", "pointwise_weights"):
                    # He-normal; for the BN nets the scale is irrelevant
                    # (calibration renormalises) except for the logits layer.
                    fan_in = int(np.prod(shape[:-1])) if leaf != "depthwise_weights" \
                        else int(np.prod(shape[:2]))
                    val = rng.standard_normal(shape, dtype=np.float32)
                    val *= np.float32(np.sqrt(2.0 / fan_in))
                if val is not None:
                    chosen[vname] = np.asarray(val, np.float32)
            _load_all(tf, sess, gvars, chosen)
            calib = make_images(rng, CALIB_BATCH, size, lo, hi)
            if bn_ops:
                values = sess.run({k: v for k, v in gvars.items()})
                stats = _batch_statistics(tf, slim, net_fn, scope_fn, size, values, calib, cfg)
                moving = {}
                for op in bn_ops:
                    mean, var = stats[_source_variable_op(op.inputs[2]).name]
                    moving[_source_variable_op(op.inputs[3]).name] = mean
                    moving[_source_variable_op(op.inputs[4]).name] = var
                _load_all(tf, sess, gvars, moving)
            head_out, head_w, head_b = _slim_head(logits, gvars)
            head_x = np.concatenate(
                [calib, make_images(rng, HEAD_BATCH - CALIB_BATCH, size, lo, hi)])
            y, w_val, b_val = sess.run([head_out, head_w, head_b], {x: head_x})
            w_val, b_val, head_info = standardize_head(y, w_val, b_val, rng)
            head_w.load(w_val, sess)
            head_b.load(b_val, sess)
            # Non-frozen forms, written before freezing (same weights).
            t_forms = time.perf_counter()
            (outdir / "ckpt").mkdir()
            saver = tf.compat.v1.train.Saver()
            saver.save(sess, str(outdir / "ckpt" / "model.ckpt"), write_state=False)
            inference = tf.compat.v1.graph_util.extract_sub_graph(
                g.as_graph_def(), [logits_name])
            tf.io.write_graph(inference, str(outdir), "inference_graph.pb", as_text=False)
            tf.io.write_graph(inference, str(outdir), "inference_graph.pbtxt", as_text=True)
            forms = {
                "checkpoint": "ckpt/model.ckpt",
                "meta_graph": "ckpt/model.ckpt.meta",
                "inference_graph_pb": "inference_graph.pb",
                "inference_graph_pbtxt": "inference_graph.pbtxt",
            }
            forms_seconds = time.perf_counter() - t_forms
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                sess, g.as_graph_def(), [logits_name]
            )

    inputs = {"input": (None, size, size, 3)}

    def make_inputs(n):
        return make_images(rng, n, size, lo, hi)

    meta = finish_case(tf, name, frozen, inputs, [logits_name], make_inputs, outdir, {})
    meta.update(
        family="slim",
        model=net,
        input_range=[lo, hi],
        seed=seed,
        num_bn_layers=len(bn_ops),
        **head_info,
        bn_calibration_waves=len(waves),
        forms=forms,
        forms_seconds=round(forms_seconds, 2),
    )
    return meta


# --------------------------------------------------------------------------
# raw TF graphs ("tf" family: a tf.function frozen, no Keras)


def build_tf(model: str, outdir: pathlib.Path) -> dict:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    assert model == "FakeQuantMobileNet", model
    name = f"tf-{model}"
    seed = _seed(name)
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    size, lo, hi = _custom.FQ_IMAGE, -1.0, 1.0

    def make_inputs(n):
        return make_images(rng, n, size, lo, hi)

    calib = make_inputs(CALIB_BATCH)
    head_x = np.concatenate([calib, make_inputs(HEAD_BATCH - CALIB_BATCH)])
    concrete, head_info = _custom.fakequant_mobilenet(tf, rng, calib, head_x, standardize_head)
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    inputs = {t.name.split(":")[0]: tuple(t.shape.as_list()) for t in frozen.inputs}
    outputs = [t.name.split(":")[0] for t in frozen.outputs]
    meta = finish_case(tf, name, graph_def, inputs, outputs, make_inputs, outdir, {})
    meta.update(forms={}, family="tf", model=model, input_range=[lo, hi], seed=seed, **head_info)
    return meta


# --------------------------------------------------------------------------


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    root = pathlib.Path(argv[0])
    names = argv[1:]
    families = {zoo.family_of(n) for n in names}
    if len(families) != 1:
        raise SystemExit(f"one family per process, got {sorted(families)}")
    family = families.pop()
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        model = name.partition("-")[2]
        if family == "slim":
            _publish(root, name, lambda out, m=model: build_slim(m, out))
        elif family == "tf":
            _publish(root, name, lambda out, m=model: build_tf(m, out))
        else:
            _publish(root, name, lambda out, m=model: build_keras(family, m, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
