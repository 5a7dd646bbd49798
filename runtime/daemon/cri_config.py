"""containerd's CRI section, read for the one part pyctrd has: registry hosts.

A containerd 1.x config keeps its registry mirrors in the CRI plugin's section::

    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
      endpoint = ["https://mirror.example"]

pyctrd has no CRI plugin (no kubelet talks to it), but such a file should still work: the
section is a *known foreign section*. Its ``registry.config_path`` and ``registry.mirrors``
(containerd 1.6's ``pkg/cri/config`` names) feed ``io.containerd.internal.v1.registry``, whose
own section is applied on top, so it wins on conflicts (per key; mirrors per registry name).
Every other CRI key (``sandbox_image``, ``containerd.runtimes``, ``registry.configs``, ...) is
ignored, and the daemon says so once, as a note rather than an "unknown plugin" warning.

containerd 1.6 refuses ``mirrors`` together with ``config_path`` (the CRI plugin fails to load);
pyctrd accepts both, as its own section does: a host's directory first, else its mirrors.
"""
from __future__ import annotations

from typing import Any

from ..config import ConfigError, Loaded

__all__ = ["CRI", "READ", "REGISTRY", "registry_from_cri"]

CRI = "io.containerd.grpc.v1.cri"
REGISTRY = "io.containerd.internal.v1.registry"
READ = ("config_path", "mirrors")  # the keys of CRI's `registry` table that pyctrd reads


def _table(loaded: Loaded, value: Any, path: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError("expected a table", file=loaded.file, key=".".join(path), line=loaded.line_of(path))
    return value


def registry_from_cri(loaded: Loaded) -> dict[str, Any]:
    """The registry plugin's settings found in the CRI section (``{}`` if none); notes what is ignored.

    >>> from pyctrd.config import loads
    >>> loaded = loads('version = 2\\n[plugins."io.containerd.grpc.v1.cri"]\\nsandbox_image = "pause"\\n'
    ...                '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\\n'
    ...                'endpoint = ["http://127.0.0.1:5000"]\\n', file="c.toml")
    >>> registry_from_cri(loaded)
    {'mirrors': {'docker.io': {'endpoint': ['http://127.0.0.1:5000']}}}
    >>> print(loaded.notes[0])
    c.toml:2: plugins.io.containerd.grpc.v1.cri: pyctrd has no CRI plugin: registry.mirrors configure io.containerd.internal.v1.registry; ignored: sandbox_image

    Raises:
        ConfigError: the section or its ``registry`` is not a table.
    """
    if CRI not in loaded.config.plugins:
        return {}
    section = _table(loaded, loaded.config.plugins[CRI], ["plugins", CRI])
    registry = _table(loaded, section.get("registry", {}), ["plugins", CRI, "registry"])
    found = {k: registry[k] for k in READ if k in registry}
    ignored = sorted(k for k in section if k != "registry") + sorted(f"registry.{k}" for k in registry
                                                                     if k not in READ)
    line = loaded.line_of(["plugins", CRI])
    used = " and ".join(f"registry.{k}" for k in found)
    note = (f"{loaded.file or '<config>'}{':' + str(line) if line else ''}: plugins.{CRI}: pyctrd has no CRI "
            f"plugin: " + (f"{used} configure {REGISTRY}" if found else "nothing in it is read"))
    if ignored:
        note += f"; ignored: {', '.join(ignored)}"
    loaded.notes.append(note)
    return found
