"""What a plugin *is* before it runs: a :class:`Registration`.

A registration is a frozen record, the Python twin of containerd's ``plugin.Registration``::

    register(Registration(
        type=types.SNAPSHOT, id="native",
        config=NativeConfig(),          # defaults; [plugins."io.containerd.snapshotter.v1.native"]
        init=init,                      # init(ic: InitContext) -> the snapshotter
    ))

Its ``uri`` (``<type>.<id>``) names its config section and its directories
``<root>/<uri>`` and ``<state>/<uri>``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errdefs import InvalidArgument
from . import types

if TYPE_CHECKING:
    from .context import InitContext

__all__ = ["Registration", "SkipPlugin"]


class SkipPlugin(Exception):
    """Raised by an init function when the plugin cannot run *here*, for a real reason.

    The plugin's status becomes ``skip`` (not ``error``): e.g. btrfs when the root is not
    on btrfs. The message is kept and shown by ``plugins ls -d``.
    """


@dataclass(frozen=True)
class Registration:
    """A plugin's identity, dependencies, default config and init function.

    Attributes:
        type: containerd's type string, e.g. ``io.containerd.snapshotter.v1``.
        id: unique within the type, e.g. ``overlayfs``.
        init: called once, in dependency order, with an InitContext; returns the instance.
        requires: types this plugin needs initialised first (``"*"``: all other plugins).
        config: a dataclass instance holding the default config, or None.
        platforms: whether to report this machine's platform (containerd does for
            snapshotters, differs and runtimes).
        doc: one line for ``plugins ls -d`` and the plugin graph.
    """

    type: str
    id: str
    init: Callable[[InitContext], Any]
    requires: tuple[str, ...] = ()
    config: Any = None
    platforms: bool = False
    doc: str = ""
    order: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not self.type:
            raise InvalidArgument("plugin: no type")
        if not self.id:
            raise InvalidArgument(f"plugin {self.type}: no id")
        if isinstance(self.requires, (list, str)):
            object.__setattr__(self, "requires", tuple([self.requires] if isinstance(self.requires, str)
                                                       else self.requires))
        if self.type in self.requires:
            raise InvalidArgument(f"plugin {self.uri} requires its own type {self.type}")
        if types.ALL in self.requires and len(self.requires) > 1:
            raise InvalidArgument(f'plugin {self.uri}: "*" cannot be combined with other requirements')
        if self.config is not None and not dataclasses.is_dataclass(self.config):
            raise InvalidArgument(f"plugin {self.uri}: config must be a dataclass instance")

    @property
    def uri(self) -> str:
        """``<type>.<id>``: the config section name and the directory name."""
        return f"{self.type}.{self.id}"

    def __repr__(self) -> str:
        req = f" requires={','.join(self.requires)}" if self.requires else ""
        return f"<Registration {self.uri}{req}>"
