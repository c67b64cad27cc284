"""Benchmark and target check: big weights in bounded memory (issue 15, target 2).

Builds (once, with TensorFlow, in a child process) a TF2 SavedModel holding about ``--gb`` GB
of float32 variables (an embedding table read by Gather, then wide Dense layers) into
``.cache/bench/`` (never committed; ``--clean`` removes it afterwards), then converts it with
``tfconv convert`` (FP32 and ``--compress_to_fp16``) and with ``ovc`` as whole processes and
prints wall time and peak RSS (``wait4``). Target: tfconv's peak RSS <= 1 GiB (FP32 and
FP16); then a frozen GraphDef near protobuf's 2 GiB limit (4096x4096 MatMul weights, written
without TensorFlow), RSS <= 1.2x its file size. The exit status is 1 when a target is missed.
Free disk: the models, plus two IRs at a time.

    .venv/bin/python bench/bench_weights.py [--gb 3] [--clean]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import userenv  # bench/, the directory of this script

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
BIN = userenv.bin_dir()  # a user's install of tfconv and ovc (userenv.py says why)
RSS_TARGET_MIB = 1024

BUILD = r'''
import sys, numpy as np, tensorflow as tf
out, gb = sys.argv[1], float(sys.argv[2])
width = 256
dense = [(width, 4096), (4096, 16384), (16384, 8192), (8192, 1000)]
dense_bytes = sum(a * b for a, b in dense) * 4
rows = max(1000, int((gb * 1e9 - dense_bytes) / (width * 4)))

class Big(tf.Module):
    def __init__(self):
        super().__init__()
        self.table = tf.Variable(tf.random.normal([rows, width], stddev=0.1), name="table")
        self.kernels = [tf.Variable(tf.random.normal(s, stddev=0.02), name=f"kernel{i}")
                        for i, s in enumerate(dense)]
        self.biases = [tf.Variable(tf.random.normal([s[1]], stddev=0.02), name=f"bias{i}")
                       for i, s in enumerate(dense)]

    @tf.function(input_signature=[tf.TensorSpec([None, 16], tf.int32, name="ids")])
    def __call__(self, ids):
        x = tf.reduce_mean(tf.gather(self.table, ids), axis=1)
        for i, (k, b) in enumerate(zip(self.kernels, self.biases)):
            x = tf.matmul(x, k) + b
            if i < len(self.kernels) - 1:
                x = tf.nn.relu(x)
        return {"logits": x}

m = Big()
tf.saved_model.save(m, out, signatures={"serving_default": m.__call__})
print(rows)
'''


def build(gb: float) -> Path:
    out = CACHE / f"weights-{gb:g}gb" / "saved_model"
    if (out / "saved_model.pb").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / "building"
    shutil.rmtree(tmp, ignore_errors=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    subprocess.run([sys.executable, "-c", BUILD, str(tmp), str(gb)], check=True, env=env)
    tmp.rename(out)
    return out


FROZEN = r'''
import sys, numpy as np
from tfconv_tf_frontend import proto
out, layers, n = sys.argv[1], int(sys.argv[2]), 4096
gd = proto.GraphDef()
def node(name, op, inputs=(), value=None):
    nd = gd.node.add()
    nd.name, nd.op = name, op
    nd.input.extend(inputs)
    if op == "Placeholder":
        nd.attr["dtype"].type = 1
        for d in (1, n):
            nd.attr["shape"].shape.dim.add().size = d
    elif op == "Const":
        nd.attr["dtype"].type = 1
        t = nd.attr["value"].tensor
        t.dtype = 1
        for d in value.shape:
            t.tensor_shape.dim.add().size = d
        t.tensor_content = value.tobytes()
    else:
        nd.attr["T"].type = 1
rng = np.random.default_rng(0)
x = "x"
node(x, "Placeholder")
for i in range(layers):
    node(f"w{i}", "Const", value=(rng.standard_normal((n, n), np.float32) / 64))
    node(f"mm{i}", "MatMul", [x, f"w{i}"])
    node(f"act{i}", "Tanh", [f"mm{i}"])
    x = f"act{i}"
node("out", "Identity", [x])
with open(out, "wb") as f:
    f.write(gd.SerializeToString())
'''


def frozen(layers: int) -> Path:
    """A frozen GraphDef of ``layers`` 4096x4096 MatMul weights (64 MiB each), built once."""
    out = CACHE / f"frozen-{layers}x64mib.pb"
    if not out.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run([sys.executable, "-c", FROZEN, str(tmp), str(layers)], check=True)
        tmp.rename(out)
    return out


def measure(cmd: list[str]) -> tuple[float, float, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        text = err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        return wall, usage.ru_maxrss / 1024, "FAILED: " + text.strip().splitlines()[-1][:200]
    timings = next((line for line in text.splitlines() if line.startswith("[ TIMINGS ]")), "")
    return wall, usage.ru_maxrss / 1024, timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=3.0)
    parser.add_argument("--clean", action="store_true", help="remove the built model afterwards")
    parser.add_argument("--no_ovc", action="store_true")
    parser.add_argument("--frozen_layers", type=int, default=28,
                        help="64 MiB weights in the frozen GraphDef (28: 1.75 GiB, under protobuf's 2 GiB)")
    args = parser.parse_args()
    model = build(args.gb)
    size = sum(f.stat().st_size for f in model.rglob("*") if f.is_file()) / 2**30
    print(f"\nTarget 2: big weights, TF2 SavedModel {model} ({size:.2f} GiB)")
    print(f"{'converter':34} {'wall s':>7} {'peak MiB':>9}  result")
    ok = True
    jobs = [("tfconv FP32", [str(BIN / "tfconv"), "convert", str(model), "--silent", "--timings"], True),
            ("tfconv FP16", [str(BIN / "tfconv"), "convert", str(model), "--silent", "--timings",
                             "--compress_to_fp16"], True)]
    if not args.no_ovc:
        jobs += [("ovc FP32", [str(BIN / "ovc"), str(model), "--compress_to_fp16=False"], False),
                 ("ovc FP16", [str(BIN / "ovc"), str(model)], False)]
    for name, cmd, ours in jobs:
        with tempfile.TemporaryDirectory(prefix="bench-weights-", dir=CACHE) as tmp:
            out = ["--output_dir", tmp] if ours else ["--output_model", f"{tmp}/model.xml"]
            wall, rss, note = measure(cmd + out)
        good = rss <= RSS_TARGET_MIB and not note.startswith("FAILED")
        verdict = ("PASS" if good else "FAIL") if ours else ""
        ok &= good or not ours
        print(f"{name:34} {wall:7.1f} {rss:9.0f}  {verdict} {note}")
    pb = frozen(args.frozen_layers)
    size_mib = pb.stat().st_size / 2**20
    print(f"\nTarget 2: frozen GraphDef {pb} ({size_mib:.0f} MiB; RSS <= 1.2x its size)")
    print(f"{'converter':34} {'wall s':>7} {'peak MiB':>9}  result")
    jobs = [("tfconv FP32", [str(BIN / "tfconv"), "convert", str(pb), "--silent", "--timings"], True)]
    if not args.no_ovc:
        jobs.append(("ovc FP32", [str(BIN / "ovc"), str(pb), "--compress_to_fp16=False"], False))
    for name, cmd, ours in jobs:
        with tempfile.TemporaryDirectory(prefix="bench-weights-", dir=CACHE) as tmp:
            out = ["--output_dir", tmp] if ours else ["--output_model", f"{tmp}/model.xml"]
            wall, rss, note = measure(cmd + out)
        good = rss <= 1.2 * size_mib and not note.startswith("FAILED")
        ok &= good or not ours
        print(f"{name:34} {wall:7.1f} {rss:9.0f}  {('PASS' if good else 'FAIL') if ours else ''} {note}")
    if args.clean:
        shutil.rmtree(model.parent, ignore_errors=True)
        pb.unlink()
    print("all targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
