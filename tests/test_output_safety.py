"""Output safety (issue 13): IR files appear in --output_dir all at once or not at all, never
anywhere else; --model_name is a file name; a full disk, an emitter failure or a SIGKILL leave an
existing IR untouched; exit codes; the crash log of an internal error."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from test_cli import _node, small_graph
from tfconv_tf_frontend import proto

TFCONV = [sys.executable, "-m", "tfconv.cli"]
PLUGIN_DIR = Path(__file__).parent / "sample_plugin"


def run(*args, cwd=None, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*TFCONV, *map(str, args)], capture_output=True, text=True, check=False,
                          cwd=cwd, env=env, **kw)


def odd_env(**extra) -> dict:
    return {**os.environ, "TFCONV_PLUGINS": "odd_emitters",
            "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), os.environ.get("PYTHONPATH", "")]),
            **extra}


def tree(root: Path) -> dict:
    """Relative path -> sha256 of every file under ``root`` (directories as None)."""
    return {str(p.relative_to(root)): (None if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*"))}


def wide_graph(path: Path, n: int, seed: int = 0) -> Path:
    """x[?,n] + const[n] -> out: an IR whose .bin holds n floats."""
    gd = proto.GraphDef()
    _node(gd, "x", "Placeholder", dtype=1, shape=[-1, n])
    _node(gd, "bias", "Const", dtype=1,
          value=np.random.default_rng(seed).standard_normal(n).astype(np.float32))
    _node(gd, "add", "AddV2", ["x", "bias"], T=1)
    _node(gd, "out", "Identity", ["add"], T=1)
    path.write_bytes(gd.SerializeToString())
    return path


@pytest.fixture()
def models(tmp_path):
    src = tmp_path / "models"
    src.mkdir()
    return small_graph(src / "a.pb"), wide_graph(src / "b.pb", 64, seed=1)


# -- --model_name ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "ABSOLUTE", "sub/name", "..", ".", "", " ",
                                  "bad\nname", "a\\b"])
def test_model_name_is_a_file_name(models, tmp_path, name):
    if name == "ABSOLUTE":
        name = str(tmp_path / "abs" / "model")
    before = tree(tmp_path)
    result = run("convert", models[0], "-o", tmp_path / "out", "--model_name", name, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("[ ERROR ] --model_name") and "is not a file name" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert tree(tmp_path) == before  # no out/, nothing above it, nothing at the absolute path


def test_model_name_places_files_only_in_output_dir(models, tmp_path):
    result = run("convert", models[0], "-o", tmp_path / "out", "--model_name", "net.v2",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(tree(tmp_path / "out")) == ["net.v2.bin", "net.v2.mapping", "net.v2.xml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "out"]


# -- replacing an existing IR ---------------------------------------------------------------


def test_existing_ir_is_replaced_whole(models, tmp_path):
    out = tmp_path / "out"
    assert run("convert", models[0], "-o", out, "-n", "m").returncode == 0
    first = tree(out)
    result = run("convert", models[1], "-o", out, "-n", "m")
    assert result.returncode == 0, result.stderr
    second = tree(out)
    assert sorted(second) == sorted(first) == ["m.bin", "m.mapping", "m.xml"]
    assert all(first[k] != second[k] for k in first)  # every file is the new model's
    fresh = tmp_path / "fresh"
    assert run("convert", models[1], "-o", fresh, "-n", "m").returncode == 0
    assert tree(fresh) == second


def test_emitter_failure_leaves_existing_ir_and_no_staging(models, tmp_path):
    out = tmp_path / "out"
    assert run("convert", models[0], "-o", out, "-n", "m").returncode == 0
    before = tree(out)
    crash_dir = tmp_path / "crashes"
    result = run("convert", models[1], "-o", out, "-n", "m", "--target", "crashing_ir",
                 env=odd_env(TFCONV_CRASH_DIR=str(crash_dir)))
    assert result.returncode == 70, result.stderr
    assert "Traceback" not in result.stderr
    assert "internal error: RuntimeError: emitter bug on purpose" in result.stderr
    assert "This is a bug in tfconv or one of its plugins; the crash log is" in result.stderr
    assert tree(out) == before
    (log,) = crash_dir.iterdir()
    text = log.read_text()
    assert str(log) in result.stderr
    assert "command: tfconv convert" in text and "--target crashing_ir" in text
    assert "Traceback (most recent call last)" in text and "emitter bug on purpose" in text
    assert "tfconv 0." in text


def test_emitter_writing_outside_its_directory_installs_nothing(models, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's file\n")
    result = run("convert", models[0], "-o", out, "-n", "m", "--target", "escaping_ir",
                 env=odd_env())
    assert result.returncode == 70, result.stderr
    assert "outside the directory it was given; nothing was installed" in result.stderr
    assert "stray.txt" in result.stderr
    # the plugin's own stray write is its doing; tfconv installed nothing and cleaned up
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "stray.txt"]
    assert (out / "notes.txt").read_text() == "the user's file\n"
    # a fresh output directory made for the run is removed whole
    result = run("convert", models[0], "-o", tmp_path / "fresh", "-n", "m", "--target",
                 "escaping_ir", env=odd_env())
    assert result.returncode == 70 and not (tmp_path / "fresh").exists()


# -- a full disk ------------------------------------------------------------------------------


@pytest.fixture()
def small_fs(tmp_path):
    """A 256 KiB tmpfs (needs root, as in CI)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_leaves_existing_ir_untouched(models, tmp_path, small_fs):
    out = small_fs / "ir"
    assert run("convert", models[0], "-o", out, "-n", "m").returncode == 0
    before = tree(out)
    big = wide_graph(tmp_path / "big.pb", 200_000)  # an 800 KB .bin on a 256 KB disk
    result = run("convert", big, "-o", out, "-n", "m")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"[ ERROR ] no space left on the device of {out} while "
                                    "writing the IR; nothing there was changed")
    assert tree(out) == before
    # A fresh output directory on the full disk is not left behind half made either.
    again = run("convert", big, "-o", small_fs / "new", "-n", "m")
    assert again.returncode == 2 and not (small_fs / "new").exists()


# -- SIGKILL ---------------------------------------------------------------------------------


def test_sigkill_while_writing_leaves_existing_ir_untouched(models, tmp_path):
    out = tmp_path / "out"
    assert run("convert", models[0], "-o", out, "-n", "m").returncode == 0
    before = tree(out)
    marker = tmp_path / "written"
    proc = subprocess.Popen([*TFCONV, "convert", str(models[1]), "-o", str(out), "-n", "m",
                             "--target", "slow_ir"], env=odd_env(ODD_EMITTER_MARKER=str(marker)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the slow emitter never wrote its files"
        staging = Path(marker.read_text())
        assert staging.parent == out and (staging / "m.xml").is_file()  # written, not installed
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    left = {k: v for k, v in tree(out).items() if not k.startswith(".tfconv-staging-")}
    assert left == before  # the old IR, byte for byte
    # The next run into the directory removes the dead run's leftovers.
    result = run("convert", models[0], "-o", out, "-n", "other", "--log_level", "INFO")
    assert result.returncode == 0, result.stderr
    assert "the unfinished output of an interrupted tfconv run" in result.stderr
    assert sorted(tree(out)) == ["m.bin", "m.mapping", "m.xml", "other.bin", "other.mapping",
                                 "other.xml"]
    assert {k: tree(out)[k] for k in before} == before


def test_interrupted_install_is_finished_by_the_next_run(models, tmp_path):
    """A SIGKILL after the staged files were complete and the journal written, between two
    renames: the next run into the directory installs the rest, so the IR is never mixed."""
    out = tmp_path / "out"
    new = tmp_path / "new"
    assert run("convert", models[0], "-o", out, "-n", "m").returncode == 0
    assert run("convert", models[1], "-o", new, "-n", "m").returncode == 0
    staging = out / ".tfconv-staging-999999999-dead"  # no such process
    staging.mkdir()
    for name in ("m.xml", "m.mapping"):  # m.bin was already renamed when the kill came
        (staging / name).write_bytes((new / name).read_bytes())
    (out / "m.bin").write_bytes((new / "m.bin").read_bytes())
    (staging / "COMMIT").write_text(json.dumps(["m.bin", "m.mapping", "m.xml"]))
    result = run("convert", models[0], "-o", out, "-n", "other")
    assert result.returncode == 0, result.stderr
    assert "finished installing m.bin, m.mapping, m.xml" in result.stderr  # journal order
    assert {k: v for k, v in tree(out).items() if k.startswith("m.")} == tree(new)
    assert not staging.exists()


# -- exit codes -------------------------------------------------------------------------------


def test_exit_codes(models, tmp_path):
    out = tmp_path / "out"
    assert run("convert", models[0], "-o", out).returncode == 0
    assert run("convert", models[0], "--no_such_flag").returncode == 2
    assert run("convert", tmp_path / "missing.pb", "-o", out).returncode == 2
    corrupt = tmp_path / "corrupt.pb"
    corrupt.write_bytes(b"\x0a\xff\xff\xff\xff not a graph")
    assert run("convert", corrupt, "-o", out).returncode == 2
    unsupported = small_graph(tmp_path / "u.pb", extra=[("odd", "NoSuchOpAnywhere")])
    result = run("convert", unsupported, "-o", out)
    assert result.returncode == 3 and "NoSuchOpAnywhere x1: odd" in result.stderr
    help_text = run("--help").stdout
    for code in ("0 ", "1 ", "2 ", "3 ", "70"):
        assert f"\n    {code}" in help_text, help_text
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "| 70 |" in readme and "| 3 |" in readme


def test_files_reach_the_disk_before_they_replace_the_users(tmp_path, monkeypatch):
    """``fsync`` is spent where a machine crash could lose what the user had: every staged file,
    the journal and the staging folder are flushed before the first rename over an existing
    file, the directory after the last. Into a fresh place nothing is replaced and nothing
    waits for the disk."""
    from tfconv import output

    events: list[tuple[str, str]] = []
    real_replace = os.replace
    monkeypatch.setattr(output, "_fsync", lambda path: events.append(("fsync", Path(path).name)))
    monkeypatch.setattr(output.os, "replace",
                        lambda a, b: (events.append(("replace", Path(b).name)), real_replace(a, b)))

    def emit(staging: Path) -> list[Path]:
        for name, data in (("m.bin", b"\0" * 64), ("m.xml", b"<net/>")):
            (staging / name).write_bytes(data)
        return [staging / "m.bin", staging / "m.xml"]

    out = tmp_path / "out"
    output.write_all(out, emit)
    assert [e for e in events if e[0] == "fsync"] == [] and len(events) == 2
    assert sorted(p.name for p in out.iterdir()) == ["m.bin", "m.xml"]

    events.clear()
    output.write_all(out, emit)
    first_replace = next(i for i, e in enumerate(events) if e[0] == "replace")
    flushed = {name for kind, name in events[:first_replace] if kind == "fsync"}
    assert {"m.bin", "m.xml", output.JOURNAL} <= flushed
    assert any(n.startswith(output.STAGING_PREFIX) for n in flushed)
    assert events[-1] == ("fsync", "out")
    assert (out / "m.xml").read_bytes() == b"<net/>"
