"""A read-only, in-memory content :class:`~pyctrd.core.content.Provider` over a dict of blobs.

Used where images are *made* rather than stored (the sample builder, exporters fed from
memory). Digests are checked on the way in, so it never serves bytes under a wrong name.

>>> from pyctrd.core.digest import from_bytes
>>> bm = BlobMap([b"hello"])
>>> ra = bm.reader_at(from_bytes(b"hello")); ra.read_at(1, 3), ra.size
(b'ell', 5)
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ..core.digest import from_bytes
from ..errdefs import NotFound

__all__ = ["BlobMap"]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def read_at(self, offset: int, n: int) -> bytes:
        return self._data[offset:offset + n]

    def close(self) -> None:
        pass


class BlobMap(Mapping[str, bytes]):
    """digest -> bytes, built from the blobs themselves."""

    def __init__(self, blobs: Iterable[bytes] = ()) -> None:
        self._blobs = {from_bytes(b): b for b in blobs}

    def add(self, data: bytes) -> str:
        d = from_bytes(data)
        self._blobs[d] = data
        return d

    def __getitem__(self, digest: str) -> bytes:
        return self._blobs[digest]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)

    def __repr__(self) -> str:
        return f"<BlobMap blobs={len(self)} bytes={sum(map(len, self._blobs.values()))}>"

    def reader_at(self, digest: str) -> _Reader:
        """Raises NotFound for an unknown digest."""
        try:
            return _Reader(self._blobs[digest])
        except KeyError:
            raise NotFound(f"content digest {digest}") from None
