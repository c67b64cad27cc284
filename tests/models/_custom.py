"""Zoo models that are not Keras Applications, written the way users write them (imported by the
builder subprocess only: TensorFlow / Keras are imported by the callers).

* :func:`transformer_encoder` - a Keras 3 ViT-style classifier: patch embedding (strided Conv2D)
  plus learned position embedding (``Embedding``), pre-norm encoder blocks of
  ``MultiHeadAttention`` / ``LayerNormalization`` / ``Dense(activation="gelu")`` (exact GELU, which
  freezes to ``Erfc``), ``GlobalAveragePooling1D`` and a Dense head.
* :func:`tcn` - a temporal convolutional network as the keras-tcn package builds it: residual
  blocks of two causal dilated ``Conv1D`` + ReLU + ``SpatialDropout1D``, a 1x1 ``Conv1D`` on the
  residual path where the width changes, skip connections summed, the last time step classified.
* :func:`fakequant_mobilenet` - a quantization-aware-trained MobileNet-V1-like graph as TF freezes
  it: ``FakeQuantWithMinMaxVars`` on the (batch-norm folded) weights, per-channel on the
  convolutions and the classifier, and on every activation (8 bits, power-of-two steps).
"""
from __future__ import annotations

import numpy as np

# Sizes (CI cost: each builds and runs in seconds).
VIT_IMAGE, VIT_PATCH, VIT_DIM, VIT_HEADS, VIT_BLOCKS, VIT_CLASSES = 32, 4, 64, 4, 2, 100
TCN_STEPS, TCN_FEATURES, TCN_FILTERS, TCN_KERNEL = 96, 6, 32, 3
TCN_DILATIONS, TCN_CLASSES = (1, 2, 4, 8, 16), 10
FQ_IMAGE, FQ_CLASSES = 64, 1000


def transformer_encoder(keras):
    """The Keras 3 encoder classifier (input: ``VIT_IMAGE`` square RGB images in [-1, 1])."""
    layers = keras.layers
    n_patches = (VIT_IMAGE // VIT_PATCH) ** 2

    class PatchEncoder(layers.Layer):
        """Projected patches plus a learned embedding of their position (keras.io's ViT)."""

        def __init__(self, num_patches, dim, **kw):
            super().__init__(**kw)
            self.num_patches = num_patches
            self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=dim)

        def call(self, patches):
            positions = keras.ops.expand_dims(keras.ops.arange(0, self.num_patches), 0)
            return patches + self.position_embedding(positions)

    inputs = keras.Input((VIT_IMAGE, VIT_IMAGE, 3), name="image")
    x = layers.Conv2D(VIT_DIM, VIT_PATCH, strides=VIT_PATCH, name="patch_embed")(inputs)
    x = layers.Reshape((n_patches, VIT_DIM))(x)
    x = PatchEncoder(n_patches, VIT_DIM)(x)
    for i in range(VIT_BLOCKS):
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln1")(x)
        h = layers.MultiHeadAttention(num_heads=VIT_HEADS, key_dim=VIT_DIM // VIT_HEADS,
                                      dropout=0.1, name=f"block{i}_mha")(h, h)
        x = layers.Add()([x, h])
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln2")(x)
        h = layers.Dense(2 * VIT_DIM, activation="gelu", name=f"block{i}_mlp1")(h)
        h = layers.Dropout(0.1)(h)
        h = layers.Dense(VIT_DIM, name=f"block{i}_mlp2")(h)
        x = layers.Add()([x, h])
    x = layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(VIT_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name="transformer_encoder")


def tcn(keras):
    """The keras-tcn style classifier (input: ``TCN_STEPS`` x ``TCN_FEATURES`` sequences)."""
    layers = keras.layers
    inputs = keras.Input((TCN_STEPS, TCN_FEATURES), name="sequence")
    x, skips = inputs, []
    for d in TCN_DILATIONS:
        res = x
        for k in range(2):
            x = layers.Conv1D(TCN_FILTERS, TCN_KERNEL, dilation_rate=d, padding="causal",
                              kernel_initializer="he_normal", name=f"residual_block_{d}_conv{k}")(x)
            x = layers.Activation("relu")(x)
            x = layers.SpatialDropout1D(0.05)(x)
        if res.shape[-1] != TCN_FILTERS:
            res = layers.Conv1D(TCN_FILTERS, 1, name=f"residual_block_{d}_matching_conv")(res)
        skips.append(x)
        x = layers.Activation("relu")(layers.Add()([res, x]))
    x = layers.Add(name="skip_sum")(skips)
    x = layers.Lambda(lambda t: t[:, -1, :], name="last_step")(x)
    outputs = layers.Dense(TCN_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name="tcn")


def make_sequences(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sequence-like batch: per sample and feature a random mix of a sinusoid (own frequency and
    phase), a random walk and noise, so that samples differ in their statistics."""
    t = np.arange(TCN_STEPS)[None, :, None]
    freq = rng.uniform(0.01, 0.3, (n, 1, TCN_FEATURES))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, TCN_FEATURES))
    amp = rng.uniform(0.2, 1.0, (n, 1, TCN_FEATURES))
    walk = np.cumsum(rng.normal(0, 0.1, (n, TCN_STEPS, TCN_FEATURES)), axis=1)
    noise = rng.uniform(0, 0.3, (n, 1, 1)) * rng.normal(0, 1, (n, TCN_STEPS, TCN_FEATURES))
    return (amp * np.sin(freq * t + phase) + walk + noise).astype(np.float32)


# -- the FakeQuant net ------------------------------------------------------------------------

# (kind, output channels, stride): a stem conv, depthwise-separable blocks, the classifier.
_FQ_LAYERS = [("conv", 16, 2), ("dw", 16, 1), ("pw", 32, 1), ("dw", 32, 2), ("pw", 64, 1),
              ("dw", 64, 1), ("pw", 64, 1), ("dw", 64, 2), ("pw", 128, 1)]


def _pow2_range(w, axis=None):
    """Symmetric narrow-range [min, max] of ``w`` (per channel along the last axis when ``axis``
    is given) whose quantization step is a power of two: (step, min, max)."""
    amax = np.abs(w).max(axis=axis) if axis is not None else np.abs(w).max()
    step = np.exp2(np.ceil(np.log2(np.maximum(amax, 1e-30) / 127.0)))
    return step, -127.0 * step, 127.0 * step


# Activation ranges: 8 bits, step 1/32 after ReLU6 (zero point 0), step 1/64 on the [-1, 1] input.
ACT_STEP, ACT_RANGE = 1.0 / 32, (0.0, 255.0 / 32)
IN_STEP, IN_RANGE = 1.0 / 64, (-128.0 / 64, 127.0 / 64)


def fakequant_mobilenet(tf, rng: np.random.Generator, calib: np.ndarray, head_x: np.ndarray,
                        standardize_head):
    """(concrete function of the quantized net, head info).

    Weights are drawn normal and rescaled so each layer's pre-activation has unit std on
    ``calib`` (a data-dependent init, as folded batch norms would give), the classifier
    standardised on ``head_x``. Every quantization step is a power of two and every bias an odd
    multiple of a power of two finer than the products' step and the activations' ties (and
    exact in float16): each
    convolution then sums
    products that float32 represents exactly, whatever the order, and no activation falls on a
    rounding tie (where TF and OpenVINO round apart, and one flipped level compounds through the
    layers to 1e-3 of the logits). TF, OpenVINO's f32 kernels and its int8 (low-precision)
    kernels thus agree exactly up to the float classifier."""
    f32 = np.float32

    def fq(x, lo, hi, name, narrow=False):
        return tf.quantization.fake_quant_with_min_max_vars(
            x, tf.constant(f32(lo)), tf.constant(f32(hi)), num_bits=8,
            narrow_range=narrow, name=name)

    def fq_channel(x, lo, hi, name):
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(
            x, tf.constant(np.asarray(lo, f32)), tf.constant(np.asarray(hi, f32)), num_bits=8,
            narrow_range=True, name=name)

    params = []  # (kind, stride, weights, weight range, bias)

    def layer(a, kind, stride, w, wr, b, i):
        if kind == "dw":
            wq = fq(tf.constant(w), wr[1], wr[2], f"layer{i}/weights_quant", narrow=True)
            y = tf.nn.depthwise_conv2d(a, wq, [1, stride, stride, 1], "SAME")
        else:
            wq = fq_channel(tf.constant(w), wr[1], wr[2], f"layer{i}/weights_quant")
            y = tf.nn.conv2d(a, wq, [1, stride, stride, 1], "SAME")
        y = tf.nn.relu6(tf.nn.bias_add(y, tf.constant(b)))
        return fq(y, *ACT_RANGE, f"layer{i}/act_quant")

    a = fq(tf.constant(calib), *IN_RANGE, "input_quant")
    cin, in_step = calib.shape[-1], IN_STEP
    for i, (kind, cout, stride) in enumerate(_FQ_LAYERS):
        shape = (3, 3, cin, 1) if kind == "dw" else ((1, 1) if kind == "pw" else (3, 3)) + (cin, cout)
        w = rng.standard_normal(shape).astype(f32)
        if kind == "dw":
            pre = tf.nn.depthwise_conv2d(a, w, [1, stride, stride, 1], "SAME")
        else:
            pre = tf.nn.conv2d(a, w, [1, stride, stride, 1], "SAME")
        std = np.asarray(pre).reshape(-1, pre.shape[-1]).std(axis=0)
        std = np.where(std > 1e-6, std, 1.0)  # a channel dead on the calibration batch
        w = (w / (std.reshape(1, 1, -1, 1) if kind == "dw" else std)).astype(f32)
        wr = _pow2_range(w) if kind == "dw" else _pow2_range(w, axis=(0, 1, 2))
        # Products are multiples of in_step * weight step; an odd multiple of half of a finer
        # power of two (<= a quarter of the activation step) is never a rounding tie. At most
        # 11 significant bits: float16 holds the biases exactly (the FP16 IR computes the same).
        fine = np.minimum(in_step * wr[0], ACT_STEP / 4)
        m = np.clip(np.round(rng.normal(0.3, 0.3, cout) / fine), -1023, 1022)
        b = ((m + 0.5) * fine).astype(f32)
        params.append((kind, stride, w, wr, b))
        a = layer(a, kind, stride, w, wr, b, i)
        cin, in_step = cout, ACT_STEP

    def features(image):
        a = fq(image, *IN_RANGE, "input_quant")
        for i, (kind, stride, w, wr, b) in enumerate(params):
            a = layer(a, kind, stride, w, wr, b, i)
        return tf.reduce_mean(a, axis=[1, 2])

    feats = np.asarray(features(tf.constant(head_x)), np.float64)
    wf = rng.standard_normal((cin, FQ_CLASSES)) / np.sqrt(cin)
    wf, bf, info = standardize_head(feats @ wf, wf, np.zeros(FQ_CLASSES), rng)
    wfr = _pow2_range(wf, axis=0)

    @tf.function
    def net(image):
        m = features(image)
        w = fq_channel(tf.constant(wf), wfr[1], wfr[2], "logits/weights_quant")
        return tf.nn.bias_add(tf.matmul(m, w), tf.constant(bf), name="logits")

    spec = tf.TensorSpec([None, FQ_IMAGE, FQ_IMAGE, 3], tf.float32, name="input")
    return net.get_concrete_function(spec), info
