"""Compile ``soft_clip.cc`` into a TensorFlow op library against the installed TensorFlow.

``python -m tfconv_custom_op.build DIR`` prints the path of the library, built once per source
and TensorFlow version (cached in ``DIR``). The compiler is the system's ``g++`` (``$CXX``).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("soft_clip.cc")


def build_library(cache_dir: str | os.PathLike[str]) -> Path:
    """The path of ``soft_clip_<key>.so`` in ``cache_dir``, compiled when missing."""
    import tensorflow as tf

    compile_flags = tf.sysconfig.get_compile_flags()
    link_flags = tf.sysconfig.get_link_flags()
    key = hashlib.sha256("\n".join([SOURCE.read_text(), tf.__version__, *compile_flags,
                                    *link_flags]).encode()).hexdigest()[:12]
    cache = Path(cache_dir)
    target = cache / f"soft_clip_{key}.so"
    if target.is_file():
        return target
    cxx = os.environ.get("CXX") or shutil.which("g++")
    if not cxx:
        msg = "no C++ compiler: install g++ (apt-get install g++) or set $CXX"
        raise RuntimeError(msg)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        partial = Path(tmp) / target.name
        cmd = [cxx, "-std=c++17", "-shared", "-fPIC", "-O2", "-w", str(SOURCE), "-o", str(partial),
               *compile_flags, *link_flags]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            msg = f"compiling {SOURCE.name} failed:\n{done.stderr[-4000:]}"
            raise RuntimeError(msg)
        os.replace(partial, target)  # atomic: a parallel build never sees half a library
    return target


if __name__ == "__main__":
    print(build_library(sys.argv[1] if len(sys.argv) > 1 else ".cache/custom_op"))
