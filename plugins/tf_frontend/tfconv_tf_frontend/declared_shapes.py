"""The static output shapes TensorFlow declares, kept by the IR's outputs.

TensorFlow knows some output shapes that no shape inference can derive from the ops alone: the
Object Detection API pads its detections to ``max_total_detections`` with a computed amount
(``tf.pad(x[:min(n, 20)], [[0, 20 - min(n, 20)], [0, 0]])``) and then promises the result's
shape with ``set_shape([20, 4])``. TF records that promise in the nodes' ``_output_shapes``
(every node of a SavedModel's functions, and of graphs saved with ``add_shapes``), and a
SavedModel's signature shows it (``detection_boxes: [1, 20, 4]``). OpenVINO, from the ops,
infers ``[1, ?, ?]``.

* ``tf_frontend.note_output_shapes`` (source stage, after the cleanup): for each output whose
  node declares a shape, the declared shape goes into ``graph.meta`` (:data:`DECLARED_OUTPUTS`),
  but only when every IR input is the model's declared input or a refinement of it (a dynamic
  dim made static, as ``-b 1`` or the OD API's batch of one do). A declared shape holds for
  every input TF's declared inputs admit; after ``--input_shape [-1,4]`` on an input declared
  ``[5,4]`` it may not, and after a cut at an inner node (``--input``) nothing is known: then no
  output is pinned. The loader records the declared inputs (:data:`DECLARED_INPUTS`) before
  ``--input``/``-b`` change them. A plugin that knows an output's shape from the model's
  structure (od_api: detections padded to ``max_total_detections``) puts it into
  ``graph.meta[KNOWN_OUTPUTS]`` (same form, None for a dim left as it is) in a source pass; it
  answers for those whatever the inputs are.
* ``tf_frontend.pin_output_shapes`` (IR stage, after the passes that re-infer shapes): an
  output whose inferred shape leaves a dim unknown that TF declares, and every output a plugin
  knows (tfconv's own inference may know the shape where OpenVINO's, from the same ops, does
  not: ``[1,25,4]`` against ``[1,?,..8]``), gets ``Reshape(x, [d0|0, d1|0, ...], special_zero)``,
  which takes over the tensor names. A shape that contradicts an inferred static dim, a
  zero-sized dim, or a rank mismatch leaves the output as it is.
"""
from __future__ import annotations

import logging

import numpy as np

from tfconv.graph import Graph
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

log = logging.getLogger("tfconv")

DECLARED_INPUTS = "tf_declared_input_shapes"    # placeholder -> shape as the model declares it
DECLARED_OUTPUTS = "tf_declared_output_shapes"  # output tensor ("node:i") -> declared shape
KNOWN_OUTPUTS = "known_output_shapes"  # the same, from a plugin that knows the model's structure
DEAD_CLEANUP = "cleanup.remove_dead_source"


def _dims(shape: object) -> tuple | None:
    """A shape as a tuple with None for unknown dims, or None for an unknown rank."""
    if shape is None:
        return None
    return tuple(None if d is None or int(d) < 0 else int(d) for d in shape)  # type: ignore[union-attr]


def _refines(shape: object, declared: object) -> bool:
    """``shape`` is ``declared`` or the same with some unknown dims made known."""
    have, want = _dims(shape), _dims(declared)
    if want is None:
        return True
    if have is None or len(have) != len(want):
        return False
    return all(w is None or h == w for h, w in zip(have, want))


@graph_pass("tf_frontend.note_output_shapes", stage="source", after=[DEAD_CLEANUP])
def note_output_shapes(graph: Graph, config) -> None:
    declared = graph.meta.get(DECLARED_INPUTS)
    if not isinstance(declared, dict):
        return
    for name in graph.meta.get("inputs", []):  # type: ignore[union-attr]
        if name in graph and (name not in declared
                              or not _refines(graph.op(name).attrs.get("shape"), declared[name])):
            return
    notes = {}
    for port in graph.outputs:
        shape = _declared(graph, port)
        if shape is not None and any(d is not None for d in shape):
            notes[str(port)] = shape
    graph.meta[DECLARED_OUTPUTS] = notes


def _declared(graph: Graph, port) -> tuple | None:
    """The shape TF declares for ``port``; an Identity that declares none (the loader names a
    SavedModel's outputs by its signature with one) passes its input's on."""
    for _ in range(8):
        op = graph.op(port.node)
        shapes = op.attrs.get("_output_shapes")
        if isinstance(shapes, list) and port.index < len(shapes):
            return _dims(shapes[port.index])
        if op.type != "Identity" or not graph.inputs(op.name):
            return None
        port = graph.inputs(op.name)[0]
    return None


def _target(have: tuple | None, want: tuple, always: bool = False) -> list[int] | None:
    """The Reshape target that pins ``want``'s known dims onto ``have`` (0: keep the dim), or
    None when the two disagree or (unless ``always``) tfconv's inference knows them already."""
    if 0 in want:
        return None  # special_zero would read a declared empty dim as "copy"
    if have is None:
        return list(want) if all(d is not None for d in want) else None
    if len(have) != len(want):
        return None
    target, gained = [], False
    for h, w in zip(have, want):
        if h is not None and w is not None and h != w:
            return None
        if w is not None and (h is None or always):
            target.append(w)
            gained = True
        else:
            target.append(0)
    return target if gained else None


@graph_pass("tf_frontend.pin_output_shapes", stage="ir",
            after=["ir_backend.fuse_linear", "cleanup.remove_dead_ir"],
            before=["ir_backend.compress_fq_weights", "ir_backend.compress_fp16"])
def pin_output_shapes(graph: Graph, config) -> None:
    declared = graph.meta.get(DECLARED_OUTPUTS) or {}
    known = graph.meta.get(KNOWN_OUTPUTS) or {}
    if not declared and not known:
        return
    builder = IRBuilder(graph)
    for out in graph.outputs:
        result = graph.op(out.node)
        tensor = result.attrs.get("_tensor")
        always = tensor in known  # type: ignore[operator]
        want = known.get(tensor) if always else declared.get(tensor)  # type: ignore[union-attr]
        if want is None:
            continue
        (x,) = graph.inputs(result.name)
        target = _target(graph.info(x).shape, tuple(want), always)
        if target is None:
            continue
        shape = builder.const(np.array(target, np.int64), f"{x.node}/declared_shape")
        (pinned,) = builder.emit("Reshape", [x, shape], f"{x.node}/declared",
                                 {"special_zero": True})
        graph.info(pinned).names.extend(graph.info(x).names)  # the output keeps its names
        graph.info(x).names.clear()
        graph.set_input(result.name, 0, pinned)
        log.debug("output %s: shape %s kept static (%s)", tensor, graph.info(pinned).shape,
                  "known to a plugin" if always else "declared by TensorFlow")


ALL_PASSES = [note_output_shapes, pin_output_shapes]
