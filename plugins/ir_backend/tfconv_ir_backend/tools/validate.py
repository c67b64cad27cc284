"""``tfconv validate``: run the original model (TensorFlow, through ``tfconv_run_reference``) and
its IR (OpenVINO, f32 inference precision) on the same inputs and compare every output.

Inputs are, by default, seeded random arrays: floats uniform in ``--input_range`` ([0, 1) unless
told), integers uniform in 0..9, uint8 in 0..255, booleans fair coins. An input the IR
preprocesses (``--mean_values``, ``--scale_values``/``--scale``, ``--reverse_input_channels``,
as given to ``convert``) gets raw values in [0, 255) and TensorFlow the preprocessed ones.
``--inputs file.npz`` gives them (keys = input names, TF layout), ``--images a.jpg,b.png`` feeds
images resized to the image input (RGB, 0..255). An output passes when max|IR - TF| <= atol + rtol * max|TF|.

``--bisect`` compares every TF tensor that the IR still carries by name, in the TF graph's
topological order, and names the first one that diverges.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from tfconv import pipeline, plugins
from tfconv.cli import build_config, setup_logging
from tfconv.errors import TfconvError, UsageError

from . import images, runtime

# ``convert`` flags that make no sense here (nothing is written).
NOT_TAKEN = {"output_dir", "model_name", "silent", "target"}
RTOL, ATOL = 1e-4, 1e-5
INT_RANGE = (0, 10)
DETECTION_WORDS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")


class ValidationError(TfconvError):
    """The IR's results differ from TensorFlow's beyond the tolerance."""

    exit_code = 1


# -- the model's inputs and outputs --------------------------------------------------------------


@dataclass
class Input:
    name: str              # TF placeholder (IR Parameter) name
    tf_feed: str           # the TF tensor fed with it
    tf_shape: tuple        # TF layout, None = dynamic
    dtype: np.dtype
    port: Any = None       # the IR input
    perm: tuple | None = None  # IR array = TF array.transpose(perm)


def _plugin_manager():
    """The plugins the ``tfconv`` command loaded, by the same environment controls."""
    def env_list(name: str) -> list[str]:
        return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]
    return plugins.get_plugin_manager(
        autoload=os.environ.get("TFCONV_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0"),
        blocked=env_list("TFCONV_DISABLE_PLUGINS"), extra=env_list("TFCONV_PLUGINS"))


def _feed_name(name: str) -> str:
    """The TF tensor an IR input stands for: a cut ``node/placeholder_out_port_P`` is ``node:P``."""
    marker = "/placeholder_out_port_"
    if marker in name:
        node, _, port = name.rpartition(marker)
        if port.isdigit():
            return f"{node}:{port}"
    if "/placeholder_port_" in name:
        msg = (f"input {name!r} cuts one input port of a node (--input P:node); validate cannot "
               "feed that to TensorFlow: cut the node's output instead (--input node:P)")
        raise UsageError(msg)
    return name


def source_inputs(source) -> list[Input]:
    found = []
    for name in source.meta.get("inputs", []):
        op = source.op(name)
        shape = op.attrs.get("shape")
        if shape is None:
            shape = op.outputs[0].shape
        dtype = np.dtype(op.attrs.get("dtype") or op.outputs[0].dtype or np.float32)
        found.append(Input(name, _feed_name(name), None if shape is None else tuple(shape), dtype))
    return found


def _find_port(ports, name: str):
    for p in ports:
        names = p.get_names()
        if name in names or f"{name}:0" in names:
            return p
    return None


def _compatible(ir: tuple, tf: tuple | None, perm: tuple) -> bool:
    if tf is None or len(tf) != len(ir):
        return tf is None
    return all(a is None or b is None or a == b for a, b in zip(ir, (tf[p] for p in perm)))


def match_inputs(inputs: list[Input], model, nchw: bool) -> None:
    """Find each input's IR port and layout (the permutation the IR applies)."""
    for inp in inputs:
        port = _find_port(model.inputs, inp.name)
        if port is None:
            have = ", ".join(runtime.port_name(p) for p in model.inputs)
            msg = (f"the IR has no input {inp.name!r} (its inputs: {have}); give validate the "
                   "same --input/--output flags the IR was converted with")
            raise UsageError(msg)
        inp.port = port
        ir_shape = runtime.partial_shape(port) or ()
        rank = len(ir_shape)
        identity = tuple(range(rank))
        nchw_perm = (0, rank - 1, *range(1, rank - 1)) if rank >= 3 else identity
        order = [nchw_perm, identity] if nchw and rank == 4 else [identity, nchw_perm]
        inp.perm = next((p for p in order if _compatible(ir_shape, inp.tf_shape, p)), None)
        if inp.perm is None:
            msg = (f"input {inp.name!r}: the IR shape {list(ir_shape)} matches neither the "
                   f"model's {list(inp.tf_shape)} nor its NCHW form")
            raise UsageError(msg)
    matched = [i.port.get_names() for i in inputs]
    extra = [p for p in model.inputs if p.get_names() not in matched]
    if extra:
        msg = (f"the IR has input(s) the model does not: {', '.join(runtime.port_name(p) for p in extra)}; "
               "give validate the same --input flags the IR was converted with")
        raise UsageError(msg)


def concrete_shape(inp: Input, batch: int | None = None) -> tuple[int, ...]:
    """The TF-layout shape to generate: the model's, the IR's where the model's is dynamic,
    the batch 1 (or ``batch``) where both are."""
    ir_shape = runtime.partial_shape(inp.port) or ()
    inv = np.argsort(inp.perm) if inp.perm else ()
    tf_shape = inp.tf_shape or tuple(None for _ in ir_shape)
    dims = []
    for i, d in enumerate(tf_shape):
        if d is None and len(ir_shape) == len(tf_shape):
            d = ir_shape[int(inv[i])]
        if d is None and i == 0:
            d = batch or 1
        if d is None:
            msg = (f"input {inp.name!r} has a dynamic dimension {i} "
                   f"(shape [{','.join('?' if x is None else str(x) for x in tf_shape)}]); fix it "
                   "with --input_shape, or give the data with --inputs/--images")
            raise UsageError(msg)
        dims.append(int(d))
    return tuple(dims)


RAW_RANGE = (0.0, 255.0)


def preprocessing_plan(config, source, inputs: list[Input]) -> dict[str, tuple[Any, int | None]]:
    """What the IR does to each raw input before the model sees it (``--mean_values``,
    ``--scale_values``/``--scale``, ``--reverse_input_channels``, or a plugin's preset), as
    the converter resolves it: ``{input name: (InputPreprocess, channel axis)}``."""
    from tfconv.config import ModelInput, Preprocessing
    spec = getattr(config, "preprocess", None) or Preprocessing()
    preset = source.meta.get("preprocess")
    if not spec and preset:
        spec = Preprocessing.from_meta(preset)
    if not spec:
        return {}
    return spec.resolve([ModelInput(i.name, (f"{i.name}:0",), i.tf_shape, i.dtype.kind == "f")
                         for i in inputs])


def preprocessed(x: np.ndarray, pre: Any, axis: int | None) -> np.ndarray:
    """``(reverse(x) - mean) / scale`` along ``axis``: what the original model sees."""
    y = x.astype(np.float64)
    shape = [1] * x.ndim
    if axis is not None:
        shape[axis] = -1
    if pre.reverse_channels and axis is not None:
        y = np.flip(y, axis=axis)
    for values, op in ((pre.mean, np.subtract), (pre.scale, np.divide)):
        if values is not None:
            v = np.asarray(values, np.float64)
            y = op(y, v.reshape(shape) if v.size > 1 else v.reshape(()))
    return y.astype(x.dtype)


def random_inputs(inputs: list[Input], seed: int, lo: float, hi: float,
                  raw: set[str] = frozenset()) -> dict[str, np.ndarray]:
    """Seeded random data; inputs in ``raw`` (the IR preprocesses them) get 0..255 pixels."""
    rng = np.random.default_rng(seed)
    data = {}
    for inp in inputs:
        shape = concrete_shape(inp)
        kind = inp.dtype.kind
        if kind == "f":
            low, high = RAW_RANGE if inp.name in raw else (lo, hi)
            data[inp.name] = rng.uniform(low, high, shape).astype(inp.dtype)
        elif kind == "b":
            data[inp.name] = rng.integers(0, 2, shape).astype(bool)
        elif inp.dtype == np.uint8:
            data[inp.name] = rng.integers(0, 256, shape).astype(np.uint8)
        elif kind in "iu":
            data[inp.name] = rng.integers(*INT_RANGE, shape).astype(inp.dtype)
        else:
            msg = f"input {inp.name!r} has type {inp.dtype}: give its values with --inputs file.npz"
            raise UsageError(msg)
    return data


def npz_inputs(path: Path, inputs: list[Input]) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"--inputs {path}: no such file") from None
    except (OSError, ValueError) as err:
        raise UsageError(f"--inputs {path} is not a numpy .npz archive ({err})") from None
    keys = {k[:-2] if k.endswith(":0") else k: k for k in archive.files}
    data = {}
    for inp in inputs:
        key = keys.get(inp.name) or keys.get(inp.tf_feed)
        if key is None:
            msg = (f"--inputs {path} has no array for input {inp.name!r} (keys: "
                   f"{', '.join(archive.files) or 'none'}); store one per input, in TF layout")
            raise UsageError(msg)
        value = archive[key]
        if inp.tf_shape is not None and (len(value.shape) != len(inp.tf_shape) or any(
                d is not None and d != v for d, v in zip(inp.tf_shape, value.shape))):
            given = ",".join(map(str, value.shape))
            takes = ",".join("?" if d is None else str(d) for d in inp.tf_shape)
            msg = (f"--inputs {path}: array {key!r} has shape [{given}], input {inp.name!r} "
                   f"takes [{takes}] (TF layout)")
            raise UsageError(msg)
        data[inp.name] = value.astype(inp.dtype, copy=False)
    return data


def image_inputs(files: list[Path], inputs: list[Input], seed: int, lo: float,
                 hi: float, raw: set[str] = frozenset()) -> dict[str, np.ndarray]:
    """The images (RGB, 0..255) as the one 4-D input; other inputs random."""
    four = [i for i in inputs if i.tf_shape is not None and len(i.tf_shape) == 4]
    if len(four) != 1:
        raise UsageError(f"--images needs a model with one 4-D image input; it has {len(four)}")
    inp = four[0]
    ir_shape = runtime.partial_shape(inp.port)
    tf_shape = list(inp.tf_shape)
    for i in range(4):
        if tf_shape[i] is None:
            tf_shape[i] = ir_shape[int(np.argsort(inp.perm)[i])]
    if tf_shape[0] is not None and tf_shape[0] != len(files):
        raise UsageError(f"--images gives {len(files)} image(s) but the input {inp.name!r} "
                         f"takes a batch of {tf_shape[0]}")
    pictures = [images.open_image(f, "validate") for f in files]
    height, width = tf_shape[1], tf_shape[2]
    if height is None or width is None:
        width, height = pictures[0].size
    batch = images.to_tensor([images.resize(p, width, height) for p in pictures], "NHWC",
                             inp.dtype, bgr=False)
    others = random_inputs([i for i in inputs if i is not inp], seed, lo, hi, raw)
    return {inp.name: batch, **others}


# -- comparing -----------------------------------------------------------------------------------


def _perms(rank: int) -> list[tuple[int, ...]]:
    """IR -> TF layout candidates: identity, NCHW -> NHWC, then every other permutation."""
    first = [tuple(range(rank))]
    if rank >= 3:
        first.append((0, *range(2, rank), 1))
    rest = [p for p in itertools.permutations(range(rank)) if p not in first] if rank <= 5 else []
    return first + rest


def align(ir: np.ndarray, tf: np.ndarray) -> np.ndarray | None:
    """``ir`` in ``tf``'s layout: as is when the shapes agree, else the transposes whose shape
    matches (the closest one when several do); ``None`` when no transpose fits."""
    if ir.shape == tf.shape:
        return ir
    if ir.size != tf.size or ir.ndim != tf.ndim:
        return None
    fits = [ir.transpose(p) for p in _perms(ir.ndim) if tuple(ir.shape[i] for i in p) == tf.shape]
    if not fits:
        return None
    return min(fits, key=lambda a: float(np.max(np.abs(a.astype(np.float64) - tf))) if a.size else 0)


@dataclass
class Comparison:
    name: str
    tf_shape: tuple
    ir_shape: tuple
    max_abs: float
    rel: float
    ok: bool
    note: str = ""

    def line(self) -> str:
        status = "OK" if self.ok else "FAIL"
        fmt = lambda s: "[" + ",".join(map(str, s)) + "]"  # noqa: E731
        return (f"{self.name}: TF {fmt(self.tf_shape)} IR {fmt(self.ir_shape)}  max abs "
                f"{self.max_abs:.3e}  rel {self.rel:.3e}{'  ' + self.note if self.note else ''}  "
                f"{status}")


def compare(name: str, tf: np.ndarray, ir: np.ndarray, rtol: float, atol: float) -> Comparison:
    tf, ir = np.asarray(tf), np.asarray(ir)
    aligned = align(ir, tf)
    if aligned is None:
        return Comparison(name, tf.shape, ir.shape, float("inf"), float("inf"), False,
                          "shapes differ")
    if tf.size == 0:
        return Comparison(name, tf.shape, ir.shape, 0.0, 0.0, True)
    if tf.dtype.kind in "biu" and aligned.dtype.kind in "biu":
        diff = np.abs(aligned.astype(np.int64) - tf.astype(np.int64))
    else:
        diff = np.abs(aligned.astype(np.float64) - tf.astype(np.float64))
    finite = np.isfinite(tf) if tf.dtype.kind == "f" else np.ones(tf.shape, bool)
    same_nonfinite = (~finite) & (np.isnan(tf) == np.isnan(aligned)) & \
        ((tf == aligned) | np.isnan(tf)) if tf.dtype.kind == "f" else ~finite
    diff = np.where(same_nonfinite, 0.0, diff)
    scale = float(np.max(np.abs(tf[finite]))) if finite.any() else 0.0
    max_abs = float(np.nan_to_num(np.max(diff), nan=np.inf))
    rel = max_abs / scale if scale else (0.0 if max_abs == 0 else float("inf"))
    ok = max_abs <= atol + rtol * scale
    note = ""
    if tf.ndim == 2 and tf.shape[1] >= 2 and tf.dtype.kind == "f":
        top1 = int(np.sum(np.argmax(tf, 1) == np.argmax(aligned, 1)))
        k = min(5, tf.shape[1])
        tops = lambda a: [set(r) for r in np.argsort(-a, axis=1, kind="stable")[:, :k]]  # noqa: E731
        top5 = sum(a == b for a, b in zip(tops(tf), tops(aligned)))
        note = f"top-1 {top1}/{tf.shape[0]}  top-{k} {top5}/{tf.shape[0]}"
    return Comparison(name, tf.shape, ir.shape, max_abs, rel, ok, note)


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_detections(tf_out: dict[str, np.ndarray], ir_out: dict[str, np.ndarray],
                     rtol: float, atol: float, min_score: float = 0.3) -> tuple[str, bool] | None:
    """IoU-match the TF detections (score >= ``min_score``) with the IR's of the same class:
    a report line and whether every one matched with the same score (within tolerance)."""
    from .detect import parse_detections
    tf_dets, ir_dets = parse_detections(tf_out), parse_detections(ir_out)
    if tf_dets is None or ir_dets is None:
        return None
    wanted = [d for d in tf_dets if d.score >= min_score]
    free = list(ir_dets)
    matched, score_diff, iou_min = 0, 0.0, 1.0
    for det in wanted:
        best = max(((d, _iou(det.box, d.box)) for d in free if d.class_id == det.class_id),
                   key=lambda t: t[1], default=(None, 0.0))
        if best[0] is not None and best[1] >= 0.5:
            free.remove(best[0])
            matched += 1
            score_diff = max(score_diff, abs(best[0].score - det.score))
            iou_min = min(iou_min, best[1])
    ok = matched == len(wanted) and score_diff <= atol + rtol
    line = (f"detections: {matched}/{len(wanted)} TF detections (score >= {min_score}) matched "
            f"by IoU >= 0.5 and class; min IoU {iou_min:.4f}, max score diff {score_diff:.3e}")
    return line, ok


# -- the command ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One validation: the model, both runtimes' inputs and the IR."""

    config: Any
    pm: Any
    source_order: list[str]
    source_types: dict[str, str]
    producers: dict[str, list[str]]   # TF node -> the nodes feeding it
    inputs: list[Input]
    outputs: list[str]       # TF output tensor names
    model: Any               # ov.Model
    tf_feeds: dict[str, np.ndarray]
    ir_feeds: list[np.ndarray]
    device: str

    def reference(self, names: list[str]) -> dict[str, np.ndarray]:
        result = self.pm.hook.tfconv_run_reference(config=self.config, feeds=self.tf_feeds,
                                                   outputs=names)
        if result is None:
            msg = (f"no installed plugin runs the original model {self.config.model} "
                   "(tfconv_run_reference); install tfconv-tf-frontend with TensorFlow")
            raise UsageError(msg)
        return result

    def infer(self, model, ports) -> list[np.ndarray]:
        compiled = runtime.compile_model(model, "validate", self.device)
        result = compiled(self.ir_feeds)
        return [np.asarray(result[compiled.outputs[i]]) for i in ports]


def _prepare(kw: dict, own: dict) -> Run:
    config = build_config(dict(kw, output_dir=None, model_name=None))
    pm = _plugin_manager()
    runtime.openvino("validate")
    runtime.load_extensions(own["extension"], "validate")
    if own["images"]:
        images.pillow("validate")
    if own["ir"]:
        runtime.check_ir(own["ir"], "--ir")
    source = pipeline.load(pm, config)
    if own["ir"]:
        pipeline.run_passes(plugins.passes(pm), source, config, "source")
        model = runtime.read_ir(own["ir"], "validate")
    else:
        ir = pipeline.transform(pm, source, config)
        tmp = Path(tempfile.mkdtemp(prefix="tfconv-validate-"))
        try:
            written = pipeline.emit(pm, ir, dataclasses.replace(config, output_dir=tmp,
                                                                model_name="model"))
            model = runtime.read_ir(next(p for p in written if p.suffix == ".xml"), "validate")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    # After the source passes: TF1 while loops are one node each (the graph is acyclic), and
    # plugins have chosen the outputs and input shapes (an OD API model's detections, batch 1).
    order = source.topological_order()
    types = {n: source.op(n).type for n in order}
    producers = {n: [p.node for p in source.inputs(n)] for n in order}
    inputs = source_inputs(source)
    outputs = [f"{p.node}:{p.index}" for p in source.outputs]
    match_inputs(inputs, model, config.nchw)
    plan = preprocessing_plan(config, source, inputs)
    lo, hi = own["input_range"]
    if own["inputs"]:
        data = npz_inputs(own["inputs"], inputs)
    elif own["images"]:
        data = image_inputs(own["images"], inputs, own["seed"], lo, hi, set(plan))
    else:
        data = random_inputs(inputs, own["seed"], lo, hi, set(plan))
    tf_feeds = {i.tf_feed: preprocessed(data[i.name], *plan[i.name]) if i.name in plan
                else data[i.name] for i in inputs}
    source_of_data = (f"from {own['inputs']}" if own["inputs"] else "from the images"
                      if own["images"] else f"random, seed {own['seed']}")
    for inp in inputs:
        x = data[inp.name]
        ir_shape = ",".join(str(d) for d in x.transpose(inp.perm).shape)
        click.echo(f"[ INFO ] Input {inp.name}: TF [{','.join(map(str, x.shape))}] IR [{ir_shape}] "
                   f"{x.dtype} ({source_of_data})")
        if inp.name in plan:
            pre = plan[inp.name][0]
            click.echo(f"[ INFO ] Input {inp.name}: the IR takes raw data, TensorFlow gets "
                       f"{pre.formula(inp.name)}")
    for spec in config.inputs:  # values frozen with --input name->VALUE
        if spec.value is not None and spec.tensor:
            tf_feeds[spec.tensor] = np.asarray(spec.value)
    ir_feeds = []  # in the IR's input order (the wrappers OpenVINO returns differ: match names)
    for port in model.inputs:
        inp = next(i for i in inputs if i.port.get_names() == port.get_names())
        ir_feeds.append(np.ascontiguousarray(data[inp.name].transpose(inp.perm)))
    return Run(config, pm, order, types, producers, inputs, outputs, model, tf_feeds, ir_feeds,
               own["device"])


def _output_ports(run: Run) -> list[int]:
    found = []
    for name in run.outputs:
        node, _, port = name.rpartition(":")
        candidates = [name] + ([node] if port == "0" else [])
        idx = next((i for i, p in enumerate(run.model.outputs)
                    if any(c in p.get_names() for c in candidates)), None)
        if idx is None:
            have = ", ".join(runtime.port_name(p) for p in run.model.outputs)
            msg = (f"the IR has no output {name!r} (its outputs: {have}); give validate the same "
                   "--output flags the IR was converted with")
            raise UsageError(msg)
        found.append(idx)
    return found


def validate_outputs(run: Run, rtol: float, atol: float) -> list[Comparison]:
    ports = _output_ports(run)
    ref = run.reference(run.outputs)
    got = run.infer(run.model, ports)
    rows = [compare(name, ref[name], value, rtol, atol) for name, value in zip(run.outputs, got)]
    detection = match_detections(dict(zip(run.outputs, (ref[n] for n in run.outputs))),
                                 dict(zip(run.outputs, got)), rtol, atol)
    for row in rows:
        click.echo(f"[ INFO ] Output {row.line()}")
    if detection is not None:
        line, ok = detection
        click.echo(f"[ INFO ] {line}")
        if ok:  # the same detections, maybe in another order: the raw tensors need not agree
            for row in rows:
                if not row.ok and any(w in row.name for w in DETECTION_WORDS):
                    row.ok, row.note = True, (row.note + " (detections match)").strip()
    return rows


CONSTANT_TYPES = ("Const", "Placeholder", "PlaceholderV2")


def absorbed(run: Run, node: str, carried: set[str]) -> list[str]:
    """The TF nodes an IR port holding ``node``'s value computed too: its producers, up to the
    tensors the IR carries by name, without constant sub-graphs (weights and their reads)."""
    constant: set[str] = set()
    for n in run.source_order:
        ins = run.producers[n]
        if run.source_types[n] == "Const" or (ins and all(i in constant for i in ins)):
            constant.add(n)
    found: set[str] = set()
    stack = [node]
    while stack:
        for src in run.producers.get(stack.pop(), []):
            if src in found or src in carried or src in constant or \
                    run.source_types.get(src) in CONSTANT_TYPES:
                continue
            found.add(src)
            stack.append(src)
    position = {n: i for i, n in enumerate(run.source_order)}
    return sorted(found | {node}, key=lambda n: position.get(n, -1))


def _reference_of_present(run: Run, names: list[str]) -> dict[str, np.ndarray]:
    """TF values of ``names``, leaving out those the reference says the model lacks."""
    names = list(names)
    while names:
        try:
            return run.reference(names)
        except UsageError as err:
            missing = [n for n in names if repr(n) in str(err)]
            if not missing:
                raise
            names = [n for n in names if n not in missing]
    return {}


def bisect(run: Run, rtol: float, atol: float) -> str | None:
    """The first TF tensor (topological order) whose IR counterpart diverges; prints the walk."""
    by_name: dict[str, Any] = {}
    for op in run.model.get_ordered_ops():
        if op.get_type_name() in ("Result", "Parameter", "Constant"):
            continue
        for out in op.outputs():
            for n in out.get_names():
                by_name.setdefault(n, out)
    # Each IR port, with the TF tensors it carries in TF order; it holds the last one's value
    # (a fused op carries the names of the ops it absorbed).
    ports: dict[tuple[str, int], tuple[Any, list[str]]] = {}
    for node in run.source_order:
        if run.source_types[node] in ("Const", "Placeholder", "PlaceholderV2"):
            continue
        for i in range(8):
            key = f"{node}:{i}"
            out = by_name.get(key) or (by_name.get(node) if i == 0 else None)
            if out is None:
                if i > 0:
                    break
                continue
            pkey = (out.get_node().get_friendly_name(), out.get_index())
            ports.setdefault(pkey, (out, []))[1].append(key)
    if not ports:
        click.echo("[ INFO ] bisect: the IR carries no TF tensor names to compare")
        return None
    position = {n: i for i, n in enumerate(run.source_order)}
    entries = sorted(ports.values(), key=lambda e: position[e[1][0].rsplit(":", 1)[0]])
    model = run.model.clone()
    wanted = [sorted(out.get_names())[0] for out, _ in entries]
    model.add_outputs(wanted)  # by name: the ports belong to the original, not to the clone
    index = {}
    for i, port in enumerate(model.outputs):
        for n in port.get_names():
            index.setdefault(n, i)
    values = run.infer(model, [index[n] for n in wanted])
    ref = _reference_of_present(run, [names[-1] for _, names in entries])
    kept = [(e, v) for e, v in zip(entries, values) if e[1][-1] in ref]
    if len(kept) < len(entries):
        click.echo(f"[ INFO ] bisect: {len(entries) - len(kept)} tensor name(s) of the IR are not "
                   "in the TensorFlow model (a loader renamed them); skipped")
    entries, values = [e for e, _ in kept], [v for _, v in kept]
    click.echo(f"[ INFO ] bisect: comparing {len(entries)} TF tensors the IR carries, in TF order")
    last_ok = None
    for (out, names), value in zip(entries, values):
        row = compare(names[-1], ref[names[-1]], value, rtol, atol)
        if not row.ok:
            carried = {n.rsplit(":", 1)[0] for o, ns in entries if o is not out for n in ns}
            fused = absorbed(run, names[-1].rsplit(":", 1)[0], carried)
            node = fused[0]
            layer = out.get_node()
            click.echo(f"[ INFO ] bisect: first diverging TF node: {node} "
                       f"({run.source_types.get(node, '?')})")
            computes = ", ".join(f"{n} ({run.source_types.get(n, '?')})" for n in fused[:8])
            click.echo(f"          its IR counterpart: layer {layer.get_friendly_name()!r} "
                       f"({layer.get_type_name()}) output {out.get_index()}, which computes "
                       f"the TF nodes {computes}{', ...' if len(fused) > 8 else ''}")
            click.echo(f"          {row.line()}")
            if last_ok:
                click.echo(f"          last agreeing tensor before it: {last_ok}")
            return node
        last_ok = names[-1]
    click.echo(f"[ INFO ] bisect: all {len(entries)} compared tensors agree")
    return None


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--input_range {text!r}: give LOW,HIGH, e.g. 0,1 or -1,1") from None
    if not lo < hi:
        raise UsageError(f"--input_range {text!r}: LOW must be below HIGH")
    return lo, hi


OWN_OPTIONS = [
    click.Option(["--ir"], type=click.Path(path_type=Path),
                 help="Validate this IR (model.xml) instead of converting the model in memory."),
    click.Option(["--inputs"], type=click.Path(path_type=Path),
                 help="Input values: a .npz with one array per input name (TF layout)."),
    click.Option(["--images"], help="Image files for the image input, comma separated (RGB, 0..255)."),
    click.Option(["--seed"], type=int, default=0, show_default=True, help="Seed of the random inputs."),
    click.Option(["--input_range"], default="0,1", show_default=True,
                 help="Range LOW,HIGH of random float inputs (uniform)."),
    click.Option(["--rtol"], type=float, default=RTOL, show_default=True,
                 help="Tolerance relative to max|TF| of each output."),
    click.Option(["--atol"], type=float, default=ATOL, show_default=True,
                 help="Absolute tolerance added to rtol * max|TF|."),
    click.Option(["--bisect"], is_flag=True,
                 help="Name the first TF node whose IR counterpart diverges."),
    click.Option(["--device", "-d"], default="CPU", show_default=True, help="OpenVINO device."),
    click.Option(["--extension"], multiple=True, metavar="EXT",
                 help="OpenVINO extension for custom IR layers: a library (.so) or a Python module (dotted name or .py file) with an OPENVINO_EXTENSIONS list of openvino.Op classes; repeatable, or comma separated."),
]
OWN = [o.name for o in OWN_OPTIONS]


def _run(**kw) -> None:
    own = {k: kw.pop(k) for k in OWN}
    level = (kw.get("log_level") or "WARNING").upper()
    setup_logging(level)
    own["input_range"] = _range(own["input_range"])
    if own["images"]:
        own["images"] = [Path(p.strip()) for p in own["images"].split(",") if p.strip()]
    if own["inputs"] and own["images"]:
        raise UsageError("give --inputs or --images, not both")
    run = _prepare(kw, own)
    rows = validate_outputs(run, own["rtol"], own["atol"])
    failed = [r for r in rows if not r.ok]
    if own["bisect"]:
        bisect(run, own["rtol"], own["atol"])
    if failed:
        worst = failed[0]
        msg = (f"validation failed: output {worst.name} differs from TensorFlow: max abs "
               f"{worst.max_abs:.3e}, rel {worst.rel:.3e} > rtol {own['rtol']:g} (atol {own['atol']:g})")
        if len(failed) > 1:
            msg += f"; also {', '.join(r.name for r in failed[1:])}"
        if own["ir"]:
            msg += ("\nif the IR was converted with --input, --output, --mean_values, "
                    "--scale_values or --reverse_input_channels, give validate the same flags")
        if not own["bisect"]:
            msg += "\nrerun with --bisect to find the first diverging node"
        raise ValidationError(msg)
    click.echo(f"[ SUCCESS ] {len(rows)} output(s) match TensorFlow within rtol {own['rtol']:g}, "
               f"atol {own['atol']:g}")


def make_command(convert: click.Command | None) -> click.Command:
    """``validate`` with ``convert``'s model flags (those plugins added included) and its own."""
    taken = [copy.copy(p) for p in (convert.params if convert else []) if p.name not in NOT_TAKEN]
    return click.Command(
        "validate", callback=_run, params=taken + [copy.copy(o) for o in OWN_OPTIONS],
        help=("Run the model in TensorFlow and its IR in OpenVINO on the same inputs and compare "
              "every output (max abs and relative error, top-1/top-5, detections).\n\n"
              "The model flags are convert's; the IR is converted in memory unless --ir names one. "
              "Random inputs: floats uniform in --input_range, ints in 0..9, uint8 in 0..255. "
              f"An output passes when max|IR-TF| <= atol + rtol * max|TF| (defaults {ATOL:g}, "
              f"{RTOL:g}). Exit status 1 when one does not."),
        context_settings={"ignore_unknown_options": False})
