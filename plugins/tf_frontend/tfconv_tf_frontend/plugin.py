"""tf_frontend: reads TensorFlow graphs and translates TF ops to OpenVINO IR ops."""
from __future__ import annotations

from tfconv import hookimpl


@hookimpl(trylast=True)
def tfconv_load_model(path, config):
    from . import cleanup, loader
    cleanup.load_custom_libraries(config.options.get("tensorflow_custom_layer_libraries"))
    return cleanup.load_with_defaults(loader, path, config)


@hookimpl
def tfconv_describe_model(path, config, graph):
    from .describe import describe
    return describe(path, config, graph)


@hookimpl
def tfconv_register_translators(registry):
    from .ops import TABLE
    registry.add(TABLE)


@hookimpl
def tfconv_register_passes(registry):
    from .ops.lookup import PASSES as LOOKUP_PASSES  # hash table contents (ops/lookup.py)
    registry.add(*LOOKUP_PASSES)
    from .cleanup import ALL_PASSES
    from .control_flow import collapse_while_loops, drop_cond_pivots, unify_cond_branches
    registry.add(*ALL_PASSES, collapse_while_loops, drop_cond_pivots, unify_cond_branches)
    from .functional import lower_switch_n_pass  # TF2 Case lowered by TF (functional.py)
    registry.add(lower_switch_n_pass)
    from .declared_shapes import ALL_PASSES as SHAPE_PASSES  # outputs keep TF's static shapes
    registry.add(*SHAPE_PASSES)


@hookimpl
def tfconv_register_commands(cli):
    from .commands import register
    register(cli)


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
        click.Option(["--tensorflow_custom_layer_libraries"], metavar="LIBS",
                     help="TensorFlow: op libraries (.so, comma separated) to load with "
                     "tf.load_op_library before TensorFlow reads the model."),
    ])
    if command.name == "convert":  # inspect writes nothing
        command.params.append(click.Option(
            ["--tensorboard_logdir"], metavar="DIR",
            help="TensorFlow: write the loaded GraphDef to DIR for TensorBoard."))


@hookimpl(trylast=True)
def tfconv_run_reference(config, feeds, outputs):
    from .reference import run_reference
    return run_reference(config, feeds, outputs)
