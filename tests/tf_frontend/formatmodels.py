"""Tiny non-frozen TensorFlow models in every on-disk format the spec lists (tests only).

Each builder writes its files under ``out`` and returns ``(path, feed, expected)``: the path to
hand to tfconv, one input batch (NHWC) and TensorFlow's output for it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SHAPE = (2, 8, 8, 3)


def feed(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)


def _tf():
    import tensorflow as tf
    return tf


def _v1_net(tf, rng: np.random.Generator, resource: bool):
    """x -> conv3x3(4) -> BN -> relu -> conv3x3(6) -> mean -> dense(5): a TF1 graph with variables."""
    v1 = tf.compat.v1

    def var(name, shape, scale=0.5, offset=0.0):
        value = (rng.standard_normal(shape) * scale + offset).astype(np.float32)
        return v1.get_variable(name, initializer=value, use_resource=resource)

    x = v1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
    k1 = var("conv1/kernel", (3, 3, 3, 4))
    y = tf.nn.conv2d(x, k1, strides=1, padding="SAME", name="conv1/Conv2D")
    gamma, beta = var("bn/gamma", (4,), 0.2, 1.0), var("bn/beta", (4,), 0.2)
    mean, variance = var("bn/moving_mean", (4,), 0.2), var("bn/moving_variance", (4,), 0.2, 1.0)
    y, _, _ = v1.nn.fused_batch_norm(y, gamma, beta, mean, tf.abs(variance) + 0.1,
                                     is_training=False, name="bn/FusedBatchNorm")
    y = tf.nn.relu(y)
    k2 = var("conv2/kernel", (3, 3, 4, 6))
    y = tf.nn.conv2d(y, k2, strides=1, padding="SAME") + var("conv2/bias", (6,), 0.3)
    y = tf.reduce_mean(y, axis=[1, 2])
    w, b = var("dense/kernel", (6, 5)), var("dense/bias", (5,), 0.3)
    return x, tf.identity(tf.matmul(y, w) + b, name="logits")


def checkpoint_model(out: Path, *, version: int, text: bool, resource: bool = False,
                     seed: int = 1) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """(inference graph, checkpoint prefix, feed, expected): a TF1 graph and a V1/V2 checkpoint."""
    tf = _tf()
    v1 = tf.compat.v1
    out.mkdir(parents=True, exist_ok=True)
    g = tf.Graph()
    with g.as_default():
        x, logits = _v1_net(tf, np.random.default_rng(seed), resource)
        fmt = v1.train.SaverDef.V1 if version == 1 else v1.train.SaverDef.V2
        saver = v1.train.Saver(write_version=fmt)
        data = feed(seed)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            expected = sess.run(logits, {x: data})
            prefix = saver.save(sess, str(out / "model.ckpt"), write_meta_graph=False)
    # The inference graph as a user would write it: without the Saver's nodes.
    graph_def = v1.graph_util.extract_sub_graph(
        g.as_graph_def(), ["logits"] + [op.name for op in g.get_operations()
                                        if op.type in ("Assign", "AssignVariableOp")])
    name = "inference_graph.pbtxt" if text else "inference_graph.pb"
    tf.io.write_graph(graph_def, str(out), name, as_text=text)
    return out / name, Path(prefix), data, expected


def meta_graph_model(out: Path, seed: int = 2) -> tuple[Path, np.ndarray, np.ndarray]:
    """model.meta + model.index/.data (V2): what Saver.save writes by default."""
    tf = _tf()
    v1 = tf.compat.v1
    out.mkdir(parents=True, exist_ok=True)
    g = tf.Graph()
    with g.as_default():
        x, logits = _v1_net(tf, np.random.default_rng(seed), resource=True)
        saver = v1.train.Saver()
        data = feed(seed)
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            expected = sess.run(logits, {x: data})
            saver.save(sess, str(out / "model"))
        saver.export_meta_graph(str(out / "model.pbtxt"), as_text=True)  # text, no .meta suffix
    return out / "model.meta", data, expected


def unrelated_checkpoint(out: Path) -> Path:
    """A V2 checkpoint of a graph with one variable 'other': the wrong weights for any model here."""
    tf = _tf()
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        v1.get_variable("other", initializer=np.ones((2,), np.float32))
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            return Path(v1.train.Saver().save(sess, str(out / "other.ckpt"), write_meta_graph=False))


def tf1_saved_model(out: Path, tags: list[str], seed: int = 3):
    """A TF1 SavedModel with tag set ``tags`` and two signatures:
    ``logits`` (x -> logits) and ``probs`` (x -> softmax)."""
    tf = _tf()
    v1 = tf.compat.v1
    g = tf.Graph()
    data = feed(seed)
    with g.as_default():
        x, logits = _v1_net(tf, np.random.default_rng(seed), resource=False)
        probs = tf.nn.softmax(logits, name="probs")
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            expected = dict(zip(["logits", "probs"], sess.run([logits, probs], {x: data})))
            info = v1.saved_model.utils.build_tensor_info
            sigs = {
                "logits": v1.saved_model.signature_def_utils.build_signature_def(
                    {"images": info(x)}, {"scores": info(logits)}, "tensorflow/serving/predict"),
                "probs": v1.saved_model.signature_def_utils.build_signature_def(
                    {"images": info(x)}, {"probabilities": info(probs)},
                    "tensorflow/serving/predict"),
            }
            builder = v1.saved_model.builder.SavedModelBuilder(str(out))
            builder.add_meta_graph_and_variables(sess, tags, signature_def_map=sigs)
            builder.save()
    return out, data, expected


def tf2_module_saved_model(out: Path, seed: int = 4):
    """tf.saved_model.save of a tf.Module with a tf.function signature (dict output)."""
    tf = _tf()
    rng = np.random.default_rng(seed)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.k = tf.Variable(rng.standard_normal((3, 3, 3, 4)).astype(np.float32) * 0.5)
            self.w = tf.Variable(rng.standard_normal((4, 5)).astype(np.float32) * 0.5)
            self.b = tf.Variable(rng.standard_normal((5,)).astype(np.float32) * 0.3)

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32, name="images")])
        def __call__(self, images):
            y = tf.nn.relu(tf.nn.conv2d(images, self.k, 1, "SAME"))
            y = tf.reduce_mean(y, axis=[1, 2])
            return {"scores": tf.matmul(y, self.w) + self.b}

    net = Net()
    data = feed(seed)
    expected = net(tf.constant(data))["scores"].numpy()
    tf.saved_model.save(net, str(out), signatures={"serving_default": net.__call__})
    return out, data, expected


def _keras_layers(keras, rng: np.random.Generator):
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(5),
    ])
    weights = []
    for w in model.weights:
        value = rng.standard_normal(w.shape).astype(np.float32) * 0.5
        if "variance" in w.name or "gamma" in w.name:
            value = np.abs(value) + 0.5
        weights.append(value)
    model.set_weights(weights)
    return model


def tf_keras_saved_model(out: Path, seed: int = 5):
    """A tf_keras (Keras 2) model saved with model.save(dir)."""
    import tf_keras
    model = _keras_layers(tf_keras, np.random.default_rng(seed))
    data = feed(seed)
    expected = model(data, training=False).numpy()
    model.save(str(out), save_format="tf")
    return out, data, expected


def keras3_export(out: Path, seed: int = 6):
    """A Keras 3 model exported with model.export(dir)."""
    import keras
    model = _keras_layers(keras, np.random.default_rng(seed))
    data = feed(seed)
    expected = np.asarray(model(data, training=False))
    model.export(str(out), verbose=False)
    return out, data, expected
