"""Benchmark (issue 10): IR size and speed of tfconv vs ovc on MobileNetV3Small, a TCN and a
FakeQuant net from the test zoo.

For each model: converts the frozen graph with tfconv (FP32; default NCHW input, and TF's NHWC
input with ``--disable_nhwc_to_nchw``) and with ``ovc --compress_to_fp16=False``, prints the
IRs' layer counts (and Transposes), then the OpenVINO CPU latency of a batch-1 inference of each
IR (f32 inference precision, medians of alternating rounds) and the ratio tfconv / ovc (the
median over rounds of the two IRs' round medians' ratio). Exits 1 when a tfconv IR has more
layers than ovc's, or when the NHWC one (the same input layout as ovc's IR) runs more than
``--max_ratio`` (1.05) times as long. The NCHW ratio is printed for information: the CPU plugin
reorders an NCHW input into its channels-last kernels, a real copy that ovc's NHWC input
does not need.

    .venv/bin/python bench/bench_layers.py [--rounds 25] [--models keras3-TCN,...]
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ["keras3-MobileNetV3Small", "keras3-TCN", "tf-FakeQuantMobileNet"]
BIN = Path(sys.executable).parent
CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}


def layer_types(xml: Path) -> collections.Counter:
    return collections.Counter(layer.get("type") for layer in ET.parse(xml).getroot().iter("layer"))


def convert(pb: Path, out: Path) -> tuple[Path, Path, Path]:
    """(tfconv IR in its default NCHW layout, tfconv IR with TF's NHWC input, ovc IR) of
    ``pb`` under ``out``."""
    nchw, nhwc, theirs = (out / d / "model.xml" for d in ("tfconv", "tfconv-nhwc", "ovc"))
    tfconv = [str(BIN / "tfconv"), "convert", str(pb), "--model_name", "model", "--output_dir"]
    for cmd in (tfconv + [str(nchw.parent)], tfconv + [str(nhwc.parent), "--disable_nhwc_to_nchw"],
                [str(BIN / "ovc"), str(pb), "--compress_to_fp16=False", "--output_model", str(theirs)]):
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return nchw, nhwc, theirs


PER_ROUND = 20


def latencies(xmls: list[Path], rounds: int) -> tuple[list[float], float]:
    """Median batch-1 latency (ms) of each IR, measured in alternating rounds, and the median
    over rounds of the first IR's round median over the second's (robust to the load of a
    shared machine drifting between rounds)."""
    import numpy as np
    import openvino as ov
    from bench_convert import alternating_latencies

    core = ov.Core()
    requests, feeds = [], []
    for xml in xmls:
        model = core.read_model(str(xml))
        shape = [d.get_length() if d.is_static else 1 for d in model.inputs[0].get_partial_shape()]
        model.reshape({model.inputs[0].get_any_name(): shape})
        requests.append(core.compile_model(model, "CPU", CONFIG).create_infer_request())
        feeds.append(np.random.default_rng(0).uniform(-1, 1, shape).astype("float32"))
    times = alternating_latencies(requests, feeds, rounds, PER_ROUND)
    ratios = [statistics.median(times[0][r * PER_ROUND:(r + 1) * PER_ROUND]) /
              statistics.median(times[1][r * PER_ROUND:(r + 1) * PER_ROUND]) for r in range(rounds)]
    return [statistics.median(t) for t in times], statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--max_ratio", type=float, default=1.05)
    args = parser.parse_args()
    from models import zoo

    names = [n for n in args.models.split(",") if n]
    zoo.prebuild(names)
    failures = []
    print(f"{'model':24s} {'layout':6s} {'tfconv':>7s} {'ovc':>5s} {'T ours':>7s} {'T ovc':>6s} "
          f"{'ms ours':>8s} {'ms ovc':>7s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory(prefix="bench-layers-") as tmp:
        for name in names:
            nchw, nhwc, theirs = convert(zoo.get(name).pb, Path(tmp) / name)
            b = layer_types(theirs)
            for layout, ours in (("nchw", nchw), ("nhwc", nhwc)):
                a = layer_types(ours)
                (ms_ours, ms_ovc), ratio = latencies([ours, theirs], args.rounds)
                print(f"{name:24s} {layout:6s} {sum(a.values()):7d} {sum(b.values()):5d} "
                      f"{a['Transpose']:7d} {b['Transpose']:6d} {ms_ours:8.3f} {ms_ovc:7.3f} "
                      f"{ratio:6.3f}", flush=True)
                if sum(a.values()) > sum(b.values()):
                    failures.append(f"{name} {layout}: {sum(a.values())} layers > ovc's "
                                    f"{sum(b.values())}")
                # ovc's IR keeps TF's NHWC input: the like-for-like latency is the NHWC one (an
                # NCHW input costs the CPU plugin a real reorder into its channels-last kernels)
                if layout == "nhwc" and ratio > args.max_ratio:
                    failures.append(f"{name}: latency ratio {ratio:.3f} > {args.max_ratio}")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
