"""The Python API: ``convert_model`` and ``save_model``, with the CLI's options as keywords.

Every option of ``tfconv convert`` (including those plugins add, such as ``saved_model_dir`` or
``input_checkpoint``) is a keyword argument of :func:`convert_model`, spelled as the flag without
its dashes. Keyword values go through the very parser the command line uses, so
``convert_model("m.pb", input_shape=[1, 224, 224, 3])`` and
``tfconv convert m.pb --input_shape [1,224,224,3]`` give the same conversion. Python values are
accepted where the CLI takes text: lists of numbers for shapes and values (``[1, 224, 224, 3]``),
lists of such lists (``[(1, 3), (1, 5)]``), lists of names (``output=["a", "b"]``), dicts from
names to shapes, suffixes or frozen values (``input={"x": [1, 8], "y": "{i32}", "t": False}`` is
``--input x[1,8],y{i32},t->False``), booleans for flags.
"""
from __future__ import annotations

import dataclasses
import logging
import numbers
from pathlib import Path
from typing import Any

import click
import pluggy

from . import pipeline
from .cli import REMOVED_FLAGS, build_config, make_cli
from .config import ConvertConfig
from .errors import UsageError
from .graph import Graph
from .plugins import get_plugin_manager

# Keywords that are not ``convert`` options.
API_ONLY = ("plugin_manager", "progress")


def _convert_command(pm: pluggy.PluginManager) -> click.Command:
    """``tfconv convert`` as the CLI builds it for ``pm`` (with the plugins' options)."""
    return make_cli(pm, convert_only=True).commands["convert"]


def _flag(param: click.Option) -> str:
    """The long spelling of an option (``--input_shape``)."""
    longs = [o for o in param.opts if o.startswith("--")]
    return max(longs or param.opts, key=len)


def _is_number(x: object) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)


def _text(value: object) -> str:
    """A Python value as the CLI would spell it."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy arrays and scalars
    if isinstance(value, dict):  # name -> shape (a list), a suffix as typed, or a frozen value
        return ",".join(f"{k}{_dict_item(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        if all(v is None or _is_number(v) for v in value):
            return "[" + ",".join("?" if v is None else str(v) for v in value) + "]"
        return ",".join(_text(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _dict_item(value: object) -> str:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return _text(value)
    if isinstance(value, str) and value[:1] in ("[", "(", "{", "-"):
        return value  # "[1,4]{f32}", "{i32}", "->0.5" as on the command line
    return f"->{_text(value)}"


def _argv(command: click.Command, model: object, options: dict[str, Any]) -> list[str]:
    """The ``tfconv convert`` command line equivalent to ``convert_model(model, **options)``."""
    params = {p.name: p for p in command.params if isinstance(p, click.Option)}
    unknown = sorted(k for k in options if k not in params)
    if unknown:
        removed = [k for k in unknown if f"--{k}" in REMOVED_FLAGS]
        why = "".join(f"; {k} is not supported: {REMOVED_FLAGS[f'--{k}']}" for k in removed)
        valid = ", ".join(sorted([*params, *API_ONLY]))
        msg = (f"unknown keyword argument(s) {', '.join(unknown)} for tfconv.convert_model{why}. "
               f"Valid keywords: {valid}")
        raise UsageError(msg)
    argv: list[str] = []
    for name, value in options.items():
        param = params[name]
        flag = _flag(param)
        if value is None:
            continue
        if param.is_flag:
            if not isinstance(value, bool):
                msg = f"tfconv.convert_model: {name} is a flag: pass True or False, not {value!r}"
                raise UsageError(msg)
            if value:
                argv.append(flag)
            continue
        if param.multiple and isinstance(value, (list, tuple)):
            argv += [f"{flag}={_text(v)}" for v in value]
            continue
        argv.append(f"{flag}={_text(value)}")
    if model is not None:
        argv += ["--", str(model)]
    return argv


def _parse(command: click.Command, argv: list[str]) -> dict[str, Any]:
    """The command's keyword arguments for ``argv``; click's errors become a UsageError that
    names the Python keyword."""
    try:
        ctx = command.make_context("convert", list(argv), resilient_parsing=False)
    except click.ClickException as exc:
        message = exc.format_message()
        for p in command.params:
            if isinstance(p, click.Option):
                message = message.replace(" / ".join(f"'{o}'" for o in p.opts), p.name)
                for opt in sorted(p.opts, key=len, reverse=True):
                    message = message.replace(f"'{opt}'", p.name)
        raise UsageError(f"tfconv.convert_model: {message}") from None
    return dict(ctx.params)


def config_for(model=None, *, plugin_manager: pluggy.PluginManager | None = None,
               **options) -> ConvertConfig:
    """The :class:`ConvertConfig` that ``convert_model(model, **options)`` converts with."""
    pm = plugin_manager or get_plugin_manager()
    command = _convert_command(pm)
    return build_config(_parse(command, _argv(command, model, options)))


def _apply_log_level(kw: dict[str, Any]) -> None:
    """``log_level=`` / ``silent=`` set the level of the ``tfconv`` logger (where its records go
    is the application's logging set-up)."""
    level = kw.get("log_level")
    silent = str(kw.get("silent")).lower() in ("1", "true", "yes", "on")
    if silent:
        logging.getLogger("tfconv").setLevel(logging.ERROR)
    elif level is not None and level.upper() != "WARNING":
        logging.getLogger("tfconv").setLevel("WARNING" if level.upper() == "WARN" else level.upper())


def convert_model(model=None, *, plugin_manager: pluggy.PluginManager | None = None,
                  progress: pipeline.Progress | None = None, **options) -> Graph:
    """Convert ``model`` (a path) in memory; returns the IR graph, ready for :func:`save_model`.

    ``options`` are ``tfconv convert``'s options as keywords (``input_shape=[1, 224, 224, 3]``,
    ``saved_model_dir="exported/"``, ``input_checkpoint="model.ckpt"``, ...). An unknown keyword
    is a :class:`tfconv.errors.UsageError` listing the valid ones. ``progress`` receives
    ``(stage, seconds)`` after each stage (see :mod:`tfconv.pipeline`).
    """
    pm = plugin_manager or get_plugin_manager()
    command = _convert_command(pm)
    kw = _parse(command, _argv(command, model, options))
    if "log_level" in options or "silent" in options:
        _apply_log_level(kw)
    config = build_config(kw)
    graph = pipeline.build(pm, config, progress)
    graph.meta["config"] = config
    graph.meta["plugin_manager"] = pm
    return graph


def save_model(graph: Graph, path, *, target: str | None = None) -> list[Path]:
    """Write ``graph`` (from :func:`convert_model`) as ``path`` (``dir/name.xml``), with its
    ``.bin`` and ``.mapping`` next to it; returns the files written. The directory is created;
    the files appear all at once or not at all."""
    path = Path(path)
    if path.suffix.lower() not in (".xml", ""):
        msg = f"tfconv.save_model: {path} should name the IR's .xml file (for example ir/model.xml)"
        raise UsageError(msg)
    if not isinstance(graph, Graph) or graph.dialect != "ir":
        msg = "tfconv.save_model: pass the graph tfconv.convert_model returned"
        raise UsageError(msg)
    pm = graph.meta.get("plugin_manager") or get_plugin_manager()
    base = graph.meta.get("config") or ConvertConfig()
    changes: dict[str, Any] = {"output_dir": path.parent, "model_name": path.stem}
    if target is not None:
        changes["target"] = target
    config = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    return pipeline.emit(pm, graph, config)  # type: ignore[arg-type]


def to_openvino(graph: Graph, *, core=None, name: str | None = None):
    """``graph`` (from :func:`convert_model`) as an ``openvino.Model``, without files:
    ``openvino.compile_model`` takes it directly, ``openvino.save_model`` writes it. ``core`` is
    the ``openvino.Core`` that reads it (pass one with your runtime extensions added when the IR
    has custom layers); ``name`` defaults to the model's name."""
    if not isinstance(graph, Graph) or graph.dialect != "ir":
        msg = "tfconv.to_openvino: pass the graph tfconv.convert_model returned"
        raise UsageError(msg)
    pm = graph.meta.get("plugin_manager") or get_plugin_manager()
    config = graph.meta.get("config") or ConvertConfig()
    try:
        import openvino  # noqa: F401 - only to say what is missing
    except ImportError as err:
        msg = f"tfconv.to_openvino needs the OpenVINO runtime ({err}); pip install openvino"
        raise UsageError(msg) from err
    if core is None:
        import openvino as ov
        core = ov.Core()
    model = pm.hook.tfconv_to_openvino(graph=graph, name=name or config.name, core=core)
    if model is None:
        msg = "tfconv.to_openvino: no installed plugin builds OpenVINO models (install tfconv-ir-backend)"
        raise UsageError(msg)
    return model
