"""A systemd unit for pyctrd, every line explained (containerd ships the same settings)."""
from __future__ import annotations

import os
import shutil

__all__ = ["unit"]


def unit(binary: str = "pyctrd", config: str | None = None) -> str:
    exe = shutil.which(binary) or os.path.abspath(binary)
    cfg = f" --config {config}" if config else ""
    return f"""[Unit]
Description=pyctrd container runtime (containerd 1.6 API, in Python)
Documentation=https://containerd.io
After=network.target local-fs.target

[Service]
# Load the overlay module before starting: the overlayfs snapshotter needs it.
ExecStartPre=-/sbin/modprobe overlay
ExecStart={exe}{cfg}

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
