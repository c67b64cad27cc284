"""The bad-input contract shared by CLI tests: one clean error, non-zero exit, no output."""
from __future__ import annotations

import subprocess
from pathlib import Path


def assert_clean_failure(result: subprocess.CompletedProcess, out_dir: Path, *needles: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("[ ERROR ]"), result.stderr
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in:\n{result.stderr}"
    assert not out_dir.exists()
    return result.stderr
