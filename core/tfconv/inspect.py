"""``tfconv inspect``: what a model is, without converting it or writing anything.

The model is loaded as ``convert`` would load it, then described from three sources: the graph
(inputs, likely outputs, op-type histogram, the op types no plugin translates), and every
plugin's ``tfconv_describe_model`` findings (format, signatures, topology family, quantization,
with the flags each suggests). When loading fails, the plugins still describe the file (for
example a SavedModel's signatures when none is the default) and the load error is shown; when
nothing recognises the file, the load error is the command's error.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import click
import pluggy

from . import pipeline, plugins
from .config import ConvertConfig
from .errors import TfconvError, UnsupportedOpsError
from .findings import Finding

if TYPE_CHECKING:  # numpy, the graph and translation load when a model is inspected
    from .graph import Graph, Port

# Sections of findings, in print order; other kinds follow, sorted.
BEFORE_GRAPH = ("format", "signature")
AFTER_GRAPH = ("topology", "quantization")
HEADINGS = {"format": "Format", "signature": "Signatures", "topology": "Topology",
            "quantization": "Quantization"}


@dataclass
class TensorSummary:
    name: str
    shape: list[int | None] | None
    dtype: str | None
    op_type: str = ""
    leftover: str | None = None  # outputs only: why this sink is a training leftover, not an output


@dataclass
class Inspection:
    """Everything ``tfconv inspect`` reports about one model."""

    model: str
    findings: list[Finding] = field(default_factory=list)
    load_error: str | None = None
    inputs: list[TensorSummary] = field(default_factory=list)
    outputs: list[TensorSummary] = field(default_factory=list)
    nodes: int = 0
    op_types: dict[str, int] = field(default_factory=dict)
    unsupported: dict[str, list[str]] | None = None  # None: not determined (see passes_error)
    passes_error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        return self.load_error is None

    def suggested_flags(self) -> list[str]:
        """The flags of the topology and quantization findings, each flag once (first wins)."""
        seen: set[str] = set()
        out: list[str] = []
        for f in self.findings:
            if f.kind in BEFORE_GRAPH:
                continue
            keep = False
            for token in f.flags:
                if token.startswith("--"):
                    keep = token not in seen
                    seen.add(token)
                if keep:
                    out.append(token)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "loaded": self.loaded,
            "load_error": self.load_error,
            "findings": [{**asdict(f), "details": list(f.details), "flags": list(f.flags)}
                         for f in self.findings],
            "inputs": [_summary_json(t) for t in self.inputs],
            "outputs": [_summary_json(t) for t in self.outputs],
            "nodes": self.nodes,
            "op_types": self.op_types,
            "unsupported": self.unsupported,
            "passes_error": self.passes_error,
            "suggested_flags": self.suggested_flags(),
            "problems": self.problems,
        }


def _summary_json(t: TensorSummary) -> dict[str, Any]:
    """A tensor as JSON; ``leftover`` (the reason) only on training-only sinks."""
    out = asdict(t)
    if out["leftover"] is None:
        del out["leftover"]
    return out


def _dtype_name(value: object) -> str | None:
    if value is None:
        return None
    try:
        import numpy as np
        return np.dtype(value).name  # type: ignore[arg-type]
    except TypeError:
        return str(value)


def _tensor(graph: Graph, port: Port, label: str) -> TensorSummary:
    op = graph.op(port.node)
    info = graph.info(port)
    shape = info.shape
    dtype = info.dtype
    if port.index == 0:  # a source-dialect input keeps its shape and type as attributes
        shape = shape if shape is not None else op.attrs.get("shape")  # type: ignore[assignment]
        dtype = dtype if dtype is not None else op.attrs.get("dtype")  # type: ignore[assignment]
    dims = None if not isinstance(shape, (tuple, list)) else [None if d is None else int(d)
                                                              for d in shape]
    return TensorSummary(label, dims, _dtype_name(dtype), op.type)


def _leftovers(graph: Graph) -> list[TensorSummary]:
    """The sinks the loader dropped as training leftovers (``graph.meta["leftover_outputs"]``:
    ``(tensor, reason[, op type])``), listed after the outputs."""
    from .graph import Port
    out = []
    for tensor, reason, *op_type in graph.meta.get("leftover_outputs") or []:  # type: ignore[union-attr]
        name, _, idx = str(tensor).rpartition(":")
        if name in graph and idx.isdigit():
            summary = _tensor(graph, Port(name, int(idx)), str(tensor))
        else:  # frozen away with the checkpoint: only its name (and op type) is known
            summary = TensorSummary(str(tensor), None, None, str(op_type[0]) if op_type else "")
        summary.leftover = str(reason)
        out.append(summary)
    return out


def _unsupported(pm: pluggy.PluginManager, graph: Graph) -> dict[str, list[str]]:
    """Op types the outputs need that no plugin translates: type -> node names (as the
    conversion's error would list them)."""
    from .translate import scan_unsupported
    table = plugins.translators(pm).resolve(graph.dialect)
    needed = graph.ancestors(p.node for p in graph.outputs if p.node in graph)
    try:  # the very scan translation starts with
        scan_unsupported(graph, table, [n for n in graph.topological_order() if n in needed])
    except UnsupportedOpsError as err:
        return err.missing
    return {}


def inspect_model(pm: pluggy.PluginManager, config: ConvertConfig) -> Inspection:
    """Load and describe the model of ``config``; writes nothing.

    Raises the load error when the model cannot be loaded and no plugin recognises it."""
    from .graph import Port
    result = Inspection(model=str(config.model) if config.model is not None else "")
    graph: Graph | None = None
    load_error: TfconvError | None = None
    try:
        graph = pipeline.load(pm, config)
    except TfconvError as err:
        load_error = err
        result.load_error = str(err)
    result.findings, result.problems = pipeline.describe(pm, config, graph)
    if graph is None:
        if not result.findings:
            assert load_error is not None
            raise load_error
        return result
    result.nodes = len(graph)
    result.op_types = dict(sorted(Counter(op.type for op in graph).items(),
                                  key=lambda kv: (-kv[1], kv[0])))
    result.inputs = [_tensor(graph, Port(name, 0), name)
                     for name in graph.meta.get("inputs", []) if name in graph]  # type: ignore[union-attr]
    result.outputs = [_tensor(graph, p, str(p)) for p in graph.outputs if p.node in graph]
    result.outputs += _leftovers(graph)
    # The source passes run before translation (training leftovers vanish there), so the
    # unsupported op types are those the conversion would report.
    # Their log lines are about converting; at the default level they are muted here.
    logger = logging.getLogger("tfconv")
    level = logger.level
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.ERROR)
    try:
        pipeline.run_passes(plugins.passes(pm), graph, config, "source")
        result.unsupported = _unsupported(pm, graph)
    except TfconvError as err:
        result.passes_error = str(err)
    finally:
        logger.setLevel(level)
    return result


# --- text output ------------------------------------------------------------------------------


def _fmt_shape(shape: list[int | None] | None) -> str:
    if shape is None:
        return "[...]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _finding_lines(f: Finding) -> list[str]:
    lines = [f"  {f.title}  ({f.plugin})" if f.plugin else f"  {f.title}"]
    lines += [f"    {d}" for d in f.details]
    if f.flags:
        lines.append(f"    flags: {' '.join(f.flags)}")
    return lines


def _section(kind: str, findings: list[Finding], *, always: bool = False) -> list[str]:
    mine = [f for f in findings if f.kind == kind]
    heading = HEADINGS.get(kind, kind.capitalize())
    if not mine:
        return [f"{heading}: none recognised"] if always else []
    lines = [f"{heading}:"]
    for f in mine:
        lines += _finding_lines(f)
    return lines


LEFTOVERS_SHOWN = 10


def _output_lines(outputs: list[TensorSummary]) -> list[str]:
    """The outputs, then the training leftovers (marked; the first LEFTOVERS_SHOWN)."""
    real = [t for t in outputs if t.leftover is None]
    left = [t for t in outputs if t.leftover is not None]
    head = f"Likely outputs ({len(real)}"
    head += f", then {len(left)} training-only sink(s) that are not outputs):" if left else "):"
    shown = real + left[:LEFTOVERS_SHOWN]
    width = max((len(t.name) for t in shown), default=0)
    lines = [head]
    lines += [f"  {t.name:<{width}}  ({t.op_type})" for t in real] or ["  none"]
    lines += [f"  {t.name:<{width}}  ({t.op_type or '?'}) training-only: {t.leftover}"
              for t in left[:LEFTOVERS_SHOWN]]
    if len(left) > LEFTOVERS_SHOWN:
        lines.append(f"  ... {len(left) - LEFTOVERS_SHOWN} more training-only sink(s) "
                     "(--json lists them all)")
    return lines


def format_text(ins: Inspection) -> str:
    lines = [f"Model: {ins.model}"]
    for kind in BEFORE_GRAPH:
        lines += _section(kind, ins.findings, always=kind == "format")
    if not ins.loaded:
        lines.append("Graph: not loaded:")
        lines += [f"  {line}" for line in (ins.load_error or "").splitlines()]
    else:
        lines.append(f"Inputs ({len(ins.inputs)}):")
        width = max((len(t.name) for t in ins.inputs), default=0)
        lines += [f"  {t.name:<{width}}  {_fmt_shape(t.shape)} {t.dtype or '?'}"
                  for t in ins.inputs] or ["  none (the graph has no placeholders)"]
        lines += _output_lines(ins.outputs)
        lines.append(f"Op types ({ins.nodes} nodes, {len(ins.op_types)} types):")
        width = max((len(k) for k in ins.op_types), default=0)
        lines += [f"  {k:<{width}}  {v}" for k, v in ins.op_types.items()]
        if ins.passes_error is not None:
            lines.append("Unsupported op types: not determined, the source passes failed:")
            lines += [f"  {line}" for line in ins.passes_error.splitlines()]
        elif ins.unsupported:
            total = sum(len(v) for v in ins.unsupported.values())
            lines.append(f"Unsupported op types ({len(ins.unsupported)} type(s) in {total} "
                         "node(s); no installed plugin translates them):")
            for op_type, names in ins.unsupported.items():
                shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
                lines.append(f"  {op_type} x{len(names)}: {shown}")
        else:
            lines.append("Unsupported op types: none (a translator exists for every op the "
                         "outputs need)")
    for kind in AFTER_GRAPH:
        lines += _section(kind, ins.findings, always=kind == "topology")
    others = sorted({f.kind for f in ins.findings} - set(BEFORE_GRAPH) - set(AFTER_GRAPH))
    for kind in others:
        lines += _section(kind, ins.findings)
    flags = ins.suggested_flags()
    if flags:
        lines.append("Suggested flags:")
        lines.append(f"  {' '.join(flags)}")
    for problem in ins.problems:
        lines.append(f"Note: {problem}")
    return "\n".join(lines)


# --- the command ------------------------------------------------------------------------------


def register(cli: click.Group, pm: pluggy.PluginManager, convert: click.Command) -> None:
    """Add ``tfconv inspect`` to ``cli``; plugins add their model flags to it through
    ``tfconv_add_options`` (called with this command)."""
    from .cli import build_config, setup_logging, LOG_LEVELS

    @cli.command("inspect")
    @click.argument("model", required=False)
    @click.option("--input_model", "-m", "-w", help="Frozen GraphDef (.pb, or text).")
    @click.option("--input_model_is_text", is_flag=True, help="The model file is a text protobuf.")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @click.option("--log_level", type=click.Choice(LOG_LEVELS, case_sensitive=False),
                  default="WARNING", show_default=True)
    def inspect_cmd(**kw) -> None:
        """Describe a model without converting it: format, signatures, inputs, outputs, op
        types, unsupported ops, topology family and the flags that suit it. Writes no files."""
        as_json = kw.pop("as_json")
        setup_logging(str(kw.get("log_level") or "WARNING").upper())
        # Every convert option unset, then the model flags given here.
        options = {p.name: None for p in convert.params if p.name}
        options.update(kw)
        result = inspect_model(pm, build_config(options))
        if as_json:
            click.echo(json.dumps(result.to_json(), indent=2, default=str))
        else:
            click.echo(format_text(result))

    pm.hook.tfconv_add_options(command=inspect_cmd)
