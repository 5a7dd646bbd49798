"""Is aufs available? It never entered the mainline kernel: it must be a loaded module.

containerd's aufs plugin first tries ``modprobe aufs``, then looks for ``aufs`` in
/proc/filesystems; when it is missing the message carries what modprobe said, quoted the
way Go quotes strings::

    aufs is not supported (modprobe aufs failed: exec: "modprobe": executable file not found in $PATH "")

>>> go_quote(b"modprobe: FATAL: Module aufs not found\\n")
'"modprobe: FATAL: Module aufs not found\\\\n"'
"""
from __future__ import annotations

import shutil
import subprocess

__all__ = ["AufsUnsupported", "check_supported", "go_quote"]

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v", "\\": "\\\\", '"': '\\"'}


class AufsUnsupported(Exception):
    """aufs is not in this kernel; the message is containerd's."""


def go_quote(data: bytes) -> str:
    """``fmt.Sprintf("%q", data)``: a double-quoted string with Go's escapes."""
    out = []
    for ch in data.decode("utf-8", errors="surrogateescape"):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif "\udc80" <= ch <= "\udcff":  # an undecodable byte
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _modprobe() -> str:
    """What went wrong loading the module, in Go's words ('' if modprobe succeeded)."""
    exe = shutil.which("modprobe")
    if exe is None:
        return 'exec: "modprobe": executable file not found in $PATH ""'
    r = subprocess.run([exe, "aufs"], capture_output=True, check=False)
    if r.returncode == 0:
        return ""
    status = f"exit status {r.returncode}" if r.returncode > 0 else f"signal: {-r.returncode}"
    return f"{status} {go_quote(r.stdout + r.stderr)}"


def check_supported(filesystems: str = "/proc/filesystems") -> None:
    """Try to load aufs, then look for it among the kernel's filesystems.

    Raises:
        AufsUnsupported: aufs is not available (the message says why).
    """
    probe = _modprobe()
    with open(filesystems, encoding="utf-8") as f:
        if any("aufs" in line for line in f):
            return
    raise AufsUnsupported("aufs is not supported" + (f" (modprobe aufs failed: {probe})" if probe else ""))
