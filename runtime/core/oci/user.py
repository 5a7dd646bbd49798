"""Who the container's process runs as: resolving ``USER`` against the image's own files.

An image says ``"User": "nobody"`` or ``"1000:staff"``; the kernel only knows numbers. The
numbers come from the *container's* ``/etc/passwd`` and ``/etc/group`` (not the host's: uid
1000 is someone else in every image), so resolving needs the rootfs on disk. Paths inside it
are resolved as if the rootfs were ``/`` (:func:`root_path`): a symlink ``/etc/passwd ->
/shared/passwd`` in the image must not read the host's ``/shared/passwd``.

>>> parse_passwd("root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534::/:/bin/false")[1]
User(name='nobody', uid=65534, gid=65534, home='/', shell='/bin/false')
>>> parse_group("wheel:x:10:alice,bob")[0].members
['alice', 'bob']
"""
from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from ...errdefs import InvalidArgument, NotFound, map_exceptions
from .spec import Spec, SpecOpt

__all__ = [
    "Group", "User", "parse_group", "parse_passwd", "root_path", "with_additional_gids",
    "with_uid_gid", "with_user", "with_user_id", "with_username",
]

_MAX_ID = 2**31 - 1  # runc refuses larger ids, and containerd follows it


@dataclass(frozen=True)
class User:
    """One line of ``/etc/passwd``."""

    name: str
    uid: int
    gid: int
    home: str = ""
    shell: str = ""


@dataclass(frozen=True)
class Group:
    """One line of ``/etc/group``."""

    name: str
    gid: int
    members: list[str] = field(default_factory=list)


def parse_passwd(text: str) -> list[User]:
    """Entries of a passwd file; malformed lines are skipped (as libc does)."""
    out = []
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 4 and not line.startswith("#") and f[2].isdigit() and f[3].isdigit():
            out.append(User(f[0], int(f[2]), int(f[3]), *[*f[5:7], "", ""][:2]))
    return out


def parse_group(text: str) -> list[Group]:
    """Entries of a group file; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 3 and not line.startswith("#") and f[2].isdigit():
            members = [m for m in (f[3] if len(f) > 3 else "").split(",") if m]
            out.append(Group(f[0], int(f[2]), members))
    return out


def root_path(root: str, path: str) -> str:
    """``path`` inside ``root``, following symlinks as if ``root`` were ``/``.

    ``..`` and absolute link targets never leave ``root`` (containerd's ``fs.RootPath``).

    >>> root_path("/rootfs", "/etc/../../passwd")
    '/rootfs/passwd'
    """
    parts = [p for p in path.split("/") if p]
    resolved = ""  # path below root, always normalised
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            resolved = posixpath.dirname(resolved)
            continue
        candidate = posixpath.join(resolved, part)
        full = os.path.join(root, candidate)
        if os.path.islink(full):
            hops += 1
            if hops > 255:
                raise InvalidArgument(f"{path}: too many levels of symbolic links")
            target = os.readlink(full)
            resolved = "" if target.startswith("/") else resolved
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved = candidate
    return os.path.join(root, resolved)


def _read(rootfs: str, path: str) -> str | None:
    try:
        with open(root_path(rootfs, path), encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError:
        with map_exceptions(f"{path} in {rootfs}"):
            raise


def _rootfs(spec: Spec, rootfs: str | None) -> str:
    path = rootfs or spec.get("root", {}).get("path", "")
    if not os.path.isabs(path):
        raise InvalidArgument("rootfs absolute path is required to resolve users")
    return str(path)


def _set_ids(spec: Spec, uid: int, gid: int, extra: list[int] | None = None) -> None:
    """Set uid/gid; the primary gid always heads additionalGids (containerd does the same)."""
    user = spec.setdefault("process", {}).setdefault("user", {})
    user["uid"], user["gid"] = uid, gid
    gids = list(extra or [])
    user["additionalGids"] = gids if gid in gids else [gid, *gids]


def _find_user(rootfs: str, match: Callable[[User], bool]) -> User | None:
    text = _read(rootfs, "/etc/passwd")
    return next((u for u in parse_passwd(text or "") if match(u)), None)


def with_uid_gid(uid: int, gid: int) -> SpecOpt:
    """Run as these numeric ids, no lookup (``ctr run --user 1000:1000`` minus the files)."""
    def opt(spec: Spec) -> None:
        _set_ids(spec, uid, gid)
    return opt


def with_user_id(uid: int, rootfs: str | None = None) -> SpecOpt:
    """Run as ``uid`` with its primary group from the rootfs's passwd (gid 0 when not listed).

    Raises (when applied):
        InvalidArgument: no absolute rootfs path to read /etc/passwd from.
    """
    def opt(spec: Spec) -> None:
        user = _find_user(_rootfs(spec, rootfs), lambda u: u.uid == uid)
        _set_ids(spec, uid, user.gid if user else 0)
    return opt


def with_username(name: str, rootfs: str | None = None) -> SpecOpt:
    """Run as the passwd entry called ``name``.

    Raises (when applied):
        NotFound: no such user in the rootfs's /etc/passwd (or no /etc/passwd at all).
        InvalidArgument: no absolute rootfs path.
    """
    def opt(spec: Spec) -> None:
        user = _find_user(_rootfs(spec, rootfs), lambda u: u.name == name)
        if user is None:
            raise NotFound(f'user "{name}" in /etc/passwd of the rootfs')
        _set_ids(spec, user.uid, user.gid)
    return opt


def _as_id(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) <= _MAX_ID else None


def with_user(userstr: str, rootfs: str | None = None) -> SpecOpt:
    """Run as an OCI image ``User``: ``user``, ``uid``, ``user:group``, ``uid:gid``, ``uid:group``.

    Raises (when applied):
        InvalidArgument: more than one ``:``, or names to look up but no absolute rootfs.
        NotFound: a named user or group is missing from the rootfs.

    >>> s = {"process": {}}; with_user("1000:50")(s); s["process"]["user"]
    {'uid': 1000, 'gid': 50, 'additionalGids': [50]}
    """
    def opt(spec: Spec) -> None:
        parts = userstr.split(":")
        if len(parts) == 1:
            uid = _as_id(parts[0])
            (with_user_id(uid, rootfs) if uid is not None else with_username(parts[0], rootfs))(spec)
            return
        if len(parts) != 2:
            raise InvalidArgument(f"invalid USER value {userstr}")
        uid, gid = _as_id(parts[0]), _as_id(parts[1])
        if uid is None:
            user = _find_user(_rootfs(spec, rootfs), lambda u: u.name == parts[0])
            if user is None:
                raise NotFound(f'user "{parts[0]}" in /etc/passwd of the rootfs')
            uid = user.uid
        if gid is None:
            groups = parse_group(_read(_rootfs(spec, rootfs), "/etc/group") or "")
            group = next((g for g in groups if g.name == parts[1]), None)
            if group is None:
                raise NotFound(f'group "{parts[1]}" in /etc/group of the rootfs')
            gid = group.gid
        _set_ids(spec, uid, gid)
    return opt


def with_additional_gids(userstr: str, rootfs: str | None = None) -> SpecOpt:
    """Add the supplementary groups /etc/group lists for a user (name or uid).

    Missing files or a uid with no passwd entry add nothing; the primary gid stays first.

    Raises (when applied):
        InvalidArgument: no absolute rootfs path.
    """
    def opt(spec: Spec) -> None:
        root = _rootfs(spec, rootfs)
        name = userstr
        if userstr.isdigit():
            user = _find_user(root, lambda u: u.uid == int(userstr))
            name = user.name if user else ""
        groups = parse_group(_read(root, "/etc/group") or "") if name else []
        extra = [g.gid for g in groups if g.name != name and name in g.members]
        ids = spec.setdefault("process", {}).setdefault("user", {})
        _set_ids(spec, ids.get("uid", 0), ids.get("gid", 0), extra)
    return opt
