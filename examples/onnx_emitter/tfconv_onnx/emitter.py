"""Write tfconv's IR graph (the ``ir`` dialect, OpenVINO op semantics) as an ONNX model.

One converter per IR op type in :data:`CONVERTERS`, filled by ``@converts``. A converter gets
the op, the ONNX value names of its inputs and the names its outputs must have, and appends
ONNX nodes (and initializers) to the :class:`OnnxBuilder`. Everything is checked before any
file is written: IR ops without a converter, and ops a converter cannot express (say, a
``Transpose`` whose order is computed at run time), are reported together in one
:class:`OnnxExportError` naming each op type and its nodes.

The layout is the IR's: with the default NCHW inputs the ONNX model takes NCHW images, with
``--disable_nhwc_to_nchw`` NHWC ones. Input names are the IR Parameters' names, output names
the TensorFlow tensor names the IR Results carry (``logits:0``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tfconv.errors import TfconvError

if TYPE_CHECKING:
    from tfconv.config import ConvertConfig
    from tfconv.graph import Graph, Op, Port, TensorInfo

OPSET = 20
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min
# Above this many bytes of weights the model goes to an external data file (protobuf's 2 GB cap).
EXTERNAL_DATA_BYTES = 1_800_000_000


class OnnxExportError(TfconvError):
    """IR ops the ONNX emitter cannot express (exit code 3, like other unsupported models)."""

    exit_code = 3


class Unsupported(Exception):
    """Raised by a converter for one op it cannot express; collected into OnnxExportError."""


@dataclass
class OnnxBuilder:
    graph: Graph
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    used: set = field(default_factory=set)

    def fresh(self, base: str) -> str:
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def const(self, value: np.ndarray, base: str) -> str:
        name = self.fresh(base)
        arr = np.ascontiguousarray(value)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str] | None = None,
             base: str = "", **attrs) -> list[str]:
        """Append one node; ``outputs`` default to one fresh name made from ``base``."""
        outs = outputs if outputs is not None else [self.fresh(f"{base}/{op_type}")]
        name = self.fresh(f"{base}/{op_type}_node") if base else self.fresh(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs

    def value(self, port: Port) -> np.ndarray | None:
        """The constant value on ``port`` (a Const op's), else ``None``."""
        op = self.graph.op(port.node)
        return np.asarray(op.attrs["value"]) if op.type == "Const" else None


Converter = Callable[[OnnxBuilder, "Op", list, list, list], None]
CONVERTERS: dict[str, Converter] = {}


def converts(*ir_types: str):
    def register(fn: Converter) -> Converter:
        for t in ir_types:
            CONVERTERS[t] = fn
        return fn
    return register


def _ints(b: OnnxBuilder, port: Port, what: str) -> list[int]:
    value = b.value(port)
    if value is None:
        msg = f"its {what} input is computed at run time, ONNX needs a constant"
        raise Unsupported(msg)
    return [int(v) for v in value.reshape(-1)]


def _i64(b: OnnxBuilder, port: Port, name: str, base: str) -> str:
    """``name`` (the value on ``port``) as int64: a converted constant, or a Cast node."""
    value = b.value(port)
    if value is not None:
        return b.const(value.astype(np.int64), f"{base}/i64")
    info = b.graph.info(port)
    if info.dtype is not None and np.dtype(info.dtype) == np.int64:
        return name
    return b.node("Cast", [name], base=base, to=TensorProto.INT64)[0]


def _rank(info: TensorInfo) -> int:
    if info.shape is None:
        msg = "its input rank is unknown"
        raise Unsupported(msg)
    return len(info.shape)


# -- element-wise --------------------------------------------------------------------------

SAME_NAME = {
    "Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min",
    "Power": "Pow", "Equal": "Equal", "Less": "Less", "Greater": "Greater",
    "LessEqual": "LessOrEqual", "GreaterEqual": "GreaterOrEqual", "LogicalAnd": "And",
    "LogicalOr": "Or", "LogicalXor": "Xor", "LogicalNot": "Not", "Select": "Where",
    "Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log",
    "Sqrt": "Sqrt", "Abs": "Abs", "Negative": "Neg", "Floor": "Floor", "Ceiling": "Ceil",
    "Erf": "Erf", "Sign": "Sign", "Sin": "Sin", "Cos": "Cos", "Tan": "Tan", "Asin": "Asin",
    "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh", "SoftPlus": "Softplus",
    "SoftSign": "Softsign", "Mish": "Mish", "HSwish": "HardSwish",
}


@converts(*SAME_NAME)
def _same_name(b, op, ins, infos, outs):
    if op.attrs.get("auto_broadcast", "numpy") not in ("numpy", "none"):
        msg = f"auto_broadcast={op.attrs['auto_broadcast']!r} (ONNX broadcasts numpy-style only)"
        raise Unsupported(msg)
    b.node(SAME_NAME[op.type], ins, outs, base=op.name)


@converts("Divide")
def _divide(b, op, ins, infos, outs):
    dtype = infos[0].dtype
    if dtype is not None and np.dtype(dtype).kind in "iu" and op.attrs.get("m_pythondiv", True):
        msg = "integer Divide rounds down (Python division); ONNX Div truncates"
        raise Unsupported(msg)
    b.node("Div", ins, outs, base=op.name)


@converts("SquaredDifference")
def _squared_difference(b, op, ins, infos, outs):
    d = b.node("Sub", ins, base=op.name)[0]
    b.node("Mul", [d, d], outs, base=op.name)


@converts("Clamp")
def _clamp(b, op, ins, infos, outs):
    dtype = np.dtype(infos[0].dtype or np.float32)
    lo = b.const(np.array(op.attrs["min"], dtype), f"{op.name}/min")
    hi = b.const(np.array(op.attrs["max"], dtype), f"{op.name}/max")
    b.node("Clip", [ins[0], lo, hi], outs, base=op.name)


@converts("Gelu")
def _gelu(b, op, ins, infos, outs):
    mode = op.attrs.get("approximation_mode", "erf")
    b.node("Gelu", ins[:1], outs, base=op.name, approximate="tanh" if mode == "tanh" else "none")


@converts("HSigmoid")
def _hsigmoid(b, op, ins, infos, outs):
    b.node("HardSigmoid", ins, outs, base=op.name, alpha=1.0 / 6.0, beta=0.5)


@converts("Swish")
def _swish(b, op, ins, infos, outs):
    x = ins[0]
    arg = b.node("Mul", [x, ins[1]], base=op.name)[0] if len(ins) > 1 else x
    s = b.node("Sigmoid", [arg], base=op.name)[0]
    b.node("Mul", [x, s], outs, base=op.name)


@converts("Elu")
def _elu(b, op, ins, infos, outs):
    b.node("Elu", ins, outs, base=op.name, alpha=float(op.attrs.get("alpha", 1.0)))


@converts("Selu")
def _selu(b, op, ins, infos, outs):
    alpha = _scalar(b, op, 1, "alpha")
    gamma = _scalar(b, op, 2, "lambda")
    b.node("Selu", ins[:1], outs, base=op.name, alpha=alpha, gamma=gamma)


def _scalar(b: OnnxBuilder, op: Op, i: int, what: str) -> float:
    value = b.value(b.graph.inputs(op.name)[i])
    if value is None or value.size != 1:
        msg = f"its {what} input is not a one-element constant"
        raise Unsupported(msg)
    return float(value.reshape(-1)[0])


@converts("PRelu")
def _prelu(b, op, ins, infos, outs):
    slope = ins[1]
    x, s = infos[0].shape, infos[1].shape
    # IR PRelu: a 1-D slope as long as the channel axis (1) applies along it.
    if x is not None and s is not None and len(s) == 1 and len(x) >= 3 and s[0] not in (1, None) \
            and x[1] == s[0]:
        value = b.value(b.graph.inputs(op.name)[1])
        shape = (s[0],) + (1,) * (len(x) - 2)
        if value is not None:
            slope = b.const(value.reshape(shape), f"{op.name}/slope")
        else:
            target = b.const(np.array(shape, np.int64), f"{op.name}/slope_shape")
            slope = b.node("Reshape", [slope, target], base=op.name)[0]
    b.node("PRelu", [ins[0], slope], outs, base=op.name)


@converts("Convert")
def _convert(b, op, ins, infos, outs):
    to = helper.np_dtype_to_tensor_dtype(np.dtype(op.attrs["destination_type"]))
    b.node("Cast", ins, outs, base=op.name, to=to)


# -- convolution and pooling -----------------------------------------------------------------

AUTO_PAD = {"explicit": "NOTSET", "notset": "NOTSET", "valid": "VALID",
            "same_upper": "SAME_UPPER", "same_lower": "SAME_LOWER"}


def _window_attrs(op: Op, strides_key: str = "strides") -> dict:
    auto = AUTO_PAD[str(op.attrs.get("auto_pad", "explicit")).lower()]
    attrs: dict = {"strides": [int(s) for s in op.attrs[strides_key]], "auto_pad": auto}
    if auto == "NOTSET":
        attrs["pads"] = [int(p) for p in op.attrs["pads_begin"]] + \
            [int(p) for p in op.attrs["pads_end"]]
    return attrs


@converts("Convolution")
def _convolution(b, op, ins, infos, outs):
    # ins[2], when present, is the bias build_model folded in (see conv_biases)
    b.node("Conv", ins[:3], outs, base=op.name, dilations=[int(d) for d in op.attrs["dilations"]],
           **_window_attrs(op))


@converts("GroupConvolution")
def _group_convolution(b, op, ins, infos, outs):
    w = infos[1].shape  # IR: [G, O/G, I/G, *k]; ONNX: [O, I/G, *k] with group=G
    if w is None or any(d is None for d in w):
        msg = "its weights' shape is unknown"
        raise Unsupported(msg)
    shape = (w[0] * w[1], *w[2:])
    value = b.value(b.graph.inputs(op.name)[1])
    if value is not None:
        weights = b.const(value.reshape(shape), f"{op.name}/weights")
    else:
        target = b.const(np.array(shape, np.int64), f"{op.name}/weights_shape")
        weights = b.node("Reshape", [ins[1], target], base=op.name)[0]
    b.node("Conv", [ins[0], weights, *ins[2:3]], outs, base=op.name, group=int(w[0]),
           dilations=[int(d) for d in op.attrs["dilations"]], **_window_attrs(op))


@converts("ConvolutionBackpropData")
def _deconvolution(b, op, ins, infos, outs):
    if len(ins) > 2:
        msg = "an explicit output_shape input is not converted"
        raise Unsupported(msg)
    attrs = _window_attrs(op)
    attrs["dilations"] = [int(d) for d in op.attrs["dilations"]]
    if op.attrs.get("output_padding") is not None:
        attrs["output_padding"] = [int(p) for p in op.attrs["output_padding"]]
    b.node("ConvTranspose", ins, outs, base=op.name, **attrs)


@converts("MaxPool", "AvgPool")
def _pool(b, op, ins, infos, outs):
    attrs = _window_attrs(op)
    attrs["kernel_shape"] = [int(k) for k in op.attrs["kernel"]]
    attrs["ceil_mode"] = int(op.attrs.get("rounding_type", "floor") == "ceil")
    if op.type == "AvgPool":
        attrs["count_include_pad"] = int(not op.attrs.get("exclude-pad", False))
        b.node("AveragePool", ins, outs, base=op.name, **attrs)
        return
    if 1 in _used_outputs(b.graph, op.name):
        msg = "its indices output is used (ONNX MaxPool indices differ)"
        raise Unsupported(msg)
    if op.attrs.get("dilations") is not None:
        attrs["dilations"] = [int(d) for d in op.attrs["dilations"]]
    b.node("MaxPool", ins, outs[:1], base=op.name, **attrs)


def _used_outputs(graph: Graph, name: str) -> set[int]:
    from tfconv.graph import Port
    return {i for i in range(len(graph.op(name).outputs)) if graph.consumers(Port(name, i))}


# -- matrices and normalisation --------------------------------------------------------------


def _swap_last(b: OnnxBuilder, op: Op, name: str, port: Port, info: TensorInfo, tag: str) -> str:
    value = b.value(port)
    if value is not None:
        return b.const(np.swapaxes(value, -1, -2), f"{op.name}/{tag}_t")
    rank = _rank(info)
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return b.node("Transpose", [name], base=op.name, perm=perm)[0]


@converts("MatMul")
def _matmul(b, op, ins, infos, outs):
    ports = b.graph.inputs(op.name)
    a, c = ins[0], ins[1]
    if op.attrs.get("transpose_a") and _rank(infos[0]) > 1:
        a = _swap_last(b, op, a, ports[0], infos[0], "a")
    if op.attrs.get("transpose_b") and _rank(infos[1]) > 1:
        c = _swap_last(b, op, c, ports[1], infos[1], "b")
    b.node("MatMul", [a, c], outs, base=op.name)


@converts("Einsum")
def _einsum(b, op, ins, infos, outs):
    b.node("Einsum", ins, outs, base=op.name, equation=str(op.attrs["equation"]))


@converts("SoftMax", "LogSoftmax")
def _softmax(b, op, ins, infos, outs):
    b.node("Softmax" if op.type == "SoftMax" else "LogSoftmax", ins, outs, base=op.name,
           axis=int(op.attrs.get("axis", 1)))


@converts("BatchNormInference")
def _batch_norm(b, op, ins, infos, outs):
    b.node("BatchNormalization", ins, outs, base=op.name, epsilon=float(op.attrs["epsilon"]))


@converts("MVN")
def _mvn(b, op, ins, infos, outs):
    axes = _i64(b, b.graph.inputs(op.name)[1], ins[1], op.name)
    mean = b.node("ReduceMean", [ins[0], axes], base=op.name, keepdims=1)[0]
    if not op.attrs.get("normalize_variance", True):
        b.node("Sub", [ins[0], mean], outs, base=op.name)
        return
    centred = b.node("Sub", [ins[0], mean], base=op.name)[0]
    square = b.node("Mul", [centred, centred], base=op.name)[0]
    var = b.node("ReduceMean", [square, axes], base=op.name, keepdims=1)[0]
    eps = b.const(np.array(op.attrs["eps"], np.dtype(infos[0].dtype or np.float32)),
                  f"{op.name}/eps")
    if op.attrs.get("eps_mode", "inside_sqrt") == "inside_sqrt":
        denom = b.node("Sqrt", [b.node("Add", [var, eps], base=op.name)[0]], base=op.name)[0]
    else:
        denom = b.node("Add", [b.node("Sqrt", [var], base=op.name)[0], eps], base=op.name)[0]
    b.node("Div", [centred, denom], outs, base=op.name)


@converts("FakeQuantize")
def _fake_quantize(b, op, ins, infos, outs):
    """Spelled out: clamp to [in_low, in_high], round to ``levels`` steps, map to the output
    range (the FakeQuantize-1 formula)."""
    x, il, ih, ol, oh = ins
    levels = b.const(np.array(int(op.attrs["levels"]) - 1, np.dtype(infos[0].dtype)),
                     f"{op.name}/levels")
    clamped = b.node("Min", [b.node("Max", [x, il], base=op.name)[0], ih], base=op.name)[0]
    in_range = b.node("Sub", [ih, il], base=op.name)[0]
    scaled = b.node("Div", [b.node("Sub", [clamped, il], base=op.name)[0], in_range],
                    base=op.name)[0]
    steps = b.node("Round", [b.node("Mul", [scaled, levels], base=op.name)[0]], base=op.name)[0]
    out_range = b.node("Sub", [oh, ol], base=op.name)[0]
    unit = b.node("Div", [steps, levels], base=op.name)[0]
    b.node("Add", [b.node("Mul", [unit, out_range], base=op.name)[0], ol], outs, base=op.name)


# -- reductions and shapes -----------------------------------------------------------------

REDUCE = {"ReduceMean": "ReduceMean", "ReduceSum": "ReduceSum", "ReduceMax": "ReduceMax",
          "ReduceMin": "ReduceMin", "ReduceProd": "ReduceProd", "ReduceL2": "ReduceL2"}


@converts(*REDUCE)
def _reduce(b, op, ins, infos, outs):
    axes = _i64(b, b.graph.inputs(op.name)[1], ins[1], op.name)
    b.node(REDUCE[op.type], [ins[0], axes], outs, base=op.name,
           keepdims=int(bool(op.attrs.get("keep_dims", False))))


@converts("Reshape")
def _reshape(b, op, ins, infos, outs):
    target = _i64(b, b.graph.inputs(op.name)[1], ins[1], op.name)
    b.node("Reshape", [ins[0], target], outs, base=op.name,
           allowzero=int(not op.attrs.get("special_zero", False)))


@converts("Transpose")
def _transpose(b, op, ins, infos, outs):
    perm = _ints(b, b.graph.inputs(op.name)[1], "order")
    if not perm:  # an empty order reverses the axes
        perm = list(reversed(range(_rank(infos[0]))))
    b.node("Transpose", ins[:1], outs, base=op.name, perm=perm)


@converts("Squeeze", "Unsqueeze")
def _squeeze(b, op, ins, infos, outs):
    inputs = [ins[0]]
    if len(ins) > 1:
        inputs.append(_i64(b, b.graph.inputs(op.name)[1], ins[1], op.name))
    b.node(op.type, inputs, outs, base=op.name)


@converts("Concat")
def _concat(b, op, ins, infos, outs):
    b.node("Concat", ins, outs, base=op.name, axis=int(op.attrs["axis"]))


@converts("Split")
def _split(b, op, ins, infos, outs):
    axis = _ints(b, b.graph.inputs(op.name)[1], "axis")[0]
    b.node("Split", ins[:1], outs, base=op.name, axis=axis, num_outputs=len(outs))


@converts("VariadicSplit")
def _variadic_split(b, op, ins, infos, outs):
    ports = b.graph.inputs(op.name)
    axis = _ints(b, ports[1], "axis")[0]
    sizes = [info.shape[axis] if info.shape is not None else None for info in op.outputs]
    if any(s is None for s in sizes):
        sizes = _ints(b, ports[2], "split_lengths")
        if -1 in sizes:
            msg = "its split lengths depend on a dynamic dimension"
            raise Unsupported(msg)
    split = b.const(np.array(sizes, np.int64), f"{op.name}/split")
    b.node("Split", [ins[0], split], outs, base=op.name, axis=axis)


@converts("Gather")
def _gather(b, op, ins, infos, outs):
    if op.attrs.get("batch_dims", 0):
        msg = "batch_dims != 0"
        raise Unsupported(msg)
    axis = _ints(b, b.graph.inputs(op.name)[2], "axis")[0]
    b.node("Gather", ins[:2], outs, base=op.name, axis=axis)


@converts("ShapeOf")
def _shape_of(b, op, ins, infos, outs):
    out_type = np.dtype(op.attrs.get("output_type", "int64"))
    if out_type == np.int64:
        b.node("Shape", ins, outs, base=op.name)
        return
    shape = b.node("Shape", ins, base=op.name)[0]
    b.node("Cast", [shape], outs, base=op.name, to=helper.np_dtype_to_tensor_dtype(out_type))


@converts("Pad")
def _pad(b, op, ins, infos, outs):
    mode = op.attrs.get("pad_mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        msg = f"pad_mode={mode!r} (ONNX Pad has constant, reflect and edge)"
        raise Unsupported(msg)
    ports = b.graph.inputs(op.name)
    begin, end = b.value(ports[1]), b.value(ports[2])
    if begin is not None and end is not None:
        pads = b.const(np.concatenate([begin.reshape(-1), end.reshape(-1)]).astype(np.int64),
                       f"{op.name}/pads")
    else:
        parts = [_i64(b, ports[1], ins[1], op.name), _i64(b, ports[2], ins[2], op.name)]
        pads = b.node("Concat", parts, base=op.name, axis=0)[0]
    inputs = [ins[0], pads] + ([ins[3]] if len(ins) > 3 and mode == "constant" else [])
    b.node("Pad", inputs, outs, base=op.name, mode=mode)


@converts("StridedSlice")
def _strided_slice(b, op, ins, infos, outs):
    """Constant begin/end/strides: one Slice over the sliced axes, then Squeeze for the
    shrunk axes and Unsqueeze for the new ones."""
    ports = b.graph.inputs(op.name)
    begin, end = _ints(b, ports[1], "begin"), _ints(b, ports[2], "end")
    strides = _ints(b, ports[3], "strides") if len(ports) > 3 else [1] * len(begin)
    rank, n = _rank(infos[0]), len(begin)

    def mask(key: str) -> list[int]:
        m = [int(v) for v in op.attrs.get(key, [])]
        return m + [0] * (n - len(m))
    bm, em, nm, sm, elm = (mask(k) for k in ("begin_mask", "end_mask", "new_axis_mask",
                                             "shrink_axis_mask", "ellipsis_mask"))
    consumed = sum(1 for i in range(n) if not nm[i] and not elm[i])
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    src = out = 0
    for i in range(n):
        if elm[i]:
            src += rank - consumed
            out += rank - consumed
        elif nm[i]:
            unsqueeze.append(out)
            out += 1
        elif sm[i]:
            starts.append(begin[i])
            ends.append(INT64_MAX if begin[i] == -1 else begin[i] + 1)
            axes.append(src)
            steps.append(1)
            squeeze.append(src)
            src += 1
        else:
            step = strides[i]
            starts.append((0 if step > 0 else INT64_MAX) if bm[i] else begin[i])
            ends.append((INT64_MAX if step > 0 else INT64_MIN) if em[i] else end[i])
            axes.append(src)
            steps.append(step)
            src += 1
            out += 1
    value = ins[0]
    if axes:
        args = [b.const(np.array(v, np.int64), f"{op.name}/{k}")
                for k, v in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps))]
        last = not squeeze and not unsqueeze
        value = b.node("Slice", [value, *args], outs if last else None, base=op.name)[0]
    if squeeze:
        last = not unsqueeze
        value = b.node("Squeeze", [value, b.const(np.array(squeeze, np.int64),
                                                 f"{op.name}/squeeze")],
                       outs if last else None, base=op.name)[0]
    if unsqueeze:
        value = b.node("Unsqueeze", [value, b.const(np.array(unsqueeze, np.int64),
                                                   f"{op.name}/unsqueeze")], outs, base=op.name)[0]
    if value == ins[0]:
        b.node("Identity", [value], outs, base=op.name)


# -- the model -----------------------------------------------------------------------------


def _value_info(name: str, info: TensorInfo):
    if info.dtype is None:
        msg = f"the element type of {name!r} is unknown"
        raise OnnxExportError(msg)
    dims = None if info.shape is None else [
        f"{name}_d{i}" if d is None else int(d) for i, d in enumerate(info.shape)]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
        np.dtype(info.dtype)), dims)


def _version() -> str:
    try:
        return metadata.version("tfconv-onnx")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_model(graph: Graph, name: str = "model") -> onnx.ModelProto:
    """The ONNX model of an IR-dialect graph; raises :class:`OnnxExportError` naming every
    IR op type it cannot express."""
    from tfconv.graph import Port
    order = graph.topological_order()
    missing: dict[str, list[str]] = {}
    for n in order:
        t = graph.op(n).type
        if t not in CONVERTERS and t not in ("Parameter", "Const", "Result"):
            missing.setdefault(t, []).append(n)
    if missing:
        _raise(missing, "no ONNX converter for these IR types")

    b = OnnxBuilder(graph)
    names: dict[Port, str] = {}
    inputs, outputs = [], []
    params = [n for n in graph.meta.get("inputs", []) or [] if n in graph and
              graph.op(n).type == "Parameter"]
    params += [n for n in order if graph.op(n).type == "Parameter" and n not in params]
    for n in params:
        names[Port(n, 0)] = b.fresh(n)
        inputs.append(_value_info(names[Port(n, 0)], graph.op(n).outputs[0]))
    results = list(dict.fromkeys(p.node for p in graph.outputs if graph.op(p.node).type == "Result"))
    results += [n for n in order if graph.op(n).type == "Result" and n not in results]
    result_names = {}
    for n in results:
        src = graph.inputs(n)[0]
        tensor = graph.op(n).attrs.get("_tensor") or (graph.info(src).names or [n])[0]
        result_names[n] = b.fresh(str(tensor))

    def name_of(port: Port) -> str:
        if port not in names:
            names[port] = b.fresh(f"{port.node}:{port.index}")
        return names[port]

    problems: dict[str, list[str]] = {}
    consts: list[str] = []
    biases = conv_biases(graph)
    folded_adds = {add for add, _ in biases.values()}
    for n in order:
        op = graph.op(n)
        if op.type == "Parameter" or n in folded_adds:
            continue
        if n in biases:  # Conv with its bias as ONNX's third input, writing the Add's output
            add, bias = biases[n]
            ports = graph.inputs(n)
            ins = [name_of(p) for p in ports] + [b.const(bias, f"{n}/bias")]
            CONVERTERS[op.type](b, op, ins, [graph.info(p) for p in ports],
                                [name_of(Port(add, 0))])
            continue
        if op.type == "Const":
            consts.append(n)  # written below if a node reads it (converters may fold it)
            continue
        ports = graph.inputs(n)
        ins = [name_of(p) for p in ports]
        if op.type == "Result":
            b.node("Identity", ins, [result_names[n]], base=n)
            outputs.append(_value_info(result_names[n], graph.info(ports[0])))
            continue
        outs = [name_of(Port(n, i)) for i in range(len(op.outputs))]
        try:
            CONVERTERS[op.type](b, op, ins, [graph.info(p) for p in ports], outs)
        except Unsupported as err:
            problems.setdefault(f"{op.type} ({err})", []).append(n)
    if problems:
        _raise(problems, "not expressible in ONNX")
    read = {name for node in b.nodes for name in node.input}
    folded = []
    for n in consts:
        name = name_of(Port(n, 0))
        if name in read:
            value = np.ascontiguousarray(np.asarray(graph.op(n).attrs["value"]))
            folded.append(numpy_helper.from_array(value, name))
    b.initializers[:0] = folded
    onnx_graph = helper.make_graph(b.nodes, name, inputs, outputs, b.initializers)
    model = helper.make_model(onnx_graph, producer_name="tfconv-onnx", producer_version=_version(),
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9  # ONNX IR version 9 (opset 20's)
    return model


def conv_biases(graph: Graph) -> dict[str, tuple[str, np.ndarray]]:
    """Convolutions whose only reader adds a per-channel constant (``[1, C, 1, 1]``): the
    bias becomes the ONNX Conv's third input and the Add disappears (``conv -> (add, bias)``)."""
    from tfconv.graph import Port
    found = {}
    for op in graph.ops_of_type("Convolution", "GroupConvolution"):
        readers = graph.consumers(Port(op.name, 0))
        out = op.outputs[0].shape
        if len(readers) != 1 or out is None or len(out) < 3 or out[1] is None or \
                Port(op.name, 0) in graph.outputs:
            continue
        add, dst = readers[0]
        if graph.op(add).type != "Add" or graph.op(add).attrs.get("auto_broadcast", "numpy") \
                != "numpy":
            continue
        other = graph.inputs(add)[1 - dst]
        value = graph.op(other.node).attrs.get("value") if graph.op(other.node).type == "Const" \
            else None
        if value is None or value.dtype != op.outputs[0].dtype or value.ndim > len(out):
            continue
        padded = (1,) * (len(out) - value.ndim) + tuple(value.shape)
        if padded != (1, out[1]) + (1,) * (len(out) - 2):
            continue
        found[op.name] = (add, np.ascontiguousarray(value.reshape(-1)))
    return found


def _raise(found: dict[str, list[str]], why: str) -> None:
    """One line: each op type with its count, first nodes and the reason."""
    parts = []
    for op_type, nodes in sorted(found.items()):
        shown = ", ".join(nodes[:3]) + (", ..." if len(nodes) > 3 else "")
        parts.append(f"{op_type} x{len(nodes)} [{shown}]")
    msg = (f"the ONNX emitter cannot write IR op(s) {'; '.join(parts)}: {why}. Convert with "
           "--target ir (OpenVINO IR), or add a converter to tfconv_onnx.emitter.CONVERTERS")
    raise OnnxExportError(msg)


def write_onnx(graph: Graph, directory: Path, config: ConvertConfig) -> list[Path]:
    """Write ``<config.name>.onnx`` into ``directory`` (plus ``<name>.onnx.data`` for weights
    over ~1.8 GB); returns the files."""
    model = build_model(graph, config.name)
    path = Path(directory) / f"{config.name}.onnx"
    weights = sum(t.ByteSize() for t in model.graph.initializer)
    if weights > EXTERNAL_DATA_BYTES:
        data = f"{config.name}.onnx.data"
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data, size_threshold=1024)
        return [Path(directory) / data, path]
    onnx.save_model(model, str(path))
    return [path]
