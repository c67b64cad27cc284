"""Activation fusions: the op sequences that Keras 3, tf_keras and hand-written TF activations
translate to, replaced by the one OpenVINO op that computes them (the op the CPU plugin runs
fastest). Each is exact: constants are checked for their values (to float32 rounding), operands
match in any order, and every op swallowed feeds only the pattern.

    min(max(y, lo), hi), min(relu(y), hi)         -> Clamp(y, lo, hi)
    log(1 + exp(x))                               -> SoftPlus(x)
    clamp(x + 3, 0, 6) / 6   (any order)          -> HSigmoid(x)
    clamp(a x + 0.5, 0, 1)   (tf_keras)           -> HSigmoid(6 a x)
    x * HSigmoid(x)                               -> HSwish(x)
    0.5 x (1 + erf(x / sqrt 2)), 0.5 x erfc(-x / sqrt 2)               -> Gelu(x, erf)
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))                    -> Gelu(x, tanh)
    x * tanh(SoftPlus(x))                         -> Mish(x)
    x / (1 + |x|)                                 -> SoftSign(x)
    relu(x) - a * relu(-x)                        -> PRelu(x, a)
    x > 0 ? Elu(x) : a * Elu(x)                   -> Elu(x, a)
    max(x, 0) + a (exp(min(x, 0) / a) - 1)        -> a * Elu(x / a)      (CELU; Elu(x) for a = 1)
    x * sigmoid(b x)                              -> Swish(x, b)
    Transpose(SoftMax(Transpose(x, p)), p^-1)     -> SoftMax(x, axis p[-1])  (and LogSoftmax)

Products are read whole: a chain of Multiply, Negative and Divide by a constant is a list of
factors and one scale, so ``x * relu6(x + 3) / 6`` and ``(x / 6) * relu6(3 + x)`` are the same
product. Sums are read as polynomials of one tensor (``0.7978846 * (x + 0.044715 * x**3)``).
OpenVINO's Gelu (either mode), HSwish, HSigmoid, Mish, SoftPlus, SoftSign, Elu and Selu were
measured on the CPU plugin against TensorFlow over [-20, 20]: within 1.2e-7 of max|TF|.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tfconv.graph import Graph, Port
from tfconv.passes import graph_pass
from tfconv.translate import IRBuilder

from .fusion import _bypass, _const, _sole_consumer
from .layout import perm_of

RTOL = 1e-5  # how far a pattern's constant may be from its exact value (float32 spellings)
SQRT_HALF = float(np.sqrt(0.5))
SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
GELU_CUBIC = 0.044715
ARITHMETIC = {"Add", "Subtract", "Multiply", "Divide", "Negative", "Power"}
BEFORE = ["ir_backend.nchw_inputs"]
AFTER = ["ir_backend.canonicalize", "ir_backend.drop_identities"]

Poly = dict  # degree -> coefficient


def _near(value: float | None, exact: float) -> bool:
    return value is not None and abs(value - exact) <= RTOL * max(abs(exact), 1e-12)


def _scalar(graph: Graph, port: Port) -> float | None:
    """A float constant holding one value, as a Python float."""
    value = _const(graph, port)
    if value is None or value.size != 1 or value.dtype.kind != "f":
        return None
    return float(value.reshape(-1)[0])


def _only(graph: Graph, port: Port, op_type: str) -> Port | None:
    """The (first) input of ``port``'s op if it has type ``op_type`` and feeds only one op."""
    op = graph.op(port.node)
    if op.type != op_type or _sole_consumer(graph, port) is None:
        return None
    return graph.inputs(op.name)[0]


def _prune(graph: Graph, names: list[str]) -> None:
    """Remove the ops in ``names`` that no longer feed anything, and their producers likewise."""
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in graph or graph.op(name).type == "Parameter":
            continue
        if any(graph.consumers(Port(name, i)) for i in range(len(graph.op(name).outputs))):
            continue
        stack.extend(p.node for p in graph.inputs(name))
        graph.remove(name)


def _replace(graph: Graph, name: str, keep: Port) -> None:
    """``keep`` computes what op ``name`` did: rewire, carry the names, drop what is left over."""
    inputs = [p.node for p in graph.inputs(name)]
    _bypass(graph, name, keep)
    _prune(graph, inputs)


# -- reading expressions ---------------------------------------------------------------------------


def _poly(graph: Graph, port: Port, root: bool = True) -> tuple[Port | None, Poly]:
    """``port`` as ``sum(c[k] * base**k)`` for one tensor ``base`` (``None``: a constant), read
    through scalar-constant arithmetic whose inner ops feed only this expression (degree <= 3)."""
    value = _scalar(graph, port)
    if value is not None:
        return None, {0: value}
    leaf = (port, {1: 1.0})
    op = graph.op(port.node)
    if op.type not in ARITHMETIC or (not root and _sole_consumer(graph, port) is None):
        return leaf
    ins = graph.inputs(op.name)
    if op.type == "Negative":
        base, p = _poly(graph, ins[0], False)
        return base, {k: -c for k, c in p.items()}
    if op.type == "Power":
        e = _scalar(graph, ins[1])
        base, p = _poly(graph, ins[0], False)
        if e is None or e not in (2.0, 3.0) or len(p) != 1 or 1 not in p:
            return leaf
        return base, {int(e): p[1] ** e}
    (a_base, a), (b_base, b) = _poly(graph, ins[0], False), _poly(graph, ins[1], False)
    if a_base is not None and b_base is not None and a_base != b_base:
        return leaf
    base = a_base if a_base is not None else b_base
    if op.type in ("Add", "Subtract"):
        sign = 1.0 if op.type == "Add" else -1.0
        out = dict(a)
        for k, c in b.items():
            out[k] = out.get(k, 0.0) + sign * c
        return base, out
    if op.type == "Divide":
        if b_base is not None or b[0] == 0:
            return leaf
        return base, {k: c / b[0] for k, c in a.items()}
    out: Poly = {}
    for i, x in a.items():
        for j, y in b.items():
            out[i + j] = out.get(i + j, 0.0) + x * y
    return (base, out) if max(out) <= 3 else leaf


def _is_poly(poly: Poly, want: Poly) -> bool:
    """The polynomial has exactly the nonzero coefficients of ``want``, at their values."""
    keys = {k for k, c in poly.items() if c != 0}
    return keys == set(want) and all(_near(poly[k], c) for k, c in want.items())


def _factors(graph: Graph, port: Port, root: bool = True) -> tuple[float, list[Port]] | None:
    """``port`` as ``scale * product(factors)``, read through Multiply, Negative and Divide by a
    scalar constant; inner ops feed only this product. ``None`` unless ``port`` is such an op."""
    op = graph.op(port.node)
    if op.type not in ("Multiply", "Negative", "Divide") or \
            (not root and _sole_consumer(graph, port) is None):
        return None
    ins = graph.inputs(op.name)
    if op.type == "Divide":
        d = _scalar(graph, ins[1])
        if d is None or d == 0:
            return None
        ins, scale = ins[:1], 1.0 / d
    else:
        scale = -1.0 if op.type == "Negative" else 1.0
    factors: list[Port] = []
    for p in ins:
        value = _scalar(graph, p)
        inner = None if value is not None else _factors(graph, p, False)
        if value is not None:
            scale *= value
        elif inner is not None:
            scale *= inner[0]
            factors.extend(inner[1])
        else:
            factors.append(p)
    return scale, factors


Rule = Callable[[Graph, IRBuilder, float, list[Port], str], "tuple[float, list[Port]] | None"]


def _fuse_products(graph: Graph, rule: Rule) -> None:
    """Apply ``rule`` to every product (each Multiply or Divide, inner ones first); a rule returns
    the product's new scale and factors when it fused some of them."""
    b = IRBuilder(graph)
    for name in graph.topological_order():
        if name not in graph or graph.op(name).type not in ("Multiply", "Divide"):
            continue
        read = _factors(graph, Port(name))
        if read is None or not read[1] or graph.info(Port(name)).dtype.kind != "f":
            continue
        new = rule(graph, b, read[0], read[1], name)
        if new is None:
            continue
        scale, factors = new
        out = factors[0]
        for f in factors[1:]:
            out = b.emit("Multiply", [out, f], f"{name}/product")[0]
        if abs(scale - 1.0) > 1e-6:
            dtype = graph.info(Port(name)).dtype
            out = b.emit("Multiply", [out, b.const(np.array(scale, dtype), f"{name}/scale")],
                         f"{name}/scaled")[0]
        if graph.info(out).shape != graph.info(Port(name)).shape:
            _prune(graph, [out.node])  # a constant of higher rank broadcast the product
            continue
        _replace(graph, name, out)


def _pick(factors: list[Port], match: Callable[[Port], object]) -> tuple[int, object] | None:
    for i, f in enumerate(factors):
        found = match(f)
        if found is not None:
            return i, found
    return None


# -- identities, Clamp, SoftPlus -------------------------------------------------------------------

NEUTRAL = {"Add": 0.0, "Subtract": 0.0, "Multiply": 1.0, "Divide": 1.0}


@graph_pass("ir_backend.drop_identities", stage="ir", after=["ir_backend.canonicalize"],
            before=BEFORE)
def drop_identities(graph: Graph, config) -> None:
    """x + 0, x - 0, x * 1, x / 1 -> x (Keras Rescaling(1, offset=3) leaves them), so that the
    fusions below see the pattern behind them."""
    for name in graph.topological_order():
        op = graph.op(name)
        if op.type not in NEUTRAL:
            continue
        ins = graph.inputs(name)
        for i in (1, 0):  # the constant's position; only second for Subtract and Divide
            x, c = ins[1 - i], ins[i]
            if i == 0 and op.type in ("Subtract", "Divide"):
                continue
            value = _const(graph, c)
            if value is None or value.dtype.kind != "f" or np.any(value != NEUTRAL[op.type]) or \
                    graph.info(x).dtype != value.dtype or \
                    graph.info(x).shape != graph.info(Port(name)).shape:
                continue
            _replace(graph, name, x)
            break


# -- Clamp, SoftPlus -------------------------------------------------------------------------------


@graph_pass("ir_backend.fuse_clamp", stage="ir", after=AFTER, before=BEFORE)
def fuse_clamp(graph: Graph, config) -> None:
    """min(max(y, lo), hi), max(min(y, hi), lo), min(relu(y), hi) -> Clamp(y, lo, hi)."""
    b = IRBuilder(graph)
    for name in graph.topological_order():
        if name not in graph or graph.op(name).type not in ("Minimum", "Maximum"):
            continue
        outer = graph.op(name)
        found = _clamp_of(graph, name)
        if found is None:
            continue
        y, lo, hi = found
        clamp = b.emit("Clamp", [y], f"{name}/clamp", {"min": lo, "max": hi})[0]
        if graph.info(clamp).shape != graph.info(Port(outer.name)).shape:
            _prune(graph, [clamp.node])
            continue
        _replace(graph, name, clamp)


def _clamp_of(graph: Graph, name: str) -> tuple[Port, float, float] | None:
    op = graph.op(name)
    for inner, bound in (graph.inputs(name), graph.inputs(name)[::-1]):
        limit = _scalar(graph, bound)
        if limit is None or graph.info(inner).dtype.kind != "f":
            continue
        inner_op = graph.op(inner.node)
        if _sole_consumer(graph, inner) is None:
            continue
        if op.type == "Minimum" and inner_op.type == "Relu" and limit >= 0:
            return graph.inputs(inner_op.name)[0], 0.0, limit
        want = {"Minimum": "Maximum", "Maximum": "Minimum"}[op.type]
        if inner_op.type != want:
            continue
        for y, other in (graph.inputs(inner_op.name), graph.inputs(inner_op.name)[::-1]):
            second = _scalar(graph, other)
            if second is None or _scalar(graph, y) is not None:
                continue
            lo, hi = (second, limit) if op.type == "Minimum" else (limit, second)
            if lo <= hi:
                return y, lo, hi
    return None


@graph_pass("ir_backend.fuse_softplus", stage="ir", after=AFTER, before=BEFORE)
def fuse_softplus(graph: Graph, config) -> None:
    """log(1 + exp(x)) -> SoftPlus(x) (which also stays finite where exp(x) overflows)."""
    b = IRBuilder(graph)
    for op in graph.ops_of_type("Log"):
        e, poly = _poly(graph, graph.inputs(op.name)[0])
        if e is None or not _is_poly(poly, {0: 1.0, 1: 1.0}):
            continue
        x = _only(graph, e, "Exp")
        if x is None:
            continue
        _replace(graph, op.name, b.emit("SoftPlus", [x], f"{op.name}/softplus")[0])


# -- HSigmoid, HSwish ------------------------------------------------------------------------------


def _relu6_of_x_plus_3(graph: Graph, port: Port) -> Port | None:
    """x for ``port`` = Clamp(x + 3, 0, 6) that feeds one op."""
    op = graph.op(port.node)
    if op.type != "Clamp" or op.attrs.get("min") != 0.0 or op.attrs.get("max") != 6.0 or \
            _sole_consumer(graph, port) is None:
        return None
    x, poly = _poly(graph, graph.inputs(op.name)[0])
    return x if x is not None and _is_poly(poly, {0: 3.0, 1: 1.0}) else None


def _hsigmoid_rule(graph, b, scale, factors, name):
    hit = _pick(factors, lambda f: _relu6_of_x_plus_3(graph, f))
    if hit is None or not _near(scale, 1.0 / 6.0):
        return None
    i, x = hit
    factors[i] = b.emit("HSigmoid", [x], f"{name}/hsigmoid")[0]
    return scale * 6.0, factors


def _hswish_rule(graph, b, scale, factors, name):
    def hsigmoid_of(f: Port) -> Port | None:
        x = _only(graph, f, "HSigmoid")
        return x if x is not None and x in factors else None
    hit = _pick(factors, hsigmoid_of)
    if hit is None:
        return None
    i, x = hit
    rest = [f for j, f in enumerate(factors) if j != i]
    rest.remove(x)
    return scale, [b.emit("HSwish", [x], f"{name}/hswish")[0], *rest]


@graph_pass("ir_backend.fuse_hsigmoid", stage="ir", after=[*AFTER, "ir_backend.fuse_clamp"],
            before=BEFORE)
def fuse_hsigmoid(graph: Graph, config) -> None:
    """relu6(x + 3) / 6 (Clamp, any operand order, / 6 or * 1/6) -> HSigmoid(x); tf_keras's
    clip(a x + 0.5, 0, 1) -> HSigmoid(6 a x), since HSigmoid(y) = clip(y / 6 + 0.5, 0, 1)."""
    _fuse_products(graph, _hsigmoid_rule)
    b = IRBuilder(graph)
    for op in graph.ops_of_type("Clamp"):
        if op.attrs.get("min") != 0.0 or op.attrs.get("max") != 1.0:
            continue
        x, poly = _poly(graph, graph.inputs(op.name)[0])
        if x is None or set(poly) != {0, 1} or not _near(poly[0], 0.5) or poly[1] == 0:
            continue
        slope = 6.0 * poly[1]
        if not _near(slope, 1.0):
            x = b.emit("Multiply", [x, b.const(np.array(slope, graph.info(x).dtype),
                                                f"{op.name}/slope")], f"{op.name}/scaled")[0]
        _replace(graph, op.name, b.emit("HSigmoid", [x], f"{op.name}/hsigmoid")[0])


@graph_pass("ir_backend.fuse_hswish", stage="ir", after=[*AFTER, "ir_backend.fuse_hsigmoid"],
            before=BEFORE)
def fuse_hswish(graph: Graph, config) -> None:
    """x * HSigmoid(x) -> HSwish(x)."""
    _fuse_products(graph, _hswish_rule)


# -- Gelu, Mish ------------------------------------------------------------------------------------


def _gelu_factor(graph: Graph, f: Port, x_candidates: list[Port]) -> tuple[Port, str, float] | None:
    """For a factor ``b (1 + erf(x / sqrt 2))`` (or erfc(-x / sqrt 2), or the tanh form) with x
    among the other factors: (x, mode, 2b), since x * factor == 2b * Gelu(x)."""
    inner, poly = _poly(graph, f)
    if inner is None or set(poly) != {0, 1} or poly[0] == 0 or \
            _sole_consumer(graph, f) is None or _sole_consumer(graph, inner) is None:
        return None
    op = graph.op(inner.node)
    ratio = poly[1] / poly[0]
    x, arg = _poly(graph, graph.inputs(op.name)[0]) if op.type in ("Erf", "Tanh") else (None, {})
    if x is None or x not in x_candidates or not _near(abs(ratio), 1.0):
        return None
    sign = 1.0 if ratio > 0 else -1.0  # erf and tanh are odd: -erf(-z) == erf(z)
    if op.type == "Erf" and _is_poly(arg, {1: sign * SQRT_HALF}):
        return x, "erf", 2.0 * poly[0]
    c = sign * SQRT_2_OVER_PI
    if op.type == "Tanh" and _is_poly(arg, {1: c, 3: c * GELU_CUBIC}):
        return x, "tanh", 2.0 * poly[0]
    return None


def _gelu_rule(graph, b, scale, factors, name):
    hit = _pick(factors, lambda f: _gelu_factor(graph, f, factors))
    if hit is None:
        return None
    i, (x, mode, gain) = hit
    rest = [f for j, f in enumerate(factors) if j != i]
    rest.remove(x)
    gelu = b.emit("Gelu", [x], f"{name}/gelu", {"approximation_mode": mode})[0]
    return scale * gain, [gelu, *rest]


@graph_pass("ir_backend.fuse_gelu", stage="ir", after=AFTER, before=BEFORE)
def fuse_gelu(graph: Graph, config) -> None:
    """The exact GELU (erf, or erfc as Keras 3 writes it) and its tanh form -> Gelu(x, mode)."""
    _fuse_products(graph, _gelu_rule)


def _mish_rule(graph, b, scale, factors, name):
    def mish_of(f: Port) -> Port | None:
        s = _only(graph, f, "Tanh")
        x = None if s is None else _only(graph, s, "SoftPlus")
        return x if x is not None and x in factors else None
    hit = _pick(factors, mish_of)
    if hit is None:
        return None
    i, x = hit
    rest = [f for j, f in enumerate(factors) if j != i]
    rest.remove(x)
    return scale, [b.emit("Mish", [x], f"{name}/mish")[0], *rest]


@graph_pass("ir_backend.fuse_mish", stage="ir", after=[*AFTER, "ir_backend.fuse_softplus"],
            before=BEFORE)
def fuse_mish(graph: Graph, config) -> None:
    """x * tanh(SoftPlus(x)) -> Mish(x)."""
    _fuse_products(graph, _mish_rule)


# -- SoftSign, PRelu, Elu, Swish -------------------------------------------------------------------


@graph_pass("ir_backend.fuse_softsign", stage="ir", after=AFTER, before=BEFORE)
def fuse_softsign(graph: Graph, config) -> None:
    """x / (1 + |x|) -> SoftSign(x)."""
    b = IRBuilder(graph)
    for op in graph.ops_of_type("Divide"):
        x, d = graph.inputs(op.name)
        a, poly = _poly(graph, d)
        if a is None or not _is_poly(poly, {0: 1.0, 1: 1.0}) or _only(graph, a, "Abs") != x:
            continue
        if graph.info(x).dtype.kind == "f":
            _replace(graph, op.name, b.emit("SoftSign", [x], f"{op.name}/softsign")[0])


@graph_pass("ir_backend.fuse_prelu", stage="ir", after=AFTER, before=BEFORE)
def fuse_prelu(graph: Graph, config) -> None:
    """relu(x) + k * relu(-x) (Keras PReLU, k = -alpha constant) -> PRelu(x, alpha)."""
    b = IRBuilder(graph)
    for op in graph.ops_of_type("Add"):
        for pos, neg in (graph.inputs(op.name), graph.inputs(op.name)[::-1]):
            x = _only(graph, pos, "Relu")
            m = graph.op(neg.node)
            if x is None or m.type != "Multiply" or _sole_consumer(graph, neg) is None:
                continue
            for r, k in (graph.inputs(m.name), graph.inputs(m.name)[::-1]):
                slope = _const(graph, k)
                minus_x = _only(graph, r, "Relu")
                if slope is None or minus_x is None or slope.dtype != graph.info(x).dtype:
                    continue
                base, poly = _poly(graph, minus_x)
                rank = graph.info(x).rank
                if base != x or not _is_poly(poly, {1: -1.0}) or rank is None or slope.ndim > rank:
                    continue
                if slope.ndim == 1 and slope.size > 1 and rank != 2:
                    # OpenVINO reads a 1-D slope as per channel on axis 1; TF broadcasts it on
                    # the last axis
                    slope = slope.reshape((1,) * (rank - 1) + slope.shape)
                prelu = b.emit("PRelu", [x, b.const(-slope, f"{op.name}/slope")],
                               f"{op.name}/prelu")[0]
                if graph.info(prelu).shape == graph.info(Port(op.name)).shape:
                    _replace(graph, op.name, prelu)
                else:
                    _prune(graph, [prelu.node])
                break
            if op.name not in graph:
                break


@graph_pass("ir_backend.fuse_elu", stage="ir", after=AFTER, before=BEFORE)
def fuse_elu(graph: Graph, config) -> None:
    """x > 0 ? Elu(x) : a * Elu(x) (Keras ELU(alpha)) -> Elu(x, a); CELU -> a * Elu(x / a)."""
    b = IRBuilder(graph)
    for op in graph.ops_of_type("Select"):
        cond, elu, scaled = graph.inputs(op.name)
        x = graph.inputs(elu.node)[0] if graph.op(elu.node).type == "Elu" else None
        c = graph.op(cond.node)
        if x is None or graph.op(elu.node).attrs.get("alpha") != 1.0 or c.type != "Greater" or \
                graph.inputs(c.name)[0] != x or _scalar(graph, graph.inputs(c.name)[1]) != 0.0:
            continue
        read = _factors(graph, scaled)
        if read is None or read[1] != [elu] or len(graph.consumers(elu)) != 2:
            continue
        _replace(graph, op.name, b.emit("Elu", [x], f"{op.name}/elu", {"alpha": read[0]})[0])
    for op in graph.ops_of_type("Add"):
        if op.name in graph:
            _fuse_celu(graph, b, op.name)


def _fuse_celu(graph: Graph, b: IRBuilder, name: str) -> None:
    # Keras 3 celu: max(x, 0) + a * expm1(min(x, 0) / a), expm1 translated as exp - 1
    for pos, neg in (graph.inputs(name), graph.inputs(name)[::-1]):
        mx = graph.op(pos.node)
        if mx.type != "Maximum" or _sole_consumer(graph, pos) is None:
            continue
        x, zero = graph.inputs(mx.name)
        e, poly = _poly(graph, neg)
        if _scalar(graph, zero) != 0.0 or e is None or set(poly) != {0, 1} or \
                not _near(poly[0], -poly[1]) or poly[1] <= 0:
            continue
        alpha = poly[1]
        m, arg = _poly(graph, _only(graph, e, "Exp") or e)
        mn = graph.op(m.node) if m is not None else None
        if mn is None or mn.type != "Minimum" or _sole_consumer(graph, m) is None or \
                graph.inputs(mn.name)[0] != x or _scalar(graph, graph.inputs(mn.name)[1]) != 0.0 \
                or graph.op(e.node).type != "Exp" or not _is_poly(arg, {1: 1.0 / alpha}):
            continue
        dtype = graph.info(x).dtype
        if _near(alpha, 1.0):
            out = b.emit("Elu", [x], f"{name}/elu", {"alpha": 1.0})[0]
        else:
            inv = b.const(np.array(1.0 / alpha, dtype), f"{name}/inverse_alpha")
            out = b.emit("Elu", [b.emit("Multiply", [x, inv], f"{name}/x_over_alpha")[0]],
                         f"{name}/elu", {"alpha": 1.0})[0]
            out = b.emit("Multiply", [out, b.const(np.array(alpha, dtype), f"{name}/alpha")],
                         f"{name}/celu")[0]
        _replace(graph, name, out)
        return


@graph_pass("ir_backend.fuse_swish", stage="ir", after=AFTER, before=BEFORE)
def fuse_swish(graph: Graph, config) -> None:
    """Multiply(x, Sigmoid(x)) -> Swish(x); Multiply(x, Sigmoid(x * beta)) -> Swish(x, beta)."""
    b = IRBuilder(graph)
    for op in graph.ops_of_type("Multiply"):
        if op.name not in graph:
            continue
        a, c = graph.inputs(op.name)
        for x, s in ((a, c), (c, a)):
            sig = graph.op(s.node)
            if sig.type != "Sigmoid" or _sole_consumer(graph, s) != op.name:
                continue
            arg = graph.inputs(sig.name)[0]
            beta, scaled = _swish_beta(graph, arg, x)
            if beta is None:
                continue
            inputs = [x] if beta == 1.0 else [x, b.const(np.array(beta, graph.info(x).dtype),
                                                           f"{op.name}/beta")]
            swish = b.emit("Swish", inputs, f"{op.name}/swish")[0]
            _bypass(graph, op.name, swish)
            graph.remove(sig.name)
            if scaled is not None and not graph.consumers(scaled):
                graph.remove(scaled)
            break


def _swish_beta(graph: Graph, arg: Port, x: Port) -> tuple[float | None, str | None]:
    """The beta of Sigmoid's argument ``arg`` as a multiple of ``x`` (1.0 when arg is x)."""
    if arg == x:
        return 1.0, None
    op = graph.op(arg.node)
    if op.type != "Multiply" or _sole_consumer(graph, arg) is None:
        return None, None
    p, q = graph.inputs(op.name)
    for y, c in ((p, q), (q, p)):
        value = _const(graph, c)
        if y == x and value is not None and value.size == 1:
            return float(value.reshape(-1)[0]), op.name
    return None, None


# -- Softmax on another axis -----------------------------------------------------------------------


@graph_pass("ir_backend.fuse_softmax_axis", stage="ir", after=AFTER, before=BEFORE)
def fuse_softmax_axis(graph: Graph, config) -> None:
    """Transpose(SoftMax(Transpose(x, p), axis), p^-1) (Keras Softmax(axis=1)) ->
    SoftMax(x, axis=p[axis]); likewise LogSoftmax."""
    b = IRBuilder(graph)
    for op in graph.ops_of_type("SoftMax", "LogSoftmax"):
        into = graph.inputs(op.name)[0]
        perm = perm_of(graph, into)
        users = graph.consumers(Port(op.name))
        if perm is None or _sole_consumer(graph, into) is None or len(users) != 1:
            continue
        back = perm_of(graph, Port(users[0][0]))
        if back is None or [perm[i] for i in back] != list(range(len(perm))):
            continue
        axis = int(perm[op.attrs["axis"] % len(perm)])
        x = graph.inputs(into.node)[0]
        new = b.emit(op.type, [x], f"{op.name}/axis{axis}", {"axis": axis})[0]
        _replace(graph, users[0][0], new)


ALL = (drop_identities, fuse_clamp, fuse_softplus, fuse_hsigmoid, fuse_hswish, fuse_gelu,
       fuse_mish, fuse_softsign, fuse_prelu, fuse_elu, fuse_swish, fuse_softmax_axis)
