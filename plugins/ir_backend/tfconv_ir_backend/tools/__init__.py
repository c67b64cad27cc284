"""``tfconv validate``, ``tfconv classify`` and ``tfconv detect``: the OpenVINO runtime (the
Inference Engine) and Pillow are optional extras of this distribution
(``pip install 'tfconv-ir-backend[openvino]'``), imported only when one of these commands runs.
``tfconv plugin new`` (``scaffold.py``) writes a plugin package whose test runs its IR in OpenVINO.

The three commands' modules import numpy (~0.1 s), so the group holds a :class:`Deferred` stand-in
for each: ``tfconv --help`` lists them by their short help, and a command's module is imported
when that command is run or asked for its own help."""
from __future__ import annotations

from typing import Any, Callable

import click


class Deferred(click.Command):
    """A command built by ``load`` the first time click parses its arguments (its own
    ``--help`` included)."""

    def __init__(self, name: str, help: str, load: Callable[[], click.Command]) -> None:
        # ``help``: the real command's first sentence, which ``tfconv --help`` shortens
        super().__init__(name, help=help, add_help_option=False)
        self._load = load
        self._command: click.Command | None = None

    @property
    def command(self) -> click.Command:
        if self._command is None:
            self._command = self._load()
        return self._command

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        # The context belongs to the real command, so click invokes that one.
        return self.command.make_context(info_name, args, parent=parent, **extra)


def register(cli: click.Group) -> None:
    """Add the three commands to the ``tfconv`` group (``validate`` takes ``convert``'s model
    flags, so it is built when it runs, after every plugin added its own)."""

    def load(module: str, attr: str) -> Callable[[], click.Command]:
        def loaded() -> click.Command:
            from importlib import import_module
            target = getattr(import_module(f"{__name__}.{module}"), attr)
            return target(cli.commands.get("convert")) if module == "validate" else target
        return loaded

    cli.add_command(Deferred("validate", "Run the model in TensorFlow and its IR in OpenVINO on "
                             "the same inputs and compare every output.",
                             load("validate", "make_command")))
    cli.add_command(Deferred("classify", "Classify images with an IR: the top classes of each "
                             "image with their probabilities.", load("classify", "classify")))
    cli.add_command(Deferred("detect", "Run a detection IR on an image and draw the boxes "
                             "whose score reaches --threshold.",
                             load("detect", "detect")))
    from . import scaffold
    scaffold.register(cli)
