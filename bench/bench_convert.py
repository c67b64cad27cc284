"""Benchmark and target check: tfconv vs ovc, side by side (issue 15, targets 1 and 4).

Every job is converted by both converters as whole processes, run from a user's install of
both (``userenv.py``: wheels, not the test virtualenv's editable installs, whose start-up hooks
cost every process ~15 ms) with ``PYTHONDONTWRITEBYTECODE`` unset (byte-code caches, as users'
installs have them), alternating
tfconv, ovc, tfconv, ovc... after one warm-up run each; the figures are medians. Wall time is
measured around the process, peak RSS comes from ``wait4``; tfconv runs with ``--timings`` so
the table names its slowest stage. Each run converts into a fresh output directory (the last
run's is removed before the clock starts), as a user converting a model does; the row
"ResNet50, over its IR" converts into the same directory every time, so both tools replace an
existing IR (tfconv then flushes the new files to disk before renaming them over the old ones,
and both pay the file system's freeing of the old 100 MB): reported, no target. Then the
OpenVINO CPU latency of both IRs (alternating rounds, batch 1) and their layer counts.

Jobs: frozen MobileNetV2, ResNet50 and InceptionV3 (the zoo's Keras 3 nets, random weights),
the SavedModel directories of the same nets, a text ``.pbtxt`` GraphDef (Slim Inception v1,
~74 MB, written by this script into ``.cache/bench/``), a 10-node frozen graph, and
``--help``. Targets (one table each, PASS/FAIL per row; the exit status is 1 when any row
fails, so ``make bench`` catches a regression):

  1  frozen nets: wall <= 0.3x ovc's, peak RSS <= 0.6x ovc's; SavedModels: wall <= 0.3x;
     text graph: wall and peak RSS <= 0.5x; 10-node graph <= 0.25 s; ``tfconv --help`` <= 0.15 s
  4  every IR above: OpenVINO latency <= 1.0x ovc's IR (within LATENCY_NOISE), layers <= ovc's

    .venv/bin/python bench/bench_convert.py [--runs 5] [--only frozen,saved,text,tiny,help]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import userenv  # bench/, the directory of this script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the zoo, imported only by prepare() in a child
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FROZEN = ["keras3-MobileNetV2", "keras3-ResNet50", "keras3-InceptionV3"]
TEXT_SOURCE = "slim-inception_v1"  # its frozen graph, written as text, is the text job
BIN = userenv.bin_dir()  # a user's install of tfconv and ovc (userenv.py says why)
CACHE = ROOT / ".cache" / "bench"

# Targets (issue 15): ratios tfconv/ovc, or seconds where there is no ratio target.
FROZEN_WALL, FROZEN_RSS = 0.3, 0.6
SAVED_WALL = 0.3
TEXT_WALL, TEXT_RSS = 0.5, 0.5
TINY_SECONDS, HELP_SECONDS = 0.25, 0.15
LATENCY = 1.0
LATENCY_NOISE = 0.03  # run-to-run spread of a median latency on this shared machine


@dataclass
class Job:
    name: str
    kind: str                      # frozen | saved | text | tiny | help
    ours: list[str]                # tfconv command (output directory appended when converting)
    theirs: list[str]              # ovc command
    converts: bool = True
    runs: list[tuple[float, float, dict[str, float]]] = field(default_factory=list)
    peer_runs: list[tuple[float, float]] = field(default_factory=list)
    fresh: Path | None = None       # removed before every run: each converts into a new place


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stderr of one process."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=clean_env())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        text = err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{text}")
    return wall, usage.ru_maxrss / 1024, text


def stages_of(stderr: str) -> dict[str, float]:
    """The ``[ TIMINGS ]`` line of ``tfconv convert --timings`` as {stage: seconds}."""
    for line in stderr.splitlines():
        if line.startswith("[ TIMINGS ]"):
            pairs = (item.split("=") for item in line.split()[3:])
            return {k: float(v) for k, v in pairs if k not in ("total", "peak_rss_mib")}
    return {}


def tiny_graph(path: Path) -> Path:
    """A 10-node frozen graph: x[1,16] -> MatMul -> BiasAdd -> Relu -> MatMul -> Add -> Softmax."""
    import numpy as np
    from tfconv_tf_frontend import proto

    gd = proto.GraphDef()

    def node(name, op, inputs=(), value=None, **types):
        n = gd.node.add()
        n.name, n.op = name, op
        n.input.extend(inputs)
        for key, t in types.items():
            n.attr[key].type = t
        if op == "Placeholder":
            for d in (1, 16):
                n.attr["shape"].shape.dim.add().size = d
        if value is not None:
            t = n.attr["value"].tensor
            t.dtype = 1
            for d in value.shape:
                t.tensor_shape.dim.add().size = d
            t.tensor_content = value.astype("<f4").tobytes()

    rng = np.random.default_rng(0)
    node("x", "Placeholder", dtype=1)
    node("w1", "Const", value=rng.standard_normal((16, 32)), dtype=1)
    node("b1", "Const", value=rng.standard_normal(32), dtype=1)
    node("w2", "Const", value=rng.standard_normal((32, 8)), dtype=1)
    node("b2", "Const", value=rng.standard_normal(8), dtype=1)
    node("mm1", "MatMul", ["x", "w1"], T=1)
    node("ba1", "BiasAdd", ["mm1", "b1"], T=1)
    node("relu", "Relu", ["ba1"], T=1)
    node("mm2", "MatMul", ["relu", "w2"], T=1)
    node("out", "Add", ["mm2", "b2"], T=1)
    path.write_bytes(gd.SerializeToString())
    return path


def text_graph(pb: Path) -> Path:
    """``pb`` written as a text GraphDef into the bench cache (once)."""
    out = CACHE / f"{pb.parent.name}.pbtxt"
    if not out.is_file() or out.stat().st_mtime < pb.stat().st_mtime:
        from google.protobuf import text_format
        from tfconv_tf_frontend import proto

        CACHE.mkdir(parents=True, exist_ok=True)
        gd = proto.GraphDef()
        gd.ParseFromString(pb.read_bytes())
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text_format.MessageToString(gd))
        tmp.replace(out)
    return out


def prepare(only: set[str], tmp: Path) -> dict[str, str]:
    """Build what the jobs convert (zoo models, the text graph, the 10-node graph) and return
    their paths. Run in a child process: a converter's peak RSS from wait4 also counts the
    pages it inherits from this process at fork, so this process must stay small."""
    from models import zoo

    names = FROZEN if only & {"frozen", "saved"} else []
    zoo.prebuild(names + ([TEXT_SOURCE] if "text" in only else []))
    paths = {}
    for n in names:
        paths[f"frozen:{n}"] = str(zoo.get(n).pb)
        paths[f"saved:{n}"] = str(zoo.saved_model_dir(zoo.get(n)))
    if "text" in only:
        paths["text"] = str(text_graph(zoo.get(TEXT_SOURCE).pb))
    if "tiny" in only:
        paths["tiny"] = str(tiny_graph(tmp / "tiny.pb"))
    return paths


def job_dir(tmp: Path, name: str) -> Path:
    """Where a job's two IRs go (``t``: tfconv's, ``o``: ovc's)."""
    return tmp / name.replace(" ", "_").replace(",", "")


def make_jobs(only: set[str], tmp: Path) -> list[Job]:
    import json

    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import bench_convert as b; from pathlib import Path; "
            f"print(json.dumps(b.prepare(set({sorted(only)!r}), Path({str(tmp)!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, env=clean_env())
    if done.returncode != 0:
        raise SystemExit(f"preparing the models failed:\n{done.stderr[-3000:]}")
    paths = json.loads(done.stdout.strip().splitlines()[-1])
    tfconv, ovc = str(BIN / "tfconv"), str(BIN / "ovc")
    jobs = []

    def add(name: str, kind: str, model: Path, fresh: bool = True) -> None:
        out = job_dir(tmp, name)
        jobs.append(Job(name, kind,
                        [tfconv, "convert", str(model), "--output_dir", str(out / "t"),
                         "--model_name", "model", "--silent", "--timings"],
                        [ovc, str(model), "--compress_to_fp16=False",
                         "--output_model", str(out / "o" / "model.xml")],
                        fresh=out if fresh else None))

    if "frozen" in only:
        for n in FROZEN:
            add(n.split("-", 1)[1], "frozen", Path(paths[f"frozen:{n}"]))
        add("ResNet50, over its IR", "replace", Path(paths["frozen:keras3-ResNet50"]), False)
    if "saved" in only:
        for n in FROZEN:
            add(n.split("-", 1)[1] + " (SavedModel)", "saved", Path(paths[f"saved:{n}"]))
    if "text" in only:
        add("Inception v1 (text .pbtxt)", "text", Path(paths["text"]))
    if "tiny" in only:
        add("10-node graph", "tiny", Path(paths["tiny"]))
    if "help" in only:
        jobs.append(Job("--help", "help", [tfconv, "--help"], [ovc, "--help"], converts=False))
    return jobs


def run_jobs(jobs: list[Job], runs: int) -> None:
    for job in jobs:
        measure(job.ours), measure(job.theirs)  # warm-up: file cache, byte-code caches
        for _ in range(runs):
            fresh(job, "t")
            wall, rss, err = measure(job.ours)
            job.runs.append((wall, rss, stages_of(err)))
            fresh(job, "o")
            wall, rss, _ = measure(job.theirs)
            job.peer_runs.append((wall, rss))
        print(f"  measured {job.name}", file=sys.stderr, flush=True)


def fresh(job: Job, tool: str) -> None:
    """Remove one tool's last output of the job (``t``: tfconv's, ``o``: ovc's) before a run
    that must start from nothing, and let the disk finish freeing it before the clock starts."""
    if job.fresh is not None and (job.fresh / tool).exists():
        shutil.rmtree(job.fresh / tool)
        os.sync()


def med(values) -> float:
    return statistics.median(list(values))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def conversion_table(jobs: list[Job]) -> bool:
    """Target 1's table; True when every row passes."""
    print("\nTarget 1: conversion as a whole process, tfconv vs ovc (medians)")
    print(f"{'job':28} {'tfconv s':>8} {'ovc s':>6} {'ratio':>5} | {'tfconv MiB':>10} {'ovc MiB':>7} "
          f"{'ratio':>5} | {'target':22} {'slowest tfconv stage':24} result")
    ok_all = True
    for job in jobs:
        ow, orss = med(w for w, _, _ in job.runs), med(r for _, r, _ in job.runs)
        tw, trss = med(w for w, _ in job.peer_runs), med(r for _, r in job.peer_runs)
        if job.kind == "frozen":
            ok, target = ow / tw <= FROZEN_WALL and orss / trss <= FROZEN_RSS, \
                f"wall<={FROZEN_WALL}x rss<={FROZEN_RSS}x"
        elif job.kind == "saved":
            ok, target = ow / tw <= SAVED_WALL, f"wall<={SAVED_WALL}x"
        elif job.kind == "text":
            ok, target = ow / tw <= TEXT_WALL and orss / trss <= TEXT_RSS, \
                f"wall<={TEXT_WALL}x rss<={TEXT_RSS}x"
        elif job.kind == "replace":
            ok, target = True, "reported, no target"
        elif job.kind == "tiny":
            ok, target = ow <= TINY_SECONDS, f"wall<={TINY_SECONDS}s"
        else:
            ok, target = ow <= HELP_SECONDS, f"wall<={HELP_SECONDS}s"
        stages = {}
        for _, _, s in job.runs:
            for k, v in s.items():
                stages.setdefault(k, []).append(v)
        slow = max(stages.items(), key=lambda kv: med(kv[1]), default=None)
        slowest = f"{slow[0]} {med(slow[1]):.3f}s" if slow else "-"
        ok_all &= ok
        print(f"{job.name:28} {ow:8.3f} {tw:6.2f} {ow / tw:5.2f} | {orss:10.0f} {trss:7.0f} "
              f"{orss / trss:5.2f} | {target:22} {slowest:24} {verdict(ok)}")
    return ok_all


def layer_count(xml: Path) -> int:
    return sum(1 for _ in ET.parse(xml).getroot().iter("layer"))


def ir_table(jobs: list[Job], tmp: Path) -> bool:
    """Target 4's table (latency and layer count of both IRs); True when every row passes."""
    import numpy as np
    import openvino as ov

    core = ov.Core()
    print(f"\nTarget 4: the IR, tfconv vs ovc (OpenVINO CPU, batch 1, median latency of alternating "
          f"rounds; latency <= {LATENCY}x within {LATENCY_NOISE:.0%} noise, layers <= ovc's)")
    print(f"{'job':28} {'tfconv ms':>9} {'ovc ms':>7} {'ratio':>5} | {'tfconv layers':>13} "
          f"{'ovc layers':>10} | result")
    ok_all = True
    for job in (j for j in jobs if j.converts and j.kind != "replace"):  # that one: ResNet50's IR
        out = job_dir(tmp, job.name)
        xmls = [out / "t" / "model.xml", out / "o" / "model.xml"]
        requests, feeds = [], []
        for xml in xmls:
            model = core.read_model(str(xml))
            feed = []
            for port in model.inputs:
                shape = [1 if d.is_dynamic else d.get_length() for d in port.get_partial_shape()]
                feed.append(np.random.default_rng(0).uniform(-1, 1, shape).astype("float32"))
            compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                         "INFERENCE_PRECISION_HINT": "f32"})
            requests.append(compiled.create_infer_request())
            feeds.append(feed)
        ol, tl = (med(t) for t in alternating_latencies(requests, feeds, rounds=10))
        on, tn = layer_count(xmls[0]), layer_count(xmls[1])
        ok = ol / tl <= LATENCY + LATENCY_NOISE and on <= tn
        ok_all &= ok
        print(f"{job.name:28} {ol:9.2f} {tl:7.2f} {ol / tl:5.2f} | {on:13} {tn:10} | {verdict(ok)}")
    return ok_all


def alternating_latencies(requests, feeds, rounds: int, per_round: int = 20) -> list[list[float]]:
    """Latencies (ms) of single inferences per request, measured in alternating rounds after a
    warm-up, so that every request sees the same machine conditions."""
    for request, x in zip(requests, feeds):
        for _ in range(5):
            request.infer(x)
    times: list[list[float]] = [[] for _ in requests]
    for _ in range(rounds):
        for i, (request, x) in enumerate(zip(requests, feeds)):
            for _ in range(per_round):
                t = time.perf_counter()
                request.infer(x)
                times[i].append((time.perf_counter() - t) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="frozen,saved,text,tiny,help",
                        help="job kinds to run, comma separated")
    args = parser.parse_args()
    only = {k for k in args.only.split(",") if k}
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        jobs = make_jobs(only, Path(tmp))
        # Conversions first, while this process is small: a child's peak RSS (wait4) also
        # counts the pages it shares with its parent before exec.
        run_jobs(jobs, args.runs)
        ok = conversion_table(jobs)
        if any(j.converts for j in jobs):
            ok &= ir_table(jobs, Path(tmp))
    print(f"\n{'all targets met' if ok else 'TARGETS MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
