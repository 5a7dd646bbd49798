"""Registers ``io.containerd.internal.v1`` ``opt``: a directory of extra binaries and libraries.

As containerd's: ``<path>/bin`` is put first on the daemon's ``PATH`` and ``<path>/lib`` first
on ``LD_LIBRARY_PATH``, so shims and runtimes installed there are found. pyctrd's default path
is the plugin's own root directory (containerd's is ``/opt/containerd``): nothing is created
outside the daemon's root unless configured.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ....config import setting
from ....errdefs import map_exceptions
from ....plugin import InitContext, Registration, register, types

__all__ = ["OptConfig", "OptManager"]


@dataclass
class OptConfig:
    path: str = setting("", "Directory whose bin/ and lib/ the daemon and its shims use; "
                            "empty means <root>/io.containerd.internal.v1.opt")


class OptManager:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"<OptManager {self.path}>"


def _prepend(var: str, directory: Path) -> None:
    current = os.environ.get(var, "")
    parts = current.split(os.pathsep) if current else []
    if str(directory) not in parts:
        os.environ[var] = os.pathsep.join([str(directory), *parts])


def _init(ic: InitContext) -> OptManager:
    path = Path(ic.config.path or ic.root)
    ic.meta.exports["path"] = str(path)
    for sub, var in (("bin", "PATH"), ("lib", "LD_LIBRARY_PATH")):
        with map_exceptions(f"opt directory {path / sub}"):
            (path / sub).mkdir(mode=0o711, parents=True, exist_ok=True)
        _prepend(var, path / sub)
    return OptManager(path)


registration = register(Registration(
    type=types.INTERNAL, id="opt", config=OptConfig(), init=_init,
    doc="bin/ and lib/ of an opt directory on the daemon's PATH and LD_LIBRARY_PATH"))
