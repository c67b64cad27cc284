"""A third party's transformation-config plugin, loaded with TFCONV_PLUGINS=my_replacers: the
replacer behind the recipe id ``my_replacers.GeluTanh`` turns a hand-written tanh-GELU
sub-graph (wherever a ``--transformations_config`` recipe says it is) into one ``MyGelu``
source op, which its translator makes an IR Gelu; ``my_replacers.Tag`` is a ``general`` one."""
from __future__ import annotations

from tfconv import hookimpl
from tfconv.translate import OpTable

OPS = OpTable("tf")


@OPS.register("MyGelu", inputs=1)
def my_gelu(ctx):
    return ctx.emit("Gelu", ctx.input(0), approximation_mode=ctx.attr("approximation", "tanh"))


def replace_gelu(graph, match, config):
    """The match has one input (x) and one output (the GELU); one MyGelu op replaces it."""
    (x,) = match.input_ports()
    name = graph.unique_name(f"{match.nodes[-1].rsplit('/', 1)[0]}/MyGelu")
    op = graph.add_op("MyGelu", name, [x],
                      {"approximation": match.custom_attributes.get("approximation", "tanh")})
    info = graph.info(match.outputs[0])
    op.outputs[0].shape, op.outputs[0].dtype = info.shape, info.dtype
    from tfconv.graph import Port
    return [Port(name, 0)]


def tag_graph(graph, match, config):
    """A general replacement: only records its custom attributes (no surgery)."""
    graph.meta["my_replacers.tag"] = match.custom_attributes.get("tag")


@hookimpl
def tfconv_register_translators(registry):
    registry.add(OPS)


@hookimpl
def tfconv_register_replacers(registry):
    registry.add("my_replacers.GeluTanh", replace_gelu, "hand-written tanh-GELU -> MyGelu")
    registry.add("my_replacers.Tag", tag_graph, "records custom_attributes['tag']")
