"""Processes a lab owns: started, recorded and stopped by PID - never looked up by name.

Each process ``python -m pyctrd.lab`` starts is written to ``<dir>/pids/<name>.pid`` as
``"<pid> <start time>"`` (a daemon's record adds lines ``address <socket>`` and ``state <dir>``). The start time (field 22 of ``/proc/<pid>/stat``) makes the record
safe against PID reuse: a leftover from a run that was killed is stopped on the next run only
if the *same* process is still alive.

>>> me = ProcessRecord.of(os.getpid())
>>> me.alive(), ProcessRecord(me.pid, me.start_time + 1).alive()
(True, False)
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.mount import unmount
from ..errdefs import map_exceptions

__all__ = ["PidDir", "ProcessRecord", "free_port", "mounts_under", "stop_child", "stop_pid", "unmount_under"]


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):
        return None  # a zombie has exited: only its parent's wait is missing
    return int(fields[19])


@dataclass(frozen=True)
class ProcessRecord:
    """A process by PID and start time; a daemon's record also has its socket and state directory
    (so that its tasks can be stopped through its API before it is stopped)."""

    pid: int
    start_time: int
    address: str = ""
    state: str = ""

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        return cls(pid, _start_time(pid) or 0)

    def alive(self) -> bool:
        """The very process recorded (not a later one with the same PID) still exists."""
        return _start_time(self.pid) == self.start_time

    def __repr__(self) -> str:
        return f"<ProcessRecord pid={self.pid} {'alive' if self.alive() else 'gone'}>"


def stop_pid(record: ProcessRecord, *, sig: int = signal.SIGTERM, timeout: float = 15) -> bool:
    """Signal the recorded process, wait up to ``timeout``, then SIGKILL. False if it was gone."""
    if not record.alive():
        return False
    try:
        os.kill(record.pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while record.alive() and time.monotonic() < deadline:
        _reap(record.pid)
        time.sleep(0.05)
    if record.alive():
        try:
            os.kill(record.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while record.alive() and time.monotonic() < deadline + 5:
            _reap(record.pid)
            time.sleep(0.05)
    _reap(record.pid)
    return True


def stop_child(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
    """Stop a process we started: ``sig``, wait up to ``timeout``, then SIGKILL; its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # our own child would stay a zombie (and "alive") otherwise
    except ChildProcessError:
        pass


class PidDir:
    """``<dir>/pids``: one file per process this lab started."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    def record(self, name: str, pid: int, *, address: str = "", state: str = "") -> ProcessRecord:
        """Record ``pid`` as ``name`` (a daemon: with its socket ``address`` and ``state`` dir)."""
        now = ProcessRecord.of(pid)
        rec = ProcessRecord(now.pid, now.start_time, address, state)
        self.dir.mkdir(parents=True, exist_ok=True)
        extra = "".join(f"{k} {v}\n" for k, v in (("address", address), ("state", state)) if v)
        (self.dir / f"{name}.pid").write_text(f"{rec.pid} {rec.start_time}\n{extra}")
        return rec

    def forget(self, name: str) -> None:
        (self.dir / f"{name}.pid").unlink(missing_ok=True)

    def records(self) -> dict[str, ProcessRecord]:
        out = {}
        for f in sorted(self.dir.glob("*.pid")) if self.dir.is_dir() else []:
            try:
                first, *rest = f.read_text().splitlines()
                pid, start = first.split()
                more = dict(line.partition(" ")[::2] for line in rest)
                out[f.stem] = ProcessRecord(int(pid), int(start), more.get("address", ""), more.get("state", ""))
            except (OSError, ValueError):
                f.unlink(missing_ok=True)  # half-written: nothing to stop
        return out

    def stop_all(self, *, timeout: float = 15) -> list[str]:
        """Stop every recorded process still alive (newest names last: reverse order); forget all."""
        stopped = []
        for name, rec in reversed(list(self.records().items())):
            if stop_pid(rec, timeout=timeout):
                stopped.append(f"{name} (pid {rec.pid})")
            self.forget(name)
        return stopped


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def mounts_under(directory: str | os.PathLike[str]) -> list[str]:
    """Mount points strictly below ``directory``, deepest first."""
    top = os.path.realpath(directory).rstrip("/")
    out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True, check=False).stdout
    paths = [p.encode().decode("unicode_escape") for p in out.split()]
    return sorted((p for p in paths if p.startswith(top + "/")), key=len, reverse=True)


def unmount_under(directory: str | os.PathLike[str]) -> list[str]:
    """Unmount everything below ``directory`` (lazily if busy); returns what was mounted."""
    found = mounts_under(directory)
    for target in found:
        with map_exceptions(f"unmount {target}"):
            unmount(target, detach=True)
    return found
