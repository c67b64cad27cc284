"""The Python API: ``convert_model`` and ``save_model``, with the CLI's options as keywords."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pluggy

from . import pipeline
from .cli import build_config
from .config import ConvertConfig
from .graph import Graph
from .plugins import get_plugin_manager

DEFAULTS = {"input": None, "input_shape": None, "output": None, "batch": None}


def _config(model, options: dict) -> ConvertConfig:
    kw = dict(DEFAULTS)
    kw.update(options)
    kw["model"] = str(model) if model is not None else None
    for key in ("compress_to_fp16", "silent"):
        if isinstance(kw.get(key), bool):
            kw[key] = str(kw[key])
    return build_config(kw)


def convert_model(model=None, *, plugin_manager: pluggy.PluginManager | None = None,
                  **options) -> Graph:
    """Convert ``model`` (a path) in memory; returns the IR graph, ready for :func:`save_model`."""
    pm = plugin_manager or get_plugin_manager()
    config = _config(model, options)
    source = pipeline.load(pm, config)
    graph = pipeline.transform(pm, source, config)
    graph.meta["config"] = config
    graph.meta["plugin_manager"] = pm
    return graph


def save_model(graph: Graph, path, **options) -> list[Path]:
    """Write ``graph`` to ``path`` (``dir/name.xml``) and its ``.bin``; returns the files."""
    path = Path(path)
    pm = graph.meta.get("plugin_manager") or get_plugin_manager()
    base = graph.meta.get("config") or ConvertConfig()
    config = dataclasses.replace(base, output_dir=path.parent, model_name=path.stem,
                                 **{k: v for k, v in options.items() if k == "target"})
    return pipeline.emit(pm, graph, config)  # type: ignore[arg-type]
