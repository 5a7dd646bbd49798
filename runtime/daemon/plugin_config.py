"""Each plugin's config: its defaults merged with its ``[plugins."<type>.<id>"]`` section."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from ..config import Config, ConfigError, Loaded, decode
from ..plugin import Registration
from .cri_config import CRI, REGISTRY, registry_from_cri

__all__ = ["is_disabled", "plugin_configs"]


def is_disabled(config: Config, reg: Registration) -> bool:
    """``disabled_plugins`` may name a plugin by URI or by bare ID (as containerd allows)."""
    return reg.uri in config.disabled_plugins or reg.id in config.disabled_plugins


def plugin_configs(loaded: Loaded, regs: Iterable[Registration]) -> dict[str, Any]:
    """``{uri: merged config dataclass or None}``; wrong types raise ConfigError.

    Sections for plugins nobody registered are reported in ``loaded.unknown``. containerd's
    CRI section is a known foreign one: its registry settings are the registry plugin's
    defaults, under that plugin's own section (see :mod:`.cri_config`).
    """
    raw = loaded.config.plugins
    out: dict[str, Any] = {}
    known = {CRI}
    from_cri = {REGISTRY: registry_from_cri(loaded)}
    for reg in regs:
        known.add(reg.uri)
        section = raw.get(reg.uri)
        if reg.config is None:
            out[reg.uri] = None
            if section:
                loaded.unknown.append(f"{loaded.file or '<config>'}: plugin {reg.uri} takes no config")
            continue
        base = reg.config
        if from_cri.get(reg.uri):
            base = decode(type(reg.config), from_cri[reg.uri], path=["plugins", CRI, "registry"],
                          loaded=loaded, base=reg.config)
        if section is None:
            out[reg.uri] = dataclasses.replace(base)
            continue
        if not isinstance(section, dict):
            raise ConfigError("expected a table", file=loaded.file, key=f"plugins.{reg.uri}",
                              line=loaded.line_of(["plugins", reg.uri]))
        out[reg.uri] = decode(type(reg.config), section, path=["plugins", reg.uri], loaded=loaded,
                              base=base)
    for uri in raw:
        if uri not in known:
            line = loaded.line_of(["plugins", uri])
            loaded.unknown.append(f"{loaded.file or '<config>'}{':' + str(line) if line else ''}: "
                                  f"unknown plugin {uri}")
    return out
