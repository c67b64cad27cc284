"""TF-Slim classification nets that ``tf_slim.nets`` lacks, written for these tests in TF1 graph
mode with ``tf_slim`` layers and the scope names of the Slim model library: Inception v4,
Inception-ResNet v2, MobileNet v1, MobileNet v2, NASNet-A mobile and PNASNet-5 mobile.

Each follows its paper's block structure (block types, block counts, branch layouts, strides,
VALID/SAME padding, residual scaling, separable stacks, factorised reductions) so that its op mix
and its scopes are the real ones; channel counts are divided by ``DIVISOR`` (MobileNets use their
own depth multiplier) to keep the test models small. Imported only by ``slim._build`` (TensorFlow).

Every ``net(images, num_classes, is_training)`` returns ``(logits, end_points)`` like Slim's,
with ``end_points["Predictions"]`` (Slim's softmax) and, where the net has one, an ``AuxLogits``
classifier.
"""
from __future__ import annotations

import tensorflow as tf
import tf_slim as slim

DIVISOR = 4


def _d(n: int) -> int:
    return max(8, n // DIVISOR)


def arg_scope(relu=tf.nn.relu, is_training=False):
    bn = {"fused": True, "scale": True, "epsilon": 1e-3, "decay": 0.9997}
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d], normalizer_fn=slim.batch_norm,
                        normalizer_params=bn, activation_fn=relu):
        with slim.arg_scope([slim.batch_norm], is_training=is_training, **bn) as sc:
            return sc


def _head(net, num_classes, end_points, scope="Logits", conv=False):
    """Global average pool (kernel = feature size, VALID), dropout (identity in eval) and the
    classifier: a 1x1 convolution + SpatialSqueeze (MobileNets) or a fully connected layer."""
    with tf.compat.v1.variable_scope(scope):
        k = net.get_shape()[1:3].as_list()
        net = slim.avg_pool2d(net, k, padding="VALID", scope="AvgPool_1a")
        net = slim.dropout(net, 0.8, is_training=False, scope="Dropout_1b")
        if conv:
            logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                                 normalizer_fn=None, scope="Conv2d_1c_1x1")
            logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
        else:
            net = slim.flatten(net, scope="PreLogitsFlatten")
            logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
    end_points["Logits"] = logits
    end_points["Predictions"] = slim.softmax(logits, scope="Predictions")
    return logits, end_points


def _aux(net, num_classes, end_points):
    """Inception v4 / Inception-ResNet v2 auxiliary classifier (built in eval mode too)."""
    with tf.compat.v1.variable_scope("AuxLogits"):
        aux = slim.avg_pool2d(net, [5, 5], stride=3, padding="VALID", scope="AvgPool_1a_5x5")
        aux = slim.conv2d(aux, _d(128), [1, 1], scope="Conv2d_1b_1x1")
        aux = slim.conv2d(aux, _d(768), aux.get_shape()[1:3].as_list(), padding="VALID",
                          scope="Conv2d_2a")
        aux = slim.flatten(aux)
        aux = slim.fully_connected(aux, num_classes, activation_fn=None, scope="Aux_logits")
    end_points["AuxLogits"] = aux


def _concat(branches):
    return tf.concat(axis=3, values=branches)


# -- Inception v4 --------------------------------------------------------------------------------


def _block_a(net, scope):
    with tf.compat.v1.variable_scope(scope):
        with tf.compat.v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, _d(96), [1, 1], scope="Conv2d_0a_1x1")
        with tf.compat.v1.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, _d(64), [1, 1], scope="Conv2d_0a_1x1")
            b1 = slim.conv2d(b1, _d(96), [3, 3], scope="Conv2d_0b_3x3")
        with tf.compat.v1.variable_scope("Branch_2"):
            b2 = slim.conv2d(net, _d(64), [1, 1], scope="Conv2d_0a_1x1")
            b2 = slim.conv2d(b2, _d(96), [3, 3], scope="Conv2d_0b_3x3")
            b2 = slim.conv2d(b2, _d(96), [3, 3], scope="Conv2d_0c_3x3")
        with tf.compat.v1.variable_scope("Branch_3"):
            b3 = slim.avg_pool2d(net, [3, 3], padding="SAME", scope="AvgPool_0a_3x3")
            b3 = slim.conv2d(b3, _d(96), [1, 1], scope="Conv2d_0b_1x1")
        return _concat([b0, b1, b2, b3])


def _block_b(net, scope):
    with tf.compat.v1.variable_scope(scope):
        with tf.compat.v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, _d(384), [1, 1], scope="Conv2d_0a_1x1")
        with tf.compat.v1.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, _d(192), [1, 1], scope="Conv2d_0a_1x1")
            b1 = slim.conv2d(b1, _d(224), [1, 7], scope="Conv2d_0b_1x7")
            b1 = slim.conv2d(b1, _d(256), [7, 1], scope="Conv2d_0c_7x1")
        with tf.compat.v1.variable_scope("Branch_2"):
            b2 = slim.conv2d(net, _d(192), [1, 1], scope="Conv2d_0a_1x1")
            b2 = slim.conv2d(b2, _d(192), [7, 1], scope="Conv2d_0b_7x1")
            b2 = slim.conv2d(b2, _d(224), [1, 7], scope="Conv2d_0c_1x7")
            b2 = slim.conv2d(b2, _d(224), [7, 1], scope="Conv2d_0d_7x1")
            b2 = slim.conv2d(b2, _d(256), [1, 7], scope="Conv2d_0e_1x7")
        with tf.compat.v1.variable_scope("Branch_3"):
            b3 = slim.avg_pool2d(net, [3, 3], padding="SAME", scope="AvgPool_0a_3x3")
            b3 = slim.conv2d(b3, _d(128), [1, 1], scope="Conv2d_0b_1x1")
        return _concat([b0, b1, b2, b3])


def _block_c(net, scope):
    with tf.compat.v1.variable_scope(scope):
        with tf.compat.v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, _d(256), [1, 1], scope="Conv2d_0a_1x1")
        with tf.compat.v1.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, _d(384), [1, 1], scope="Conv2d_0a_1x1")
            b1 = _concat([slim.conv2d(b1, _d(256), [1, 3], scope="Conv2d_0b_1x3"),
                          slim.conv2d(b1, _d(256), [3, 1], scope="Conv2d_0c_3x1")])
        with tf.compat.v1.variable_scope("Branch_2"):
            b2 = slim.conv2d(net, _d(384), [1, 1], scope="Conv2d_0a_1x1")
            b2 = slim.conv2d(b2, _d(448), [3, 1], scope="Conv2d_0b_3x1")
            b2 = slim.conv2d(b2, _d(512), [1, 3], scope="Conv2d_0c_1x3")
            b2 = _concat([slim.conv2d(b2, _d(256), [1, 3], scope="Conv2d_0d_1x3"),
                          slim.conv2d(b2, _d(256), [3, 1], scope="Conv2d_0e_3x1")])
        with tf.compat.v1.variable_scope("Branch_3"):
            b3 = slim.avg_pool2d(net, [3, 3], padding="SAME", scope="AvgPool_0a_3x3")
            b3 = slim.conv2d(b3, _d(256), [1, 1], scope="Conv2d_0b_1x1")
        return _concat([b0, b1, b2, b3])


def inception_v4(images, num_classes=1000, is_training=False, scope="InceptionV4"):
    end_points: dict = {}
    with tf.compat.v1.variable_scope(scope, "InceptionV4", [images]), \
            slim.arg_scope([slim.batch_norm], is_training=is_training):
        with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1,
                            padding="SAME"):
            net = slim.conv2d(images, _d(32), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
            net = slim.conv2d(net, _d(32), [3, 3], padding="VALID", scope="Conv2d_2a_3x3")
            net = slim.conv2d(net, _d(64), [3, 3], scope="Conv2d_2b_3x3")
            with tf.compat.v1.variable_scope("Mixed_3a"):
                with tf.compat.v1.variable_scope("Branch_0"):
                    b0 = slim.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_0a_3x3")
                with tf.compat.v1.variable_scope("Branch_1"):
                    b1 = slim.conv2d(net, _d(96), [3, 3], stride=2, padding="VALID", scope="Conv2d_0a_3x3")
                net = _concat([b0, b1])
            with tf.compat.v1.variable_scope("Mixed_4a"):
                with tf.compat.v1.variable_scope("Branch_0"):
                    b0 = slim.conv2d(net, _d(64), [1, 1], scope="Conv2d_0a_1x1")
                    b0 = slim.conv2d(b0, _d(96), [3, 3], padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_1"):
                    b1 = slim.conv2d(net, _d(64), [1, 1], scope="Conv2d_0a_1x1")
                    b1 = slim.conv2d(b1, _d(64), [1, 7], scope="Conv2d_0b_1x7")
                    b1 = slim.conv2d(b1, _d(64), [7, 1], scope="Conv2d_0c_7x1")
                    b1 = slim.conv2d(b1, _d(96), [3, 3], padding="VALID", scope="Conv2d_1a_3x3")
                net = _concat([b0, b1])
            with tf.compat.v1.variable_scope("Mixed_5a"):
                with tf.compat.v1.variable_scope("Branch_0"):
                    b0 = slim.conv2d(net, _d(192), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_1"):
                    b1 = slim.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
                net = _concat([b0, b1])
            for s in "bcde":
                net = _block_a(net, f"Mixed_5{s}")
            with tf.compat.v1.variable_scope("Mixed_6a"):  # reduction A
                with tf.compat.v1.variable_scope("Branch_0"):
                    b0 = slim.conv2d(net, _d(384), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_1"):
                    b1 = slim.conv2d(net, _d(192), [1, 1], scope="Conv2d_0a_1x1")
                    b1 = slim.conv2d(b1, _d(224), [3, 3], scope="Conv2d_0b_3x3")
                    b1 = slim.conv2d(b1, _d(256), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_2"):
                    b2 = slim.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
                net = _concat([b0, b1, b2])
            for s in "bcdefgh":
                net = _block_b(net, f"Mixed_6{s}")
            _aux(net, num_classes, end_points)
            with tf.compat.v1.variable_scope("Mixed_7a"):  # reduction B
                with tf.compat.v1.variable_scope("Branch_0"):
                    b0 = slim.conv2d(net, _d(192), [1, 1], scope="Conv2d_0a_1x1")
                    b0 = slim.conv2d(b0, _d(192), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_1"):
                    b1 = slim.conv2d(net, _d(256), [1, 1], scope="Conv2d_0a_1x1")
                    b1 = slim.conv2d(b1, _d(256), [1, 7], scope="Conv2d_0b_1x7")
                    b1 = slim.conv2d(b1, _d(320), [7, 1], scope="Conv2d_0c_7x1")
                    b1 = slim.conv2d(b1, _d(320), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_2"):
                    b2 = slim.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
                net = _concat([b0, b1, b2])
            for s in "bcd":
                net = _block_c(net, f"Mixed_7{s}")
        return _head(net, num_classes, end_points)


inception_v4.default_image_size = 107   # VALID stem and reductions: 107 -> 2x2 at the end


# -- Inception-ResNet v2 -------------------------------------------------------------------------


def _residual(net, mixed, scale, activation_fn):
    up = slim.conv2d(mixed, net.get_shape()[3], [1, 1], normalizer_fn=None, activation_fn=None,
                     scope="Conv2d_1x1")
    net = net + scale * up
    return activation_fn(net) if activation_fn else net


def block35(net, scale=1.0, activation_fn=tf.nn.relu, scope=None):
    with tf.compat.v1.variable_scope(scope, "Block35", [net]):
        with tf.compat.v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, _d(32), 1, scope="Conv2d_1x1")
        with tf.compat.v1.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, _d(32), 1, scope="Conv2d_0a_1x1")
            b1 = slim.conv2d(b1, _d(32), 3, scope="Conv2d_0b_3x3")
        with tf.compat.v1.variable_scope("Branch_2"):
            b2 = slim.conv2d(net, _d(32), 1, scope="Conv2d_0a_1x1")
            b2 = slim.conv2d(b2, _d(48), 3, scope="Conv2d_0b_3x3")
            b2 = slim.conv2d(b2, _d(64), 3, scope="Conv2d_0c_3x3")
        return _residual(net, _concat([b0, b1, b2]), scale, activation_fn)


def block17(net, scale=1.0, activation_fn=tf.nn.relu, scope=None):
    with tf.compat.v1.variable_scope(scope, "Block17", [net]):
        with tf.compat.v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, _d(192), 1, scope="Conv2d_1x1")
        with tf.compat.v1.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, _d(128), 1, scope="Conv2d_0a_1x1")
            b1 = slim.conv2d(b1, _d(160), [1, 7], scope="Conv2d_0b_1x7")
            b1 = slim.conv2d(b1, _d(192), [7, 1], scope="Conv2d_0c_7x1")
        return _residual(net, _concat([b0, b1]), scale, activation_fn)


def block8(net, scale=1.0, activation_fn=tf.nn.relu, scope=None):
    with tf.compat.v1.variable_scope(scope, "Block8", [net]):
        with tf.compat.v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, _d(192), 1, scope="Conv2d_1x1")
        with tf.compat.v1.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, _d(192), 1, scope="Conv2d_0a_1x1")
            b1 = slim.conv2d(b1, _d(224), [1, 3], scope="Conv2d_0b_1x3")
            b1 = slim.conv2d(b1, _d(256), [3, 1], scope="Conv2d_0c_3x1")
        return _residual(net, _concat([b0, b1]), scale, activation_fn)


def inception_resnet_v2(images, num_classes=1000, is_training=False, scope="InceptionResnetV2"):
    end_points: dict = {}
    with tf.compat.v1.variable_scope(scope, "InceptionResnetV2", [images]), \
            slim.arg_scope([slim.batch_norm], is_training=is_training):
        with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1,
                            padding="SAME"):
            net = slim.conv2d(images, _d(32), 3, stride=2, padding="VALID", scope="Conv2d_1a_3x3")
            net = slim.conv2d(net, _d(32), 3, padding="VALID", scope="Conv2d_2a_3x3")
            net = slim.conv2d(net, _d(64), 3, scope="Conv2d_2b_3x3")
            net = slim.max_pool2d(net, 3, stride=2, padding="VALID", scope="MaxPool_3a_3x3")
            net = slim.conv2d(net, _d(80), 1, padding="VALID", scope="Conv2d_3b_1x1")
            net = slim.conv2d(net, _d(192), 3, padding="VALID", scope="Conv2d_4a_3x3")
            net = slim.max_pool2d(net, 3, stride=2, padding="VALID", scope="MaxPool_5a_3x3")
            with tf.compat.v1.variable_scope("Mixed_5b"):
                with tf.compat.v1.variable_scope("Branch_0"):
                    b0 = slim.conv2d(net, _d(96), 1, scope="Conv2d_1x1")
                with tf.compat.v1.variable_scope("Branch_1"):
                    b1 = slim.conv2d(net, _d(48), 1, scope="Conv2d_0a_1x1")
                    b1 = slim.conv2d(b1, _d(64), 5, scope="Conv2d_0b_5x5")
                with tf.compat.v1.variable_scope("Branch_2"):
                    b2 = slim.conv2d(net, _d(64), 1, scope="Conv2d_0a_1x1")
                    b2 = slim.conv2d(b2, _d(96), 3, scope="Conv2d_0b_3x3")
                    b2 = slim.conv2d(b2, _d(96), 3, scope="Conv2d_0c_3x3")
                with tf.compat.v1.variable_scope("Branch_3"):
                    b3 = slim.avg_pool2d(net, 3, padding="SAME", scope="AvgPool_0a_3x3")
                    b3 = slim.conv2d(b3, _d(64), 1, scope="Conv2d_0b_1x1")
                net = _concat([b0, b1, b2, b3])
            net = slim.repeat(net, 10, block35, scale=0.17)
            with tf.compat.v1.variable_scope("Mixed_6a"):
                with tf.compat.v1.variable_scope("Branch_0"):
                    b0 = slim.conv2d(net, _d(384), 3, stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_1"):
                    b1 = slim.conv2d(net, _d(256), 1, scope="Conv2d_0a_1x1")
                    b1 = slim.conv2d(b1, _d(256), 3, scope="Conv2d_0b_3x3")
                    b1 = slim.conv2d(b1, _d(384), 3, stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_2"):
                    b2 = slim.max_pool2d(net, 3, stride=2, padding="VALID", scope="MaxPool_1a_3x3")
                net = _concat([b0, b1, b2])
            net = slim.repeat(net, 20, block17, scale=0.10)
            _aux(net, num_classes, end_points)
            with tf.compat.v1.variable_scope("Mixed_7a"):
                with tf.compat.v1.variable_scope("Branch_0"):
                    b0 = slim.conv2d(net, _d(256), 1, scope="Conv2d_0a_1x1")
                    b0 = slim.conv2d(b0, _d(384), 3, stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_1"):
                    b1 = slim.conv2d(net, _d(256), 1, scope="Conv2d_0a_1x1")
                    b1 = slim.conv2d(b1, _d(288), 3, stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_2"):
                    b2 = slim.conv2d(net, _d(256), 1, scope="Conv2d_0a_1x1")
                    b2 = slim.conv2d(b2, _d(288), 3, scope="Conv2d_0b_3x3")
                    b2 = slim.conv2d(b2, _d(320), 3, stride=2, padding="VALID", scope="Conv2d_1a_3x3")
                with tf.compat.v1.variable_scope("Branch_3"):
                    b3 = slim.max_pool2d(net, 3, stride=2, padding="VALID", scope="MaxPool_1a_3x3")
                net = _concat([b0, b1, b2, b3])
            net = slim.repeat(net, 9, block8, scale=0.20)
            net = block8(net, activation_fn=None, scope="Block8")
            net = slim.conv2d(net, _d(1536), 1, scope="Conv2d_7b_1x1")
        return _head(net, num_classes, end_points)


inception_resnet_v2.default_image_size = 107


# -- MobileNet v1 / v2 ---------------------------------------------------------------------------

MOBILENET_V1_LAYERS = [(2, 32), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
                       (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024)]


def mobilenet_v1(images, num_classes=1000, is_training=False, depth_multiplier=0.25,
                 scope="MobilenetV1"):
    end_points: dict = {}
    def depth(n):
        return max(int(n * depth_multiplier), 8)
    with tf.compat.v1.variable_scope(scope, "MobilenetV1", [images]):
        with slim.arg_scope(arg_scope(tf.nn.relu6, is_training)):
            net = images
            for i, (stride, d) in enumerate(MOBILENET_V1_LAYERS):
                if i == 0:
                    net = slim.conv2d(net, depth(d), [3, 3], stride=stride, scope="Conv2d_0")
                    continue
                net = slim.separable_conv2d(net, None, [3, 3], depth_multiplier=1, stride=stride,
                                            scope=f"Conv2d_{i}_depthwise")
                net = slim.conv2d(net, depth(d), [1, 1], scope=f"Conv2d_{i}_pointwise")
        return _head(net, num_classes, end_points, conv=True)


mobilenet_v1.default_image_size = 128   # the table's "MobileNet v1 128" is 0.25 at 128x128

# (expansion, output channels, repeats, first stride)
MOBILENET_V2_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(images, num_classes=1000, is_training=False, depth_multiplier=0.35,
                 scope="MobilenetV2"):
    end_points: dict = {}
    def depth(n):
        return max(8, int(n * depth_multiplier + 4) // 8 * 8)
    with tf.compat.v1.variable_scope(scope, "MobilenetV2", [images]):
        with slim.arg_scope(arg_scope(tf.nn.relu6, is_training)):
            net = slim.conv2d(images, depth(32), [3, 3], stride=2, scope="Conv")
            index = 0
            for t, c, n, s in MOBILENET_V2_BLOCKS:
                for r in range(n):
                    name = "expanded_conv" if index == 0 else f"expanded_conv_{index}"
                    with tf.compat.v1.variable_scope(name):
                        x = net
                        if t != 1:
                            x = slim.conv2d(x, net.get_shape()[3] * t, [1, 1], scope="expand")
                        x = slim.separable_conv2d(x, None, [3, 3], depth_multiplier=1,
                                                  stride=s if r == 0 else 1, scope="depthwise")
                        x = slim.conv2d(x, depth(c), [1, 1], activation_fn=None, scope="project")
                        if x.get_shape()[1:] == net.get_shape()[1:]:
                            x = tf.add(x, net, name="add")
                        net = x
                    index += 1
            net = slim.conv2d(net, 1280 // 4, [1, 1], scope="Conv_1")
        return _head(net, num_classes, end_points, conv=True)


mobilenet_v2.default_image_size = 96


# -- NASNet-A mobile and PNASNet-5 mobile ----------------------------------------------------------


def _sep_stack(x, kernel, filters, stride, name):
    """NASNet's separable op: twice relu -> separable conv -> batch norm (stride on the first)."""
    for i in (1, 2):
        x = tf.nn.relu(x)
        x = slim.separable_conv2d(x, filters, kernel, depth_multiplier=1, stride=stride if i == 1 else 1,
                                  activation_fn=None, normalizer_fn=None,
                                  scope=f"separable_{kernel}x{kernel}_{i}")
        x = slim.batch_norm(x, scope=f"bn_sep_{kernel}x{kernel}_{i}")
    return x


def _apply(op, x, filters, stride):
    if op.startswith("sep"):
        return _sep_stack(x, int(op[3]), filters, stride, op)
    if op in ("avg3", "max3"):
        pool = slim.avg_pool2d if op == "avg3" else slim.max_pool2d
        x = pool(x, [3, 3], stride=stride, padding="SAME", scope=f"{op}_pool")
        if x.get_shape()[3] != filters:
            x = slim.conv2d(x, filters, [1, 1], activation_fn=None, scope="1x1")
        return x
    # identity; with a stride it is a strided 1x1 convolution
    if stride > 1 or x.get_shape()[3] != filters:
        x = tf.nn.relu(x)
        x = slim.conv2d(x, filters, [1, 1], stride=stride, activation_fn=None, scope="1x1")
    return x


def _factorized_reduction(x, filters):
    """Halve the spatial size without losing alignment: two strided 1x1 paths, the second
    shifted by one pixel (pad + slice), concatenated."""
    with tf.compat.v1.variable_scope("prev_reduction"):
        x = tf.nn.relu(x)
        p1 = slim.avg_pool2d(x, [1, 1], stride=2, padding="VALID", scope="path1_pool")
        p1 = slim.conv2d(p1, filters // 2, [1, 1], activation_fn=None, normalizer_fn=None, scope="path1_conv")
        p2 = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
        p2 = slim.avg_pool2d(p2, [1, 1], stride=2, padding="VALID", scope="path2_pool")
        p2 = slim.conv2d(p2, filters - filters // 2, [1, 1], activation_fn=None, normalizer_fn=None,
                         scope="path2_conv")
        return slim.batch_norm(_concat([p1, p2]), scope="final_path_bn")


def _cell(prev, cur, filters, stride, combos, concat, scope):
    """One NASNet/PNASNet cell: fit both inputs to ``filters`` channels and ``cur``'s size,
    five ``comb_iter`` (left op + right op) on the hidden states, concatenate ``concat``."""
    with tf.compat.v1.variable_scope(scope):
        if prev is None:
            prev = cur
        if prev.get_shape()[1] != cur.get_shape()[1]:
            prev = _factorized_reduction(prev, filters)
        elif prev.get_shape()[3] != filters:
            with tf.compat.v1.variable_scope("prev_1x1"):
                prev = slim.conv2d(tf.nn.relu(prev), filters, [1, 1], activation_fn=None)
        with tf.compat.v1.variable_scope("beginning"):
            cur = slim.conv2d(tf.nn.relu(cur), filters, [1, 1], activation_fn=None, scope="1x1")
        states = [cur, prev]
        for i, (lop, lin, rop, rin) in enumerate(combos):
            with tf.compat.v1.variable_scope(f"comb_iter_{i}"):
                outs = []
                for side, op, idx in (("left", lop, lin), ("right", rop, rin)):
                    with tf.compat.v1.variable_scope(side):
                        s = stride if idx < 2 else 1
                        outs.append(_apply(op, states[idx], filters, s))
                states.append(tf.add(outs[0], outs[1], name="combine"))
        with tf.compat.v1.variable_scope("cell_output"):
            return _concat([states[i] for i in concat])


# (left op, left input, right op, right input); inputs 0 = current, 1 = previous, 2.. = combos
NASNET_NORMAL = [("sep5", 0, "sep3", 1), ("sep5", 1, "sep3", 1), ("avg3", 0, "id", 1),
                 ("avg3", 1, "avg3", 1), ("sep3", 0, "id", 0)]
NASNET_NORMAL_CONCAT = [1, 2, 3, 4, 5, 6]
NASNET_REDUCTION = [("sep5", 0, "sep7", 1), ("max3", 0, "sep7", 1), ("avg3", 0, "sep5", 1),
                    ("avg3", 2, "id", 3), ("sep3", 2, "max3", 0)]
NASNET_REDUCTION_CONCAT = [3, 4, 5, 6]
PNASNET_CELL = [("sep5", 0, "max3", 0), ("sep7", 1, "max3", 1), ("sep5", 1, "sep3", 1),
                ("sep3", 0, "max3", 0), ("sep3", 1, "id", 0)]
PNASNET_CONCAT = [2, 3, 4, 5, 6]


def _cells_net(images, num_classes, plan, filters, is_training):
    """``plan``: (scope, combos, concat, stride, filter multiplier) per cell after the stem."""
    end_points: dict = {}
    with slim.arg_scope(arg_scope(is_training=is_training)):
        net = slim.conv2d(images, filters, [3, 3], stride=2, padding="VALID", activation_fn=None,
                          normalizer_fn=None, scope="conv0")
        net = slim.batch_norm(net, scope="conv0_bn")
        prev, cur = None, net
        for scope, combos, concat, stride, mult in plan:
            prev, cur = cur, _cell(prev, cur, filters * mult, stride, combos, concat, scope)
        net = tf.nn.relu(cur)
        with tf.compat.v1.variable_scope("final_layer"):
            net = tf.reduce_mean(net, [1, 2], name="global_pool")
            net = slim.dropout(net, 0.5, is_training=False)
            logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="FC")
            end_points["Logits"] = logits
            end_points["Predictions"] = slim.softmax(logits, scope="predictions")
    return logits, end_points


def nasnet_mobile(images, num_classes=1000, is_training=False):
    """NASNet-A mobile: two reduction stem cells, 3 stacks of 4 normal cells separated by
    reduction cells (``cell_0``..``cell_11``, ``reduction_cell_0/1``); no root scope."""
    n, r = (NASNET_NORMAL, NASNET_NORMAL_CONCAT), (NASNET_REDUCTION, NASNET_REDUCTION_CONCAT)
    plan = [("cell_stem_0", *r, 2, 1), ("cell_stem_1", *r, 2, 1)]
    cell = 0
    for stack in range(3):
        if stack:
            plan.append((f"reduction_cell_{stack - 1}", *r, 2, 2 ** stack))
        for _ in range(4):
            plan.append((f"cell_{cell}", *n, 1, 2 ** stack))
            cell += 1
    return _cells_net(images, num_classes, plan, 8, is_training)


nasnet_mobile.default_image_size = 99


def pnasnet_mobile(images, num_classes=1000, is_training=False):
    """PNASNet-5 mobile: two strided stem cells, 9 cells of which ``cell_3`` and ``cell_6``
    reduce with a stride (no reduction_cell scopes); no root scope."""
    c = (PNASNET_CELL, PNASNET_CONCAT)
    plan = [("cell_stem_0", *c, 2, 1), ("cell_stem_1", *c, 2, 1)]
    for i in range(9):
        stride = 2 if i in (3, 6) else 1
        plan.append((f"cell_{i}", *c, stride, 2 ** (i // 3)))
    return _cells_net(images, num_classes, plan, 8, is_training)


pnasnet_mobile.default_image_size = 99

NETS = {
    "inception_v4": inception_v4,
    "inception_resnet_v2": inception_resnet_v2,
    "mobilenet_v1_0.25_128": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "nasnet_mobile": nasnet_mobile,
    "pnasnet_mobile": pnasnet_mobile,
}
