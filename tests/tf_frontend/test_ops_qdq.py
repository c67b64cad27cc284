"""qdq.py translators vs real TF: QuantizeAndDequantizeV2/V3/V4 with given and data ranges,
signed and unsigned, narrow range, per-axis ranges, both rounding modes."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


X = rand((2, 3, 8), "q", -2.5, 3.5)
POS = rand((4, 5), "qp", 0, 4)


def v2(**kw):
    def build(x):
        return raw.QuantizeAndDequantizeV2(input=x, input_min=kw.pop("lo", -2.0),
                                           input_max=kw.pop("hi", 3.0), **kw)
    return build


CASES = [
    case("V2-given-range", v2(range_given=True), X),
    case("V2-given-range-narrow-4bit", v2(range_given=True, narrow_range=True, num_bits=4), X),
    case("V2-data-range", v2(range_given=False), X),
    case("V2-unsigned", v2(range_given=True, signed_input=False, lo=0.0, hi=3.0), POS),
    case("V2-half-up", v2(range_given=True, round_mode="HALF_UP"), X),
    # (TF takes a per-axis range from the data only)
    case("V4-per-middle-axis-data-range", lambda x: raw.QuantizeAndDequantizeV4(
        input=x, input_min=[0.0] * 3, input_max=[0.0] * 3, axis=1, num_bits=5), X),
    case("V2-per-axis-data-range", lambda x: raw.QuantizeAndDequantizeV2(
        input=x, input_min=[0.0] * 8, input_max=[0.0] * 8, axis=2), X),
    case("V3", lambda x: raw.QuantizeAndDequantizeV3(
        input=x, input_min=-2.0, input_max=3.0, num_bits=6, range_given=True), X),
    case("V4", lambda x: raw.QuantizeAndDequantizeV4(
        input=x, input_min=-1.5, input_max=1.5, range_given=True, num_bits=8), X),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_qdq_op(build, arrays, kw):
    check(build, *arrays, **kw)
