"""Spec options: one small function per change, applied in order (containerd's ``SpecOpts``).

Each ``with_*`` returns an option, a function that changes a spec in place; options compose
(:func:`~pyctrd.core.oci.spec.compose`) and are applied by
:func:`~pyctrd.core.oci.spec.generate_spec`. ``ctr run`` is, in effect::

    generate_spec(ns, id,
        with_default_unix_devices,             # /dev/null, /dev/zero, ttys ... (privilege.py)
        with_image_config(config, rootfs),     # Entrypoint+Cmd, Env, WorkingDir, User
        with_cpu_shares(1024),                 # ctr's --cpu-shares default
        with_tty,                              # -t
        with_host_namespace("network"), with_host_hosts_file, with_host_resolvconf,  # --net-host
    )

>>> from pyctrd.core.oci.spec import default_spec, apply_opts
>>> s = apply_opts(default_spec("ns", "c"), with_process_args("sh"), with_env(["A=1"]),
...                with_memory_limit(64 << 20), with_host_namespace("network"))
>>> s["process"]["args"], s["process"]["env"], s["linux"]["resources"]["memory"]
(['sh'], ['A=1'], {'limit': 67108864})
>>> [n["type"] for n in s["linux"]["namespaces"]]
['pid', 'ipc', 'uts', 'mount']
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ...errdefs import InvalidArgument
from .spec import DEFAULT_UNIX_ENV, Spec, SpecOpt

__all__ = [
    "replace_or_append_env", "with_annotations", "with_cgroup", "with_cgroup_mount", "with_cpu_cfs",
    "with_cpu_shares", "with_cpus", "with_default_path_env", "with_env",
    "with_host_hosts_file", "with_host_namespace", "with_host_resolvconf", "with_hostname",
    "with_linux_namespace", "with_masked_paths", "with_memory_limit", "with_mounts",
    "with_pids_limit", "with_process_args", "with_process_cwd", "with_readonly_paths",
    "with_readonly_rootfs", "with_rootfs_path", "with_tty", "with_tty_size", "without_mounts",
]


def _section(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]``, created empty if missing (containerd's setProcess/setLinux/...)."""
    section: dict[str, Any] = parent.setdefault(key, {})
    return section


def _process(spec: Spec) -> dict[str, Any]:
    return _section(spec, "process")


def _linux(spec: Spec) -> dict[str, Any]:
    return _section(spec, "linux")


def _resources(spec: Spec) -> dict[str, Any]:
    return _section(_linux(spec), "resources")


def replace_or_append_env(defaults: list[str], overrides: Iterable[str]) -> list[str]:
    """Merge ``KEY=value`` lists: overrides replace same keys, a bare ``KEY`` removes it.

    >>> replace_or_append_env(["PATH=/bin", "A=1", "B=2"], ["A=9", "C=3", "B"])
    ['PATH=/bin', 'A=9', 'C=3']
    """
    out: dict[str, str | None] = {e.partition("=")[0]: e for e in defaults}
    for value in overrides:
        key, eq, _ = value.partition("=")
        out[key] = value if eq else None
    return [v for v in out.values() if v is not None]


# --- process -------------------------------------------------------------------------------

def with_process_args(*args: str) -> SpecOpt:
    """Replace the command line (``ctr run IMAGE ID sh -c …``)."""
    def opt(spec: Spec) -> None:
        _process(spec)["args"] = list(args)
    return opt


def with_process_cwd(cwd: str) -> SpecOpt:
    """Set the working directory inside the container."""
    def opt(spec: Spec) -> None:
        _process(spec)["cwd"] = cwd
    return opt


def with_env(env: Iterable[str]) -> SpecOpt:
    """Merge ``KEY=value`` strings into the environment (a bare ``KEY`` unsets it)."""
    env = list(env)

    def opt(spec: Spec) -> None:
        if env:
            proc = _process(spec)
            proc["env"] = replace_or_append_env(proc.get("env", []), env)
    return opt


def with_default_path_env(spec: Spec) -> None:
    """Set PATH to the usual Unix default."""
    proc = _process(spec)
    proc["env"] = replace_or_append_env(proc.get("env", []), DEFAULT_UNIX_ENV)


def with_tty(spec: Spec) -> None:
    """Give the process a terminal: runc makes a pty and hands its master over a console socket."""
    proc = _process(spec)
    proc["terminal"] = True
    proc["env"] = [*proc.get("env", []), "TERM=xterm"]


def with_tty_size(width: int, height: int) -> SpecOpt:
    """The terminal's initial size (columns x rows)."""
    def opt(spec: Spec) -> None:
        _process(spec)["consoleSize"] = {"height": height, "width": width}
    return opt


def with_hostname(name: str) -> SpecOpt:
    """The hostname seen inside the container (it has its own UTS namespace)."""
    def opt(spec: Spec) -> None:
        spec["hostname"] = name
    return opt


def with_annotations(annotations: dict[str, str]) -> SpecOpt:
    """Add or replace annotations (free-form notes runc passes to hooks)."""
    def opt(spec: Spec) -> None:
        spec.setdefault("annotations", {}).update(annotations)
    return opt


# --- filesystem ----------------------------------------------------------------------------

def with_rootfs_path(path: str) -> SpecOpt:
    """Use ``path`` as the root filesystem (relative paths are relative to the bundle)."""
    def opt(spec: Spec) -> None:
        spec.setdefault("root", {})["path"] = path
    return opt


def with_readonly_rootfs(spec: Spec) -> None:
    """Mount the root filesystem read-only (writes fail with EROFS)."""
    spec.setdefault("root", {})["readonly"] = True


def with_mounts(mounts: Iterable[dict[str, Any]]) -> SpecOpt:
    """Append mounts: dicts with ``destination``, ``type``, ``source``, ``options``."""
    mounts = [dict(m) for m in mounts]
    for m in mounts:
        if not str(m.get("destination", "")).startswith("/"):
            raise InvalidArgument(f"mount destination {m.get('destination')!r} must be absolute")

    def opt(spec: Spec) -> None:
        spec.setdefault("mounts", []).extend(dict(m) for m in mounts)
    return opt


def without_mounts(*destinations: str) -> SpecOpt:
    """Remove the mounts at these destinations."""
    def opt(spec: Spec) -> None:
        spec["mounts"] = [m for m in spec.get("mounts", [])
                          if os.path.normpath(m["destination"]) not in destinations]
    return opt


def _host_file(path: str) -> SpecOpt:
    return with_mounts([{"destination": path, "type": "bind", "source": path,
                         "options": ["rbind", "ro"]}])


def with_cgroup_mount(readonly: bool = True) -> SpecOpt:
    """Show the container its own cgroups at /sys/fs/cgroup (what Kubernetes' CRI adds;
    ``ctr`` does not). runc mounts each hierarchy with only the container's cgroup in it."""
    options = ["nosuid", "noexec", "nodev", "relatime", "ro" if readonly else "rw"]
    return with_mounts([{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                         "options": options}])


#: Bind the host's /etc/hosts read-only (``ctr run --net-host`` does).
with_host_hosts_file = _host_file("/etc/hosts")
#: Bind the host's /etc/resolv.conf read-only (``ctr run --net-host`` does).
with_host_resolvconf = _host_file("/etc/resolv.conf")


def with_masked_paths(paths: list[str] | None) -> SpecOpt:
    """Replace the masked paths (None or [] hides nothing)."""
    def opt(spec: Spec) -> None:
        _linux(spec).pop("maskedPaths", None)
        if paths:
            _linux(spec)["maskedPaths"] = list(paths)
    return opt


def with_readonly_paths(paths: list[str] | None) -> SpecOpt:
    """Replace the read-only paths (None or [] freezes nothing)."""
    def opt(spec: Spec) -> None:
        _linux(spec).pop("readonlyPaths", None)
        if paths:
            _linux(spec)["readonlyPaths"] = list(paths)
    return opt


# --- namespaces and cgroups ----------------------------------------------------------------

_NAMESPACE_TYPES = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup"}


def with_host_namespace(ns: str) -> SpecOpt:
    """Share the host's namespace of this type (no new one is made): ``"network"`` for --net-host."""
    if ns not in _NAMESPACE_TYPES:
        raise InvalidArgument(f"unknown namespace type {ns!r}")

    def opt(spec: Spec) -> None:
        linux = _linux(spec)
        linux["namespaces"] = [n for n in linux.get("namespaces", []) if n["type"] != ns]
    return opt


def with_linux_namespace(ns: str, path: str = "") -> SpecOpt:
    """Use a new namespace of type ``ns``, or join the one at ``path`` (``/proc/<pid>/ns/net``)."""
    if ns not in _NAMESPACE_TYPES:
        raise InvalidArgument(f"unknown namespace type {ns!r}")
    entry = {"type": ns, **({"path": path} if path else {})}

    def opt(spec: Spec) -> None:
        spaces = _linux(spec).setdefault("namespaces", [])
        for i, n in enumerate(spaces):
            if n["type"] == ns:
                spaces[i] = dict(entry)
                return
        spaces.append(dict(entry))
    return opt


def with_cgroup(path: str) -> SpecOpt:
    """Set ``cgroupsPath``: absolute paths start at each hierarchy's root (``/default/c1``)."""
    def opt(spec: Spec) -> None:
        _linux(spec)["cgroupsPath"] = path
    return opt


def with_memory_limit(limit: int) -> SpecOpt:
    """Cap memory at ``limit`` bytes (``memory.limit_in_bytes``; ``memory.max`` on cgroup v2)."""
    if limit <= 0:
        raise InvalidArgument(f"memory limit must be positive, got {limit}")

    def opt(spec: Spec) -> None:
        _resources(spec).setdefault("memory", {})["limit"] = limit
    return opt


def with_cpu_shares(shares: int) -> SpecOpt:
    """Relative CPU weight when CPUs are contended (1024 is the default share)."""
    def opt(spec: Spec) -> None:
        _resources(spec).setdefault("cpu", {})["shares"] = shares
    return opt


def with_cpu_cfs(quota: int, period: int) -> SpecOpt:
    """At most ``quota`` µs of CPU time every ``period`` µs (the CFS bandwidth limit)."""
    def opt(spec: Spec) -> None:
        cpu = _resources(spec).setdefault("cpu", {})
        cpu["quota"], cpu["period"] = quota, period
    return opt


def with_cpus(cpus: float, period: int = 100_000) -> SpecOpt:
    """Limit to ``cpus`` CPUs' worth of time, as ``ctr run --cpus 0.5`` does (quota = cpus × period).

    >>> s = {}; with_cpus(0.5)(s); s["linux"]["resources"]["cpu"]
    {'quota': 50000, 'period': 100000}
    """
    if cpus <= 0:
        raise InvalidArgument(f"cpus must be positive, got {cpus}")
    return with_cpu_cfs(int(cpus * period), period)


def with_pids_limit(limit: int) -> SpecOpt:
    """At most ``limit`` processes and threads in the container (``pids.max``)."""
    def opt(spec: Spec) -> None:
        _resources(spec)["pids"] = {"limit": limit}
    return opt
