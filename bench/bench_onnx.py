"""Benchmark: the example ONNX emitter (``tfconv convert --target onnx``) vs tf2onnx.

1. Every zoo net, both input layouts: tfconv's ONNX file run by onnxruntime against TensorFlow's
   reference outputs (max|ONNX-TF|/max|TF| <= 1e-4, top-1 equal); exits 1 on a failure.
2. A few classifiers, side by side with tf2onnx (the usual tool) on the same frozen graph:
   conversion wall time of each as a whole process (median of --runs, run alternately), the
   onnxruntime latency of each file (median over --iters runs, batch 1, one thread), the node
   count and tf2onnx's own error against TensorFlow. tfconv runs with --disable_nhwc_to_nchw
   so both files take NHWC images, as the frozen graph does.

tf2onnx is installed without dependencies into ``.cache/tf2onnx`` (it does not pin TensorFlow,
so it runs on the project's; the project's virtualenv is left alone) on first use.

    .venv/bin/python bench/bench_onnx.py [--runs 3] [--iters 50] [--models a,b] [--skip-zoo]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from models import zoo  # noqa: E402

TF2ONNX = "tf2onnx==1.17.0"
TF2ONNX_DIR = ROOT / ".cache" / "tf2onnx"
MODELS = ["keras3-MobileNetV2", "tf_keras-ResNet50", "slim-inception_v1", "keras3-EfficientNetB0"]
TOLERANCE = 1e-4
BIN = Path(sys.executable).parent


def ensure_tf2onnx() -> None:
    if (TF2ONNX_DIR / "tf2onnx").is_dir():
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(TF2ONNX_DIR), TF2ONNX], check=True)


def session(path: Path, threads: int = 0):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def rel_err(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual.astype(np.float64) - expected)) / np.max(np.abs(expected)))


def feeds_for(case, nchw: bool) -> list[np.ndarray]:
    ref = np.load(case.reference)
    out = []
    for name in case.inputs:
        x = ref[name]
        out.append(np.transpose(x, (0, 3, 1, 2)) if nchw and x.ndim == 4 else x)
    return out


def check_zoo() -> bool:
    import tfconv
    ok = True
    print(f"{'zoo net':32s} {'layout':6s} {'rel err':>9s}  top-1")
    for name in zoo.all_case_names():
        case = zoo.get(name)
        ref = np.load(case.reference)
        for layout in ("nchw", "nhwc"):
            graph = tfconv.convert_model(case.pb, disable_nhwc_to_nchw=(layout == "nhwc"),
                                         silent=True)
            with tempfile.TemporaryDirectory() as tmp:
                path = tfconv.save_model(graph, Path(tmp) / "model", target="onnx")[0]
                sess = session(path)
                outs = sess.run(None, {i.name: x for i, x in
                                       zip(sess.get_inputs(), feeds_for(case, layout == "nchw"))})
            errs = [rel_err(a, ref[o]) for a, o in zip(outs, case.outputs)]
            top1 = all((a.argmax(-1) == ref[o].argmax(-1)).all() for a, o in zip(outs, case.outputs))
            good = max(errs) <= TOLERANCE and top1
            ok &= good
            print(f"{name:32s} {layout:6s} {max(errs):9.2e}  {'same' if top1 else 'DIFFERS'}"
                  f"{'' if good else '  FAIL'}", flush=True)
    return ok


def measure(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return wall


def latencies(paths: list[Path], feeds: list[np.ndarray], iters: int) -> list[float]:
    """Median ms per run of each file (batch 1, one thread), the files run alternately so that
    a shared machine's load drifting hits them alike."""
    sessions = [session(p, threads=1) for p in paths]
    named = [{i.name: x[:1] for i, x in zip(s.get_inputs(), feeds)} for s in sessions]
    times: list[list[float]] = [[] for _ in paths]
    for it in range(iters + 5):
        for k, (sess, feed) in enumerate(zip(sessions, named)):
            start = time.perf_counter()
            sess.run(None, feed)
            if it >= 5:
                times[k].append(time.perf_counter() - start)
    return [statistics.median(t) * 1000 for t in times]


def compare(names: list[str], runs: int, iters: int) -> None:
    import onnx
    ensure_tf2onnx()
    env = {**os.environ, "PYTHONPATH": str(TF2ONNX_DIR)}
    print(f"\n{'model':24s} {'tool':8s} {'convert s':>9s} {'ORT ms':>8s} {'nodes':>6s} "
          f"{'rel err':>9s}")
    for name in names:
        case = zoo.get(name)
        ref = np.load(case.reference)
        with tempfile.TemporaryDirectory() as tmp:
            ours, theirs = Path(tmp) / "tfconv" / "model.onnx", Path(tmp) / "tf2onnx.onnx"
            cmds = {
                "tfconv": [str(BIN / "tfconv"), "convert", str(case.pb), "--target", "onnx",
                           "--disable_nhwc_to_nchw", "--output_dir", str(ours.parent),
                           "--model_name", "model"],
                "tf2onnx": [sys.executable, "-m", "tf2onnx.convert", "--graphdef", str(case.pb),
                            "--inputs", ",".join(f"{i}:0" for i in case.inputs),
                            "--outputs", ",".join(f"{o}:0" for o in case.outputs),
                            "--opset", "17", "--output", str(theirs)],
            }
            walls: dict[str, list[float]] = {"tfconv": [], "tf2onnx": []}
            for _ in range(runs):
                for tool, cmd in cmds.items():
                    walls[tool].append(measure(cmd, env if tool == "tf2onnx" else None))
            feeds = feeds_for(case, nchw=False)
            ms = dict(zip(("tfconv", "tf2onnx"), latencies([ours, theirs], feeds, iters)))
            for tool, path in (("tfconv", ours), ("tf2onnx", theirs)):
                sess = session(path)
                outs = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})
                err = max(rel_err(a, ref[o]) for a, o in zip(outs, case.outputs))
                nodes = len(onnx.load(str(path), load_external_data=False).graph.node)
                print(f"{name:24s} {tool:8s} {statistics.median(walls[tool]):9.2f} "
                      f"{ms[tool]:8.2f} {nodes:6d} {err:9.2e}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--skip-zoo", action="store_true", help="only the tf2onnx comparison")
    args = parser.parse_args()
    ok = True if args.skip_zoo else check_zoo()
    compare(args.models.split(","), args.runs, args.iters)
    if not ok:
        print("some zoo nets differ from TensorFlow (FAIL above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
