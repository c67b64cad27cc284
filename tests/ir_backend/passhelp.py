"""Helpers of ``test_passes.py``: a real TF graph -> ``tfconv.convert_model`` -> ``save_model`` ->
OpenVINO, compared with TF on the same input, plus small queries on the IR graph's structure."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfconv  # noqa: E402
from ovrun import ir_layer_types, rel_err, run_ir  # noqa: E402
from tfconv.graph import Graph, Port  # noqa: E402

tf1 = tf.compat.v1
NHWC_TO_NCHW = (0, 3, 1, 2)
LAYOUTS = ("nchw", "nhwc")


def rng(key: str) -> np.random.Generator:
    """A generator seeded from a readable key (stable across runs)."""
    return np.random.default_rng(zlib.crc32(key.encode()))


def rand(shape: Sequence[int], key: str, scale: float = 1.0) -> np.ndarray:
    return (scale * rng(f"{key}{tuple(shape)}").standard_normal(shape)).astype(np.float32)


def const(shape: Sequence[int], key: str, scale: float = 0.5, low: float | None = None):
    """A float32 TF constant of random values (``low`` > 0: uniform in [low, low + scale])."""
    if low is None:
        value = rand(shape, key, scale)
    else:
        value = (low + scale * rng(f"{key}{tuple(shape)}").random(shape)).astype(np.float32)
    return tf.constant(value, name=key)


def conv(x, cin: int, cout: int, key: str, k: int = 3, padding: str = "SAME", bias: bool = False):
    """``tf.nn.conv2d`` (NHWC) with random weights, optionally followed by ``bias_add``."""
    w = const((k, k, cin, cout), f"{key}_w", scale=1.0 / np.sqrt(k * k * cin))
    y = tf.nn.conv2d(x, w, [1, 1, 1, 1], padding, name=key)
    if bias:
        y = tf.nn.bias_add(y, const((cout,), f"{key}_b"), name=f"{key}_bias")
    return y


@dataclass
class TFNet:
    """A frozen ``tf.Graph`` written to ``pb``; ``run`` gives TF's reference outputs."""
    graph: tf.Graph
    placeholders: list
    outputs: list
    pb: Path

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        with tf1.Session(graph=self.graph) as sess:
            return sess.run(self.outputs, dict(zip(self.placeholders, arrays)))


def tf_net(directory: Path, build: Callable[..., object],
           *shapes: Sequence[int | None]) -> TFNet:
    """One float32 Placeholder per shape (``x0``, ``x1``, ...), then ``build(*placeholders)``."""
    graph = tf.Graph()
    with graph.as_default():
        phs = [tf1.placeholder(tf.float32, shape, name=f"x{i}") for i, shape in enumerate(shapes)]
        out = build(*phs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
    directory.mkdir(parents=True, exist_ok=True)
    pb = directory / "model.pb"
    pb.write_bytes(graph.as_graph_def().SerializeToString())
    return TFNet(graph, phs, outs, pb)


@dataclass
class IR:
    """A converted and saved model."""
    graph: Graph
    xml: Path
    layout: str

    @property
    def bin(self) -> Path:
        return self.xml.with_suffix(".bin")

    def types(self) -> Counter:
        return Counter(op.type for op in self.graph)

    def xml_types(self) -> Counter:
        return Counter(ir_layer_types(self.xml))

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run in OpenVINO on TF's (NHWC) arrays; a 4-D array goes in NCHW when its Parameter
        was made NCHW (the default layout; inputs that stayed NHWC are fed as they are)."""
        feeds = []
        for a, shape in zip(arrays, self.param_shapes()):
            nchw = np.transpose(a, NHWC_TO_NCHW)
            if self.layout == "nchw" and a.ndim == 4 and _fits(shape, nchw.shape) and \
                    (not _fits(shape, a.shape) or a.shape == nchw.shape):
                a = np.ascontiguousarray(nchw)
            feeds.append(a)
        return run_ir(self.xml, feeds)

    # -- structure --------------------------------------------------------------------------

    def producer(self, port: Port):
        return self.graph.op(port.node)

    def param_shapes(self) -> list[tuple]:
        return [tuple(op.attrs["shape"]) for op in self.graph.ops_of_type("Parameter")]

    def transposes(self) -> list:
        return self.graph.ops_of_type("Transpose")

    def input_transposes(self) -> list:
        """Transposes reading a Parameter directly."""
        return [t for t in self.transposes()
                if self.producer(self.graph.inputs(t.name)[0]).type == "Parameter"]

    def output_transposes(self) -> list:
        """Transposes whose output is only read by Results (restoring TF's output layout)."""
        out = []
        for t in self.transposes():
            users = self.graph.consumers(Port(t.name))
            if users and all(self.graph.op(u).type == "Result" for u, _ in users):
                out.append(t)
        return out

    def inner_transposes(self) -> list:
        """Transposes that neither read a Parameter nor feed only Results."""
        edge = {t.name for t in self.input_transposes() + self.output_transposes()}
        return [t for t in self.transposes() if t.name not in edge]

    def perm(self, op) -> tuple[int, ...]:
        src = self.graph.op(self.graph.inputs(op.name)[1].node)
        return tuple(int(v) for v in np.asarray(src.attrs["value"]).reshape(-1))

    def const_input(self, op, index: int) -> np.ndarray:
        src = self.graph.op(self.graph.inputs(op.name)[index].node)
        assert src.type == "Const", f"{op.name} input {index} is a {src.type}"
        return np.asarray(src.attrs["value"])


def _fits(shape: tuple, actual: tuple) -> bool:
    return len(shape) == len(actual) and all(d is None or d == a for d, a in zip(shape, actual))


def convert(net: TFNet, directory: Path, layout: str = "nchw", **options) -> IR:
    """``tfconv.convert_model`` + ``tfconv.save_model`` into ``directory / "m.xml"``; the outputs
    are ``net``'s, in order."""
    options.setdefault("output", ",".join(t.name for t in net.outputs))
    graph = tfconv.convert_model(net.pb, disable_nhwc_to_nchw=(layout == "nhwc"), **options)
    files = tfconv.save_model(graph, directory / "m.xml")
    xml = next(f for f in files if f.suffix == ".xml")
    return IR(graph, xml, layout)


def check(net: TFNet, ir: IR, *arrays: np.ndarray, tol: float = 1e-5) -> list[np.ndarray]:
    """OpenVINO's outputs on ``arrays`` match TF's: max|ov - tf| / max|tf| <= ``tol``."""
    expected = net.run(*arrays)
    actual = ir.run(*arrays)
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert np.max(np.abs(e)) > 0, "degenerate reference"
        err = rel_err(a, e)
        assert err <= tol, f"output {i}: relative error {err:.3g} > {tol:g} ({ir.layout})"
    return actual
