"""Fast contiguous copies of transposed weights (numpy's generic strided copy is slow for the
large transposes that TF->IR weight layouts need). A big copy is split by output channels over
a few threads: numpy copies and multiplies without the GIL, so they run side by side."""
from __future__ import annotations

import mmap
import os
import tempfile
from typing import Callable

import numpy as np

FAST_FROM = 1 << 20  # bytes: below this numpy's own copy is as fast
PARALLEL_FROM = 4 << 20  # bytes: below this starting the other threads costs more than it saves
THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count() or 1))
_POOL = None


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when needed."""
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _in_parallel(count: int, block: int, nbytes: int, work: Callable[[int, int], None]) -> None:
    """``work(start, stop)`` over ``range(count)`` cut into block-aligned parts, one per thread
    (all in this thread when the copy is small or there is one core)."""
    blocks = -(-count // block)
    parts = min(THREADS, blocks) if nbytes >= PARALLEL_FROM else 1
    if parts <= 1:
        work(0, count)
        return
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _POOL = ThreadPoolExecutor(THREADS - 1, thread_name_prefix="tfconv-weights")
    per = -(-blocks // parts) * block
    ranges = [(lo, min(lo + per, count)) for lo in range(0, count, per)]
    pending = [_POOL.submit(work, lo, hi) for lo, hi in ranges[1:]]
    work(*ranges[0])
    for done in pending:
        done.result()


def _block(factor: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    """The part of a per-channel ``factor`` (rank >= 2, broadcastable to the output) over one
    block of its first two dims."""
    return factor[rows if factor.shape[0] > 1 else slice(None),
                  cols if factor.shape[1] > 1 else slice(None)]


def transpose2d(a: np.ndarray, block: int = 256, factor: np.ndarray | None = None) -> np.ndarray:
    """Cache-blocked ``ascontiguousarray(a.T) * factor`` of a C-contiguous 2-D array
    (``factor`` broadcastable to the result, in its dtype)."""
    rows, cols = a.shape
    out = np.empty((cols, rows), a.dtype)

    def part(first: int, last: int) -> None:
        for i in range(0, rows, block):
            for j in range(first, last, block):
                end = min(j + block, last)
                out[j:end, i:i + block] = a[i:i + block, j:end].T
        if factor is not None:  # measured: faster after the copy than block by block here
            mine = out[first:last]
            np.multiply(mine, _block(factor, slice(first, last), slice(None)), out=mine)

    _in_parallel(cols, block, a.nbytes, part)
    return out


def _oihw_from_hwio(src: np.ndarray, factor: np.ndarray | None = None,
                    block: int = 64) -> np.ndarray:
    """OIHW of HWIO weights (times ``factor``), block by block of output and input channels:
    each block's taps are read and written while in cache (3x3 weights: 3x faster than a
    per-tap transpose followed by a tap-major one, 1.4x faster than numpy's strided copy)."""
    h, w, i, o = src.shape
    if h * w == 1:
        flat = None if factor is None else factor.reshape(factor.shape[:2])
        return transpose2d(src.reshape(i, o), factor=flat).reshape(o, i, 1, 1)
    out = np.empty((o, i, h, w), src.dtype)

    def part(first: int, last: int) -> None:
        for a in range(first, last, block):
            for c in range(0, i, block):
                target = out[a:a + block, c:c + block]
                target[...] = src[:, :, c:c + block, a:a + block].transpose(3, 2, 0, 1)
                if factor is not None:  # while the block is in cache
                    target *= _block(factor, slice(a, a + block), slice(c, c + block))

    _in_parallel(o, block, src.nbytes, part)
    return out


def contiguous(a: np.ndarray, factor: np.ndarray | None = None) -> np.ndarray:
    """``np.ascontiguousarray(a)`` (times ``factor``, a per-channel array broadcastable to
    ``a`` in its dtype, in the same pass: a new array then), faster for the OIHW view of HWIO
    conv weights and for transposed matrices."""
    fast = not a.flags.c_contiguous and a.nbytes >= FAST_FROM
    if fast and a.ndim == 4 and a.transpose(2, 3, 1, 0).flags.c_contiguous:
        f = None if factor is None else _as_rank(factor, 4)
        return _oihw_from_hwio(a.transpose(2, 3, 1, 0), f)
    if fast and a.ndim == 2 and a.T.flags.c_contiguous:
        return transpose2d(a.T, factor=None if factor is None else _as_rank(factor, 2))
    if factor is None:
        return np.ascontiguousarray(a)
    return np.multiply(a, factor)  # a new C-ordered array in either case


def _as_rank(factor: np.ndarray, rank: int) -> np.ndarray:
    return factor.reshape((1,) * (rank - factor.ndim) + factor.shape)


def release_pages(a: np.ndarray) -> None:
    """Let the OS drop the resident pages under ``a`` when it views a read-only memory map (a
    constant left in the model file's map by the frozen-graph loader) and a copy has replaced
    it: the pages stay in the page cache and come back from the file if read again, but no
    longer count against this process's memory while later copies are made."""
    base = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview):  # np.frombuffer keeps the exporter behind a memoryview
        base = base.obj
    if not isinstance(base, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED") or a.size == 0:
        return
    try:
        start = np.frombuffer(base, np.uint8).ctypes.data
    except (TypeError, ValueError):
        return
    low, high = np.lib.array_utils.byte_bounds(a)
    page = mmap.PAGESIZE
    first = -(-(low - start) // page) * page  # whole pages inside the array only
    last = (high - start) // page * page
    if last > first:
        try:
            base.madvise(mmap.MADV_DONTNEED, first, last - first)
        except (OSError, ValueError):  # pragma: no cover - a map the OS will not advise
            pass


SPILL_FROM = 64 << 20  # bytes: bigger new weight arrays live in a memory-mapped temporary file


def spill_empty(shape: tuple[int, ...], dtype: object) -> np.ndarray:
    """``np.empty(shape, dtype)``, backed by an unlinked temporary file when it is big, so that
    its pages can leave this process's memory once written (:func:`release_pages`)."""
    dtype = np.dtype(dtype)
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize < SPILL_FROM:
        return np.empty(shape, dtype)
    with tempfile.TemporaryFile(prefix="tfconv-weights-") as f:
        return np.memmap(f, dtype=dtype, mode="w+", shape=tuple(shape))


def transposed_2d(w: np.ndarray) -> np.ndarray:
    """``np.ascontiguousarray(w.T)`` of a 2-D array; a big result is written block by block into
    a file-backed array whose written pages are released as it goes, and the source's pages
    are released at the end when it views a memory map."""
    rows, cols = w.shape
    out = spill_empty((cols, rows), w.dtype)
    if not isinstance(out, np.memmap):
        return contiguous(w.T)
    step = max(1, (8 << 20) // max(1, rows * w.dtype.itemsize))
    for j in range(0, cols, step):
        out[j:j + step] = w[:, j:j + step].T
        release_pages(out[j:j + step])
    release_pages(w)
    return out
