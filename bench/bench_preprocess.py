"""Benchmark: preprocessing embedded by tfconv vs ovc's IR plus OpenVINO's PrePostProcessor.

Converts the zoo's TF-Slim resnet_v1_50 (batch 1) with tfconv's ``--mean_values``/``--scale``
(folded into the first convolution where exact) and with ``ovc`` (which has no such flags), adds
the same mean/scale to ovc's model with ``openvino.preprocess.PrePostProcessor``, checks that
both give the same logits on one raw 0..255 image, and prints the OpenVINO CPU latency of each,
measured in alternating rounds, with the ratio (target: <= 1.0x).

    .venv/bin/python bench/bench_preprocess.py [--model slim-resnet_v1_50] [--rounds 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_convert import alternating_latencies  # noqa: E402

BIN = Path(sys.executable).parent
# The spec's Slim table gives [127.5,127.5,127.5] / 127.5 for the Inception family and
# [103.94,116.78,123.68] / 1 for ResNet; values that change the input are what cost time.
MEAN = [127.5, 127.5, 127.5]
SCALE = 127.5
CONFIG = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


def run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="slim-resnet_v1_50")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    import numpy as np
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    from models import zoo

    case = zoo.get(args.model)
    shape = next(iter(case.inputs.values()))
    nhwc = [1, *shape[1:]]
    flags = ["--mean_values", "[" + ",".join(map(str, MEAN)) + "]", "--scale", str(SCALE)]
    with tempfile.TemporaryDirectory() as tmp:
        report = run([str(BIN / "tfconv"), "convert", str(case.pb), "-b", "1", "-o", f"{tmp}/nchw", *flags])
        run([str(BIN / "tfconv"), "convert", str(case.pb), "-b", "1", "-o", f"{tmp}/nhwc", "--silent",
             "--disable_nhwc_to_nchw", *flags])
        print(next((line.split("the model sees ", 1)[1] for line in report.splitlines()
                    if "the model sees" in line), "tfconv did not report its preprocessing"))
        run([str(BIN / "ovc"), str(case.pb), "--compress_to_fp16=False", "--input",
             f"[{','.join(map(str, nhwc))}]", "--output_model", f"{tmp}/ovc/model.xml"])

        core = ov.Core()
        ovc_model = core.read_model(f"{tmp}/ovc/model.xml")
        ppp = PrePostProcessor(ovc_model)
        ppp.input().model().set_layout(ov.Layout("NHWC"))
        ppp.input().preprocess().mean(MEAN).scale(SCALE)
        ovc_model = ppp.build()

        models = {
            "tfconv (NCHW input)": (core.read_model(next(Path(f"{tmp}/nchw").glob("*.xml"))), "nchw"),
            "tfconv (NHWC input)": (core.read_model(next(Path(f"{tmp}/nhwc").glob("*.xml"))), "nhwc"),
            "ovc + PrePostProcessor": (ovc_model, "nhwc"),
        }
        raw = np.random.default_rng(0).uniform(0, 255, nhwc).astype(np.float32)
        requests, feeds, outs = [], [], []
        for model, layout in models.values():
            compiled = core.compile_model(model, "CPU", CONFIG)
            x = np.ascontiguousarray(raw.transpose(0, 3, 1, 2)) if layout == "nchw" else raw
            outs.append(np.asarray(compiled([x])[compiled.outputs[0]]))
            requests.append(compiled.create_infer_request())
            feeds.append(x)
            ops = sum(1 for op in model.get_ops() if op.get_type_name() not in ("Constant",))
            print(f"{list(models)[len(outs) - 1]:30} {ops:4d} non-constant ops")
        ref = outs[-1]
        for label, out in zip(models, outs[:-1]):
            err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
            same = bool((out.argmax(-1) == ref.argmax(-1)).all())
            print(f"{label:30} vs ovc + PrePostProcessor: max rel diff {err:.2e}, top-1 equal: {same}")
        times = alternating_latencies(requests, feeds, args.rounds)
        med = [statistics.median(t) for t in times]
        low = [min(t) for t in times]
        print(f"\n{args.model}, batch 1, mean {MEAN}, scale {SCALE}: OpenVINO CPU latency "
              "(median and minimum over alternating rounds; target ratio <= 1.0x)")
        for label, m, lo in zip(models, med, low):
            print(f"{label:30} median {m:8.2f} ms {m / med[-1]:5.2f}x   "
                  f"min {lo:8.2f} ms {lo / low[-1]:5.2f}x")


if __name__ == "__main__":
    main()
