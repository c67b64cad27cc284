"""tf_frontend: reads TensorFlow graphs and translates TF ops to OpenVINO IR ops."""
from __future__ import annotations

from tfconv import hookimpl


@hookimpl(trylast=True)
def tfconv_load_model(path, config):
    from . import loader
    return loader.load(path, config)


@hookimpl
def tfconv_register_translators(registry):
    from .ops import TABLE
    registry.add(TABLE)


@hookimpl
def tfconv_add_options(command):
    import click
    command.params.extend([
        click.Option(["--input_checkpoint"], help="TensorFlow: checkpoint of the inference graph "
                     "given as MODEL: a V2 prefix (model.ckpt) or any of its files, or a V1 file."),
        click.Option(["--input_meta_graph"], help="TensorFlow: a MetaGraph (.meta); variables "
                     "are restored from the checkpoint with the same prefix."),
        click.Option(["--saved_model_dir"], help="TensorFlow: a SavedModel directory."),
        click.Option(["--saved_model_tags"], metavar="TAGS",
                     help="SavedModel tag set, comma separated (default: serve)."),
        click.Option(["--saved_model_signature"], metavar="NAME",
                     help="SavedModel signature (default: serving_default, or the only one)."),
    ])
