"""Build the whole zoo and report on it (developer tool, not a test).

    PYTHONPATH=tests python -m models.report [--ovc] [--health] [--ops-file PATH] [NAME ...]

Prints per model: build time, frozen-graph node count, logits std/max,
OpenVINO-vs-TF error (OV reads the .pb itself), optionally the activation
health (RMS range over the graph's activations, needs TF) and the number of
ops in ovc's IR.  Writes the union of TF op types to OPS_SEEN.txt (default:
next to this file).
"""
from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import time

import numpy as np

from models import zoo

_HEALTH_OPS = {
    "Conv2D", "DepthwiseConv2dNative", "MatMul", "BiasAdd", "FusedBatchNormV3",
    "Relu", "Relu6", "AddV2", "Add", "ConcatV2", "MaxPool", "AvgPool", "Mean",
}


def ov_error(case: zoo.ModelCase) -> float:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(case.pb)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    ref = np.load(case.reference)
    (in_name,) = case.inputs
    got = compiled({compiled.input(0): ref[in_name]})[compiled.output(0)]
    want = ref[case.outputs[0]]
    return float(np.abs(got - want).max() / np.abs(want).max())


def activation_health(case: zoo.ModelCase):
    """(min, max) RMS over activation-like tensors on the reference batch."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(case.pb.read_bytes())
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
        rms = {}
        for op in g.get_operations():
            if op.type not in _HEALTH_OPS or not op.outputs:
                continue
            t = op.outputs[0]
            # activations only: float tensors with the (dynamic) batch dim,
            # not weight/BN-parameter arithmetic on constants
            if t.dtype == tf.float32 and t.shape.rank in (2, 4) and t.shape[0] is None:
                rms[op.name] = tf.sqrt(tf.reduce_mean(tf.square(t)))
    ref = np.load(case.reference)
    (in_name,) = case.inputs
    cfg = tf.compat.v1.ConfigProto()
    cfg.graph_options.rewrite_options.disable_meta_optimizer = True
    with tf.compat.v1.Session(graph=g, config=cfg) as sess:
        vals = sess.run(rms, {in_name + ":0": ref[in_name]})
    lo = min(vals, key=vals.get)
    hi = max(vals, key=vals.get)
    return float(vals[lo]), float(vals[hi])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--ovc", action="store_true", help="also run ovc (cached)")
    ap.add_argument("--health", action="store_true", help="activation RMS range (TF)")
    ap.add_argument("--ops-file", default=str(pathlib.Path(__file__).with_name("OPS_SEEN.txt")))
    args = ap.parse_args(argv)
    names = args.names or zoo.all_case_names()

    t0 = time.perf_counter()
    built = zoo.prebuild(names, verbose=True)
    print(f"# prebuild of {len(built)} missing case(s): {time.perf_counter() - t0:.1f}s wall",
          flush=True)

    op_models = collections.defaultdict(list)
    hdr = f"{'case':26} {'build_s':>7} {'nodes':>6} {'std/max':>8} {'gain':>6} {'ov_err':>9}"
    if args.health:
        hdr += f" {'rms_min':>8} {'rms_max':>8}"
    if args.ovc:
        hdr += f" {'ovc_ops':>7} {'ovc_s':>6}"
    print(hdr)
    total_build = 0.0
    for name in names:
        case = zoo.get(name)
        m = zoo.meta(name)
        total_build += m["build_seconds"]
        for op in m["op_counts"]:
            op_models[op].append(name)
        std_rel = m["logits"]["std_rel_min"]
        line = (f"{name:26} {m['build_seconds']:7.1f} {m['num_nodes']:6d} "
                f"{std_rel:8.3f} {m.get('head_gain', float('nan')):6.2f} {ov_error(case):9.2e}")
        if args.health:
            lo, hi = activation_health(case)
            line += f" {lo:8.3g} {hi:8.3g}"
        if args.ovc:
            t1 = time.perf_counter()
            ops = zoo.ovc_reference_ops(case)
            line += f" {sum(ops.values()):7d} {time.perf_counter() - t1:6.1f}"
        print(line, flush=True)
    print(f"# sum of per-model build times: {total_build:.1f}s")

    lines = [
        "# TF op types in the frozen zoo graphs (union over "
        f"{len(names)} cases, TF {m['versions']['tensorflow']})",
        "# op_type <TAB> number_of_models <TAB> models",
    ]
    for op in sorted(op_models):
        users = op_models[op]
        lines.append(f"{op}\t{len(users)}\t{','.join(users)}")
    if set(names) == set(zoo.all_case_names()):
        pathlib.Path(args.ops_file).write_text("\n".join(lines) + "\n")
        print(f"# wrote {args.ops_file}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
