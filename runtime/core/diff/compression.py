"""Layer compression: detect it by magic, undo it in bounded steps, and count both sides.

A layer blob may be gzip, zstd or plain tar; containerd looks at the first bytes, not at the
media type, and so do we (:func:`detect`). :class:`LayerStream` reads a blob and hands out
the *uncompressed* tar, hashing both sides as it goes: the compressed side must match the
layer's digest, the uncompressed side is the **diff ID**. Decompression never produces more
than asked for at once, so a 6 KiB zstd bomb claiming 200 MiB of zeros costs nothing until
it is read, and reading it stops at :attr:`ApplyLimits.max_uncompressed_size`.

>>> import gzip, io
>>> detect(gzip.compress(b"x")), detect(b"ustar"), detect(b"")
('gzip', 'uncompressed', 'uncompressed')
>>> s = LayerStream(io.BytesIO(gzip.compress(b"hello")))
>>> s.read_exact(10), s.size, s.compression
(b'hello', 5, 'gzip')
>>> LayerStream(io.BytesIO(gzip.compress(b"hello")[:-4])).finish()
Traceback (most recent call last):
...
pyctrd.core.diff.limits.ArchiveError: gzip: unexpected end of compressed stream (applied 0 entries): invalid argument
"""
from __future__ import annotations

import hashlib
import importlib
import zlib
from typing import Any, Protocol

from ...errdefs import NotImplemented as NotImplementedErr
from .limits import ApplyLimits, ApplyStats, ArchiveError

__all__ = ["Compressor", "LayerStream", "Readable", "detect", "open_compressor", "zstd_module"]

_CHUNK = 1 << 20
_MAGIC = {b"\x1f\x8b\x08": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"\xfd7zXZ\x00": "xz", b"BZh": "bzip2"}


class Readable(Protocol):
    """Anything with ``read(n)``: a file, a socket reader, a content ReaderAt adapter."""

    def read(self, n: int = -1, /) -> bytes: ...


def zstd_module() -> Any:
    """Python 3.14's ``compression.zstd``, or its backport; NotImplemented if neither is installed."""
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise NotImplementedErr("zstd layers need the backports.zstd package")


def detect(head: bytes) -> str:
    """``gzip``, ``zstd``, ``xz``, ``bzip2`` or ``uncompressed`` from a blob's first bytes."""
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), "uncompressed")


class _Raw:
    """The compressed side: reads the source in chunks, hashing and counting what it read."""

    def __init__(self, src: Readable, stats: ApplyStats) -> None:
        self.src, self.stats, self.hash, self.pending = src, stats, hashlib.sha256(), b""

    def read(self) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        data = self.src.read(_CHUNK)
        self.hash.update(data)
        self.stats.compressed_size += len(data)
        return data

    def peek(self, n: int) -> bytes:
        while len(self.pending) < n:
            more = self.src.read(_CHUNK)
            if not more:
                break
            self.hash.update(more)
            self.stats.compressed_size += len(more)
            self.pending += more
        return self.pending[:n]


class _Plain:
    def __init__(self, raw: _Raw) -> None:
        self.raw, self.buf, self.pos = raw, b"", 0

    def read(self, n: int) -> bytes:
        if self.pos >= len(self.buf):
            self.buf, self.pos = self.raw.read(), 0
        out = self.buf[self.pos:self.pos + n]  # an offset, not re-slicing the rest each time
        self.pos += len(out)
        return out


class _Frames:
    """gzip members or zstd frames, one after another, each checked to its end."""

    def __init__(self, raw: _Raw, name: str, stats: ApplyStats) -> None:
        self.raw, self.name, self.stats, self.pending = raw, name, stats, b""
        self.zstd = zstd_module() if name == "zstd" else None
        self.d: Any = self._new()

    def _new(self) -> Any:
        return self.zstd.ZstdDecompressor() if self.zstd else zlib.decompressobj(31)

    def _fail(self, what: str) -> ArchiveError:
        return ArchiveError(f"{self.name}: {what}", self.stats)

    def read(self, n: int) -> bytes:
        while True:
            if self.d.eof:
                rest = self.d.unused_data + self.pending
                self.pending = b""
                rest = rest or self.raw.read()
                if not rest:
                    return b""
                if self.zstd is None:
                    while len(rest) < 2 and (more := self.raw.read()):
                        rest += more
                    if not rest.startswith(b"\x1f\x8b"):
                        raise self._fail(f"{len(rest)}+ bytes of trailing data after the stream")
                self.d, self.pending = self._new(), rest
            if self.zstd is None and self.d.unconsumed_tail:
                inp = self.d.unconsumed_tail
            elif self.zstd is not None and not self.d.needs_input:
                inp = b""
            else:
                inp, self.pending = self.pending or self.raw.read(), b""
                if not inp:
                    raise self._fail("unexpected end of compressed stream")
            try:
                out: bytes = self.d.decompress(inp, n)
            except Exception as exc:  # zlib.error / ZstdError: corrupt data, CRC or size trailer
                raise self._fail(f"corrupt stream: {exc}") from exc
            if out:
                return out


class LayerStream:
    """The uncompressed tar inside a layer blob, hashed (diff ID) and bounded as it is read.

    Args:
        src: the blob (anything with ``read(n)``).
        limits: ``max_uncompressed_size`` is enforced here.
        stats: updated in place (``size``, ``compressed_size``, ``compression``).
    """

    def __init__(self, src: Readable, limits: ApplyLimits | None = None,
                 stats: ApplyStats | None = None) -> None:
        self.limits, self.stats = limits or ApplyLimits(), stats or ApplyStats()
        self.hash = hashlib.sha256()
        self.raw = _Raw(src, self.stats)
        name = detect(self.raw.peek(6))
        if name in ("xz", "bzip2"):
            raise NotImplementedErr(f"{name}-compressed layers (containerd reads gzip and zstd)")
        self.stats.compression = name
        self.dec: _Plain | _Frames = _Plain(self.raw) if name == "uncompressed" else \
            _Frames(self.raw, name, self.stats)

    @property
    def compression(self) -> str:
        return self.stats.compression

    @property
    def size(self) -> int:
        return self.stats.size

    def read(self, n: int) -> bytes:
        """Up to ``n`` uncompressed bytes; ``b""`` only at the clean end of the blob."""
        out = self.dec.read(n)
        self.stats.size += len(out)
        if self.stats.size > self.limits.max_uncompressed_size:
            raise ArchiveError(f"layer exceeds the uncompressed size limit of "
                               f"{self.limits.max_uncompressed_size} bytes", self.stats)
        self.hash.update(out)
        return out

    def read_exact(self, n: int) -> bytes:
        """``n`` bytes, or fewer only at the end of the blob."""
        parts, want = [], n
        while want:
            b = self.read(min(want, _CHUNK))
            if not b:
                break
            parts.append(b)
            want -= len(b)
        return b"".join(parts)

    def finish(self) -> ApplyStats:
        """Read to the end (trailing data counts and is checked), then fill in both digests."""
        while self.read(_CHUNK):
            pass
        self.stats.diff_id = "sha256:" + self.hash.hexdigest()
        self.stats.digest = "sha256:" + self.raw.hash.hexdigest()
        return self.stats


class Compressor(Protocol):
    def write(self, data: bytes) -> Any: ...

    def close(self) -> None: ...


class _Compressing:
    def __init__(self, out: Any, c: Any) -> None:
        self.out, self.c = out, c

    def write(self, data: bytes) -> int:
        if data:
            self.out.write(self.c.compress(data))
        return len(data)

    def close(self) -> None:
        self.out.write(self.c.flush())


def open_compressor(out: Any, compression: str) -> Compressor:
    """A writer that compresses into ``out`` (``gzip`` level 6 as Go's default, or ``zstd``).

    Closing it writes the trailer but leaves ``out`` open.
    """
    if compression == "gzip":
        return _Compressing(out, zlib.compressobj(6, zlib.DEFLATED, 31))
    if compression == "zstd":
        return _Compressing(out, zstd_module().ZstdCompressor())
    raise NotImplementedErr(f"compression {compression!r}")
