"""The introspection service: what plugins does this daemon have, and who is it?

``Plugins`` answers from the live plugin set (init order, status, exports, errors) with
containerd's filters (``id==native``, ``type==io.containerd.grpc.v1``). ``Server`` answers
with the daemon's UUID, made once and kept under the plugin's root so it survives restarts.
"""
from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable
from pathlib import Path

from ...core import filters
from ...plugin import Plugin

__all__ = ["Introspection", "load_uuid"]

log = logging.getLogger("pyctrd.introspection")


def load_uuid(root: Path) -> str:
    """Read ``<root>/uuid`` or create it (atomically).

    A UUID that cannot be saved (a full or read-only disk) is still answered - for this run
    only, with a warning - rather than failing ``Server`` (and ``ctr version`` with it).
    """
    path = root / "uuid"
    try:
        text = path.read_text().strip()
        uuid.UUID(text)
        return text
    except (OSError, ValueError):
        pass
    value = str(uuid.uuid4())
    tmp = path.with_suffix(".tmp")
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp.write_text(value)
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot save the daemon's UUID in %s (%s): it holds for this run only", path, exc.strerror)
        with contextlib.suppress(OSError):
            tmp.unlink()
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
