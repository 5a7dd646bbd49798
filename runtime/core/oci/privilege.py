"""Devices, capabilities and privilege: what a container may touch, and ``--privileged``.

Three walls keep a container's root from being the host's root:

- the **devices cgroup**: ``linux.resources.devices`` rules say which device numbers may be
  opened or created (``c 1:3`` is /dev/null). containerd denies all, then allows the few
  every process expects (:func:`with_default_unix_devices`);
- **capabilities**: root's powers, split up (:mod:`.caps`); the default keeps 14 of ~41;
- **masked/read-only paths, read-only /sys, seccomp, AppArmor**: kernel interfaces hidden.

:func:`with_privileged` takes all of them down at once, like ``ctr run --privileged``; it
is never part of the default.

>>> from pyctrd.core.oci.spec import default_spec
>>> s = default_spec("d", "c"); with_default_unix_devices(s)
>>> s["linux"]["resources"]["devices"][:2]
[{'allow': False, 'access': 'rwm'}, {'allow': True, 'type': 'c', 'major': 1, 'minor': 3, 'access': 'rwm'}]
"""
from __future__ import annotations

import os
import stat
from typing import Any

from . import caps
from .opts import _linux, _process, _resources, with_masked_paths, with_readonly_paths
from .spec import Spec, SpecOpt, compose

__all__ = [
    "with_added_capabilities", "with_all_devices_allowed", "with_capabilities",
    "with_default_unix_devices", "with_dropped_capabilities", "with_host_devices",
    "with_privileged",
]


def _allow(major: int, minor: int | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": True, "type": "c", "major": major}
    if minor is not None:
        rule["minor"] = minor
    return {**rule, "access": "rwm"}


def with_default_unix_devices(spec: Spec) -> None:
    """Allow the device nodes every process expects (null, random, full, tty, zero, urandom,
    console, the pty slaves and ptmx), after the default deny-all rule."""
    rules = [(1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 1), (136, None), (5, 2)]
    _resources(spec).setdefault("devices", []).extend(_allow(a, b) for a, b in rules)


def with_all_devices_allowed(spec: Spec) -> None:
    """Allow every device (privileged containers)."""
    _resources(spec)["devices"] = [{"allow": True, "access": "rwm"}]


def _host_devices(path: str = "/dev") -> list[dict[str, Any]]:
    out = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if name not in {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}:
                out.extend(_host_devices(full))
        elif name != "console" and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            out.append({"path": full, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                        "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                        "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return out


def with_host_devices(spec: Spec) -> None:
    """Create every host device node (/dev/*) inside the container too (privileged)."""
    _linux(spec)["devices"] = _host_devices()


def with_capabilities(names: list[str]) -> SpecOpt:
    """Set the bounding, effective and permitted capability sets to ``names``."""
    def opt(spec: Spec) -> None:
        _process(spec)["capabilities"] = {k: list(names) for k in ("bounding", "effective", "permitted")}
    return opt


def with_added_capabilities(names: list[str]) -> SpecOpt:
    """Add capabilities to the three sets."""
    def opt(spec: Spec) -> None:
        sets = _process(spec).setdefault("capabilities", {})
        for key in ("bounding", "effective", "permitted"):
            sets[key] = sets.get(key, []) + [n for n in names if n not in sets.get(key, [])]
    return opt


def with_dropped_capabilities(names: list[str]) -> SpecOpt:
    """Remove capabilities from the three sets."""
    def opt(spec: Spec) -> None:
        sets = _process(spec).setdefault("capabilities", {})
        for key in ("bounding", "effective", "permitted"):
            sets[key] = [c for c in sets.get(key, []) if c not in names]
    return opt


def _writable(kind: str) -> SpecOpt:
    def opt(spec: Spec) -> None:
        for m in spec.get("mounts", []):
            if m.get("type") == kind:
                m["options"] = ["rw" if o == "ro" else o for o in m.get("options", [])]
    return opt


def _unconfined(spec: Spec) -> None:
    _process(spec).pop("apparmorProfile", None)
    _process(spec).pop("selinuxLabel", None)
    _linux(spec).pop("seccomp", None)


def with_privileged(spec: Spec) -> None:
    """Everything ``ctr run --privileged`` turns off: all of this process's capabilities, no
    masked or read-only paths, writable /sys and cgroupfs, no seccomp/AppArmor/SELinux, every
    device allowed and created. Never part of the default.

    Raises:
        NotFound: /proc is not mounted (capabilities are read from /proc/self/status).
    """
    compose(with_capabilities(caps.current()), with_masked_paths(None), with_readonly_paths(None),
            _writable("sysfs"), _writable("cgroup"), _unconfined, with_all_devices_allowed,
            with_host_devices)(spec)
