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
