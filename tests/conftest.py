"""Test-suite set-up: the shared fixtures of tfconv.testing, the model zoo on sys.path, and
skips made failures under ``make test``, and the op-parity census.

The census: every TF op type a plugin registers must be translated by a passing test under
``tests/tf_frontend/`` or ``tests/od_api/`` (where each conversion is run in OpenVINO and compared
with TensorFlow). The source op types each test translates in this process are recorded; when
the whole of those directories ran (no ``-k``/``-m``, no single files), an op type no passing
test translated fails the session, named.

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


def pytest_runtest_logreport(report) -> None:
    _record(report)
    if report.when == "call":
        seen, _SEEN[:] = set(_SEEN), []
        if report.passed and report.nodeid.startswith(CENSUS_DIRS):
            _COVERED.update(seen)


# --- the op-parity census ----------------------------------------------------------------------

CENSUS_DIRS = ("tests/tf_frontend/", "tests/od_api/", "tf_frontend/", "od_api/")
_SEEN: list[str] = []       # source op types translated during the current test
_COVERED: set[str] = set()  # ... during passing tests of CENSUS_DIRS
_CENSUS_MISSING: list[str] = []


def pytest_configure(config) -> None:
    from tfconv import translate

    run = translate._Session.run

    def recording_run(self, src, order, mapped, **kw):
        order = list(order)
        _SEEN.extend({src.op(n).type for n in order})
        return run(self, src, order, mapped, **kw)

    translate._Session.run = recording_run


def _census_applies(session) -> bool:
    """The whole of the census directories ran: no keyword or mark selection, and every test
    module under them was collected."""
    opt = session.config.option
    if getattr(opt, "keyword", "") or getattr(opt, "markexpr", "") or session.testsfailed:
        return False
    root = Path(__file__).parent
    modules = {p.relative_to(root.parent).as_posix() for d in ("tf_frontend", "od_api")
               for p in (root / d).glob("test_*.py")}
    ran = {item.nodeid.split("::")[0] for item in session.items}
    ran = {n if n.startswith("tests/") else f"tests/{n}" for n in ran}
    return modules <= ran


def pytest_sessionfinish(session, exitstatus) -> None:
    if _no_skips() and _SKIPPED and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if exitstatus == 0 and _census_applies(session):
        from tfconv import plugins

        registered = plugins.translators(plugins.get_plugin_manager()).owners("tf")
        _CENSUS_MISSING[:] = sorted(set(registered) - _COVERED)
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
