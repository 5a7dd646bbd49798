"""What a plugin *gets* when it runs (:class:`InitContext`) and what comes of it (:class:`Plugin`).

Walk through one init, as the daemon does it for every registration in graph order::

    ic = InitContext(reg, root=<root>/<uri>, state=<state>/<uri>, config=<merged dataclass>, ...)
    plugin = Plugin.run(reg, ic)     # calls reg.init(ic), times it, catches what it raises
    plugin.status                     # "ok" | "skip" | "error"

A plugin finds what it requires through ``ic``: ``ic.get(types.METADATA)`` returns the first
initialised plugin of that type, ``ic.get_by_id(types.SNAPSHOT, "overlayfs")`` a given one,
``ic.get_all(types.SNAPSHOT)`` every one that is ok. Asking for something that failed or was
skipped raises FailedPrecondition, which makes *this* plugin fail too - the same cascade
containerd shows when a dependency is missing.
"""
from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errdefs import FailedPrecondition, NotFound
from .registration import Registration, SkipPlugin

__all__ = ["InitContext", "Meta", "Plugin", "PluginSet", "host_platform"]


def host_platform() -> dict[str, str]:
    """This machine's OCI platform, e.g. ``{"os": "linux", "architecture": "amd64"}``."""
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(platform.machine(),
                                                                           platform.machine())
    p = {"os": "linux", "architecture": arch}
    if arch == "arm64":
        p["variant"] = "v8"
    return p


@dataclass
class Meta:
    """What a plugin publishes about itself: shown by introspection and ``plugins ls -d``."""

    platforms: list[dict[str, str]] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)
    capabilities: list[str] = field(default_factory=list)


class PluginSet:
    """The initialised plugins, in init order, searchable by type and ID."""

    def __init__(self) -> None:
        self._ordered: list[Plugin] = []

    def add(self, p: Plugin) -> None:
        self._ordered.append(p)

    def __iter__(self) -> Iterator[Plugin]:
        return iter(list(self._ordered))

    def __len__(self) -> int:
        return len(self._ordered)

    def find(self, type_: str, id_: str) -> Plugin | None:
        return next((p for p in self._ordered if p.registration.type == type_
                     and p.registration.id == id_), None)

    def of_type(self, type_: str) -> list[Plugin]:
        return [p for p in self._ordered if p.registration.type == type_]


@dataclass
class InitContext:
    """Everything an init function may use.

    Attributes:
        registration: the plugin being initialised.
        root: ``<root>/<type>.<id>`` - persistent data. Plugins create it when they use
            it, as containerd's do, so an unused plugin leaves no directory behind.
        state: ``<state>/<type>.<id>`` - runtime data that does not survive a reboot.
        config: this plugin's config (defaults merged with the file's section).
        address: the daemon's gRPC socket.
        ttrpc_address: the daemon's ttrpc socket (shims publish events there).
        events: the event exchange (publisher, forwarder, subscriber), if one is running.
        meta: fill in exports/capabilities; platforms is pre-filled when asked for.
        server: the daemon object (its config, UUID, plugin list) for the few plugins
            that need the whole picture (introspection).
    """

    registration: Registration
    root: Path
    state: Path
    config: Any = None
    address: str = ""
    ttrpc_address: str = ""
    events: Any = None
    plugins: PluginSet = field(default_factory=PluginSet)
    meta: Meta = field(default_factory=Meta)
    server: Any = None
    properties: dict[str, str] = field(default_factory=dict)

    def get(self, type_: str) -> Any:
        """The first ok plugin instance of ``type_`` (raises FailedPrecondition if none)."""
        found = self.plugins.of_type(type_)
        for p in found:
            if p.status == "ok":
                return p.instance
        if found:
            raise FailedPrecondition(f"no plugins of type {type_} initialised ok: {found[0].error}")
        raise NotFound(f"no plugins registered for {type_}")

    def get_by_id(self, type_: str, id_: str) -> Any:
        """The instance of plugin ``type_``/``id_``; NotFound or FailedPrecondition if unusable."""
        p = self.plugins.find(type_, id_)
        if p is None:
            raise NotFound(f"plugin {type_}.{id_}")
        if p.status != "ok":
            raise FailedPrecondition(f"plugin {type_}.{id_} is {p.status}: {p.error}")
        return p.instance

    def get_all(self, type_: str) -> dict[str, Any]:
        """``{id: instance}`` for every ok plugin of ``type_``, in init order."""
        return {p.registration.id: p.instance for p in self.plugins.of_type(type_) if p.status == "ok"}


@dataclass
class Plugin:
    """An initialised (or failed, or skipped) plugin."""

    registration: Registration
    config: Any
    meta: Meta
    instance: Any = None
    error: BaseException | None = None
    init_seconds: float = 0.0

    @classmethod
    def run(cls, reg: Registration, ic: InitContext) -> Plugin:
        """Call ``reg.init(ic)`` and record the outcome; never raises (the daemon goes on)."""
        if reg.platforms and not ic.meta.platforms:
            ic.meta.platforms.append(host_platform())
        p = cls(reg, ic.config, ic.meta)
        t0 = time.perf_counter()
        try:
            p.instance = reg.init(ic)
        except Exception as exc:
            p.error = exc
        p.init_seconds = time.perf_counter() - t0
        return p

    @property
    def status(self) -> str:
        """``ok``, ``skip`` (init raised SkipPlugin) or ``error`` (anything else)."""
        if self.error is None:
            return "ok"
        return "skip" if isinstance(self.error, SkipPlugin) else "error"

    @property
    def error_message(self) -> str:
        """containerd's wording: a skipped plugin's message ends ``: skip plugin``."""
        if self.error is None:
            return ""
        msg = str(self.error) or type(self.error).__name__
        return f"{msg}: skip plugin" if self.status == "skip" else msg

    def __repr__(self) -> str:
        return f"<Plugin {self.registration.uri} {self.status}>"
