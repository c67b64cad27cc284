"""The Python API (``tfconv.convert_model`` / ``tfconv.save_model``), stage progress on a terminal
and the log levels of ``tfconv convert``.

Every CLI option of ``convert`` is a keyword of ``convert_model`` with the same meaning; the API
writes byte-identical files to the CLI's; every IR written here runs in OpenVINO (f32) within
1e-4 of TensorFlow's outputs with the same top-1."""
from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest

import tfconv
from models import zoo
from ovrun import rel_err, run_ir
from tfconv import api, pipeline
from tfconv.cli import build_config, make_cli
from tfconv.errors import UsageError
from tfconv.plugins import get_plugin_manager

pytest.importorskip("openvino")

TFCONV = [sys.executable, "-m", "tfconv.cli"]
TOLERANCE = 1e-4
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def cli(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=ENV, check=False)


def check_ir(xml: Path, case: zoo.ModelCase, *, output: str | None = None, raw=None) -> float:
    """Run ``xml`` (NCHW input) in OpenVINO on the case's reference batch (``raw(x)``: the raw
    data the IR takes for the model's input x); compare with TF."""
    ref = np.load(case.reference)
    x = ref[next(iter(case.inputs))]
    if raw is not None:
        x = raw(x)
    (actual,) = run_ir(xml, [np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))])
    expected = ref[output or case.outputs[0]]
    assert np.std(expected) > 1e-3 * np.max(np.abs(expected)), "degenerate reference"
    err = rel_err(actual, expected)
    assert err <= TOLERANCE, f"{xml}: rel err {err:.2e} > {TOLERANCE:.0e}"
    assert (actual.argmax(-1) == expected.argmax(-1)).all(), "top-1 differs"
    return err


def assert_same_files(cli_dir: Path, api_files: list[Path]) -> None:
    cli_files = sorted(cli_dir.iterdir())
    assert [p.name for p in cli_files] == sorted(p.name for p in api_files)
    for api_file in api_files:
        other = cli_dir / api_file.name
        assert other.read_bytes() == api_file.read_bytes(), f"{api_file.name} differs"


@pytest.fixture(scope="module")
def mobilenet() -> zoo.ModelCase:
    return zoo.get("keras3-MobileNetV2")


# --- every CLI option as a keyword ----------------------------------------------------------

# option -> (Python value given to convert_model, the same as typed on the command line; None
# for a flag). Options not listed get a value derived from their click type below.
EXAMPLES: dict[str, tuple[object, str | None]] = {
    "input_model": ("graph.pb", "graph.pb"),
    "input_model_is_text": (True, None),
    "output_dir": (Path("out/ir"), "out/ir"),
    "model_name": ("net", "net"),
    "input": ({"x": [1, 4], "y": "{i32}", "is_training": False}, "x[1,4],y{i32},is_training->False"),
    "input_shape": ([(1, 4), (2, None)], "[1,4],[2,?]"),
    "batch": (3, "3"),
    "output": (["logits", "probs:1"], "logits,probs:1"),
    "data_type": ("FP16", "FP16"),
    "compress_to_fp16": (True, "True"),
    "disable_nhwc_to_nchw": (True, None),
    "mean_values": ([123.68, 116.78, 103.94], "[123.68,116.78,103.94]"),
    "scale_values": ({"x": [58.4, 57.1, 57.4]}, "x[58.4,57.1,57.4]"),
    "scale": (127.5, "127.5"),
    "reverse_input_channels": (True, None),
    "log_level": ("DEBUG", "DEBUG"),
    "silent": (True, "True"),
    "target": ("ir", "ir"),
    "validate_each_pass": (True, None),
    "disable_pass": (["ir_backend.fuse_pad", "ir_backend.fuse_linear"],
                     "ir_backend.fuse_pad,ir_backend.fuse_linear"),
    "input_checkpoint": (Path("model.ckpt"), "model.ckpt"),
    "input_meta_graph": ("model.meta", "model.meta"),
    "saved_model_dir": ("exported", "exported"),
    "saved_model_tags": (["serve", "gpu"], "serve,gpu"),
    "saved_model_signature": ("probs", "probs"),
    "tensorboard_logdir": ("tb", "tb"),
    "tensorflow_custom_layer_libraries": (["a.so", "b.so"], "a.so,b.so"),
    "slim_preprocessing": ("RGB", "RGB"),
}


def _example(param: click.Option) -> tuple[object, str | None]:
    if param.name in EXAMPLES:
        return EXAMPLES[param.name]
    if param.is_flag:
        return True, None
    if isinstance(param.type, click.Choice):
        return param.type.choices[-1], str(param.type.choices[-1])
    if isinstance(param.type, click.types.IntParamType):
        return 2, "2"
    if isinstance(param.type, click.types.FloatParamType):
        return 0.5, "0.5"
    return "value", "value"


def _outcome(fn) -> str:
    try:
        return repr(fn())
    except UsageError as err:
        return f"UsageError: {err}"


def _convert_params():
    command = make_cli(get_plugin_manager()).commands["convert"]
    return command, [p for p in command.params if isinstance(p, click.Option)]


@pytest.mark.parametrize("name", [p.name for p in _convert_params()[1]])
def test_every_cli_option_is_a_keyword(name):
    """``convert_model(m, name=value)`` builds the config ``tfconv convert m --name text``
    builds (or fails with the same message)."""
    command, params = _convert_params()
    (param,) = [p for p in params if p.name == name]
    value, text = _example(param)
    flag = max((o for o in param.opts if o.startswith("--")), key=len)
    argv = [flag] if text is None else [flag, text]
    model = None if name in ("input_model", "saved_model_dir", "input_meta_graph") else "m.pb"
    via_api = _outcome(lambda: api.config_for(model, **{name: value}))
    via_cli = _outcome(lambda: build_config(dict(
        command.make_context("convert", [*argv, *([model] if model else [])]).params)))
    assert via_api == via_cli
    default = _outcome(lambda: api.config_for(model or "m.pb"))
    if name not in ("log_level", "silent", "target") and not via_api.startswith("UsageError"):
        assert via_api != default, f"{name}={value!r} changed nothing"


def test_unknown_keyword_lists_valid_ones():
    with pytest.raises(UsageError) as info:
        tfconv.convert_model("m.pb", input_shapes=[1, 3])
    message = str(info.value)
    assert "unknown keyword argument(s) input_shapes" in message
    _, params = _convert_params()
    for p in params:
        assert p.name in message.split("Valid keywords: ")[1]
    with pytest.raises(UsageError, match="disable_fusing is not supported: fusions are exact"):
        tfconv.convert_model("m.pb", disable_fusing=True)
    with pytest.raises(UsageError, match="Invalid value for data_type: 'FP8'"):
        tfconv.convert_model("m.pb", data_type="FP8")
    with pytest.raises(UsageError, match="disable_nhwc_to_nchw is a flag"):
        tfconv.convert_model("m.pb", disable_nhwc_to_nchw="yes")


def test_save_model_checks_its_arguments(tmp_path, mobilenet):
    graph = tfconv.convert_model(mobilenet.pb)
    with pytest.raises(UsageError, match="should name the IR's .xml file"):
        tfconv.save_model(graph, tmp_path / "model.bin")
    with pytest.raises(UsageError, match="pass the graph tfconv.convert_model returned"):
        tfconv.save_model("model.pb", tmp_path / "model.xml")
    assert list(tmp_path.iterdir()) == []


# --- round trips: API and CLI write the same bytes ------------------------------------------


def test_round_trip_frozen_graph(tmp_path, mobilenet):
    stages: list[tuple[str, float]] = []
    graph = tfconv.convert_model(mobilenet.pb, input_shape=(2, 224, 224, 3),
                                 output=mobilenet.outputs, progress=lambda s, t: stages.append((s, t)))
    assert [s for s, _ in stages] == list(pipeline.STAGES[:4])
    assert all(t >= 0 for _, t in stages)
    files = tfconv.save_model(graph, tmp_path / "api" / "mnv2.xml")
    assert [f.suffix for f in files] == [".xml", ".bin", ".mapping"]
    result = cli("convert", mobilenet.pb, "--input_shape", "[2,224,224,3]", "--output",
                 mobilenet.outputs[0], "-o", tmp_path / "cli", "-n", "mnv2")
    assert result.returncode == 0, result.stderr
    assert_same_files(tmp_path / "cli", files)
    check_ir(files[0], mobilenet)


def test_round_trip_preprocessing(tmp_path, mobilenet):
    """--mean_values/--scale_values/--reverse_input_channels as keywords (Python lists)."""
    mean, scale = [123.68, 116.78, 103.94], [58.4, 57.1, 57.4]
    graph = tfconv.convert_model(mobilenet.pb, mean_values=mean, scale_values=scale,
                                 reverse_input_channels=True)
    files = tfconv.save_model(graph, tmp_path / "api" / "pre.xml")
    result = cli("convert", mobilenet.pb, "--mean_values", "[123.68,116.78,103.94]",
                 "--scale_values", "[58.4,57.1,57.4]", "--reverse_input_channels",
                 "-o", tmp_path / "cli", "-n", "pre")
    assert result.returncode == 0, result.stderr
    assert_same_files(tmp_path / "cli", files)

    def raw(x):  # the model sees (reversed(raw) - mean) / scale
        return (x * np.float32(scale) + np.float32(mean))[..., ::-1].astype(np.float32)

    check_ir(files[0], mobilenet, raw=raw)


@pytest.mark.zoo
def test_round_trip_checkpoint_plugin_options(tmp_path):
    """Plugin options as keywords: an inference graph with ``input_checkpoint``, NHWC kept."""
    case = zoo.get("slim-inception_v1")
    forms = zoo.checkpoint_forms(case)
    graph = tfconv.convert_model(input_model=forms["inference_graph_pb"],
                                 input_checkpoint=forms["checkpoint"], output=case.outputs,
                                 batch=2, disable_nhwc_to_nchw=False)
    files = tfconv.save_model(graph, tmp_path / "api" / "v1.xml")
    result = cli("convert", "--input_model", forms["inference_graph_pb"], "--input_checkpoint",
                 forms["checkpoint"], "--output", case.outputs[0], "-b", "2",
                 "-o", tmp_path / "cli", "-n", "v1")
    assert result.returncode == 0, result.stderr
    assert_same_files(tmp_path / "cli", files)
    check_ir(files[0], case)


# --- progress on a terminal, not on a pipe ---------------------------------------------------

PROGRESS_LINE = re.compile(r"\[ PROGRESS \] (\d)/(\d) ([a-zA-Z ]+): (\d+\.\d\d) s")


def run_on_terminal(*args) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout on a pipe): (exit code, what the
    terminal showed, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*TFCONV, *map(str, args)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, env=ENV)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait()
    return code, shown.decode(), out


def test_progress_on_terminal_only(tmp_path, mobilenet):
    code, shown, out = run_on_terminal("convert", mobilenet.pb, "-o", tmp_path / "tty")
    assert code == 0, shown
    final = [PROGRESS_LINE.search(line) for line in shown.replace("\r\n", "\n").split("\n")]
    stages = [(m.group(3), float(m.group(4))) for m in final if m]
    assert [s for s, _ in stages] == list(pipeline.STAGES)
    assert all(m.group(2) == str(len(pipeline.STAGES)) for m in final if m)
    assert "[ PROGRESS ] 1/5 load ..." in shown  # shown while the stage runs
    assert "[ SUCCESS ] XML file:" in out
    check_ir(tmp_path / "tty" / "model.xml", mobilenet)

    piped = cli("convert", mobilenet.pb, "-o", tmp_path / "pipe")
    assert piped.returncode == 0, piped.stderr
    assert "PROGRESS" not in piped.stderr + piped.stdout
    assert "\r" not in piped.stderr and "\033" not in piped.stderr
    # the same IR either way
    for name in ("model.xml", "model.bin", "model.mapping"):
        assert (tmp_path / "pipe" / name).read_bytes() == (tmp_path / "tty" / name).read_bytes()

    code, shown, out = run_on_terminal("convert", mobilenet.pb, "-o", tmp_path / "silent",
                                       "--silent")
    assert code == 0 and shown == "" and out == ""
    check_ir(tmp_path / "silent" / "model.xml", mobilenet)


def test_progress_line_cleared_before_an_error(tmp_path, mobilenet):
    code, shown, _ = run_on_terminal("convert", mobilenet.pb, "-o", tmp_path / "ir",
                                     "--output", "no_such_node")
    assert code != 0 and not (tmp_path / "ir").exists()
    lines = shown.replace("\r\n", "\n").split("\n")
    (error,) = [line for line in lines if "[ ERROR ]" in line]
    # the unfinished stage line is erased before the message
    assert error.split("\r")[-1].replace("\x1b[K", "").startswith("[ ERROR ] output 'no_such_node'")


# --- log levels -------------------------------------------------------------------------------


def test_log_levels(tmp_path, mobilenet):
    runs = {}
    for level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        out_dir = tmp_path / level
        result = cli("convert", mobilenet.pb, "-o", out_dir, "--log_level", level)
        assert result.returncode == 0, result.stderr
        check_ir(out_dir / "model.xml", mobilenet)
        runs[level] = result
    info = runs["INFO"].stderr
    assert f"[ INFO ] loaded frozen GraphDef {mobilenet.pb}" in info
    assert "[ DEBUG ]" not in info
    debug = runs["DEBUG"].stderr
    passes = re.findall(r"^\[ DEBUG \] pass (\S+): (\d+\.\d{3}) s, (\d+) ops$", debug, re.M)
    names = [p for p, _, _ in passes]
    assert "ir_backend.fuse_linear" in names and "cleanup.remove_dead_source" in names
    stages = re.findall(r"^\[ DEBUG \] stage ([a-zA-Z ]+): \d+\.\d{3} s$", debug, re.M)
    assert stages == list(pipeline.STAGES)
    assert runs["WARNING"].stderr == "" and runs["ERROR"].stderr == ""
    for level in runs:  # the report goes to stdout whatever the level
        assert "[ SUCCESS ] XML file:" in runs[level].stdout
    silent = cli("convert", mobilenet.pb, "-o", tmp_path / "silent", "--silent")
    assert silent.returncode == 0 and silent.stdout == "" and silent.stderr == ""
    check_ir(tmp_path / "silent" / "model.xml", mobilenet)


@pytest.mark.zoo
def test_info_names_the_loader_path(tmp_path, mobilenet):
    directory = zoo.saved_model_dir(mobilenet)
    result = cli("convert", directory, "-o", tmp_path / "ir", "--log_level", "INFO")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^\[ INFO \] froze TF2 SavedModel {directory.name} \(tags serve, "
                     r"signature serving_default\)", result.stderr, re.M), result.stderr
    (xml,) = (tmp_path / "ir").glob("*.xml")
    check_ir(xml, mobilenet)
