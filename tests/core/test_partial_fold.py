"""IRBuilder's partial values: shape vectors with some entries known fold where the part used
is known (``ShapeOf([1,?,?,3])[0]`` -> Const 1), and stay ops where it is not (no TensorFlow)."""
from __future__ import annotations

import numpy as np
import pytest

from tfconv.graph import Graph, Port
from tfconv.translate import IRBuilder

I64 = np.int64


def _image() -> tuple[IRBuilder, Port]:
    b = IRBuilder(Graph("ir"))
    x = b.emit("Parameter", [], "x", {"shape": (1, None, None, 3), "element_type": "float32"})[0]
    return b, x


def _is_const(b: IRBuilder, port: Port, value) -> bool:
    v = b.value(port)
    return v is not None and np.array_equal(v, value)


def _slice(b: IRBuilder, data: Port, begin: int, end: int, shrink: int = 1) -> Port:
    c = [b.const(np.array([v], I64), n) for v, n in ((begin, "b"), (end, "e"), (1, "s"))]
    return b.emit("StridedSlice", [data, *c], "ss", {
        "begin_mask": [0], "end_mask": [0], "new_axis_mask": [0], "shrink_axis_mask": [shrink],
        "ellipsis_mask": [0]})[0]


def test_shape_of_partial_is_tracked_not_folded():
    b, x = _image()
    shape = b.emit("ShapeOf", [x], "shape", {"output_type": "int64"})[0]
    assert b.graph.op(shape.node).type == "ShapeOf"
    assert list(b.partial_value(shape)) == [1, None, None, 3]


@pytest.mark.parametrize(("index", "known"), [(0, 1), (3, 3), (1, None)], ids=["batch", "channels",
                                                                            "height"])
def test_gather_folds_only_known_entries(index, known):
    b, x = _image()
    shape = b.emit("ShapeOf", [x], "shape", {"output_type": "int32"})[0]
    got = b.emit("Gather", [shape, b.const(np.array(index, I64), "i"), b.const(np.array(0, I64),
                                                                          "a")], "g",
                 {"batch_dims": 0})[0]
    if known is None:
        assert b.value(got) is None and b.graph.op(got.node).type == "Gather"
    else:
        assert _is_const(b, got, known) and b.value(got).dtype == np.int32


def test_strided_slice_then_arithmetic_and_concat():
    b, x = _image()
    shape = b.emit("ShapeOf", [x], "shape", {"output_type": "int64"})[0]
    batch = _slice(b, shape, 0, 1)
    assert _is_const(b, batch, 1)
    last_two = _slice(b, shape, 2, 4, shrink=0)       # [?, 3]: stays an op, partially known
    assert b.value(last_two) is None
    doubled = b.emit("Multiply", [last_two, b.const(np.array([2, 2], I64), "two")], "m")[0]
    assert list(b.partial_value(doubled)) == [None, 6]
    unsq = b.emit("Unsqueeze", [batch, b.const(np.array([0], I64), "ax")], "u")[0]
    six = _slice(b, doubled, 1, 2, shrink=0)
    whole = b.emit("Concat", [unsq, six], "c", {"axis": 0})[0]
    assert _is_const(b, whole, [1, 6])
    cast = b.emit("Convert", [whole], "cv", {"destination_type": "int32"})[0]
    assert _is_const(b, cast, [1, 6]) and b.value(cast).dtype == np.int32


def test_reshape_to_a_partially_known_target_gets_its_dims():
    b, x = _image()
    shape = b.emit("ShapeOf", [x], "shape", {"output_type": "int64"})[0]
    batch = b.emit("Unsqueeze", [_slice(b, shape, 0, 1), b.const(np.array([0], I64), "ax")],
                   "u")[0]
    rows = b.emit("Unsqueeze", [_slice(b, shape, 1, 2), b.const(np.array([0], I64), "ax2")],
                  "u2")[0]
    target = b.emit("Concat", [batch, rows, b.const(np.array([-1], I64), "m1")], "t",
                    {"axis": 0})[0]
    assert list(b.partial_value(target)) == [1, None, -1]
    out = b.emit("Reshape", [x, target], "r", {"special_zero": False})[0]
    assert b.graph.info(out).shape == (1, None, None)
