"""image.py translators vs real TF: ExtractImagePatches, AdjustContrastv2, RGBToHSV, HSVToRGB,
AdjustSaturation, AdjustHue."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


def patches(k, s, r, padding):
    return lambda x: raw.ExtractImagePatches(images=x, ksizes=[1, *k, 1], strides=[1, *s, 1],
                                             rates=[1, *r, 1], padding=padding)


IMG = rand((2, 7, 6, 3), "img", 0, 1)
# every hue sector, greys (range 0), black (v 0), and saturated primaries
PIXELS = np.array([[[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]],
                    [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]],
                    [[0.9, 0.2, 0.4], [0.1, 0.8, 0.3], [0.3, 0.2, 0.95], [0.7, 0.7, 0.1]]]],
                  np.float32)
HSV = np.concatenate([rand((2, 3, 4, 1), "h", 0, 0.999), rand((2, 3, 4, 2), "sv", 0, 1)],
                     axis=-1).astype(np.float32)

def argmax_pool(k, s, padding, batch_index=False):
    return lambda x: raw.MaxPoolWithArgmax(input=x, ksize=[1, *k, 1], strides=[1, *s, 1],
                                           padding=padding, include_batch_in_index=batch_index)


def resize(op, size, **kw):
    return lambda x: getattr(raw, op)(images=x, size=size, **kw)


def dilation(s, r, padding):
    return lambda x, f: raw.Dilation2D(input=x, filter=f, strides=[1, *s, 1], rates=[1, *r, 1],
                                       padding=padding)


CASES = [
    case("Dilation2D-valid", dilation((1, 1), (1, 1), "VALID"), IMG, rand((2, 3, 3), "f")),
    case("Dilation2D-same-strided-dilated", dilation((2, 1), (1, 2), "SAME"), IMG,
         rand((3, 2, 3), "f2")),
    case("Dilation2D-same-rates", dilation((1, 1), (2, 2), "SAME"), rand((2, 5, 5, 2), "d5"),
         rand((2, 2, 2), "f3")),
    case("ResizeBicubic-legacy-up", resize("ResizeBicubic", [11, 9]), IMG, rtol=1e-4),
    case("ResizeBicubic-legacy-down", resize("ResizeBicubic", [4, 3]), IMG, rtol=1e-4),
    case("ResizeBicubic-align-corners", resize("ResizeBicubic", [13, 8], align_corners=True),
         IMG, rtol=1e-4),
    case("ResizeBicubic-half-pixel-up", resize("ResizeBicubic", [12, 10],
                                               half_pixel_centers=True), IMG, rtol=1e-4),
    case("ResizeBicubic-half-pixel-down", resize("ResizeBicubic", [3, 5],
                                                 half_pixel_centers=True), IMG, rtol=1e-4),
    case("ResizeBicubic-uint8-dynamic-batch", resize("ResizeBicubic", [9, 9],
                                                     half_pixel_centers=True),
         rand((2, 7, 6, 3), "u8", 0, 255, np.uint8), shapes=[(None, 7, 6, 3)], rtol=1e-4),
    case("ResizeArea-down", resize("ResizeArea", [3, 4]), IMG, rtol=1e-4),
    case("ResizeArea-up-uneven", resize("ResizeArea", [10, 11]), IMG, rtol=1e-4),
    case("ResizeArea-align-corners", resize("ResizeArea", [4, 5], align_corners=True), IMG,
         rtol=1e-4),
    case("MaxPoolWithArgmax-valid", argmax_pool((2, 2), (2, 2), "VALID"), IMG),
    case("MaxPoolWithArgmax-same-overlapping", argmax_pool((3, 3), (2, 2), "SAME"), IMG),
    case("MaxPoolWithArgmax-batch-index", argmax_pool((3, 2), (1, 2), "SAME", True), IMG),
    case("MaxPoolWithArgmax-negative-dynamic-batch", argmax_pool((2, 3), (2, 1), "SAME"),
         rand((2, 5, 4, 2), "neg", -3, -1), shapes=[(None, 5, 4, 2)]),
    case("MaxPoolWithArgmax-int32-index", lambda x: raw.MaxPoolWithArgmax(
        input=x, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1], padding="VALID", Targmax=tf.int32),
         IMG),
    case("ExtractImagePatches-valid", patches((2, 2), (1, 1), (1, 1), "VALID"), IMG),
    case("ExtractImagePatches-same-strided", patches((3, 2), (2, 3), (1, 1), "SAME"), IMG),
    case("ExtractImagePatches-dilated", patches((2, 3), (1, 2), (2, 1), "VALID"), IMG),
    case("ExtractImagePatches-same-dilated", patches((3, 3), (2, 2), (2, 2), "SAME"),
         rand((1, 8, 9, 2), "img2")),
    case("ExtractImagePatches-dynamic-batch", patches((2, 2), (2, 2), (1, 1), "VALID"), IMG,
         shapes=[(None, 7, 6, 3)]),
    case("AdjustContrastv2", lambda x: raw.AdjustContrastv2(images=x, contrast_factor=1.7), IMG),
    case("AdjustContrastv2-dynamic-factor", lambda x, f: raw.AdjustContrastv2(
        images=x, contrast_factor=f), rand((5, 4, 3), "c3"), np.float32(0.4)),
    case("RGBToHSV", lambda x: raw.RGBToHSV(images=x), PIXELS),
    case("RGBToHSV-random", lambda x: raw.RGBToHSV(images=x), IMG),
    case("RGBToHSV-negative-values", lambda x: raw.RGBToHSV(images=x), rand((3, 4, 3), "neg", -1, 1)),
    case("RGBToHSV-empty", lambda x: raw.RGBToHSV(images=x), np.zeros((0, 3), np.float32)),
    case("HSVToRGB", lambda x: raw.HSVToRGB(images=x), HSV),
    case("HSVToRGB-hue-edges", lambda x: raw.HSVToRGB(images=x), np.array(
        [[1.0, 0.5, 0.8], [0.0, 1.0, 1.0], [-0.2, 0.4, 0.6], [1 / 6, 0.7, 0.9], [0.5, 0.0, 0.3],
         [5 / 6, 1.0, 0.5], [1.3, 0.2, 0.2]], np.float32)),
    case("HSVToRGB-round-trip", lambda x: raw.HSVToRGB(images=raw.RGBToHSV(images=x)), PIXELS),
    case("AdjustSaturation", lambda x: raw.AdjustSaturation(images=x, scale=1.8), IMG),
    case("AdjustSaturation-desaturate", lambda x: raw.AdjustSaturation(images=x, scale=0.3),
         PIXELS),
    case("AdjustHue", lambda x: raw.AdjustHue(images=x, delta=0.3), IMG),
    case("AdjustHue-negative", lambda x: raw.AdjustHue(images=x, delta=-0.45), PIXELS),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_image_op(build, arrays, kw):
    check(build, *arrays, **kw)
