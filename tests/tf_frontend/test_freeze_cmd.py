"""``tfconv freeze``: checkpoint / MetaGraph -> frozen .pb, then ``tfconv convert`` of that file
matches TensorFlow; errors are one clean line and nothing is written."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

import formatmodels as fm  # noqa: E402
from ovrun import rel_err, run_ir  # noqa: E402

TFCONV = [sys.executable, "-m", "tfconv.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True,
                          check=False, env=ENV)


def _convert_and_compare(frozen: Path, out: Path, data: np.ndarray, expected: np.ndarray) -> None:
    result = run("convert", frozen, "-o", out, "--disable_nhwc_to_nchw", "--output", "logits")
    assert result.returncode == 0, result.stderr
    (actual,) = run_ir(out / f"{frozen.stem}.xml", [data])
    assert rel_err(actual, expected) <= 1e-5


def test_freeze_checkpoint_round_trip(tmp_path):
    graph, prefix, data, expected = fm.checkpoint_model(tmp_path / "m", version=2, text=True)
    frozen = tmp_path / "out" / "frozen.pb"
    result = run("freeze", "--input_model", graph, "--input_checkpoint", prefix,
                 "--output", "logits", "-o", frozen)
    assert result.returncode == 0, result.stderr
    assert str(frozen.resolve()) in result.stdout and "logits:0" in result.stdout
    assert not [p for p in frozen.parent.iterdir() if p.name != "frozen.pb"]  # no temp files
    _convert_and_compare(frozen, tmp_path / "ir", data, expected)


def test_freeze_meta_graph_round_trip(tmp_path):
    meta, data, expected = fm.meta_graph_model(tmp_path / "m")
    frozen = tmp_path / "frozen.pb"
    result = run("freeze", "--input_meta_graph", meta, "--output", "logits", "-o", frozen)
    assert result.returncode == 0, result.stderr
    _convert_and_compare(frozen, tmp_path / "ir", data, expected)


def _clean_failure(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[ ERROR ]"), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_freeze_errors(tmp_path):
    graph = tmp_path / "graph.pb"
    graph.write_bytes(b"")
    out = tmp_path / "frozen.pb"
    _clean_failure(run("freeze", "--input_model", graph, "-o", out), "--input_checkpoint")
    _clean_failure(run("freeze", "--input_model", graph, "--input_checkpoint",
                       tmp_path / "missing.ckpt", "-o", out), "missing.ckpt")
    _clean_failure(run("freeze", "-o", out), "exactly one")
    _clean_failure(run("freeze", "--input_meta_graph", tmp_path / "nope.meta", "-o", out),
                   "nope.meta")
    _clean_failure(run("freeze", "--input_model", graph, "--input_checkpoint", graph,
                       "-o", graph), "is the input model")
    _clean_failure(run("freeze", "--input_model", graph, "--input_checkpoint", graph,
                       "-o", tmp_path), "is a directory")
    assert not out.exists()
    assert graph.read_bytes() == b""


def test_freeze_tf2_saved_model_round_trip(tmp_path):
    directory, data, expected = fm.tf2_module_saved_model(tmp_path / "sm")
    frozen = tmp_path / "frozen.pb"
    result = run("freeze", "--saved_model_dir", directory, "-o", frozen)
    assert result.returncode == 0, result.stderr
    assert "Inputs: images" in result.stdout
    out = tmp_path / "ir"
    result = run("convert", frozen, "-o", out, "--disable_nhwc_to_nchw")
    assert result.returncode == 0, result.stderr
    (actual,) = run_ir(out / "frozen.xml", [data])
    assert rel_err(actual, expected) <= 1e-5
