"""Output selection on tf_slim nets built under their default ``arg_scope`` (issue 10, point 1).

Every kernel of such a net feeds an L2 weight regularizer, a graph sink that is no output. In
every form (inference graph + V2 checkpoint, binary and text; MetaGraph without and with a
signature; frozen graph keeping every sink; TF1 SavedModel; the TF fallback of ``tfconv
freeze``), the converted IR has the model's outputs only, matches TensorFlow in OpenVINO, and
the leftovers are counted in one INFO line and listed last, marked, by ``tfconv inspect``.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
ov = pytest.importorskip("openvino")

import outputnets  # noqa: E402
from ovrun import F32, core, rel_err  # noqa: E402

import tfconv  # noqa: E402

TFCONV = [sys.executable, "-m", "tfconv.cli"]
NETS = ("slim_resnet", "slim_inception")
# form -> (model argument, extra options) relative to the net's cache directory
FORMS = {
    "inference_pb+ckpt": ("inference_graph.pb", {"input_checkpoint": "ckpt/model.ckpt"}),
    "inference_pbtxt+ckpt": ("inference_graph.pbtxt", {"input_checkpoint": "ckpt/model.ckpt"}),
    "meta_graph": (None, {"input_meta_graph": "ckpt/model.ckpt.meta"}),
    "meta_graph_signature": (None, {"input_meta_graph": "ckpt/signature.meta",
                                    "input_checkpoint": "ckpt/model.ckpt"}),
    "frozen": ("frozen.pb", {}),
    "saved_model_tf1": (None, {"saved_model_dir": "saved_model"}),
}
SIGNED = {"meta_graph_signature", "saved_model_tf1"}


def _convert(directory: Path, form: str, caplog, **extra):
    model, options = FORMS[form]
    opts = {k: str(directory / v) for k, v in options.items()}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfconv"):
        graph = tfconv.convert_model(str(directory / model) if model else None,
                                     log_level="INFO", **opts, **extra)
    return graph, [r.getMessage() for r in caplog.records]


def _run(graph, tmp_path: Path, x: np.ndarray, extra_outputs=()) -> dict[str, np.ndarray]:
    """The IR in OpenVINO (f32), with ``extra_outputs`` (TF tensor names) added: every output
    by each of its tensor names."""
    xml = tmp_path / "model.xml"
    tfconv.save_model(graph, xml)
    model = core().read_model(str(xml))
    for name in extra_outputs:
        model.add_outputs(name)
    compiled = core().compile_model(model, "CPU", F32)
    result = compiled([np.ascontiguousarray(x.transpose(0, 3, 1, 2))])
    out = {}
    for port in compiled.outputs:
        for name in port.get_names():
            out[name] = np.asarray(result[port])
    return out


def _check(actual: np.ndarray, expected: np.ndarray, what: str) -> float:
    err = rel_err(actual.reshape(expected.shape), expected)
    assert err <= 1e-4, f"{what}: max|IR-TF|/max|TF| = {err:.2e}"
    top = expected.reshape(len(expected), -1).argmax(axis=1)
    assert (actual.reshape(len(expected), -1).argmax(axis=1) == top).all(), f"{what}: top-1"
    return err


@pytest.fixture(scope="module", params=NETS)
def net(request):
    directory, meta = outputnets.get(request.param)
    return request.param, directory, meta, dict(np.load(directory / "reference.npz"))


@pytest.mark.parametrize("form", list(FORMS))
def test_slim_net_under_arg_scope_converts(net, form, tmp_path, caplog):
    name, directory, meta, ref = net
    graph, messages = _convert(directory, form, caplog)
    outputs = [op.name for op in graph.ops_of_type("Result")]
    if form in SIGNED:  # the signature names the outputs: its keys, sorted
        got = _run(graph, tmp_path, ref["input"])
        assert len(outputs) == 2, outputs
        _check(got["logits:0"], ref["logits"], f"{name} {form} logits")
        _check(got["probabilities:0"], ref["predictions"], f"{name} {form} probabilities")
        assert not any("training-only" in m for m in messages), messages
        return
    got = _run(graph, tmp_path, ref["input"], [meta["logits"]])
    assert len(outputs) == 1, outputs  # the predictions (the logits are added in OpenVINO)
    assert meta["predictions"] in got, sorted(got)
    _check(got[meta["predictions"]], ref["predictions"], f"{name} {form} predictions")
    _check(got[meta["logits"]], ref["logits"], f"{name} {form} logits")
    ignored = [m for m in messages if m.startswith("ignored")]
    n = meta["regularizers"]
    assert ignored == [f"ignored {n} training-only sink(s)"
                       + (" (the MetaGraph's collections say so)" if form == "meta_graph" else "")
                       + f": {n} weight regularizers (L2Loss); name outputs with --output to "
                       "keep one"], messages


def test_output_flag_still_overrides(net, tmp_path, caplog):
    """--output names a regularizer-free logits tensor of the frozen graph: nothing else."""
    name, directory, meta, ref = net
    graph, messages = _convert(directory, "frozen", caplog, output=meta["logits"])
    assert len(graph.ops_of_type("Result")) == 1
    got = _run(graph, tmp_path, ref["input"])
    _check(got[meta["logits"]], ref["logits"], f"{name} --output logits")
    assert not any("training-only" in m for m in messages), messages


@pytest.mark.parametrize("form", ["inference_pb+ckpt", "meta_graph", "frozen"])
def test_inspect_lists_outputs_first_and_leftovers_last(net, form):
    name, directory, meta, _ = net
    model, options = FORMS[form]
    args = [str(directory / model)] if model else []
    for key, value in options.items():
        args += [f"--{key}", str(directory / value)]
    proc = subprocess.run([*TFCONV, "inspect", *args, "--json"], capture_output=True, text=True,
                          check=True)
    outputs = json.loads(proc.stdout)["outputs"]
    assert [o["name"] for o in outputs[:1]] == [meta["predictions"]]
    assert "leftover" not in outputs[0]
    left = outputs[1:]
    assert len(left) == meta["regularizers"]
    assert all(o["leftover"] == "weight regularizers (L2Loss)" and "Regularizer" in o["name"]
               for o in left), left
    text = subprocess.run([*TFCONV, "inspect", *args], capture_output=True, text=True,
                          check=True).stdout
    lines = text.split("Likely outputs", 1)[1].splitlines()
    assert lines[0] == (f" (1, then {meta['regularizers']} training-only sink(s) that are not "
                        "outputs):")
    assert lines[1].split() == [meta["predictions"], "(Reshape)"]
    assert "training-only: weight regularizers (L2Loss)" in lines[2]
    assert "Unsupported op types: none" in text


@pytest.mark.parametrize("form", ["meta_graph", "meta_graph_signature"])
def test_freeze_command_tf_path(net, form, tmp_path):
    """``tfconv freeze`` freezes with TensorFlow: without --output it picks the same outputs
    (collections and structure, or the signature)."""
    name, directory, meta, ref = net
    _, options = FORMS[form]
    args = []
    for key, value in options.items():
        args += [f"--{key}", str(directory / value)]
    frozen = tmp_path / "frozen.pb"
    proc = subprocess.run([*TFCONV, "freeze", *args, "-o", str(frozen)], capture_output=True,
                          text=True, check=True)
    listed = proc.stdout.split("Outputs: ", 1)[1].split()[0:2]
    if form == "meta_graph":
        assert listed == [meta["predictions"]], proc.stdout
    else:
        assert [t.rstrip(",") for t in listed] == [meta["logits"], meta["predictions"]]
    graph = tfconv.convert_model(str(frozen), output=meta["logits"])
    _check(_run(graph, tmp_path, ref["input"])[meta["logits"]], ref["logits"],
           f"{name} {form} frozen by tfconv freeze")
