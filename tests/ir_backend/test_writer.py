"""The IR writer against the real OpenVINO runtime: format, weights, determinism, every op type."""
from __future__ import annotations

import math
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from tfconv.config import ConvertConfig  # noqa: E402
from tfconv.errors import OutputError  # noqa: E402
from tfconv.graph import Graph, Port  # noqa: E402
from tfconv.plugins import emitters, get_plugin_manager  # noqa: E402
from tfconv.translate import IRBuilder  # noqa: E402
from tfconv_ir_backend.writer import write_ir  # noqa: E402

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


# -- helpers -----------------------------------------------------------------------------------


def builder() -> IRBuilder:
    return IRBuilder(Graph("ir"), fold=False)


def param(b: IRBuilder, name: str, shape, dtype="float32") -> Port:
    port = b.emit("Parameter", [], name, {"shape": shape, "element_type": dtype})[0]
    b.graph.info(port).names[:] = [name, f"{name}:0"]
    return port


def result(b: IRBuilder, port: Port, name: str | None = None) -> Port:
    r = b.graph.add_op("Result", b.graph.unique_name(f"{port.node}:{port.index}/result"), [port])
    b.graph.outputs.append(Port(r.name))
    if name:
        b.graph.info(port).names[:] = [name, f"{name}:0"]
    return Port(r.name)


def write(graph: Graph, directory: Path, name: str = "model") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    xml, bin_, _mapping = write_ir(graph, directory, ConvertConfig(model_name=name))
    return xml, bin_


def run(xml: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    compiled = ov.Core().compile_model(ov.Core().read_model(xml), "CPU", F32)
    out = compiled(feeds)
    return [out[o] for o in compiled.outputs]


def const_data(xml: Path) -> dict[str, dict[str, str]]:
    root = ET.parse(xml).getroot()
    return {layer.get("name"): layer.find("data").attrib
            for layer in root.iter("layer") if layer.get("type") == "Const"}


# -- format ------------------------------------------------------------------------------------


def test_relu_layers_and_edges_regression(tmp_path):
    """A regression check, not an oracle: the expected text is the writer's own earlier output
    (reviewed by hand against the IR v11 format), so any change to the layout of layers, ports,
    names and edges shows up here. That the text is right is proved by OpenVINO below, which
    reads it, names the tensors as written and computes ReLU with it."""
    b = builder()
    x = param(b, "x", (None, 4))
    y = b.emit("Relu", [x], "act", {"_private": object()})[0]
    result(b, y, "logits")
    xml, _ = write(b.graph, tmp_path)
    text = xml.read_text()
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n<net name=\"model\" version=\"11\">")
    root = ET.parse(xml).getroot()
    body = (ET.tostring(root.find("layers")) + ET.tostring(root.find("edges"))).decode()
    got = ET.canonicalize(f"<r>{body}</r>", strip_text=True)
    golden = """
      <layers>
        <layer id="0" name="x" type="Parameter" version="opset1">
          <data shape="?,4" element_type="f32" />
          <output><port id="0" precision="FP32" names="x,x:0"><dim>-1</dim><dim>4</dim></port></output>
        </layer>
        <layer id="1" name="act" type="ReLU" version="opset1">
          <input><port id="0" precision="FP32"><dim>-1</dim><dim>4</dim></port></input>
          <output><port id="1" precision="FP32" names="logits,logits:0"><dim>-1</dim><dim>4</dim></port></output>
        </layer>
        <layer id="2" name="act:0/result" type="Result" version="opset1">
          <input><port id="0" precision="FP32"><dim>-1</dim><dim>4</dim></port></input>
        </layer>
      </layers>
      <edges>
        <edge from-layer="0" from-port="0" to-layer="1" to-port="0" />
        <edge from-layer="1" from-port="1" to-layer="2" to-port="0" />
      </edges>"""
    assert got == ET.canonicalize(f"<r>{golden}</r>", strip_text=True)
    assert "_private" not in text
    assert ET.parse(xml).getroot().find("rt_info/tfconv_version") is not None
    model = ov.Core().read_model(xml)
    assert model.inputs[0].get_names() == {"x", "x:0"}
    assert model.outputs[0].get_names() == {"logits", "logits:0"}
    data = np.array([[-2.0, -0.5, 0.0, 3.0], [1.5, -1.0, 2.0, -4.0]], np.float32)
    out, = run(xml, [data])
    np.testing.assert_array_equal(out, np.maximum(data, 0))


def test_dynamic_batch_runs_with_two_batch_sizes(tmp_path):
    b = builder()
    x = param(b, "x", (None, 3, 8, 8))
    w = b.const(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    y = b.emit("Convolution", [x, w], "conv", {"strides": [1, 1], "dilations": [1, 1],
                                               "pads_begin": [1, 1], "pads_end": [1, 1],
                                               "auto_pad": "explicit"})[0]
    result(b, y, "logits")
    xml, _ = write(b.graph, tmp_path)
    model = ov.Core().read_model(xml)
    assert model.inputs[0].get_partial_shape().to_string() == "[?,3,8,8]"
    for batch in (1, 3):
        data = np.random.default_rng(batch).standard_normal((batch, 3, 8, 8)).astype(np.float32)
        out, = run(xml, [data])
        np.testing.assert_allclose(out, conv2d(data, b.graph.op("w").value, (1, 1), (1, 1),
                                               (1, 1), (1, 1)), rtol=1e-4, atol=1e-4)


def test_port_names_become_tensor_names(tmp_path):
    b = builder()
    x = param(b, "input_1", (1, 4))
    y = b.emit("Sigmoid", [x], "probs")[0]
    result(b, y, "logits")
    xml, _ = write(b.graph, tmp_path)
    model = ov.Core().read_model(xml)
    assert {"logits", "logits:0"} <= model.outputs[0].get_names()
    assert {"input_1", "input_1:0"} <= model.inputs[0].get_names()
    assert model.output("logits:0").get_partial_shape().to_string() == "[1,4]"


def test_name_with_comma_is_escaped(tmp_path):
    b = builder()
    x = param(b, "x", (2,))
    y = b.emit("Relu", [x], "r")[0]
    result(b, y)
    b.graph.info(y).names[:] = ["a,b", "c"]
    xml, _ = write(b.graph, tmp_path)
    assert ov.Core().read_model(xml).outputs[0].get_names() == {"a,b", "c"}


def test_inputs_follow_meta_and_outputs_follow_graph_outputs(tmp_path):
    b = builder()
    a = param(b, "a", (2,))
    c = param(b, "c", (2,))
    b.graph.meta["inputs"] = ["c", "a"]
    s = b.emit("Subtract", [a, c], "sub")[0]
    m = b.emit("Multiply", [a, c], "mul")[0]
    result(b, m, "product")
    result(b, s, "difference")
    xml, _ = write(b.graph, tmp_path)
    model = ov.Core().read_model(xml)
    assert "c" in model.inputs[0].get_names() and "a" in model.inputs[1].get_names()
    assert "product" in model.outputs[0].get_names()
    assert "difference" in model.outputs[1].get_names()
    av, cv = np.array([5, 7], np.float32), np.array([2, 3], np.float32)
    prod, diff = run(xml, [cv, av])
    np.testing.assert_array_equal(prod, av * cv)
    np.testing.assert_array_equal(diff, av - cv)


def test_unknown_rank_parameter(tmp_path):
    b = builder()
    x = param(b, "x", None)
    result(b, b.emit("Abs", [x], "abs")[0])
    xml, _ = write(b.graph, tmp_path)
    assert 'shape="..."' in xml.read_text()
    model = ov.Core().read_model(xml)
    assert model.inputs[0].get_partial_shape().rank.is_dynamic
    model.reshape([2, 3])  # the CPU plugin needs a known rank
    data = -np.arange(6, dtype=np.float32).reshape(2, 3)
    out = ov.Core().compile_model(model, "CPU", F32)([data])
    np.testing.assert_array_equal(out[0], np.abs(data))


def test_float_attribute_round_trips_exactly(tmp_path):
    b = builder()
    x = param(b, "x", (3,))
    lo, hi = np.float32(0.1), 1 / 3
    result(b, b.emit("Clamp", [x], "clip", {"min": lo, "max": hi})[0])
    xml, _ = write(b.graph, tmp_path)
    clamp = next(op for op in ov.Core().read_model(xml).get_ops() if op.get_type_name() == "Clamp")
    assert clamp.get_attributes()["min"] == float(lo)
    assert clamp.get_attributes()["max"] == hi


# -- weights -----------------------------------------------------------------------------------


def test_equal_constants_share_one_blob(tmp_path):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 4)).astype(np.float32)
    other = rng.standard_normal((4, 4)).astype(np.float32)
    b = builder()
    x = param(b, "x", (1, 4))
    y1 = b.emit("MatMul", [x, b.const(w, "w1")], "mm1")[0]
    y2 = b.emit("MatMul", [y1, b.const(w.copy(), "w2")], "mm2")[0]
    y3 = b.emit("MatMul", [y2, b.const(other, "w3")], "mm3")[0]
    y4 = b.emit("Add", [y3, b.const(w.reshape(1, 16)[:, :4].copy(), "bias")], "add")[0]
    flat = b.emit("Reshape", [y4, b.const(np.array([1, 4], np.int64), "shape")], "flat",
                  {"special_zero": False})[0]
    y5 = b.emit("Multiply", [flat, b.const(w.reshape(16)[None, :4].copy(), "same_bytes")], "mul")[0]
    # Same bytes as w, seen through a transposed (non-contiguous) view.
    y6 = b.emit("MatMul", [y5, b.const(w.T.copy().T, "w_view")], "mm6")[0]
    result(b, y6)
    xml, bin_ = write(b.graph, tmp_path)
    data = const_data(xml)
    assert data["w1"]["offset"] == data["w2"]["offset"] == data["w_view"]["offset"]
    assert data["w3"]["offset"] != data["w1"]["offset"]
    assert data["bias"]["offset"] == data["same_bytes"]["offset"]
    assert data["bias"]["shape"] == "1,4"
    assert bin_.stat().st_size == w.nbytes + other.nbytes + 16 + 16
    xv = rng.standard_normal((1, 4)).astype(np.float32)
    ref = (((xv @ w @ w @ other) + w.reshape(-1)[:4]) * w.reshape(-1)[:4]) @ w
    np.testing.assert_allclose(run(xml, [xv])[0], ref, rtol=1e-4, atol=1e-5)


def test_output_is_byte_identical_on_repeat(tmp_path):
    b = builder()
    x = param(b, "x", (1, 3, 8, 8))
    rng = np.random.default_rng(2)
    w = b.const(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    y = b.emit("Convolution", [x, w], "conv", {"strides": [2, 2], "dilations": [1, 1],
                                               "pads_begin": [0, 0], "pads_end": [1, 1],
                                               "auto_pad": "explicit"})[0]
    y = b.emit("Add", [y, b.const(rng.standard_normal((1, 8, 1, 1)).astype(np.float32), "b")], "add")[0]
    result(b, b.emit("Clamp", [y], "relu6", {"min": 0.0, "max": 6.0})[0], "out")
    first = write(b.graph, tmp_path / "a")
    second = write(b.graph, tmp_path / "b")
    for p, q in zip(first, second):
        assert p.read_bytes() == q.read_bytes()


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int64", "int32", "int16",
                                   "int8", "uint8", "uint16", "uint32", "uint64", "bool"])
def test_constant_element_types_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(3)
    value = (rng.integers(0, 2, (2, 3)) if dtype == "bool" else rng.integers(0, 100, (2, 3)))
    value = value.astype(dtype)
    b = builder()
    c = b.const(value, "c")
    result(b, c, "value")
    scalar = b.const(value.reshape(-1)[4], "scalar")
    result(b, scalar)
    xml, bin_ = write(b.graph, tmp_path)
    data = const_data(xml)
    assert data["scalar"]["shape"] == ""
    assert int(data["c"]["size"]) == value.nbytes
    got, got_scalar = run(xml, [])
    assert got.dtype == value.dtype
    np.testing.assert_array_equal(got, value)
    np.testing.assert_array_equal(got_scalar, value.reshape(-1)[4])


@pytest.mark.parametrize("dtype", ["float32", "int64", "int32"])
def test_constant_added_to_parameter(tmp_path, dtype):
    value = np.arange(6).reshape(2, 3).astype(dtype)
    b = builder()
    x = param(b, "x", (2, 3), dtype)
    result(b, b.emit("Add", [x, b.const(value, "c")], "add")[0])
    xml, _ = write(b.graph, tmp_path)
    np.testing.assert_array_equal(run(xml, [value])[0], value + value)


def test_empty_constant(tmp_path):
    b = builder()
    x = param(b, "x", (2, 3))
    y = b.emit("Concat", [b.const(np.zeros((0, 3), np.float32), "nothing"), x], "cat", {"axis": 0})[0]
    result(b, y)
    xml, bin_ = write(b.graph, tmp_path)
    assert const_data(xml)["nothing"]["shape"] == "0,3"
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run(xml, [data])[0], data)


def test_big_endian_constant_is_written_little_endian(tmp_path):
    value = np.arange(4, dtype=">i4")
    b = builder()
    result(b, b.const(value, "c"))
    xml, bin_ = write(b.graph, tmp_path)
    assert bin_.read_bytes() == np.arange(4, dtype="<i4").tobytes()
    np.testing.assert_array_equal(run(xml, [])[0], np.arange(4))


def test_string_constant_is_a_clear_error(tmp_path):
    b = builder()
    result(b, b.const(np.array(["a", "b"]), "labels"))
    with pytest.raises(OutputError, match="'labels'.*strings"):
        write(b.graph, tmp_path)


def test_writer_streams_weights_without_copies(tmp_path):
    b = builder()
    x = param(b, "x", (1, 1024))
    rng = np.random.default_rng(4)
    y = x
    for i in range(8):  # 8 x 4 MiB
        y = b.emit("MatMul", [y, b.const(rng.standard_normal((1024, 1024), np.float32), f"w{i}")],
                   f"mm{i}")[0]
    result(b, y)
    tracemalloc.start()
    try:
        write(b.graph, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024
    assert (tmp_path / "model.bin").stat().st_size == 8 * 4 * 1024 * 1024


def test_disk_write_back_starts_only_for_a_bin_that_replaces_one(tmp_path, monkeypatch):
    """Starting the disk early (``posix_fadvise``) only pays when the staged ``.bin`` will be
    flushed before it replaces the user's (tfconv.output): a new IR in a fresh place leaves
    the write-back to the kernel, after tfconv has exited."""
    import os

    import tfconv_ir_backend.writer as writer
    if not hasattr(os, "posix_fadvise"):
        pytest.skip("no posix_fadvise on this OS")
    calls: list[int] = []
    monkeypatch.setattr(writer.os, "posix_fadvise", lambda fd, off, n, advice: calls.append(n))
    b = builder()
    x = param(b, "x", (1, 1024))
    rng = np.random.default_rng(5)
    y = x
    for i in range(4):  # 16 MiB of weights: two write-back steps' worth
        y = b.emit("MatMul", [y, b.const(rng.standard_normal((1024, 1024), np.float32), f"w{i}")],
                   f"mm{i}")[0]
    result(b, y)
    out = tmp_path / "out"
    fresh = write(b.graph, out / "staging")
    assert calls == []
    (out / "model.bin").write_bytes(b"the user's old IR")  # now the .bin replaces one
    write(b.graph, out / "staging2")
    assert len(calls) >= 2 and sum(calls) == fresh[1].stat().st_size


# -- plugin --------------------------------------------------------------------------------------


def test_plugin_registers_the_ir_emitter(tmp_path):
    pm = get_plugin_manager(autoload=False, extra=["tfconv_ir_backend.plugin"])
    entry = emitters(pm).get("ir")
    assert entry.write is write_ir and "IR v11" in entry.description
    b = builder()
    result(b, b.emit("Relu", [param(b, "x", (2,))], "r")[0])
    written = entry.write(b.graph, tmp_path, ConvertConfig(model_name="net"))
    assert [p.name for p in written] == ["net.xml", "net.bin", "net.mapping"]
    assert ET.parse(written[0]).getroot().get("name") == "net"


# -- every op type -------------------------------------------------------------------------------
#
# Each case builds a one-op model from Parameters and Consts and gives the numpy result. The test
# checks that OpenVINO reads the layer (type, opset version, attributes), that its shapes agree
# with the ones tfconv.irops inferred, and that the numbers match.


def conv2d(x, w, strides, dilations, pb, pe, groups=1):
    x = np.pad(x, [(0, 0), (0, 0), (pb[0], pe[0]), (pb[1], pe[1])])
    n, c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    oh = (h - (kh - 1) * dilations[0] - 1) // strides[0] + 1
    ow = (wd - (kw - 1) * dilations[1] - 1) // strides[1] + 1
    out = np.zeros((n, o, oh, ow), np.float64)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilations[0], j * dilations[1]
            patch = x[:, :, r0:r0 + strides[0] * (oh - 1) + 1:strides[0],
                      c0:c0 + strides[1] * (ow - 1) + 1:strides[1]]
            patch = patch.reshape(n, groups, c // groups, oh, ow)
            wg = w[:, :, i, j].reshape(groups, o // groups, ci)
            out += np.einsum("ngchw,goc->ngohw", patch, wg).reshape(n, o, oh, ow)
    return out.astype(np.float32)


def pool2d(x, kernel, strides, pb, pe, kind, exclude_pad=True, ceil=False):
    n, c, h, w = x.shape
    oh = (h + pb[0] + pe[0] - kernel[0] + (strides[0] - 1 if ceil else 0)) // strides[0] + 1
    ow = (w + pb[1] + pe[1] - kernel[1] + (strides[1] - 1 if ceil else 0)) // strides[1] + 1
    extra_h = max(0, (oh - 1) * strides[0] + kernel[0] - (h + pb[0] + pe[0]))
    extra_w = max(0, (ow - 1) * strides[1] + kernel[1] - (w + pb[1] + pe[1]))
    pads = [(0, 0), (0, 0), (pb[0], pe[0] + extra_h), (pb[1], pe[1] + extra_w)]
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x.astype(np.float64), pads, constant_values=fill)
    # Count only real elements for exclude-pad; explicit pads count otherwise, ceil overhang never.
    real = np.pad(np.ones((h, w)), pads[2:])
    pads_in = np.pad(np.ones((h + pb[0] + pe[0], w + pb[1] + pe[1])), [(0, extra_h), (0, extra_w)])
    out = np.full((n, c, oh, ow), -np.inf if kind == "max" else 0.0)
    count = np.zeros((oh, ow))
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            sl = (slice(i, i + strides[0] * (oh - 1) + 1, strides[0]),
                  slice(j, j + strides[1] * (ow - 1) + 1, strides[1]))
            v = xp[(slice(None), slice(None), *sl)]
            out = np.maximum(out, v) if kind == "max" else out + v
            count += (real if exclude_pad else pads_in)[sl]
    return (out if kind == "max" else out / count).astype(np.float32)


def deconv2d(x, w, strides, pb, pe, output_padding=(0, 0)):
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    full = np.zeros((n, o, strides[0] * (h - 1) + kh + output_padding[0],
                     strides[1] * (wd - 1) + kw + output_padding[1]))
    for i in range(kh):
        for j in range(kw):
            full[:, :, i:i + strides[0] * (h - 1) + 1:strides[0],
                 j:j + strides[1] * (wd - 1) + 1:strides[1]] += np.einsum("nchw,co->nohw", x, w[:, :, i, j])
    return full[:, :, pb[0]:full.shape[2] - pe[0], pb[1]:full.shape[3] - pe[1]].astype(np.float32)


RNG = np.random.default_rng(42)


def rand(*shape, low=-2.0, high=2.0):
    return RNG.uniform(low, high, shape).astype(np.float32)


def i64(*values):
    return np.array(values, np.int64)


Case = Callable[[IRBuilder], tuple[list[np.ndarray], list[Port], list[np.ndarray]]]
CASES: dict[str, Case] = {}


def case(name: str):
    def register(fn: Case) -> Case:
        assert name not in CASES
        CASES[name] = fn
        return fn
    return register


def unary_case(ir_type: str, ref, low=-2.0, high=2.0, attrs=None, dtype="float32"):
    def build(b):
        x = rand(2, 3, 4, low=low, high=high)
        if dtype == "bool":
            x = x > 0
        p = param(b, "x", x.shape, dtype)
        return [x], b.emit(ir_type, [p], ir_type, attrs or {}), [ref(x)]
    CASES[ir_type] = build


def _erf(x):
    return np.vectorize(math.erf)(x.astype(np.float64)).astype(np.float32)


def _relu6(x):
    return np.clip(x, 0, 6)


for _t, _ref, _lo, _hi, _attrs in [
    ("Abs", np.abs, -2, 2, None), ("Negative", np.negative, -2, 2, None),
    ("Exp", np.exp, -2, 2, None), ("Log", np.log, 0.1, 4, None), ("Sqrt", np.sqrt, 0, 4, None),
    ("Floor", np.floor, -3, 3, None), ("Ceiling", np.ceil, -3, 3, None),
    ("Sign", np.sign, -2, 2, None), ("Sin", np.sin, -3, 3, None), ("Cos", np.cos, -3, 3, None),
    ("Tan", np.tan, -1, 1, None), ("Asin", np.arcsin, -0.9, 0.9, None),
    ("Acos", np.arccos, -0.9, 0.9, None), ("Atan", np.arctan, -3, 3, None),
    ("Sinh", np.sinh, -2, 2, None), ("Cosh", np.cosh, -2, 2, None), ("Tanh", np.tanh, -3, 3, None),
    ("Relu", lambda x: np.maximum(x, 0), -2, 2, None),
    ("Sigmoid", lambda x: 1 / (1 + np.exp(-x)), -4, 4, None),
    ("Erf", _erf, -2, 2, None),
    ("Elu", lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)), -2, 2, {"alpha": 0.5}),
    ("Clamp", lambda x: np.clip(x, -0.5, 1.25), -2, 2, {"min": -0.5, "max": 1.25}),
    ("HSwish", lambda x: x * _relu6(x + 3) / 6, -5, 5, None),
    ("HSigmoid", lambda x: _relu6(x + 3) / 6, -5, 5, None),
    ("Mish", lambda x: x * np.tanh(np.log1p(np.exp(x))), -3, 3, None),
    ("SoftPlus", lambda x: np.log1p(np.exp(x)), -3, 3, None),
    ("Swish", lambda x: x / (1 + np.exp(-x)), -3, 3, None),
    ("SoftSign", lambda x: x / (1 + np.abs(x)), -3, 3, None),
    ("Gelu", lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), -3, 3, {"approximation_mode": "ERF"}),
    ("Round", lambda x: np.round(x), -3, 3, {"mode": "half_to_even"}),
]:
    unary_case(_t, _ref, _lo, _hi, _attrs)
unary_case("LogicalNot", np.logical_not, dtype="bool")


@case("Einsum")
def _(b):
    x, y = rand(2, 3, 4), rand(4, 5)
    z = b.emit("Einsum", [param(b, "x", x.shape), param(b, "y", y.shape)], "einsum",
               {"equation": "abc,cd->abd"})
    return [x, y], z, [np.einsum("abc,cd->abd", x, y)]


@case("Selu")
def _(b):
    x = rand(2, 3, 4, low=-3, high=3)
    alpha, scale = np.float32(1.6732632), np.float32(1.050701)
    y = b.emit("Selu", [param(b, "x", x.shape), b.const(alpha, "alpha"), b.const(scale, "lambda")],
               "selu")
    return [x], y, [scale * np.where(x > 0, x, alpha * (np.exp(x) - 1))]


def binary_case(ir_type: str, ref, low=-2.0, high=2.0, dtype="float32"):
    def build(b):
        x, y = rand(2, 3, 4, low=low, high=high), rand(3, 1, low=low, high=high)
        if dtype == "bool":
            x, y = x > 0, y > 0
        px, py = param(b, "x", x.shape, dtype), param(b, "y", y.shape, dtype)
        return [x, y], b.emit(ir_type, [px, py], ir_type), [ref(x, y)]
    CASES[ir_type] = build


for _t, _ref, _lo, _hi in [
    ("Add", np.add, -2, 2), ("Subtract", np.subtract, -2, 2), ("Multiply", np.multiply, -2, 2),
    ("Divide", np.divide, 0.5, 2), ("Maximum", np.maximum, -2, 2), ("Minimum", np.minimum, -2, 2),
    ("Power", np.power, 0.5, 2), ("SquaredDifference", lambda a, c: (a - c) ** 2, -2, 2),
    ("FloorMod", np.mod, 0.5, 3), ("Equal", np.equal, -1, 1), ("NotEqual", np.not_equal, -1, 1),
    ("Less", np.less, -2, 2), ("LessEqual", np.less_equal, -2, 2),
    ("Greater", np.greater, -2, 2), ("GreaterEqual", np.greater_equal, -2, 2),
]:
    binary_case(_t, _ref, _lo, _hi)
for _t, _ref in [("LogicalAnd", np.logical_and), ("LogicalOr", np.logical_or),
                 ("LogicalXor", np.logical_xor)]:
    binary_case(_t, _ref, dtype="bool")


def reduce_case(ir_type: str, ref, dtype="float32"):
    def build(b):
        x = rand(2, 3, 4, low=0.5, high=1.5)
        if dtype == "bool":
            x = x > 1
        px = param(b, "x", x.shape, dtype)
        outs = [b.emit(ir_type, [px, b.const(i64(1, -1), "axes")], "keep", {"keep_dims": True})[0],
                b.emit(ir_type, [px, b.const(i64(0), "axis0")], "drop", {"keep_dims": False})[0]]
        return [x], outs, [ref(x, axis=(1, 2), keepdims=True), ref(x, axis=(0,), keepdims=False)]
    CASES[ir_type] = build


for _t, _ref in [("ReduceMean", np.mean), ("ReduceSum", np.sum), ("ReduceMax", np.max),
                 ("ReduceMin", np.min), ("ReduceProd", np.prod),
                 ("ReduceL2", lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)))]:
    reduce_case(_t, _ref)
reduce_case("ReduceLogicalAnd", np.all, "bool")
reduce_case("ReduceLogicalOr", np.any, "bool")


@case("Convolution")
def _(b):
    x, w = rand(1, 3, 9, 9), rand(4, 3, 3, 3)
    attrs = {"strides": [2, 1], "dilations": [1, 2], "pads_begin": [1, 0], "pads_end": [0, 2],
             "auto_pad": "explicit"}
    y = b.emit("Convolution", [param(b, "x", x.shape), b.const(w, "w")], "conv", attrs)
    return [x], y, [conv2d(x, w, (2, 1), (1, 2), (1, 0), (0, 2))]


@case("Convolution-same_upper")
def _(b):
    x, w = rand(1, 2, 7, 7), rand(3, 2, 3, 3)
    attrs = {"strides": [2, 2], "dilations": [1, 1], "pads_begin": [0, 0], "pads_end": [0, 0],
             "auto_pad": "same_upper"}
    y = b.emit("Convolution", [param(b, "x", x.shape), b.const(w, "w")], "conv", attrs)
    return [x], y, [conv2d(x, w, (2, 2), (1, 1), (1, 1), (1, 1))]


@case("GroupConvolution")
def _(b):
    x, w = rand(1, 4, 6, 6), rand(2, 3, 2, 3, 3)
    attrs = {"strides": [1, 1], "dilations": [1, 1], "pads_begin": [1, 1], "pads_end": [1, 1],
             "auto_pad": "explicit"}
    y = b.emit("GroupConvolution", [param(b, "x", x.shape), b.const(w, "w")], "gconv", attrs)
    return [x], y, [conv2d(x, w.reshape(6, 2, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), groups=2)]


@case("ConvolutionBackpropData")
def _(b):
    x, w = rand(1, 3, 4, 4), rand(3, 2, 3, 3)
    attrs = {"strides": [2, 2], "dilations": [1, 1], "pads_begin": [1, 1], "pads_end": [0, 0],
             "auto_pad": "explicit", "output_padding": [0, 0]}
    y = b.emit("ConvolutionBackpropData", [param(b, "x", x.shape), b.const(w, "w")], "deconv", attrs)
    return [x], y, [deconv2d(x, w, (2, 2), (1, 1), (0, 0))]


@case("MaxPool")
def _(b):
    x = rand(1, 2, 7, 7)
    attrs = {"strides": [2, 2], "kernel": [3, 3], "pads_begin": [1, 1], "pads_end": [1, 1],
             "rounding_type": "floor", "auto_pad": "explicit"}
    y = b.emit("MaxPool", [param(b, "x", x.shape)], "pool", attrs)
    return [x], y, [pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1), "max")]


@case("MaxPool-ceil")
def _(b):
    x = rand(1, 2, 6, 6)
    attrs = {"strides": [2, 2], "kernel": [3, 3], "pads_begin": [0, 0], "pads_end": [0, 0],
             "rounding_type": "ceil", "auto_pad": "explicit"}
    y = b.emit("MaxPool", [param(b, "x", x.shape)], "pool", attrs)
    return [x], y, [pool2d(x, (3, 3), (2, 2), (0, 0), (0, 0), "max", ceil=True)]


@case("AvgPool-exclude_pad")
def _(b):
    x = rand(1, 2, 6, 6)
    attrs = {"strides": [2, 2], "kernel": [3, 3], "pads_begin": [1, 1], "pads_end": [1, 1],
             "exclude-pad": True, "rounding_type": "floor", "auto_pad": "explicit"}
    y = b.emit("AvgPool", [param(b, "x", x.shape)], "pool", attrs)
    return [x], y, [pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1), "avg", exclude_pad=True)]


@case("AvgPool-include_pad")
def _(b):
    x = rand(1, 2, 6, 6)
    attrs = {"strides": [1, 1], "kernel": [3, 3], "pads_begin": [1, 1], "pads_end": [1, 1],
             "exclude-pad": False, "rounding_type": "floor", "auto_pad": "explicit"}
    y = b.emit("AvgPool", [param(b, "x", x.shape)], "pool", attrs)
    return [x], y, [pool2d(x, (3, 3), (1, 1), (1, 1), (1, 1), "avg", exclude_pad=False)]


@case("MatMul")
def _(b):
    x, w = rand(2, 5, 3), rand(4, 3)
    y = b.emit("MatMul", [param(b, "x", x.shape), b.const(w, "w")], "mm",
               {"transpose_a": False, "transpose_b": True})
    return [x], y, [x @ w.T]


@case("MatMul-transpose_a")
def _(b):
    x, y = rand(3, 2), rand(3, 4)
    out = b.emit("MatMul", [param(b, "x", x.shape), param(b, "y", y.shape)], "mm",
                 {"transpose_a": True, "transpose_b": False})
    return [x, y], out, [x.T @ y]


@case("SoftMax")
def _(b):
    x = rand(2, 3, 4)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return [x], b.emit("SoftMax", [param(b, "x", x.shape)], "sm", {"axis": -1}), [e / e.sum(-1, keepdims=True)]


@case("LogSoftmax")
def _(b):
    x = rand(2, 3, 4)
    ref = x - np.log(np.exp(x).sum(1, keepdims=True))
    return [x], b.emit("LogSoftmax", [param(b, "x", x.shape)], "lsm", {"axis": 1}), [ref]


@case("BatchNormInference")
def _(b):
    x = rand(2, 3, 4, 4)
    g, be, m, v = rand(3), rand(3), rand(3), rand(3, low=0.5, high=2)
    ins = [param(b, "x", x.shape)] + [b.const(a, n) for a, n in zip((g, be, m, v), "gbmv")]
    r = lambda a: a.reshape(1, 3, 1, 1)  # noqa: E731
    ref = (x - r(m)) / np.sqrt(r(v) + 1e-3) * r(g) + r(be)
    return [x], b.emit("BatchNormInference", ins, "bn", {"epsilon": 1e-3}), [ref]


@case("MVN")
def _(b):
    x = rand(2, 3, 4, 4)
    y = b.emit("MVN", [param(b, "x", x.shape), b.const(i64(2, 3), "axes")], "mvn",
               {"normalize_variance": True, "eps": 1e-6, "eps_mode": "inside_sqrt"})
    mean, var = x.mean((2, 3), keepdims=True), x.var((2, 3), keepdims=True)
    return [x], y, [(x - mean) / np.sqrt(var + 1e-6)]


@case("NormalizeL2")
def _(b):
    x = rand(2, 3, 4)
    y = b.emit("NormalizeL2", [param(b, "x", x.shape), b.const(i64(1), "axes")], "l2",
               {"eps": 1e-6, "eps_mode": "add"})
    return [x], y, [x / np.sqrt((x * x).sum(1, keepdims=True) + 1e-6)]


@case("LRN")
def _(b):
    x = rand(1, 5, 3, 3)
    alpha, beta, bias, size = 1e-1, 0.75, 2.0, 3
    y = b.emit("LRN", [param(b, "x", x.shape), b.const(i64(1), "axes")], "lrn",
               {"alpha": alpha, "beta": beta, "bias": bias, "size": size})
    sq = np.pad(x * x, [(0, 0), (1, 1), (0, 0), (0, 0)])
    acc = sum(sq[:, i:i + 5] for i in range(3))
    return [x], y, [x / (bias + alpha / size * acc) ** beta]


@case("PRelu")
def _(b):
    x, slope = rand(1, 3, 2, 2), rand(3)
    y = b.emit("PRelu", [param(b, "x", x.shape), b.const(slope, "slope")], "prelu")
    return [x], y, [np.where(x > 0, x, x * slope.reshape(1, 3, 1, 1))]


@case("FakeQuantize")
def _(b):
    x = rand(1, 3, 4, 4) * 2
    lo, hi = np.float32(-1.0), np.float32(1.5)
    y = b.emit("FakeQuantize", [param(b, "x", x.shape), b.const(lo, "il"), b.const(hi, "ih"),
                                b.const(lo, "ol"), b.const(hi, "oh")], "fq",
               {"levels": 11, "auto_broadcast": "numpy"})
    step = (hi - lo) / 10
    expected = np.round((np.clip(x, lo, hi) - lo) / step) * step + lo
    return [x], y, [expected.astype(np.float32)]


@case("Select")
def _(b):
    c, x, y = rand(2, 3) > 0, rand(2, 3), rand(3)
    out = b.emit("Select", [param(b, "c", c.shape, "bool"), param(b, "x", x.shape),
                            param(b, "y", y.shape)], "sel", {"auto_broadcast": "numpy"})
    return [c, x, y], out, [np.where(c, x, y)]


@case("Convert")
def _(b):
    x = np.arange(-3, 3, dtype=np.float32).reshape(2, 3)
    y = b.emit("Convert", [param(b, "x", x.shape)], "cvt", {"destination_type": "int32"})
    return [x], y, [x.astype(np.int32)]


@case("Convert-to-bool")
def _(b):
    x = np.array([0, 1, 2, 0], np.int64)
    y = b.emit("Convert", [param(b, "x", x.shape, "int64")], "cvt", {"destination_type": "bool"})
    return [x], y, [x.astype(bool)]


@case("ShapeOf")
def _(b):
    x = rand(2, 3, 4)
    y = b.emit("ShapeOf", [param(b, "x", (None, 3, None))], "shape", {"output_type": "int32"})
    return [x], y, [np.array([2, 3, 4], np.int32)]


@case("Reshape")
def _(b):
    x = rand(2, 3, 4)
    y = b.emit("Reshape", [param(b, "x", x.shape), b.const(i64(0, -1, 2), "shape")], "rs",
               {"special_zero": True})
    return [x], y, [x.reshape(2, 6, 2)]


@case("Transpose")
def _(b):
    x = rand(2, 3, 4)
    y = b.emit("Transpose", [param(b, "x", x.shape), b.const(i64(2, 0, 1), "perm")], "tr")
    return [x], y, [x.transpose(2, 0, 1)]


@case("Transpose-empty_perm")
def _(b):
    x = rand(2, 3, 4)
    y = b.emit("Transpose", [param(b, "x", x.shape), b.const(np.zeros(0, np.int64), "perm")], "tr")
    return [x], y, [x.transpose()]


@case("Concat")
def _(b):
    x, y = rand(2, 3, 4), rand(2, 1, 4)
    out = b.emit("Concat", [param(b, "x", x.shape), param(b, "y", y.shape), b.const(y, "c")],
                 "cat", {"axis": -2})
    return [x, y], out, [np.concatenate([x, y, y], axis=1)]


@case("StridedSlice")
def _(b):
    x = rand(4, 5, 6)
    attrs = {"begin_mask": [0, 1, 0], "end_mask": [0, 0, 1], "new_axis_mask": [0, 0, 0],
             "shrink_axis_mask": [1, 0, 0], "ellipsis_mask": [0, 0, 0]}
    y = b.emit("StridedSlice", [param(b, "x", x.shape), b.const(i64(1, 0, 1), "begin"),
                                b.const(i64(2, -1, 0), "end"), b.const(i64(1, 2, 2), "strides")],
               "ss", attrs)
    return [x], y, [x[1, :-1:2, 1::2]]


@case("StridedSlice-new_axis")
def _(b):
    x = rand(4, 5)
    attrs = {"begin_mask": [1, 0, 1], "end_mask": [1, 0, 1], "new_axis_mask": [0, 1, 0],
             "shrink_axis_mask": [0, 0, 0], "ellipsis_mask": [0, 0, 0]}
    y = b.emit("StridedSlice", [param(b, "x", x.shape), b.const(i64(0, 0, 0), "begin"),
                                b.const(i64(0, 0, 0), "end"), b.const(i64(1, 1, -1), "strides")],
               "ss", attrs)
    return [x], y, [x[:, None, ::-1]]


@case("Gather")
def _(b):
    x = rand(3, 4, 5)
    y = b.emit("Gather", [param(b, "x", x.shape), b.const(np.array([[0, -1], [2, 1]], np.int32), "idx"),
                          b.const(i64(1), "axis")], "gather", {"batch_dims": 0})
    return [x], y, [np.take(x, [[0, 3], [2, 1]], axis=1)]


@case("Squeeze")
def _(b):
    x = rand(1, 3, 1, 4)
    y = b.emit("Squeeze", [param(b, "x", x.shape), b.const(i64(0, -2), "axes")], "sq")
    return [x], y, [x.reshape(3, 4)]


@case("Unsqueeze")
def _(b):
    x = rand(3, 4)
    y = b.emit("Unsqueeze", [param(b, "x", x.shape), b.const(i64(0, -1), "axes")], "usq")
    return [x], y, [x.reshape(1, 3, 4, 1)]


@case("Pad")
def _(b):
    x = rand(2, 3, 4)
    y = b.emit("Pad", [param(b, "x", x.shape), b.const(i64(0, 1, 2), "pb"), b.const(i64(1, 0, -1), "pe"),
                       b.const(np.float32(0.5), "value")], "pad", {"pad_mode": "constant"})
    ref = np.pad(x[:, :, :3], [(0, 1), (1, 0), (2, 0)], constant_values=0.5)
    return [x], y, [ref]


@case("Pad-reflect")
def _(b):
    x = rand(1, 3, 4)
    y = b.emit("Pad", [param(b, "x", x.shape), b.const(i64(0, 1, 2), "pb"), b.const(i64(0, 2, 1), "pe")],
               "pad", {"pad_mode": "reflect"})
    return [x], y, [np.pad(x, [(0, 0), (1, 2), (2, 1)], mode="reflect")]


@case("Split")
def _(b):
    x = rand(2, 6, 3)
    outs = b.emit("Split", [param(b, "x", x.shape), b.const(np.int64(1), "axis")], "split",
                  {"num_splits": 3})
    return [x], outs, list(np.split(x, 3, axis=1))


@case("VariadicSplit")
def _(b):
    x = rand(2, 7)
    outs = b.emit("VariadicSplit", [param(b, "x", x.shape), b.const(np.int64(-1), "axis"),
                                    b.const(i64(2, -1, 1), "lengths")], "vsplit")
    return [x], outs, [x[:, :2], x[:, 2:6], x[:, 6:]]


@case("Broadcast")
def _(b):
    x = rand(3, 1)
    y = b.emit("Broadcast", [param(b, "x", x.shape), b.const(i64(2, 3, 4), "shape")], "bc",
               {"mode": "numpy"})
    return [x], y, [np.broadcast_to(x, (2, 3, 4))]


@case("Broadcast-bidirectional")
def _(b):
    x = rand(3, 1)
    y = b.emit("Broadcast", [param(b, "x", x.shape), b.const(i64(2, 1, 4), "shape")], "bc",
               {"mode": "bidirectional"})
    return [x], y, [x * np.ones((2, 1, 4), np.float32)]


@case("Tile")
def _(b):
    x = rand(2, 3)
    y = b.emit("Tile", [param(b, "x", x.shape), b.const(i64(2, 1, 2), "reps")], "tile")
    return [x], y, [np.tile(x, (2, 1, 2))]


@case("Range")
def _(b):
    # The data Parameter keeps the model non-trivial; Range itself reads constants.
    x = rand(5)
    rng_ = b.emit("Range", [b.const(np.float32(0.5), "start"), b.const(np.float32(3.0), "stop"),
                            b.const(np.float32(0.5), "step")], "range", {"output_type": "float32"})[0]
    y = b.emit("Add", [param(b, "x", x.shape), rng_], "add")
    return [x], [rng_, *y], [np.arange(0.5, 3.0, 0.5, dtype=np.float32), x + np.arange(0.5, 3.0, 0.5)]


@case("DepthToSpace")
def _(b):
    x = rand(1, 8, 2, 3)
    y = b.emit("DepthToSpace", [param(b, "x", x.shape)], "d2s", {"mode": "blocks_first", "block_size": 2})
    ref = x.reshape(1, 2, 2, 2, 2, 3).transpose(0, 3, 4, 1, 5, 2).reshape(1, 2, 4, 6)
    return [x], y, [ref]


@case("SpaceToDepth")
def _(b):
    x = rand(1, 2, 4, 6)
    y = b.emit("SpaceToDepth", [param(b, "x", x.shape)], "s2d", {"mode": "blocks_first", "block_size": 2})
    ref = x.reshape(1, 2, 2, 2, 3, 2).transpose(0, 3, 5, 1, 2, 4).reshape(1, 8, 2, 3)
    return [x], y, [ref]


@case("Interpolate")
def _(b):
    x = rand(1, 2, 3, 4)
    attrs = {"mode": "nearest", "shape_calculation_mode": "sizes",
             "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor",
             "antialias": False, "pads_begin": [0, 0, 0, 0], "pads_end": [0, 0, 0, 0],
             "cube_coeff": -0.75}
    y = b.emit("Interpolate", [param(b, "x", x.shape), b.const(i64(6, 8), "sizes"),
                               b.const(i64(2, 3), "axes")], "resize", attrs)
    return [x], y, [x.repeat(2, axis=2).repeat(2, axis=3)]


@case("Interpolate-scales")
def _(b):
    x = rand(1, 2, 3, 4)
    attrs = {"mode": "nearest", "shape_calculation_mode": "scales",
             "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor",
             "antialias": False, "pads_begin": [0, 0, 0, 0], "pads_end": [0, 0, 0, 0],
             "cube_coeff": -0.75}
    y = b.emit("Interpolate", [param(b, "x", x.shape), b.const(np.array([2.0, 2.0], np.float32), "scales"),
                               b.const(i64(2, 3), "axes")], "resize", attrs)
    return [x], y, [x.repeat(2, axis=2).repeat(2, axis=3)]


@case("TopK")
def _(b):
    x = RNG.permutation(24).astype(np.float32).reshape(2, 3, 4)
    outs = b.emit("TopK", [param(b, "x", x.shape), b.const(np.int64(2), "k")], "topk",
                  {"axis": 1, "mode": "max", "sort": "value", "index_element_type": "int32",
                   "stable": False})
    idx = np.argsort(-x, axis=1)[:, :2]
    return [x], outs, [np.take_along_axis(x, idx, 1), idx.astype(np.int32)]


@case("CumSum")
def _(b):
    x = rand(2, 3, 4)
    y = b.emit("CumSum", [param(b, "x", x.shape), b.const(np.int64(1), "axis")], "cumsum",
               {"exclusive": False, "reverse": True})
    return [x], y, [np.flip(np.cumsum(np.flip(x, 1), 1), 1)]


@case("OneHot")
def _(b):
    x = np.array([[0, 2], [1, 3]], np.int32)
    y = b.emit("OneHot", [param(b, "x", x.shape, "int32"), b.const(np.int64(3), "depth"),
                          b.const(np.float32(5), "on"), b.const(np.float32(-1), "off")],
               "onehot", {"axis": -1})
    ref = np.where(np.arange(3) == x[..., None], 5, -1).astype(np.float32)
    return [x], y, [ref]


# -- detection ops (data-dependent output sizes) --------------------------------------------------


@case("NonMaxSuppression")
def _(b):
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 1.1], [2, 2, 3, 3], [3, 3, 2, 2.5]]], np.float32)
    scores = np.array([[[0.9, 0.8, 0.7, 0.6], [0.1, 0.5, 0.2, 0.3]]], np.float32)
    outs = b.emit("NonMaxSuppression", [
        param(b, "boxes", (1, None, 4)), param(b, "scores", (1, 2, None)),
        b.const(np.int64(3), "max"), b.const(np.float32(0.5), "iou"),
        b.const(np.float32(0.15), "score"), b.const(np.float32(0), "sigma")], "nms",
        {"box_encoding": "corner", "sort_result_descending": True, "output_type": "int32"})
    # class 0 keeps boxes 0 and 2 (1 and the flipped 3 overlap them: IoU 0.91, 0.5); class 1
    # drops box 0 (score 0.1), keeps 1 and 3, and 3 suppresses 2 (IoU 0.5 >= 0.5); by score
    idx = np.array([[0, 0, 0], [0, 0, 2], [0, 1, 1], [0, 1, 3]], np.int32)
    sel = np.array([[0, 0, 0.9], [0, 0, 0.7], [0, 1, 0.5], [0, 1, 0.3]], np.float32)
    return [boxes, scores], outs, [idx, sel, np.array([4], np.int32)]


@case("NonZero")
def _(b):
    x = rand(3, 4) > 0.5
    y = b.emit("NonZero", [param(b, "x", (None, 4), "bool")], "nz", {"output_type": "int64"})
    return [x], y, [np.array(np.nonzero(x), np.int64)]


@case("GatherND")
def _(b):
    x = rand(3, 4, 2)
    idx = np.array([[[0, 1], [2, 3]], [[1, 0], [2, 2]]], np.int64)
    y = b.emit("GatherND", [param(b, "x", (None, 4, 2)), b.const(idx, "indices")], "gnd",
               {"batch_dims": 0})
    return [x], y, [x[idx[..., 0], idx[..., 1]]]


@case("ROIPooling")
def _(b):
    x = rand(1, 2, 6, 8)
    rois = np.array([[0, 0.0, 0.0, 1.0, 1.0], [0, 0.25, 0.5, 0.75, 1.0]], np.float32)
    y = b.emit("ROIPooling", [param(b, "x", x.shape), param(b, "rois", (None, 5))], "roi",
               {"pooled_h": 1, "pooled_w": 1, "spatial_scale": 1.0, "method": "bilinear"})
    # bilinear, 1x1: the sample at the box centre in [0, H-1] x [0, W-1] coordinates
    def at(r):
        yy, xx = 0.5 * (r[2] + r[4]) * 5, 0.5 * (r[1] + r[3]) * 7
        y0, x0 = int(np.floor(yy)), int(np.floor(xx))
        y1, x1 = min(y0 + 1, 5), min(x0 + 1, 7)
        dy, dx = yy - y0, xx - x0
        f = x[0]
        return ((f[:, y0, x0] * (1 - dx) + f[:, y0, x1] * dx) * (1 - dy)
                + (f[:, y1, x0] * (1 - dx) + f[:, y1, x1] * dx) * dy)
    return [x, rois], y, [np.stack([at(r) for r in rois])[:, :, None, None]]


def _body_result(body: IRBuilder, port: Port) -> str:
    name = body.graph.unique_name(f"{port.node}/result")
    body.graph.add_op("Result", name, [port])
    body.graph.outputs.append(Port(name))
    return name


@case("Loop")
def _(b):
    # n iterations (an input) of a = a * 0.5 + i (the current iteration), the rows a of every
    # iteration concatenated, a limit of 3 in the body condition: min(n, 3) iterations
    x, n = rand(2, 3), np.array(5, np.int64)
    body = builder()
    a = param(body, "a", (2, 3))
    i = param(body, "i", (), "int64")
    i_f = body.emit("Convert", [i], "i_f", {"destination_type": "float32"})[0]
    half = body.emit("Multiply", [a, body.const(np.float32(0.5), "half")], "half_a")[0]
    nxt = body.emit("Add", [half, i_f], "next")[0]
    row = body.emit("Unsqueeze", [nxt, body.const(i64(0), "axis")], "row")[0]
    go = body.emit("Less", [i, body.const(np.int64(2), "two")], "go")[0]
    next_result, row_result, go_result = (_body_result(body, p) for p in (nxt, row, go))
    body.graph.meta["inputs"] = [a.node, i.node]
    y = b.emit("Loop", [param(b, "n", (), "int64"), b.const(np.bool_(True), "start"),
                        param(b, "x", (2, 3))], "loop",
               {"_body": body.graph, "_inputs": [(a.node, None)],
                "_outputs": [(next_result, None), (row_result, 0)],
                "_back_edges": [(next_result, a.node)], "_current_iteration": i.node,
                "_condition": go_result})
    rows, value = [], x
    for k in range(3):
        value = value * 0.5 + k
        rows.append(value)
    return [n, x], y, [value, np.stack(rows)]


@case("If")
def _(b):
    x = rand(4, 2)
    then, other = builder(), builder()
    t_x, e_x = param(then, "t_x", (4, 2)), param(other, "e_x", (4, 2))
    doubled = then.emit("Concat", [t_x, t_x], "twice", {"axis": 0})[0]
    t_res, e_res = _body_result(then, doubled), _body_result(other, e_x)
    then.graph.meta["inputs"], other.graph.meta["inputs"] = [t_x.node], [e_x.node]
    y = b.emit("If", [param(b, "c", (), "bool"), param(b, "x", (4, 2))], "if",
               {"_then_body": then.graph, "_else_body": other.graph,
                "_then_inputs": [t_x.node], "_else_inputs": [e_x.node],
                "_then_outputs": [t_res], "_else_outputs": [e_res]})
    return [np.bool_(True), x], y, [np.concatenate([x, x])]


# Types in irops.RULES without a case here: the sources and sinks themselves.
NOT_CASES = {"Parameter", "Const", "Result"}


def test_every_irops_type_has_a_case():
    # a run case (CASES) or at least a shape-inference case against OpenVINO (SHAPE_CASES)
    from tfconv import irops
    covered = {name.split("-")[0] for name in CASES} | {p.values[0] for p in SHAPE_CASES}
    missing = set(irops.RULES) - NOT_CASES - covered
    assert not missing, f"IR ops without a writer test case: {sorted(missing)}"


def _ov_shape(shape) -> str:
    """OpenVINO's partial shape with interval dims (``1..``, ``..6``) shown as ``?``."""
    if shape.rank.is_dynamic:
        return "[...]"
    return "[" + ",".join(str(d.get_length()) if d.is_static else "?" for d in shape) + "]"


def _our_shape(graph: Graph, port: Port) -> str:
    shape = graph.info(port).shape
    if shape is None:
        return "[...]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_reads_and_runs_in_openvino(tmp_path, name):
    b = builder()
    feeds, outs, refs = CASES[name](b)
    for port in outs:
        result(b, port)
    xml, _ = write(b.graph, tmp_path)
    model = ov.Core().read_model(xml)
    ours = [_our_shape(b.graph, p) for p in outs]
    theirs = [_ov_shape(o.get_partial_shape()) for o in model.outputs]
    assert ours == theirs, f"irops inferred {ours}, OpenVINO {theirs}"
    got = run(xml, feeds)
    assert len(got) == len(refs)
    for g, r, p in zip(got, refs, outs):
        assert g.dtype == b.graph.info(p).dtype
        assert g.shape == np.shape(r)
        if g.dtype == bool or np.issubdtype(g.dtype, np.integer):
            np.testing.assert_array_equal(g, r)
        else:
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)


# -- shape inference on edge cases -------------------------------------------------------------
#
# Only the shapes: tfconv.irops against OpenVINO's own inference after read_model. A ``?`` from
# irops where OpenVINO knows the dim is a loss of precision; other differences are wrong shapes.

CONV_ATTRS = {"strides": [2, 2], "dilations": [1, 1], "pads_begin": [0, 0], "pads_end": [0, 0],
              "auto_pad": "explicit"}
POOL_ATTRS = {"strides": [2, 2], "kernel": [3, 3], "pads_begin": [0, 0], "pads_end": [0, 0],
              "rounding_type": "floor", "auto_pad": "explicit"}
INTERP_ATTRS = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                "nearest_mode": "floor", "antialias": False, "pads_begin": [0, 0, 0, 0],
                "pads_end": [0, 0, 0, 0], "cube_coeff": -0.75}


def _known(reason: str):
    return pytest.mark.xfail(reason=f"tfconv.irops: {reason}", strict=True)


SHAPE_CASES = [
    pytest.param("MaxPool", [(None, 1, None, 7)], [],
                 {**POOL_ATTRS, "auto_pad": "same_lower"}, id="MaxPool-same_lower-dynamic"),
    pytest.param("MaxPool", [(1, 1, 5, 5)], [],
                 {**POOL_ATTRS, "kernel": [1, 1], "pads_end": [1, 1], "rounding_type": "ceil"},
                 id="MaxPool-ceil-window-in-pad"),
    pytest.param("MaxPool", [(1, 1, 7, 7)], [],
                 {**POOL_ATTRS, "pads_begin": [1, 1], "pads_end": [1, 1], "auto_pad": "valid"},
                 id="MaxPool-valid-ignores-pads"),
    pytest.param("Convolution", [(1, 2, 7, 7)], [np.ones((3, 2, 3, 3), np.float32)],
                 {**CONV_ATTRS, "pads_begin": [1, 1], "pads_end": [1, 1], "auto_pad": "valid"},
                 id="Convolution-valid-ignores-pads"),
    pytest.param("Convolution", [(None, 2, None, 7)], [np.ones((3, 2, 3, 3), np.float32)],
                 CONV_ATTRS, id="Convolution-dynamic"),
    pytest.param("ConvolutionBackpropData", [(1, 3, 4, 4)],
                 [np.ones((3, 2, 3, 3), np.float32), np.array([9, 9], np.int64)],
                 {**CONV_ATTRS, "auto_pad": "same_upper", "output_padding": [0, 0]},
                 id="ConvolutionBackpropData-output_shape"),
    pytest.param("Reshape", [(None, 3, 4)], [np.array([-1, 12], np.int64)],
                 {"special_zero": False}, id="Reshape-minus1-dynamic"),
    pytest.param("Reshape", [(None, 3, 4)], [np.array([0, -1], np.int64)],
                 {"special_zero": True}, id="Reshape-0-minus1-dynamic"),
    pytest.param("Reshape", [(0, 3, 4)], [np.array([0, -1], np.int64)],
                 {"special_zero": False}, id="Reshape-zero-size",
                 marks=_known("a zero-size input leaves -1 in the inferred shape")),
    pytest.param("Squeeze", [(1, None, 3, 1)], [], {}, id="Squeeze-no-axes-dynamic"),
    pytest.param("Unsqueeze", [(3, 4)], [np.array([0, 0], np.int64)], {},
                 id="Unsqueeze-repeated-axis"),
    pytest.param("Concat", [(None, 3), (2, 3)], [], {"axis": 1}, id="Concat-dynamic"),
    pytest.param("StridedSlice", [(2, 3, 4, 5)],
                 [np.array([0, 1], np.int64), np.array([0, 3], np.int64), np.array([1, 1], np.int64)],
                 {"begin_mask": [0, 0], "end_mask": [0, 0], "new_axis_mask": [0, 0],
                  "shrink_axis_mask": [0, 0], "ellipsis_mask": [1, 0]}, id="StridedSlice-ellipsis"),
    # computed bounds (an OD API box list clipped to a computed count): the rank and the
    # dims the bounds leave whole are still known
    pytest.param("StridedSlice", [(None, 4), (2,), (2,)], [np.array([1, 1], np.int64)],
                 {"begin_mask": [0, 1], "end_mask": [0, 1], "new_axis_mask": [0, 0],
                  "shrink_axis_mask": [0, 0], "ellipsis_mask": [0, 0]},
                 id="StridedSlice-computed-bounds"),
    pytest.param("StridedSlice", [(2, 3, 4, 5), (3,), (3,)], [np.array([1, 1, 1], np.int64)],
                 {"begin_mask": [0, 0, 0], "end_mask": [0, 0, 0], "new_axis_mask": [0, 1, 0],
                  "shrink_axis_mask": [1, 0, 0], "ellipsis_mask": [0, 0, 1]},
                 id="StridedSlice-computed-bounds-masks"),
    pytest.param("Gather", [(2, 5, 4), (2, 3)], [np.array(1, np.int64)], {"batch_dims": 1},
                 id="Gather-batch_dims"),
    pytest.param("VariadicSplit", [(None, 6)], [np.array(1, np.int64), np.array([1, -1], np.int64)],
                 {}, id="VariadicSplit-dynamic"),
    pytest.param("MatMul", [(3,), (3, 4)], [], {"transpose_a": True}, id="MatMul-1d"),
    pytest.param("MatMul", [(2, 1, 3, 4), (5, 4, 6)], [], {}, id="MatMul-batch-broadcast"),
    pytest.param("Tile", [(2, 3, 4)], [np.array([2], np.int64)], {}, id="Tile-fewer-repeats"),
    pytest.param("TopK", [(2, 6)], [np.array(8, np.int64)],
                 {"axis": -1, "mode": "min", "sort": "index", "index_element_type": "int64"},
                 id="TopK-k-larger-than-dim"),
    pytest.param("Range", [], [np.float32(1), np.float32(-1), np.float32(-0.3)],
                 {"output_type": "float32"}, id="Range-negative-step"),
    pytest.param("Interpolate", [(1, 2, 3, 5)],
                 [np.array([1.5, 1.5], np.float32), np.array([2, 3], np.int64)],
                 {**INTERP_ATTRS, "shape_calculation_mode": "scales"}, id="Interpolate-scales-1.5"),
    pytest.param("Interpolate", [(1, 2, 3, 5)],
                 [np.array([2.0, 2.0], np.float32), np.array([2, 3], np.int64)],
                 {**INTERP_ATTRS, "shape_calculation_mode": "scales", "pads_begin": [0, 0, 1, 1],
                  "pads_end": [0, 0, 1, 1]}, id="Interpolate-scales-pads",
                 marks=_known("Interpolate in scales mode ignores pads_begin/pads_end")),
    pytest.param("ReduceSum", [(2, 3), (1,)], [], {"keep_dims": False},
                 id="ReduceSum-parameter-axes",
                 marks=_known("non-constant axes give an unknown rank; the axes length fixes it")),
    pytest.param("ShapeOf", [None], [], {"output_type": "int64"}, id="ShapeOf-unknown-rank"),
    pytest.param("DepthToSpace", [(None, 8, None, 3)], [], {"mode": "depth_first", "block_size": 2},
                 id="DepthToSpace-dynamic"),
    # the op-coverage families (issue 12): shapes and types against OpenVINO's inference
    *[pytest.param(t, [(None, 3, 4)], [], {}, id=f"{t}-dynamic")
      for t in ("Asinh", "Acosh", "Atanh", "IsFinite", "IsNaN")],
    pytest.param("IsInf", [(2, None)], [], {"detect_negative": True, "detect_positive": False},
                 id="IsInf-dynamic"),
    pytest.param("BitwiseNot", [(None, 3)], [], {}, id="BitwiseNot-dynamic"),
    *[pytest.param(t, [(None, 1, 4), (3, 1)], [], {"auto_broadcast": "numpy"}, id=f"{t}-broadcast")
      for t in ("BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseLeftShift", "BitwiseRightShift")],
    pytest.param("Inverse", [(None, 3, 3)], [], {"adjoint": False}, id="Inverse-batch"),
    pytest.param("Roll", [(None, 5)], [np.array([2], np.int64), np.array([1], np.int64)], {},
                 id="Roll-dynamic"),
    pytest.param("ReverseSequence", [(None, 6, 2), (None,)], [],
                 {"batch_axis": 0, "seq_axis": 1}, id="ReverseSequence-dynamic"),
    pytest.param("ScatterNDUpdate", [(None, 4), (2, 1), (2, 4)], [], {"reduction": "none"},
                 id="ScatterNDUpdate-dynamic"),
    pytest.param("ScatterUpdate", [(5, None), (2,), (2, None)], [np.array(0, np.int64)], {},
                 id="ScatterUpdate-dynamic"),
    pytest.param("ScatterElementsUpdate", [(None, 4), (None, 4), (None, 4)],
                 [np.array(1, np.int64)], {"reduction": "none", "use_init_val": True},
                 id="ScatterElementsUpdate-dynamic"),
    pytest.param("Bucketize", [(None, 3)], [np.array([0.0, 1.0, 2.5], np.float32)],
                 {"output_type": "int32", "with_right_bound": True}, id="Bucketize-dynamic"),
    pytest.param("Unique", [(2, 3)], [], {"sorted": True, "index_element_type": "int64",
                                          "count_element_type": "int32"}, id="Unique-flat"),
    pytest.param("ExtractImagePatches", [(1, 2, 9, None)], [],
                 {"sizes": [3, 2], "strides": [2, 3], "rates": [1, 2], "auto_pad": "valid"},
                 id="ExtractImagePatches-valid"),
    pytest.param("ExtractImagePatches", [(1, 2, 9, 7)], [],
                 {"sizes": [3, 3], "strides": [2, 2], "rates": [1, 1], "auto_pad": "same_upper"},
                 id="ExtractImagePatches-same"),
    pytest.param("DFT", [(None, 8, 2)], [np.array([1], np.int64)], {}, id="DFT-dynamic"),
    pytest.param("IDFT", [(3, 8, 2)], [np.array([1], np.int64), np.array([5], np.int64)], {},
                 id="IDFT-signal_size"),
    pytest.param("RDFT", [(3, 8)], [np.array([1], np.int64)], {}, id="RDFT-last-axis"),
    pytest.param("IRDFT", [(3, 5, 2)], [np.array([1], np.int64)], {}, id="IRDFT-last-axis"),
    pytest.param("RandomUniform", [], [np.array([2, 3], np.int64), np.float32(0), np.float32(1)],
                 {"output_type": "float32", "global_seed": 1, "op_seed": 2}, id="RandomUniform"),
    pytest.param("Multinomial", [(None, 4)], [np.array([3], np.int64)],
                 {"convert_type": "i32", "with_replacement": True, "log_probs": False,
                  "global_seed": 1, "op_seed": 2}, id="Multinomial-dynamic"),
    pytest.param("CTCGreedyDecoderSeqLen", [(None, 6, 5), (None,)], [],
                 {"merge_repeated": True, "classes_index_type": "i32",
                  "sequence_length_type": "i32"}, id="CTCGreedyDecoderSeqLen-dynamic"),
    # the Sequence ops of tf_frontend's recurrent recogniser (their rules live there); the
    # sequence lengths as an int32 input, batch and time dynamic
    *[pytest.param(t, [(None, None, 3), *[(None, 1, 4)] * states, (None,)],
                   [np.ones((1, g * 4, 3), np.float32), np.ones((1, g * 4, 4), np.float32),
                    np.ones((1, g * 4), np.float32)],
                   {"hidden_size": 4, "direction": "forward", "activations": acts,
                    "activations_alpha": [], "activations_beta": [], "clip": 0.0},
                   id=f"{t}-dynamic")
      for t, states, g, acts in [("LSTMSequence", 2, 4, ["sigmoid", "tanh", "tanh"]),
                                 ("GRUSequence", 1, 3, ["sigmoid", "tanh"]),
                                 ("RNNSequence", 1, 1, ["tanh"])]],
]

# Parameter element types where float32 is not what the op takes (ir_type -> {input: type}).
PARAM_TYPES = {
    "Gather": {1: "int64"}, "ReduceSum": {1: "int64"}, "StridedSlice": {1: "int64", 2: "int64"},
    "BitwiseNot": {0: "int32"}, **{t: {0: "int32", 1: "int32"} for t in (
        "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseLeftShift", "BitwiseRightShift")},
    "ReverseSequence": {1: "int64"}, "ScatterNDUpdate": {1: "int64"}, "ScatterUpdate": {1: "int64"},
    "ScatterElementsUpdate": {1: "int64"}, "CTCGreedyDecoderSeqLen": {1: "int32"},
    "LSTMSequence": {3: "int32"}, "GRUSequence": {2: "int32"}, "RNNSequence": {2: "int32"},
}


@pytest.mark.parametrize(("ir_type", "param_shapes", "consts", "attrs"), SHAPE_CASES)
def test_inferred_shape_matches_openvino(tmp_path, ir_type, param_shapes, consts, attrs):
    b = builder()
    types = PARAM_TYPES.get(ir_type, {})
    ins = [param(b, f"p{i}", s, types.get(i, "float32")) for i, s in enumerate(param_shapes)]
    ins += [b.const(np.asarray(c), f"c{i}") for i, c in enumerate(consts)]
    outs = b.emit(ir_type, ins, ir_type, attrs)
    for port in outs:
        result(b, port)
    xml, _ = write(b.graph, tmp_path)
    model = ov.Core().read_model(xml)
    ours = [_our_shape(b.graph, p) for p in outs]
    assert ours == [_ov_shape(o.get_partial_shape()) for o in model.outputs]
    assert [b.graph.info(p).dtype for p in outs] == \
        [np.dtype(o.get_element_type().to_dtype()) for o in model.outputs]
