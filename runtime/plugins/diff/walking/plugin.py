"""Registers the ``walking`` differ (``io.containerd.differ.v1.walking``).

containerd builds it on the metadata plugin's content store (namespaced, lease-aware). Until
the metadata plugin exposes ``content_store``, the content plugin's store is used directly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ....config import setting
from ....core.diff import ApplyLimits
from ....errdefs import NotFound
from ....plugin import InitContext, Registration, register, types
from .differ import WalkingDiff

__all__ = ["REGISTRATION", "WalkingConfig", "init"]

_DEFAULT = ApplyLimits()


@dataclass
class WalkingConfig:
    """Limits on the layers this differ applies (pyctrd's; containerd has none)."""

    max_uncompressed_size: int = setting(
        _DEFAULT.max_uncompressed_size,
        "Largest layer, in bytes after decompression, that apply accepts (decompression bombs)")
    max_file_size: int = setting(
        _DEFAULT.max_file_size, "Largest file, in bytes with sparse holes counted, a layer may create")


def _content_store(ic: InitContext) -> Any:
    try:
        md = ic.get(types.METADATA)
    except NotFound:  # no metadata plugin registered at all
        md = None
    store = getattr(md, "content_store", None)
    return store if store is not None else ic.get(types.CONTENT)


def init(ic: InitContext) -> WalkingDiff:
    cfg = ic.config if isinstance(ic.config, WalkingConfig) else WalkingConfig()
    limits = ApplyLimits(max_uncompressed_size=cfg.max_uncompressed_size, max_file_size=cfg.max_file_size)
    ic.meta.exports["max_uncompressed_size"] = str(limits.max_uncompressed_size)
    return WalkingDiff(_content_store(ic), ic.state / "mounts", limits=limits)


REGISTRATION = register(Registration(
    type=types.DIFF, id="walking", init=init, requires=(types.METADATA,), config=WalkingConfig(),
    platforms=True, doc="apply layers onto mounts and write layers from mounts by walking trees",
))
