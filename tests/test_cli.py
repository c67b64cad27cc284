"""The tfconv command line on good and bad input: one clear message, non-zero exit, no files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfconv_tf_frontend import proto

TFCONV = [sys.executable, "-m", "tfconv.cli"]


def _node(gd, name, op, inputs=(), **attrs):
    node = gd.node.add()
    node.name, node.op = name, op
    node.input.extend(inputs)
    for key, value in attrs.items():
        if key == "dtype":
            node.attr["dtype"].type = value
        elif key == "T":
            node.attr["T"].type = value
        elif key == "shape":
            node.attr["shape"].shape.SetInParent()  # a scalar has a shape with no dims
            for d in value:
                node.attr["shape"].shape.dim.add().size = d
        elif key == "value":
            t = node.attr["value"].tensor
            t.dtype = 1
            for d in value.shape:
                t.tensor_shape.dim.add().size = d
            t.tensor_content = value.astype("<f4").tobytes()
    return node


def small_graph(path: Path, extra=None) -> Path:
    """x[?,4] -> Relu -> Add(bias) -> out (Identity)."""
    gd = proto.GraphDef()
    _node(gd, "x", "Placeholder", dtype=1, shape=[-1, 4])
    _node(gd, "bias", "Const", dtype=1, value=np.arange(4, dtype=np.float32))
    _node(gd, "relu", "Relu", ["x"], T=1)
    _node(gd, "add", "AddV2", ["relu", "bias"], T=1)
    last = "add"
    for name, op in extra or []:
        _node(gd, name, op, [last], T=1)
        last = name
    _node(gd, "out", "Identity", [last], T=1)
    path.write_bytes(gd.SerializeToString())
    return path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          check=False)


def assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("[ ERROR ]"), result.stderr
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in:\n{result.stderr}"


def test_convert_small_graph_reports_io_and_files(tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    result = run("convert", "--input_model", pb, "--output_dir", tmp_path / "ir")
    assert result.returncode == 0, result.stderr
    assert "Input  x: [?,4] float32" in result.stdout
    assert "Output out:0: [?,4] float32" in result.stdout
    assert sorted(p.name for p in (tmp_path / "ir").iterdir()) == ["m.bin", "m.mapping", "m.xml"]
    assert "Total execution time" in result.stdout


def test_positional_model_and_model_name(tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    result = run("convert", pb, "-o", tmp_path / "ir", "-n", "net", "-b", "3")
    assert result.returncode == 0, result.stderr
    assert "Input  x: [3,4] float32" in result.stdout
    assert (tmp_path / "ir" / "net.xml").exists()


def test_every_unsupported_op_is_listed_and_nothing_written(tmp_path):
    pb = small_graph(tmp_path / "m.pb", [("lg1", "Lgamma"), ("lg2", "Lgamma"), ("weird", "MyCustomOp")])
    out = tmp_path / "ir"
    result = run("convert", pb, "--output_dir", out)
    assert_clean_failure(result, "2 unsupported tf op type(s) in 3 node(s)", "Lgamma x2: lg1, lg2",
                         "MyCustomOp x1: weird", "tfconv_register_translators")
    assert not out.exists()


def test_failure_leaves_existing_files_alone(tmp_path):
    pb = small_graph(tmp_path / "m.pb", [("lg", "Lgamma")])
    out = tmp_path / "ir"
    out.mkdir()
    (out / "m.xml").write_text("user's file")
    result = run("convert", pb, "--output_dir", out)
    assert result.returncode != 0
    assert sorted(p.name for p in out.iterdir()) == ["m.xml"]
    assert (out / "m.xml").read_text() == "user's file"


@pytest.mark.parametrize("content, needle", [
    (b"", "empty"),
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "git lfs pull"),
    (b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "HDF5"),
], ids=["empty", "html", "lfs", "hdf5"])
def test_not_a_model(tmp_path, content, needle):
    bad = tmp_path / "bad.pb"
    bad.write_bytes(content)
    assert_clean_failure(run("convert", bad, "-o", tmp_path / "ir"), needle)
    assert not (tmp_path / "ir").exists()


def test_missing_file(tmp_path):
    assert_clean_failure(run("convert", tmp_path / "nope.pb"), "nope.pb")


def test_unknown_input_name_lists_placeholders(tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    result = run("convert", pb, "--input", "xx", "-o", tmp_path / "ir")
    assert_clean_failure(result, "'xx'", "Placeholders: x [?,4] float32", "Did you mean: x")


def test_unknown_output_name(tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    assert_clean_failure(run("convert", pb, "--output", "relux", "-o", tmp_path / "ir"),
                         "'relux'", "Did you mean: relu")


def test_output_cut_and_input_shape(tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    result = run("convert", pb, "--output", "relu", "--input", "x", "--input_shape", "[2,4]",
                 "-o", tmp_path / "ir")
    assert result.returncode == 0, result.stderr
    assert "Input  x: [2,4] float32" in result.stdout and "Output relu:0: [2,4]" in result.stdout


@pytest.mark.parametrize("args, needle", [
    (["--input_shape", "[1,4"], "cannot be parsed"),
    (["--input_shape", "[1,4]", "-b", "2"], "not both"),
    (["-b", "0"], "positive"),
    (["--input_shape", "[1,2,3]"], "rank"),
    (["--data_type", "FP8"], "FP8"),
    (["--generate_deprecated_IR_V2"], "not supported"),
    (["--no_such_flag"], "no_such_flag"),
], ids=["unparsable-shape", "shape-and-batch", "zero-batch", "rank", "data-type", "removed", "unknown"])
def test_bad_flags(tmp_path, args, needle):
    pb = small_graph(tmp_path / "m.pb")
    assert_clean_failure(run("convert", pb, "-o", tmp_path / "ir", *args), needle)
    assert not (tmp_path / "ir").exists()


def test_text_graph_is_detected_with_a_notice(tmp_path):
    from google.protobuf import text_format
    pb = small_graph(tmp_path / "m.pb")
    gd = proto.parse_graphdef(pb.read_bytes(), text=False)
    txt = tmp_path / "m.pbtxt"
    txt.write_text(text_format.MessageToString(gd))
    result = run("convert", txt, "-o", tmp_path / "ir", "--log_level", "INFO")
    assert result.returncode == 0, result.stderr
    assert "--input_model_is_text" in result.stderr
    flagged = run("convert", "--input_model", txt, "--input_model_is_text", "-o", tmp_path / "ir2")
    assert flagged.returncode == 0, flagged.stderr


def test_frozen_graph_path_imports_no_tensorflow(tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    code = ("import sys; from tfconv.cli import main; rc = main(['convert', %r, '-o', %r, '--silent']);"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')];"
            "print(bad); sys.exit(rc or (3 if bad else 0))") % (str(pb), str(tmp_path / "ir"))
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "tensorflow" not in result.stderr


def test_translation_failure_names_node_op_and_input_shapes(tmp_path):
    gd = proto.GraphDef()
    _node(gd, "x", "Placeholder", dtype=1, shape=[-1, 4])
    _node(gd, "axis", "Placeholder", dtype=3, shape=[])
    cat = _node(gd, "cat", "ConcatV2", ["x", "x", "axis"], T=1)
    cat.attr["N"].i = 2
    cat.attr["Tidx"].type = 3
    pb = tmp_path / "m.pb"
    pb.write_bytes(gd.SerializeToString())
    result = run("convert", pb, "-o", tmp_path / "ir")
    assert_clean_failure(result, "'cat'", "ConcatV2", "[?,4], [?,4], []")
    assert not (tmp_path / "ir").exists()


def test_timings_prints_one_line_with_every_stage_and_peak_memory(tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    result = run("convert", pb, "-o", tmp_path / "ir", "--silent", "--timings")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("[ TIMINGS ]")]
    assert len(lines) == 1, result.stderr
    fields = dict(item.split("=") for item in lines[0].split()[3:])
    assert list(fields) == ["startup", "load", "source_passes", "translate", "IR_passes", "write",
                            "total", "peak_rss_mib"]
    stages = sum(float(v) for k, v in fields.items() if k not in ("total", "peak_rss_mib"))
    assert 0 < stages <= float(fields["total"]) + 0.002
    assert float(fields["peak_rss_mib"]) > 10


def test_help_imports_no_numpy_protobuf_networkx_ml_dtypes_or_metadata():
    """``tfconv --help`` stays quick: the heavy libraries load when a model is converted (or
    validate, classify or detect runs)."""
    code = ("import contextlib, io, sys\n"
            "from tfconv.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    assert main(['--help']) == 0\n"
            "assert 'convert' in out.getvalue()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'google', 'networkx', 'ml_dtypes', 'tensorflow', 'openvino', 'numpy'}), "
            "'importlib.metadata' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] False"  # plugins found without importlib.metadata


def test_classifier_conversion_imports_only_what_it_uses(tmp_path):
    """``tfconv convert`` of a plain graph builds only the convert command and leaves the
    modules it has no use for unimported (each is milliseconds of every start-up): the other
    commands' modules, the transformations-config replacers, the OD API pipeline.config reader
    and pre-processing rewriter, the Slim preprocessing table and OpenSSL's hashlib."""
    pb = small_graph(tmp_path / "m.pb")
    unused = ["tfconv.inspect", "tfconv.replacers", "tfconv_ir_backend.tools",
              "tfconv_tf_frontend.commands", "tfconv_od_api.pipeline_config",
              "tfconv_od_api.preprocessor", "tfconv_slim.table", "_hashlib"]
    code = ("import sys\n"
            "from tfconv.cli import main\n"
            f"assert main(['convert', {str(pb)!r}, '-o', {str(tmp_path / 'ir')!r}, '--silent']) == 0\n"
            f"print([m for m in {unused!r} if m in sys.modules])\n"
            "print([m for m in ('tfconv_od_api.checks', 'tfconv_slim.passes') if m in sys.modules])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    loaded, plugins_seen = result.stdout.splitlines()
    assert loaded == "[]"
    assert plugins_seen == "['tfconv_od_api.checks', 'tfconv_slim.passes']"  # they did run
    assert (tmp_path / "ir" / "m.xml").is_file()


def test_deferred_commands_list_and_run_as_their_real_commands():
    """validate, classify and detect are listed by ``tfconv --help`` with the first sentence of
    the real command's help (built when the command runs), and each answers its own --help."""
    from click.testing import CliRunner
    from tfconv import plugins
    from tfconv.cli import make_cli
    from tfconv_ir_backend.tools import Deferred

    cli = make_cli(plugins.get_plugin_manager())
    runner = CliRunner()
    for name in ("validate", "classify", "detect"):
        stand_in = cli.commands[name]
        assert isinstance(stand_in, Deferred)
        real = stand_in.command
        assert real.name == name and not isinstance(real, Deferred)
        assert real.help.startswith(stand_in.help.rstrip(".")), (stand_in.help, real.help)
        assert stand_in.get_short_help_str() == real.get_short_help_str()
        shown = runner.invoke(cli, [name, "--help"])
        assert shown.exit_code == 0 and f"Usage: cli {name} [OPTIONS]" in shown.output
    validate = cli.commands["validate"].command  # convert's model flags are taken
    assert {"input_model", "input_shape", "input"} <= {p.name for p in validate.params}


def test_float32_conversion_does_not_import_ml_dtypes(tmp_path):
    pb = small_graph(tmp_path / "m.pb")
    code = ("import sys\n"
            "from tfconv.cli import main\n"
            f"assert main(['convert', {str(pb)!r}, '-o', {str(tmp_path / 'ir')!r}, '--silent']) == 0\n"
            "print('ml_dtypes' in sys.modules, 'google.protobuf' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
