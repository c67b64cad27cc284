"""Op translation: tables of small pure translators, the registry that resolves them across
plugins, the :class:`NodeContext` a translator sees, and :func:`translate`.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence, Union

import numpy as np

from . import irops
from .errors import ModelFormatError, PluginError, TfconvError, TranslationError, UnsupportedOpsError
from .graph import Graph, Port

log = logging.getLogger("tfconv")

if TYPE_CHECKING:
    from .config import ConvertConfig

Outputs = Union[Port, Sequence[Port]]
Translator = Callable[["NodeContext"], Outputs]
REQUIRED = object()


@dataclass(frozen=True)
class Entry:
    fn: Translator
    inputs: int | None = None       # exact number of data inputs, checked before the call
    min_inputs: int | None = None
    sees_dead: bool = False         # called even when an input is dead (TF1 Merge)


class OpTable:
    """Translators for one source dialect, filled at import time by decorators."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.entries: dict[str, Entry] = {}

    def register(self, *op_types: str, inputs: int | None = None, min_inputs: int | None = None,
                 sees_dead: bool = False) -> Callable[[Translator], Translator]:
        """``sees_dead``: the translator is called even when an input is a dead tensor (the
        untaken side of a TF1 Switch); any other node with a dead input is dead itself."""
        def decorate(fn: Translator) -> Translator:
            for op_type in op_types:
                if op_type in self.entries:
                    msg = f"{op_type!r} is registered twice in the {self.dialect!r} table"
                    raise PluginError(msg)
                self.entries[op_type] = Entry(fn, inputs, min_inputs, sees_dead)
            return fn
        return decorate

    def __contains__(self, op_type: str) -> bool:
        return op_type in self.entries

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class Claim:
    plugin: str
    entry: Entry
    override: bool


class TranslatorRegistry:
    """Collects every plugin's claims on op types; :meth:`resolve` settles them order-free."""

    def __init__(self) -> None:
        self.current_plugin = "?"
        self._claims: dict[str, dict[str, list[Claim]]] = defaultdict(lambda: defaultdict(list))

    def add(self, table: OpTable, *, override: bool = False) -> None:
        """Claim every op type of ``table``; ``override=True`` replaces another plugin's claim."""
        for op_type, entry in table.entries.items():
            self._claims[table.dialect][op_type].append(Claim(self.current_plugin, entry, override))

    def dialects(self) -> list[str]:
        return sorted(self._claims)

    def resolve(self, dialect: str = "tf") -> dict[str, Entry]:
        """One entry per op type: the single normal claim, or the single override."""
        resolved: dict[str, Entry] = {}
        for op_type, claims in sorted(self._claims.get(dialect, {}).items()):
            normal = [c for c in claims if not c.override]
            overrides = [c for c in claims if c.override]
            if len(normal) > 1 or len(overrides) > 1:
                clash = normal if len(normal) > 1 else overrides
                names = " and ".join(sorted(c.plugin for c in clash))
                msg = (f"op type {op_type!r} ({dialect}) is translated by both {names}; "
                       "one of them must register with override=True, or disable one with "
                       "TFCONV_DISABLE_PLUGINS")
                raise PluginError(msg)
            resolved[op_type] = (overrides or normal)[0].entry
        return resolved

    def owners(self, dialect: str = "tf") -> dict[str, str]:
        """Op type -> the plugin whose translator wins."""
        out = {}
        for op_type, claims in sorted(self._claims.get(dialect, {}).items()):
            win = [c for c in claims if c.override] or claims
            out[op_type] = win[0].plugin
        return out


# IR ops whose partially known integer values (shape vectors with unknown entries) are tracked,
# so that ``ShapeOf(x)[0]`` folds to a constant when x's first dimension is static.
PARTIAL_OPS = frozenset({"ShapeOf", "Gather", "StridedSlice", "Squeeze", "Unsqueeze", "Reshape",
                         "Concat", "Convert", "Add", "Subtract", "Multiply", "Divide", "Maximum",
                         "Minimum", "FloorMod"})
_PARTIAL_ARITH = {"Add": lambda a, b: a + b, "Subtract": lambda a, b: a - b,
                  "Multiply": lambda a, b: a * b, "Divide": lambda a, b: a // b,
                  "Maximum": max, "Minimum": min, "FloorMod": lambda a, b: a % b}
_PARTIAL_LIMIT = 64  # elements: shape vectors, not data


class IRBuilder:
    """Adds IR ops to a graph with shape inference and constant folding on the way in.

    Besides constants it tracks *partial values*: small integer tensors (shape vectors) some of
    whose entries are known (``ShapeOf`` of ``[1,?,?,3]`` is ``[1, None, None, 3]``), through
    Gather, StridedSlice, Squeeze, Unsqueeze, Reshape, Concat, Convert and integer arithmetic;
    an op whose result is fully known becomes a Const (ovc's shape-of sub-graph folding).
    """

    def __init__(self, graph: Graph, *, fold: bool = True) -> None:
        self.graph = graph
        self.fold = fold
        self.partial: dict[Port, np.ndarray] = {}   # port -> object array, None = unknown
        self.state: dict[str, object] = {}          # per-conversion state of translators
        self.dead: set[Port] = set()                 # dead tensors (untaken TF1 Switch sides)
        # source port -> the TF1 cond branches it is in, outermost first: (predicate, side)
        self.tags: dict[Port, tuple] = {}

    def dead_port(self) -> Port:
        """A port standing for a dead tensor; nothing live may consume it."""
        name = self.state.get("_dead")
        if name is None or name not in self.graph:
            port = self.const(np.zeros((), np.float32), "tfconv_dead_tensor")
            self.state["_dead"] = port.node
            self.dead.add(port)
        return Port(self.state["_dead"], 0)  # type: ignore[arg-type]

    def partial_value(self, port: Port) -> np.ndarray | None:
        """The known entries of an integer tensor as an object array (``None`` = unknown), or
        ``None`` when nothing is known."""
        v = self.value(port)
        if v is not None:
            if v.dtype.kind not in "iu" or v.size > _PARTIAL_LIMIT:
                return None
            return np.array(v.tolist(), dtype=object).reshape(v.shape)
        return self.partial.get(port)

    def _partial_fold(self, ir_type: str, attrs: dict, inputs: Sequence[Port],
                      infos: list, values: list) -> np.ndarray | None:
        """The partial value of ``ir_type`` over its inputs' partial values, or ``None``."""
        if ir_type == "ShapeOf":
            shape = infos[0].shape
            return None if shape is None else np.array(list(shape), dtype=object)
        parts = [self.partial_value(p) for p in inputs]
        if parts[0] is None:
            return None
        try:
            if ir_type in _PARTIAL_ARITH:
                if parts[1] is None:
                    return None
                fn = _PARTIAL_ARITH[ir_type]
                op = np.frompyfunc(lambda a, b: None if a is None or b is None else int(fn(a, b)),
                                   2, 1)
                return np.asarray(op(parts[0], parts[1]), dtype=object)
            if ir_type == "Convert":
                return parts[0] if np.dtype(attrs["destination_type"]).kind in "iu" else None
            if ir_type == "Concat":
                if any(p is None for p in parts):
                    return None
                return np.concatenate(parts, axis=int(attrs["axis"]))
            if any(v is None for v in values[1:]):
                return None
            out = irops.evaluate(ir_type, attrs, [parts[0], *values[1:]])
            return None if out is None else np.asarray(out[0], dtype=object)
        except (ValueError, IndexError, TypeError, KeyError):
            return None

    def value(self, port: Port) -> np.ndarray | None:
        """The constant value behind ``port`` (a Const op), else ``None``."""
        op = self.graph.op(port.node)
        return op.attrs["value"] if op.type == "Const" else None  # type: ignore[return-value]

    def const(self, value: object, name: str, dtype: object = None) -> Port:
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
            arr = arr.astype(np.float32)
        op = self.graph.add_op("Const", self.graph.unique_name(name), attrs={"value": arr})
        op.outputs[0].shape, op.outputs[0].dtype = tuple(arr.shape), arr.dtype
        return Port(op.name, 0)

    def emit(self, ir_type: str, inputs: Sequence[Port], name: str,
             attrs: dict[str, object] | None = None, outputs: int | None = None) -> list[Port]:
        """Add one IR op (or its folded constants); returns its output ports."""
        attrs = dict(attrs or {})
        infos = [self.graph.info(p) for p in inputs]
        values = [self.value(p) for p in inputs]
        if self.fold and ir_type not in ("Parameter", "Result"):
            folded = self._try_fold(ir_type, attrs, infos, values)
            if folded is not None:
                return [self.const(v, name if len(folded) == 1 else f"{name}:{i}")
                        for i, v in enumerate(folded)]
        results = irops.infer(ir_type, attrs, infos, values)
        if ir_type in ("Reshape", "Broadcast") and self.fold and len(inputs) > 1:
            results = self._refine_shape(ir_type, attrs, inputs, infos, results)
        partial = None
        if self.fold and ir_type in PARTIAL_OPS and len(results) == 1 and \
                results[0][1] is not None and np.dtype(results[0][1]).kind in "iu":
            partial = self._partial_fold(ir_type, attrs, inputs, infos, values)
            if partial is not None and partial.size > _PARTIAL_LIMIT:
                partial = None
            if partial is not None and all(x is not None for x in partial.reshape(-1)):
                dtype = np.dtype(results[0][1])
                return [self.const(np.array(partial.tolist(), dtype=dtype).reshape(partial.shape),
                                   name, dtype)]
        n = outputs if outputs is not None else len(results)
        op = self.graph.add_op(ir_type, self.graph.unique_name(name), inputs, attrs, num_outputs=n)
        for info, (shape, dtype) in zip(op.outputs, results):
            info.shape, info.dtype = (None if shape is None else tuple(shape)), dtype
        if partial is not None:
            self.partial[Port(op.name, 0)] = partial
        return [Port(op.name, i) for i in range(n)]

    def _refine_shape(self, ir_type: str, attrs: dict, inputs: Sequence[Port], infos: list,
                      results: list) -> list:
        """Reshape/Broadcast to a partially known target: the known entries give output dims."""
        target = self.partial_value(inputs[1])
        shape, dtype = results[0]
        if target is None or target.ndim != 1 or (shape is not None and None not in shape):
            return results
        dims: list[int | None] = list(target)
        src = infos[0].shape
        if ir_type == "Reshape":
            for i, d in enumerate(dims):
                if d == 0 and attrs.get("special_zero"):
                    dims[i] = src[i] if src is not None and i < len(src) else None
                elif d is not None and d < 0:
                    dims[i] = None
                    known = [x for j, x in enumerate(dims) if j != i]
                    if src is not None and None not in src and None not in known:
                        rest = int(np.prod(known, dtype=np.int64))
                        dims[i] = int(np.prod(src, dtype=np.int64)) // rest if rest else None
        else:
            if attrs.get("mode", "numpy") != "numpy" or src is None:
                return results
            dims = list(irops.broadcast_shapes(tuple(src), tuple(dims)) or dims)
        if shape is not None and len(shape) == len(dims):
            dims = [a if a is not None else b for a, b in zip(shape, dims)]
        return [(tuple(dims), dtype), *results[1:]]

    def _try_fold(self, ir_type, attrs, infos, values) -> list[np.ndarray] | None:
        if ir_type == "ShapeOf":
            v = irops.shape_value(infos[0], attrs.get("output_type", "int64"))
            return None if v is None else [v]
        if not values or any(v is None for v in values):
            return None
        out = irops.evaluate(ir_type, attrs, values)  # type: ignore[arg-type]
        return None if out is None else [np.asarray(v) for v in out]

    def reinfer(self, name: str) -> None:
        """Recompute the output shapes and types of one op from its current inputs."""
        op = self.graph.op(name)
        ports = self.graph.inputs(name)
        results = irops.infer(op.type, op.attrs, [self.graph.info(p) for p in ports],
                              [self.value(p) for p in ports])
        for info, (shape, dtype) in zip(op.outputs, results):
            info.shape, info.dtype = (None if shape is None else tuple(shape)), dtype

    def reinfer_all(self) -> None:
        for name in self.graph.topological_order():
            if self.graph.op(name).type not in ("Const",):
                self.reinfer(name)


class NodeContext:
    """Everything a translator may use: the source node, its mapped inputs, and ``emit``."""

    def __init__(self, node_name: str, src: Graph, builder: IRBuilder,
                 inputs: list[Port], config: ConvertConfig,
                 session: _Session | None = None) -> None:
        self.name = node_name
        self.node = src.op(node_name)
        self.op_type = self.node.type
        self.src = src
        self.builder = builder
        self.config = config
        self._inputs = inputs
        self._session = session
        self.last: Port | None = None

    # -- reading the source node --------------------------------------------------------------

    def attr(self, key: str, default: object = REQUIRED) -> object:
        if key in self.node.attrs:
            return self.node.attrs[key]
        if default is REQUIRED:
            self.fail(f"attribute {key!r} is missing")
        return default

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def input(self, i: int) -> Port:
        if i >= len(self._inputs):
            self.fail(f"expected at least {i + 1} inputs, got {len(self._inputs)}")
        return self._inputs[i]

    def inputs(self) -> list[Port]:
        return list(self._inputs)

    def value(self, i: int | Port) -> np.ndarray | None:
        """The constant value of input ``i`` (or of a port), or ``None`` if it is not constant."""
        return self.builder.value(self.input(i) if isinstance(i, int) else i)

    def const_input(self, i: int) -> np.ndarray:
        """Input ``i``'s value, which must be constant."""
        v = self.value(i)
        if v is None:
            self.fail(f"input {i} must be a constant (it comes from {self._inputs[i].node!r})")
        return v  # type: ignore[return-value]

    def shape(self, i: int | Port) -> tuple | None:
        return self.builder.graph.info(self.input(i) if isinstance(i, int) else i).shape

    def rank(self, i: int | Port) -> int | None:
        s = self.shape(i)
        return None if s is None else len(s)

    def dtype(self, i: int | Port) -> np.dtype | None:
        return self.builder.graph.info(self.input(i) if isinstance(i, int) else i).dtype

    # -- building IR ----------------------------------------------------------------------------

    def const(self, value: object, dtype: object = None, name: str = "const") -> Port:
        return self.builder.const(value, f"{self.name}/{name}", dtype)

    def emit(self, ir_type: str, *inputs: Port, outputs: int | None = None, name: str | None = None,
             **attrs: object) -> Port | tuple[Port, ...]:
        """Add an IR op fed by ``inputs``; returns its port, or a tuple for several outputs.

        The op is named ``<node>/<name or ir_type>``; ``name=""`` gives it the node's own name.
        """
        full = self.name if name == "" else f"{self.name}/{name or ir_type}"
        ports = self.builder.emit(ir_type, inputs, full, attrs, outputs)
        self.last = ports[-1]
        return ports[0] if len(ports) == 1 else tuple(ports)

    def translate_subgraph(self, graph: Graph, feeds: dict[Port, Port], outputs: Sequence[Port],
                           cache: dict[Port, Port] | None = None,
                           builder: IRBuilder | None = None) -> list[Port]:
        """Translate the nodes of ``graph`` (a source-dialect sub-graph, such as a loop body)
        that ``outputs`` need, into the same IR graph with the same op table; ``feeds`` maps
        the sub-graph's input ports (its Placeholders) to IR ports. Returns the IR ports of
        ``outputs``. ``cache`` (source port -> IR port) carries translations over from an
        earlier call with the same feeds, and receives this call's. With ``builder`` (from
        :meth:`body_builder`) the nodes go into that builder's graph instead: the body of an
        IR Loop or a branch of an If, whose ``feeds`` are that graph's own ports."""
        session = self._session
        if session is None:
            self.fail("sub-graphs can only be translated during translate()")
        if builder is not None:
            session = session.child(builder)
        mapped = cache if cache is not None else {}
        mapped.update(feeds)
        needed = graph.ancestors(p.node for p in outputs)
        fed = {p.node for p in feeds}
        order = [n for n in graph.topological_order()
                 if n in needed and n not in fed and Port(n, 0) not in mapped]
        scan_unsupported(graph, session.table, order)
        session.run(graph, order, mapped, name_tensors=False)
        return [_mapped_input(graph, mapped, self.name, p) for p in outputs]

    def body_builder(self, name: str) -> IRBuilder:
        """A builder on a new, empty IR graph (dialect ``ir``): the sub-network of a Loop or
        If this node becomes. Its ops are added by :meth:`translate_subgraph` with
        ``builder=``, or directly through the builder; the graph then goes into the op's
        attributes (``_body``, ``_then_body``, ``_else_body``; see ``irops.py``)."""
        return IRBuilder(Graph("ir", name=name), fold=self.builder.fold)

    def is_dead(self, i: int | Port) -> bool:
        """Whether input ``i`` (or a port) is a dead tensor (the untaken side of a Switch)."""
        return (self.input(i) if isinstance(i, int) else i) in self.builder.dead

    def branch_tags(self, i: int) -> tuple:
        """The TF1 cond branches source input ``i`` is in, outermost first: ``(predicate source
        port, side)`` pairs (side 1: the true branch)."""
        return self.builder.tags.get(self.src.inputs(self.name)[i], ())

    def require(self, cond: object, msg: str) -> None:
        if not cond:
            self.fail(msg)

    def fail(self, msg: str) -> None:
        shapes = [self.builder.graph.info(p).shape for p in self._inputs]
        raise TranslationError(self.name, self.op_type, msg, shapes)


def scan_unsupported(src: Graph, table: dict[str, Entry], names: Iterable[str]) -> None:
    """Raise :class:`UnsupportedOpsError` naming every op type in ``names`` without a translator."""
    missing: dict[str, list[str]] = defaultdict(list)
    _collect_unsupported(src, table, names, missing)
    if missing:
        raise UnsupportedOpsError(missing, src.dialect)


def _collect_unsupported(src: Graph, table: dict[str, Entry], names: Iterable[str],
                         missing: dict[str, list[str]]) -> None:
    """Op types without a translator among ``names``, and in the sub-graphs (loop bodies) their
    attributes hold, so that one error lists them all."""
    for name in names:
        op = src.op(name)
        if op.type not in table:
            if name not in missing[op.type]:
                missing[op.type].append(name)
        for value in op.attrs.values():
            if isinstance(value, Graph) and value.outputs:
                needed = value.ancestors(p.node for p in value.outputs)
                _collect_unsupported(value, table, [n for n in value.topological_order()
                                                    if n in needed], missing)


class _ReadTracker(dict):
    """A node's attrs while its translator runs: records which keys it looks at."""

    def __init__(self, attrs: dict) -> None:
        super().__init__(attrs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


# Attributes that never change a node's result (TF's GPU and bookkeeping flags), on any op.
RESULT_NEUTRAL_ATTRS = frozenset({
    "use_cudnn_on_gpu", "validate_shape", "use_locking", "container", "shared_name",
    "allowed_devices", "debug_name", "message", "summarize", "use_inter_op_parallelism",
    "grad_a", "grad_b", "grad_x", "grad_y",      # gradient hints
    "exponential_avg_factor",                     # batch-norm training only
    "N",                                          # the number of inputs, which the inputs say
    "explicit_paddings",                          # read only (and only valid) with EXPLICIT padding
    "incompatible_shape_error", "validate_indices",  # change errors, not results
    "sorted",                                     # TopK: the IR's TopK sorts anyway
})
# (op type, attribute) pairs that are hints only: a shape the inputs already carry.
RESULT_NEUTRAL_OP_ATTRS = frozenset({("PlaceholderWithDefault", "shape"), ("EnsureShape", "shape")})


def unread_attributes(op_type: str, attrs: dict, read: set[str]) -> list[str]:
    """Attributes of a translated node that its translator never looked at and that may matter:
    not private (``_...``), not a type parameter (a dtype or list of dtypes), not neutral, and
    not at a falsy value (False, 0, empty: TF's defaults for the flags translators read only
    in some cases, such as ``half_pixel_centers`` beside ``align_corners``)."""
    out = []
    for key, value in attrs.items():
        if key in read or key.startswith("_") or key in RESULT_NEUTRAL_ATTRS or \
                (op_type, key) in RESULT_NEUTRAL_OP_ATTRS:
            continue
        if value is None or (not isinstance(value, np.ndarray) and not value):
            continue
        if isinstance(value, np.dtype) or (isinstance(value, list) and value and
                                           all(isinstance(v, np.dtype) for v in value)):
            continue
        out.append(key)
    return out


def report_unread(ignored: dict[tuple[str, str], list[str]]) -> None:
    """One WARNING naming every attribute no translator read (op type, count, node names)."""
    parts = []
    for (op_type, key), names in sorted(ignored.items()):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        parts.append(f"{op_type}.{key} x{len(names)} ({shown})")
    log.warning("attributes the translators do not handle, so their values are ignored (the "
                "IR may differ from TensorFlow if they are not the defaults): %s", "; ".join(parts))


def _mapped_input(src: Graph, mapped: dict[Port, Port], name: str, port: Port) -> Port:
    """The IR port translating ``port``; a read of an output the producer does not have is a
    malformed model (TensorFlow: "Connecting to invalid output")."""
    found = mapped.get(port)
    if found is not None:
        return found
    have = sum(1 for p in mapped if p.node == port.node)
    producer = src.op(port.node)
    msg = (f"node {name!r} ({src.op(name).type}) reads output {port.index} of {port.node!r} "
           f"({producer.type}), which has {have} output(s); the graph is malformed (TensorFlow "
           "rejects it too)")
    raise ModelFormatError(msg)


class _Session:
    """One translation run: the op table, the IR builder, and the unread-attribute record;
    :meth:`run` translates a list of source nodes (the model, or a sub-graph from a translator)."""

    def __init__(self, table: dict[str, Entry], builder: IRBuilder, config: ConvertConfig) -> None:
        self.table = table
        self.builder = builder
        self.config = config
        self.ignored: dict[tuple[str, str], list[str]] = defaultdict(list)

    def child(self, builder: IRBuilder) -> _Session:
        """The same translation run adding ops to another graph (a Loop body, an If branch)."""
        child = _Session(self.table, builder, self.config)
        child.ignored = self.ignored
        return child

    def run(self, src: Graph, order: Iterable[str], mapped: dict[Port, Port], *,
            name_tensors: bool = True) -> None:
        ir, builder = self.builder.graph, self.builder
        for name in order:
            op = src.op(name)
            entry = self.table[op.type]
            src_ins = src.inputs(name)
            ins = [_mapped_input(src, mapped, name, p) for p in src_ins]
            tags = builder.tags
            if tags:  # the TF1 cond branches this node is in (re-set on every translation)
                mine = tuple(dict.fromkeys(t for p in src_ins for t in tags.get(p, ())))
                for i in range(len(op.outputs)):
                    if mine:
                        tags[Port(name, i)] = mine
                    else:
                        tags.pop(Port(name, i), None)
            if builder.dead and not entry.sees_dead and any(p in builder.dead for p in ins):
                for i in range(len(op.outputs)):  # a node with a dead input is dead
                    mapped[Port(name, i)] = builder.dead_port()
                continue
            ctx = NodeContext(name, src, builder, ins, self.config, self)
            if entry.inputs is not None and len(ins) != entry.inputs:
                ctx.fail(f"expected {entry.inputs} inputs, got {len(ins)}")
            if entry.min_inputs is not None and len(ins) < entry.min_inputs:
                ctx.fail(f"expected at least {entry.min_inputs} inputs, got {len(ins)}")
            original = op.attrs
            op.attrs = tracked = _ReadTracker(original)
            try:
                result = entry.fn(ctx)
            except TfconvError:
                raise
            except Exception as err:  # a translator bug or an unexpected graph: name the node
                shapes = [ir.info(p).shape for p in ins]
                raise TranslationError(name, op.type, f"{type(err).__name__}: {err}",
                                       shapes) from err
            finally:
                op.attrs = original
            for key in unread_attributes(op.type, original, tracked.read):
                if name not in self.ignored[(op.type, key)]:
                    self.ignored[(op.type, key)].append(name)
            outs = [result] if isinstance(result, Port) else list(result or [])
            for i, port in enumerate(outs):
                mapped[Port(name, i)] = port
                if not name_tensors or port in builder.dead:
                    continue
                info = ir.info(port)
                for tensor in ([name, f"{name}:0"] if i == 0 else [f"{name}:{i}"]):
                    if tensor not in info.names:
                        info.names.append(tensor)


def translate(src: Graph, table: dict[str, Entry], config: ConvertConfig) -> Graph:
    """Build the IR graph from the source graph, one translator call per reachable node."""
    needed = src.ancestors(p.node for p in src.outputs)
    order = [n for n in src.topological_order() if n in needed]
    scan_unsupported(src, table, order)
    inputs_first = [n for n in src.meta.get("inputs", []) if n in needed]  # type: ignore[union-attr]
    first = set(inputs_first)
    order = inputs_first + [n for n in order if n not in first]

    ir = Graph("ir", name=src.name)
    ir.meta.update(src.meta)
    builder = IRBuilder(ir)
    mapped: dict[Port, Port] = {}
    session = _Session(table, builder, config)
    session.run(src, order, mapped)
    if session.ignored:
        report_unread(session.ignored)
    for out in src.outputs:
        if out not in mapped:
            msg = f"output {out} was not produced by the translator of {out.node!r}"
            raise TranslationError(out.node, src.op(out.node).type, msg)
        port = mapped[out]
        if port in builder.dead:
            msg = (f"output {out} is computed only in the branch of a Switch that the constant "
                   "predicate never takes; choose another --output")
            raise TranslationError(out.node, src.op(out.node).type, msg)
        result = ir.add_op("Result", ir.unique_name(f"{out.node}:{out.index}/result"), [port],
                           {"_tensor": str(out)})
        ir.outputs.append(Port(result.name, 0))
        del result
    ir.remove_dead(keep=[p.node for p in ir.outputs] + [
        n for n in ir.meta.get("inputs", []) if n in ir])  # type: ignore[union-attr]
    return ir
