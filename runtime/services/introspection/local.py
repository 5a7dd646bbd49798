"""The introspection service: what plugins does this daemon have, and who is it?

``Plugins`` answers from the live plugin set (init order, status, exports, errors) with
containerd's filters (``id==native``, ``type==io.containerd.grpc.v1``). ``Server`` answers
with the daemon's UUID, made once and kept under the plugin's root so it survives restarts.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

from ...core import filters
from ...plugin import Plugin

__all__ = ["Introspection", "load_uuid"]


def load_uuid(root: Path) -> str:
    """Read ``<root>/uuid`` or create it (atomically)."""
    path = root / "uuid"
    try:
        text = path.read_text().strip()
        uuid.UUID(text)
        return text
    except (OSError, ValueError):
        pass
    root.mkdir(parents=True, exist_ok=True)
    value = str(uuid.uuid4())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value)
    tmp.replace(path)
    return value


def _adaptor(p: Plugin) -> filters.Adaptor:
    plats = [f"{x.get('os')}/{x.get('architecture')}" for x in p.meta.platforms]
    return filters.adapt({"type": p.registration.type, "id": p.registration.id,
                          "platforms": ",".join(plats), "capabilities": ",".join(p.meta.capabilities),
                          "status": p.status})


class Introspection:
    def __init__(self, plugins: Iterable[Plugin], root: Path) -> None:
        self._plugins = plugins
        self.root = root
        self._uuid: str | None = None

    def __repr__(self) -> str:
        return f"<Introspection uuid={self.uuid}>"

    @property
    def uuid(self) -> str:
        if self._uuid is None:
            self._uuid = load_uuid(self.root)
        return self._uuid

    def plugins(self, *filter_texts: str) -> list[Plugin]:
        f = filters.parse_all(filter_texts)
        return [p for p in self._plugins if f.match(_adaptor(p))]
