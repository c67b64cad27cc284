"""``tfconv_run_reference``: run the original TensorFlow model for ``tfconv validate``.

The model is brought to a frozen GraphDef the way the loader does it (frozen files are read
as they are; checkpoints, MetaGraphs and SavedModels go through :mod:`freeze`), imported into a
fresh ``tf.Graph`` and run in a ``tf.compat.v1.Session`` with Grappler and the classic graph
optimiser off, so the reference is the graph as written and the same on every run. TensorFlow is
imported here only, when the hook runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tfconv.errors import ModelFormatError, UsageError

from . import formats, freeze, loader, sniff

if TYPE_CHECKING:
    from tfconv.config import ConvertConfig

@dataclass
class _Session:
    """An imported frozen graph with its session, and the signature aliases (``key`` ->
    tensor name) the loader gives SavedModel outputs."""

    graph: Any
    sess: Any
    aliases: dict[str, str] = field(default_factory=dict)


_CACHE: dict[tuple, _Session] = {}


def _key(config: ConvertConfig) -> tuple:
    opts = tuple(sorted((k, str(v)) for k, v in config.options.items()))
    return (str(config.model), config.input_model_is_text, config.outputs, opts)


def frozen_model(config: ConvertConfig) -> freeze.Frozen:
    """The model as a frozen GraphDef (serialised), whatever form it was given in."""
    path = loader._model_path(config.model, config)
    opts = config.options
    outputs = config.outputs
    if opts.get("input_checkpoint"):
        given = str(opts["input_checkpoint"])
        if path.suffix == ".meta" or opts.get("input_meta_graph") or formats.is_meta_graph(path):
            ckpt = formats.find_checkpoint(given, what=f"MetaGraph {path}")
            return loader._tf_call(f"MetaGraph {path}", freeze.freeze_meta_graph, path,
                                   ckpt.prefix, outputs)
        ckpt = formats.find_checkpoint(given, what=f"graph {path}")
        gd, _ = sniff.read_graph(path, is_text=config.input_model_is_text)
        return loader._tf_call(f"graph {path} with checkpoint {ckpt.prefix}",
                               freeze.freeze_checkpoint, gd.SerializeToString(), ckpt.prefix,
                               outputs)
    if formats.is_saved_model(path):
        sm = formats.read_saved_model(path)
        meta, tags, key, tf2 = formats.choose(path, sm, opts.get("saved_model_tags"),
                                              opts.get("saved_model_signature"))
        if tf2:
            return loader._tf_call(f"SavedModel {path}", freeze.freeze_saved_model_v2, path,
                                   tags, key)
        return loader._tf_call(f"SavedModel {path}", freeze.freeze_saved_model_v1, path, tags,
                               meta.signature_def[key])
    if path.suffix == ".meta" or opts.get("input_meta_graph") or formats.is_meta_graph(path):
        ckpt = formats.find_checkpoint(formats.meta_prefix(path), what=f"MetaGraph {path}")
        return loader._tf_call(f"MetaGraph {path}", freeze.freeze_meta_graph, path,
                               ckpt.prefix, outputs)
    not_graph = formats.checkpoint_only(path)
    if not_graph is not None:
        raise not_graph
    gd, _ = sniff.read_graph(path, is_text=config.input_model_is_text)
    return freeze.Frozen(gd.SerializeToString())


def _open(config: ConvertConfig) -> _Session:
    key = _key(config)
    if key in _CACHE:
        return _CACHE[key]
    frozen = frozen_model(config)
    tf = freeze._tf()
    v1 = tf.compat.v1
    gd = v1.GraphDef.FromString(frozen.graph_def)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(gd, name="")
    cfg = v1.ConfigProto()
    cfg.graph_options.rewrite_options.disable_meta_optimizer = True
    cfg.graph_options.optimizer_options.opt_level = v1.OptimizerOptions.L0
    cfg.graph_options.optimizer_options.do_constant_folding = False
    aliases = {}
    if frozen.output_names and len(frozen.output_names) == len(frozen.outputs):
        aliases = dict(zip(frozen.output_names, frozen.outputs))
    _CACHE.clear()  # one model at a time: sessions hold every weight
    _CACHE[key] = _Session(graph, v1.Session(graph=graph, config=cfg), aliases)
    return _CACHE[key]


def _tensor(s: _Session, name: str):
    """The graph tensor a name refers to: ``node``, ``node:P``, a signature key, or an alias
    ``node:P`` the loader made for a cut (``node:P:0``)."""
    candidates = [name]
    node, sep, port = name.rpartition(":")
    if not (sep and port.isdigit()):
        candidates = [f"{name}:0"]
        node = name
    if node in s.aliases:
        candidates.append(s.aliases[node])
    if sep and port == "0" and ":" in node:
        candidates.append(node)
    for cand in candidates:
        try:
            return s.graph.get_tensor_by_name(cand)
        except (KeyError, ValueError):
            continue
    msg = f"tensor {name!r} is not in the TensorFlow model (run tfconv inspect to list its nodes)"
    raise UsageError(msg)


def run_reference(config: ConvertConfig, feeds: dict[str, np.ndarray],
                  outputs: list[str]) -> dict[str, np.ndarray]:
    """Run the model on ``feeds`` (tensor name -> array, TF layout); ``{name: value}`` for every
    name in ``outputs``."""
    s = _open(config)
    feed_dict = {_tensor(s, k): v for k, v in feeds.items()}
    fetches = [_tensor(s, o) for o in outputs]
    try:
        values = s.sess.run(fetches, feed_dict)
    except Exception as err:  # noqa: BLE001 - TF raises many types; the message is what matters
        text = str(getattr(err, "message", "") or err).strip().splitlines()
        first = text[0] if text else type(err).__name__
        msg = (f"TensorFlow could not run {config.model} on the given inputs: "
               f"{type(err).__name__}: {first}")
        raise ModelFormatError(msg) from None
    return {o: np.asarray(v) for o, v in zip(outputs, values)}


def close() -> None:
    for s in _CACHE.values():
        s.sess.close()
    _CACHE.clear()


__all__ = ["close", "frozen_model", "run_reference"]
