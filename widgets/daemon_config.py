"""What a widget can know about a daemon's config: each plugin's effective section, the disabled list.

The daemon's API says which plugins run, and what they export, but not the config they were
given. Whoever started the daemon knows: a :class:`~pyctrd.lab.Lab` keeps the text it wrote
to ``<lab>/config.toml`` (or runs the daemon without ``--config``: then the daemon reads
``/etc/pyctrd/config.toml`` if there is one, and uses the defaults otherwise). From that
text, each plugin's section is its defaults merged with the file's
``[plugins."<type>.<id>"]`` table - what ``pyctrd config dump`` prints. Without that
knowledge, the defaults (``pyctrd config default``) are all there is, and we say so.

>>> cfg = from_text('version = 2\\ndisabled_plugins = ["zfs"]\\n'
...                 '[plugins."io.containerd.snapshotter.v1.overlayfs"]\\nupperdir_label = true\\n')
>>> cfg.effective, cfg.disabled, cfg.sections["io.containerd.snapshotter.v1.overlayfs"].upperdir_label
(True, ['zfs'], True)
>>> unknown().effective, unknown().disabled
(False, None)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import Config, ConfigError, Loaded, load, loads

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["DEFAULT_CONFIG", "KnownConfig", "for_lab", "from_loaded", "from_text", "unknown"]

#: Where ``pyctrd`` looks for a config when it is given no ``--config``.
DEFAULT_CONFIG = "/etc/pyctrd/config.toml"


@dataclass(frozen=True)
class KnownConfig:
    """``sections``: plugin URI -> config dataclass; ``disabled``: the ``disabled_plugins``
    list (None when not known); ``effective``: the sections are the daemon's own, not guesses;
    ``note``: where they came from, for the reader."""

    sections: dict[str, Any]
    disabled: list[str] | None
    effective: bool
    note: str


def _default_sections() -> dict[str, Any]:
    from ..cmd.pyctrd import plugin_sections

    return plugin_sections()


def from_loaded(loaded: Loaded, note: str) -> KnownConfig:
    """The sections a daemon started with ``loaded`` runs its plugins with."""
    from .. import builtins  # noqa: F401 - registers every plugin
    from ..daemon.plugin_config import plugin_configs
    from ..plugin import REGISTRY

    merged = plugin_configs(loaded, REGISTRY)
    return KnownConfig({uri: c for uri, c in merged.items() if c is not None},
                       list(loaded.config.disabled_plugins), True, note)


def from_text(text: str, *, note: str = "effective: defaults + the daemon's config file") -> KnownConfig:
    """From the config file's text (raises ConfigError if the daemon would refuse it)."""
    return from_loaded(loads(text), note)


def unknown(why: str = "the daemon's config is not known here") -> KnownConfig:
    return KnownConfig(_default_sections(), None, False, f"defaults - {why}")


def for_lab(lab: Lab) -> KnownConfig:
    """What ``lab``'s daemon was started with, as far as this process can tell."""
    if lab.attached:
        return unknown("the lab's daemon was started elsewhere (make lab)")
    try:
        if lab.config_text is not None:
            return from_text(lab.config_text)
        if os.path.exists(DEFAULT_CONFIG):
            return from_loaded(load(DEFAULT_CONFIG), f"effective: defaults + {DEFAULT_CONFIG}")
    except ConfigError as exc:  # the daemon refused it too: it is not running with it
        return unknown(f"the config does not load ({exc})")
    return from_loaded(Loaded(Config()), "effective: no config file, so the defaults")
