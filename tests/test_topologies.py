"""The spec's "other supported topologies" (issue 12, item 3): ResNeXt, DenseNet, NCF, A3C, UNet,
Keras-TCN, an lm_1b-like language model and a DeepSpeech-like acoustic model.

Each is written here to the architecture of its public repository (small widths and inputs so the
module stays cheap), with random but non-degenerate weights: BatchNorm gamma/beta randomised and
the moving statistics calibrated on random data, embeddings drawn N(0, 1). Each is converted from
a frozen GraphDef and from a SavedModel (Keras 3 models: ``tf.saved_model.save`` of a serving
function; the TF1 graphs: ``simple_save``), run by OpenVINO in f32 and compared with TensorFlow:
max|IR-TF|/max|TF| <= 1e-4 on every float output, top-1 equal on logits, exact on integers.

Models are built lazily, once per module, under a ``tmp_path_factory`` directory.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tfconv
import tfconv.errors
from ovrun import F32, core, ir_layer_types, rel_err

pytest.importorskip("openvino")
tf = pytest.importorskip("tensorflow")

TOLERANCE = 1e-4
SEQ_STEPS = 20          # time steps of the recurrent nets (the "at least 20")


# -- helpers shared by the Keras 3 models -----------------------------------------------------

def _keras():
    import keras
    return keras


def _randomise_bn(model, rng) -> None:
    """Random gamma/beta on every BatchNormalization layer; momentum 0 so that one training-mode
    pass on calibration data sets the moving statistics to that batch's exactly."""
    keras = _keras()
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype(np.float32))
            layer.beta.assign(rng.normal(0.0, 0.2, layer.beta.shape).astype(np.float32))
            layer.momentum = 0.0


def _calibrate(model, calib) -> None:
    model(calib, training=True)


def _keras_case(name, model, specs, feeds, out_keys, root: Path) -> dict:
    """Freeze ``model`` (convert_variables_to_constants_v2) and save it as a SavedModel."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    def call(*xs):
        outs = model(list(xs) if len(xs) > 1 else xs[0], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return {k: tf.identity(v, name=k) for k, v in zip(out_keys, outs)}

    serve = tf.function(call, input_signature=specs)
    concrete = serve.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    pb = root / f"{name}.pb"
    pb.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    result = concrete(*[tf.constant(x) for x in feeds])
    expected = {k: result[k].numpy() for k in out_keys}
    # the frozen graph's outputs, by the structured-output order of the concrete function
    names = {k: t.name for k, t in
             zip(sorted(out_keys), [frozen.outputs[i] for i in range(len(out_keys))])}
    module = tf.Module()
    module.model = model
    module.serve = serve
    saved = root / f"{name}_saved_model"
    tf.saved_model.save(module, str(saved), signatures={"serving_default": concrete})
    return {"frozen": pb, "saved_model": saved, "outputs": names, "out_keys": out_keys,
            "inputs": {s.name: x for s, x in zip(specs, feeds)}, "expected": expected}


# -- 1. ResNeXt (facebookresearch/ResNeXt): bottleneck blocks, grouped 3x3, cardinality 32 ----

def build_resnext(root, rng):
    keras = _keras()
    layers = keras.layers
    cardinality, group_width = 32, 2

    def block(x, width, out, stride):
        shortcut = x
        y = layers.Conv2D(width, 1, use_bias=False)(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.Conv2D(width, 3, strides=stride, padding="same", groups=cardinality,
                          use_bias=False)(y)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(out, 1, use_bias=False)(y))
        if stride != 1 or x.shape[-1] != out:
            shortcut = layers.Conv2D(out, 1, strides=stride, use_bias=False)(x)
            shortcut = layers.BatchNormalization()(shortcut)
        return layers.ReLU()(layers.Add()([y, shortcut]))

    inp = keras.Input((32, 32, 3), name="image")
    x = layers.ReLU()(layers.BatchNormalization()(
        layers.Conv2D(32, 3, padding="same", use_bias=False)(inp)))
    x = block(x, cardinality * group_width, 64, 1)
    x = block(x, cardinality * group_width * 2, 128, 2)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, layers.Dense(10)(x))
    _randomise_bn(model, rng)
    _calibrate(model, rng.normal(0, 1, (8, 32, 32, 3)).astype(np.float32))
    x = rng.normal(0, 1, (2, 32, 32, 3)).astype(np.float32)
    return _keras_case("resnext", model, [tf.TensorSpec([None, 32, 32, 3], tf.float32, "image")],
                       [x], ["logits"], root)


# -- 2. DenseNet (liuzhuang13/DenseNet): Keras DenseNet121 at 64x64 ---------------------------

def build_densenet(root, rng):
    keras = _keras()
    model = keras.applications.DenseNet121(weights=None, input_shape=(64, 64, 3), classes=10,
                                           classifier_activation=None)
    _randomise_bn(model, rng)
    _calibrate(model, rng.uniform(-1, 1, (8, 64, 64, 3)).astype(np.float32))
    x = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    return _keras_case("densenet", model, [tf.TensorSpec([None, 64, 64, 3], tf.float32, "image")],
                       [x], ["logits"], root)


# -- 3. NCF (hexiangnan/neural_collaborative_filtering): GMF x MLP, NeuMF head ----------------

def build_ncf(root, rng):
    keras = _keras()
    layers = keras.layers
    users, items = 50, 80
    user = keras.Input((), dtype="int32", name="user")
    item = keras.Input((), dtype="int64", name="item")
    emb = keras.initializers.RandomNormal(stddev=1.0)
    gmf = layers.Multiply()([layers.Embedding(users, 8, embeddings_initializer=emb)(user),
                             layers.Embedding(items, 8, embeddings_initializer=emb)(item)])
    mlp = layers.Concatenate()([layers.Embedding(users, 16, embeddings_initializer=emb)(user),
                                layers.Embedding(items, 16, embeddings_initializer=emb)(item)])
    for width in (32, 16, 8):
        mlp = layers.Dense(width, activation="relu")(mlp)
    score = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([gmf, mlp]))
    model = keras.Model([user, item], score)
    u = rng.integers(0, users, 16).astype(np.int32)
    i = rng.integers(0, items, 16).astype(np.int64)
    return _keras_case("ncf", model, [tf.TensorSpec([None], tf.int32, "user"),
                                      tf.TensorSpec([None], tf.int64, "item")],
                       [u, i], ["prediction"], root)


# -- 4. A3C (miyosuda/async_deep_reinforce): Atari conv trunk, policy and value heads ---------

def build_a3c(root, rng):
    keras = _keras()
    layers = keras.layers
    frames = keras.Input((84, 84, 4), name="frames")
    x = layers.Conv2D(16, 8, strides=4, activation="relu")(frames)
    x = layers.Conv2D(32, 4, strides=2, activation="relu")(x)
    x = layers.Dense(256, activation="relu")(layers.Flatten()(x))
    policy = layers.Dense(6, activation="softmax")(x)
    value = layers.Dense(1)(x)
    model = keras.Model(frames, [policy, value])
    x = rng.uniform(0, 1, (2, 84, 84, 4)).astype(np.float32)
    return _keras_case("a3c", model, [tf.TensorSpec([None, 84, 84, 4], tf.float32, "frames")],
                       [x], ["policy", "value"], root)


# -- 5. UNet (zhixuhao/unet): conv pairs, Conv2DTranspose or resize up path, skip concat -----

def build_unet(root, rng, resize=False):
    keras = _keras()
    layers = keras.layers

    def pair(x, n):
        for _ in range(2):
            x = layers.Conv2D(n, 3, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
        return x

    inp = keras.Input((48, 40, 3), name="image")
    d1 = pair(inp, 8)
    d2 = pair(layers.MaxPooling2D()(d1), 16)
    mid = pair(layers.MaxPooling2D()(d2), 32)
    if resize:     # the up-sampling variant: nearest UpSampling2D, then a bilinear resize
        u2 = layers.Conv2D(16, 1)(layers.UpSampling2D(2, interpolation="nearest")(mid))
        u1 = layers.Conv2D(8, 1)(layers.Resizing(48, 40, interpolation="bilinear")(
            pair(layers.Concatenate()([u2, d2]), 16)))
    else:
        u2 = layers.Conv2DTranspose(16, 2, strides=2)(mid)
        u1 = layers.Conv2DTranspose(8, 2, strides=2)(pair(layers.Concatenate()([u2, d2]), 16))
    out = layers.Conv2D(3, 1)(pair(layers.Concatenate()([u1, d1]), 8))
    model = keras.Model(inp, out)
    _randomise_bn(model, rng)
    _calibrate(model, rng.normal(0, 1, (6, 48, 40, 3)).astype(np.float32))
    x = rng.normal(0, 1, (1, 48, 40, 3)).astype(np.float32)
    return _keras_case("unet_resize" if resize else "unet", model,
                       [tf.TensorSpec([None, 48, 40, 3], tf.float32, "image")], [x],
                       ["mask_logits"], root)


# -- 6. Keras-TCN (philipperemy/keras-tcn): dilated causal convs, weight + layer norm ---------

def build_tcn(root, rng):
    keras = _keras()
    layers, ops = keras.layers, keras.ops

    class WeightNormConv1D(layers.Layer):
        """Causal dilated Conv1D with weight normalisation: kernel = g * v / ||v||."""

        def __init__(self, filters, kernel, dilation, **kw):
            super().__init__(**kw)
            self.filters, self.kernel, self.dilation = filters, kernel, dilation

        def build(self, shape):
            self.v = self.add_weight(shape=(self.kernel, shape[-1], self.filters),
                                     initializer="he_normal")
            self.g = self.add_weight(shape=(self.filters,), initializer="ones")
            self.b = self.add_weight(shape=(self.filters,), initializer="zeros")

        def call(self, x):
            kernel = self.g * self.v / ops.sqrt(ops.sum(ops.square(self.v), axis=(0, 1)))
            x = ops.pad(x, [[0, 0], [(self.kernel - 1) * self.dilation, 0], [0, 0]])
            return ops.conv(x, kernel, dilation_rate=self.dilation, padding="valid") + self.b

    inp = keras.Input((64, 6), name="sequence")
    x, skips = inp, []
    for d in (1, 2, 4, 8):
        res = x
        for _ in range(2):
            x = WeightNormConv1D(16, 3, d)(x)
            x = layers.Activation("relu")(layers.LayerNormalization()(x))
        if res.shape[-1] != 16:
            res = layers.Conv1D(16, 1)(res)
        skips.append(x)
        x = layers.Activation("relu")(layers.Add()([res, x]))
    x = layers.Add()(skips)
    x = layers.Lambda(lambda t: t[:, -1, :])(x)
    model = keras.Model(inp, layers.Dense(5)(x))
    for layer in model.layers:
        if isinstance(layer, layers.LayerNormalization):
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.2, layer.beta.shape).astype(np.float32))
        if isinstance(layer, WeightNormConv1D):
            layer.g.assign(rng.uniform(0.5, 1.5, layer.g.shape).astype(np.float32))
            layer.b.assign(rng.normal(0, 0.1, layer.b.shape).astype(np.float32))
    x = np.cumsum(rng.normal(0, 0.3, (2, 64, 6)), axis=1).astype(np.float32)
    return _keras_case("tcn", model, [tf.TensorSpec([None, 64, 6], tf.float32, "sequence")],
                       [x], ["logits"], root)


def _legacy_cells():
    """``tf.compat.v1.nn.rnn_cell`` (its classes live in tf_keras; with Keras 3 installed the
    ``tf.compat.v1`` alias raises)."""
    from tf_keras.src.layers.rnn import legacy_cells
    return legacy_cells


# -- TF1 graphs: frozen with convert_variables_to_constants, saved with simple_save ----------

def _tf1_case(name, graph, sess, inputs: dict, outputs: dict, root: Path) -> dict:
    v1 = tf.compat.v1
    feeds = {graph.get_tensor_by_name(k): v for k, v in inputs.items()}
    keys = list(outputs)
    expected = dict(zip(keys, sess.run([outputs[k] for k in keys], feeds)))
    names = {k: outputs[k].name for k in keys}
    frozen = v1.graph_util.convert_variables_to_constants(
        sess, graph.as_graph_def(), sorted({n.split(":")[0] for n in names.values()}))
    pb = root / f"{name}.pb"
    pb.write_bytes(frozen.SerializeToString())
    saved = root / f"{name}_saved_model"
    v1.saved_model.simple_save(sess, str(saved),
                               {k.split(":")[0]: graph.get_tensor_by_name(k) for k in inputs},
                               outputs)
    return {"frozen": pb, "saved_model": saved, "outputs": names, "out_keys": keys,
            "inputs": {k.split(":")[0]: v for k, v in inputs.items()}, "expected": expected}


# -- 7. lm_1b (tensorflow/models research/lm_1b): sharded embedding, LSTM with projection ----

def build_lm_1b(root, rng):
    v1 = tf.compat.v1
    vocab, dim, units, proj, batch = 800, 32, 64, 32, 2
    graph = tf.Graph()
    with graph.as_default():
        ids = v1.placeholder(tf.int32, [batch, SEQ_STEPS], name="inputs")
        init = v1.random_normal_initializer(0.0, 1.0, seed=1)
        with v1.variable_scope("lm"):
            emb = v1.get_variable("emb", [vocab, dim], initializer=init,
                                  partitioner=v1.fixed_size_partitioner(4))
            x = tf.nn.embedding_lookup(emb, ids)
            cell = _legacy_cells().LSTMCell(units, num_proj=proj,
                                           initializer=v1.glorot_uniform_initializer(seed=2))
            outputs, _ = v1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
            # softmax weights in shards, concatenated (as lm_1b's softmax_w_0..7)
            shards = [v1.get_variable(f"softmax_w_{i}", [vocab // 4, proj],
                                      initializer=v1.glorot_uniform_initializer(seed=3 + i))
                      for i in range(4)]
            bias = v1.get_variable("softmax_b", [vocab],
                                   initializer=v1.random_normal_initializer(0, 0.1, seed=9))
            flat = tf.reshape(outputs, [-1, proj])
            logits = tf.nn.bias_add(tf.matmul(flat, tf.concat(shards, 0), transpose_b=True),
                                    bias, name="logits")
            probs = tf.nn.softmax(logits, name="softmax")
        sess = v1.Session(graph=graph)
        sess.run(v1.global_variables_initializer())
        feed = {"inputs:0": rng.integers(0, vocab, (batch, SEQ_STEPS)).astype(np.int32)}
        return _tf1_case("lm_1b", graph, sess, feed, {"logits": logits, "softmax": probs}, root)


# -- 8. DeepSpeech (mozilla/DeepSpeech): clipped-ReLU front end, BiLSTM, CTC greedy decoder ----

def build_deepspeech(root, rng, beam=False):
    v1 = tf.compat.v1
    steps, feats, chars, batch, hidden, cell_units = 24, 26, 29, 2, 48, 32
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(4)
        audio = v1.placeholder(tf.float32, [batch, steps, feats], name="input_node")
        lengths = v1.placeholder(tf.int32, [batch], name="input_lengths")
        glorot = v1.glorot_uniform_initializer

        def dense(x, n, name, clip=True):
            w = v1.get_variable(f"{name}/weights", [x.shape[-1], n], initializer=glorot())
            b = v1.get_variable(f"{name}/bias", [n],
                                initializer=v1.random_normal_initializer(0, 0.1))
            y = tf.nn.bias_add(tf.tensordot(x, w, 1), b)
            return tf.minimum(tf.nn.relu(y), 20.0) if clip else y

        # a 1-D convolution over time (DeepSpeech 2 style front end), then the dense layers
        kernel = v1.get_variable("conv/kernel", [5, feats, hidden], initializer=glorot())
        x = tf.minimum(tf.nn.relu(tf.nn.conv1d(audio, kernel, 1, "SAME")), 20.0)
        x = dense(dense(x, hidden, "layer_1"), hidden, "layer_2")
        fw = _legacy_cells().LSTMCell(cell_units, initializer=glorot())
        bw = _legacy_cells().LSTMCell(cell_units, initializer=glorot())
        (out_fw, out_bw), _ = v1.nn.bidirectional_dynamic_rnn(fw, bw, x, dtype=tf.float32)
        x = dense(tf.concat([out_fw, out_bw], -1), hidden, "layer_5")
        logits = tf.transpose(dense(x, chars, "layer_6", clip=False), [1, 0, 2],
                              name="logits")              # time major, as DeepSpeech's
        (decoded,), log_prob = tf.nn.ctc_greedy_decoder(logits, lengths)
        outputs = {"logits": logits, "decoded_indices": decoded.indices,
                   "decoded_values": decoded.values, "decoded_shape": decoded.dense_shape,
                   "log_probability": log_prob}
        if beam:
            (best,), scores = tf.nn.ctc_beam_search_decoder(logits, lengths, beam_width=4,
                                                            top_paths=1)
            outputs.update({"beam_indices": best.indices, "beam_values": best.values,
                            "beam_shape": best.dense_shape, "beam_log_probability": scores})
        sess = v1.Session(graph=graph)
        sess.run(v1.global_variables_initializer())
        feed = {"input_node:0": rng.normal(0, 1, (batch, steps, feats)).astype(np.float32),
                "input_lengths:0": np.array([steps, steps - 5], np.int32)}
        return _tf1_case("deepspeech_beam" if beam else "deepspeech", graph, sess, feed,
                         outputs, root)


BUILDERS = {
    "resnext": build_resnext,
    "densenet121": build_densenet,
    "ncf": build_ncf,
    "a3c": build_a3c,
    "unet": build_unet,
    "unet_resize": lambda root, rng: build_unet(root, rng, resize=True),
    "keras_tcn": build_tcn,
    "lm_1b": build_lm_1b,
    "deepspeech": build_deepspeech,
    "deepspeech_beam": lambda root, rng: build_deepspeech(root, rng, beam=True),
}
# name -> why it fails today (xfail, strict)
KNOWN_FAILURES = {
    "deepspeech_beam": "CTCBeamSearchDecoder has no translator (no OpenVINO op; ovc and MO "
                       "convert only the greedy decoder)",
}
# IR layer types a net's IR must hold (recurrent nets: its cells as Sequence ops, no Loop)
REQUIRED = {"deepspeech": {"LSTMSequence": 2, "Loop": 0, "TensorIterator": 0}}
# outputs compared by top-1 (class axis last) as well as by relative error
LOGITS = {"resnext": ["logits"], "densenet121": ["logits"], "a3c": ["policy"],
          "keras_tcn": ["logits"], "lm_1b": ["logits"], "deepspeech": ["logits"],
          "deepspeech_beam": ["logits"], "unet": ["mask_logits"],
          "unet_resize": ["mask_logits"]}


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    root = tmp_path_factory.mktemp("topologies")
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            seed = sorted(BUILDERS).index(name) + 12
            _keras().utils.set_random_seed(seed)   # Keras initialisers and TF ops too
            rng = np.random.default_rng(seed)
            cache[name] = BUILDERS[name](root, rng)
        return cache[name]
    return get


def _run(xml: Path, inputs: dict) -> dict:
    """Run the IR, feeding by input name (an NHWC array is transposed to the IR's NCHW input),
    and return its outputs by every name they carry."""
    compiled = core().compile_model(str(xml), "CPU", F32)
    feeds = {}
    for port in compiled.inputs:
        names = {n.split(":")[0] for n in port.get_names()}
        (key,) = [k for k in inputs if k in names]
        x = inputs[key]
        shape = port.get_partial_shape()
        if x.ndim == 4 and shape.rank.get_length() == 4 and shape[1].is_static \
                and shape[1].get_length() == x.shape[3] != x.shape[1]:
            x = np.transpose(x, (0, 3, 1, 2))
        feeds[port] = x
    result = compiled(feeds)
    return {port: np.asarray(result[port]) for port in compiled.outputs}


def _output(outputs: dict, names: set, expected: np.ndarray) -> np.ndarray:
    (port,) = [p for p in outputs if names & set(p.get_names())]
    actual = outputs[port]
    if actual.ndim == 4 and actual.shape != expected.shape \
            and actual.shape == tuple(np.transpose(expected, (0, 3, 1, 2)).shape):
        actual = np.transpose(actual, (0, 2, 3, 1))
    return actual


def check(case: dict, name: str, xml: Path, form: str) -> dict:
    outputs = _run(xml, case["inputs"])
    errors = {}
    for key in case["out_keys"]:
        expected = case["expected"][key]
        tensor = case["outputs"][key] if form == "frozen" else f"{key}:0"
        wanted = {tensor, tensor.removesuffix(":0")}
        actual = _output(outputs, wanted, expected)
        if expected.dtype.kind in "iu":
            np.testing.assert_array_equal(actual, expected, err_msg=f"{name}: {key}")
            continue
        assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), f"{key}: degenerate"
        errors[key] = err = rel_err(actual, expected)
        assert err <= TOLERANCE, f"{name} ({form}) {key}: rel err {err:.2e} > {TOLERANCE:.0e}"
        if key in LOGITS.get(name, []):
            top_a, top_e = actual.argmax(-1), expected.argmax(-1)
            # positions whose two best classes are within the tolerance may swap
            part = np.sort(expected, -1)
            clear = (part[..., -1] - part[..., -2]) > TOLERANCE * np.max(np.abs(expected))
            assert (top_a[clear] == top_e[clear]).all(), f"{name} ({form}) {key}: top-1 differs"
    return errors


CASES = [pytest.param(name, form, id=f"{name}-{form}", marks=[
             pytest.mark.xfail(reason=KNOWN_FAILURES[name], strict=True,
                               raises=tfconv.errors.UnsupportedOpsError)]
             if name in KNOWN_FAILURES else [])
         for name in BUILDERS for form in ("frozen", "saved_model")]


@pytest.mark.parametrize("name, form", CASES)
def test_topology(topology, name, form, tmp_path):
    case = topology(name)
    options = {}
    if form == "frozen":
        options["output"] = ",".join(case["outputs"][k] for k in case["out_keys"])
    graph = tfconv.convert_model(case[form], **options)
    (xml,) = [p for p in tfconv.save_model(graph, tmp_path / "m.xml") if p.suffix == ".xml"]
    errors = check(case, name, xml, form)
    types = ir_layer_types(xml)
    for kind, count in REQUIRED.get(name, {}).items():
        assert types.count(kind) == count, f"{name}: {types.count(kind)} {kind} layers"
    assert errors, "no float output compared"
