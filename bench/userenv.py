"""A user's install, for timing whole processes: the benchmarks run both converters from it.

The test virtualenv is a developer's: tfconv's distributions are editable installs, each a
``.pth`` import hook that every Python process there runs at start-up (~15 ms on this project's
machines, for tfconv and ovc alike), and it holds the example plugins. A user runs
``pip install tfconv tfconv-tf-frontend tfconv-ir-backend tfconv-slim tfconv-od-api``: wheels.
This module builds that once per source state into ``.cache/bench/user-venv-<key>``: a
virtualenv with the five distributions installed from wheels built here, which sees the test
virtualenv's third-party packages (numpy, protobuf, openvino...) through one plain path line
(so none of its ``.pth`` hooks run), and an ``ovc`` script of its own.

    python bench/userenv.py     # build it if needed and print its bin directory
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
DISTS = [ROOT, *(ROOT / "plugins" / name for name in ("tf_frontend", "ir_backend", "slim",
                                                        "od_api"))]
# What of the test virtualenv's site-packages a user's install would not have.
SKIP = ("tfconv", "__editable__", "_distutils_hack")


BUILD_LEFTOVERS = ("build", "dist", "__pycache__", "*.egg-info")


def _sources(dist: Path) -> list[Path]:
    """The files a distribution is built from: its packaging files and its package code
    (for the root, ``core/``), without build leftovers."""
    found = [p for p in sorted(dist.iterdir()) if p.is_file()]
    tops = [dist / "core"] if dist == ROOT else [p for p in sorted(dist.iterdir()) if p.is_dir()]
    for top in tops:
        for here, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d not in ("build", "dist", "__pycache__")
                             and not d.endswith(".egg-info") and not d.startswith("."))
            found += [Path(here, f) for f in sorted(files)]
    return found


def _key() -> str:
    """Changes with any source or packaging file of the five distributions (name, size,
    modification time: reading them would grow the benchmark's own memory, which its children's
    peak RSS inherits at fork) and with Python."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(sys.version.encode())
    for dist in DISTS:
        for path in _sources(dist):
            st = path.stat()
            digest.update(f"{path.relative_to(ROOT)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _run(cmd: list[str]) -> None:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"building the user virtualenv failed: {' '.join(map(str, cmd))}\n"
                         f"{done.stdout[-2000:]}{done.stderr[-3000:]}")


def bin_dir() -> Path:
    """The user virtualenv's ``bin`` (with ``tfconv`` and ``ovc``), built when missing."""
    root = CACHE / f"user-venv-{_key()}"
    if (root / "ready").is_file():
        return root / "bin"
    for old in CACHE.glob("user-venv-*"):
        shutil.rmtree(old, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", "--without-pip", root])
    python = root / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    deps = root / "deps"
    deps.mkdir()
    parent = Path(sysconfig.get_path("purelib"))
    for entry in sorted(parent.iterdir()):
        if entry.name.startswith(SKIP) or entry.suffix == ".pth" or entry.name == "__pycache__":
            continue
        (deps / entry.name).symlink_to(entry)
    (site / "test-venv-packages.pth").write_text(f"{deps}\n")  # a path line: no hook runs
    wheels, copies = root / "wheels", root / "src"
    for dist in DISTS:  # built from copies: setuptools leaves build/ behind in what it builds
        shutil.copytree(dist, copies / dist.relative_to(ROOT.parent),
                        ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS, ".*", "plugins",
                                                      "tests", "bench", "examples", "docs"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", wheels, *(copies / d.relative_to(ROOT.parent) for d in DISTS)])
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
          "--no-index", *sorted(wheels.glob("*.whl"))])
    ovc = root / "bin" / "ovc"
    ovc.write_text(f"#!{python}\nimport sys\nfrom openvino.tools.ovc.main import main\n"
                   "if __name__ == '__main__':\n    sys.exit(main())\n")
    ovc.chmod(0o755)
    check = subprocess.run([root / "bin" / "tfconv", "plugins"], capture_output=True, text=True,
                           check=False)
    if check.returncode != 0 or "tf_frontend" not in check.stdout or "custom_op" in check.stdout:
        raise SystemExit(f"the user virtualenv's tfconv is not as expected:\n{check.stdout}"
                         f"{check.stderr}")
    (root / "ready").write_text("")
    return root / "bin"


if __name__ == "__main__":
    print(bin_dir())
