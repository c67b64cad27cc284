"""Graph core: ports, rewiring, ordering, dead code, inference and folding (no TensorFlow)."""
from __future__ import annotations

import numpy as np
import pytest

from tfconv.graph import Graph, GraphError, Port
from tfconv.translate import IRBuilder


def _chain() -> tuple[IRBuilder, Port]:
    b = IRBuilder(Graph("ir"))
    x = b.emit("Parameter", [], "x", {"shape": (None, 8, 8, 3), "element_type": "float32"})[0]
    return b, x


def test_inputs_are_ordered_by_port_and_rewired():
    g = Graph("tf")
    g.add_op("Placeholder", "a")
    g.add_op("Placeholder", "b")
    g.add_op("Sub", "s", [Port("b"), Port("a")])
    assert g.inputs("s") == [Port("b"), Port("a")]
    g.set_input("s", 0, Port("a"))
    assert g.inputs("s") == [Port("a"), Port("a")]
    assert g.consumers(Port("a")) == [("s", 0), ("s", 1)]


def test_duplicate_name_and_missing_input_are_errors():
    g = Graph("tf")
    g.add_op("Placeholder", "a")
    with pytest.raises(GraphError, match="already exists"):
        g.add_op("Placeholder", "a")
    with pytest.raises(GraphError, match="missing op 'nope'"):
        g.add_op("Relu", "r", [Port("nope")])


def test_topological_order_is_insertion_stable_and_cycles_reported():
    g = Graph("tf")
    for n in "zyx":
        g.add_op("Placeholder", n)
    g.add_op("AddN", "sum", [Port("x"), Port("z"), Port("y")])
    assert g.topological_order() == ["z", "y", "x", "sum"]
    g.set_input("z", 0, Port("sum"))
    with pytest.raises(GraphError, match="cycle"):
        g.topological_order()


def test_remove_dead_keeps_what_outputs_need():
    g = Graph("tf")
    g.add_op("Placeholder", "x")
    g.add_op("Relu", "used", [Port("x")])
    g.add_op("Relu", "unused", [Port("x")])
    g.outputs = [Port("used")]
    assert g.remove_dead() == 1
    assert "unused" not in g and "used" in g


def test_replace_uses_moves_outputs_too():
    g = Graph("tf")
    g.add_op("Placeholder", "x")
    g.add_op("Identity", "i", [Port("x")])
    g.add_op("Relu", "r", [Port("i")])
    g.outputs = [Port("i")]
    g.replace_uses(Port("i"), Port("x"))
    assert g.inputs("r") == [Port("x")] and g.outputs == [Port("x")]


def test_shape_inference_with_dynamic_batch():
    b, x = _chain()
    t = b.emit("Transpose", [x, b.const(np.array([0, 3, 1, 2]), "perm")], "t")[0]
    w = b.const(np.zeros((4, 3, 3, 3), np.float32), "w")
    y = b.emit("Convolution", [t, w], "conv", {"strides": [2, 2], "dilations": [1, 1],
                                               "pads_begin": [1, 1], "pads_end": [0, 0],
                                               "auto_pad": "explicit"})[0]
    assert b.graph.info(y).shape == (None, 4, 4, 4)
    m = b.emit("ReduceMean", [y, b.const(np.array([2, 3]), "axes")], "mean", {"keep_dims": False})[0]
    assert b.graph.info(m).shape == (None, 4)
    assert b.graph.info(m).dtype == np.float32


def test_constant_folding_of_a_static_shape_subgraph():
    b = IRBuilder(Graph("ir"))
    x = b.emit("Parameter", [], "x", {"shape": (2, 7, 7, 8), "element_type": "float32"})[0]
    shape = b.emit("ShapeOf", [x], "shape", {"output_type": "int64"})[0]
    batch = b.emit("StridedSlice", [shape, b.const(np.array([0]), "b"), b.const(np.array([1]), "e"),
                                    b.const(np.array([1]), "s")], "ss",
                   {"begin_mask": [0], "end_mask": [0], "shrink_axis_mask": [1]})[0]
    packed = b.emit("Concat", [b.emit("Unsqueeze", [batch, b.const(np.array([0]), "ax")], "u")[0],
                               b.const(np.array([-1]), "m1")], "pack", {"axis": 0})[0]
    flat = b.emit("Reshape", [x, packed], "flat", {"special_zero": False})[0]
    assert b.value(packed).tolist() == [2, -1]
    assert b.graph.info(flat).shape == (2, 392)
    assert [op.type for op in b.graph if op.type not in ("Const",)] == ["Parameter", "Reshape"]


def test_dynamic_shape_subgraph_stays():
    b, x = _chain()
    shape = b.emit("ShapeOf", [x], "shape", {"output_type": "int64"})[0]
    assert b.graph.op(shape.node).type == "ShapeOf"
    assert b.graph.info(shape).shape == (4,)


def test_strided_slice_shapes_with_masks():
    b, x = _chain()
    y = b.emit("StridedSlice", [x, b.const(np.array([0, 1]), "b"), b.const(np.array([0, -1]), "e"),
                                b.const(np.array([1, 1]), "s")], "ss",
               {"begin_mask": [1, 0], "end_mask": [1, 0], "new_axis_mask": [0, 0],
                "shrink_axis_mask": [0, 0], "ellipsis_mask": [0, 0]})[0]
    assert b.graph.info(y).shape == (None, 6, 8, 3)


def test_validate_rejects_internal_ops():
    g = Graph("ir")
    g.add_op("tfconv.InternalThing", "t")
    with pytest.raises(GraphError, match="internal op"):
        g.validate()
