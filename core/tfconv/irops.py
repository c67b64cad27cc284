"""Semantics of the OpenVINO IR ops that translators emit: opset version, shape and element-type
inference, and (for constant folding) a numpy evaluator.

One :class:`OpRule` per IR type, filled by the ``@rule`` decorator. The opset version recorded
here is the one whose semantics the rule implements; emitters write it as ``version="opsetN"``.
Plugins that emit other IR types add rules with :func:`add_rule` from their
``tfconv_register_ir_ops`` hook.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .errors import PluginError, ShapeInferenceError
from .graph import Port, TensorInfo

Dim = "int | None"
ShapeT = tuple  # tuple[int | None, ...]
Result = list  # list[tuple[ShapeT | None, np.dtype]]

Infer = Callable[[dict, Sequence[TensorInfo], Sequence["np.ndarray | None"]], "list[tuple]"]
Evaluate = Callable[[dict, Sequence[np.ndarray]], "list[np.ndarray]"]


@dataclass(frozen=True)
class OpRule:
    version: str
    infer: Infer
    evaluate: Evaluate | None = None


RULES: dict[str, OpRule] = {}


def add_rule(ir_type: str, rule: OpRule, *, override: bool = False) -> None:
    """Register the semantics of one IR type; a second rule for a type needs ``override=True``."""
    if ir_type in RULES and not override and RULES[ir_type] != rule:
        msg = f"IR op {ir_type!r} already has a shape rule; pass override=True to replace it"
        raise ShapeInferenceError(msg)
    RULES[ir_type] = rule


class IROpRegistry:
    """What ``tfconv_register_ir_ops`` receives. ``add`` collects a plugin's IR op rule;
    :meth:`install` makes the collected rules the ones tfconv uses (:data:`PLUGIN_RULES`,
    consulted before the built-in :data:`RULES`)."""

    def __init__(self) -> None:
        self.current_plugin = "?"
        self.added: dict[str, str] = {}  # IR type -> plugin that added it
        self.rules: dict[str, OpRule] = {}

    def install(self) -> None:
        PLUGIN_RULES.clear()
        PLUGIN_RULES.update(self.rules)

    def add(self, ir_type: str, infer: Infer, *, version: str, evaluate: Evaluate | None = None,
            override: bool = False) -> None:
        """The shape/type rule ``infer`` (and optional constant evaluator) of ``ir_type``,
        written in the IR as ``version`` (its opset name)."""
        who = self.current_plugin
        if not callable(infer) or (evaluate is not None and not callable(evaluate)):
            msg = f"plugin {who}: the rule for IR op {ir_type!r} is not callable"
            raise PluginError(msg)
        new = OpRule(version, infer, evaluate)
        before = self.added.get(ir_type)
        if before is not None and before.endswith(" (override)") == override:
            msg = (f"IR op {ir_type!r} has rules from plugins {before.split()[0]} and {who}"
                   + ("; only one may override" if override else "; one of them must pass "
                      "override=True"))
            raise PluginError(msg)
        if not override and ir_type in RULES and RULES[ir_type] != new:
            msg = (f"plugin {who}: IR op {ir_type!r} already has a built-in rule; pass "
                   "override=True to replace it")
            raise PluginError(msg)
        if override or before is None:  # an override wins whatever the registration order
            self.rules[ir_type] = new
            self.added[ir_type] = who + (" (override)" if override else "")


# Rules from the plugins' ``tfconv_register_ir_ops`` (of the plugin manager used last).
PLUGIN_RULES: dict[str, OpRule] = {}


def _rule(ir_type: str) -> OpRule | None:
    return PLUGIN_RULES.get(ir_type) or RULES.get(ir_type)


def rule(*types: str, version: str = "opset1", evaluate: Evaluate | None = None):
    def decorate(fn: Infer) -> Infer:
        for t in types:
            RULES[t] = OpRule(version, fn, evaluate)
        return fn
    return decorate


def infer(ir_type: str, attrs: dict, inputs: Sequence[TensorInfo],
          values: Sequence[np.ndarray | None]) -> list[tuple]:
    """Output ``(shape, dtype)`` pairs of one IR op."""
    r = _rule(ir_type)
    if r is None:
        msg = f"no shape rule for IR op {ir_type!r}"
        raise ShapeInferenceError(msg)
    return r.infer(attrs, inputs, values)


def evaluate(ir_type: str, attrs: dict, values: Sequence[np.ndarray]) -> list[np.ndarray] | None:
    """Compute an op on constant inputs, or ``None`` when it has no evaluator."""
    r = _rule(ir_type)
    if r is None or r.evaluate is None:
        return None
    return r.evaluate(attrs, values)


def version_of(ir_type: str) -> str:
    r = _rule(ir_type)
    return r.version if r else "opset1"


# -- helpers ---------------------------------------------------------------------------------


def broadcast_shapes(a: ShapeT | None, b: ShapeT | None) -> ShapeT | None:
    """Numpy broadcasting with ``None`` for dynamic dimensions."""
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        elif x is None:
            out.append(y)
        elif y is None:
            out.append(x)
        else:
            msg = f"shapes {fmt(a)} and {fmt(b)} do not broadcast"
            raise ShapeInferenceError(msg)
    return tuple(out)


def fmt(shape: ShapeT | None) -> str:
    if shape is None:
        return "[...]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        msg = f"axis {axis} is out of range for rank {rank}"
        raise ShapeInferenceError(msg)
    return axis + rank if axis < 0 else axis


def _const_ints(values: Sequence[np.ndarray | None], i: int) -> list[int] | None:
    v = values[i] if i < len(values) else None
    return None if v is None else [int(x) for x in np.asarray(v).reshape(-1)]


def _same(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


# -- element-wise ----------------------------------------------------------------------------

UNARY_EVAL: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Abs": np.abs, "Negative": np.negative, "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt,
    "Floor": np.floor, "Ceiling": np.ceil, "Sign": np.sign, "Sin": np.sin, "Cos": np.cos,
    "Tanh": np.tanh, "Relu": lambda x: np.maximum(x, 0).astype(x.dtype),
    "Sigmoid": lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype),
    "LogicalNot": np.logical_not,
}
for _t in ["Abs", "Negative", "Exp", "Log", "Sqrt", "Floor", "Ceiling", "Sign", "Sin", "Cos",
           "Tanh", "Relu", "Sigmoid", "Erf", "Elu", "Clamp", "HSwish", "HSigmoid", "Mish",
           "Asin", "Acos", "Atan", "Sinh", "Cosh", "Tan", "Round", "LogicalNot", "SoftSign"]:
    RULES[_t] = OpRule("opset1", _same, (lambda f: (lambda a, v: [np.asarray(f(v[0]))]))(UNARY_EVAL[_t])
                       if _t in UNARY_EVAL else None)
for _t, _v in [("HSwish", "opset4"), ("Mish", "opset4"), ("HSigmoid", "opset5"),
               ("Round", "opset5"), ("SoftSign", "opset9")]:
    RULES[_t] = OpRule(_v, _same)
RULES["Clamp"] = OpRule("opset1", _same,
                        lambda a, v: [np.clip(v[0], a["min"], a["max"]).astype(v[0].dtype)])


@rule("Swish", "SoftPlus", version="opset4")
def _swish(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


@rule("Gelu", version="opset7")
def _gelu(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


@rule("Selu")
def _selu(attrs, ins, values):
    # Selu(data, alpha, lambda): alpha and lambda are scalars (or 1-element tensors)
    return [(ins[0].shape, ins[0].dtype)]


@rule("PRelu")
def _prelu(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


def _binary_eval(fn):
    def run(attrs, v):
        out = fn(v[0], v[1])
        return [np.asarray(out).astype(np.result_type(v[0]), copy=False)
                if not isinstance(out, np.ndarray) or out.dtype != np.bool_ else out]
    return run


def _div(a, b):
    # IR Divide with the default pythondiv=true floors integer quotients.
    return np.floor_divide(a, b) if np.issubdtype(a.dtype, np.integer) else a / b


BINARY_EVAL = {
    "Add": np.add, "Subtract": np.subtract, "Multiply": np.multiply, "Divide": _div,
    "Maximum": np.maximum, "Minimum": np.minimum, "Power": np.power,
    "SquaredDifference": lambda a, b: (a - b) ** 2, "FloorMod": np.mod,
}
COMPARE_EVAL = {
    "Equal": np.equal, "NotEqual": np.not_equal, "Less": np.less, "LessEqual": np.less_equal,
    "Greater": np.greater, "GreaterEqual": np.greater_equal, "LogicalAnd": np.logical_and,
    "LogicalOr": np.logical_or, "LogicalXor": np.logical_xor,
}


def _binary(attrs, ins, values):
    return [(broadcast_shapes(ins[0].shape, ins[1].shape), ins[0].dtype)]


def _compare(attrs, ins, values):
    return [(broadcast_shapes(ins[0].shape, ins[1].shape), np.dtype(bool))]


for _t, _f in BINARY_EVAL.items():
    RULES[_t] = OpRule("opset1", _binary, _binary_eval(_f))
for _t, _f in COMPARE_EVAL.items():
    RULES[_t] = OpRule("opset1", _compare, lambda a, v, f=_f: [np.asarray(f(v[0], v[1]))])


@rule("Select", evaluate=lambda a, v: [np.where(v[0], v[1], v[2])])
def _select(attrs, ins, values):
    shape = broadcast_shapes(broadcast_shapes(ins[0].shape, ins[1].shape), ins[2].shape)
    return [(shape, ins[1].dtype)]


@rule("Convert", evaluate=lambda a, v: [v[0].astype(a["destination_type"])])
def _convert(attrs, ins, values):
    return [(ins[0].shape, np.dtype(attrs["destination_type"]))]


# -- sources and sinks -----------------------------------------------------------------------


@rule("Parameter")
def _parameter(attrs, ins, values):
    return [(tuple(attrs["shape"]) if attrs.get("shape") is not None else None,
             np.dtype(attrs["element_type"]))]


@rule("Const")
def _const(attrs, ins, values):
    v = attrs["value"]
    return [(tuple(v.shape), v.dtype)]


@rule("Result")
def _result(attrs, ins, values):
    return []


# -- convolution and pooling -----------------------------------------------------------------


def _window(size: int | None, k: int, s: int, d: int, pb: int, pe: int, auto_pad: str,
            ceil: bool = False) -> int | None:
    if size is None:
        return None
    if auto_pad in ("same_upper", "same_lower"):
        return -(-size // s)
    if auto_pad == "valid":
        pb = pe = 0
    eff = (k - 1) * d + 1
    span = size + pb + pe - eff
    out = (-(-span // s) if ceil else span // s) + 1
    return out


def _spatial(attrs, data: ShapeT, kernel: Sequence[int], ceil: bool = False) -> list:
    n = len(kernel)
    strides = attrs["strides"]
    dil = attrs.get("dilations", [1] * n)
    pb, pe = attrs.get("pads_begin", [0] * n), attrs.get("pads_end", [0] * n)
    auto = attrs.get("auto_pad", "explicit")
    return [_window(data[2 + i], kernel[i], strides[i], dil[i], pb[i], pe[i], auto, ceil)
            for i in range(n)]


@rule("Convolution")
def _convolution(attrs, ins, values):
    x, w = ins[0].shape, ins[1].shape
    if x is None or w is None:
        return [(None, ins[0].dtype)]
    return [((x[0], w[0], *_spatial(attrs, x, w[2:])), ins[0].dtype)]


@rule("GroupConvolution")
def _group_convolution(attrs, ins, values):
    x, w = ins[0].shape, ins[1].shape
    if x is None or w is None:
        return [(None, ins[0].dtype)]
    return [((x[0], w[0] * w[1], *_spatial(attrs, x, w[3:])), ins[0].dtype)]


@rule("ConvolutionBackpropData")
def _deconvolution(attrs, ins, values):
    x, w = ins[0].shape, ins[1].shape
    if len(ins) > 2:
        spatial = _const_ints(values, 2)
        if spatial is None:
            return [(None, ins[0].dtype)]
        return [((x[0], w[1], *spatial), ins[0].dtype)]
    n = len(w) - 2
    s, d = attrs["strides"], attrs.get("dilations", [1] * n)
    pb, pe = attrs.get("pads_begin", [0] * n), attrs.get("pads_end", [0] * n)
    op = attrs.get("output_padding", [0] * n)
    sp = [None if x[2 + i] is None else
          s[i] * (x[2 + i] - 1) + (w[2 + i] - 1) * d[i] + 1 - pb[i] - pe[i] + op[i] for i in range(n)]
    return [((x[0], w[1], *sp), ins[0].dtype)]


@rule("MaxPool", "AvgPool")
def _pool(attrs, ins, values):
    x = ins[0].shape
    if x is None:
        return [(None, ins[0].dtype)]
    ceil = attrs.get("rounding_type", "floor") == "ceil"
    return [((x[0], x[1], *_spatial(attrs, x, attrs["kernel"], ceil)), ins[0].dtype)]


# -- matrix and normalisation ------------------------------------------------------------------


@rule("MatMul", evaluate=lambda a, v: [np.matmul(
    np.swapaxes(v[0], -1, -2) if a.get("transpose_a") else v[0],
    np.swapaxes(v[1], -1, -2) if a.get("transpose_b") else v[1])])
def _matmul(attrs, ins, values):
    a, b = ins[0].shape, ins[1].shape
    if a is None or b is None:
        return [(None, ins[0].dtype)]
    a, b = list(a), list(b)
    if attrs.get("transpose_a") and len(a) > 1:
        a[-1], a[-2] = a[-2], a[-1]
    if attrs.get("transpose_b") and len(b) > 1:
        b[-1], b[-2] = b[-2], b[-1]
    batch = broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))
    rows = [a[-2]] if len(a) > 1 else []
    cols = [b[-1]] if len(b) > 1 else []
    return [((*batch, *rows, *cols), ins[0].dtype)]


@rule("Einsum", version="opset7")
def _einsum(attrs, ins, values):
    # equation "ab...c,cd->ab...d": a label's dim comes from any operand that knows it; "..." is
    # the numpy broadcast of what it covers in each operand
    lhs, _, out_term = attrs["equation"].partition("->")
    dims: dict[str, int | None] = {}
    ellipsis: tuple = ()
    for term, info in zip(lhs.split(","), ins):
        if info.shape is None:
            return [(None, ins[0].dtype)]
        head, dots, tail = term.partition("...")
        n = len(info.shape) - len(head) - len(tail) if dots else 0
        shape = info.shape[:len(head)] + info.shape[len(head) + n:]
        if dots:
            ellipsis = broadcast_shapes(ellipsis, info.shape[len(head):len(head) + n])
        for label, d in zip(head + tail, shape):
            if dims.get(label) is None:
                dims[label] = d
    head, dots, tail = out_term.partition("...")
    return [((*(dims[l] for l in head), *(ellipsis if dots else ()), *(dims[l] for l in tail)),
             ins[0].dtype)]


@rule("SoftMax", "LogSoftmax", version="opset8")
def _softmax(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


RULES["LogSoftmax"] = OpRule("opset5", _softmax)


@rule("BatchNormInference", version="opset5")
def _bn(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


@rule("FakeQuantize")
def _fake_quantize(attrs, ins, values):
    # No evaluator on purpose: FakeQuantize on weights stays in the IR for low-precision runtimes.
    shape = ins[0].shape
    for other in ins[1:]:
        shape = broadcast_shapes(shape, other.shape)
    return [(shape, ins[0].dtype)]


@rule("MVN", version="opset6")
def _mvn(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


@rule("NormalizeL2", "LRN")
def _normalize(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


# -- shape manipulation ----------------------------------------------------------------------


@rule("ShapeOf", version="opset3",
      evaluate=None)
def _shape_of(attrs, ins, values):
    rank = ins[0].rank
    return [((rank,), np.dtype(attrs.get("output_type", "int64")))]


def shape_value(info: TensorInfo, dtype: str = "int64") -> np.ndarray | None:
    """The value of ShapeOf(x) when x's shape is fully static."""
    if not info.is_static:
        return None
    return np.array(info.shape, dtype=dtype)


def _reshape_out(in_shape: ShapeT | None, target: list[int], special_zero: bool) -> ShapeT:
    out: list[int | None] = []
    for i, d in enumerate(target):
        if d == 0 and special_zero:
            out.append(None if in_shape is None or i >= len(in_shape) else in_shape[i])
        else:
            out.append(d)
    if -1 in out:
        copied = {i for i, d in enumerate(target) if d == 0 and special_zero}
        known = [d for i, d in enumerate(out) if d != -1 and i not in copied]
        rest_in = None if in_shape is None else [d for i, d in enumerate(in_shape) if i not in copied]
        if rest_in is None or any(d is None for d in rest_in + known):
            out = [None if d == -1 else d for d in out]
        else:
            total, rest = int(np.prod(rest_in)), int(np.prod(known)) if known else 1
            out = [(total // rest if rest else 0) if d == -1 else d for d in out]
    return tuple(out)


def _reshape_eval(attrs, v):
    target = [int(d) for d in v[1].reshape(-1)]
    shape = _reshape_out(v[0].shape, target, attrs.get("special_zero", False))
    return [v[0].reshape(shape)]


@rule("Reshape", evaluate=_reshape_eval)
def _reshape(attrs, ins, values):
    target = _const_ints(values, 1)
    if target is None:
        n = ins[1].shape[0] if ins[1].shape else None
        return [(None if n is None else (None,) * n, ins[0].dtype)]
    return [(_reshape_out(ins[0].shape, target, attrs.get("special_zero", False)), ins[0].dtype)]


@rule("Transpose", evaluate=lambda a, v: [np.transpose(v[0], [int(p) for p in v[1]])])
def _transpose(attrs, ins, values):
    perm = _const_ints(values, 1)
    x = ins[0].shape
    if x is None:
        return [(None, ins[0].dtype)]
    if perm is None:
        return [((None,) * len(x), ins[0].dtype)]
    if not perm:
        perm = list(reversed(range(len(x))))
    return [(tuple(x[p] for p in perm), ins[0].dtype)]


def _squeeze_axes(x: ShapeT, axes: list[int] | None) -> ShapeT:
    if axes is None:
        if any(d is None for d in x):
            return None  # a dynamic dim may be 1 at run time
        return tuple(d for d in x if d != 1)
    axes = {norm_axis(a, len(x)) for a in axes}
    return tuple(d for i, d in enumerate(x) if i not in axes)


@rule("Squeeze", evaluate=lambda a, v: [v[0].reshape(_squeeze_axes(
    v[0].shape, None if len(v) < 2 else [int(i) for i in v[1].reshape(-1)]))])
def _squeeze(attrs, ins, values):
    x = ins[0].shape
    if x is None:
        return [(None, ins[0].dtype)]
    axes = _const_ints(values, 1) if len(ins) > 1 else None
    if len(ins) > 1 and axes is None:
        return [(None, ins[0].dtype)]
    return [(_squeeze_axes(x, axes), ins[0].dtype)]


def _unsqueeze_shape(x: ShapeT, axes: list[int]) -> ShapeT:
    rank = len(x) + len(set(axes))
    axes = sorted({norm_axis(a, rank) for a in axes})
    out = list(x)
    for a in axes:
        out.insert(a, 1)
    return tuple(out)


@rule("Unsqueeze", evaluate=lambda a, v: [v[0].reshape(_unsqueeze_shape(
    v[0].shape, [int(i) for i in v[1].reshape(-1)]))])
def _unsqueeze(attrs, ins, values):
    axes = _const_ints(values, 1)
    if ins[0].shape is None or axes is None:
        return [(None, ins[0].dtype)]
    return [(_unsqueeze_shape(ins[0].shape, axes), ins[0].dtype)]


@rule("Concat", evaluate=lambda a, v: [np.concatenate(v, axis=a["axis"])])
def _concat(attrs, ins, values):
    shapes = [i.shape for i in ins]
    if any(s is None for s in shapes):
        return [(None, ins[0].dtype)]
    rank = len(shapes[0])
    axis = norm_axis(attrs["axis"], rank)
    out = []
    for d in range(rank):
        dims = [s[d] for s in shapes]
        if d == axis:
            out.append(None if any(x is None for x in dims) else sum(dims))
        else:
            known = [x for x in dims if x is not None]
            out.append(known[0] if known else None)
    return [(tuple(out), ins[0].dtype)]


def _split_eval(attrs, v):
    return list(np.split(v[0], attrs["num_splits"], axis=int(v[1])))


@rule("Split", evaluate=_split_eval)
def _split(attrs, ins, values):
    n = attrs["num_splits"]
    x = ins[0].shape
    axis = _const_ints(values, 1)
    if x is None or axis is None:
        return [(None, ins[0].dtype)] * n
    a = norm_axis(axis[0], len(x))
    out = list(x)
    out[a] = None if x[a] is None else x[a] // n
    return [(tuple(out), ins[0].dtype)] * n


def _vsplit_eval(attrs, v):
    axis = int(v[1])
    lengths = [int(i) for i in v[2]]
    if -1 in lengths:
        lengths[lengths.index(-1)] = v[0].shape[axis] - (sum(lengths) + 1)
    return list(np.split(v[0], np.cumsum(lengths)[:-1], axis=axis))


@rule("VariadicSplit", evaluate=_vsplit_eval)
def _variadic_split(attrs, ins, values):
    x = ins[0].shape
    axis, lengths = _const_ints(values, 1), _const_ints(values, 2)
    n = ins[2].shape[0] if ins[2].shape else None
    if lengths is None or x is None or axis is None:
        return [(None, ins[0].dtype)] * (n or 1)
    a = norm_axis(axis[0], len(x))
    if -1 in lengths:
        i = lengths.index(-1)
        lengths[i] = None if x[a] is None else x[a] - (sum(lengths) + 1)
    return [(tuple(l if j == a else x[j] for j in range(len(x))), ins[0].dtype) for l in lengths]


def strided_slice_numpy(x: np.ndarray, begin, end, strides, attrs) -> np.ndarray:
    """Apply IR StridedSlice semantics (masks as lists of 0/1) to a numpy array."""
    def mask(name, n):
        m = list(attrs.get(name, []))
        return m + [0] * (n - len(m))
    n = len(begin)
    bm, em, nm, sm, elm = (mask(k, n) for k in
                           ("begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask",
                            "ellipsis_mask"))
    index: list[object] = []
    for i in range(n):
        if elm[i]:
            index.append(Ellipsis)
        elif nm[i]:
            index.append(np.newaxis)
        elif sm[i]:
            index.append(int(begin[i]))
        else:
            b = None if bm[i] else int(begin[i])
            e = None if em[i] else int(end[i])
            index.append(slice(b, e, int(strides[i]) if strides is not None else 1))
    return x[tuple(index)]


def _ss_eval(attrs, v):
    strides = v[3] if len(v) > 3 else np.ones_like(v[1])
    return [np.array(strided_slice_numpy(v[0], v[1], v[2], strides, attrs))]


@rule("StridedSlice", evaluate=_ss_eval)
def _strided_slice(attrs, ins, values):
    x = ins[0].shape
    begin, end = _const_ints(values, 1), _const_ints(values, 2)
    strides = _const_ints(values, 3) if len(ins) > 3 else (None if begin is None else [1] * len(begin))
    if x is None:
        return [(None, ins[0].dtype)]
    if begin is None or end is None or strides is None:
        return [(_ss_partial_shape(x, ins, attrs, strides), ins[0].dtype)]
    # Evaluate on a dummy array of the shape with dynamic dims as a large placeholder size.
    big = 1 << 20
    dummy_shape = tuple(big if d is None else d for d in x)
    probe = np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), dummy_shape, (0,) * len(x))
    out = strided_slice_numpy(probe, begin, end, strides, attrs)
    # Map dims back: a dim is dynamic if it came from a dynamic input dim.
    shape = list(out.shape)
    marks = list(_ss_dim_sources(len(x), begin, attrs))
    result = []
    for d, src in zip(shape, marks):
        result.append(None if src is not None and x[src] is None else d)
    return [(tuple(result), ins[0].dtype)]


def _ss_partial_shape(x: tuple, ins, attrs, strides: list[int] | None) -> tuple | None:
    """A StridedSlice's output shape when its bounds are computed: the rank follows from the
    masks and the bounds' length; a dim that is not sliced (under the ellipsis, past the bounds,
    or both bounds masked with a unit stride) keeps its size, a new axis is 1, a sliced dim is
    unknown."""
    n = ins[1].shape[0] if ins[1].shape and len(ins[1].shape) == 1 else None
    if n is None:
        return None
    masks = {k: list(attrs.get(k, [])) + [0] * n for k in ("begin_mask", "end_mask")}
    out = []
    for src, i in _ss_dim_sources(len(x), [0] * n, attrs, with_index=True):
        if src is not None and src >= len(x):
            return None  # more bounds than dims: TensorFlow rejects it at run time
        if src is None:
            out.append(1)
        elif i is None or (masks["begin_mask"][i] and masks["end_mask"][i]
                           and strides is not None and strides[i] == 1):
            out.append(x[src])
        else:
            out.append(None)
    return tuple(out)


def _ss_dim_sources(rank: int, begin: list[int], attrs, with_index: bool = False) -> list:
    """For each output dim of a StridedSlice, the input dim it comes from (None: new axis);
    ``with_index``: pairs of that and the bounds' index that slices it (None: not sliced)."""
    n = len(begin)
    def mask(name):
        m = list(attrs.get(name, []))
        return m + [0] * (n - len(m))
    nm, sm, elm = mask("new_axis_mask"), mask("shrink_axis_mask"), mask("ellipsis_mask")
    consumed = sum(1 for i in range(n) if not nm[i] and not elm[i])
    out: list = []
    src = 0
    for i in range(n):
        if elm[i]:
            for _ in range(rank - consumed):
                out.append((src, None))
                src += 1
        elif nm[i]:
            out.append((None, i))
        elif sm[i]:
            src += 1
        else:
            out.append((src, i))
            src += 1
    while src < rank:
        out.append((src, None))
        src += 1
    return out if with_index else [s for s, _ in out]


def _gather_eval(attrs, v):
    axis = int(np.asarray(v[2]).reshape(-1)[0])
    bd = attrs.get("batch_dims", 0)
    data, idx = v[0], v[1]
    axis = axis + data.ndim if axis < 0 else axis
    if bd == 0:
        idx = np.where(idx < 0, idx + data.shape[axis], idx)
        return [np.take(data, idx, axis=axis)]
    return None  # type: ignore[return-value]


@rule("Gather", version="opset8", evaluate=_gather_eval)
def _gather(attrs, ins, values):
    x, idx = ins[0].shape, ins[1].shape
    axis = _const_ints(values, 2)
    if x is None or idx is None or axis is None:
        return [(None, ins[0].dtype)]
    a = norm_axis(axis[0], len(x))
    bd = attrs.get("batch_dims", 0)
    return [((*x[:a], *idx[bd:], *x[a + 1:]), ins[0].dtype)]


def _pad_eval(attrs, v):
    pb, pe = [int(i) for i in v[1]], [int(i) for i in v[2]]
    mode = attrs.get("pad_mode", "constant")
    if min(pb + pe) < 0:
        return None  # type: ignore[return-value]
    width = list(zip(pb, pe))
    if mode == "constant":
        c = v[3] if len(v) > 3 else 0
        return [np.pad(v[0], width, mode="constant", constant_values=c)]
    return [np.pad(v[0], width, mode={"reflect": "reflect", "symmetric": "symmetric",
                                       "edge": "edge"}[mode])]


@rule("Pad", version="opset12", evaluate=_pad_eval)
def _pad(attrs, ins, values):
    x = ins[0].shape
    pb, pe = _const_ints(values, 1), _const_ints(values, 2)
    if x is None or pb is None or pe is None:
        return [(None if x is None else (None,) * len(x), ins[0].dtype)]
    return [(tuple(None if d is None else d + b + e for d, b, e in zip(x, pb, pe)), ins[0].dtype)]


def _reduce_shape(x: ShapeT, axes: list[int], keep: bool) -> ShapeT:
    axes_n = {norm_axis(a, len(x)) for a in axes}
    if keep:
        return tuple(1 if i in axes_n else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes_n)


REDUCE_EVAL = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max,
               "ReduceMin": np.min, "ReduceProd": np.prod, "ReduceL2": None,
               "ReduceLogicalAnd": np.all, "ReduceLogicalOr": np.any}


def _reduce(attrs, ins, values):
    axes = _const_ints(values, 1)
    x = ins[0].shape
    if x is None or axes is None:
        return [(None, ins[0].dtype)]
    return [(_reduce_shape(x, axes, attrs.get("keep_dims", False)), ins[0].dtype)]


for _t, _f in REDUCE_EVAL.items():
    RULES[_t] = OpRule("opset1", _reduce, None if _f is None else (
        lambda a, v, f=_f: [np.asarray(f(v[0], axis=tuple(int(i) for i in v[1].reshape(-1)),
                                         keepdims=a.get("keep_dims", False))).astype(v[0].dtype)]))
RULES["ReduceL2"] = OpRule("opset4", _reduce)


def _broadcast_eval(attrs, v):
    return [np.broadcast_to(v[0], [int(d) for d in v[1]]).copy()] \
        if attrs.get("mode", "numpy") in ("numpy", "bidirectional") and \
        attrs.get("mode", "numpy") == "numpy" else \
        [(v[0] * np.ones([int(d) for d in v[1]], v[0].dtype))]


@rule("Broadcast", version="opset3", evaluate=_broadcast_eval)
def _broadcast(attrs, ins, values):
    target = _const_ints(values, 1)
    if target is None:
        n = ins[1].shape[0] if ins[1].shape else None
        return [(None if n is None else (None,) * n, ins[0].dtype)]
    if attrs.get("mode", "numpy") == "bidirectional":
        return [(broadcast_shapes(ins[0].shape, tuple(target)), ins[0].dtype)]
    return [(tuple(target), ins[0].dtype)]


@rule("Tile", evaluate=lambda a, v: [np.tile(v[0], [int(r) for r in v[1]])])
def _tile(attrs, ins, values):
    reps = _const_ints(values, 1)
    x = ins[0].shape
    if x is None or reps is None:
        return [(None, ins[0].dtype)]
    n = max(len(x), len(reps))
    x = (1,) * (n - len(x)) + tuple(x)
    reps = [1] * (n - len(reps)) + reps
    return [(tuple(None if d is None else d * r for d, r in zip(x, reps)), ins[0].dtype)]


@rule("Range", version="opset4", evaluate=lambda a, v: [np.arange(
    v[0].item(), v[1].item(), v[2].item()).astype(a["output_type"])])
def _range(attrs, ins, values):
    s, e, d = (None if v is None else np.asarray(v).item() for v in values[:3])
    if None in (s, e, d):
        return [((None,), np.dtype(attrs["output_type"]))]
    return [((max(0, int(np.ceil((e - s) / d))),), np.dtype(attrs["output_type"]))]


@rule("DepthToSpace")
def _depth_to_space(attrs, ins, values):
    x, b = ins[0].shape, attrs["block_size"]
    if x is None:
        return [(None, ins[0].dtype)]
    n, c, *sp = x
    k = b ** len(sp)
    return [((n, None if c is None else c // k, *(None if d is None else d * b for d in sp)),
             ins[0].dtype)]


@rule("SpaceToDepth")
def _space_to_depth(attrs, ins, values):
    x, b = ins[0].shape, attrs["block_size"]
    if x is None:
        return [(None, ins[0].dtype)]
    n, c, *sp = x
    k = b ** len(sp)
    return [((n, None if c is None else c * k, *(None if d is None else d // b for d in sp)),
             ins[0].dtype)]


@rule("Interpolate", version="opset11")
def _interpolate(attrs, ins, values):
    x = ins[0].shape
    if x is None:
        return [(None, ins[0].dtype)]
    axes = _const_ints(values, 2) if len(ins) > 2 else list(range(len(x)))
    sizes = _const_ints(values, 1)
    if sizes is None or axes is None:
        return [(tuple(None if i in (axes or []) else d for i, d in enumerate(x)), ins[0].dtype)]
    out = list(x)
    if attrs["shape_calculation_mode"] == "sizes":
        for a, s in zip(axes, sizes):
            out[norm_axis(a, len(x))] = s
    else:
        scales = [float(v) for v in np.asarray(values[1]).reshape(-1)]
        for a, s in zip(axes, scales):
            a = norm_axis(a, len(x))
            out[a] = None if x[a] is None else int(np.floor(x[a] * s + 1e-5))
    return [(tuple(out), ins[0].dtype)]


@rule("TopK", version="opset11")
def _topk(attrs, ins, values):
    x = ins[0].shape
    k = _const_ints(values, 1)
    if x is None:
        return [(None, ins[0].dtype), (None, np.dtype(attrs.get("index_element_type", "int32")))]
    a = norm_axis(attrs["axis"], len(x))
    out = tuple((k[0] if k else None) if i == a else d for i, d in enumerate(x))
    return [(out, ins[0].dtype), (out, np.dtype(attrs.get("index_element_type", "int32")))]


@rule("CumSum", version="opset3")
def _cumsum(attrs, ins, values):
    return [(ins[0].shape, ins[0].dtype)]


@rule("OneHot")
def _one_hot(attrs, ins, values):
    x = ins[0].shape
    depth = _const_ints(values, 1)
    if x is None:
        return [(None, ins[2].dtype)]
    out = list(x)
    out.insert(norm_axis(attrs["axis"], len(x) + 1), depth[0] if depth else None)
    return [(tuple(out), ins[2].dtype)]


# -- detection (NonMaxSuppression, NonZero, ROIPooling, GatherND) -------------------------------
# Data-dependent output sizes are dynamic dims (None), as OpenVINO infers them.


@rule("NonMaxSuppression", version="opset9")
def _non_max_suppression(attrs, ins, values):
    # selected_indices[M, 3] and selected_scores[M, 3] (batch, class, box / score); valid[1]
    index = np.dtype(attrs.get("output_type", "int64"))
    return [((None, 3), index), ((None, 3), ins[1].dtype), ((1,), index)]


def _non_zero_eval(attrs, v):
    return [np.array(np.nonzero(v[0]), dtype=attrs.get("output_type", "int64"))
            .reshape(np.ndim(v[0]), -1)]


@rule("NonZero", version="opset3", evaluate=_non_zero_eval)
def _non_zero(attrs, ins, values):
    x = ins[0].shape
    return [(None if x is None else (len(x), None), np.dtype(attrs.get("output_type", "int64")))]


@rule("ROIPooling", version="opset2")
def _roi_pooling(attrs, ins, values):
    # feature[N, C, H, W], rois[R, 5] -> [R, C, pooled_h, pooled_w]
    x, rois = ins[0].shape, ins[1].shape
    ph, pw = attrs["pooled_h"], attrs["pooled_w"]
    return [((None if rois is None else rois[0], None if x is None else x[1], ph, pw),
             ins[0].dtype)]


def _gather_nd_eval(attrs, v):
    if attrs.get("batch_dims", 0):
        return None  # type: ignore[return-value]
    data, idx = v[0], np.asarray(v[1]).astype(np.int64)
    idx = np.where(idx < 0, idx + np.array(data.shape[:idx.shape[-1]]), idx)
    return [data[tuple(np.moveaxis(idx, -1, 0))]]


@rule("GatherND", version="opset8", evaluate=_gather_nd_eval)
def _gather_nd(attrs, ins, values):
    # opset8 keeps the batch dims: out = idx[:-1] + data[batch_dims + idx[-1]:]
    x, idx = ins[0].shape, ins[1].shape
    bd = attrs.get("batch_dims", 0)
    if x is None or idx is None or idx[-1] is None:
        return [(None, ins[0].dtype)]
    return [((*idx[:-1], *x[bd + idx[-1]:]), ins[0].dtype)]


# -- op coverage (issue 12: scatter, image, linear algebra, misc math, bitwise) ---------------
# IR ops the coverage families emit (ops/{misc,scatter,linalg,image,sparse}.py).

for _t, _f, _v in [("Asinh", np.arcsinh, "opset4"), ("Acosh", np.arccosh, "opset4"),
                   ("Atanh", np.arctanh, "opset4"), ("BitwiseNot", np.invert, "opset13"),
                   ("Inverse", None, "opset14"), ("Roll", None, "opset7"),
                   ("ReverseSequence", None, "opset1")]:
    RULES[_t] = OpRule(_v, _same, None if _f is None else
                       (lambda f: (lambda a, v: [np.asarray(f(v[0])).astype(v[0].dtype)]))(_f))

for _t, _f in [("IsFinite", np.isfinite), ("IsNaN", np.isnan)]:
    RULES[_t] = OpRule("opset10", lambda a, ins, v: [(ins[0].shape, np.dtype(bool))],
                       lambda a, v, f=_f: [np.asarray(f(v[0]))])
RULES["IsInf"] = OpRule("opset10", lambda a, ins, v: [(ins[0].shape, np.dtype(bool))])

for _t, _f, _v in [("BitwiseAnd", np.bitwise_and, "opset13"),
                   ("BitwiseOr", np.bitwise_or, "opset13"),
                   ("BitwiseXor", np.bitwise_xor, "opset13"),
                   ("BitwiseLeftShift", np.left_shift, "opset15"),
                   ("BitwiseRightShift", np.right_shift, "opset15")]:
    RULES[_t] = OpRule(_v, _binary, _binary_eval(_f))

# Scatter ops write into a copy of their data input: same shape and type.
for _t, _v in [("ScatterNDUpdate", "opset15"), ("ScatterUpdate", "opset3"),
               ("ScatterElementsUpdate", "opset12")]:
    RULES[_t] = OpRule(_v, _same)


@rule("Bucketize", version="opset3")
def _bucketize(attrs, ins, values):
    return [(ins[0].shape, np.dtype(attrs.get("output_type", "int64")))]


@rule("Unique", version="opset10")
def _unique(attrs, ins, values):
    # no axis: the input is flattened; unique values, first indices, inverse indices, counts
    x = ins[0].shape
    n = None if x is None or None in x else int(np.prod(x, dtype=np.int64))
    index = np.dtype(attrs.get("index_element_type", "int64"))
    count = np.dtype(attrs.get("count_element_type", "int64"))
    return [((None,), ins[0].dtype), ((None,), index), ((n,), index), ((None,), count)]


@rule("ExtractImagePatches", version="opset3")
def _extract_image_patches(attrs, ins, values):
    # NCHW in, [N, C * kh * kw, out_h, out_w] out
    x = ins[0].shape
    if x is None:
        return [(None, ins[0].dtype)]
    n, c, *spatial = x
    out = []
    for d, k, s, r in zip(spatial, attrs["sizes"], attrs["strides"], attrs["rates"]):
        if d is None:
            out.append(None)
        elif attrs["auto_pad"] == "valid":
            out.append(max(0, (d - (k - 1) * r - 1) // s + 1))
        else:
            out.append(-(-d // s))
    kk = int(np.prod(attrs["sizes"]))
    return [((n, None if c is None else c * kk, *out), ins[0].dtype)]


def _dft_axes(values, rank: int) -> list[int] | None:
    axes = _const_ints(values, 1)
    return None if axes is None else [a + rank if a < 0 else a for a in axes]


@rule("DFT", "IDFT", version="opset7")
def _dft(attrs, ins, values):
    # complex data as [..., 2]; axes index the complex dims; signal sizes resize those axes
    x = ins[0].shape
    if x is None:
        return [(None, ins[0].dtype)]
    axes, sizes = _dft_axes(values, len(x) - 1), _const_ints(values, 2)
    out = list(x)
    for i, a in enumerate(axes or []):
        if sizes is not None and sizes[i] != -1:
            out[a] = sizes[i]
    if axes is None and len(ins) > 2:  # signal sizes for axes not known here
        return [((None,) * len(x), ins[0].dtype)]
    return [(tuple(out), ins[0].dtype)]


@rule("RDFT", version="opset9")
def _rdft(attrs, ins, values):
    # real data -> complex [..., 2]; the last transformed axis keeps size // 2 + 1 entries
    x = ins[0].shape
    axes, sizes = (None, None) if x is None else (_dft_axes(values, len(x)),
                                                  _const_ints(values, 2))
    if x is None or axes is None:
        return [(None if x is None else (None,) * (len(x) + 1), ins[0].dtype)]
    out = list(x)
    for i, a in enumerate(axes):
        if sizes is not None and sizes[i] != -1:
            out[a] = sizes[i]
    out[axes[-1]] = None if out[axes[-1]] is None else out[axes[-1]] // 2 + 1
    return [((*out, 2), ins[0].dtype)]


@rule("IRDFT", version="opset9")
def _irdft(attrs, ins, values):
    # complex [..., 2] -> real; the last transformed axis becomes signal_size (2 * (n - 1))
    x = ins[0].shape
    if x is None:
        return [(None, ins[0].dtype)]
    axes, sizes = _dft_axes(values, len(x) - 1), _const_ints(values, 2)
    if axes is None:
        return [((None,) * (len(x) - 1), ins[0].dtype)]
    out = list(x[:-1])
    for i, a in enumerate(axes):
        if sizes is not None and sizes[i] != -1:
            out[a] = sizes[i]
        elif a == axes[-1]:
            out[a] = None if out[a] is None else 2 * (out[a] - 1)
    return [(tuple(out), ins[0].dtype)]


@rule("RandomUniform", version="opset8")
def _random_uniform(attrs, ins, values):
    shape = _const_ints(values, 0)
    n = ins[0].shape[0] if ins[0].shape else None
    out = tuple(shape) if shape is not None else None if n is None else (None,) * n
    return [(out, np.dtype(attrs["output_type"]))]


@rule("Multinomial", version="opset13")
def _multinomial(attrs, ins, values):
    # [batch, classes] -> [batch, num_samples]
    x, num = ins[0].shape, _const_ints(values, 1)
    batch = None if x is None else x[0]
    out = np.dtype({"i32": np.int32, "i64": np.int64}[attrs["convert_type"]])
    return [((batch, None if num is None else num[0]), out)]


@rule("CTCGreedyDecoderSeqLen", version="opset6")
def _ctc_greedy_decoder_seq_len(attrs, ins, values):
    # data [N, T, C] -> classes [N, T] (padded with -1), lengths [N]; types as IR names
    x = ins[0].shape
    n, t = (None, None) if x is None else x[:2]
    names = {"i32": np.int32, "i64": np.int64}
    return [((n, t), np.dtype(names[attrs.get("classes_index_type", "i32")])),
            ((n,), np.dtype(names[attrs.get("sequence_length_type", "i32")]))]


# -- end of the op coverage section ------------------------------------------------------------


# -- sub-network ops: Loop and If --------------------------------------------------------------
# Their bodies are IR graphs held in private attributes, which the writer emits as <body>,
# <then_body>/<else_body> with their <port_map> (and the Loop's <back_edges>):
#   Loop: ``_body`` (Graph); ``_inputs`` [(body Parameter, slice axis or None)] for the Loop's
#         inputs 2.. (0 is the trip count, 1 the execution condition); ``_outputs`` [(body
#         Result, concatenation axis or None)]; ``_back_edges`` [(body Result, body Parameter)];
#         ``_current_iteration`` (a body Parameter or None); ``_condition`` (the body Result
#         giving the next iteration's execution condition).
#   If:   ``_then_body``/``_else_body`` (Graphs); ``_then_inputs``/``_else_inputs`` [body
#         Parameter or None] for the If's inputs 1.. (0 is the condition); ``_then_outputs``/
#         ``_else_outputs`` [body Result], one per If output.

def body_result_info(body, result: str) -> TensorInfo:
    """Shape and type of what a body's Result receives."""
    return body.info(body.inputs(result)[0])


def _merge_shapes(a: ShapeT | None, b: ShapeT | None) -> ShapeT | None:
    """The shape covering both: equal dims stay, others become dynamic; ranks must agree."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def _sequence_rule(states: int) -> Infer:
    """LSTMSequence (2 states) / GRUSequence, RNNSequence (1): X [B,T,I], H0 [B,D,H] ...
    -> Y [B,D,T,H], Ho [B,D,H] (, Co [B,D,H])."""
    def infer_sequence(attrs, ins, values):
        x, h0 = ins[0].shape, ins[1].shape
        b = x[0] if x is not None else (h0[0] if h0 is not None else None)
        t = x[1] if x is not None else None
        d = 2 if attrs.get("direction") == "bidirectional" else 1
        hs = int(attrs["hidden_size"])
        return [((b, d, t, hs), ins[0].dtype)] + [((b, d, hs), ins[0].dtype)] * states
    return infer_sequence


RULES["LSTMSequence"] = OpRule("opset5", _sequence_rule(2))
RULES["GRUSequence"] = OpRule("opset5", _sequence_rule(1))
RULES["RNNSequence"] = OpRule("opset5", _sequence_rule(1))


@rule("Loop", version="opset5")
def _loop(attrs, ins, values):
    body = attrs["_body"]
    carried = {result: param for result, param in attrs.get("_back_edges", ())}
    out = []
    for result, axis in attrs["_outputs"]:
        info = body_result_info(body, result)
        shape = info.shape
        if axis is not None:
            shape = None if shape is None else \
                tuple(None if i == axis else d for i, d in enumerate(shape))
        elif result in carried:  # the last value, or the initial one after no iteration
            shape = _merge_shapes(shape, body.info(Port(carried[result], 0)).shape)
        out.append((shape, info.dtype))
    return out


@rule("If", version="opset8")
def _if(attrs, ins, values):
    then, other = attrs["_then_body"], attrs["_else_body"]
    out = []
    for t, e in zip(attrs["_then_outputs"], attrs["_else_outputs"]):
        a, b = body_result_info(then, t), body_result_info(other, e)
        out.append((a.shape if a.shape == b.shape else _merge_shapes(a.shape, b.shape), a.dtype))
    return out
