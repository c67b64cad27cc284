"""Benchmark and target check: recurrent nets, tfconv vs ovc (issue 12, item 2).

Models (built once with TensorFlow in a child process into ``.cache/bench/rnn/``, random
weights, never downloaded):

* ``tf1_lstm_lm``: a TF1 language model, embedding (vocab 2000, 64) -> ``dynamic_rnn`` over a
  2-layer ``MultiRNNCell`` of ``LSTMCell(128)``, 32 steps -> logits over the vocabulary; frozen.
* ``tf1_gru``: ``dynamic_rnn`` GRUCell(64) over 48 steps of 16 features, with ``sequence_length``;
  frozen.
* ``tf_keras_lstm_lm``: a tf_keras (TF_USE_LEGACY_KERAS=1) language model, token ids with batch
  and time dynamic -> Embedding(2000, 64) -> LSTM(128) -> Dense(2000), run on 32 tokens;
  ``tf_keras_gru``: GRU(64) over 32 steps of 16 features -> Dense(10); SavedModels.
* ``keras3_lstm_lm``, ``keras3_gru``: the same in Keras 3, ``model.export`` SavedModels.

Each is converted by ``tfconv convert`` and by ``ovc --compress_to_fp16=False`` as whole
processes, alternating after one warm-up each (medians); both IRs then run in OpenVINO (CPU, f32
inference precision, batch 1) in alternating rounds, and are compared with TensorFlow's output
(max |IR - TF| / max |TF|). Targets (PASS/FAIL per row; the exit status is 1 when any fails):
conversion wall <= 1.0x ovc's, IR latency <= 1.0x ovc's IR, and the IR matches TF (<= 1e-4).
A model tfconv cannot convert is a FAIL row with the reason.

    .venv/bin/python bench/bench_rnn.py [--runs 3] [--only tf1_lstm_lm,...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import userenv  # bench/, the directory of this script

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_convert import alternating_latencies  # noqa: E402  (shared with the other benches)
CACHE = ROOT / ".cache" / "bench" / "rnn"
BIN = userenv.bin_dir()  # a user's install of tfconv and ovc (userenv.py says why)
WALL_TARGET, LATENCY_TARGET, ERROR_TARGET = 1.0, 1.0, 1e-4
MODELS = ["tf1_lstm_lm", "tf1_gru", "tf_keras_lstm_lm", "tf_keras_gru", "keras3_lstm_lm",
          "keras3_gru"]

BUILD = r'''
import os, sys
name, out = sys.argv[1], sys.argv[2]
if name.startswith("tf_keras"):
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, tensorflow as tf
tf1 = tf.compat.v1
rng = np.random.default_rng(0)
os.makedirs(out, exist_ok=True)

def randomise(variables):
    return [v.assign(rng.uniform(-0.3, 0.3, v.shape).astype(np.float32)) for v in variables]

if name.startswith("tf1_"):
    from tf_keras.src.layers.rnn import legacy_cells as lc
    g = tf.Graph()
    with g.as_default():
        tf1.disable_control_flow_v2()
        if name == "tf1_lstm_lm":
            feed = rng.integers(0, 2000, (1, 32)).astype(np.int32)
            ids = tf1.placeholder(tf.int32, feed.shape, name="ids")
            emb = tf1.get_variable("embedding", [2000, 64])
            x = tf.nn.embedding_lookup(emb, ids)
            cell = lc.MultiRNNCell([lc.LSTMCell(128), lc.LSTMCell(128)])
            y, _ = tf1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
            w = tf1.get_variable("softmax_w", [128, 2000])
            logits = tf.reshape(tf.matmul(tf.reshape(y, [-1, 128]), w), [1, 32, 2000])
        else:
            feed = rng.uniform(-1, 1, (1, 48, 16)).astype(np.float32)
            ids = tf1.placeholder(tf.float32, feed.shape, name="ids")
            y, _ = tf1.nn.dynamic_rnn(lc.GRUCell(64), ids, sequence_length=[40], dtype=tf.float32)
            w = tf1.get_variable("dense_w", [64, 10])
            logits = tf.reshape(tf.matmul(tf.reshape(y, [-1, 64]), w), [1, 48, 10])
        out_t = tf.identity(logits, name="out")
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(randomise(tf1.global_variables()))
            ref = sess.run(out_t, {ids: feed})
            frozen = tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["out"])
    with open(os.path.join(out, "model.pb"), "wb") as f:
        f.write(frozen.SerializeToString())
else:
    if name.startswith("tf_keras"):
        import tf_keras as keras
    else:
        import keras
    if name.endswith("lstm_lm"):  # token ids (batch and time dynamic) -> logits
        feed = rng.integers(0, 2000, (1, 32)).astype(np.int32)
        inp = keras.Input((None,), dtype="int32", name="ids")
        y = keras.layers.LSTM(128, return_sequences=True)(keras.layers.Embedding(2000, 64)(inp))
        model = keras.Model(inp, keras.layers.Dense(2000)(y))
    else:
        feed = rng.uniform(-1, 1, (1, 32, 16)).astype(np.float32)
        inp = keras.Input((32, 16), batch_size=1, name="ids")
        y = keras.layers.GRU(64, return_sequences=True)(inp)
        model = keras.Model(inp, keras.layers.Dense(10)(y))
    for v in model.weights:
        v.assign(rng.uniform(-0.3, 0.3, v.shape).astype(np.float32))
    ref = np.asarray(model(feed))
    if name.startswith("tf_keras"):
        tf.saved_model.save(model, os.path.join(out, "saved_model"))
    else:
        model.export(os.path.join(out, "saved_model"))
np.savez(os.path.join(out, "reference.npz"), feed=feed, out=ref)
'''


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def build(name: str) -> Path:
    out = CACHE / name
    if (out / "reference.npz").is_file():
        return out
    tmp = CACHE / f"{name}.building"
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    subprocess.run([sys.executable, "-c", BUILD,
                    name, str(tmp)], check=True, env=clean_env(), stdout=subprocess.DEVNULL)
    tmp.rename(out)
    return out


def model_path(d: Path) -> Path:
    return d / "model.pb" if (d / "model.pb").is_file() else d / "saved_model"


def wall(cmd: list[str]) -> tuple[float, str | None]:
    """Wall seconds of one process, and its error (last stderr line) when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env(),
                          check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.decode(errors="replace").splitlines() if x.strip()]
        return seconds, (lines[-1] if lines else f"exit {proc.returncode}")[:160]
    return seconds, None


def layer_types(xml: Path) -> list[str]:
    return [layer.get("type") for layer in ET.parse(xml).getroot().iter("layer")]


def latencies(requests, feed, rounds: int = 5) -> list[list[float]]:
    """Milliseconds per inference of each request on ``feed``, in alternating rounds."""
    return alternating_latencies(requests, [[feed]] * len(requests), rounds, per_round=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(MODELS))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    import openvino as ov
    core = ov.Core()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-rnn-") as tmp:
        for name in names:
            d = build(name)
            out = Path(tmp) / name
            ours = [str(BIN / "tfconv"), "convert", str(model_path(d)), "-o", str(out / "t"),
                    "-n", "model"]
            theirs = [str(BIN / "ovc"), str(model_path(d)), "--compress_to_fp16=False",
                      "--output_model", str(out / "o" / "model.xml")]
            _, error = wall(ours)
            _, their_error = wall(theirs)
            if error or their_error:
                rows.append((name, None, error or f"ovc: {their_error}"))
                continue
            ow, tw = [], []
            for _ in range(args.runs):
                ow.append(wall(ours)[0])
                tw.append(wall(theirs)[0])
            ref = np.load(d / "reference.npz")
            xmls = [out / "t" / "model.xml", out / "o" / "model.xml"]
            compiled = [core.compile_model(str(x), "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                           "INFERENCE_PRECISION_HINT": "f32"})
                        for x in xmls]
            errs = []
            for c in compiled:
                got = np.asarray(c([ref["feed"]])[c.output(0)])
                errs.append(float(np.abs(got - ref["out"]).max() / np.abs(ref["out"]).max())
                            if got.shape == ref["out"].shape else float("inf"))
            lat = latencies([c.create_infer_request() for c in compiled], ref["feed"])
            types = [layer_types(x) for x in xmls]
            rows.append((name, (statistics.median(ow), statistics.median(tw),
                                statistics.median(lat[0]), statistics.median(lat[1]),
                                types, errs), None))
            print(f"  measured {name}", file=sys.stderr, flush=True)
    print("\nRecurrent nets: tfconv vs ovc (medians; conversion as a whole process, OpenVINO CPU "
          "f32 batch 1)")
    print(f"targets: conversion wall <= {WALL_TARGET}x ovc's, IR latency <= {LATENCY_TARGET}x "
          f"ovc's IR, rel. error vs TF <= {ERROR_TARGET:g}")
    print(f"{'model':17} {'tfconv s':>8} {'ovc s':>6} {'ratio':>5} {'':4} | {'tfconv ms':>9} "
          f"{'ovc ms':>7} {'ratio':>5} {'':4} | {'layers t/o':>10} | {'Sequence t/o':>12} | "
          f"{'Loop/TI t/o':>11} | rel. error t / o")
    ok_all = True
    seq = ("LSTMSequence", "GRUSequence", "RNNSequence")
    for name, row, error in rows:
        if row is None:
            ok_all = False
            print(f"{name:17} FAIL: {error}")
            continue
        ow, tw, ol, tl, types, errs = row
        wall_ok, lat_ok, err_ok = ow / tw <= WALL_TARGET, ol / tl <= LATENCY_TARGET, \
            errs[0] <= ERROR_TARGET
        ok_all &= wall_ok and lat_ok and err_ok
        seqs = [sum(t in seq for t in ts) for ts in types]
        loops = [sum(t in ("Loop", "TensorIterator") for t in ts) for ts in types]
        print(f"{name:17} {ow:8.2f} {tw:6.2f} {ow / tw:5.2f} {'PASS' if wall_ok else 'FAIL':4} | "
              f"{ol:9.3f} {tl:7.3f} {ol / tl:5.2f} {'PASS' if lat_ok else 'FAIL':4} | "
              f"{len(types[0]):4}/{len(types[1]):<5} | {seqs[0]:5}/{seqs[1]:<6} | "
              f"{loops[0]:5}/{loops[1]:<5} | {errs[0]:.1e} {'PASS' if err_ok else 'FAIL'} / "
              f"{errs[1]:.1e}")
    print(f"\n{'all targets met' if ok_all else 'TARGETS MISSED'}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
