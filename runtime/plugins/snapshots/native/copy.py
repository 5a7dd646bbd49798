"""A faithful tree copy: what the native snapshotter does instead of layering.

Everything a layer can contain survives the copy: modes (setuid too), owners, extended
attributes (``security.capability`` …), timestamps, symlinks, hard links (linked again, not
duplicated), device nodes, FIFOs and sockets.

>>> import tempfile, os
>>> from pathlib import Path
>>> tmp = tempfile.TemporaryDirectory(); src, dst = Path(tmp.name, "a"), Path(tmp.name, "b")
>>> (src / "d").mkdir(parents=True); (src / "d" / "f").write_text("hi")
2
>>> os.link(src / "d" / "f", src / "g"); os.symlink("d/f", src / "l"); os.mkfifo(src / "p")
>>> copy_tree(src, dst)
>>> (dst / "g").stat().st_ino == (dst / "d" / "f").stat().st_ino, os.readlink(dst / "l")
(True, 'd/f')
>>> tmp.cleanup()
"""
from __future__ import annotations

import os
import shutil
import stat

__all__ = ["copy_tree"]


def _copy_xattrs(src: str, dst: str) -> None:
    # Like containerd's native snapshotter, a filesystem that refuses an attribute
    # (tmpfs and user.*, for instance) is not a reason to fail the whole copy.
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False),
                        follow_symlinks=False)
        except OSError:
            pass


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    """Owner, then mode (chown clears setuid bits), then xattrs (chown clears capabilities), then times."""
    try:
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    except PermissionError:
        if os.geteuid() == 0:
            raise  # root may set any owner: a refusal here is a real problem
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    _copy_xattrs(src, dst)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_entry(src: str, dst: str, st: os.stat_result, links: dict[tuple[int, int], str]) -> None:
    mode = st.st_mode
    if st.st_nlink > 1:
        first = links.setdefault((st.st_dev, st.st_ino), dst)
        if first != dst:
            os.link(first, dst)
            return
    if stat.S_ISREG(mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        os.mknod(dst, mode, st.st_rdev)
    else:
        raise OSError(f"{src}: cannot copy file of mode {oct(mode)}")
    _copy_meta(src, dst, st)


def copy_tree(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy the contents and metadata of directory ``src`` into ``dst`` (created if missing).

    Works without recursion (any depth) and sets directory times last, after their
    contents were written.

    Raises:
        OSError: a file could not be read or created (xattrs excepted: those are skipped).
    """
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, str, os.stat_result]] = []
    stack = [(os.fspath(src), os.fspath(dst))]
    while stack:
        s_dir, d_dir = stack.pop()
        st = os.lstat(s_dir)
        if not os.path.isdir(d_dir):
            os.mkdir(d_dir, 0o700)
        dirs.append((s_dir, d_dir, st))
        with os.scandir(s_dir) as it:
            for entry in it:
                d = os.path.join(d_dir, entry.name)
                est = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(est.st_mode):
                    stack.append((entry.path, d))
                else:
                    _copy_entry(entry.path, d, est, links)
    for s_dir, d_dir, st in reversed(dirs):  # children before parents: times stay put
        _copy_meta(s_dir, d_dir, st)
