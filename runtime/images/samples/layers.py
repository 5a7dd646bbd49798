"""Deterministic layer tarballs: the same inputs always give the same bytes and digests.

Every entry has a fixed mtime, uid/gid 0 and no user names; entries are written in sorted
path order; gzip gets no file name and mtime 0. Whiteouts follow the OCI layer spec:
``.wh.<name>`` deletes ``<name>`` from the layers below, ``<dir>/.wh..wh..opq`` hides
everything below ``<dir>``.

>>> b = LayerBuilder().dir("etc").file("etc/hello", b"hi\\n").whiteout("etc/goodbye")
>>> b.names()
['etc', 'etc/.wh.goodbye', 'etc/hello']
>>> gzip_deterministic(b.tar()) == gzip_deterministic(b.tar())
True
"""
from __future__ import annotations

import io
import struct
import tarfile
import zlib
from dataclasses import dataclass

__all__ = ["MTIME", "LayerBuilder", "gzip_deterministic"]

#: 2023-01-01T00:00:00Z: a fixed, plausible timestamp for every entry
MTIME = 1672531200


@dataclass(frozen=True)
class _Entry:
    kind: bytes
    mode: int
    data: bytes = b""
    target: str = ""


class LayerBuilder:
    """Collects entries and renders them as an uncompressed tar (see module docs)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def _add(self, path: str, entry: _Entry) -> LayerBuilder:
        path = path.strip("/")
        if not path or ".." in path.split("/"):
            raise ValueError(f"bad layer path {path!r}")
        self._entries[path] = entry
        return self

    def dir(self, path: str, mode: int = 0o755) -> LayerBuilder:
        return self._add(path, _Entry(tarfile.DIRTYPE, mode))

    def file(self, path: str, data: bytes, mode: int = 0o644) -> LayerBuilder:
        return self._add(path, _Entry(tarfile.REGTYPE, mode, data))

    def symlink(self, path: str, target: str) -> LayerBuilder:
        return self._add(path, _Entry(tarfile.SYMTYPE, 0o777, target=target))

    def whiteout(self, path: str) -> LayerBuilder:
        """Delete ``path`` (from the layers below) in this layer."""
        head, _, name = path.strip("/").rpartition("/")
        return self.file(f"{head}/.wh.{name}" if head else f".wh.{name}", b"", 0o644)

    def opaque(self, directory: str) -> LayerBuilder:
        """Hide whatever the layers below have in ``directory``."""
        return self.file(f"{directory.strip('/')}/.wh..wh..opq", b"", 0o644)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            for path in self.names():
                e = self._entries[path]
                ti = tarfile.TarInfo(path)
                ti.type, ti.mode, ti.mtime = e.kind, e.mode, MTIME
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                if e.kind == tarfile.SYMTYPE:
                    ti.linkname = e.target
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data) if e.kind == tarfile.REGTYPE else None)
        return buf.getvalue()


def gzip_deterministic(data: bytes, level: int = 9) -> bytes:
    """gzip with a fixed header (no name, mtime 0, OS 'unknown') around raw deflate."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    body = c.compress(data) + c.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + (b"\x02" if level == 9 else b"\x00") + b"\xff"
    return header + body + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
