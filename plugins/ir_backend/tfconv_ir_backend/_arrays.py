"""Fast contiguous copies of transposed weights (numpy's generic strided copy is slow for the
large transposes that TF->IR weight layouts need)."""
from __future__ import annotations

import mmap
import tempfile

import numpy as np

FAST_FROM = 1 << 20  # bytes: below this numpy's own copy is as fast


def transpose2d(a: np.ndarray, block: int = 256) -> np.ndarray:
    """Cache-blocked ``ascontiguousarray(a.T)`` of a C-contiguous 2-D array."""
    rows, cols = a.shape
    out = np.empty((cols, rows), a.dtype)
    for i in range(0, rows, block):
        for j in range(0, cols, block):
            out[j:j + block, i:i + block] = a[i:i + block, j:j + block].T
    return out


def _oihw_from_hwio(src: np.ndarray) -> np.ndarray:
    h, w, i, o = src.shape
    hw = h * w
    if hw == 1:
        return transpose2d(src.reshape(i, o)).reshape(o, i, 1, 1)
    per_tap = np.empty((hw, o, i), src.dtype)
    taps = src.reshape(hw, i, o)
    for k in range(hw):
        per_tap[k] = transpose2d(taps[k])
    return np.ascontiguousarray(per_tap.reshape(hw, o * i).T).reshape(o, i, h, w)


def contiguous(a: np.ndarray) -> np.ndarray:
    """``np.ascontiguousarray(a)``, faster for the OIHW view of HWIO conv weights and for
    transposed matrices."""
    if a.flags.c_contiguous or a.nbytes < FAST_FROM:
        return np.ascontiguousarray(a)
    if a.ndim == 4 and a.transpose(2, 3, 1, 0).flags.c_contiguous:
        return _oihw_from_hwio(a.transpose(2, 3, 1, 0))
    if a.ndim == 2 and a.T.flags.c_contiguous:
        return transpose2d(a.T)
    return np.ascontiguousarray(a)


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
