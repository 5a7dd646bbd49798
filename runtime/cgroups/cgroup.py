"""Where a container's cgroup is: hierarchies, paths, and the freezer's state.

A *cgroup* is a directory in a special filesystem; the processes listed in its
``cgroup.procs`` share its limits and counters. There are two versions:

- **v1**: one hierarchy (mount) per controller, ``/sys/fs/cgroup/memory``,
  ``/sys/fs/cgroup/cpu``, ... A container has one directory in each:
  ``/sys/fs/cgroup/memory/default/c1``, ``/sys/fs/cgroup/pids/default/c1``, ...
- **v2** (*unified*): a single hierarchy, one directory per cgroup holding every controller's
  files (``memory.current``, ``cpu.stat``, ``pids.current``).

A *hybrid* machine (like this one) mounts the v1 controllers and also an (often empty) v2
tree at ``/sys/fs/cgroup/unified``; containerd 1.6 then uses v1. The spec's ``cgroupsPath``
names the cgroup: an absolute path such as ``/default/c1`` is relative to every hierarchy's
root; a relative one to the cgroup runc itself is in. ``/proc/<pid>/cgroup`` says where a
process is, one ``id:controllers:path`` line per hierarchy (``0::/path`` for v2).

>>> h = Hierarchies.parse_mountinfo(
...     "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\\n"
...     "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\\n")
>>> h.mode, h.v1, h.unified
('hybrid', {'memory': '/sys/fs/cgroup/memory'}, '/sys/fs/cgroup/unified')
>>> h.mountpoints
['/sys/fs/cgroup/memory', '/sys/fs/cgroup/unified']
>>> Cgroup.from_path("/default/c1", h)
<Cgroup /default/c1 v1=memory v2=yes>
>>> Cgroup.from_path("/default/c1", h).directories
['/sys/fs/cgroup/memory/default/c1', '/sys/fs/cgroup/unified/default/c1']
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from .. import errdefs
from ..errdefs import InvalidArgument, NotFound, map_exceptions

__all__ = ["Cgroup", "Hierarchies", "freezer_state", "parse_proc_cgroup", "remove_namespace_cgroups"]

# v1 mounts also carry mount flags among their options; these are not controllers.
_MOUNT_FLAGS = {"rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "strictatime",
                "nodiratime", "clone_children", "noprefix", "xattr", "cpuset_v2_mode"}


@dataclass(frozen=True)
class Hierarchies:
    """The cgroup filesystems mounted on this machine.

    Attributes:
        v1: controller -> mountpoint (``memory`` -> ``/sys/fs/cgroup/memory``; a co-mounted
            ``cpu,cpuacct`` appears under both names; named hierarchies as ``name=systemd``).
        unified: the cgroup2 mountpoint, or None.
        roots: mountpoint -> the cgroup path mounted there (``/`` unless in a cgroup namespace).
    """

    v1: dict[str, str] = field(default_factory=dict)
    unified: str | None = None
    roots: dict[str, str] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """``legacy`` (v1 only), ``hybrid`` (both) or ``unified`` (v2 only)."""
        if self.v1:
            return "hybrid" if self.unified else "legacy"
        return "unified" if self.unified else "none"

    @classmethod
    def parse_mountinfo(cls, text: str) -> Hierarchies:
        """Read the cgroup mounts out of a ``/proc/<pid>/mountinfo`` text."""
        v1: dict[str, str] = {}
        unified, roots = None, {}
        for line in text.splitlines():
            pre, sep, post = line.partition(" - ")
            fields, after = pre.split(), post.split()
            if not sep or len(fields) < 5 or len(after) < 3:
                continue
            root, mountpoint, fstype = fields[3], fields[4], after[0]
            if fstype == "cgroup2":
                unified = mountpoint
            elif fstype == "cgroup":
                for opt in after[2].split(","):
                    if opt not in _MOUNT_FLAGS:
                        v1.setdefault(opt, mountpoint)
            else:
                continue
            roots[mountpoint] = root
        return cls(v1, unified, roots)

    @classmethod
    def discover(cls, mountinfo: str = "/proc/self/mountinfo") -> Hierarchies:
        """This machine's hierarchies, as this process sees them.

        Raises:
            NotFound: /proc is not mounted.
        """
        with map_exceptions(mountinfo), open(mountinfo) as f:
            return cls.parse_mountinfo(f.read())

    @property
    def mountpoints(self) -> list[str]:
        """Every mounted hierarchy once (co-mounted v1 controllers share one), cgroup2's last."""
        return [*dict.fromkeys(self.v1.values()), *([self.unified] if self.unified else [])]

    def directory(self, mountpoint: str, path: str) -> str:
        """The directory of cgroup ``path`` in the hierarchy mounted at ``mountpoint``."""
        root = self.roots.get(mountpoint, "/")
        if root != "/" and (path == root or path.startswith(root + "/")):
            path = path[len(root):] or "/"
        return os.path.join(mountpoint, path.lstrip("/"))


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as controller -> path (``""`` is the v2 entry).

    >>> parse_proc_cgroup("4:memory:/default/c1\\n2:cpu,cpuacct:/default/c1\\n0::/default/c1")
    {'memory': '/default/c1', 'cpu': '/default/c1', 'cpuacct': '/default/c1', '': '/default/c1'}
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in parts[1].split(",") if parts[1] else [""]:
                out[name] = parts[2]
    return out


@dataclass(frozen=True)
class Cgroup:
    """One cgroup, located in every hierarchy.

    Attributes:
        path: its path, e.g. ``/default/c1`` (the v2 path when it differs per hierarchy).
        v1: controller -> directory, for every mounted v1 controller.
        unified: its v2 directory, or None when cgroup2 is not mounted.
    """

    path: str
    v1: dict[str, str] = field(default_factory=dict)
    unified: str | None = None

    @property
    def directories(self) -> list[str]:
        """Its directory in every hierarchy, once each (co-mounted controllers share one)."""
        return [*dict.fromkeys(self.v1.values()), *([self.unified] if self.unified else [])]

    def __repr__(self) -> str:
        names = ",".join(sorted(k for k in self.v1 if not k.startswith("name="))) or "-"
        return f"<Cgroup {self.path} v1={names} v2={'yes' if self.unified else 'no'}>"

    @property
    def version(self) -> int:
        """1 when the v1 memory or cpu controller is mounted (containerd 1.6 then uses v1), else 2."""
        return 1 if ("memory" in self.v1 or "cpuacct" in self.v1) else 2

    @classmethod
    def from_path(cls, cgroups_path: str, hierarchies: Hierarchies | None = None) -> Cgroup:
        """The cgroup a spec's ``cgroupsPath`` names (relative paths: relative to ours).

        Raises:
            InvalidArgument: an empty path, or ``..`` in it.
            NotImplemented: a systemd ``slice:prefix:name`` path.
        """
        if not cgroups_path:
            raise InvalidArgument("empty cgroups path")
        if ":" in cgroups_path:
            raise errdefs.NotImplemented(f"systemd cgroup path {cgroups_path!r}")
        if ".." in cgroups_path.split("/"):
            raise InvalidArgument(f"cgroups path {cgroups_path!r} must not contain ..")
        h = hierarchies or Hierarchies.discover()
        if cgroups_path.startswith("/"):
            paths = {name: cgroups_path for name in [*h.v1, ""]}
        else:  # relative to the cgroup this process is in, hierarchy by hierarchy
            with map_exceptions("/proc/self/cgroup"), open("/proc/self/cgroup") as f:
                own = parse_proc_cgroup(f.read())
            paths = {name: os.path.join(own.get(name, "/"), cgroups_path) for name in [*h.v1, ""]}
        return cls._located(paths, h)

    @classmethod
    def from_pid(cls, pid: int, hierarchies: Hierarchies | None = None) -> Cgroup:
        """The cgroup process ``pid`` is in (containerd's ``cgroups.PidPath``).

        Raises:
            NotFound: no such process.
        """
        with map_exceptions(f"process {pid}"), open(f"/proc/{pid}/cgroup") as f:
            paths = parse_proc_cgroup(f.read())
        return cls._located(paths, hierarchies or Hierarchies.discover())

    @classmethod
    def from_spec(cls, spec: dict[str, Any], hierarchies: Hierarchies | None = None) -> Cgroup:
        """The cgroup of a runtime spec (its ``linux.cgroupsPath``).

        Raises:
            InvalidArgument: the spec names no cgroup.
        """
        return cls.from_path(spec.get("linux", {}).get("cgroupsPath", ""), hierarchies)

    @classmethod
    def _located(cls, paths: dict[str, str], h: Hierarchies) -> Cgroup:
        v1 = {name: h.directory(mnt, paths[name]) for name, mnt in h.v1.items() if name in paths}
        unified = h.directory(h.unified, paths[""]) if h.unified and "" in paths else None
        main = paths.get("") or paths.get("memory") or next(iter(paths.values()), "/")
        return cls(main, v1, unified)

    def exists(self) -> bool:
        """Does the cgroup exist (in the hierarchy that reports its stats)?"""
        d = self.v1.get("memory") or self.v1.get("pids") or self.unified
        return bool(d) and os.path.isdir(str(d))

    def procs(self) -> list[int]:
        """Pids of the processes in the cgroup.

        Raises:
            NotFound: the cgroup does not exist.
        """
        d = self.v1.get("pids") or self.v1.get("memory") or self.unified
        if d is None:
            raise NotFound(f"cgroup {self.path}: no hierarchy to read")
        with map_exceptions(f"cgroup {self.path}"), open(os.path.join(d, "cgroup.procs")) as f:
            return [int(p) for p in f.read().split()]


def freezer_state(cg: Cgroup) -> str:
    """``thawed``, ``freezing`` or ``frozen``: whether the cgroup is paused (runc pause).

    v1 reads ``freezer.state``; v2 reads ``cgroup.freeze`` (``1`` frozen).

    Raises:
        NotFound: the cgroup (or its freezer) does not exist.
    """
    with map_exceptions(f"cgroup {cg.path} freezer"):
        if "freezer" in cg.v1:
            with open(os.path.join(cg.v1["freezer"], "freezer.state")) as f:
                return f.read().strip().lower()
        if cg.unified:
            with open(os.path.join(cg.unified, "cgroup.freeze")) as f:
                return "frozen" if f.read().strip() == "1" else "thawed"
    raise NotFound(f"cgroup {cg.path}: no freezer")


def remove_namespace_cgroups(namespace: str, hierarchies: Hierarchies | None = None) -> None:
    """Remove the empty cgroup directories of ``namespace`` (``/<namespace>/*`` and the parent
    itself) in every hierarchy: what a test or a benchmark leaves once its tasks are gone. A
    directory still holding processes stays (rmdir refuses)."""
    for mnt in (hierarchies or Hierarchies.discover()).mountpoints:
        parent = os.path.join(mnt, namespace)
        children = [e.path for e in os.scandir(parent) if e.is_dir()] if os.path.isdir(parent) else []
        for d in [*children, parent]:
            with contextlib.suppress(OSError):
                os.rmdir(d)
