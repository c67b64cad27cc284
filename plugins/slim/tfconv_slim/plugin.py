"""slim plugin entry point (hookimpls only): TF-Slim topology recognition, the spec's
mean/scale table and ``--slim_preprocessing``."""
from __future__ import annotations

from tfconv import hookimpl


@hookimpl
def tfconv_register_passes(registry):
    from .passes import ALL_PASSES
    registry.add(*ALL_PASSES)


@hookimpl
def tfconv_add_options(command):
    import click
    command.params.append(click.Option(
        ["--slim_preprocessing"], is_flag=False, flag_value="BGR", default=None,
        type=click.Choice(["BGR", "RGB"], case_sensitive=False), metavar="[BGR|RGB]",
        help="TF-Slim nets: embed the spec's --mean_values/--scale for the recognised topology, "
             "for raw 0..255 images in this channel order (default BGR, like the IE samples: "
             "channels are reversed for the RGB-trained net)."))


@hookimpl
def tfconv_describe_model(path, config, graph):
    if graph is None:
        return None
    from .describe import describe
    return describe(graph)
