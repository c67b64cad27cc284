"""The conversion pipeline: load -> source passes -> translate -> IR passes -> emit."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import pluggy

from . import plugins
from .config import ConvertConfig
from .errors import NoLoaderError, OutputError, PassError, TfconvError
from .graph import Graph
from .translate import translate

log = logging.getLogger("tfconv")

Progress = Callable[[str, float], None]


def load(pm: pluggy.PluginManager, config: ConvertConfig) -> Graph:
    """Ask the loaders, most recently registered first, to read ``config.model``."""
    if config.model is None:
        msg = "no model given: pass MODEL, --input_model, --input_meta_graph or --saved_model_dir"
        raise NoLoaderError(msg)
    graph = pm.hook.tfconv_load_model(path=config.model, config=config)
    if graph is None:
        names = [n for n, _ in pm.list_name_plugin()
                 if pm.get_plugin(n) and "tfconv_load_model" in
                 {h.name for h in pm.get_hookcallers(pm.get_plugin(n)) or []}]
        msg = (f"no installed loader reads {str(config.model)!r}; loaders: "
               f"{', '.join(names) or 'none (install tfconv-tf-frontend)'}")
        raise NoLoaderError(msg)
    return graph


def run_passes(pm_passes, graph: Graph, config: ConvertConfig, stage: str) -> None:
    for p in pm_passes.ordered(stage, config.disabled_passes):
        start = time.perf_counter()
        try:
            p.run(graph, config)
            if config.validate_each_pass:
                graph.validate()
        except TfconvError:
            raise
        except Exception as err:
            raise PassError(p.name, f"{type(err).__name__}: {err}") from err
        log.debug("pass %s: %.3f s, %d ops", p.name, time.perf_counter() - start, len(graph))


def transform(pm: pluggy.PluginManager, source: Graph, config: ConvertConfig) -> Graph:
    """Source passes, translation and IR passes: the in-memory IR graph."""
    registry = plugins.passes(pm)
    run_passes(registry, source, config, "source")
    table = plugins.translators(pm).resolve(source.dialect)
    ir = translate(source, table, config)
    run_passes(registry, ir, config, "ir")
    ir.validate()
    return ir


def emit(pm: pluggy.PluginManager, graph: Graph, config: ConvertConfig) -> list[Path]:
    """Write ``graph`` with the target's emitter; all files appear at once or not at all."""
    entry = plugins.emitters(pm).get(config.target)
    out_dir = Path(config.output_dir)
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tfconv-", dir=out_dir))
    except OSError as err:
        msg = f"cannot create the output directory {str(out_dir)!r}: {err.strerror}; choose another with --output_dir"
        raise OutputError(msg) from err
    try:
        written = entry.write(graph, staging, config)
        final = []
        for path in written:
            dest = out_dir / path.relative_to(staging)
            os.replace(path, dest)
            final.append(dest)
        return final
    except BaseException:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def convert(pm: pluggy.PluginManager, config: ConvertConfig,
            progress: Progress | None = None) -> tuple[Graph, list[Path]]:
    """The whole conversion; returns the IR graph and the files written."""
    stamp = time.perf_counter()

    def step(name: str) -> None:
        nonlocal stamp
        now = time.perf_counter()
        if progress:
            progress(name, now - stamp)
        stamp = now

    source = load(pm, config)
    step("load")
    ir = transform(pm, source, config)
    step("convert")
    files = emit(pm, ir, config)
    step("write")
    return ir, files
