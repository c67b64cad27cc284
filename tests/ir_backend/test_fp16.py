"""``ir_backend.compress_fp16``: f16 weights plus decompression Converts, checked with OpenVINO."""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from tfconv import pipeline  # noqa: E402
from tfconv.config import ConvertConfig  # noqa: E402
from tfconv.graph import Graph, Port  # noqa: E402
from tfconv.plugins import get_plugin_manager, passes  # noqa: E402
from tfconv.translate import IRBuilder  # noqa: E402
from tfconv_ir_backend.fp16 import compress_fp16  # noqa: E402
from tfconv_ir_backend.writer import write_ir  # noqa: E402

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
COMPRESS = ConvertConfig(model_name="model", compress_to_fp16=True)
CONV = {"strides": [1, 1], "dilations": [1, 1], "pads_begin": [1, 1], "pads_end": [1, 1],
        "auto_pad": "explicit"}


def result(b: IRBuilder, port: Port, name: str | None = None) -> None:
    r = b.graph.add_op("Result", b.graph.unique_name(f"{port.node}/result"), [port])
    b.graph.outputs.append(Port(r.name))
    if name:
        b.graph.info(port).names[:] = [name, f"{name}:0"]


def conv_net(seed: int = 0) -> IRBuilder:
    """x -> Convolution(w) -> Add(bias) -> Relu -> MatMul(fc), with TF-style tensor names."""
    rng = np.random.default_rng(seed)
    b = IRBuilder(Graph("ir"))
    x = b.emit("Parameter", [], "x", {"shape": (None, 3, 8, 8), "element_type": "float32"})[0]
    w = b.const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv/weights")
    b.graph.info(w).names[:] = ["conv/weights", "conv/weights:0"]
    y = b.emit("Convolution", [x, w], "conv", CONV)[0]
    y = b.emit("Add", [y, b.const(rng.standard_normal((1, 4, 1, 1)).astype(np.float32), "bias")],
               "add")[0]
    y = b.emit("Relu", [y], "relu")[0]
    y = b.emit("Reshape", [y, b.const(np.array([0, -1], np.int64), "flat_shape")], "flat",
               {"special_zero": True})[0]
    y = b.emit("MatMul", [y, b.const(rng.standard_normal((256, 5)).astype(np.float32), "fc")], "fc/mm",
               {"transpose_a": False, "transpose_b": False})[0]
    result(b, y, "logits")
    return b


def write(graph: Graph, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return write_ir(graph, directory, COMPRESS)[0]


def run(xml: Path, data: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(ov.Core().read_model(xml), "CPU", F32)
    return compiled([data])[compiled.outputs[0]]


def layers(xml: Path) -> dict[str, ET.Element]:
    return {layer.get("name"): layer for layer in ET.parse(xml).getroot().iter("layer")}


def test_pass_is_registered_for_the_ir_stage():
    registry = passes(get_plugin_manager(autoload=False, extra=["tfconv_ir_backend.plugin"]))
    assert "ir_backend.compress_fp16" in [p.name for p in registry.ordered("ir")]
    assert compress_fp16.stage == "ir"


def test_no_op_without_the_flag():
    b = conv_net()
    before = [(op.name, op.type) for op in b.graph]
    compress_fp16.run(b.graph, ConvertConfig())
    assert [(op.name, op.type) for op in b.graph] == before


def test_weights_become_f16_with_decompression_converts(tmp_path):
    reference = conv_net()
    b = conv_net()
    compress_fp16.run(b.graph, COMPRESS)
    b.graph.validate()
    convert = b.graph.op("conv/weights")
    assert convert.type == "Convert" and convert.attrs["_decompression"] is True
    assert convert.outputs[0].names == ["conv/weights", "conv/weights:0"]
    packed = b.graph.op(b.graph.inputs("conv/weights")[0].node)
    assert packed.name == "conv/weights_compressed" and packed.value.dtype == np.float16
    assert b.graph.inputs("conv")[1] == Port("conv/weights")
    # The int64 shape constant is untouched.
    assert b.graph.op("flat_shape").type == "Const"

    xml = write(b.graph, tmp_path / "f16")
    ref_xml = write(reference.graph, tmp_path / "f32")
    found = layers(xml)
    for name in ("conv/weights", "bias", "fc"):
        assert found[f"{name}_compressed"].find("data").get("element_type") == "f16"
        rt = found[name].find("rt_info/attribute")
        assert rt is not None and rt.attrib == {"name": "decompression", "version": "0"}
        assert found[name].find("data").get("destination_type") == "f32"
    assert "_decompression" not in xml.read_text()
    assert (tmp_path / "f16" / "model.bin").stat().st_size * 2 < \
        (tmp_path / "f32" / "model.bin").stat().st_size + 64

    model = ov.Core().read_model(xml)
    cvt = next(op for op in model.get_ops() if op.get_friendly_name() == "conv/weights")
    assert "decompression_0" in list(cvt.get_rt_info().keys())  # OpenVINO keys it by version
    data = np.random.default_rng(5).standard_normal((2, 3, 8, 8)).astype(np.float32)
    got, want = run(xml, data), run(ref_xml, data)
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2 * np.abs(want).max())


def test_out_of_range_constant_stays_f32_with_a_warning(tmp_path, caplog):
    b = IRBuilder(Graph("ir"))
    x = b.emit("Parameter", [], "x", {"shape": (1, 3), "element_type": "float32"})[0]
    huge = np.array([[1.0, 7e4, -2.0]], np.float32)
    y = b.emit("Multiply", [x, b.const(huge, "scale/huge")], "mul")[0]
    y = b.emit("Add", [y, b.const(np.array([0.5, 0.25, 1.5], np.float32), "shift")], "add")[0]
    result(b, y)
    with caplog.at_level(logging.WARNING, logger="tfconv"):
        compress_fp16.run(b.graph, COMPRESS)
    assert b.graph.op("scale/huge").type == "Const"
    assert b.graph.op("scale/huge").value.dtype == np.float32
    assert b.graph.op("shift").type == "Convert"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'scale/huge'" in warnings[0].getMessage()
    xml = write(b.graph, tmp_path)
    data = np.array([[1.0, 0.5, 2.0]], np.float32)
    np.testing.assert_allclose(run(xml, data), data * huge + [0.5, 0.25, 1.5], rtol=1e-6)


def test_constants_that_would_flush_to_zero_stay_f32(caplog):
    b = IRBuilder(Graph("ir"))
    x = b.emit("Parameter", [], "x", {"shape": (2,), "element_type": "float32"})[0]
    y = b.emit("Add", [x, b.const(np.array([1e-9, 3e-10], np.float32), "eps")], "add")[0]
    result(b, y)
    with caplog.at_level(logging.INFO, logger="tfconv"):
        compress_fp16.run(b.graph, COMPRESS)
    assert b.graph.op("eps").type == "Const"
    assert any("'eps'" in r.getMessage() for r in caplog.records)


def test_shape_and_quantization_inputs_are_not_compressed(tmp_path):
    b = IRBuilder(Graph("ir"))
    x = b.emit("Parameter", [], "x", {"shape": (1, 2, 2, 2), "element_type": "float32"})[0]
    c = b.const(np.ones((1, 2, 1, 1), np.float32), "shape_only")
    shape = b.emit("ShapeOf", [c], "shape", {"output_type": "int64"})[0]
    data = b.const(np.full((1, 2, 1, 1), 0.5, np.float32), "fq_data")
    ranges = [b.const(np.float32(v), n) for v, n in
              [(0.0, "in_low"), (1.0, "in_high"), (0.0, "out_low"), (1.0, "out_high")]]
    # FakeQuantize has no irops rule: add it by hand with its output info.
    fq = b.graph.add_op("FakeQuantize", "fq", [x, *ranges], {"levels": 256, "auto_broadcast": "numpy"})
    fq.outputs[0].shape, fq.outputs[0].dtype = (1, 2, 2, 2), np.dtype(np.float32)
    y = b.emit("Add", [Port("fq"), data], "add")[0]
    result(b, y)
    result(b, shape)
    compress_fp16.run(b.graph, COMPRESS)
    kinds = {op.name: op.type for op in b.graph}
    assert kinds["shape_only"] == "Const"
    assert all(kinds[n] == "Const" for n in ("in_low", "in_high", "out_low", "out_high"))
    assert kinds["fq_data"] == "Convert"
    xml = write(b.graph, tmp_path)
    value = np.linspace(-0.5, 1.5, 8, dtype=np.float32).reshape(1, 2, 2, 2)
    compiled = ov.Core().compile_model(ov.Core().read_model(xml), "CPU", F32)
    out = compiled([value])
    expected = np.round(np.clip(value, 0, 1) * 255) / 255 + 0.5
    np.testing.assert_allclose(out[compiled.outputs[0]], expected, atol=1e-3)
    np.testing.assert_array_equal(out[compiled.outputs[1]], [1, 2, 1, 1])


def test_constant_cast_to_integer_is_not_compressed():
    b = IRBuilder(Graph("ir"), fold=False)
    x = b.emit("Parameter", [], "x", {"shape": (2,), "element_type": "int32"})[0]
    big = b.const(np.array([2049.0, 3001.0], np.float32), "sizes")
    as_int = b.emit("Convert", [big], "sizes/cast", {"destination_type": "int32"})[0]
    as_half = b.emit("Convert", [b.const(np.array([1.5], np.float32), "h")], "h/cast",
                     {"destination_type": "float16"})[0]
    result(b, b.emit("Add", [x, as_int], "add")[0])
    result(b, as_half)
    compress_fp16.run(b.graph, COMPRESS)
    assert b.graph.op("sizes").type == "Const"
    assert b.graph.op("h").type == "Convert"


def test_shared_weight_gets_one_convert_and_equal_weights_one_blob(tmp_path):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 4)).astype(np.float32)
    b = IRBuilder(Graph("ir"))
    x = b.emit("Parameter", [], "x", {"shape": (1, 4), "element_type": "float32"})[0]
    shared = b.const(w, "shared")
    y = b.emit("MatMul", [x, shared], "mm1")[0]
    y = b.emit("MatMul", [y, shared], "mm2")[0]
    y = b.emit("MatMul", [y, b.const(w.copy(), "twin")], "mm3")[0]
    result(b, y)
    compress_fp16.run(b.graph, COMPRESS)
    assert [op.name for op in b.graph.ops_of_type("Convert")] == ["shared", "twin"]
    assert b.graph.inputs("mm1")[1] == b.graph.inputs("mm2")[1] == Port("shared")
    xml = write(b.graph, tmp_path)
    found = layers(xml)
    assert found["shared_compressed"].find("data").get("offset") == \
        found["twin_compressed"].find("data").get("offset")
    assert (tmp_path / "model.bin").stat().st_size == w.size * 2
    data = rng.standard_normal((1, 4)).astype(np.float32)
    w16 = w.astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(run(xml, data), data @ w16 @ w16 @ w16, rtol=1e-4, atol=1e-5)


def test_compressed_output_is_byte_identical_on_repeat(tmp_path):
    first, second = conv_net(), conv_net()
    compress_fp16.run(first.graph, COMPRESS)
    compress_fp16.run(second.graph, COMPRESS)
    a, b = write(first.graph, tmp_path / "a"), write(second.graph, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".bin").read_bytes() == b.with_suffix(".bin").read_bytes()


def test_pipeline_emit_writes_through_the_plugin(tmp_path):
    pm = get_plugin_manager(autoload=False, extra=["tfconv_ir_backend.plugin"])
    b = conv_net()
    config = ConvertConfig(model_name="net", compress_to_fp16=True, output_dir=tmp_path / "out")
    pipeline.run_passes(passes(pm), b.graph, config, "ir")
    written = pipeline.emit(pm, b.graph, config)
    assert [p.name for p in written] == ["net.xml", "net.bin", "net.mapping"]
    assert all(p.parent == tmp_path / "out" for p in written)
    assert 'element_type="f16"' in written[0].read_text()
    assert ov.Core().read_model(written[0]).outputs[0].get_names() >= {"logits:0"}


def test_big_weights_spill_to_a_file_with_the_same_values(monkeypatch):
    """Above SPILL_FROM, halving and the [N, K] transposition write into file-backed arrays
    chunk by chunk (pages released as they go); the values are those of numpy's own."""
    from tfconv_ir_backend import _arrays, fp16

    monkeypatch.setattr(fp16, "SPILL_FROM", 1000)
    monkeypatch.setattr(fp16, "CHUNK", 4000)
    monkeypatch.setattr(_arrays, "SPILL_FROM", 1000)
    w = np.random.default_rng(0).standard_normal((300, 77)).astype(np.float32)
    for x in (w, w.T, w[:, :7]):
        half, overflow, before, after = fp16._halve(x)
        assert isinstance(half, np.memmap) and np.array_equal(half, x.astype(np.float16))
        assert not overflow and before == after == np.count_nonzero(x)
    big = w.copy()
    big[5, 5] = 1e6
    assert fp16._halve(big)[1]
    t = _arrays.transposed_2d(w)
    assert isinstance(t, np.memmap) and np.array_equal(t, w.T)
