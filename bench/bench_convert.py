"""Benchmark: tfconv vs ovc on frozen MobileNetV2, ResNet50 and InceptionV3, side by side.

Runs both converters alternately as whole processes, several times each, and prints the median
wall time, the peak RSS (from wait4 of each process) and the tfconv/ovc ratios; then the
OpenVINO latency of both IRs. Targets (issue 2): wall <= 0.6x, RSS <= 1.0x, latency <= 1.0x.

    .venv/bin/python bench/bench_convert.py [--runs 5] [--models keras3-MobileNetV2,...]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ["keras3-MobileNetV2", "keras3-ResNet50", "keras3-InceptionV3"]
# Issue 3: the SavedModel form (tfconv reads the variables bundle itself, ovc reads the directory).
SAVED_MODELS = ["keras3-MobileNetV2", "keras3-ResNet50"]
BIN = Path(sys.executable).parent


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def latencies(models: list[tuple[Path, list[int]]], rounds: int = 10, per_round: int = 20) -> list[float]:
    """Median OpenVINO CPU latency (ms) of one batch-1 inference for each model, measured in
    alternating rounds so that both IRs see the same machine conditions."""
    import numpy as np
    import openvino as ov

    core = ov.Core()
    requests, feeds = [], []
    for xml, shape in models:
        compiled = core.compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
        requests.append(compiled.create_infer_request())
        feeds.append(np.random.default_rng(0).uniform(-1, 1, shape).astype("float32"))
    return [statistics.median(t) for t in alternating_latencies(requests, feeds, rounds, per_round)]


def alternating_latencies(requests, feeds, rounds: int, per_round: int = 20) -> list[list[float]]:
    """Latencies (ms) of single inferences per request, measured in alternating rounds after a
    warm-up, so that every request sees the same machine conditions."""
    for request, x in zip(requests, feeds):
        for _ in range(5):
            request.infer([x])
    times: list[list[float]] = [[] for _ in requests]
    for _ in range(rounds):
        for i, (request, x) in enumerate(zip(requests, feeds)):
            for _ in range(per_round):
                t = time.perf_counter()
                request.infer([x])
                times[i].append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--saved_models", default=",".join(SAVED_MODELS),
                        help="zoo cases whose SavedModel directory is converted too ('' for none)")
    args = parser.parse_args()
    from models import zoo

    names = [n for n in args.models.split(",") if n]
    saved = [n for n in args.saved_models.split(",") if n]
    zoo.prebuild(names + saved)
    jobs = [(n, zoo.get(n).pb) for n in names] + \
        [(f"{n} (SavedModel)", zoo.saved_model_dir(zoo.get(n))) for n in saved]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Conversions first, while this process is small: a child's peak RSS (wait4) also
        # counts the pages it shares with its parent before exec.
        for name, model in jobs:
            case = zoo.get(name.split(" ")[0])
            ours_cmd = [str(BIN / "tfconv"), "convert", str(model), "--output_dir", f"{tmp}/{name}/t",
                        "--silent"]
            ovc_cmd = [str(BIN / "ovc"), str(model), "--compress_to_fp16=False",
                       "--output_model", f"{tmp}/{name}/o/model.xml"]
            ours, theirs = [], []
            measure(ours_cmd), measure(ovc_cmd)  # warm the file cache
            for _ in range(args.runs):
                ours.append(measure(ours_cmd))
                theirs.append(measure(ovc_cmd))
            rows.append((name, case, ours, theirs))
        print(f"{'model':37} {'tfconv s':>9} {'ovc s':>7} {'ratio':>6} | {'tfconv MiB':>10} {'ovc MiB':>8} "
              f"{'ratio':>6} | {'tfconv ms':>9} {'ovc ms':>7} {'ratio':>6}")
        for name, case, ours, theirs in rows:
            ow = statistics.median(w for w, _ in ours)
            tw = statistics.median(w for w, _ in theirs)
            orss = statistics.median(r for _, r in ours)
            trss = statistics.median(r for _, r in theirs)
            shape = [1, *list(case.inputs.values())[0][1:]]
            nchw = [shape[0], shape[3], shape[1], shape[2]]
            our_xml = next(Path(f"{tmp}/{name}/t").glob("*.xml"))
            ol, tl = latencies([(our_xml, nchw), (Path(f"{tmp}/{name}/o/model.xml"), shape)])
            print(f"{name:37} {ow:9.2f} {tw:7.2f} {ow / tw:6.2f} | {orss:10.0f} {trss:8.0f} "
                  f"{orss / trss:6.2f} | {ol:9.2f} {tl:7.2f} {ol / tl:6.2f}")


if __name__ == "__main__":
    main()
