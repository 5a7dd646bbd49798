"""pyctrd under systemd: the unit file (every line explained; containerd ships the same
settings) and :func:`notify`, how the daemon tells systemd it is ready (``Type=notify``)."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys

__all__ = ["daemon_command", "notify", "unit"]


def notify(state: str) -> bool:
    """Send ``state`` (``READY=1``, ``STOPPING=1``) to systemd's ``$NOTIFY_SOCKET``, as
    containerd's ``sd_notify`` calls do; False (and nothing sent) when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(state.encode())
        return True
    return False


def daemon_command(binary: str = "pyctrd") -> str:
    """How systemd should start this pyctrd: the console script, or ``python -m`` as a fallback."""
    if not binary.endswith(".py"):  # run as `python -m ...`, argv[0] is a source file
        found = shutil.which(binary) or (binary if os.path.isabs(binary) else None)
        if found:
            # which() hands a path with a slash back as given: `.venv/bin/pyctrd` stays relative,
            # and systemd refuses an ExecStart that is not absolute
            return os.path.abspath(found)
    beside = os.path.join(os.path.dirname(sys.executable), "pyctrd")
    if os.path.exists(beside):
        return beside
    return f"{sys.executable} -m pyctrd.cmd.pyctrd"


def unit(binary: str = "pyctrd", config: str | None = None) -> str:
    exe = daemon_command(binary)
    cfg = f" --config {config}" if config else ""
    return f"""[Unit]
Description=pyctrd container runtime (containerd 1.6 API, in Python)
Documentation=https://containerd.io
After=network.target local-fs.target

[Service]
# Load the overlay module before starting: the overlayfs snapshotter needs it.
ExecStartPre=-/sbin/modprobe overlay
ExecStart={exe}{cfg}
# pyctrd says READY=1 once its sockets serve, so units ordered after it start only then.
Type=notify

# Restart the daemon whenever it stops; running containers are not affected.
Restart=always
RestartSec=5

# Let pyctrd manage cgroups below its own (shims and containers live there).
Delegate=yes
# Stop only the daemon process, not the whole cgroup: shims and containers keep running
# across a daemon restart, and the restarted daemon reconnects to them.
KillMode=process
# Make the kernel's OOM killer pick containers long before the daemon.
OOMScoreAdjust=-999

# Containers may open many files and start many processes; do not cap them here.
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1048576
TasksMax=infinity

[Install]
WantedBy=multi-user.target
"""
