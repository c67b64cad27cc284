"""Benchmark and target check: Object Detection API models, tfconv vs ovc (issue 11).

The SSD (``ssd_mobilenet_v2_tiny``) and Faster R-CNN (``faster_rcnn_inception_v2_tiny``)
fixtures of ``../shared/fixtures/od_api`` are converted from their frozen graphs by
``tfconv convert --tensorflow_object_detection_api_pipeline_config`` and by
``ovc --compress_to_fp16=False`` as whole processes (``PYTHONDONTWRITEBYTECODE`` unset for
both), alternating after one warm-up each; figures are medians. Both IRs then run in OpenVINO
(CPU, f32 inference precision, batch 1) on the fixture's own image, in alternating rounds, and
their detections are compared with TensorFlow's stored reference (top-20 IoU matching, as the
tests do). tfconv's IR is converted with ``--disable_nhwc_to_nchw`` for the latency rows, so
both IRs take the same uint8 NHWC image. A 1920x1080 frame's latency (a camera's image, which
the IRs resize inside) is printed for information.

The TF2 SavedModels of ``../shared/fixtures/od_api_tf2`` (SSD MobileNet V2 FPNLite,
EfficientDet-D0; issue 17) follow in a table of their own (``tf2_table``), converted from
``saved_model/`` as a user would (tfconv finds the pipeline.config beside it), each with its
latency floor too: the IR cut at the box predictor's outputs.

Targets (PASS/FAIL per row; the exit status is 1 when any row fails):
  conversion wall time <= 0.1x ovc's;  IR latency <= 0.1x ovc's IR.

    .venv/bin/python bench/bench_od.py [--runs 3] [--only ssd_mobilenet_v2_tiny,...]
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
FIXTURES = Path(os.environ.get("TFCONV_OD_FIXTURES", ROOT.parent / "shared" / "fixtures" / "od_api"))
MODELS = ["ssd_mobilenet_v2_tiny", "faster_rcnn_inception_v2_tiny"]
BIN = userenv.bin_dir()  # a user's install of tfconv and ovc (userenv.py says why)
WALL_TARGET, LATENCY_TARGET = 0.1, 0.1
TOP, MIN_IOU, SCORE_TOL = 20, 0.95, 2e-3


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def wall(cmd: list[str]) -> float:
    """Wall seconds of one process (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env(),
                          check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.decode(errors='replace')[-3000:]}")
    return seconds


def commands(name: str, out: Path) -> tuple[list[str], list[str]]:
    d = FIXTURES / name
    ours = [str(BIN / "tfconv"), "convert", str(d / "frozen_inference_graph.pb"),
            "--tensorflow_object_detection_api_pipeline_config", str(d / "pipeline.config"),
            "--disable_nhwc_to_nchw", "-o", str(out / "t"), "-n", "model"]
    theirs = [str(BIN / "ovc"), str(d / "frozen_inference_graph.pb"), "--compress_to_fp16=False",
              "--output_model", str(out / "o" / "model.xml")]
    return ours, theirs


# The backbone and box predictor alone (the IR cut before any post-processing): the floor of the
# IR's latency, whatever the detection part costs. Faster R-CNN: the first stage (features, RPN).
BACKBONE_OUTPUTS = {
    "ssd_mobilenet_v2_tiny": "concat,concat_1",
    "faster_rcnn_inception_v2_tiny": "FirstStageBoxPredictor/Reshape,FirstStageBoxPredictor/Reshape_1,"
                                     "FirstStageFeatureExtractor/InceptionV2/InceptionV2/Mixed_4e/concat",
}


# TF2 exports: the box predictor's two concats inside the signature's function (the
# preprocessing is replaced as in the whole IR, so the floor includes it).
BACKBONE_OUTPUTS_TF2 = "StatefulPartitionedCall/concat,StatefulPartitionedCall/concat_1"


def backbone_command(name: str, out: Path) -> list[str] | None:
    if name in TF2_MODELS:
        return [str(BIN / "tfconv"), "convert", "--saved_model_dir",
                str(TF2_FIXTURES / name / "saved_model"), "--output", BACKBONE_OUTPUTS_TF2,
                "--disable_nhwc_to_nchw", "-o", str(out / "b"), "-n", "model"]
    if name not in BACKBONE_OUTPUTS:
        return None
    d = FIXTURES / name
    return [str(BIN / "tfconv"), "convert", str(d / "frozen_inference_graph.pb"),
            "--input", "image_tensor[1,-1,-1,3]", "--output", BACKBONE_OUTPUTS[name],
            "--disable_nhwc_to_nchw", "-o", str(out / "b"), "-n", "model"]


def layer_types(xml: Path) -> list[str]:
    return [layer.get("type") for layer in ET.parse(xml).getroot().iter("layer")]


def iou(a, b) -> float:
    y0, x0, y1, x1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, y1 - y0) * max(0.0, x1 - x0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def agreement(ref, got: dict[str, np.ndarray]) -> str:
    """How many of TF's top detections the IR reproduces (class, IoU >= 0.95, score +-2e-3)."""
    if not all(k in got for k in ("detection_boxes", "detection_scores", "detection_classes")):
        return "no TF outputs"
    n = min(TOP, int(ref["num_detections"][0]))
    free, hits = list(range(got["detection_scores"].shape[1])), 0
    for i in range(n):
        cands = [(iou(ref["detection_boxes"][0, i], got["detection_boxes"][0, j]), j) for j in free
                 if got["detection_classes"][0, j] == ref["detection_classes"][0, i]
                 and abs(got["detection_scores"][0, j] - ref["detection_scores"][0, i]) <= SCORE_TOL]
        best = max(cands, default=(0.0, -1))
        if best[0] >= MIN_IOU:
            hits += 1
            free.remove(best[1])
    return f"{hits}/{n} TF detections"


def outputs_by_name(compiled, result) -> dict[str, np.ndarray]:
    found = {}
    for port in compiled.outputs:
        for n in port.get_names():
            found[n.split(":")[0]] = np.asarray(result[port])
    return found


def latencies(requests, feed, rounds: int = 5) -> list[list[float]]:
    """Milliseconds per inference of each request on ``feed``, in alternating rounds."""
    return alternating_latencies(requests, [[feed]] * len(requests), rounds, per_round=5)


def measure(name: str, out: Path, ours: list[str], theirs: list[str], fixtures: Path, runs: int,
            core) -> tuple:
    """One fixture, both converters: median conversion walls, median IR latencies on the
    fixture image, layer types, TF agreement, medians on a 1920x1080 frame, and the backbone
    floor (None for a fixture without a backbone cut)."""
    wall(ours), wall(theirs)  # warm-up: file cache, byte-code caches
    ow, tw = [], []
    for _ in range(runs):
        ow.append(wall(ours))
        tw.append(wall(theirs))
    print(f"  converted {name}", file=sys.stderr, flush=True)
    ref = np.load(fixtures / name / "reference.npz")
    image = ref["input_0"]
    xmls = [out / "t" / "model.xml", out / "o" / "model.xml"]
    cut = backbone_command(name, out)
    if cut is not None:
        wall(cut)
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    compiled = [core.compile_model(str(x), "CPU", config) for x in xmls]
    agree = [agreement(ref, outputs_by_name(c, c([image]))) for c in compiled]
    if cut is not None:
        compiled.append(core.compile_model(str(out / "b" / "model.xml"), "CPU", config))
    requests = [c.create_infer_request() for c in compiled]
    lat = latencies(requests, image)
    frame = np.random.default_rng(0).integers(0, 256, (1, 1080, 1920, 3), np.uint8)
    big = latencies(requests, frame, rounds=3)
    types = [layer_types(x) for x in xmls]
    floor = [statistics.median(lat[2])] if cut else None  # (the cut IR normalises the full
    # frame: without the flag the Preprocessor is not replaced, so no frame floor)
    return (statistics.median(ow), statistics.median(tw), statistics.median(lat[0]),
            statistics.median(lat[1]), types, agree, [statistics.median(t) for t in big], floor)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(MODELS))
    parser.add_argument("--only_tf2", default=",".join(TF2_MODELS), help="TF2 rows ('' for none)")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    import openvino as ov
    core = ov.Core()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-od-") as tmp:
        for name in names:
            out = Path(tmp) / name
            ours, theirs = commands(name, out)
            rows.append((name, *measure(name, out, ours, theirs, FIXTURES, args.runs, core)))
    print("\nObject Detection API fixtures: tfconv vs ovc (medians; conversion as a whole process, "
          "OpenVINO CPU f32 batch 1 on the fixture image)")
    print(f"targets: conversion wall <= {WALL_TARGET}x ovc's, IR latency <= {LATENCY_TARGET}x ovc's IR")
    print(f"{'model':30} {'tfconv s':>8} {'ovc s':>7} {'ratio':>6} {'':4} | {'tfconv ms':>9} "
          f"{'ovc ms':>8} {'ratio':>6} {'':4} | {'layers t/o':>11} {'Loop/TI t/o':>11} | "
          "1920x1080 frame ms t/o | TF agreement tfconv / ovc")
    ok_all = True
    for name, ow, tw, ol, tl, types, agree, big, _ in rows:
        wall_ok, lat_ok = ow / tw <= WALL_TARGET, ol / tl <= LATENCY_TARGET
        ok_all &= wall_ok and lat_ok
        loops = [sum(t in ("Loop", "TensorIterator") for t in ts) for ts in types]
        print(f"{name:30} {ow:8.2f} {tw:7.2f} {ow / tw:6.3f} {'PASS' if wall_ok else 'FAIL':4} | "
              f"{ol:9.2f} {tl:8.2f} {ol / tl:6.3f} {'PASS' if lat_ok else 'FAIL':4} | "
              f"{len(types[0]):5}/{len(types[1]):<5} {loops[0]:5}/{loops[1]:<5} | "
              f"{big[0]:8.1f}/{big[1]:<8.1f}     | {agree[0]} / {agree[1]}")
    print_floors(rows, 30, "Faster R-CNN: first stage")
    tf2_names = [n for n in args.only_tf2.split(",") if n]
    if tf2_names:
        ok_all &= tf2_table(tf2_names, args.runs)
    print(f"\n{'all targets met' if ok_all else 'TARGETS MISSED'}")
    return 0 if ok_all else 1


def print_floors(rows: list[tuple], width: int, note: str) -> None:
    print(f"\nlatency floor: the backbone and box predictor alone (IR cut before post-processing; "
          f"{note}), same image, same run")
    for name, _, _, ol, tl, _, _, big, floor in rows:
        if floor:
            print(f"{name:{width}} backbone {floor[0]:7.2f} ms = {floor[0] / tl:5.3f}x ovc's IR "
                  f"(whole tfconv IR {ol / tl:5.3f}x; target {LATENCY_TARGET}x "
                  f"{'reachable' if floor[0] / tl <= LATENCY_TARGET else 'unreachable: the floor is above it'}) | "
                  f"1920x1080 frame: tfconv {big[0]:.1f} ms, ovc {big[1]:.1f} ({big[0] / big[1]:.3f}x)")


# -- TF2 exports (issue 17): SavedModels of exporter_main_v2.py -------------------------------

TF2_FIXTURES = Path(os.environ.get("TFCONV_OD_TF2_FIXTURES",
                                   ROOT.parent / "shared" / "fixtures" / "od_api_tf2"))
TF2_MODELS = ["od2_ssd_mobilenet_v2_fpnlite_tiny", "od2_efficientdet_d0_tiny"]


def tf2_commands(name: str, out: Path) -> tuple[list[str], list[str]]:
    """The SavedModel as a user converts it: tfconv finds the pipeline.config beside it."""
    saved = TF2_FIXTURES / name / "saved_model"
    ours = [str(BIN / "tfconv"), "convert", "--saved_model_dir", str(saved),
            "--disable_nhwc_to_nchw", "-o", str(out / "t"), "-n", "model"]
    theirs = [str(BIN / "ovc"), str(saved), "--compress_to_fp16=False",
              "--output_model", str(out / "o" / "model.xml")]
    return ours, theirs


def tf2_table(names: list[str], runs: int) -> bool:
    """The TF2 rows, measured and printed as main() does the TF1 ones; True when all pass."""
    import openvino as ov
    core = ov.Core()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-od2-") as tmp:
        for name in names:
            out = Path(tmp) / name
            ours, theirs = tf2_commands(name, out)
            rows.append((name, *measure(name, out, ours, theirs, TF2_FIXTURES, runs, core)))
    print("\nObject Detection API TF2 SavedModels: tfconv vs ovc (medians; conversion as a whole "
          "process, OpenVINO CPU f32 batch 1 on the fixture image)")
    print(f"{'model':36} {'tfconv s':>8} {'ovc s':>7} {'ratio':>6} {'':4} | {'tfconv ms':>9} "
          f"{'ovc ms':>8} {'ratio':>6} {'':4} | {'layers t/o':>11} {'Loop/TI t/o':>11} | "
          "1920x1080 frame ms t/o | TF agreement tfconv / ovc")
    ok_all = True
    for name, ow, tw, ol, tl, types, agree, big, _ in rows:
        wall_ok, lat_ok = ow / tw <= WALL_TARGET, ol / tl <= LATENCY_TARGET
        ok_all &= wall_ok and lat_ok
        loops = [sum(t in ("Loop", "TensorIterator") for t in ts) for ts in types]
        print(f"{name:36} {ow:8.2f} {tw:7.2f} {ow / tw:6.3f} {'PASS' if wall_ok else 'FAIL':4} | "
              f"{ol:9.2f} {tl:8.2f} {ol / tl:6.3f} {'PASS' if lat_ok else 'FAIL':4} | "
              f"{len(types[0]):5}/{len(types[1]):<5} {loops[0]:5}/{loops[1]:<5} | "
              f"{big[0]:8.1f}/{big[1]:<8.1f}     | {agree[0]} / {agree[1]}")
    print_floors(rows, 36, "TF2: the box predictor's concats, preprocessing included")
    return ok_all


if __name__ == "__main__":
    sys.exit(main())
