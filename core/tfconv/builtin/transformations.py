"""Built-in source pass: apply ``--transformations_config`` recipes (see :mod:`tfconv.replacers`)
with the replacers plugins register, before translation."""
from __future__ import annotations

import logging
from pathlib import Path

from tfconv import hookimpl
from tfconv.passes import graph_pass

log = logging.getLogger("tfconv.replacers")


@graph_pass("transformations.apply_config", stage="source",
            after=["tf_frontend.write_tensorboard", "tf_frontend.fold_constant_switches",
                   "tf_frontend.remove_training_ops"],
            before=["cleanup.remove_dead_source", "slim.recognise_topology",
                    "slim.drop_aux_logits"])
def apply_config(graph, config) -> None:
    """Replace the sub-graphs a transformations config names (no-op without the flag)."""
    path = config.options.get("transformations_config")
    if not path:
        return
    from tfconv import plugins
    from tfconv.replacers import apply_recipes, load_recipes  # only with the flag: 4 ms
    pm = graph.meta.get("plugin_manager")
    registry = plugins.replacers(pm) if pm is not None else None
    if registry is None:  # the graph did not come through tfconv.pipeline
        from tfconv.replacers import ReplacerRegistry
        registry = ReplacerRegistry()
    recipes = load_recipes(Path(path), registry)
    count = apply_recipes(graph, recipes, registry, config)
    log.info("transformations config %s: %d replacement(s) applied", path, count)


@hookimpl
def tfconv_register_passes(registry) -> None:
    registry.add(apply_config)
