"""Emitters that misbehave on purpose, loaded with TFCONV_PLUGINS=odd_emitters (on sys.path via
PYTHONPATH): they prove what ``tfconv.output`` guarantees whatever an emitter does.

* ``slow_ir``: writes the IR, touches ``$ODD_EMITTER_MARKER``, then sleeps (to be SIGKILLed).
* ``escaping_ir``: writes the IR, then one file next to the staging directory.
* ``crashing_ir``: writes part of the IR, then fails with an unexpected exception (a bug).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from tfconv import hookimpl


def _ir(graph, directory, config):
    from tfconv_ir_backend.writer import write_ir
    return write_ir(graph, directory, config)


def slow_ir(graph, directory: Path, config):
    files = _ir(graph, directory, config)
    Path(os.environ["ODD_EMITTER_MARKER"]).write_text(str(directory))
    time.sleep(60)
    return files


def escaping_ir(graph, directory: Path, config):
    files = _ir(graph, directory, config)
    stray = directory.parent / "stray.txt"
    stray.write_text("written outside the staging directory\n")
    return [*files, stray]


def crashing_ir(graph, directory: Path, config):
    (directory / f"{config.name}.xml").write_text("<net")
    raise RuntimeError("emitter bug on purpose")


@hookimpl
def tfconv_register_emitters(registry):
    registry.add("slow_ir", slow_ir, "the IR, slowly")
    registry.add("escaping_ir", escaping_ir, "the IR plus a file outside its directory")
    registry.add("crashing_ir", crashing_ir, "fails half way")
