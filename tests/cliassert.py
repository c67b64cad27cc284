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


def snapshot(root: Path) -> dict:
    """Every file and folder under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def assert_unchanged(root: Path, before: dict) -> None:
    """Nothing under ``root`` was created, removed or modified since ``before``."""
    after = snapshot(root)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), f"added {added}, removed {removed}, changed {changed}"
