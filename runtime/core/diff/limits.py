"""What applying a layer may cost (:class:`ApplyLimits`), what it did (:class:`ApplyStats`),
and the error a bad archive raises (:class:`ArchiveError`).

A layer is untrusted input: a few kilobytes of gzip can claim terabytes of zeros, a sparse
entry can claim a file of any size, a PAX header can claim gigabytes of metadata. Each limit
turns one of those into a clear :class:`~pyctrd.errdefs.InvalidArgument` before the cost is paid.

>>> ApplyLimits(max_uncompressed_size=1 << 20)
<ApplyLimits uncompressed<=1MiB file<=1TiB entries<=1000000>
>>> s = ApplyStats(entries=3, files=2, size=2048)
>>> s
<ApplyStats 3 entries 2 files 2048B>
>>> str(ArchiveError("truncated tar header", s))
'truncated tar header (applied 3 entries): invalid argument'
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errdefs import InvalidArgument

__all__ = ["PATH_MAX", "ApplyLimits", "ApplyStats", "ArchiveError"]

#: Linux's PATH_MAX, counting the terminating NUL: a name must be shorter than this.
PATH_MAX = 4096


def _human(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return f"{n}B"


@dataclass(frozen=True)
class ApplyLimits:
    """Bounds on one layer; exceeding any raises :class:`ArchiveError`.

    Attributes:
        max_uncompressed_size: bytes of tar stream after decompression (decompression bombs).
        max_file_size: apparent size of one file, sparse holes included.
        max_entries: tar headers in one layer.
        max_header_size: bytes of one PAX or GNU long-name header (they are held in memory).
    """

    max_uncompressed_size: int = 64 << 30
    max_file_size: int = 1 << 40
    max_entries: int = 1_000_000
    max_header_size: int = 1 << 20

    def __repr__(self) -> str:
        return (f"<ApplyLimits uncompressed<={_human(self.max_uncompressed_size)} "
                f"file<={_human(self.max_file_size)} entries<={self.max_entries}>")


@dataclass
class ApplyStats:
    """What applying a layer did so far (kept on an error, so the caller can report it).

    ``diff_id`` is the sha256 of the whole uncompressed tar (the layer's *diff ID*);
    ``digest`` the sha256 of the bytes read before decompression (the layer digest).
    """

    entries: int = 0
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    whiteouts: int = 0
    skipped: int = 0
    skipped_xattrs: int = 0
    size: int = 0
    compressed_size: int = 0
    compression: str = ""
    diff_id: str = ""
    digest: str = ""

    def __repr__(self) -> str:
        return f"<ApplyStats {self.entries} entries {self.files} files {self.size}B>"


class ArchiveError(InvalidArgument):
    """The layer is malformed, hostile or over a limit.

    Attributes:
        stats: what had been applied when the error was found. The target directory is then
            half-written: the caller (the snapshotter's user) must discard it.
    """

    def __init__(self, what: str, stats: ApplyStats | None = None) -> None:
        self.stats = stats or ApplyStats()
        super().__init__(f"{what} (applied {self.stats.entries} entries)")
