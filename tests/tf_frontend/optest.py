"""Shared helper of the op tests: real TensorFlow vs real OpenVINO, no mocks, no IR writer.

``check(build, *arrays)`` builds a small ``tf.compat.v1`` graph (one Placeholder per array, then
``build(*placeholders)``), runs it in a TF session for the reference, converts its GraphDef with
the core pipeline pieces (proto -> loader -> translate), builds an ``openvino.Model`` from the IR
graph op by op with OpenVINO's ``NodeFactory`` (IR type names and attribute names exactly as the
IR spec has them, opset versions from ``tfconv.irops``), runs it on CPU and compares.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
import openvino.opset13 as ops  # noqa: E402
import tensorflow as tf  # noqa: E402
from openvino.utils.node_factory import NodeFactory  # noqa: E402

from tfconv import irops  # noqa: E402
from tfconv.config import ConvertConfig  # noqa: E402
from tfconv.graph import Graph, Port  # noqa: E402
from tfconv.translate import translate  # noqa: E402
from tfconv_tf_frontend import loader, proto  # noqa: E402
from tfconv_tf_frontend.ops import TABLE  # noqa: E402

tf1 = tf.compat.v1
CORE = ov.Core()
TYPE_ATTRS = {"destination_type", "output_type", "index_element_type", "element_type"}
# IR XML type names whose OpenVINO C++ class (what NodeFactory knows) is spelled differently.
FACTORY_NAMES = {"SoftMax": "Softmax"}
_FACTORIES: dict[str, NodeFactory] = {}


def rng_for(key: str) -> np.random.Generator:
    """A generator seeded from a readable key (stable across runs, unlike ``hash``)."""
    return np.random.default_rng(zlib.crc32(key.encode()))


def rand(shape: Sequence[int], key: str = "x", low: float = -1.0, high: float = 1.0,
         dtype: object = np.float32) -> np.ndarray:
    r = rng_for(f"{key}{tuple(shape)}")
    if np.issubdtype(np.dtype(dtype), np.integer):
        return r.integers(int(low), int(high), size=shape).astype(dtype)
    return r.uniform(low, high, size=shape).astype(dtype)


# -- conversion ------------------------------------------------------------------------------


def convert(graph_def_bytes: bytes, outputs: Sequence[str], **config: object) -> Graph:
    """The frontend + translation steps of the pipeline, in process."""
    gd = proto.parse_graphdef(graph_def_bytes, text=False)
    cfg = ConvertConfig(outputs=tuple(outputs), **config)
    src = loader.graph_from_graphdef(gd, "m")
    loader.apply_user_io(src, cfg)
    ir = translate(src, TABLE.entries, cfg)
    ir.validate()
    return ir


def _factory(version: str) -> NodeFactory:
    if version not in _FACTORIES:
        _FACTORIES[version] = NodeFactory(version)
    return _FACTORIES[version]


def _ov_attr(key: str, value: object) -> object:
    if key in TYPE_ATTRS:
        return ov.Type(np.dtype(value)).get_type_name()
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_ov_attr("", v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_inferred(info: object, out: ov.Output, what: str) -> None:
    """tfconv's shape/type inference must agree with OpenVINO's wherever both are static."""
    ours, theirs = info.shape, out.get_partial_shape()
    if ours is not None and theirs.rank.is_static:
        assert len(ours) == theirs.rank.get_length(), f"{what}: rank {ours} vs OpenVINO {theirs}"
        for a, b in zip(ours, theirs):
            assert a is None or b.is_dynamic or a == b.get_length(), \
                f"{what}: shape {ours} vs OpenVINO {theirs}"
    ov_type = out.get_element_type().to_dtype()
    assert info.dtype == ov_type, f"{what}: type {info.dtype} vs OpenVINO {ov_type}"


def to_ov_model(ir: Graph) -> tuple[ov.Model, list[str]]:
    """An ``openvino.Model`` built from the IR graph; returns it and its parameter names.
    An IR with sub-networks (If, Loop) goes through the writer's XML instead."""
    if any(op.type in ("If", "Loop") for op in ir):
        from tfconv_ir_backend.in_memory import to_openvino
        model = to_openvino(ir, "m")
        return model, [p.get_friendly_name() for p in model.get_parameters()]
    made: dict[Port, ov.Output] = {}
    params, names, results = [], [], {}
    for name in ir.topological_order():
        op = ir.op(name)
        ins = [made[p] for p in ir.inputs(name)]
        if op.type == "Parameter":
            shape = op.attrs.get("shape")
            pshape = ov.PartialShape.dynamic() if shape is None else \
                ov.PartialShape([-1 if d is None else d for d in shape])
            node = ops.parameter(pshape, ov.Type(np.dtype(op.attrs["element_type"])), name=name)
            params.append(node)
            names.append(name)
        elif op.type == "Const":
            node = ops.constant(np.array(op.attrs["value"], copy=True), name=name)
        elif op.type == "Result":
            results[name] = ops.result(ins[0])
            continue
        else:
            attrs = {k: _ov_attr(k, v) for k, v in op.attrs.items()}
            node = _factory(irops.version_of(op.type)).create(FACTORY_NAMES.get(op.type, op.type),
                                                                  ins, attrs)
            node.set_friendly_name(name)
        for i in range(node.get_output_size()):
            made[Port(name, i)] = node.output(i)
            _check_inferred(op.outputs[i], node.output(i), f"{op.type} {name!r} output {i}")
    return ov.Model([results[p.node] for p in ir.outputs], params, "m"), names


# -- checking --------------------------------------------------------------------------------


@dataclass
class Outcome:
    ir: Graph
    tf_outputs: list[np.ndarray]
    ov_outputs: list[np.ndarray]
    types: Counter = field(default_factory=Counter)


def _compatible(static: tuple | None, actual: tuple) -> bool:
    if static is None:
        return True
    return len(static) == len(actual) and all(s is None or s == a for s, a in zip(static, actual))


def compare(expected: np.ndarray, got: np.ndarray, rtol: float, what: str = "output") -> None:
    expected, got = np.asarray(expected), np.asarray(got)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != TF's {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != TF's {expected.dtype}"
    if np.issubdtype(expected.dtype, np.floating):
        assert np.array_equal(np.isnan(got), np.isnan(expected)), f"{what}: NaN mismatch"
        e, g = np.nan_to_num(expected.astype(np.float64)), np.nan_to_num(got.astype(np.float64))
        scale = max(float(np.abs(e).max(initial=0.0)), 1e-6)
        err = float(np.abs(g - e).max(initial=0.0)) / scale
        assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"
    else:
        assert np.array_equal(got, expected), f"{what}: {got} != TF's {expected}"


def check(build: Callable[..., object], *arrays: np.ndarray,
          shapes: Sequence[Sequence[int | None] | None] | None = None,
          reference: Callable[..., object] | None = None, rtol: float = 1e-5,
          config: dict | None = None, feeds: Sequence[np.ndarray] | None = None) -> Outcome:
    """Build, run in TF, convert, run in OpenVINO, compare every output.

    ``shapes`` gives the placeholder shapes (``None`` dims are dynamic, ``...`` is an unknown
    rank; default: the arrays' shapes). ``reference`` builds TF's reference from the same
    placeholders when TF cannot run the converted op itself. ``feeds`` replaces ``arrays`` at
    run time (e.g. a bigger batch).
    """
    graph = tf.Graph()
    with graph.as_default():
        phs = []
        for i, a in enumerate(arrays):
            shape = a.shape if shapes is None or shapes[i] is None else shapes[i]
            shape = None if shape is Ellipsis else shape  # ``...``: unknown rank
            phs.append(tf1.placeholder(tf.as_dtype(a.dtype), shape, name=f"x{i}"))
        out = build(*phs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        refs = outs
        if reference is not None:
            ref = reference(*phs)
            refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
    values = list(feeds) if feeds is not None else list(arrays)
    with tf1.Session(graph=graph) as sess:
        tf_outs = sess.run(refs, {p: v for p, v in zip(phs, values)})
    tensors = [t.name for t in outs]
    ir = convert(graph.as_graph_def().SerializeToString(), tensors, **(config or {}))
    model, names = to_ov_model(ir)
    compiled = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    by_name = dict(zip([p.op.name for p in phs], values))
    request = compiled.create_infer_request()
    result = request.infer([by_name[n] for n in names])
    ov_outs = [result[compiled.output(i)] for i in range(len(ir.outputs))]
    for i, (e, g) in enumerate(zip(tf_outs, ov_outs)):
        compare(e, g, rtol, f"output {i} ({tensors[i]})")
        info = ir.info(ir.inputs(ir.outputs[i].node)[0])
        assert _compatible(info.shape, np.shape(g)), \
            f"output {i}: inferred shape {info.shape} does not match the real {np.shape(g)}"
        assert info.dtype == np.asarray(g).dtype, \
            f"output {i}: inferred type {info.dtype} is not the real {np.asarray(g).dtype}"
    return Outcome(ir, tf_outs, ov_outs, Counter(op.type for op in ir))
