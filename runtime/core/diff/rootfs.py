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

__all__ = ["MAX_LINKS", "OnCreate", "Root", "proc_path", "root_path", "split_name"]

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
                leaf: bool = False) -> tuple[int | None, tuple[str, ...]]:
        """Walk ``parts`` as directories, evaluating symlinks relative to the root.

        Returns an ``O_PATH`` fd of the directory reached (the caller closes it) and its real
        path inside the root as parts. A missing directory is created (mode 0755, then
        ``on_create``) when ``create`` is set; otherwise the walk goes on "virtually" and
        the fd is None - continuity treats missing components as plain directories. With
        ``leaf``, the last component may be a non-directory (the fd is then None).

        Raises:
            InvalidArgument: a component is not a directory, or more than 255 symlinks.
        """
        stack: list[tuple[str, int | None]] = []
        todo = deque(parts)
        links = 0
        try:
            while todo:
                c = todo.popleft()
                if c in ("", "."):
                    continue
                if c == "..":
                    if stack:
                        _close(stack.pop()[1])
                    continue
                cur = stack[-1][1] if stack else self.fd
                st = _lstat(c, cur)
                if st is None and create and cur is not None:
                    os.mkdir(c, 0o755, dir_fd=cur)
                    fd = os.open(c, _DIR_FLAGS, dir_fd=cur)
                    os.chmod(proc_path(fd), 0o755)  # the umask must not decide
                    stack.append((c, fd))
                    if on_create:
                        on_create(fd, tuple(n for n, _ in stack))
                    continue
                if st is None:
                    stack.append((c, None))
                    continue
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > MAX_LINKS:
                        raise InvalidArgument(f"{'/'.join(parts)}: too many levels of symbolic links")
                    target = os.readlink(c, dir_fd=cur)
                    if target.startswith("/"):
                        while stack:
                            _close(stack.pop()[1])
                    todo.extendleft(reversed(posixpath.normpath(target).split("/")))
                    continue
                if not stat.S_ISDIR(st.st_mode) and leaf and not todo:
                    stack.append((c, None))
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    where = "/".join([*(n for n, _ in stack), c])
                    raise InvalidArgument(f"{where}: not a directory")
                stack.append((c, os.open(c, _DIR_FLAGS, dir_fd=cur)))
            top: int | None = stack[-1][1] if stack else os.dup(self.fd)
            if stack:
                stack[-1] = (stack[-1][0], None)  # ownership passes to the caller
            return top, tuple(n for n, _ in stack)
        finally:
            for _, held in stack:
                _close(held)


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
