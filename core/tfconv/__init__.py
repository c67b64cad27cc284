"""tfconv: TensorFlow models to OpenVINO IR, as a plugin framework."""
from __future__ import annotations

import pluggy

hookimpl = pluggy.HookimplMarker("tfconv")

__all__ = ["hookimpl", "convert_model", "save_model", "to_openvino"]


def convert_model(model=None, **options):
    """Convert a model in memory; keyword arguments are the CLI's options. Returns the IR graph."""
    from .api import convert_model as _convert
    return _convert(model, **options)


def save_model(graph, path, **options):
    """Write ``graph`` (from :func:`convert_model`) as ``path`` (``dir/model.xml``) plus ``.bin``."""
    from .api import save_model as _save
    return _save(graph, path, **options)


def to_openvino(graph, **options):
    """``graph`` (from :func:`convert_model`) as an ``openvino.Model`` in memory, no files."""
    from .api import to_openvino as _to_openvino
    return _to_openvino(graph, **options)
