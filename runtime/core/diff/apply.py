"""Apply an OCI layer tar onto a directory: containerd's ``archive.Apply``, confined to the root.

Each entry replaces whatever is at its path (a directory over a directory merges), and
``.wh.`` entries delete: ``.wh.name`` removes ``name``; ``.wh..wh..opq`` empties its directory
of everything this layer did not itself add. With ``whiteouts="overlay"`` the root is an
overlayfs *upperdir* and deletions are recorded the way the kernel reads them instead: a
0/0 character device for a deleted name, ``trusted.overlay.opaque=y`` on an opaque directory.

Safety (see :mod:`.rootfs`): names are cleaned (``..`` cannot climb, absolute names are
relative to the root), parents are resolved with symlinks evaluated inside the root, and
every operation works on ``(parent fd, base name)`` without following the final name.
Hardlink targets are resolved the same way; a link to a symlink links the symlink itself.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from ...errdefs import PyctrdError, map_exceptions
from .compression import LayerStream, Readable
from .limits import PATH_MAX, ApplyLimits, ApplyStats, ArchiveError
from .metadata import copy_lower_dir_metadata, entry_times, in_user_namespace, set_metadata, set_xattrs
from .rootfs import Root, climb, identity, open_dirs, proc_path, remove_tree, split_name
from .tarstream import TarEntry, read_data, read_entries

__all__ = ["OPAQUE", "WHITEOUT_PREFIX", "apply_tar"]

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_MAX_ID = (1 << 32) - 1  # uid_t/gid_t; (uid_t)-1 means "unchanged" to chown, so it is excluded too
_DEVICE = {"char": stat.S_IFCHR, "block": stat.S_IFBLK, "fifo": stat.S_IFIFO}


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


class _Applier:
    def __init__(self, root: Root, stream: LayerStream, limits: ApplyLimits, stats: ApplyStats,
                 whiteouts: str, parents: Sequence[str]) -> None:
        self.root, self.s, self.limits, self.stats = root, stream, limits, stats
        self.overlay = whiteouts == "overlay"
        self.parents = list(parents)
        self.unpacked: set[str] = set()
        self.dirs: list[tuple[list[str], str, TarEntry]] = []
        self.userns = in_user_namespace()
        self.cached: tuple[tuple[str, ...], int, tuple[str, ...]] | None = None

    def fail(self, what: str) -> ArchiveError:
        return ArchiveError(what, self.stats)

    def check(self, e: TarEntry) -> None:
        """Header values the system calls would choke on become clear archive errors."""
        for what, text in (("name", e.name), ("link target", e.linkname)):
            if len(os.fsencode(text)) >= PATH_MAX:
                raise self.fail(f"{what} of {len(os.fsencode(text))} bytes ({text[:40]!r}…) "
                                f"exceeds PATH_MAX ({PATH_MAX})")
            if "\0" in text:
                raise self.fail(f"{what} {text[:80]!r} contains a NUL byte")
        for what, n in (("uid", e.uid), ("gid", e.gid), ("device major", e.devmajor), ("device minor", e.devminor)):
            if not 0 <= n < _MAX_ID:
                raise self.fail(f"{e.name[:80]!r}: {what} {n} out of range")
        if e.kind == "symlink" and not e.linkname:
            raise self.fail(f"symlink {e.name[:80]!r} has an empty target")
        for key in e.xattrs:
            if not key or "\0" in key:
                raise self.fail(f"{e.name[:80]!r}: invalid xattr name {key[:80]!r}")

    def entry(self, e: TarEntry) -> None:
        self.check(e)
        sp = split_name(e.name)
        if sp is None or (e.kind in ("char", "block") and self.userns):
            self.stats.skipped += 1  # the root itself, or a device we may not make
            return
        parts, base = sp
        try:
            pfd, pnames = self._parent(parts)
            try:
                self._entry(e, pfd, list(pnames), base)
            finally:
                os.close(pfd)
        except OSError as exc:
            with map_exceptions(f"apply {e.name[:200]!r}: {exc.strerror or exc}"):
                raise

    def _parent(self, parts: list[str]) -> tuple[int, tuple[str, ...]]:
        """Resolve (creating) an entry's parent, continuing from the last one when it is a prefix.

        Layers list a directory's entries together, so this turns a walk from the root per
        entry into a step or two. The cache is dropped whenever anything is removed - the
        only way an already resolved directory path can change meaning here.
        """
        want, rest, start = tuple(parts), parts, None
        if self.cached is not None and want[:len(self.cached[0])] == self.cached[0]:
            start, rest = (self.cached[1], self.cached[2]), parts[len(self.cached[0]):]
        fd, names = self.root.resolve(rest, self._copy_parent_info, create=True, start=start)
        assert fd is not None
        self.forget()
        self.cached = (want, os.dup(fd), names)
        return fd, names

    def _copy_parent_info(self, fd: int, parts: tuple[str, ...]) -> None:
        copy_lower_dir_metadata(fd, parts, self.parents)

    def forget(self) -> None:
        if self.cached is not None:
            os.close(self.cached[1])
            self.cached = None

    def remove(self, dir_fd: int, name: str) -> None:
        self.forget()
        remove_tree(dir_fd, name)

    def _entry(self, e: TarEntry, pfd: int, pnames: list[str], base: str) -> None:
        if base == OPAQUE:
            self.stats.whiteouts += 1
            if self.overlay:
                os.setxattr(proc_path(pfd), "trusted.overlay.opaque", b"y")
            else:
                self._empty_opaque(pfd, pnames)
            return
        if base.startswith(WHITEOUT_PREFIX):
            orig = base[len(WHITEOUT_PREFIX):]
            if orig in ("", ".", ".."):
                raise self.fail(f"invalid whiteout name {e.name!r}")
            self.stats.whiteouts += 1
            self.remove(pfd, orig)
            if self.overlay:
                os.mknod(orig, stat.S_IFCHR, 0, dir_fd=pfd)
                os.chown(orig, e.uid, e.gid, dir_fd=pfd, follow_symlinks=False)
            return
        old = _lstat(base, pfd)
        if old is not None and not (stat.S_ISDIR(old.st_mode) and e.kind == "dir"):
            self.remove(pfd, base)
        self.unpacked.add("/".join([*pnames, base]))
        if e.kind == "file":
            self._file(e, pfd, base)
            return
        if e.kind == "dir":
            if old is None or not stat.S_ISDIR(old.st_mode):
                os.mkdir(base, 0o700, dir_fd=pfd)
            self.dirs.append((pnames, base, e))
            self.stats.dirs += 1
        elif e.kind == "symlink":
            os.symlink(e.linkname, base, dir_fd=pfd)
            self.stats.symlinks += 1
        elif e.kind == "hardlink":
            self._hardlink(e, pfd, base)
        else:
            os.mknod(base, 0o600 | _DEVICE[e.kind], os.makedev(e.devmajor, e.devminor), dir_fd=pfd)
            self.stats.devices += 1
        set_metadata(e, pfd, base, self.stats, times=e.kind != "dir")

    def _hardlink(self, e: TarEntry, pfd: int, base: str) -> None:
        sp = split_name(e.linkname)
        if sp is None:
            raise self.fail(f"hardlink {e.name!r} points at the root")
        tfd, _ = self.root.resolve(sp[0])
        try:
            target = _lstat(sp[1], tfd) if tfd is not None else None
            if target is None:
                raise self.fail(f"hardlink {e.name!r}: target {e.linkname!r} not found in the layer")
            if stat.S_ISDIR(target.st_mode):
                raise self.fail(f"hardlink {e.name!r}: target {e.linkname!r} is a directory")
            assert tfd is not None
            # follow_symlinks=False: a link to a symlink is a second name for the symlink.
            os.link(sp[1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            if tfd is not None:
                os.close(tfd)
        self.stats.hardlinks += 1

    def _file(self, e: TarEntry, pfd: int, base: str) -> None:
        apparent = e.realsize if e.sparse is not None else e.size
        if apparent > self.limits.max_file_size:
            raise self.fail(f"{e.name!r}: file of {apparent} bytes exceeds the limit of "
                            f"{self.limits.max_file_size}")
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=pfd)
        try:
            for off, n in e.sparse if e.sparse is not None else [(0, e.size)]:
                while n:
                    data = read_data(self.s, e, min(n, 1 << 20), self.stats)
                    os.pwrite(fd, data, off)  # short writes on regular files only on error
                    off, n = off + len(data), n - len(data)
            if e.sparse is not None:
                os.ftruncate(fd, e.realsize)  # holes stay holes
            os.chown(fd, e.uid, e.gid)
            set_xattrs(e, fd, self.stats)
            os.chmod(fd, e.mode)  # after chown, which clears setuid/setgid
            os.utime(fd, ns=entry_times(e))
        finally:
            os.close(fd)
        self.stats.files += 1

    def _empty_opaque(self, pfd: int, pnames: list[str]) -> None:
        """Remove what lower layers put under this directory, keeping what this layer added.

        A depth-first walk without recursion (trees may be deeper than Python's recursion
        limit): down with ``O_NOFOLLOW``, back up through a checked ``..``.
        """
        fd = open_dirs(pfd, [], readable=True)
        rel, parents = list(pnames), []
        levels = [self._prune(fd, rel)]
        try:
            while levels:
                if levels[-1]:
                    name = levels[-1].pop()
                    child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                    parents.append(identity(fd))
                    os.close(fd)
                    fd = child
                    rel.append(name)
                    levels.append(self._prune(fd, rel))
                    continue
                levels.pop()
                if levels:
                    fd = -1 if fd < 0 else climb(fd, parents.pop())
                    rel.pop()
        finally:
            if fd >= 0:
                os.close(fd)

    def _prune(self, dfd: int, rel: list[str]) -> list[str]:
        """Remove the children of ``dfd`` this layer did not unpack; return the kept directories."""
        keep = []
        for name in os.listdir(dfd):
            if "/".join([*rel, name]) not in self.unpacked:
                self.remove(dfd, name)
                continue
            st = _lstat(name, dfd)
            if st is not None and stat.S_ISDIR(st.st_mode):
                keep.append(name)
        return keep

    def fix_dir_times(self) -> None:
        """Directory times last: creating their contents changed them."""
        prev: tuple[tuple[str, ...], int, tuple[str, ...]] | None = None  # as in _parent
        try:
            for pnames, base, e in self.dirs:
                want, rest, start = tuple(pnames), pnames, None
                if prev is not None and want[:len(prev[0])] == prev[0]:
                    start, rest = (prev[1], prev[2]), pnames[len(prev[0]):]
                pfd, names = self.root.resolve(rest, start=start)
                if prev is not None:
                    os.close(prev[1])
                    prev = None
                if pfd is None:
                    continue
                prev = (want, pfd, names)
                st = _lstat(base, pfd)
                if st is not None and stat.S_ISDIR(st.st_mode):
                    os.utime(base, ns=entry_times(e), dir_fd=pfd, follow_symlinks=False)
        finally:
            if prev is not None:
                os.close(prev[1])


def apply_tar(stream: Readable, root: str | os.PathLike[str], *, limits: ApplyLimits | None = None,
              whiteouts: str = "oci", parents: Sequence[str] = (), expected_digest: str = "",
              expected_size: int = -1) -> ApplyStats:
    """Apply the layer read from ``stream`` (gzip, zstd or plain tar, by magic) onto ``root``.

    Args:
        stream: the layer blob (``read(n)``).
        root: the directory to change; nothing outside it is touched.
        limits: bounds on sizes and counts (:class:`ApplyLimits` defaults otherwise).
        whiteouts: ``"oci"`` deletes; ``"overlay"`` writes overlayfs whiteouts (root is an upperdir).
        parents: lower directories (top first) whose metadata a created parent directory copies.
        expected_digest / expected_size: the descriptor of the blob; checked after reading it all.

    Returns:
        What was applied, with ``diff_id`` (sha256 of the uncompressed tar) and ``digest``.

    Raises:
        ArchiveError: (an InvalidArgument) malformed, truncated or hostile archive, a limit
            exceeded, or a digest or size that does not match. ``exc.stats`` says what was applied.
        NotImplemented: xz/bzip2 compression, or zstd without its package.
        InvalidArgument, NotFound, Unknown, ...: the filesystem refused an operation; the error
            carries ``stats`` too. In every case the caller discards the half-applied root.
    """
    if whiteouts not in ("oci", "overlay"):
        raise ArchiveError(f"unknown whiteout style {whiteouts!r}")
    limits = limits or ApplyLimits()
    stats = ApplyStats()
    try:
        ls = LayerStream(stream, limits, stats)
        with map_exceptions(f"apply onto {os.fspath(root)}"):
            r = Root(root)
        with r:
            a = _Applier(r, ls, limits, stats, whiteouts, parents)
            try:
                for e in read_entries(ls, limits, stats):
                    a.entry(e)
            finally:
                a.forget()
            with map_exceptions(f"apply {os.fspath(root)}: directory times"):
                a.fix_dir_times()
        ls.finish()
        if expected_digest and stats.digest != expected_digest:
            raise ArchiveError(f"layer digest mismatch: expected {expected_digest}, read {stats.digest}", stats)
        if expected_size >= 0 and stats.compressed_size != expected_size:
            raise ArchiveError(f"layer size mismatch: expected {expected_size} bytes, read "
                               f"{stats.compressed_size}", stats)
    except PyctrdError as exc:
        exc.stats = stats  # type: ignore[attr-defined]
        raise
    return stats
