"""Registers the SQLite metadata plugin (containerd's is ``bolt``)."""
from __future__ import annotations

from dataclasses import dataclass

from ....config import setting
from ....errdefs import InvalidArgument, PyctrdError
from ....plugin import InitContext, Registration, register, types
from .metadata import Metadata


@dataclass
class MetadataConfig:
    content_sharing_policy: str = setting(
        "shared", "shared: a blob present in any namespace can be added to another without "
        "fetching it again; isolated: each namespace must write its own bytes")


def _init(ic: InitContext) -> Metadata:
    cfg: MetadataConfig = ic.config
    if cfg.content_sharing_policy not in ("shared", "isolated"):
        raise InvalidArgument(f"content_sharing_policy must be shared or isolated, "
                              f"not {cfg.content_sharing_policy!r}")
    try:
        content = ic.get(types.CONTENT)
    except PyctrdError:
        content = None
    path = ic.root / "meta.db"
    ic.meta.exports.update({"path": str(path), "policy": cfg.content_sharing_policy})
    return Metadata(path, content=content, snapshotters=ic.get_all(types.SNAPSHOT),
                    content_sharing_policy=cfg.content_sharing_policy)


registration = register(Registration(
    type=types.METADATA, id="sqlite", requires=(types.CONTENT, types.SNAPSHOT),
    config=MetadataConfig(), init=_init,
    doc="Namespaces, images, containers, leases and references in one SQLite database"))
