"""A third party's plugin, loaded with TFCONV_PLUGINS=my_layers: a custom-layer translator,
an override of a built-in translator, a pass, a CLI option and an emitter."""
from __future__ import annotations

import json

import click

from tfconv import hookimpl
from tfconv.passes import graph_pass
from tfconv.translate import OpTable

CUSTOM = OpTable("tf")
OVERRIDES = OpTable("tf")


@CUSTOM.register("MySwish", inputs=1)
def my_swish(ctx):
    # TF: y = MySwish(x) (a custom op)        IR: y = Swish(x)
    return ctx.emit("Swish", ctx.input(0))


@OVERRIDES.register("Relu", inputs=1)
def relu_as_clamp(ctx):
    return ctx.emit("Clamp", ctx.input(0), min=0.0, max=3.0e38)


@graph_pass("my_layers.count_ops", stage="ir", after=["cleanup.remove_dead_ir"])
def count_ops(graph, config):
    graph.meta["my_layers.count"] = len(graph)
    graph.meta["my_layers.flag"] = config.options.get("my_flag")


def write_summary(graph, directory, config):
    path = directory / f"{config.name}.json"
    path.write_text(json.dumps({"ops": sorted(op.type for op in graph),
                                "flag": graph.meta.get("my_layers.flag")}))
    return [path]


@hookimpl
def tfconv_register_translators(registry):
    registry.add(CUSTOM)
    registry.add(OVERRIDES, override=True)


@hookimpl
def tfconv_register_passes(registry):
    registry.add(count_ops)


@hookimpl
def tfconv_register_emitters(registry):
    registry.add("summary", write_summary, "op summary as JSON")


@hookimpl
def tfconv_add_options(command):
    command.params.append(click.Option(["--my_flag"], help="A plugin's own flag."))
