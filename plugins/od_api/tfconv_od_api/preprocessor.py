"""The OD API Preprocessor's per-image ``map_fn`` loop, replaced by batch-wide TF ops.

The exporter's ``Preprocessor`` scope runs ``tf.map_fn`` over the batch: a TensorArray is
scattered from the (cast, sometimes already normalised) image batch, a while loop reads one
image per iteration, resizes it and writes two TensorArrays, the resized image and its true
shape ``[h, w, c]``, which two ``TensorArrayGatherV3`` ops stack into ``[B, H', W', C]`` and
``[B, 3]``. Every image of one input tensor has the same size, so the loop computes the same
resize for all of them; this module finds the loop by structure (the TensorArrayScatterV3
under ``Preprocessor/``, the reads and writes of its frame) and computes both results once
for the whole batch with plain TF ops:

* ``fixed_shape_resizer``: the body resizes to a constant size; the new ops resize ``X`` to
  that size with the body's resize op type and attributes, and the true shape is the body's
  constant ``[height, width, c]``.
* ``keep_aspect_ratio_resizer`` (``resize_to_range``): the body is a ``cond`` on
  ``h < w`` whose branches resize with ``preserve_aspect_ratio`` to the target
  ``(min, max)`` (true branch) or ``(max, min)`` (false branch). The new ops compute, in
  float32 as TF does, ``scale = min(th / h, tw / w)``, ``new_h = round_half_even(scale * h)``,
  ``new_w = round_half_even(scale * w)``, resize to ``(new_h, new_w)`` and give the true shape
  ``[new_h, new_w, c]``. The two target sizes are read from the body's constants, the branch
  of each from the port of the ``Switch`` its image passes through.

* older exporters' ``keep_aspect_ratio_resizer`` (``_compute_new_dynamic_size``): one resize
  whose size scales the shorter side to ``min_dimension`` (``round_half_even``) unless the
  longer side would then exceed ``max_dimension``, in which case the longer side is scaled to
  ``max_dimension``; the two dimensions are read from the body's ``RealDiv`` by
  ``min(h, w)`` and by ``max(h, w)``.
* ``pad_to_max_dimension`` (keep_aspect_ratio only): the body unstacks the channels, pads each
  with ``PadV2`` to ``max_dimension`` at the bottom and right with its per-channel value and
  stacks them; the new ops do the same on the batch (the true shape stays the unpadded size).

When the export normalises before the loop (SSD) and only the loop reads the normalised image,
the normalisation runs after the resize instead (:func:`_affine_before`).

Anything else in the body (an older export's min/max-dimension arithmetic, a cast after the
resize) is refused with one error naming the loop, rather than converted into something that
might differ from TensorFlow.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfconv.errors import TfconvError
from tfconv.graph import Graph, Op, Port

from .tfops import F32, I32, TfOps

SCOPE = "Preprocessor"
RESIZE_OPS = ("ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea")
# Ops a resized image may pass through between the resize and the TensorArray write.
PASS_OPS = ("Squeeze", "Identity", "Merge", "Switch")
RESIZE_ATTRS = ("align_corners", "half_pixel_centers")


class PreprocessorError(TfconvError):
    """The Preprocessor loop has a body this module does not reproduce."""


@dataclass
class Loop:
    """One Preprocessor map_fn loop."""

    scatter: Op            # TensorArrayScatterV3: its value input is the image batch
    frame: str             # the while scope, e.g. "Preprocessor/map/while"
    image_gather: Op       # TensorArrayGatherV3 of the resized images
    shape_gather: Op | None  # TensorArrayGatherV3 of the true shapes, if the model has it
    image_write: Op
    shape_write: Op | None


def _const(graph: Graph, port: Port) -> np.ndarray | None:
    op = graph.op(port.node)
    while op.type in ("Identity", "Enter") and graph.inputs(op.name):
        op = graph.op(graph.inputs(op.name)[0].node)
    return op.value


def _through(graph: Graph, port: Port, types: tuple[str, ...]) -> Op:
    """The first producer above ``port`` (following input 0) whose type is not in ``types``."""
    op = graph.op(port.node)
    while op.type in types and graph.inputs(op.name):
        op = graph.op(graph.inputs(op.name)[0].node)
    return op


def find_loops(graph: Graph) -> list[Loop]:
    """Every Preprocessor map_fn loop: scatter -> while frame -> gathers."""
    found = []
    handles: dict[str, list[Op]] = {}  # TensorArray handle -> its ops reading it as input 0
    for op in graph:
        if op.type in ("TensorArrayWriteV3", "TensorArrayGatherV3", "TensorArrayReadV3"):
            handle = _through(graph, graph.inputs(op.name)[0], ("Enter", "Identity"))
            handles.setdefault(handle.name, []).append(op)
    for scatter in graph.ops_of_type("TensorArrayScatterV3"):
        if SCOPE not in scatter.name.split("/")[:-1]:
            continue
        ta = _through(graph, graph.inputs(scatter.name)[0], ("Enter", "Identity"))
        reads = [r for r in handles.get(ta.name, ()) if r.type == "TensorArrayReadV3"]
        if len(reads) != 1:
            continue
        frame = reads[0].name.rsplit("/", 1)[0]
        writes = [w for w in graph.ops_of_type("TensorArrayWriteV3")
                  if w.name.startswith(frame + "/")]
        pairs = []  # (write, gather)
        for write in writes:
            out_ta = _through(graph, graph.inputs(write.name)[0], ("Enter", "Identity"))
            gathers = [g for g in handles.get(out_ta.name, ()) if g.type == "TensorArrayGatherV3"]
            if len(gathers) == 1:
                pairs.append((write, gathers[0]))
        image = [(w, g) for w, g in pairs if not _is_shape_value(graph, graph.inputs(w.name)[2])]
        shape = [(w, g) for w, g in pairs if _is_shape_value(graph, graph.inputs(w.name)[2])]
        if len(image) != 1 or len(shape) > 1:
            continue
        found.append(Loop(scatter, frame, image[0][1], shape[0][1] if shape else None,
                          image[0][0], shape[0][0] if shape else None))
    return found


def _is_shape_value(graph: Graph, port: Port) -> bool:
    """The true-shape write's value: a constant ``[h, w, c]``, a ``Shape`` op, or (older
    exporters) the ``[h, w, c]`` stack of scalars (a Pack on axis 0; a stack of padded
    channels is a Pack on axis 2)."""
    op = _through(graph, port, ("Identity",))
    return op.type in ("Const", "Shape") or (op.type == "Pack"
                                             and int(op.attrs.get("axis", 0)) == 0)


def _resizes(graph: Graph, loop: Loop) -> list[Op]:
    prefix = loop.frame + "/"
    return [op for op in graph if op.type in RESIZE_OPS and op.name.startswith(prefix)]


def _fail(loop: Loop, why: str) -> PreprocessorError:
    return PreprocessorError(
        f"the OD API Preprocessor loop {loop.frame!r} {why}; tfconv reproduces the "
        "fixed_shape_resizer and keep_aspect_ratio_resizer (with or without "
        "pad_to_max_dimension) bodies of the Object Detection API exporter")


@dataclass
class Padding:
    """``pad_to_max_dimension``: each channel padded to ``size`` x ``size`` with its value."""

    size: int
    values: list[float]


def _padding(graph: Graph, loop: Loop) -> Padding | None:
    """The body's ``pad_to_max_dimension`` step (unstack the channels, PadV2 each to the max
    dimension with its per-channel value, stack them again), or None when it has none."""
    stack = _through(graph, graph.inputs(loop.image_write.name)[2], ("Identity",))
    if stack.type != "Pack" or int(stack.attrs.get("axis", 0)) not in (2, -1):
        return None
    values, unpack = [], None
    for i, port in enumerate(graph.inputs(stack.name)):
        pad = graph.op(port.node)
        ins = graph.inputs(pad.name)
        src = graph.op(ins[0].node)
        if pad.type not in ("Pad", "PadV2") or src.type != "Unpack" or ins[0].index != i \
                or (unpack is not None and src.name != unpack.name):
            return None
        unpack = src
        value = _const(graph, ins[2]) if pad.type == "PadV2" and len(ins) > 2 else np.float32(0)
        if value is None:
            return None
        values.append(float(np.asarray(value).reshape(-1)[0]))
        sizes = set()
        for name in graph.ancestors([ins[1].node]):
            op = graph.op(name)
            if op.type == "Sub":
                first = _const(graph, graph.inputs(name)[0])
                if first is not None and first.size == 1:
                    sizes.add(int(first.reshape(-1)[0]))
        if len(sizes) != 1:
            return None
    if unpack is None or int(unpack.attrs.get("axis", 0)) not in (2, -1):
        return None
    return Padding(sizes.pop(), values)


def _check_body(graph: Graph, loop: Loop, resizes: list[Op]) -> Padding | None:
    """Refuse a body this module does not reproduce; returns its padding step, if any."""
    prefix = loop.frame + "/"
    pads = [op.name for op in graph if op.name.startswith(prefix)
            and op.type in ("Pad", "PadV2", "MirrorPad")]
    padding = _padding(graph, loop) if pads else None
    if pads and padding is None:
        raise _fail(loop, f"pads the resized image ({pads[0]}) in a way not recognised as "
                    "pad_to_max_dimension")
    written = graph.inputs(loop.image_write.name)[2]
    if padding is not None:  # stack <- PadV2 <- Unpack <- the resized image
        stack = _through(graph, written, ("Identity",))
        pad = graph.inputs(stack.name)[0].node
        written = graph.inputs(graph.inputs(pad)[0].node)[0]
    producer = _through(graph, written, PASS_OPS)
    if producer.type not in RESIZE_OPS:
        raise _fail(loop, f"writes {producer.name} ({producer.type}), not the output of a resize")
    kinds = {(op.type, tuple(bool(op.attrs.get(a, False)) for a in RESIZE_ATTRS))
             for op in resizes}
    if len(kinds) != 1:
        raise _fail(loop, f"resizes in {len(kinds)} different ways")
    return padding


def _branch(graph: Graph, resize: Op) -> bool | None:
    """True when the resize's image comes through the branch taken for height < width
    (False: the other one; None: no such cond): the Switch port, and its predicate."""
    port = graph.inputs(resize.name)[0]
    for _ in range(16):
        op = graph.op(port.node)
        if op.type == "Switch":
            taken = port.index == 1
            pred = _through(graph, graph.inputs(op.name)[1], ("Identity",))
            dims = [_dim_of(graph, p) for p in graph.inputs(pred.name)]
            if pred.type in ("Less", "LessEqual") and dims == [0, 1]:
                return taken
            if pred.type in ("Greater", "GreaterEqual") and dims == [1, 0]:
                return taken
            return None
        ins = graph.inputs(op.name)
        if not ins or op.type not in ("ExpandDims", "Identity", "Squeeze", "Cast"):
            return None
        port = ins[0]
    return None


def _dim_of(graph: Graph, port: Port) -> int | None:
    """``i`` when ``port`` is ``tf.shape(image)[i]`` (a shrinking StridedSlice of a Shape)."""
    op = graph.op(port.node)
    if op.type != "StridedSlice" or graph.op(graph.inputs(op.name)[0].node).type != "Shape":
        return None
    begin = _const(graph, graph.inputs(op.name)[1])
    return None if begin is None or begin.size != 1 else int(begin.reshape(-1)[0])


def _target(graph: Graph, loop: Loop, resize: Op) -> np.ndarray:
    """The ``[2]`` target size constant a preserve_aspect_ratio resize computes from."""
    size = graph.inputs(resize.name)[1]
    consts = []
    for name in sorted(graph.ancestors([size.node])):
        op = graph.op(name)
        value = op.value
        if value is not None and value.shape == (2,) and value.dtype.kind == "i" \
                and op.name.startswith(loop.frame + "/") and np.all(value > 0):
            consts.append(value)
    ops = {graph.op(n).type for n in graph.ancestors([size.node])}
    if len(consts) != 1 or not {"Minimum", "Round"} <= ops:
        raise _fail(loop, f"computes the size of {resize.name} in a way not recognised as "
                    "resize_to_range (no min(target/size) scale with rounding)")
    return consts[0].astype(np.int32)


def _min_max_dimensions(graph: Graph, loop: Loop, resize: Op) -> tuple[float, float | None]:
    """Older exporters' resize_to_range (``_compute_new_dynamic_size``): the min_dimension
    divided by ``min(h, w)`` and the max_dimension divided by ``max(h, w)`` in the size's
    computation."""
    found: dict[str, float] = {}
    for name in sorted(graph.ancestors([graph.inputs(resize.name)[1].node])):
        op = graph.op(name)
        if op.type not in ("RealDiv", "Div") or not name.startswith(loop.frame + "/"):
            continue
        num, den = graph.inputs(name)
        value = _const(graph, num)
        by = _through(graph, den, ("Identity",)).type
        if value is not None and value.size == 1 and by in ("Minimum", "Maximum"):
            found[by] = float(value.reshape(-1)[0])
    if "Minimum" not in found:
        raise _fail(loop, f"computes the size of {resize.name} in a way not recognised as "
                    "resize_to_range (no min_dimension / min(height, width) scale)")
    return found["Minimum"], found.get("Maximum")


def _min_max_size(b: TfOps, shape: Port, min_dim: float, max_dim: float | None) -> Port:
    """``_compute_new_dynamic_size`` in float32 as TF: scale the shorter side to min_dimension
    (rounded half to even); if the longer side then exceeds max_dimension, scale the longer
    side to max_dimension instead."""
    hf = b.cast(b.element(shape, 1, "height"), F32, "height_f")
    wf = b.cast(b.element(shape, 2, "width"), F32, "width_f")

    def scaled(factor: Port, tag: str) -> tuple[Port, Port]:
        return tuple(b.cast(b.op("Round", f"{tag}_round_{d}", [b.binary("Mul", v, factor,
                                                                          f"{tag}_{d}_f")]),
                            I32, f"{tag}_{d}") for v, d in ((hf, "h"), (wf, "w")))

    lh, lw = scaled(b.binary("RealDiv", b.const(np.float32(min_dim), "min_dimension"),
                             b.binary("Minimum", hf, wf, "shorter"), "large_scale"), "large")
    large = b.pack([lh, lw], "large_size")
    if max_dim is None:
        return large
    max_c = b.const(np.float32(max_dim), "max_dimension")
    sh, sw = scaled(b.binary("RealDiv", max_c, b.binary("Maximum", hf, wf, "longer"),
                             "small_scale"), "small")
    too_big = b.binary("Greater", b.cast(b.binary("Maximum", lh, lw, "large_longer"), F32,
                                         "large_longer_f"), max_c, "too_big")
    return b.op("SelectV2", "size", [too_big, b.pack([sh, sw], "small_size"), large])


def _pad(b: TfOps, image: Port, size: Port, padding: Padding) -> Port:
    """``image`` [B,h,w,C] padded at the bottom and right to the max dimension, each channel with
    its own value, as the body's unstack / PadV2 / stack does. Written as one zero pad plus the
    values times a mask that is 1 in the padding (``x + 0*v`` is ``x`` and ``0 + 1*v`` is ``v``,
    exactly): the unstacked channels ran on OpenVINO's reference Split and Concat (EfficientDet-D0
    fixture: 1.9 of its 16 ms)."""
    zero, one = b.const(np.int32(0), "pad/zero"), b.const(np.int32(1), "pad/one")
    edge = b.const(np.int32(padding.size), "pad/max_dimension")
    h, w = b.element(size, 0, "pad/h"), b.element(size, 1, "pad/w")
    paddings = b.pack([b.pack([zero, zero], "pad/batch"),
                       b.pack([zero, b.binary("Sub", edge, h, "pad/bottom")], "pad/rows"),
                       b.pack([zero, b.binary("Sub", edge, w, "pad/right")], "pad/cols"),
                       b.pack([zero, zero], "pad/channels")], "pad/paddings")
    values = np.asarray(padding.values, np.float32)

    def pad(x: Port, value: float, name: str) -> Port:
        return b.op("PadV2", name, [x, paddings, b.const(np.float32(value), f"{name}/value")],
                    F32, None, Tpaddings=I32)

    if np.all(values == values[0]):
        return pad(image, float(values[0]), "pad/image")
    inside = b.op("Fill", "pad/inside", [b.pack([one, h, w, one], "pad/inside_shape"),
                                         b.const(np.float32(0), "pad/inside_value")],
                  F32, None, index_type=I32)
    outside = pad(inside, 1.0, "pad/outside")  # [1, max, max, 1]: 1 in the padding
    fill = b.binary("Mul", outside, b.const(values, "pad/values"), "pad/fill")
    return b.binary("AddV2", pad(image, 0.0, "pad/image"), fill, "pad/padded")


AFFINE_OPS = ("Mul", "Sub", "Add", "AddV2", "RealDiv")


def _variable_input(graph: Graph, op: Op) -> int:
    """The non-constant input of a binary op with one scalar constant input."""
    return 1 if _const(graph, graph.inputs(op.name)[0]) is not None else 0


def _affine_before(graph: Graph, loop: Loop, x: Port) -> list[Op]:
    """The per-element normalisation that produces the loop's input (``(2/255) * image - 1``
    in SSD exports), outermost first, when only the loop reads it; else ``[]``.

    Bilinear, bicubic, area and nearest resizing commute with ``a * x + b`` up to float
    rounding (their weights sum to 1), so it can run after the resize instead: on the
    resized image, not on the camera frame."""
    chain: list[Op] = []
    port = x
    frame_scope = loop.frame.rsplit("/", 1)[0] + "/"   # e.g. Preprocessor/map/
    while True:
        op = graph.op(port.node)
        ins = graph.inputs(op.name) if op.type in AFFINE_OPS else []
        if len(ins) != 2 or SCOPE not in op.name.split("/")[:-1]:
            break
        scalars = [_const(graph, p) for p in ins]
        if sum(v is not None and v.size == 1 for v in scalars) != 1:
            break
        if op.type == "RealDiv" and scalars[0] is not None:
            break  # c / x is not affine
        inside = {chain[-1].name} if chain else set()
        if any(not user.startswith(frame_scope) and user not in inside
               for user, _ in graph.consumers(port)):
            break  # the normalised full-size image is read elsewhere too
        chain.append(op)
        port = ins[_variable_input(graph, op)]
    return chain


def replace(graph: Graph, loop: Loop) -> dict[str, object]:
    """Replace ``loop`` by batch-wide ops; returns what was done (for the log)."""
    resizes = _resizes(graph, loop)
    if not resizes:
        raise _fail(loop, "has no resize op")
    padding = _check_body(graph, loop, resizes)
    kind = resizes[0].type
    attrs = {a: bool(resizes[0].attrs.get(a, False)) for a in RESIZE_ATTRS}
    x = graph.inputs(loop.scatter.name)[2]
    parts = loop.scatter.name.split("/")
    b = TfOps(graph, "/".join(parts[:parts.index(SCOPE) + 1]) + "/resize")
    affine = _affine_before(graph, loop, x)
    if affine:  # resize the raw image, then normalise the (usually much smaller) result
        x = graph.inputs(affine[-1].name)[_variable_input(graph, affine[-1])]
    shape = b.shape(x, "Shape")
    batch = b.slice1(shape, 0, 1, "batch")
    sizes = [_const(graph, graph.inputs(r.name)[1]) for r in resizes]
    if len(resizes) == 1 and sizes[0] is not None:
        height, width = (int(v) for v in sizes[0].reshape(-1)[:2])
        size = b.const(np.array([height, width], np.int32), "size")
        channels = b.slice1(shape, 3, 4, "channels")
        true_shape = b.concat([b.const(np.array([height, width], np.int32), "hw"), channels], 0,
                              "true_shape")
        done = {"resizer": "fixed_shape", "size": (height, width)}
    elif len(resizes) == 1:
        min_dim, max_dim = _min_max_dimensions(graph, loop, resizes[0])
        size = _min_max_size(b, shape, min_dim, max_dim)
        true_shape = b.concat([size, b.slice1(shape, 3, 4, "channels")], 0, "true_shape")
        done = {"resizer": "keep_aspect_ratio (min/max dimension)",
                "min_dimension": min_dim, "max_dimension": max_dim}
    else:
        if len(resizes) != 2:
            raise _fail(loop, f"has {len(resizes)} resize ops with computed sizes, not the two "
                        "branches of resize_to_range")
        branches = {_branch(graph, r): _target(graph, loop, r) for r in resizes}
        if set(branches) != {True, False}:
            raise _fail(loop, "does not choose its resize with a cond on the image's height < width")
        h = b.element(shape, 1, "height")
        w = b.element(shape, 2, "width")
        pred = b.binary("Less", h, w, "height_lt_width")
        target = b.op("SelectV2", "target", [pred, b.const(branches[True], "target_if_wide"),
                                               b.const(branches[False], "target_if_tall")])
        target_f = b.cast(target, F32, "target_f")
        th, tw = b.element(target_f, 0, "target_h"), b.element(target_f, 1, "target_w")
        hf, wf = b.cast(h, F32, "height_f"), b.cast(w, F32, "width_f")
        scale = b.binary("Minimum", b.binary("RealDiv", th, hf, "scale_h"),
                         b.binary("RealDiv", tw, wf, "scale_w"), "scale")
        new_h = b.cast(b.op("Round", "round_h", [b.binary("Mul", scale, hf, "new_h_f")]), I32,
                       "new_h")
        new_w = b.cast(b.op("Round", "round_w", [b.binary("Mul", scale, wf, "new_w_f")]), I32,
                       "new_w")
        size = b.pack([new_h, new_w], "size")
        true_shape = b.pack([new_h, new_w, b.element(shape, 3, "channels")], "true_shape")
        done = {"resizer": "keep_aspect_ratio",
                "targets": (tuple(int(v) for v in branches[True]),
                            tuple(int(v) for v in branches[False]))}
    resized = b.op(kind, kind, [x, size], F32, None, **attrs)
    if padding is not None:
        if done["resizer"] != "keep_aspect_ratio":
            raise _fail(loop, "pads a fixed-size resize")
        resized = _pad(b, resized, size, padding)
        done["pad_to"] = padding.size
    for op in reversed(affine):  # the normalisation, in its order, on the resized image
        ins = list(graph.inputs(op.name))
        ins[_variable_input(graph, op)] = resized
        resized = b.op(op.type, op.name.rsplit("/", 1)[-1], ins, F32)
    if affine:
        done["normalised_after_resize"] = [op.type for op in reversed(affine)]
    graph.replace_uses(Port(loop.image_gather.name, 0), resized)
    if loop.shape_gather is not None:
        rows = b.concat([batch, b.const(np.array([1], np.int32), "one")], 0, "multiples")
        shapes = b.op("Tile", "true_shapes", [b.expand_dims(true_shape, 0, "true_shape_row"), rows],
                      I32, (None, 3), Tmultiples=I32)
        graph.replace_uses(Port(loop.shape_gather.name, 0), shapes)
    done.update(method=kind, **attrs)
    return done
