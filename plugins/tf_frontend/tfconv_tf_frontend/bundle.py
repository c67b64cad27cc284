"""Read TensorFlow V2 checkpoints (tensor bundles) without TensorFlow.

A bundle is ``PREFIX.index`` plus ``PREFIX.data-0000S-of-0000N``. The index is a LevelDB-format
table: a 48-byte footer (metaindex and index block handles as varints, padding, magic
0xdb4775248b80fb57), blocks of prefix-compressed key/value entries with restart points, each
block followed by a 1-byte compression type and a masked crc32c. Its empty key holds a
BundleHeaderProto, every other key is a tensor name whose value is a BundleEntryProto locating
the tensor's bytes (raw, little-endian) in a data shard. Numeric tensors are numpy views of a
memory map of their shard (no copy).
"""
from __future__ import annotations

import mmap
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.errors import ModelFormatError

from . import proto, sniff

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
_DT_STRING = 7


class Unsupported(ModelFormatError):
    """A valid checkpoint this reader does not handle (the caller may fall back to TensorFlow)."""


# --- crc32c (Castagnoli), for the index blocks ------------------------------------------

def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --- LevelDB table -------------------------------------------------------------------------

def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """(value, next offset) of the varint at ``pos``: sniff's decoder, raising on bad input."""
    value, nxt = sniff._varint(buf, pos)  # type: ignore[arg-type]
    if nxt < 0:
        raise ValueError("truncated varint" if nxt == -1 else "varint too long")
    return value, nxt


class _Corrupt(Exception):
    pass


def _block(data: bytes, offset: int, size: int, check_crc: bool) -> bytes:
    end = offset + size
    if offset < 0 or end + 5 > len(data):
        raise _Corrupt(f"block at {offset} (+{size}) runs past the end of the file")
    ctype = data[end]
    if check_crc:
        (stored,) = struct.unpack_from("<I", data, end + 1)
        if crc32c(data[offset:end + 1]) != unmask_crc(stored):
            raise _Corrupt(f"checksum mismatch in the block at {offset}")
    if ctype != 0:
        what = {1: "snappy", 2: "zstd"}.get(ctype, f"type {ctype}")
        raise _Corrupt(f"block at {offset} is {what}-compressed (TensorFlow writes index blocks "
                       "uncompressed)")
    return data[offset:end]


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise _Corrupt("block shorter than its restart count")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise _Corrupt("bad restart count")
    out = []
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + vlen > limit:
            raise _Corrupt("bad entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + vlen]))
        pos += vlen
    return out


def read_table(data: bytes, check_crc: bool = True) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a LevelDB table held in ``data``, in key order."""
    if len(data) < FOOTER_SIZE:
        raise _Corrupt(f"{len(data)} bytes, shorter than the {FOOTER_SIZE}-byte table footer")
    footer = data[-FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, FOOTER_SIZE - 8)
    if magic != MAGIC:
        raise _Corrupt("no table magic number at the end")
    try:
        _, pos = _varint(footer, 0)       # metaindex handle (unused)
        _, pos = _varint(footer, pos)
        index_off, pos = _varint(footer, pos)
        index_size, pos = _varint(footer, pos)
    except ValueError as e:
        raise _Corrupt(f"bad footer: {e}") from e
    out = []
    for _, handle in _entries(_block(data, index_off, index_size, check_crc)):
        try:
            off, p = _varint(handle, 0)
            size, _ = _varint(handle, p)
        except ValueError as e:
            raise _Corrupt(f"bad block handle: {e}") from e
        out.extend(_entries(_block(data, off, size, check_crc)))
    return out


# --- tensor bundle -----------------------------------------------------------------------

class Bundle:
    """A V2 checkpoint: ``keys()``, ``entry(key)``, ``tensor(key)`` (numpy, read-only)."""

    def __init__(self, prefix: str | Path, check_crc: bool = True) -> None:
        self.prefix = str(prefix)
        index = Path(self.prefix + ".index")
        try:
            data = index.read_bytes()
        except OSError as e:
            raise ModelFormatError(f"cannot read checkpoint index {index}: {e.strerror}") from e
        try:
            items = read_table(data, check_crc)
        except _Corrupt as e:
            if "compressed" in str(e):
                raise Unsupported(f"checkpoint index {index}: {e}") from e
            raise ModelFormatError(f"checkpoint index {index} is corrupt ({e}); re-save the "
                                   "checkpoint or pass an intact copy") from e
        self.header = proto.BundleHeaderProto()
        self._raw: dict[str, bytes] = {}
        for key, value in items:
            if key == b"":
                try:
                    self.header.ParseFromString(value)
                except Exception as e:  # noqa: BLE001 - DecodeError
                    raise ModelFormatError(f"checkpoint index {index} is corrupt (bad "
                                           f"header: {e})") from e
            else:
                self._raw[key.decode("utf-8", "replace")] = value
        if not any(k == b"" for k, _ in items[:1]):
            raise ModelFormatError(f"checkpoint index {index} is corrupt (no bundle header); "
                                   "is it a TensorFlow V2 checkpoint?")
        if self.header.endianness != 0:
            raise Unsupported(f"checkpoint {self.prefix} is big-endian")
        self._entries: dict[str, Any] = {}
        self._maps: dict[int, mmap.mmap | bytes] = {}

    def keys(self) -> list[str]:
        return list(self._raw)

    def __contains__(self, key: str) -> bool:
        return key in self._raw

    def entry(self, key: str) -> Any:
        e = self._entries.get(key)
        if e is None:
            if key not in self._raw:
                raise KeyError(key)
            e = proto.BundleEntryProto()
            try:
                e.ParseFromString(self._raw[key])
            except Exception as err:  # noqa: BLE001 - DecodeError
                raise ModelFormatError(f"checkpoint index {self.prefix}.index is corrupt (entry "
                                       f"{key!r}: {err})") from err
            self._entries[key] = e
        return e

    def shard_path(self, shard: int) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self.header.num_shards:05d}")

    def _shard(self, shard: int) -> mmap.mmap | bytes:
        m = self._maps.get(shard)
        if m is None:
            path = self.shard_path(shard)
            try:
                with open(path, "rb") as f:
                    size = f.seek(0, 2)
                    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            except OSError as e:
                raise ModelFormatError(f"checkpoint {self.prefix}: cannot read data file {path}: "
                                       f"{e.strerror}; the checkpoint is incomplete") from e
            self._maps[shard] = m
        return m

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(d.size for d in self.entry(key).shape.dim)

    def dtype(self, key: str) -> int:
        return int(self.entry(key).dtype)

    def tensor(self, key: str) -> np.ndarray:
        """The tensor stored under ``key``: numeric ones as a read-only view of the data file,
        strings as an object array of bytes."""
        e = self.entry(key)
        if len(e.slices):
            raise Unsupported(f"checkpoint {self.prefix}: {key!r} is a partitioned (sliced) "
                              "variable")
        shape = tuple(d.size for d in e.shape.dim)
        if any(d < 0 for d in shape):
            raise ModelFormatError(f"checkpoint {self.prefix}: {key!r} has an unknown shape")
        count = int(np.prod(shape, dtype=np.int64))
        if e.shard_id >= max(self.header.num_shards, 1):
            raise ModelFormatError(f"checkpoint {self.prefix}: {key!r} is in shard {e.shard_id} "
                                   f"of {self.header.num_shards}; the index is corrupt")
        buf = self._shard(e.shard_id)
        if e.offset < 0 or e.offset + e.size > len(buf):
            raise ModelFormatError(
                f"checkpoint {self.prefix}: {key!r} lies at bytes {e.offset}..{e.offset + e.size}"
                f" but {self.shard_path(e.shard_id).name} has {len(buf)}; the data file is "
                "truncated or belongs to another checkpoint")
        if e.dtype == _DT_STRING:
            return self._strings(key, buf, e, shape, count)
        dtype = proto.DTYPES.get(int(e.dtype))
        if dtype is None or dtype.kind == "O":
            raise Unsupported(f"checkpoint {self.prefix}: {key!r} has type "
                              f"{proto.dtype_name(e.dtype)}, which this reader does not handle")
        if count * dtype.itemsize != e.size:
            raise ModelFormatError(f"checkpoint {self.prefix}: {key!r} of shape {list(shape)} "
                                   f"{proto.dtype_name(e.dtype)} needs {count * dtype.itemsize} "
                                   f"bytes, the index says {e.size}")
        if count == 0:
            return np.zeros(shape, dtype)
        arr = np.frombuffer(buf, dtype=dtype, count=count, offset=e.offset)
        if sys.byteorder == "big" and dtype.itemsize > 1:  # pragma: no cover
            arr = arr.byteswap()
        return arr.reshape(shape)

    def _strings(self, key: str, buf: Any, e: Any, shape: tuple[int, ...],
                 count: int) -> np.ndarray:
        data = bytes(buf[e.offset:e.offset + e.size])
        try:
            lengths, pos = [], 0
            for _ in range(count):
                n, pos = _varint(data, pos)
                lengths.append(n)
            pos += 4  # masked crc32c of the lengths
            items = []
            for n in lengths:
                if pos + n > len(data):
                    raise ValueError("string bytes run past the entry")
                items.append(data[pos:pos + n])
                pos += n
        except ValueError as err:
            raise ModelFormatError(f"checkpoint {self.prefix}: string tensor {key!r} is "
                                   f"corrupt ({err})") from err
        out = np.empty(count, dtype=object)
        out[:] = items
        return out.reshape(shape)
