"""Paths that cannot leave their root: continuity's ``fs.RootPath``, on file descriptors.

A layer names files *inside the image*: ``/etc/passwd`` means ``<root>/etc/passwd``, a
symlink ``lib -> /usr/lib`` points at ``<root>/usr/lib``, and ``..`` at the top stays at the
top - the root acts like ``/`` for a process in a chroot. :func:`root_path` computes that
answer as a string, exactly as containerd's continuity package does:

>>> import os, tempfile
>>> r = tempfile.mkdtemp()
>>> os.symlink("/etc", f"{r}/etc-link"); os.symlink("../../..", f"{r}/up")
>>> root_path(r, "etc-link/passwd") == f"{r}/etc/passwd"
True
>>> root_path(r, "up/up/x") == root_path(r, "/../x") == f"{r}/x"
True

Strings are not enough to write safely (a path can change between the check and the use),
so the applier uses :class:`Root` instead: it walks the same way but holds an ``O_PATH``
descriptor for each directory, opened with ``O_NOFOLLOW``. Every later operation is
``*at(parent_fd, base_name)`` and never follows the final name, so no symlink - planted by
an earlier entry or by anyone else - can redirect a write outside the root.
"""
from __future__ import annotations

import os
import posixpath
import stat
from collections import deque
from collections.abc import Callable
from typing import Self

from ...errdefs import InvalidArgument

__all__ = [
    "MAX_LINKS", "OnCreate", "Root", "climb", "identity", "open_dirs", "proc_path", "remove_tree", "root_path", "split_name",
]

MAX_LINKS = 255
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

#: called after a missing directory was created: (its fd, its path inside root as parts)
OnCreate = Callable[[int, tuple[str, ...]], None]


def proc_path(fd: int, name: str = "") -> str:
    """A path for syscalls that take no dir_fd: ``/proc/self/fd/<fd>[/name]`` pins the directory."""
    return f"/proc/self/fd/{fd}" + (f"/{name}" if name else "")


def split_name(name: str) -> tuple[list[str], str] | None:
    """A tar name made relative and clean: (parent parts, base), or None for the root itself.

    >>> split_name("../../etc/passwd"), split_name("/a//b/"), split_name("./.."), split_name("//")
    ((['etc'], 'passwd'), (['a'], 'b'), None, None)
    """
    clean = posixpath.normpath("/" + name.lstrip("/"))  # normpath keeps a leading "//"
    if clean == "/":
        return None
    parts = clean.lstrip("/").split("/")
    return parts[:-1], parts[-1]


class Root:
    """An open root directory; :meth:`resolve` finds directories inside it, never outside.

    Use as a context manager (it owns a file descriptor).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = os.open(self.path, _DIR_FLAGS)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Root {self.path}>"

    def resolve(self, parts: list[str], on_create: OnCreate | None = None, *, create: bool = False,
                leaf: bool = False, start: tuple[int, tuple[str, ...]] | None = None
                ) -> tuple[int | None, tuple[str, ...]]:
        """Walk ``parts`` as directories, evaluating symlinks relative to the root.

        Returns an ``O_PATH`` fd of the directory reached (the caller closes it) and its real
        path inside the root as parts. A missing directory is created (mode 0755, then
        ``on_create``) when ``create`` is set; otherwise the walk goes on "virtually" and
        the fd is None - continuity treats missing components as plain directories. With
        ``leaf``, the last component may be a non-directory (the fd is then None). ``start``
        (a directory fd and its real path, as returned before) continues an earlier walk.

        Raises:
            InvalidArgument: a component is not a directory, or more than 255 symlinks.
        """
        names: list[str] = list(start[1]) if start else []  # the real path so far (no symlinks)
        virtual = 0  # how many trailing names do not exist (not created)
        cur: int | None = os.dup(start[0] if start else self.fd)  # only the current dir is held open
        todo = deque(parts)
        links = 0
        try:
            while todo:
                c = todo.popleft()
                if c in ("", "."):
                    continue
                if c == "..":  # rare (symlink targets): walk down again from the root
                    if names:
                        names.pop()
                        if virtual:
                            virtual -= 1
                        else:
                            _close(cur)
                            cur = None
                            cur = open_dirs(self.fd, names)
                    continue
                st = None if virtual else _lstat(c, cur)
                if st is None and create:
                    assert cur is not None
                    os.mkdir(c, 0o755, dir_fd=cur)
                    fd = os.open(c, _DIR_FLAGS, dir_fd=cur)
                    os.chmod(proc_path(fd), 0o755)  # the umask must not decide
                    os.close(cur)
                    cur = fd
                    names.append(c)
                    if on_create:
                        on_create(fd, tuple(names))
                    continue
                if st is None:
                    names.append(c)
                    virtual += 1
                    continue
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > MAX_LINKS:
                        raise InvalidArgument(f"{'/'.join(parts)[:200]}: too many levels of symbolic links")
                    target = os.readlink(c, dir_fd=cur)
                    if target.startswith("/"):
                        names = []
                        _close(cur)
                        cur = None
                        cur = os.dup(self.fd)
                    todo.extendleft(reversed(posixpath.normpath(target).split("/")))
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    if leaf and not todo:
                        names.append(c)
                        virtual += 1
                        continue
                    raise InvalidArgument(f"{'/'.join([*names, c])[:200]}: not a directory")
                assert cur is not None
                fd = os.open(c, _DIR_FLAGS, dir_fd=cur)
                os.close(cur)
                cur = fd
                names.append(c)
            top, cur = (None if virtual else cur), (cur if virtual else None)  # the caller owns top
            return top, tuple(names)
        finally:
            _close(cur)


def open_dirs(base_fd: int, names: list[str] | tuple[str, ...], *, readable: bool = False) -> int:
    """Open ``base/names...`` one component at a time, never following a symlink.

    For paths already resolved (no symlinks in them); a component that changed meanwhile
    fails with ELOOP or ENOTDIR instead of being followed. ``readable`` opens the last one
    for listing (``O_RDONLY``) rather than ``O_PATH``.
    """
    fd = os.dup(base_fd)
    try:
        for i, n in enumerate(names):
            last = i == len(names) - 1
            flags = (os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC) if last and readable \
                else _DIR_FLAGS
            nfd = os.open(n, flags, dir_fd=fd)
            os.close(fd)
            fd = nfd
        if readable and not names:
            nfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


_LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def identity(fd: int) -> tuple[int, int]:
    """(device, inode) of an open file: what a directory *is*, whatever its path."""
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def climb(fd: int, expected: tuple[int, int]) -> int:
    """Open ``fd``'s parent through ``..`` and check it is the directory we came down from.

    Walking back up this way keeps deep trees linear in time and needs two descriptors,
    where re-walking from the top would be quadratic and holding every level would run out
    of descriptors. Closes ``fd``.

    Raises:
        InvalidArgument: the tree was moved while being walked.
    """
    try:
        parent = os.open("..", _LIST_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)
    if identity(parent) != expected:
        os.close(parent)
        raise InvalidArgument("directory tree changed while it was being walked")
    return parent


def remove_tree(dir_fd: int, name: str) -> None:
    """``rm -rf dir_fd/name``: no recursion (any depth), two descriptors, no symlink followed."""
    st = _lstat(name, dir_fd)
    if st is None:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    names, parents = [name], [identity(dir_fd)]
    fd = os.open(name, _LIST_FLAGS, dir_fd=dir_fd)
    try:
        while True:
            descend = None
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        descend = entry.name
                        break
                    os.unlink(entry.name, dir_fd=fd)
            if descend is not None:
                child = os.open(descend, _LIST_FLAGS, dir_fd=fd)
                parents.append(identity(fd))
                os.close(fd)
                fd = child
                names.append(descend)
                continue
            if len(names) == 1:  # back at the top: its parent is the caller's dir_fd
                os.close(fd)
                fd = -1
                os.rmdir(name, dir_fd=dir_fd)
                return
            fd = climb(fd, parents.pop())
            os.rmdir(names.pop(), dir_fd=fd)
    finally:
        if fd >= 0:
            os.close(fd)


def _lstat(name: str, dir_fd: int | None) -> os.stat_result | None:
    if dir_fd is None:
        return None
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def root_path(root: str | os.PathLike[str], path: str) -> str:
    """``path`` joined to ``root`` with every symlink evaluated inside ``root`` (continuity's RootPath).

    Raises:
        InvalidArgument: a component is not a directory, or more than 255 symlinks.
    """
    with Root(root) as r:
        fd, parts = r.resolve(path.split("/"), leaf=True)
        _close(fd)
        return os.path.join(r.path, *parts)
