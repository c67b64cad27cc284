"""Whole networks: every zoo model converted in both layouts and FP32/FP16, run by OpenVINO and
compared with TensorFlow on the same input; the IR has no more ops than ovc's."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import tfconv
from models import zoo
from ovrun import exact_int8, ir_layer_types, rel_err, run_ir

pytest.importorskip("openvino")

CASES = zoo.all_case_names()
VARIANTS = [("nchw", "FP32"), ("nhwc", "FP32"), ("nchw", "FP16"), ("nhwc", "FP16")]
TOLERANCE = {"FP32": 1e-4, "FP16": 1e-2}
# Rounding random weights to f16 alone moves some of these random-weight nets' logits by more
# than 1e-2 (measured with ovc too: 5.8e-2 on ResNet50). FP16 IRs must then be within 10% of
# ovc's own FP16 error on the same input.
FP16_SLACK = 1.1


@pytest.fixture(scope="module", autouse=True)
def _prebuild():
    zoo.prebuild(CASES)


def _convert(case, layout: str, precision: str, out_dir):
    graph = tfconv.convert_model(case.pb, disable_nhwc_to_nchw=(layout == "nhwc"),
                                 data_type=precision)
    xml = [p for p in tfconv.save_model(graph, out_dir / "model.xml") if p.suffix == ".xml"][0]
    return graph, xml


@pytest.mark.zoo
@pytest.mark.parametrize("layout, precision", VARIANTS, ids=[f"{l}-{p}" for l, p in VARIANTS])
@pytest.mark.parametrize("name", CASES)
def test_model_matches_tensorflow(name, layout, precision, tmp_path):
    case = zoo.get(name)
    ref = np.load(case.reference)
    _, xml = _convert(case, layout, precision, tmp_path)
    feeds = []
    for input_name in case.inputs:
        x = ref[input_name]
        feeds.append(np.transpose(x, (0, 3, 1, 2)) if layout == "nchw" and x.ndim == 4 else x)
    outs = run_ir(xml, feeds)
    types = Counter(ir_layer_types(xml))
    for out_name, actual in zip(case.outputs, outs):
        expected = ref[out_name]
        assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), "degenerate reference"
        err = rel_err(actual, expected)
        limit = TOLERANCE[precision]
        if precision == "FP16" and err > limit:
            limit = max(limit, FP16_SLACK * zoo.ovc_fp16_error(case))
        elif err > limit and types["FakeQuantize"] and not exact_int8():
            # the runtime's inexact int8 on this CPU: within 10% of ovc's IR of the same graph
            limit = max(limit, FP16_SLACK * zoo.ovc_error(case))
        assert err <= limit, f"{name} {layout} {precision}: rel err {err:.2e} > {limit:.2e}"
        assert (actual.argmax(-1) == expected.argmax(-1)).all(), "top-1 differs"
    if precision == "FP16":
        assert types["Convert"] >= 1 and "f16" in xml.read_text()
    else:
        assert "f16" not in xml.read_text()


@pytest.mark.zoo
@pytest.mark.parametrize("name", CASES)
def test_no_more_ops_than_ovc(name, tmp_path):
    case = zoo.get(name)
    for layout in ("nchw", "nhwc"):
        _, xml = _convert(case, layout, "FP32", tmp_path / layout)
        ours = Counter(ir_layer_types(xml))
        theirs = zoo.ovc_reference_ops(case)
        assert sum(ours.values()) <= sum(theirs.values()), (
            f"{name} {layout}: {sum(ours.values())} layers vs ovc {sum(theirs.values())}; "
            f"extra: {dict(ours - theirs)}")
        assert ours["Transpose"] <= theirs["Transpose"]


@pytest.mark.zoo
def test_output_is_byte_identical(tmp_path):
    case = zoo.get("keras3-MobileNetV2")
    _, a = _convert(case, "nchw", "FP32", tmp_path / "a")
    _, b = _convert(case, "nchw", "FP32", tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".bin").read_bytes() == b.with_suffix(".bin").read_bytes()
