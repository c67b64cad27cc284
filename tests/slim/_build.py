"""Builder subprocess for the hand-written Slim nets of ``slim/_nets.py``.

    python -m slim._build CACHE_DIR NAME [NAME ...]

Each net is built, randomised, calibrated and frozen exactly like the zoo's tf_slim cases
(``models._build.build_slim``: He-normal weights, random batch-norm affine parameters, moving
statistics calibrated on random images, standardised classifier, a reference batch with two
different top-1 classes), into ``CACHE_DIR/NAME`` with the same files (``model.pb``,
``reference.npz``, ``meta.json``, ``ckpt/`` and the inference graphs).

Unlike the zoo's cases, the frozen graph keeps every classifier a Slim export keeps as a graph
sink: ``Predictions`` (the softmax) and, for Inception v4 and Inception-ResNet v2, ``AuxLogits``;
the reference holds the logits.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(net: str, outdir: pathlib.Path) -> dict:
    import tensorflow as tf

    from models import _build as zoo_build
    from slim import _nets

    fn = _nets.NETS[net]
    extra: list[str] = []

    def net_fn(images, num_classes=1000, is_training=False):
        logits, end_points = fn(images, num_classes=num_classes, is_training=is_training)
        extra[:] = [end_points[k].op.name for k in ("Predictions", "AuxLogits") if k in end_points]
        return logits, end_points

    net_fn.default_image_size = fn.default_image_size
    freeze = tf.compat.v1.graph_util.convert_variables_to_constants

    def freeze_with_sinks(sess, graph_def, names, *args, **kw):
        return freeze(sess, graph_def, list(names) + extra, *args, **kw)

    zoo_build._slim_net = lambda name: (net_fn, _nets.arg_scope)
    tf.compat.v1.graph_util.convert_variables_to_constants = freeze_with_sinks
    try:
        meta = zoo_build.build_slim(net, outdir)
    finally:
        tf.compat.v1.graph_util.convert_variables_to_constants = freeze
    meta["sinks"] = extra
    return meta


def publish(root: pathlib.Path, name: str) -> None:
    final = root / name
    if (final / "meta.json").is_file():
        return
    tmp = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{name}-"))
    try:
        start = time.perf_counter()
        meta = build(name, tmp)
        meta["build_seconds"] = round(time.perf_counter() - start, 2)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "meta.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"[slim] built {name} in {meta['build_seconds']}s", flush=True)


def main(argv: list[str]) -> int:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    root = pathlib.Path(argv[0])
    root.mkdir(parents=True, exist_ok=True)
    for name in argv[1:]:
        publish(root, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
