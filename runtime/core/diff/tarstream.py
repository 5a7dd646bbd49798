"""A strict, bounded, streaming tar reader: the headers of an OCI layer, one :class:`TarEntry` at a time.

Why not :mod:`tarfile`? Layers are hostile input. tarfile reads PAX and GNU long-name
headers whole into memory whatever size they claim, and it treats a header cut short in
the middle of an archive as a normal end. This reader bounds every header
(:attr:`ApplyLimits.max_header_size`), verifies checksums, and reports truncation - the
same cases Go's ``archive/tar`` rejects for containerd.

It understands ustar and GNU headers, PAX local records (``path``, ``linkpath``, ``size``,
``uid``, ``gid``, ``mtime``, ``atime``, ``SCHILY.xattr.*``), GNU long names, and sparse
files (GNU ``S`` entries and PAX ``GNU.sparse`` 0.1 / 1.0). PAX global headers are skipped.

>>> import io, tarfile
>>> buf, ti = io.BytesIO(), tarfile.TarInfo("etc")
>>> ti.type = tarfile.DIRTYPE
>>> with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
...     tf.addfile(ti)
>>> from .compression import LayerStream
>>> [e for e in read_entries(LayerStream(io.BytesIO(buf.getvalue())), ApplyLimits())]
[<TarEntry dir etc/>]
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .compression import LayerStream
from .limits import ApplyLimits, ApplyStats, ArchiveError

__all__ = ["BLOCK", "TarEntry", "read_data", "read_entries", "skip_data"]

BLOCK = 512
_ZERO = bytes(BLOCK)
_TYPES = {b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink",
          b"3": "char", b"4": "block", b"5": "dir", b"6": "fifo", b"S": "file"}
_HEADER_ONLY = {"hardlink", "symlink", "char", "block", "dir", "fifo"}
_PAX_INT = {"size", "uid", "gid", "GNU.sparse.size", "GNU.sparse.realsize"}
_NS = Decimal(10**9)


@dataclass(eq=False)
class TarEntry:
    """One tar member: ``kind`` is file, dir, symlink, hardlink, char, block or fifo."""

    name: str
    kind: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime_ns: int = 0
    atime_ns: int | None = None
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    sparse: list[tuple[int, int]] | None = None
    realsize: int = 0
    remaining: int = 0

    def __repr__(self) -> str:
        return f"<TarEntry {self.kind} {self.name}>"


def _num(field_: bytes, what: str, stats: ApplyStats) -> int:
    """An octal (space/NUL padded) or base-256 header number."""
    if field_ and field_[0] & 0x80:  # base-256: two's complement once the marker bit is set aside
        if field_[0] & 0x40:
            return int.from_bytes(field_, "big", signed=True)
        return int.from_bytes(bytes([field_[0] & 0x7F]) + field_[1:], "big")
    text = field_.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ArchiveError(f"invalid tar header: {what} field {field_!r}", stats) from None


def _str(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_ns(value: str, stats: ApplyStats) -> int:
    try:
        return int(Decimal(value) * _NS)
    except (InvalidOperation, ValueError, OverflowError):  # garbage, NaN, Infinity
        raise ArchiveError(f"invalid PAX time {value!r}", stats) from None


def _parse_pax(data: bytes, stats: ApplyStats) -> dict[str, str]:
    """``"%d %s=%s\\n"`` records; values are kept byte-exact through surrogateescape."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # NUL padding after the last record
            break
        sp = data.find(b" ", pos)
        try:
            length = int(data[pos:sp]) if sp > pos else -1
        except ValueError:
            length = -1
        rec = data[pos:pos + length] if length > 0 else b""
        if length <= 0 or len(rec) != length or not rec.endswith(b"\n") or b"=" not in rec[sp - pos:]:
            raise ArchiveError("invalid PAX record", stats)
        key, _, value = rec[sp - pos + 1:-1].partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


class _Reader:
    def __init__(self, stream: LayerStream, limits: ApplyLimits, stats: ApplyStats) -> None:
        self.s, self.limits, self.stats = stream, limits, stats

    def block(self, what: str) -> bytes | None:
        b = self.s.read_exact(BLOCK)
        if not b:
            return None
        if len(b) < BLOCK:
            raise ArchiveError(f"truncated tar: {what} cut short", self.stats)
        return b

    def payload(self, size: int, what: str) -> bytes:
        if size > self.limits.max_header_size:
            raise ArchiveError(f"{what} of {size} bytes exceeds the header limit of "
                               f"{self.limits.max_header_size}", self.stats)
        data = self.s.read_exact(size)
        pad = self.s.read_exact(-size % BLOCK)
        if len(data) < size or len(pad) < -size % BLOCK:
            raise ArchiveError(f"truncated tar: {what} cut short", self.stats)
        return data

    def header(self) -> tuple[bytes, str] | None:
        """The next raw header block and its type flag; None at the end of the archive."""
        b = self.block("header")
        if b is None:
            return None
        if b == _ZERO:
            second = self.block("end-of-archive marker")
            if second is None or second == _ZERO:
                return None
            raise ArchiveError("invalid tar: data after an end-of-archive block", self.stats)
        want = _num(b[148:156], "checksum", self.stats)
        masked = b[:148] + b" " * 8 + b[156:]
        unsigned = sum(masked)
        # some old tars summed signed bytes; only compute that when the usual sum fails
        if want != unsigned and want != unsigned - 256 * sum(1 for x in masked if x > 127):
            raise ArchiveError("invalid tar header: checksum mismatch", self.stats)
        return b, chr(b[156])


def _sparse_old(r: _Reader, b: bytes) -> tuple[list[tuple[int, int]], int]:
    """GNU 'S' entries: four map slots in the header, more in extension blocks."""
    st = r.stats
    slots = [(_num(b[386 + i * 24:398 + i * 24], "sparse", st), _num(b[398 + i * 24:410 + i * 24], "sparse", st))
             for i in range(4)]
    extended, realsize = b[482], _num(b[483:495], "realsize", st)
    while extended:
        ext = r.block("sparse extension")
        if ext is None:
            raise ArchiveError("truncated tar: sparse extension cut short", st)
        slots += [(_num(ext[i * 24:i * 24 + 12], "sparse", st), _num(ext[i * 24 + 12:i * 24 + 24], "sparse", st))
                  for i in range(21)]
        extended = ext[504]
        if len(slots) * 24 > r.limits.max_header_size:
            raise ArchiveError("sparse map exceeds the header limit", st)
    return [(o, n) for o, n in slots if o or n], realsize


def _sparse_v1(r: _Reader, e: TarEntry) -> list[tuple[int, int]]:
    """PAX sparse 1.0: the map is decimal lines at the start of the data, padded to a block."""
    lines: list[int] = []
    buf, used = b"", 0
    while True:
        while b"\n" in buf and (not lines or len(lines) < 1 + 2 * lines[0]):
            line, buf = buf.split(b"\n", 1)
            if not line.isdigit():
                raise ArchiveError(f"{e.name}: invalid sparse map", r.stats)
            lines.append(int(line))
        if lines and len(lines) == 1 + 2 * lines[0]:
            break
        if used + BLOCK > min(e.size, r.limits.max_header_size):
            raise ArchiveError(f"{e.name}: sparse map too long or cut short", r.stats)
        blk = r.block("sparse map")
        if blk is None:
            raise ArchiveError("truncated tar: sparse map cut short", r.stats)
        buf, used = buf + blk, used + BLOCK
    e.size -= used
    return list(zip(lines[1::2], lines[2::2], strict=False))  # an odd tail was refused above


def _check_sparse(e: TarEntry, r: _Reader) -> None:
    assert e.sparse is not None
    end = 0
    for off, n in e.sparse:
        if off < end or n < 0 or off + n > e.realsize:
            raise ArchiveError(f"{e.name}: invalid sparse map", r.stats)
        end = off + n
    if sum(n for _, n in e.sparse) != e.size:
        raise ArchiveError(f"{e.name}: sparse map does not match the data size", r.stats)


def read_entries(stream: LayerStream, limits: ApplyLimits, stats: ApplyStats | None = None
                 ) -> Iterator[TarEntry]:
    """Yield each member; its data must be read through ``stream`` (``entry.remaining`` bytes,
    then padding) before asking for the next - :func:`skip_data` does that.

    Raises:
        ArchiveError: bad checksum, malformed numbers or PAX records, truncation, a header
            over ``max_header_size``, more than ``max_entries`` members, an unknown type.
    """
    st = stats if stats is not None else stream.stats
    r = _Reader(stream, limits, st)
    pax: dict[str, str] = {}
    longname = longlink = None
    while (got := r.header()) is not None:
        b, flag = got
        size = _num(b[124:136], "size", st)
        if size < 0:
            raise ArchiveError("invalid tar header: negative size", st)
        if flag == "x":
            pax.update(_parse_pax(r.payload(size, "PAX header"), st))
            continue
        if flag == "g":
            r.payload(size, "PAX global header")
            continue
        if flag in "LK":
            text = _str(r.payload(size, "GNU long name"))
            longname, longlink = (text, longlink) if flag == "L" else (longname, text)
            continue
        kind = _TYPES.get(flag.encode("latin-1"))
        if kind is None:
            raise ArchiveError(f"unsupported tar entry type {flag!r} for {_str(b[:100])!r}", st)
        st.entries += 1
        if st.entries > limits.max_entries:
            raise ArchiveError(f"layer has more than {limits.max_entries} entries", st)
        name = _str(b[:100])
        if b[257:263] == b"ustar\x00" and b[345]:
            name = _str(b[345:500]) + "/" + name
        e = TarEntry(name=longname or name, kind=kind, mode=_num(b[100:108], "mode", st) & 0o7777,
                     uid=_num(b[108:116], "uid", st), gid=_num(b[116:124], "gid", st), size=size,
                     mtime_ns=_num(b[136:148], "mtime", st) * 10**9, linkname=longlink or _str(b[157:257]),
                     devmajor=_num(b[329:337], "devmajor", st), devminor=_num(b[337:345], "devminor", st))
        if flag == "\0" and e.name.endswith("/"):
            e.kind = "dir"  # old tars mark directories by a trailing slash only, as Go reads them
        for key, value in pax.items():
            if key in _PAX_INT:
                if not value.isdigit():
                    raise ArchiveError(f"invalid PAX {key} {value!r}", st)
                setattr(e, {"GNU.sparse.size": "realsize", "GNU.sparse.realsize": "realsize"}.get(key, key),
                        int(value))
            elif key in ("path", "GNU.sparse.name"):
                e.name = value
            elif key == "linkpath":
                e.linkname = value
            elif key in ("mtime", "atime"):
                setattr(e, key + "_ns", _pax_ns(value, st))
            elif key.startswith("SCHILY.xattr."):
                e.xattrs[key[len("SCHILY.xattr."):]] = value.encode("utf-8", "surrogateescape")
        if flag == "S":
            e.sparse, e.realsize = _sparse_old(r, b)
        elif pax.get("GNU.sparse.major") == "1" and pax.get("GNU.sparse.minor") == "0":
            e.sparse = _sparse_v1(r, e)
        elif "GNU.sparse.map" in pax:
            nums = [int(x) for x in pax["GNU.sparse.map"].split(",") if x.isdigit()]
            e.sparse = list(zip(nums[0::2], nums[1::2], strict=False))  # a dangling offset is dropped
        elif "GNU.sparse.offset" in pax or "GNU.sparse.major" in pax:
            raise ArchiveError(f"{e.name}: unsupported PAX sparse format", st)
        if e.sparse is not None:
            _check_sparse(e, r)
        pax, longname, longlink = {}, None, None
        if e.kind in _HEADER_ONLY:
            e.size = 0  # Go's reader ignores data sizes on header-only types
        e.remaining = e.size
        yield e
        skip_data(stream, e, st)


def read_data(stream: LayerStream, e: TarEntry, n: int, stats: ApplyStats) -> bytes:
    """Up to ``n`` bytes of the current member's data (``b""`` when it is done)."""
    n = min(n, e.remaining)
    if n <= 0:
        return b""
    data = stream.read(n)
    if not data:
        raise ArchiveError(f"truncated tar: data of {e.name!r} cut short", stats)
    e.remaining -= len(data)
    return data


def skip_data(stream: LayerStream, e: TarEntry, stats: ApplyStats) -> None:
    """Discard what is left of the member's data and its padding."""
    while read_data(stream, e, 1 << 20, stats):
        pass
    pad = -e.size % BLOCK
    if len(stream.read_exact(pad)) != pad:
        raise ArchiveError(f"truncated tar: padding of {e.name!r} cut short", stats)
    e.size = 0  # padding is consumed once

