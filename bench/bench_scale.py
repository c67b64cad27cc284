"""Benchmark and target check: how tfconv's cost grows with the graph (issue 15, target 3).

Builds synthetic frozen GraphDefs of about 10k, 50k and 200k nodes (written with tfconv's own
protobuf schema, no TensorFlow; cached in ``.cache/bench/``) out of a realistic op mix: conv
blocks (Conv2D, BiasAdd, FusedBatchNormV3, Relu), elementwise chains (Mul, AddV2, Sigmoid),
two-branch concats (ConcatV2 then a 1x1 conv back to the width), shape sub-graphs (Shape,
StridedSlice, Pack, Reshape) and residual adds. Each is converted by ``tfconv convert
--timings`` as a whole process (median of ``--runs``), and the table gives nodes vs seconds per
stage and peak RSS. A 100k-deep chain of unary ops checks that nothing recurses per node.

Target (exit status 1 when missed): the 200k graph's wall time <= 25x the 10k graph's (linear,
not quadratic), and the deep chain converts. The curve is also drawn into
``.cache/bench/scale.png`` when matplotlib is installed.

    .venv/bin/python bench/bench_scale.py [--runs 1] [--sizes 10000,50000,200000] [--chain 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import userenv  # bench/, the directory of this script

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
BIN = userenv.bin_dir()  # a user's install of tfconv and ovc (userenv.py says why)
RATIO_TARGET = 25.0  # 200k wall / 10k wall (20x more nodes)
STAGES = ("startup", "load", "source_passes", "translate", "IR_passes", "write")
FORMAT = 1  # bump when the generated graphs change


class Builder:
    """A frozen GraphDef written node by node with tfconv's schema."""

    def __init__(self) -> None:
        import numpy as np
        from tfconv_tf_frontend import proto

        self.np = np
        self.gd = proto.GraphDef()
        self.rng = np.random.default_rng(0)
        self.count = 0

    def node(self, op: str, inputs=(), **attrs) -> str:
        np = self.np
        n = self.gd.node.add()
        n.name, n.op = f"n{self.count}_{op}", op
        self.count += 1
        n.input.extend(inputs)
        for key, value in attrs.items():
            a = n.attr[key]
            if key in ("T", "dtype", "Tidx", "Index", "out_type", "Tshape"):
                a.type = value
            elif isinstance(value, np.ndarray):
                t = a.tensor
                t.dtype = 3 if value.dtype == np.int32 else 1
                for d in value.shape:
                    t.tensor_shape.dim.add().size = d
                t.tensor_content = value.tobytes()
            elif isinstance(value, bytes):
                a.s = value
            elif isinstance(value, bool):
                a.b = value
            elif isinstance(value, float):
                a.f = value
            elif isinstance(value, int):
                a.i = value
            elif isinstance(value, list):
                a.list.i.extend(value)
            elif isinstance(value, tuple):  # a shape
                for d in value:
                    a.shape.dim.add().size = d
        return n.name

    def const(self, value) -> str:
        return self.node("Const", value=value, dtype=3 if value.dtype == self.np.int32 else 1)

    def weights(self, *shape: int) -> str:
        return self.const((self.rng.standard_normal(shape) * 0.1).astype("<f4"))


def _block(b: Builder, x: str, c: int, hw: int) -> str:
    """One unit of the mix (~45 nodes) keeping [1, hw, hw, c]."""
    import numpy as np
    f32 = 1
    # conv block
    y = b.node("Conv2D", [x, b.weights(3, 3, c, c)], T=f32, strides=[1, 1, 1, 1], padding=b"SAME",
               data_format=b"NHWC")
    y = b.node("FusedBatchNormV3", [y, b.const(np.ones(c, "<f4")), b.weights(c),
                                    b.weights(c), b.const(np.ones(c, "<f4"))],
               T=f32, U=f32, epsilon=0.001, is_training=False, data_format=b"NHWC")
    y = b.node("Relu", [y], T=f32)
    # elementwise chain
    z = b.node("Mul", [y, b.weights(c)], T=f32)
    z = b.node("AddV2", [z, b.weights(c)], T=f32)
    z = b.node("Mul", [z, b.node("Sigmoid", [z], T=f32)], T=f32)
    # two-branch concat, back to c channels with a 1x1 conv
    left = b.node("Relu6", [b.node("BiasAdd", [b.node("Conv2D", [z, b.weights(1, 1, c, c)], T=f32,
                                                        strides=[1, 1, 1, 1], padding=b"SAME"),
                                               b.weights(c)], T=f32)], T=f32)
    right = b.node("Tanh", [z], T=f32)
    cat = b.node("ConcatV2", [left, right, b.const(np.array(3, np.int32))], T=f32, N=2, Tidx=3)
    y = b.node("Conv2D", [cat, b.weights(1, 1, 2 * c, c)], T=f32, strides=[1, 1, 1, 1],
               padding=b"SAME")
    # shape sub-graph: reshape to [batch, hw*hw*c] and back to the image
    shape = b.node("Shape", [y], T=f32, out_type=3)
    batch = b.node("StridedSlice", [shape, b.const(np.array([0], np.int32)),
                                    b.const(np.array([1], np.int32)), b.const(np.array([1], np.int32))],
                   T=3, Index=3, shrink_axis_mask=1)
    flat = b.node("Pack", [batch, b.const(np.array(hw * hw * c, np.int32))], T=3, N=2, axis=0)
    y = b.node("Reshape", [y, flat], T=f32, Tshape=3)
    back = b.node("Pack", [batch, b.const(np.array(hw, np.int32)), b.const(np.array(hw, np.int32)),
                           b.const(np.array(c, np.int32))], T=3, N=4, axis=0)
    y = b.node("Reshape", [y, back], T=f32, Tshape=3)
    # residual
    return b.node("AddV2", [x, y], T=f32)


def synthetic(nodes: int, c: int = 8, hw: int = 8) -> Path:
    """A frozen graph of about ``nodes`` nodes (cached)."""
    out = CACHE / f"scale-{FORMAT}-{nodes}.pb"
    if out.is_file():
        return out
    import numpy as np

    b = Builder()
    x = b.node("Placeholder", dtype=1, shape=(1, hw, hw, c))
    while b.count < nodes - 3:
        x = _block(b, x, c, hw)
    x = b.node("Mean", [x, b.const(np.array([1, 2], np.int32))], T=1, Tidx=3, keep_dims=False)
    b.node("Identity", [x], T=1)
    return _save(b, out)


def node_count(model: Path) -> int:
    from tfconv_tf_frontend import proto

    gd = proto.GraphDef()
    gd.ParseFromString(model.read_bytes())
    return len(gd.node)


def chain(depth: int) -> Path:
    """x -> Abs -> Neg -> Abs -> ... ``depth`` ops deep (cached)."""
    out = CACHE / f"chain-{FORMAT}-{depth}.pb"
    if out.is_file():
        return out
    b = Builder()
    x = b.node("Placeholder", dtype=1, shape=(1, 4))
    for i in range(depth):
        x = b.node("Neg" if i % 2 else "Abs", [x], T=1)
    return _save(b, out)


def _save(b: Builder, out: Path) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(b.gd.SerializeToString())
    tmp.replace(out)
    return out


def convert(model: Path, out: Path) -> tuple[float, float, dict[str, float]]:
    """Wall seconds, peak RSS (MiB) and ``--timings`` stages of one ``tfconv convert`` (plus
    ``cpu``: its user + system seconds, which a busy machine inflates less than wall time)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [str(BIN / "tfconv"), "convert", str(model), "-o", str(out), "--silent", "--timings"]
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        text = err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"tfconv failed on {model.name}:\n{text[-2000:]}")
    stages = {}
    for line in text.splitlines():
        if line.startswith("[ TIMINGS ]"):
            stages = {k: float(v) for k, v in (i.split("=") for i in line.split()[3:])}
    stages["cpu"] = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, stages


def plot(rows: list[tuple[int, float, float, dict[str, float]]], path: Path) -> bool:
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [n for n, *_ in rows]
    ax.plot(xs, [w for _, w, _, _ in rows], "o-", label="wall (whole process)")
    for stage in STAGES:
        ax.plot(xs, [s.get(stage, 0.0) for *_, s in rows], ".--", label=stage)
    ax.set_xlabel("graph nodes")
    ax.set_ylabel("seconds")
    ax.set_title("tfconv convert: cost vs graph size (synthetic frozen graphs)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1,
                        help="runs per graph (graphs under 100k nodes: at least 3, they are cheap "
                        "and a short run is the noisier)")
    parser.add_argument("--sizes", default="10000,50000,200000")
    parser.add_argument("--chain", type=int, default=100_000, help="depth of the chain (0: none)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    # The graphs are built in a child process: a converter's peak RSS from wait4 also counts
    # the pages it inherits from this process at fork, so this process stays small.
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "import bench_scale as b; "
            f"print(json.dumps([[str(b.synthetic(n)), b.node_count(b.synthetic(n))] for n in {sizes!r}]"
            f" + ([[str(b.chain({args.chain})), {args.chain}]] if {args.chain} else [])))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"building the graphs failed:\n{done.stderr[-3000:]}")
    built = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for model, count in built[:len(sizes)]:
            model = Path(model)
            n_runs = args.runs if count >= 100_000 else max(args.runs, 3)
            runs = [convert(model, Path(tmp) / model.stem) for _ in range(n_runs)]
            wall = statistics.median(w for w, _, _ in runs)
            rss = statistics.median(r for _, r, _ in runs)
            stages = {k: statistics.median(s.get(k, 0.0) for _, _, s in runs)
                      for k in (*STAGES, "cpu")}
            rows.append((count, wall, rss, stages))
            print(f"  converted {count} nodes in {wall:.1f} s", file=sys.stderr, flush=True)
        chain_ok, chain_text = True, "-"
        if args.chain:
            try:
                wall, rss, _ = convert(Path(built[-1][0]), Path(tmp) / "chain")
                chain_text = f"{wall:.1f} s, {rss:.0f} MiB"
            except RuntimeError as err:
                chain_ok, chain_text = False, str(err).splitlines()[-1][:100]
    print("\nTarget 3: conversion cost vs graph size (tfconv convert --timings, whole process)")
    print(f"{'nodes':>8} {'wall s':>7} {'cpu s':>7} " + " ".join(f"{s:>13}" for s in STAGES)
          + f" {'peak MiB':>9}")
    for n, wall, rss, stages in rows:
        print(f"{n:8} {wall:7.2f} {stages['cpu']:7.2f} " + " ".join(f"{stages[s]:13.2f}" for s in STAGES)
              + f" {rss:9.0f}")
    ok = chain_ok
    if len(rows) >= 2:
        (n0, w0, _, _), (n1, w1, _, _) = rows[0], rows[-1]
        ratio = w1 / w0
        good = ratio <= RATIO_TARGET
        ok &= good
        cpu = rows[-1][3]["cpu"] / rows[0][3]["cpu"]
        print(f"{n1} nodes / {n0} nodes: wall {ratio:.1f}x (cpu {cpu:.1f}x) for {n1 / n0:.0f}x the "
              f"nodes (target <= {RATIO_TARGET:.0f}x wall) {'PASS' if good else 'FAIL'}")
    if args.chain:
        print(f"{args.chain}-deep chain: {chain_text} {'PASS' if chain_ok else 'FAIL'}")
    png = CACHE / "scale.png"
    if rows and plot(rows, png):
        print(f"plot: {png}")
    print("all targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
