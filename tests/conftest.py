"""Test-suite set-up: the shared fixtures of tfconv.testing, the model zoo on sys.path, and
skips made failures under ``make test``.

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


def pytest_sessionfinish(session, exitstatus) -> None:
    if _no_skips() and _SKIPPED and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _no_skips() and _SKIPPED:
        terminalreporter.section("skips are failures here (TFCONV_NO_SKIPS=1)", red=True)
        for line in _SKIPPED:
            terminalreporter.line(line, red=True)
