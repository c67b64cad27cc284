"""One-op activation models of both Keras generations, built and cached for test_activations.py.

    python activation_models.py OUT_DIR keras3|tf_keras

builds every case of one generation (Keras 3 and tf_keras cannot share a process) in one
subprocess: ``Input([None, 3, 64]) -> activation``, frozen with
``convert_variables_to_constants_v2`` as the model zoo does, written as ``OUT_DIR/<case>.pb``
with ``OUT_DIR/reference.npz`` (the input under ``input``, each case's TF output under its name)
and ``OUT_DIR/meta.json`` (each case's output node). ``built(gen)`` runs the builder once per
cache key (TF/Keras versions and this file's content) and returns the directory.

The cases are data: ``CASES[gen][name] = (expected IR op types, IR op types that must be gone)``;
``_layer`` makes the Keras layer of each name. ``raw_*`` cases are hand-written TF (the GELU of
BERT and TF <= 2.4, hard-swish with min/max) built in the Keras 3 process.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

GELU_ERF = {"Gelu": {"approximation_mode": "erf"}}
GELU_TANH = {"Gelu": {"approximation_mode": "tanh"}}
ERF_OPS = ("Erf", "Tanh", "Power", "Multiply", "Add", "Subtract", "Divide", "Negative")
HARD_OPS = ("Clamp", "Minimum", "Maximum", "Relu", "Multiply", "Divide", "Add")
# convolutions with fused activations in between, converted to NCHW: the fused ops must not
# stop the layout pass (the IR keeps one Transpose, of the output)
CNN_OPS = {"PRelu": {}, "Elu": {"alpha": 0.5}, "HSwish": {}, "Gelu": {"approximation_mode": "erf"}}
# name -> (op types (with attributes) the IR must have, op types it must not have)
_COMMON = {
    "elu": ({"Elu": {"alpha": 1.0}}, ("Select",)),
    "exponential": ({"Exp": {}}, ()),
    "gelu": (GELU_ERF, ERF_OPS),
    "gelu_tanh": (GELU_TANH, ERF_OPS),
    "hard_sigmoid": ({}, ()),  # generation-specific, below
    "linear": ({}, ()),
    "mish": ({"Mish": {}}, ("SoftPlus", "Tanh", "Multiply")),
    "relu": ({"Relu": {}}, ()),
    "selu": ({"Selu": {}}, ("Elu", "Multiply")),
    "sigmoid": ({"Sigmoid": {}}, ()),
    "softmax": ({"SoftMax": {}}, ()),
    "softplus": ({"SoftPlus": {}}, ()),
    "softsign": ({"SoftSign": {}}, ()),
    "swish": ({"Swish": {}}, ("Sigmoid", "Multiply")),
    "tanh": ({"Tanh": {}}, ()),
    "ReLU_max6": ({"Clamp": {"min": 0.0, "max": 6.0}}, ()),
    "ReLU_slope": ({"PRelu": {}}, ()),
    "ReLU_all": ({}, ()),  # max_value, negative_slope and threshold together: no single IR op
    "LeakyReLU": ({"PRelu": {}}, ()),
    "PReLU": ({"PRelu": {}}, ("Relu", "Negative", "Add")),
    "ELU_alpha": ({"Elu": {"alpha": 0.5}}, ("Select", "Greater")),
    "Softmax_axis1": ({"SoftMax": {"axis": 1}}, ("Transpose",)),
}
CASES = {
    "keras3": {
        **_COMMON,
        "hard_sigmoid": ({"HSigmoid": {}}, HARD_OPS),  # relu6(x + 3) / 6
        "celu": ({"Elu": {"alpha": 1.0}}, ("Exp", "Maximum", "Minimum")),
        "celu_alpha": ({"Elu": {"alpha": 1.0}}, ("Exp", "Maximum", "Minimum")),  # 2 Elu(x / 2)
        "glu": ({"Sigmoid": {}}, ()),
        "hard_shrink": ({}, ()),
        "hard_silu": ({"HSwish": {}}, HARD_OPS),
        "hard_swish": ({"HSwish": {}}, HARD_OPS),
        "hard_tanh": ({"Clamp": {"min": -1.0, "max": 1.0}}, ("Minimum", "Maximum")),
        "leaky_relu": ({"PRelu": {}}, ()),
        "log_sigmoid": ({"SoftPlus": {}}, ()),
        "log_softmax": ({"LogSoftmax": {}}, ()),
        "relu6": ({"Clamp": {"min": 0.0, "max": 6.0}}, ()),
        "silu": ({"Swish": {}}, ("Sigmoid", "Multiply")),
        "soft_shrink": ({}, ()),
        "sparse_plus": ({}, ()),
        "sparse_sigmoid": ({}, ()),
        "sparsemax": ({}, ()),
        "squareplus": ({}, ()),
        "tanh_shrink": ({"Tanh": {}}, ()),
        "threshold": ({}, ()),
        "mnv3_hard_sigmoid": ({"HSigmoid": {}}, HARD_OPS),  # ReLU(6)(x + 3) * (1 / 6)
        "mnv3_hard_swish": ({"HSwish": {}}, HARD_OPS),
        "rescaled_hard_swish": ({"HSwish": {}}, HARD_OPS),
        "cnn": (CNN_OPS, ("Select", "Erf", "Relu")),
        "raw_gelu_erf": (GELU_ERF, ERF_OPS),  # 0.5 * x * (1 + erf(x / sqrt(2)))
        "raw_gelu_erf_bert": (GELU_ERF, ERF_OPS),  # x * (0.5 * (1 + erf(x / tf.sqrt(2))))
        "raw_gelu_tanh_bert": (GELU_TANH, ERF_OPS),  # x * 0.5 * (1 + tanh(c * (x + k x^3)))
        "raw_gelu_tanh_cube": (GELU_TANH, ERF_OPS),  # the cube as x * x * x
        "raw_gelu_tanh_fast": (GELU_TANH, ERF_OPS),  # x * c * (1 + k x x), as "gelu_fast" writes it
        "raw_log_softmax_axis1": ({"LogSoftmax": {"axis": 1}}, ("Transpose",)),
        "raw_hswish_minmax": ({"HSwish": {}}, HARD_OPS),  # x * min(max(x + 3, 0), 6) / 6
        "raw_hsigmoid_clip": ({"HSigmoid": {}}, HARD_OPS),  # clip(x + 3, 0, 6) * (1 / 6)
        "raw_softsign": ({"SoftSign": {}}, ("Abs", "Divide")),  # x / (1 + |x|)
        "raw_mish_log1p": ({"Mish": {}}, ("Tanh", "Log", "Exp")),  # x * tanh(log(1 + exp(x)))
        "raw_hswish_order": ({"HSwish": {}}, HARD_OPS),  # (x / 6) * relu6(3 + x)
        "raw_swish_beta": ({"Swish": {}}, ("Sigmoid", "Multiply")),  # tf.nn.silu(x, beta=1.5)
        # near misses and shared intermediates: what must not fuse
        "raw_not_hswish": ({"Clamp": {}}, ("HSwish", "HSigmoid")),  # x * relu6(x + 3) / 5
        "raw_not_gelu": ({"Erf": {}}, ("Gelu",)),  # 0.5 x (1 + erf(0.7 x))
        "raw_not_gelu_tanh": ({"Tanh": {}}, ("Gelu",)),  # cubic coefficient 0.05
        "raw_not_mish": ({"SoftPlus": {}}, ("Mish",)),  # (x + 1) * tanh(softplus(x))
        "raw_shared_hsigmoid": ({"HSigmoid": {}}, ("HSwish",)),  # h = hsigmoid(x); x * h + h
        "raw_erfc": ({}, ()),
        "raw_erfinv": ({}, ()),
        "raw_ndtri": ({}, ()),
    },
    "tf_keras": {
        **_COMMON,
        # tf_keras: clip(0.2 x + 0.5, 0, 1), OpenVINO's HSigmoid (slope 1/6) of 1.2 x
        "hard_sigmoid": ({"HSigmoid": {}}, ("Clamp", "Minimum", "Maximum", "Add")),
        "relu_alpha": ({"PRelu": {}}, ()),
        "relu_max": ({"Clamp": {"min": 0.0, "max": 6.0}}, ()),
        "relu_threshold": ({}, ()),
        "ThresholdedReLU": ({}, ()),
        "mnv3_hard_sigmoid": ({"HSigmoid": {}}, HARD_OPS),  # ReLU(6)(x + 3) * (1 / 6)
        "mnv3_hard_swish": ({"HSwish": {}}, HARD_OPS),  # Multiply()([x, hard_sigmoid(x)])
        "cnn": (CNN_OPS, ("Select", "Erf", "Relu")),
    },
}
GENERATIONS = tuple(CASES)
# TF's float32 erfinv kernel is 8e-4 (of max|y|) off the exact value at x = 0.9999967; its float64
# kernel is exact to 1e-15 there, so these cases compare with TF run in float64.
F64_REFERENCE = {"raw_erfinv": lambda tf: tf.math.erfinv, "raw_ndtri": lambda tf: tf.math.ndtri}
SHAPE = (3, 64)  # per example; the batch is dynamic


def inputs() -> np.ndarray:
    """[2, 3, 64] values that reach every branch: a wide sweep, the thresholds of the
    activations here (0, +-0.5, +-1, +-3, 6) approached from both sides, and large values."""
    sweep = np.linspace(-12.0, 12.0, 280)
    points = [-20.0, -8.0, 8.0, 20.0]
    for t in (-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0):
        points += [t - 1e-3, t - 1e-5, t, t + 1e-5, t + 1e-3, t - 0.1, t + 0.1]
    flat = np.concatenate([sweep, points, np.linspace(-2.0, 2.0, 384 - 280 - len(points))])
    assert flat.size == 384
    return flat.astype(np.float32).reshape(2, *SHAPE)


def domain(name: str) -> np.ndarray:
    """The inputs, mapped into (-1, 1) for the inverse error function (and (0, 1) for ndtri);
    [2, 12, 12, 3] images in [-2, 2] for the CNN."""
    x = inputs()
    if name == "cnn":
        return np.random.default_rng(7).uniform(-2, 2, (2, 12, 12, 3)).astype(np.float32)
    if name == "raw_erfinv":
        return np.tanh(x / 3.0).astype(np.float32)
    if name == "raw_ndtri":
        return ((np.tanh(x / 3.0) + 1.0) / 2.0).clip(1e-6, 1 - 1e-6).astype(np.float32)
    return x


# -- building (runs in the subprocess) ---------------------------------------------------------


def _layer(keras, tf, gen: str, name: str):
    """The Keras layer (or raw TF function) of case ``name``."""
    act, layers = keras.activations, keras.layers
    raw = {
        "raw_gelu_erf": lambda x: 0.5 * x * (1.0 + tf.math.erf(x / 1.4142135623730951)),
        "raw_gelu_erf_bert": lambda x: x * (0.5 * (1.0 + tf.math.erf(x / tf.sqrt(2.0)))),
        "raw_gelu_tanh_bert": lambda x: x * (0.5 * (1.0 + tf.tanh(
            np.sqrt(2 / np.pi).astype(np.float32) * (x + 0.044715 * tf.pow(x, 3))))),
        "raw_gelu_tanh_cube": lambda x: 0.5 * x * (1.0 + tf.tanh(
            0.7978845608028654 * (x + 0.044715 * (x * x * x)))),
        "raw_gelu_tanh_fast": lambda x: 0.5 * x * (1.0 + tf.tanh(
            x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
        "raw_log_softmax_axis1": lambda x: tf.nn.log_softmax(x, axis=1),
        "raw_hswish_minmax": lambda x: x * tf.minimum(tf.maximum(x + 3.0, 0.0), 6.0) / 6.0,
        "raw_hsigmoid_clip": lambda x: tf.clip_by_value(3.0 + x, 0.0, 6.0) * (1.0 / 6.0),
        "raw_softsign": lambda x: x / (1.0 + tf.abs(x)),
        "raw_mish_log1p": lambda x: x * tf.tanh(tf.math.log(1.0 + tf.exp(x))),
        "raw_hswish_order": lambda x: (x / 6.0) * tf.nn.relu6(3.0 + x),
        "raw_swish_beta": lambda x: tf.nn.silu(x, beta=1.5),
        "raw_not_hswish": lambda x: x * tf.nn.relu6(x + 3.0) / 5.0,
        "raw_not_gelu": lambda x: 0.5 * x * (1.0 + tf.math.erf(0.7 * x)),
        "raw_not_gelu_tanh": lambda x: 0.5 * x * (1.0 + tf.tanh(
            0.7978845608 * (x + 0.05 * x * x * x))),
        "raw_not_mish": lambda x: (x + 1.0) * tf.tanh(tf.nn.softplus(x)),
        "raw_shared_hsigmoid": lambda x: (lambda h: x * h + h)(tf.nn.relu6(x + 3.0) / 6.0),
        "raw_erfc": tf.math.erfc,
        "raw_erfinv": tf.math.erfinv,
        "raw_ndtri": tf.math.ndtri,
    }
    if name in raw:
        return layers.Lambda(raw[name])
    slope = "negative_slope" if gen == "keras3" else "alpha"
    made = {
        "gelu": lambda: layers.Activation(lambda x: act.gelu(x, approximate=False)),
        "gelu_tanh": lambda: layers.Activation(lambda x: act.gelu(x, approximate=True)),
        "threshold": lambda: layers.Activation(lambda x: act.threshold(x, 0.5, -1.0)),
        "celu_alpha": lambda: layers.Activation(lambda x: act.celu(x, alpha=2.0)),
        "relu_alpha": lambda: layers.Activation(lambda x: act.relu(x, alpha=0.1)),
        "relu_max": lambda: layers.Activation(lambda x: act.relu(x, max_value=6.0)),
        "relu_threshold": lambda: layers.Activation(lambda x: act.relu(x, threshold=0.5)),
        "ReLU_max6": lambda: layers.ReLU(max_value=6.0),
        "ReLU_slope": lambda: layers.ReLU(negative_slope=0.1),
        "ReLU_all": lambda: layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
        "LeakyReLU": lambda: layers.LeakyReLU(**{slope: 0.3}),
        "PReLU": lambda: layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.05, 0.5)),
        "ELU_alpha": lambda: layers.ELU(alpha=0.5),
        "Softmax_axis1": lambda: layers.Softmax(axis=1),
        "ThresholdedReLU": lambda: layers.ThresholdedReLU(theta=0.5),
    }
    if name in made:
        return made[name]()
    if name.startswith("mnv3_"):
        return None  # built from layers in _model
    return layers.Activation(getattr(act, name))


def _cnn(keras, inp):
    layers, init = keras.layers, keras.initializers.RandomUniform(0.05, 0.5)
    h = inp
    for act in (layers.PReLU(alpha_initializer=init), layers.PReLU(alpha_initializer=init,
                shared_axes=[1, 2]), layers.LeakyReLU(), layers.ELU(alpha=0.5),
                layers.Activation(lambda t: t * keras.activations.relu(t + 3.0, max_value=6.0) / 6.0),
                layers.Activation(lambda t: keras.activations.gelu(t, approximate=False))):
        h = act(layers.Conv2D(6, 3, padding="same")(h))
    return layers.Conv2D(4, 3)(h)


def _model(keras, tf, gen: str, name: str):
    inp = keras.Input(domain(name).shape[1:], name="input")
    if name == "cnn":
        return keras.Model(inp, _cnn(keras, inp))
    if name.startswith("mnv3_"):
        # keras.applications.MobileNetV3's hard_sigmoid and tf_keras's hard_swish, as written there
        sig = keras.layers.ReLU(6.0)(inp + 3.0) * (1.0 / 6.0)
        out = sig if name == "mnv3_hard_sigmoid" else keras.layers.Multiply()([inp, sig])
    elif name == "rescaled_hard_swish":
        # the same with Rescaling layers, whose x * 1 and + 0 the fusions must see through
        sig = keras.layers.Rescaling(1.0 / 6.0)(keras.layers.ReLU(6.0)(
            keras.layers.Rescaling(1.0, offset=3.0)(inp)))
        out = keras.layers.Multiply()([inp, sig])
    else:
        out = _layer(keras, tf, gen, name)(inp)
    return keras.Model(inp, out)


def build(out_dir: pathlib.Path, gen: str) -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )
    if gen == "keras3":
        import keras
    else:
        import tf_keras as keras
    keras.utils.set_random_seed(1234)
    refs, meta = {"input": inputs()}, {}
    for name in CASES[gen]:
        x = domain(name)
        model = _model(keras, tf, gen, name)
        fn = tf.function(lambda t, m=model: m(t, training=False))
        concrete = fn.get_concrete_function(tf.TensorSpec([None, *x.shape[1:]], tf.float32,
                                                          name="input"))
        frozen = convert_variables_to_constants_v2(concrete)
        graph_def = frozen.graph.as_graph_def()
        (out_tensor,) = frozen.outputs
        (out_dir / f"{name}.pb").write_bytes(graph_def.SerializeToString())
        out = frozen(tf.constant(x))
        refs[name] = (out[0] if isinstance(out, (list, tuple)) else out).numpy()
        if name in F64_REFERENCE:
            refs[name] = F64_REFERENCE[name](tf)(tf.constant(x, tf.float64)).numpy().astype(np.float32)
        refs[f"{name}:input"] = x
        meta[name] = {"output": out_tensor.name.split(":")[0],
                      "ops": sorted({n.op for n in graph_def.node})}
    np.savez(out_dir / "reference.npz", **refs)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))


# -- caching (runs in the test process) ----------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def cache_dir(gen: str) -> pathlib.Path:
    """``<repo>/.cache/activations/<versions + this file's hash>/<gen>`` (or under $TFCONV_TEST_CACHE)."""
    base = os.environ.get("TFCONV_TEST_CACHE")
    root = pathlib.Path(base) if base else pathlib.Path(__file__).resolve().parents[2] / ".cache"
    digest = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()[:12]
    key = "tf{}-keras{}-tfkeras{}-{}".format(_version("tensorflow"), _version("keras"),
                                             _version("tf_keras"), digest)
    return root / "activations" / key / gen


@contextlib.contextmanager
def _lock(path: pathlib.Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def built(gen: str) -> pathlib.Path:
    """The directory of ``gen``'s cases, built in one subprocess on first use."""
    target = cache_dir(gen)
    with _lock(target.parent / f".lock-{gen}"):
        if (target / "meta.json").is_file():
            return target
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".tmp-{gen}-", dir=target.parent))
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        env.update(TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
        proc = subprocess.run([sys.executable, __file__, str(tmp), gen], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = "\n".join(proc.stdout.splitlines()[-40:])
            msg = f"building the {gen} activation models failed (exit {proc.returncode}):\n{tail}"
            raise RuntimeError(msg)
        tmp.rename(target)
    return target


if __name__ == "__main__":
    build(pathlib.Path(sys.argv[1]), sys.argv[2])
