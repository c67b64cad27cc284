"""Frozen GraphDefs that keep function calls (issue 10, point 2).

``convert_variables_to_constants_v2`` leaves ``PartitionedCall``/``StatefulPartitionedCall``
nodes it may not inline (tf_keras' XLA-compiled grouped convolutions, ``_noinline``
functions); tfconv inlines them without TensorFlow, as for SavedModels.
"""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

import outputnets  # noqa: E402
from cliassert import assert_clean_failure  # noqa: E402
from ovrun import rel_err, run_ir  # noqa: E402

import tfconv  # noqa: E402
from tfconv_tf_frontend import proto  # noqa: E402

TFCONV = [sys.executable, "-m", "tfconv.cli"]
CALLS = ("PartitionedCall", "StatefulPartitionedCall")


def _calls(pb: Path) -> tuple[list[str], int]:
    """(call nodes of the graph, call nodes inside its functions) of a frozen GraphDef."""
    gd = proto.GraphDef.FromString(pb.read_bytes())
    top = [n.name for n in gd.node if n.op in CALLS]
    nested = sum(1 for f in gd.library.function for n in f.node_def if n.op in CALLS)
    return top, nested


def _convert_and_run(model: Path, tmp_path: Path, x: np.ndarray, caplog, **options):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfconv"):
        graph = tfconv.convert_model(str(model), log_level="INFO", **options)
    xml = tmp_path / "model.xml"
    tfconv.save_model(graph, xml)
    feed = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x
    (out,) = run_ir(xml, [np.ascontiguousarray(feed)])
    return graph, out, [r.getMessage() for r in caplog.records]


def _check(actual: np.ndarray, expected: np.ndarray, what: str) -> float:
    err = rel_err(actual, expected)
    assert err <= 1e-4, f"{what}: max|IR-TF|/max|TF| = {err:.2e}"
    assert (actual.argmax(axis=1) == expected.argmax(axis=1)).all(), f"{what}: top-1"
    return err


def test_frozen_regnet_keeps_calls_and_converts(tmp_path, caplog):
    directory, meta = outputnets.get("regnet")
    pb = directory / "frozen.pb"
    top, _ = _calls(pb)
    assert len(top) == 13 and all("conv_3x3" in n for n in top), top  # grouped convolutions
    ref = np.load(directory / "reference.npz")
    assert len(set(ref["logits"].argmax(axis=1))) == 2
    graph, out, messages = _convert_and_run(pb, tmp_path, ref["input"], caplog)
    assert any(m.endswith(f"{len(top)} function call(s) inlined") for m in messages), messages
    assert not any(op.type.endswith("PartitionedCall") for op in graph)
    _check(out, ref["logits"], "frozen RegNetX002")


def test_regnet_saved_model_converts(tmp_path, caplog):
    directory, meta = outputnets.get("regnet")
    ref = np.load(directory / "reference.npz")
    _, out, messages = _convert_and_run(directory / "saved_model", tmp_path, ref["input"], caplog)
    assert any("without TensorFlow" in m for m in messages), messages
    _check(out, ref["logits"], "RegNetX002 SavedModel")


def test_nested_function_calls(tmp_path, caplog):
    directory, meta = outputnets.get("nested_calls")
    pb = directory / "frozen.pb"
    top, nested = _calls(pb)
    assert len(top) == 2 and nested == 2, (top, nested)
    ref = np.load(directory / "reference.npz")
    graph, out, messages = _convert_and_run(pb, tmp_path, ref["input"], caplog)
    assert any(m.endswith("4 function call(s) inlined") for m in messages), messages
    err = rel_err(out, ref["logits"])
    assert err <= 1e-4, err
    # The graph's output is the Identity after the last call; the call keeps its name.
    (result,) = graph.ops_of_type("Result")
    assert result.name.startswith(meta["logits"]), result.name


def test_uninlinable_call_is_one_clear_error(tmp_path):
    """A call to a function the library lacks: one line naming it, exit 1, nothing written."""
    directory, _ = outputnets.get("nested_calls")
    gd = proto.GraphDef.FromString((directory / "frozen.pb").read_bytes())
    call = next(n for n in gd.node if n.op in CALLS)
    call.attr["f"].func.name = "no_such_function"
    bad = tmp_path / "bad.pb"
    bad.write_bytes(gd.SerializeToString())
    out = tmp_path / "ir"
    proc = subprocess.run([*TFCONV, "convert", str(bad), "-o", str(out)], capture_output=True,
                          text=True)
    assert_clean_failure(proc, out, f"cannot inline its function calls: {call.name} calls "
                         "'no_such_function', which the library does not define")
