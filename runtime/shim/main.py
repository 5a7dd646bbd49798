"""Entry point of ``containerd-shim-pyrunc-v1``: parse the flags, run one action.

- ``start``  -> :func:`pyctrd.shim.start.start`: print the address, exit.
- ``delete`` -> :func:`pyctrd.shim.cleanup.delete`: print a ``DeleteResponse``, exit.
- ``forkserver`` -> :func:`pyctrd.shim.forkserver.run_forkserver`: the warm copy ``start``
  launches once per daemon and asks to fork serving shims.
- no action  -> :func:`pyctrd.shim.serve.run`: the long-running shim.

Each action imports only what it needs: ``start`` runs on every container start, so it
imports builtin modules only (no ``json``, ``re``, ``enum``, ``typing``: ~15 ms of a start
otherwise), and :mod:`pyctrd.errdefs` only when something fails. Nothing here imports grpc.
"""
from __future__ import annotations

import os
import sys

from .flags import parse

__all__ = ["NAME", "main"]

NAME = "containerd-shim-pyrunc-v1"


def main(argv: list[str] | None = None) -> int:
    """Run the shim with ``argv`` (default: the command line); return the exit code."""
    # A one-shot action run as the program ends with os._exit once its answer is flushed:
    # the interpreter's teardown (freeing every module) is time the daemon would wait for.
    as_program = argv is None
    try:
        flags = parse(sys.argv[1:] if argv is None else argv)
        if flags.v:
            from .. import CONTAINERD_VERSION, __version__

            print(f"{NAME}:\n  Version:  {__version__} (containerd {CONTAINERD_VERSION} shim API)\n")
            return 0
        if flags.action == "forkserver":  # launched by `start` (see .forkserver), never by a daemon
            from .forkserver import run_forkserver

            return run_forkserver(flags.state_dir, flags.address, int(flags.args[0]) if flags.args else 0)
        if not flags.namespace:
            from ..errdefs import InvalidArgument

            raise InvalidArgument("shim namespace cannot be empty")
        if flags.action == "start":
            from .start import start

            sys.stdout.write(start(flags))
            sys.stdout.flush()
            if as_program:
                os._exit(0)
            return 0
        if flags.action == "delete":
            from .cleanup import delete

            sys.stdout.buffer.write(delete(flags))
            sys.stdout.flush()
            if as_program:
                os._exit(0)
            return 0
        if flags.action:
            from ..errdefs import InvalidArgument

            raise InvalidArgument(f"unknown action {flags.action!r} (start, delete, or none to serve)")
    except Exception as exc:
        from ..errdefs import PyctrdError  # only now: start pays nothing for the error classes

        if not isinstance(exc, PyctrdError):
            raise
        sys.stderr.write(f"{NAME}: {exc}")
        return 1
    from .serve import run

    return run(flags)


if __name__ == "__main__":
    sys.exit(main())
