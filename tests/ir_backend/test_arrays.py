"""The weight-layout copies of ``_arrays``: the cache-blocked HWIO->OIHW and 2-D transposes,
with and without a per-channel factor, split over threads or not, equal numpy's own result
bit for bit (each element is copied, or multiplied once, either way)."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from tfconv_ir_backend import _arrays

SHAPES = {  # HWIO conv weights and 2-D matrices; odd sizes leave ragged blocks and parts
    "3x3": (3, 3, 70, 200),
    "1x1": (1, 1, 130, 600),
    "5x1": (5, 1, 17, 333),
    "matrix": (513, 390),
}


@pytest.mark.parametrize("threads", [1, 3], ids=["one-thread", "three-threads"])
@pytest.mark.parametrize("scaled", [False, True], ids=["copy", "scaled"])
@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_layout_copies_equal_numpy(kind, scaled, threads, monkeypatch):
    monkeypatch.setattr(_arrays, "FAST_FROM", 0)
    monkeypatch.setattr(_arrays, "PARALLEL_FROM", 0)
    monkeypatch.setattr(_arrays, "THREADS", threads)
    monkeypatch.setattr(_arrays, "_POOL", None)
    rng = np.random.default_rng(7)
    src = rng.standard_normal(SHAPES[kind]).astype(np.float32)
    view = src.transpose(3, 2, 0, 1) if src.ndim == 4 else src.T  # OIHW / the transposed matrix
    factor = None
    if scaled:
        factor = rng.uniform(0.5, 2.0, view.shape[0]).astype(np.float32)
        factor = factor.reshape((-1,) + (1,) * (view.ndim - 1))
    got = _arrays.contiguous(view, factor)
    want = np.ascontiguousarray(view) if factor is None else view * factor
    assert got.flags.c_contiguous and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    if threads > 1:
        assert _arrays._POOL is not None  # the split path really ran
        _arrays._POOL.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_copies_with_threads_of_its_own(monkeypatch):
    """The pool's threads do not survive a fork: a child of a process that already converted
    big weights (a library user's multiprocessing) starts its own instead of waiting forever."""
    monkeypatch.setattr(_arrays, "PARALLEL_FROM", 0)
    monkeypatch.setattr(_arrays, "THREADS", 2)
    src = np.arange(64 * 600, dtype=np.float32).reshape(64, 600)
    _arrays.transpose2d(src)
    assert _arrays._POOL is not None
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only when the split copy finishes and is right
        ok = np.array_equal(_arrays.transpose2d(src), src.T)
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's copy never finished")
