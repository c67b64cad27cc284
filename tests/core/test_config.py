"""The Model Optimizer's shape and --input mini-languages (no TensorFlow)."""
from __future__ import annotations

import numpy as np
import pytest

from tfconv.config import merge_input_shapes, parse_inputs, parse_shape, parse_shapes
from tfconv.errors import UsageError


@pytest.mark.parametrize("text, shape", [
    ("[1,224,224,3]", (1, 224, 224, 3)),
    ("(1,224,224,3)", (1, 224, 224, 3)),
    ("[1 224 224 3]", (1, 224, 224, 3)),
    ("[ 1, 224 ,224, 3 ]", (1, 224, 224, 3)),
    ("[?,224,224,3]", (None, 224, 224, 3)),
    ("[-1,3]", (None, 3)),
    ("[1..4,3]", (None, 3)),
    ("[]", ()),
])
def test_parse_shape(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["[1,224,224", "1,2", "[a,3]", "[1.5]"])
def test_bad_shape_says_how_to_write_it(text):
    with pytest.raises(UsageError, match="cannot be parsed"):
        parse_shape(text)


def test_several_shapes():
    assert parse_shapes("[1,3],[1,?,5]") == [(1, 3), (1, None, 5)]


def test_input_items():
    a, b, c, d = parse_inputs("data[1,224,224,3]{f32},is_training->False,1:conv,pool:2")
    assert (a.name, a.shape, a.dtype) == ("data", (1, 224, 224, 3), "float32")
    assert b.name == "is_training" and bool(b.value) is False
    assert (c.name, c.in_port) == ("conv", 1)
    assert (d.name, d.out_port, d.tensor) == ("pool", 2, "pool:2")


def test_input_value_list_and_shape():
    (spec,) = parse_inputs("k[3]{i32}->[1 2 3]")
    assert spec.value.dtype == np.int32 and spec.value.tolist() == [1, 2, 3]


def test_input_value_size_mismatch():
    with pytest.raises(UsageError, match="3 elements"):
        parse_inputs("k[2]->[1,2,3]")


def test_unknown_type():
    with pytest.raises(UsageError, match="unknown type"):
        parse_inputs("x{float128}")


def test_input_shape_with_batch_is_refused():
    with pytest.raises(UsageError, match="not both"):
        merge_input_shapes([], "[1,3]", 2)


def test_input_shape_count_must_match_names():
    with pytest.raises(UsageError, match="one shape per input"):
        merge_input_shapes(parse_inputs("a,b"), "[1,3]", None)


def test_input_shape_applies_by_position():
    merged = merge_input_shapes(parse_inputs("a,b"), "[1,3],[2]", None)
    assert [(s.name, s.shape) for s in merged] == [("a", (1, 3)), ("b", (2,))]
