"""``python -m pyctrd.lab --dir .lab`` (``make lab``): daemon + registry + JupyterLab; Ctrl-C stops all.

Everything lives under ``--dir``: the daemon's root/state and log, the registry's config and
data, Jupyter's config/runtime files, and ``pids/`` - a record of every process started, so a
run that was killed is cleaned up by the next one (by PID, checked against start time).
Ctrl-C stops every task of the daemon (and of daemons notebooks started) before the daemon
itself: no shim, container, rootfs mount or cgroup outlives the lab (see :mod:`.teardown`).
"""
from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import threading
from pathlib import Path

from ..errdefs import PyctrdError
from .jupyter import JupyterLab
from .lab import Lab
from .procs import PidDir, unmount_under
from .registry import LocalRegistry
from .samples import push_sample_images
from .teardown import clean_after, stop_recorded

#: The repository's notebooks/ (this file is runtime/lab/__main__.py).
DEFAULT_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _say(*lines: str) -> None:
    print(*lines, sep="\n", flush=True)


def clean_leftovers(directory: Path) -> list[str]:
    """Stop processes a previous run recorded and left running (a daemon's tasks first, as
    Ctrl-C would have); unmount what it left mounted."""
    notes = stop_recorded(PidDir(directory / "pids" / "notebooks"), verb="stopped leftover")
    notes += stop_recorded(PidDir(directory / "pids"), verb="stopped leftover")
    notes += [f"unmounted leftover {m}" for m in unmount_under(directory)]
    return notes


def hold_lock(directory: Path) -> int | None:
    """Lock ``<dir>/lab.lock`` for this run (None: another run holds it - its PID is in the file)."""
    fd = os.open(directory / "lab.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyctrd.lab", description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=".lab", help="where the lab keeps everything (default .lab)")
    ap.add_argument("--no-jupyter", action="store_true", help="no JupyterLab")
    ap.add_argument("--no-registry", action="store_true", help="no local registry")
    ap.add_argument("--notebooks", default=str(DEFAULT_NOTEBOOKS), help="JupyterLab's root directory")
    ap.add_argument("--port", type=int, default=0, help="JupyterLab's port (default: a free one)")
    args = ap.parse_args(argv)
    directory = Path(args.dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if hold_lock(directory) is None:  # the fd stays open (and locked) until this process exits
        owner = (directory / "lab.lock").read_text().strip()
        _say(f"lab: a lab is already running in {directory} (pid {owner}); Ctrl-C it first")
        return 1
    pids = PidDir(directory / "pids")
    notes = clean_leftovers(directory)  # safe: whoever recorded these is gone (we hold the lock)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stop.set())

    lab = Lab(directory)
    registry = LocalRegistry(directory / "registry")
    jupyter: JupyterLab | None = None
    try:
        lab.launch()
        pids.record("pyctrd", lab.proc.pid, address=lab.address, state=str(lab.state))  # type: ignore[union-attr]
        _say(f"pyctrd is serving on {lab.address}",
             f"  root:  {lab.root}\n  state: {lab.state}\n  log:   {lab.log_path}", *notes)
        env = {**lab.environment(), "PYCTRD_LAB_DIR": str(directory),
               "PYCTRD_LAB_PIDS": str(directory / "pids" / "notebooks")}
        if not args.no_registry:
            registry.start()
            pids.record("registry", registry.proc.pid)  # type: ignore[union-attr]
            (directory / "registry.address").write_text(registry.address + "\n")
            env["PYCTRD_REGISTRY"] = registry.address
            _say(f"registry at {registry.address} (data: {registry.dir / 'data'})")
            try:
                pushed = push_sample_images(registry.address, directory / "samples")
                _say(f"  sample images: {', '.join(pushed)}")
            except PyctrdError as exc:  # the lab is still useful without them (levels 00-01)
                _say(f"  sample images: not pushed ({exc})")
        _say(f"Try:  PYCTRD_ADDRESS={lab.address} .venv/bin/pyctr plugins ls",
             f"      ctr --address {lab.address} plugins ls")
        if not args.no_jupyter:
            jupyter = JupyterLab(directory / "jupyter", args.notebooks, env=env)
            jupyter.start(args.port or None)
            pids.record("jupyter", jupyter.proc.pid)  # type: ignore[union-attr]
            _say(f"JupyterLab (notebooks: {jupyter.notebooks}; log: {jupyter.log_path}):",
                 f"  {jupyter.url}")
        _say("Ctrl-C stops the lab.")
        while not stop.wait(0.5):
            dead = [name for name, p in (("pyctrd", lab), ("registry", registry), ("jupyter", jupyter))
                    if p is not None and p.proc is not None and not p.running]
            if dead:
                _say(f"{', '.join(dead)} exited: stopping the lab")
                break
    except PyctrdError as exc:
        _say(f"lab: {exc}")
        return_code = 1
    else:
        return_code = 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        if jupyter is not None:
            jupyter.stop()  # first: its kernels stop the daemons notebooks started
        # what a kernel that died hard left: those daemons' tasks, then the daemons themselves
        left = stop_recorded(PidDir(directory / "pids" / "notebooks"))
        registry.stop()
        left += lab.stop_tasks()  # a daemon restart keeps its containers; tearing the lab down must not
        rc = lab.stop()
        left += clean_after(lab.state)  # the safety net: shims the daemon lost, mounts it left
        for name in ("jupyter", "registry", "pyctrd"):
            pids.forget(name)
        left += [f"unmounted {m}" for m in unmount_under(directory)]
        (directory / "registry.address").unlink(missing_ok=True)
        _say(*left, f"pyctrd stopped ({rc})")
    return return_code


if __name__ == "__main__":
    sys.exit(main())
