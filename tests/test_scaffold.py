"""``tfconv plugin new NAME --op OpType``: the generated package installs with ``pip install -e``,
registers its entry point, and passes its own test (a one-op TF graph converted by it and run in
OpenVINO against TensorFlow); bad names are clean errors that write nothing.

The package is installed into a virtualenv of its own that sees the test virtualenv's packages,
never into the test virtualenv itself: the suite runs in parallel, and a plugin appearing and
disappearing under the other workers' conversions broke them (CI of stop 23)."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import sysconfig

import pytest

from cliassert import assert_clean_failure

pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

TFCONV = [sys.executable, "-m", "tfconv.cli"]


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*map(str, cmd)], capture_output=True, text=True, check=False, **kw)


def child_venv(where) -> str:
    """A virtualenv layered over the running one: its own site-packages first, then (through a
    ``.pth`` line that runs ``site.addsitedir``) the test virtualenv's, .pth files included."""
    made = run([sys.executable, "-m", "venv", "--without-pip", where])
    assert made.returncode == 0, made.stderr
    python = str(where / "bin" / "python")
    own = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout
    parent = sysconfig.get_path("purelib")
    pathlib.Path(own.strip(), "_tfconv_test_parent.pth").write_text(
        f"import site; site.addsitedir({parent!r})\n")
    return python


def test_generated_plugin_passes_its_own_test_after_pip_install(tmp_path):
    made = run([*TFCONV, "plugin", "new", "scaffold_check", "--op", "ScaffoldCheckOp",
                "-o", tmp_path])
    assert made.returncode == 0, made.stderr
    package = tmp_path / "scaffold_check"
    assert (package / "setup.cfg").read_text().count("scaffold_check = tfconv_scaffold_check.plugin")
    python = child_venv(tmp_path / "venv")
    installed = run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                     "-e", package])
    assert installed.returncode == 0, installed.stderr
    listed = run([python, "-m", "tfconv.cli", "plugins"])
    assert "scaffold_check  (tfconv-scaffold-check 0.1.0)" in listed.stdout
    assert "scaffold_check" not in run([*TFCONV, "plugins"]).stdout, "leaked into the test venv"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    tested = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                 cwd=package, env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout
    removed = run([python, "-m", "pip", "uninstall", "-q", "-y", "tfconv-scaffold-check"])
    assert removed.returncode == 0, removed.stderr
    assert "scaffold_check" not in run([python, "-m", "tfconv.cli", "plugins"]).stdout


@pytest.mark.parametrize("args, needle", [
    (["Bad-Name", "--op", "X"], "plugin name 'Bad-Name' is not valid"),
    (["class", "--op", "X"], "plugin name 'class' is not valid"),
    (["ok_name", "--op", "9x"], "--op '9x' is not a TF op type name"),
], ids=["dash", "keyword", "op"])
def test_bad_names_are_one_clean_line_and_write_nothing(tmp_path, args, needle):
    out = tmp_path / "out"
    out.mkdir()
    result = run([*TFCONV, "plugin", "new", *args, "-o", out])
    assert result.returncode == 2
    assert_clean_failure(result, out / args[0], needle)
    assert list(out.iterdir()) == []


def test_an_existing_folder_is_left_alone(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = run([*TFCONV, "plugin", "new", "taken", "--op", "X", "-o", tmp_path])
    assert result.returncode == 2 and "already exists" in result.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]
