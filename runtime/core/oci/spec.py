"""The OCI runtime spec: what ``config.json`` in a bundle tells runc to build.

A container is not a thing the kernel knows. It is a process started with a recipe, and the
recipe is the bundle's ``config.json`` (the *OCI runtime spec*). Its parts, top to bottom:

- ``process``: what to run (``args``, ``env``, ``cwd``), as whom (``user``), with which
  ``capabilities`` and ``rlimits``, and whether it gets a ``terminal``;
- ``root``: the root filesystem (``rootfs``, relative to the bundle) and whether it is read-only;
- ``mounts``: filesystems mounted inside it (``/proc``, a fresh ``/dev``, ``/sys`` read-only ...);
- ``linux``: the isolation. ``namespaces`` (a new pid, ipc, uts, mount and network namespace),
  ``resources`` (cgroup limits: memory, cpu, which devices may be opened), ``cgroupsPath``
  (where in the cgroup tree the container lives), ``maskedPaths`` and ``readonlyPaths`` (bits
  of ``/proc`` and ``/sys`` hidden or frozen).

pyctrd keeps a spec as a plain ``dict`` shaped exactly like the JSON, so what you print is
what runc reads. :func:`default_spec` is containerd's starting point (``ctr oci spec`` prints it);
*spec options* (:mod:`pyctrd.core.oci.opts`) are small functions that each change one thing,
applied in order by :func:`generate_spec`, as containerd's ``SpecOpts`` are:

>>> s = default_spec("default", "c1")
>>> s["linux"]["cgroupsPath"], [n["type"] for n in s["linux"]["namespaces"]]
('/default/c1', ['pid', 'ipc', 'uts', 'mount', 'network'])
>>> def with_args(*args):
...     def opt(spec):
...         spec["process"]["args"] = list(args)
...     return opt
>>> generate_spec("default", "c1", with_args("echo", "hi"))["process"]["args"]
['echo', 'hi']
"""
from __future__ import annotations

import copy
import json
import posixpath
from collections.abc import Callable
from typing import Any

from ... import identifiers

__all__ = [
    "DEFAULT_CAPS", "DEFAULT_MASKED_PATHS", "DEFAULT_MOUNTS", "DEFAULT_NAMESPACES",
    "DEFAULT_READONLY_PATHS", "DEFAULT_UNIX_ENV", "OCI_VERSION", "Spec", "SpecOpt", "apply_opts",
    "compose", "default_spec", "dumps", "generate_spec",
]

#: A runtime spec, shaped exactly like ``config.json``.
Spec = dict[str, Any]
#: A spec option: changes a spec in place (containerd's ``oci.SpecOpts``).
SpecOpt = Callable[[Spec], None]

#: The spec version containerd 1.6 writes (that of its vendored runtime-spec).
OCI_VERSION = "1.0.2-dev"
DEFAULT_UNIX_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

#: The capabilities a container's root keeps (Docker's historical list): enough to chown,
#: bind low ports and change user, not enough to mount, load modules or change the clock.
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
DEFAULT_NAMESPACES = ["pid", "ipc", "uts", "mount", "network"]
#: Kernel files that leak host information or are dangerous: bind-mounted over with nothing.
DEFAULT_MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
]
#: Kernel knobs a container may read but not write.
DEFAULT_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mount(dest: str, typ: str, source: str, *options: str) -> dict[str, Any]:
    return {"destination": dest, "type": typ, "source": source, "options": list(options)}


#: The filesystems every container gets (containerd's ``defaultMounts``). /dev is a small
#: tmpfs that runc fills with the few device nodes a process expects (null, zero, tty ...).
DEFAULT_MOUNTS = [
    _mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
    _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
    _mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
           "mode=0620", "gid=5"),
    _mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
    _mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
    _mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
    _mount("/run", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
]


def default_spec(namespace: str, container_id: str = "") -> Spec:
    """containerd's default Linux spec for a container (``ctr oci spec`` prints it).

    Args:
        namespace: the containerd namespace; the cgroup path starts with it.
        container_id: the container's ID ("" gives ``/<namespace>``, as ``ctr oci spec`` does).

    Raises:
        InvalidArgument: ``namespace`` or a non-empty ``container_id`` is not a valid identifier.

    >>> s = default_spec("default")
    >>> s["ociVersion"], s["root"], s["linux"]["cgroupsPath"]
    ('1.0.2-dev', {'path': 'rootfs'}, '/default')
    >>> s["process"]["rlimits"]
    [{'type': 'RLIMIT_NOFILE', 'hard': 1024, 'soft': 1024}]
    """
    identifiers.validate(namespace)
    if container_id:
        identifiers.validate(container_id)
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "user": {"uid": 0, "gid": 0},
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs"},
        "mounts": copy.deepcopy(DEFAULT_MOUNTS),
        "linux": {
            # deny every device; options add back the ones a process needs
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "cgroupsPath": posixpath.join("/", namespace, container_id).rstrip("/") or "/",
            "namespaces": [{"type": t} for t in DEFAULT_NAMESPACES],
            "maskedPaths": list(DEFAULT_MASKED_PATHS),
            "readonlyPaths": list(DEFAULT_READONLY_PATHS),
        },
    }


def apply_opts(spec: Spec, *opts: SpecOpt) -> Spec:
    """Apply options in order to ``spec`` (changed in place) and return it.

    Raises:
        PyctrdError: whatever an option raises (InvalidArgument for bad values, NotFound for
            a user missing from the rootfs's /etc/passwd, ...); earlier options stay applied.
    """
    for opt in opts:
        opt(spec)
    return spec


def generate_spec(namespace: str, container_id: str, *opts: SpecOpt) -> Spec:
    """:func:`default_spec` with ``opts`` applied (containerd's ``oci.GenerateSpec``).

    Raises:
        InvalidArgument: a bad namespace or container ID, or a bad option value.
        PyctrdError: whatever an option raises.
    """
    return apply_opts(default_spec(namespace, container_id), *opts)


def compose(*opts: SpecOpt) -> SpecOpt:
    """One option that applies several in order (containerd's ``oci.Compose``).

    >>> both = compose(lambda s: s.update(a=1), lambda s: s.update(b=2))
    >>> spec = {}; both(spec); spec
    {'a': 1, 'b': 2}
    """
    def composed(spec: Spec) -> None:
        apply_opts(spec, *opts)
    return composed


# Field order of the Go structs, so that dumps() prints what ``ctr oci spec`` prints.
_ORDER: dict[str, list[str]] = {
    "": ["ociVersion", "process", "root", "hostname", "mounts", "hooks", "annotations", "linux"],
    "process": ["terminal", "consoleSize", "user", "args", "commandLine", "env", "cwd",
                "capabilities", "rlimits", "noNewPrivileges", "apparmorProfile", "oomScoreAdj",
                "selinuxLabel"],
    "linux": ["uidMappings", "gidMappings", "sysctl", "resources", "cgroupsPath", "namespaces",
              "devices", "seccomp", "rootfsPropagation", "maskedPaths", "readonlyPaths",
              "mountLabel", "intelRdt", "personality"],
    "resources": ["devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network",
                  "rdma", "unified"],
}


def _ordered(d: dict[str, Any], section: str) -> dict[str, Any]:
    order = _ORDER.get(section)
    if order is None:
        return d
    known = [k for k in order if k in d]
    return {k: d[k] for k in known + [k for k in d if k not in order]}


def dumps(spec: Spec) -> str:
    """The spec as ``config.json`` text, fields in the order containerd writes them.

    >>> print(dumps({"root": {"path": "rootfs"}, "ociVersion": "1.0.2-dev"}))
    {
        "ociVersion": "1.0.2-dev",
        "root": {
            "path": "rootfs"
        }
    }
    """
    out = _ordered(spec, "")
    for key in ("process", "linux"):
        if isinstance(out.get(key), dict):
            out[key] = _ordered(out[key], key)
    linux = out.get("linux")
    if isinstance(linux, dict) and isinstance(linux.get("resources"), dict):
        linux["resources"] = _ordered(linux["resources"], "resources")
    return json.dumps(out, indent=4)
