"""Cached test cases of the Slim nets that ``tf_slim.nets`` lacks (``slim/_nets.py``), built like
the zoo's tf_slim cases in a subprocess (``python -m slim._build``) so that the calling (pytest)
process never imports TensorFlow; cached next to the zoo's cases and keyed like them."""
from __future__ import annotations

import json
import subprocess
import sys

from models import zoo

NETS = ("inception_v4", "inception_resnet_v2", "mobilenet_v1_0.25_128", "mobilenet_v2",
        "nasnet_mobile", "pnasnet_mobile")
FORMAT = 3  # bump when slim/_nets.py or slim/_build.py change what is built


def cache_dir():
    d = zoo.cache_dir() / f"slim-topologies-{FORMAT}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _built(name: str) -> bool:
    return (cache_dir() / name / "meta.json").is_file()


def prebuild(names=NETS) -> None:
    todo = [n for n in names if not _built(n)]
    if not todo:
        return
    root = cache_dir()
    with zoo._file_lock(root / ".lock"):
        todo = [n for n in todo if not _built(n)]
        if not todo:
            return
        proc = subprocess.run([sys.executable, "-m", "slim._build", str(root), *todo],
                              env=zoo._subprocess_env(), cwd=str(zoo._TESTS_DIR),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=zoo._BUILD_TIMEOUT)
        if proc.returncode != 0 or not all(_built(n) for n in todo):
            tail = "\n".join(proc.stdout.splitlines()[-60:])
            raise RuntimeError(f"building {todo} failed (exit {proc.returncode}):\n{tail}")


def meta(name: str) -> dict:
    prebuild([name])
    return json.loads((cache_dir() / name / "meta.json").read_text())


def get(name: str) -> zoo.ModelCase:
    m = meta(name)
    d = cache_dir() / name
    return zoo.ModelCase(name=f"slim-{name}", pb=d / m["pb"],
                         inputs={k: tuple(v) for k, v in m["inputs"].items()},
                         outputs=list(m["outputs"]), reference=d / m["reference"],
                         forms=tuple((k, d / v) for k, v in sorted(m.get("forms", {}).items())))
