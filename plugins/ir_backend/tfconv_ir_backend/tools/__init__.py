"""``tfconv validate``, ``tfconv classify`` and ``tfconv detect``: the OpenVINO runtime (the
Inference Engine) and Pillow are optional extras of this distribution
(``pip install 'tfconv-ir-backend[openvino]'``), imported only when one of these commands runs.
``tfconv plugin new`` (``scaffold.py``) writes a plugin package whose test runs its IR in OpenVINO."""
from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Add the three commands to the ``tfconv`` group (``validate`` takes ``convert``'s model
    flags, so it is built after the plugins added theirs)."""
    from . import classify, detect, validate
    cli.add_command(validate.make_command(cli.commands.get("convert")))
    cli.add_command(classify.classify)
    cli.add_command(detect.detect)
    from . import scaffold
    scaffold.register(cli)
