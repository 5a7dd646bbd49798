"""Linux capabilities by name: the ones the kernel knows, and the ones this process holds.

root's power is split into ~41 *capabilities* (``CAP_SYS_ADMIN`` to mount, ``CAP_NET_ADMIN``
to configure networks, ...). A container's spec lists the ones its process keeps; a
privileged container keeps all that its creator has. The kernel reports a process's sets as
hex bitmaps in ``/proc/<pid>/status`` (``CapEff: 000001ffffffffff``); bit *n* is capability
number *n* of :data:`KNOWN` (containerd's ``pkg/cap``).

>>> from_bitmap(0x3)
['CAP_CHOWN', 'CAP_DAC_OVERRIDE']
>>> KNOWN[21]
'CAP_SYS_ADMIN'
"""
from __future__ import annotations

from ...errdefs import map_exceptions

__all__ = ["KNOWN", "current", "from_bitmap", "parse_status"]

#: Capability names by number, up to Linux 5.9 (``CAP_CHECKPOINT_RESTORE`` = 40).
KNOWN = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]


def from_bitmap(bits: int) -> list[str]:
    """Names of the capabilities set in ``bits`` (numbers this table does not know are left out)."""
    return [name for n, name in enumerate(KNOWN) if bits >> n & 1]


def parse_status(text: str) -> dict[str, int]:
    """The ``Cap*`` bitmaps of a ``/proc/<pid>/status`` text.

    >>> parse_status("Name:\\tsh\\nCapEff:\\t0000000000000005\\n")
    {'CapEff': 5}
    """
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            out[key] = int(value.strip(), 16)
    return out


def current() -> list[str]:
    """The effective capabilities of this process (what a privileged container may have).

    Raises:
        NotFound: /proc is not mounted.
    """
    with map_exceptions("/proc/self/status"), open("/proc/self/status") as f:
        return from_bitmap(parse_status(f.read()).get("CapEff", 0))
