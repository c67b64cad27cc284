"""Test models for output selection and frozen function calls (issue 10, points 1 and 2).

    python -m tf_frontend.outputnets CACHE_DIR NAME [NAME ...]

Built in a subprocess (``get``), cached next to the zoo's cases (``zoo.cache_dir()``), and
randomised like the zoo's nets (He-normal weights, random batch-norm affine parameters, moving
statistics calibrated on random images, standardised classifier, two reference images with
different top-1 classes):

``slim_resnet``, ``slim_inception``
    tf_slim nets built the usual way, under their default ``arg_scope``, so every kernel feeds
    an L2 weight regularizer (``Regularizer/l2_regularizer``, an ``L2Loss`` sink): a reduced
    ResNet v1 (64x64) and Inception v2 at a quarter of the depth (96x96). Forms: an
    inference graph of the whole graph (binary and text, Saver nodes included) with a V2
    checkpoint (and a V1 one, which TensorFlow freezes), the MetaGraph ``Saver.save`` writes (collections, no signature), a MetaGraph
    with a ``serving_default`` signature, a frozen graph that keeps every sink (regularizers
    included) and a TF1 SavedModel. The reference holds the logits and the predictions.
``regnet``
    tf_keras ``RegNetX002`` (64x64, weights=None) frozen with
    ``convert_variables_to_constants_v2``: its grouped convolutions stay ``PartitionedCall``
    nodes calling the function library. Also its SavedModel.
``nested_calls``
    a hand-built frozen graph whose functions call functions (kept by ``_noinline``), one
    with two results, and a call as the graph's output.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

NAMES = ("slim_resnet", "slim_inception", "regnet", "nested_calls")
FORMAT = 2  # bump when a builder changes what it writes


# --- cache (pytest side: no TensorFlow import) ----------------------------------------------


def cache_dir() -> pathlib.Path:
    from models import zoo
    d = zoo.cache_dir() / f"tf-frontend-outputs-{FORMAT}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _built(name: str) -> bool:
    return (cache_dir() / name / "meta.json").is_file()


def get(name: str) -> tuple[pathlib.Path, dict]:
    """(directory, meta.json) of a built model, building it on first use."""
    from models import zoo
    if not _built(name):
        root = cache_dir()
        with zoo._file_lock(root / ".lock"):
            if not _built(name):
                proc = subprocess.run([sys.executable, "-m", "tf_frontend.outputnets",
                                       str(root), name],
                                      env=zoo._subprocess_env(), cwd=str(zoo._TESTS_DIR),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, timeout=zoo._BUILD_TIMEOUT)
                if proc.returncode != 0 or not _built(name):
                    tail = "\n".join(proc.stdout.splitlines()[-60:])
                    raise RuntimeError(f"building {name} failed (exit {proc.returncode}):\n{tail}")
    d = cache_dir() / name
    return d, json.loads((d / "meta.json").read_text())


# --- builders (subprocess side) ---------------------------------------------------------------


def _pick_reference(run, make_inputs):
    """Two images with different top-1 classes (of 8 candidates) and their outputs."""
    cand = make_inputs(8)
    top1 = run(cand)[0].reshape(len(cand), -1).argmax(axis=1)
    j = next((i for i in range(1, len(top1)) if top1[i] != top1[0]), None)
    if j is None:
        raise RuntimeError(f"degenerate net: every candidate has top-1 {top1[0]}")
    x = np.ascontiguousarray(cand[[0, j]])
    return x, run(x)


def _slim_net(which: str):
    """(net_fn(images, is_training) -> (logits, predictions), arg_scope_fn, size)."""
    from tf_slim.nets import inception, resnet_v1
    if which == "slim_resnet":
        blocks = [resnet_v1.resnet_v1_block("block1", base_depth=8, num_units=2, stride=2),
                  resnet_v1.resnet_v1_block("block2", base_depth=16, num_units=1, stride=2),
                  resnet_v1.resnet_v1_block("block3", base_depth=32, num_units=1, stride=1)]

        def net(images, is_training):
            logits, ends = resnet_v1.resnet_v1(images, blocks, num_classes=10,
                                               is_training=is_training, scope="resnet_v1_small")
            return logits, ends["predictions"]
        return net, resnet_v1.resnet_arg_scope, 64

    def net(images, is_training):
        logits, ends = inception.inception_v2(images, num_classes=10, is_training=is_training,
                                              depth_multiplier=0.25, min_depth=8)
        return logits, ends["Predictions"]
    return net, inception.inception_v2_arg_scope, 96


def build_slim(which: str, out: pathlib.Path) -> dict:
    import tensorflow as tf
    import tf_slim as slim

    from models import _build as zb
    zb._fix_legacy_layers_alias()
    v1 = tf.compat.v1
    net, scope_fn, size = _slim_net(which)
    rng = np.random.default_rng(zb._seed(which))
    g = tf.Graph()
    with g.as_default():
        v1.set_random_seed(1)
        x = v1.placeholder(tf.float32, [None, size, size, 3], name="input")
        with slim.arg_scope(scope_fn()):
            logits, predictions = net(x, is_training=False)
        regularizers = v1.get_collection(v1.GraphKeys.REGULARIZATION_LOSSES)
        assert regularizers, "the arg_scope added no weight regularizers"
        gvars = {v.op.name: v for v in v1.global_variables()}
        cfg = v1.ConfigProto()
        cfg.graph_options.rewrite_options.disable_meta_optimizer = True
        with v1.Session(graph=g, config=cfg) as sess:
            sess.run(v1.global_variables_initializer())
            chosen = {}
            for name, var in sorted(gvars.items()):
                shape, leaf = tuple(var.shape.as_list()), name.rsplit("/", 1)[-1]
                if leaf == "gamma":
                    chosen[name] = rng.uniform(0.5, 1.5, shape)
                elif leaf == "beta":
                    chosen[name] = rng.normal(0.0, 0.1, shape)
                elif leaf == "biases":
                    chosen[name] = rng.normal(0.0, 0.05, shape)
                elif leaf in ("weights", "depthwise_weights", "pointwise_weights"):
                    fan_in = int(np.prod(shape[:2] if leaf == "depthwise_weights" else shape[:-1]))
                    chosen[name] = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            zb._load_all(tf, sess, gvars, {k: np.asarray(v, np.float32) for k, v in chosen.items()})
            calib = zb.make_images(rng, 8, size, -1.0, 1.0)
            bn_ops = [op for op in g.get_operations() if op.type in zb._BN_OPS]
            values = sess.run(gvars)

            def train_net(images, num_classes=None, is_training=True):
                return net(images, is_training)
            stats = zb._batch_statistics(tf, slim, train_net, scope_fn, size, values, calib, cfg)
            moving = {}
            for op in bn_ops:
                mean, var = stats[zb._source_variable_op(op.inputs[2]).name]
                moving[zb._source_variable_op(op.inputs[3]).name] = mean
                moving[zb._source_variable_op(op.inputs[4]).name] = var
            zb._load_all(tf, sess, gvars, moving)
            head_out, head_w, head_b = zb._slim_head(logits, gvars)
            head_x = np.concatenate([calib, zb.make_images(rng, 8, size, -1.0, 1.0)])
            y, w, b = sess.run([head_out, head_w, head_b], {x: head_x})
            w, b, _ = zb.standardize_head(y, w, b, rng)
            head_w.load(w, sess)
            head_b.load(b, sess)

            ref_x, (ref_logits, ref_probs) = _pick_reference(
                lambda a: sess.run([logits, predictions], {x: a}),
                lambda n: zb.make_images(rng, n, size, -1.0, 1.0))
            (out / "ckpt").mkdir()
            saver = v1.train.Saver()
            prefix = saver.save(sess, str(out / "ckpt" / "model.ckpt"), write_state=False)
            (out / "ckpt_v1").mkdir()  # TensorFlow freezes V1 checkpoints (the fallback path)
            v1.train.Saver(write_version=v1.train.SaverDef.V1).save(
                sess, str(out / "ckpt_v1" / "model.ckpt"), write_state=False,
                write_meta_graph=False)
            graph_def = g.as_graph_def()  # the whole graph: regularizers and Saver included
            tf.io.write_graph(graph_def, str(out), "inference_graph.pb", as_text=False)
            tf.io.write_graph(graph_def, str(out), "inference_graph.pbtxt", as_text=True)
            info = v1.saved_model.utils.build_tensor_info
            signature = v1.saved_model.signature_def_utils.build_signature_def(
                {"images": info(x)}, {"logits": info(logits), "probabilities": info(predictions)},
                "tensorflow/serving/predict")
            meta = saver.export_meta_graph()
            meta.signature_def["serving_default"].CopyFrom(signature)
            (out / "ckpt" / "signature.meta").write_bytes(meta.SerializeToString())
            sinks = [predictions.op.name] + [t.op.name for t in regularizers]
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph_def, sinks)
            (out / "frozen.pb").write_bytes(frozen.SerializeToString(deterministic=True))
            builder = v1.saved_model.builder.SavedModelBuilder(str(out / "saved_model"))
            builder.add_meta_graph_and_variables(sess, ["serve"],
                                                 signature_def_map={"serving_default": signature})
            builder.save()
    np.savez(out / "reference.npz", input=ref_x, logits=ref_logits, predictions=ref_probs)
    return {"input": "input", "logits": logits.name, "predictions": predictions.name,
            "regularizers": len(regularizers), "checkpoint": os.path.relpath(prefix, out),
            "size": size, "top1": [int(v) for v in ref_logits.reshape(2, -1).argmax(axis=1)]}


def _keras_calibrated_regnet(tf, keras, rng, size: int):
    from models import _build as zb
    model = keras.applications.RegNetX002(weights=None, input_shape=(size, size, 3),
                                          classifier_activation=None)
    layers = zb._keras_layers(model)
    bns = [la for la in layers if isinstance(la, keras.layers.BatchNormalization)]
    for la in layers:
        bias = getattr(la, "bias", None)
        if bias is not None and la not in bns:
            bias.assign(rng.normal(0.0, 0.05, tuple(bias.shape)).astype(np.float32))
    for bn in bns:
        bn.gamma.assign(rng.uniform(0.5, 1.5, tuple(bn.gamma.shape)).astype(np.float32))
        bn.beta.assign(rng.normal(0.0, 0.1, tuple(bn.beta.shape)).astype(np.float32))
        bn.momentum = 0.0
    calib = zb.make_images(rng, 8, size, 0.0, 255.0)
    model(tf.constant(calib), training=True)  # moving statistics := the batch's
    head = [la for la in layers if getattr(la, "kernel", None) is not None][-1]
    head_x = np.concatenate([calib, zb.make_images(rng, 8, size, 0.0, 255.0)])
    y = keras.Model(model.inputs, head.output)(tf.constant(head_x), training=False)
    k, b, _ = zb.standardize_head(np.asarray(y), np.asarray(head.kernel), np.asarray(head.bias),
                                  rng)
    head.kernel.assign(k)
    head.bias.assign(b)
    return model


def build_regnet(out: pathlib.Path) -> dict:
    import tensorflow as tf
    import tf_keras as keras
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from models import _build as zb
    size = 64
    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(zb._seed("regnet"))
    model = _keras_calibrated_regnet(tf, keras, rng, size)
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([None, size, size, 3], tf.float32,
                                                      name="input"))
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    (out / "frozen.pb").write_bytes(graph_def.SerializeToString(deterministic=True))
    ref_x, (ref_logits,) = _pick_reference(lambda a: [frozen(tf.constant(a))[0].numpy()],
                                           lambda n: zb.make_images(rng, n, size, 0.0, 255.0))
    live = model(tf.constant(ref_x), training=False).numpy()
    assert np.abs(live - ref_logits).max() <= 1e-4 * np.abs(ref_logits).max()
    model.save(str(out / "saved_model"), save_format="tf", signatures=concrete,
               save_traces=False)
    np.savez(out / "reference.npz", input=ref_x, logits=ref_logits)
    calls = sorted(n.name for n in graph_def.node if n.op.endswith("PartitionedCall"))
    return {"input": frozen.inputs[0].op.name, "logits": frozen.outputs[0].name,
            "calls": calls, "functions": len(graph_def.library.function)}


def build_nested(out: pathlib.Path) -> dict:
    """x -> outer(x) where outer calls inner twice (inner returns two tensors), and the last
    call is the graph's output. ``_noinline`` keeps the calls through freezing."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    rng = np.random.default_rng(11)
    w1 = tf.Variable(rng.standard_normal((6, 8)).astype(np.float32) * 0.5)
    w2 = tf.Variable(rng.standard_normal((8, 8)).astype(np.float32) * 0.4)
    w3 = tf.Variable(rng.standard_normal((8, 5)).astype(np.float32) * 0.4)
    keep = {"_noinline": True}

    @tf.function(experimental_attributes=keep)
    def inner(x, w):
        y = tf.matmul(x, w)
        return tf.nn.relu(y), tf.tanh(y)

    @tf.function(experimental_attributes=keep)
    def outer(x):
        a, b = inner(x, w1)
        c, d = inner(a + b, w2)
        return c - 0.5 * d

    @tf.function(experimental_attributes=keep)
    def head(h):
        return tf.matmul(h, w3)

    def model(x):
        return head(outer(x))

    concrete = tf.function(model).get_concrete_function(tf.TensorSpec([None, 6], tf.float32,
                                                                      name="input"))
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    (out / "frozen.pb").write_bytes(graph_def.SerializeToString(deterministic=True))
    x = rng.standard_normal((3, 6)).astype(np.float32)
    y = frozen(tf.constant(x))[0].numpy()
    np.savez(out / "reference.npz", input=x, logits=y)
    calls = sorted(n.name for n in graph_def.node if n.op.endswith("PartitionedCall"))
    nested = sum(1 for f in graph_def.library.function for n in f.node_def
                 if n.op.endswith("PartitionedCall"))
    return {"input": frozen.inputs[0].op.name, "logits": frozen.outputs[0].name,
            "calls": calls, "nested_calls": nested, "functions": len(graph_def.library.function)}


BUILDERS = {"slim_resnet": lambda out: build_slim("slim_resnet", out),
            "slim_inception": lambda out: build_slim("slim_inception", out),
            "regnet": build_regnet, "nested_calls": build_nested}


def main(argv: list[str]) -> int:
    root = pathlib.Path(argv[1])
    for name in argv[2:]:
        final = root / name
        if (final / "meta.json").is_file():
            continue
        tmp = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{name}-"))
        try:
            meta = BUILDERS[name](tmp)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
