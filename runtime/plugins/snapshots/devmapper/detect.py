"""Is the devmapper snapshotter configured? It needs a thin-pool named in the config.

containerd fails the plugin (an *error*, not a skip) when ``pool_name`` is empty: the
default config never enables it. With a pool named it validates the rest as containerd does.

>>> try:
...     check_config(DevmapperConfig())
... except NotConfigured as exc:
...     print(exc)
devmapper not configured
>>> check_config(DevmapperConfig(pool_name="p"), default_root="/r")
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: devmapper config: base_image_size is required: invalid argument
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ....config import setting
from ....errdefs import InvalidArgument, Unknown

__all__ = ["DevmapperConfig", "NotConfigured", "check_config"]


class NotConfigured(Unknown):
    """No pool configured. Printed verbatim, as containerd prints it (no kind suffix)."""

    suffix = ""


@dataclass
class DevmapperConfig:
    """``[plugins."io.containerd.snapshotter.v1.devmapper"]``, field for field containerd's."""

    root_path: str = setting("", "Directory for the metadata; empty means the plugin's own root")
    pool_name: str = setting("", "Name of the device-mapper thin-pool to carve snapshots from "
                                 "(required: the plugin fails while it is empty)")
    base_image_size: str = setting("", "Size of the base device, e.g. \"10GB\" (required)")
    async_remove: bool = setting(False, "Remove devices in the background")
    discard_blocks: bool = setting(False, "Discard blocks when removing a device")
    fs_type: str = setting("", "Filesystem made on new devices: ext4 or xfs (empty: ext4)")
    fs_options: str = setting("", "Options passed to mkfs")


def check_config(cfg: DevmapperConfig, default_root: str = "") -> DevmapperConfig:
    """Raise NotConfigured without a pool, InvalidArgument for a config containerd would reject.

    Returns the config with root_path filled in.
    """
    if not cfg.pool_name:
        raise NotConfigured("devmapper not configured")
    root = cfg.root_path or default_root
    problems = []
    if not root:
        problems.append("root_path is required")
    if not cfg.base_image_size:
        problems.append("base_image_size is required")
    elif not re.fullmatch(r"\s*\d+(\.\d+)?\s*([kKmMgGtTpP]i?[bB]?|[bB])?\s*", cfg.base_image_size):
        problems.append(f"failed to parse base image size: '{cfg.base_image_size}'")
    if cfg.fs_type not in ("", "ext4", "xfs"):
        problems.append(f"unsupported Filesystem Type: {cfg.fs_type}")
    if problems:
        raise InvalidArgument("devmapper config: " + "; ".join(problems))
    return DevmapperConfig(root, cfg.pool_name, cfg.base_image_size, cfg.async_remove,
                           cfg.discard_blocks, cfg.fs_type or "ext4", cfg.fs_options)
