"""Test-suite set-up: the shared fixtures of tfconv.testing, the model zoo on sys.path, and
skips made failures under ``make test``, and the op-parity census.

The census: every TF op type a plugin registers must be converted by a passing test under
``tests/tf_frontend/`` or ``tests/od_api/`` (where each conversion is run in OpenVINO and compared
with TensorFlow). The source op types each test converts in this process are recorded (those
the translators see, those on the output path when the source passes start, and the sinks
hanging off that path which the passes consume, such as a table's initialiser); when
the whole of those directories ran (no ``-k``/``-m``, no single files; or ``TFCONV_CENSUS=1``),
an op type no passing test converted fails the session, named.

``make test`` installs TensorFlow and OpenVINO, so there no test has a reason to skip: a module
whose ``importorskip("openvino")`` fired because an import broke would otherwise vanish from the
run as "skipped". With ``TFCONV_NO_SKIPS=1`` (set by ``make test``, hence by CI) every skipped test
or module is listed and the run fails.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["tfconv.testing"]

_SKIPPED: list[str] = []


def _no_skips() -> bool:
    return os.environ.get("TFCONV_NO_SKIPS", "") not in ("", "0")


def _record(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_collectreport(report) -> None:
    _record(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # the op types this test converted (its setup included) travel on its call report, so the
    # census also works where the report is logged in another process (pytest-xdist's
    # controller)
    outcome = yield
    if call.when == "call":
        seen, _SEEN[:] = sorted(set(_SEEN)), []
        outcome.get_result().user_properties.append(("tfconv_op_types", seen))


def pytest_runtest_logreport(report) -> None:
    _record(report)
    if report.when == "call":
        _RAN.add(report.nodeid.split("::")[0])
        if report.passed and report.nodeid.startswith(CENSUS_DIRS):
            for key, value in report.user_properties:
                if key == "tfconv_op_types":
                    _COVERED.update(value)


# --- the op-parity census ----------------------------------------------------------------------

CENSUS_DIRS = ("tests/tf_frontend/", "tests/od_api/", "tests/test_custom_op.py")
# Registered op types no TensorFlow graph can bring to a translator in a runnable form, with
# the reason (each translator is still there for the graphs that hold one).
CENSUS_EXEMPT = {
    "Assert": "no data outputs: graphs use it only through control edges, which are not "
              "translated; its translator drops it when it is named as an output",
    "RefSwitch": "only in graphs over reference variables, which freezing rewrites to Switch; "
                 "where a graph keeps one, Switch's translator (registered for both) takes it",
    "RefMerge": "only in graphs over reference variables, which freezing rewrites to Merge; "
                "where a graph keeps one, Merge's translator (registered for both) takes it",
}
_SEEN: list[str] = []       # source op types translated during the current test
_COVERED: set[str] = set()  # ... during passing tests of CENSUS_DIRS
_RAN: set[str] = set()      # the test modules whose tests ran
_CENSUS_MISSING: list[str] = []


def pytest_configure(config) -> None:
    from tfconv import translate

    run = translate._Session.run

    def recording_run(self, src, order, mapped, **kw):
        order = list(order)
        _SEEN.extend({src.op(n).type for n in order})
        return run(self, src, order, mapped, **kw)

    translate._Session.run = recording_run

    from tfconv import pipeline

    run_passes = pipeline.run_passes

    def recording_passes(registry, graph, config, stage, *a, **kw):
        if stage == "source" and graph.outputs:  # what source passes consume counts too
            needed = graph.ancestors(p.node for p in graph.outputs)
            _SEEN.extend({graph.op(n).type for n in needed})
            # and the sinks hanging off that path, which the passes fold into it or drop: a
            # table's fill ops (their keys and values go onto the lookup), a TensorArray's close
            _SEEN.extend({op.type for op in graph if op.name not in needed
                          and not graph.consumers(op.name)
                          and any(p.node in needed for p in graph.inputs(op.name))})
        return run_passes(registry, graph, config, stage, *a, **kw)

    pipeline.run_passes = recording_passes


def _census_applies(session) -> bool:
    """The whole of the census directories ran: no keyword or mark selection, and every test
    module under them was collected."""
    if os.environ.get("TFCONV_CENSUS", "") not in ("", "0"):  # asked for on a partial run
        return True
    opt = session.config.option
    if getattr(opt, "keyword", "") or getattr(opt, "markexpr", "") or session.testsfailed:
        return False
    root = Path(__file__).parent
    modules = {p.relative_to(root.parent).as_posix() for d in ("tf_frontend", "od_api")
               for p in (root / d).glob("test_*.py")} | {"tests/test_custom_op.py"}
    ran = {n if n.startswith("tests/") else f"tests/{n}" for n in _RAN}
    return modules <= ran


def pytest_sessionfinish(session, exitstatus) -> None:
    if hasattr(session.config, "workerinput"):  # a pytest-xdist worker: the controller judges
        return
    if _no_skips() and _SKIPPED and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if exitstatus == 0 and _census_applies(session):
        from tfconv import plugins

        registered = plugins.translators(plugins.get_plugin_manager()).owners("tf")
        _CENSUS_MISSING[:] = sorted(set(registered) - _COVERED - set(CENSUS_EXEMPT))
        if _CENSUS_MISSING:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _no_skips() and _SKIPPED:
        terminalreporter.section("skips are failures here (TFCONV_NO_SKIPS=1)", red=True)
        for line in _SKIPPED:
            terminalreporter.line(line, red=True)
    if _CENSUS_MISSING:
        terminalreporter.section("TF op types no passing parity test translated", red=True)
        terminalreporter.line(" ".join(_CENSUS_MISSING), red=True)
        terminalreporter.line("add a test under tests/tf_frontend/ (one file per op family) "
                              "that converts the op and compares with TensorFlow", red=True)
