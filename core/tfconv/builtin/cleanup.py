"""Built-in generic passes, registered like any plugin: dead-code elimination on both dialects."""
from __future__ import annotations

import logging

from tfconv import hookimpl
from tfconv.passes import graph_pass

log = logging.getLogger("tfconv.cleanup")


@graph_pass("cleanup.remove_dead_source", stage="source")
def remove_dead_source(graph, config) -> None:
    """Drop source ops that no requested output depends on (training and saving leftovers)."""
    keep = [n for n in graph.meta.get("inputs", []) if n in graph]
    removed = graph.remove_dead(keep=keep)
    if removed:
        log.debug("removed %d source ops that no output uses", removed)


@graph_pass("cleanup.remove_dead_ir", stage="ir", after=["ir_backend.fuse_linear"])
def remove_dead_ir(graph, config) -> None:
    """Drop IR ops that no Result depends on (left behind by folding and fusion)."""
    keep = [op.name for op in graph if op.type == "Parameter"]
    graph.remove_dead(keep=keep)


@hookimpl
def tfconv_register_passes(registry) -> None:
    registry.add(remove_dead_source, remove_dead_ir)
