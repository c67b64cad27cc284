"""The conversion pipeline: load -> source passes -> translate -> IR passes -> write.

Each stage is timed: the timings are logged at DEBUG, and a ``progress`` callback (for example
:class:`TerminalProgress`, which the CLI uses when stderr is a terminal) sees every stage start
and end.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterator

import pluggy

from . import plugins
from .config import ConvertConfig
from .errors import NoLoaderError, PassError, TfconvError
from .findings import Finding
from .output import write_all

if TYPE_CHECKING:  # the graph, translation and numpy load when a conversion runs
    from .graph import Graph

log = logging.getLogger("tfconv")

STAGES = ("load", "source passes", "translate", "IR passes", "write")

# ``progress(stage, seconds)`` is called when a stage ends. An object may also have
# ``start(stage)`` (called when the stage begins) and ``failed(stage)`` (when it raises).
Progress = Callable[[str, float], None]


@contextlib.contextmanager
def _stage(name: str, progress: Progress | None) -> Iterator[None]:
    start = getattr(progress, "start", None)
    if start is not None:
        start(name)
    began = time.perf_counter()
    try:
        yield
    except BaseException:
        failed = getattr(progress, "failed", None)
        if failed is not None:
            failed(name)
        raise
    seconds = time.perf_counter() - began
    log.debug("stage %s: %.3f s", name, seconds)
    if progress is not None:
        progress(name, seconds)


def load(pm: pluggy.PluginManager, config: ConvertConfig) -> Graph:
    """Ask the loaders, most recently registered first, to read ``config.model``."""
    if config.model is None:
        msg = "no model given: pass MODEL, --input_model, --input_meta_graph or --saved_model_dir"
        raise NoLoaderError(msg)
    graph = pm.hook.tfconv_load_model(path=config.model, config=config)
    if graph is None:
        names = [n for n, _ in pm.list_name_plugin()
                 if pm.get_plugin(n) and "tfconv_load_model" in
                 {h.name for h in pm.get_hookcallers(pm.get_plugin(n)) or []}]
        msg = (f"no installed loader reads {str(config.model)!r}; loaders: "
               f"{', '.join(names) or 'none (install tfconv-tf-frontend)'}")
        raise NoLoaderError(msg)
    return graph


def describe(pm: pluggy.PluginManager, config: ConvertConfig,
             graph: Graph | None) -> tuple[list[Finding], list[str]]:
    """Every plugin's ``tfconv_describe_model`` findings, plugin by plugin (a plugin that
    fails does not hide the others): ``(findings, problems)``, where ``problems`` are one line
    per failing plugin."""
    findings: list[Finding] = []
    problems: list[str] = []
    values = {"path": config.model, "config": config, "graph": graph}
    for impl in reversed(pm.hook.tfconv_describe_model.get_hookimpls()):
        try:
            found = impl.function(**{k: values[k] for k in impl.argnames if k in values})
        except Exception as err:  # noqa: BLE001 - one plugin's bug must not stop inspect
            problems.append(f"plugin {impl.plugin_name} could not describe the model: "
                            f"{type(err).__name__}: {err}")
            continue
        for finding in found or ():
            if not isinstance(finding, Finding):
                problems.append(f"plugin {impl.plugin_name} returned {finding!r}, not a Finding")
                continue
            findings.append(finding if finding.plugin else
                            dataclasses.replace(finding, plugin=impl.plugin_name))
    return findings, problems


def log_findings(pm: pluggy.PluginManager, config: ConvertConfig, graph: Graph) -> None:
    """At INFO: what the plugins recognise in the model (topology family, quantization) and
    the flags they suggest."""
    if not log.isEnabledFor(logging.INFO):
        return
    findings, problems = describe(pm, config, graph)
    for problem in problems:
        log.debug("%s", problem)
    for f in findings:
        if f.kind in ("topology", "quantization"):
            flags = f"; suggested flags: {' '.join(f.flags)}" if f.flags else ""
            log.info("%s: %s (%s)%s", f.kind, f.title, f.plugin, flags)


def run_passes(pm_passes, graph: Graph, config: ConvertConfig, stage: str) -> None:
    for p in pm_passes.ordered(stage, config.disabled_passes):
        start = time.perf_counter()
        try:
            p.run(graph, config)
            if config.validate_each_pass:
                graph.validate()
        except TfconvError:
            raise
        except Exception as err:
            raise PassError(p.name, f"{type(err).__name__}: {err}") from err
        log.debug("pass %s: %.3f s, %d ops", p.name, time.perf_counter() - start, len(graph))


def transform(pm: pluggy.PluginManager, source: Graph, config: ConvertConfig,
              progress: Progress | None = None) -> Graph:
    """Source passes, translation and IR passes: the in-memory IR graph."""
    return _transform(pm, [source], config, progress)


def _transform(pm: pluggy.PluginManager, holder: list[Graph], config: ConvertConfig,
               progress: Progress | None) -> Graph:
    """:func:`transform` of ``holder[0]``, emptying ``holder`` once translated, so that a
    caller that keeps no other reference frees the source graph before the IR passes (a
    200k-node graph's source dialect is hundreds of MB)."""
    source = holder[0]
    registry = plugins.passes(pm)
    source.meta.setdefault("plugin_manager", pm)  # for passes that ask plugins (replacers)
    with _stage("source passes", progress):
        run_passes(registry, source, config, "source")
    with _stage("translate", progress):
        from .translate import translate
        table = plugins.translators(pm).resolve(source.dialect)
        ir = translate(source, table, config)
        holder.clear()
        del source
    with _stage("IR passes", progress):
        run_passes(registry, ir, config, "ir")
        ir.validate()
    return ir


def build(pm: pluggy.PluginManager, config: ConvertConfig,
          progress: Progress | None = None) -> Graph:
    """Load and transform: the in-memory IR graph (what ``tfconv.convert_model`` returns)."""
    with _stage("load", progress):
        source = load(pm, config)
        log_findings(pm, config, source)
    holder = [source]
    del source  # transform frees it after translation
    return _transform(pm, holder, config, progress)


def emit(pm: pluggy.PluginManager, graph: Graph, config: ConvertConfig) -> list[Path]:
    """Write ``graph`` with the target's emitter; all files appear at once or not at all
    (see :mod:`tfconv.output`)."""
    entry = plugins.emitters(pm).get(config.target)
    return write_all(Path(config.output_dir), lambda staging: entry.write(graph, staging, config))


def convert(pm: pluggy.PluginManager, config: ConvertConfig,
            progress: Progress | None = None) -> tuple[Graph, list[Path]]:
    """The whole conversion; returns the IR graph and the files written."""
    ir = build(pm, config, progress)
    with _stage("write", progress):
        files = emit(pm, ir, config)
    return ir, files


class Timings:
    """A ``progress=`` that records each stage's seconds, optionally passing them on to another
    progress; :meth:`line` is the one-line summary ``tfconv convert --timings`` prints."""

    def __init__(self, inner: Progress | None = None, *, startup: float | None = None) -> None:
        self.inner = inner
        self.began = time.perf_counter()
        # ``startup``: seconds spent before this object was made (imports, plugin discovery)
        self.seconds: dict[str, float] = {} if startup is None else {"startup": startup}
        if startup is not None:
            self.began -= startup

    def start(self, stage: str) -> None:
        start = getattr(self.inner, "start", None)
        if start is not None:
            start(stage)

    def __call__(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        if self.inner is not None:
            self.inner(stage, seconds)

    def failed(self, stage: str) -> None:
        failed = getattr(self.inner, "failed", None)
        if failed is not None:
            failed(stage)

    def line(self) -> str:
        """``[ TIMINGS ] startup=0.2 load=0.123 source_passes=0.004 ... total=0.301 peak_rss_mib=87``:
        seconds per stage (every stage of :data:`STAGES`, 0 when it did not run; ``startup``
        first when given), the total, and the process's peak resident memory."""
        fields = [f"startup={self.seconds['startup']:.3f}"] if "startup" in self.seconds else []
        fields += [f"{stage.replace(' ', '_')}={self.seconds.get(stage, 0.0):.3f}" for stage in STAGES]
        fields += [f"{stage.replace(' ', '_')}={secs:.3f}" for stage, secs in self.seconds.items()
                   if stage not in STAGES and stage != "startup"]
        fields.append(f"total={time.perf_counter() - self.began:.3f}")
        fields.append(f"peak_rss_mib={peak_rss_mib():.0f}")
        return "[ TIMINGS ] " + " ".join(fields)


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (0 where the OS does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class TerminalProgress:
    """Stage progress on a terminal: ``[ PROGRESS ] 2/5 source passes ...`` while a stage
    runs, replaced by its time when it ends. Log lines printed meanwhile start on a fresh
    line. Use as ``progress=`` of :func:`convert`; call :meth:`close` when done."""

    def __init__(self, stream: IO[str] | None = None, stages: tuple[str, ...] = STAGES) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.stages = stages
        self._open = False  # a stage line without its newline is on the screen
        self._handlers: list[logging.Handler] = []
        for handler in logging.getLogger("tfconv").handlers:
            handler.addFilter(self._before_log)
            self._handlers.append(handler)

    def _label(self, stage: str) -> str:
        n = len(self.stages)
        i = self.stages.index(stage) + 1 if stage in self.stages else "?"
        return f"[ PROGRESS ] {i}/{n} {stage}"

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _clear(self) -> None:
        if self._open:
            self._write("\r\033[K")
            self._open = False

    def _before_log(self, record: logging.LogRecord) -> bool:
        self._clear()
        return True

    def start(self, stage: str) -> None:
        self._clear()
        self._write(f"{self._label(stage)} ...")
        self._open = True

    def __call__(self, stage: str, seconds: float) -> None:
        self._clear()
        self._write(f"{self._label(stage)}: {seconds:.2f} s\n")

    def failed(self, stage: str) -> None:
        self._clear()

    def close(self) -> None:
        self._clear()
        for handler in self._handlers:
            handler.removeFilter(self._before_log)
        self._handlers = []
