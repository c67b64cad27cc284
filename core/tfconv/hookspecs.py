"""Hook specifications for tfconv plugins.

Hooks are called with keyword arguments only. An implementation may accept fewer arguments than
its spec (pluggy's opt-in arguments). Each is documented in ``docs/hooks.md``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from tfconv.config import ConvertConfig
    import numpy as np

    from tfconv.emit import EmitterRegistry
    from tfconv.findings import Finding
    from tfconv.graph import Graph
    from tfconv.irops import IROpRegistry
    from tfconv.passes import PassRegistry
    from tfconv.replacers import ReplacerRegistry
    from tfconv.translate import TranslatorRegistry

hookspec = pluggy.HookspecMarker("tfconv")

# -- loading ----------------------------------------------------------------------------------


@hookspec(firstresult=True)
def tfconv_load_model(path: Path, config: ConvertConfig) -> Graph | None:
    """Read the model at ``path`` into a source-dialect graph.

    Called once per conversion, most recently registered plugin first. Return ``None`` when the
    format is not yours; the first non-None result wins. Raise a ``TfconvError`` when the file is
    yours but unusable.
    """


@hookspec
def tfconv_describe_model(path: Path, config: ConvertConfig,
                          graph: Graph | None) -> list[Finding] | None:
    """Recognise what the model at ``path`` is: its format, signatures, topology family
    (a Slim net, an Object Detection API meta-architecture, a FakeQuant graph) and the flags
    that suit it. ``graph`` is the loaded source graph, or ``None`` when loading failed (a
    plugin may still describe the file). Used by ``tfconv inspect`` and logged by ``convert``.
    Return a list of :class:`tfconv.findings.Finding`, or ``None``.
    """


@hookspec(firstresult=True)
def tfconv_run_reference(config: ConvertConfig, feeds: dict[str, np.ndarray],
                         outputs: list[str]) -> dict[str, np.ndarray] | None:
    """Run the original model in its own framework (TensorFlow) for ``tfconv validate``.

    ``feeds`` maps input tensor names to arrays in the framework's layout; ``outputs`` are
    tensor names (model outputs or any intermediate tensor, ``name:port``). Return a dict from
    each requested name to its value, or ``None`` when the model is not yours.
    """


# -- contributions ----------------------------------------------------------------------------


@hookspec
def tfconv_register_translators(registry: TranslatorRegistry) -> None:
    """Contribute op translators (custom-layer extractors): ``registry.add(TABLE)``.

    Called once per plugin manager. Two plugins claiming one op type is an error naming both,
    unless one registers with ``registry.add(TABLE, override=True)``, which then wins whatever
    the registration order.
    """


@hookspec
def tfconv_register_ir_ops(registry: IROpRegistry) -> None:
    """Contribute the semantics of IR op types that translators or passes emit and tfconv does
    not know (a custom layer in the plugin's own opset):
    ``registry.add("MyOp", infer, version="my_opset", evaluate=None)``.

    ``infer(attrs, inputs, values)`` returns one ``(shape, dtype)`` per output from the inputs'
    :class:`tfconv.graph.TensorInfo` (``None`` dims are dynamic) and their constant values
    (``None`` when not constant); ``evaluate(attrs, arrays)``, optional, computes the op on
    constants. ``version`` is written as the layer's ``version=`` (its opset) in the IR. Called
    before translation; a type that already has a different rule is an error unless
    ``override=True``.
    """


@hookspec
def tfconv_register_passes(registry: PassRegistry) -> None:
    """Contribute graph passes made with ``@graph_pass(name, stage=..., after=..., before=...)``.

    Stage ``source`` runs on the TF graph before translation, ``ir`` on the IR graph after.
    Order follows the declared names, ties broken by name; a cycle is an error.
    """


@hookspec
def tfconv_register_emitters(registry: EmitterRegistry) -> None:
    """Contribute writers keyed by target name: ``registry.add("ir", write)``, where
    ``write(graph, directory, config)`` writes its files directly into ``directory`` (a staging
    folder) and returns them. tfconv installs them into ``--output_dir`` all at once, and turns
    an ``OSError`` (full disk, no permission) into one clean message; a file written elsewhere
    is refused."""


@hookspec
def tfconv_register_replacers(registry: ReplacerRegistry) -> None:
    """Contribute the code behind transformation-config ids (``--transformations_config``):
    ``registry.add("my_plugin.Swish", replace)``, where ``replace(graph, match, config)`` gets
    the source graph and a :class:`tfconv.replacers.SubgraphMatch` (matched node names, the
    ports feeding it, its outputs, the recipe's ``custom_attributes``), adds the replacement
    ops and returns one new port per match output (tfconv rewires and removes the match), or
    ``None`` after doing its own surgery (``general`` recipes). A second plugin claiming an id
    is an error unless one passes ``override=True``. ``registry.supersede(files=[...],
    ids=[...], notice=...)`` declares legacy recipe files or ids this plugin makes unnecessary:
    they are skipped with the notice instead of converted."""


@hookspec(firstresult=True)
def tfconv_to_openvino(graph: Graph, name: str, core: object) -> object | None:
    """The IR ``graph`` as an ``openvino.Model`` in memory, named ``name``, read by the
    ``openvino.Core`` ``core`` (whose extensions run custom layers); for ``tfconv.to_openvino``.
    The first non-None result wins."""


# -- command line ----------------------------------------------------------------------------


@hookspec
def tfconv_add_options(command: click.Command) -> None:
    """Add a plugin's own flags to ``tfconv convert`` by appending to ``command.params``.

    Values reach passes as ``config.options[<option name>]``.
    """


@hookspec
def tfconv_register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``tfconv`` command group."""
