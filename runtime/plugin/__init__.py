"""The plugin model: containerd's, in Python.

Everything in the daemon is a plugin. Each one has a **type** (what it is, e.g.
``io.containerd.snapshotter.v1``), an **ID** (which one, e.g. ``overlayfs``), the types it
**requires**, a default **config**, and an **init** function. The daemon sorts registrations
so that requirements come first (:meth:`Registry.graph`), calls each init with an
:class:`InitContext`, and records a :class:`Plugin` with status ``ok``, ``skip`` or ``error``.
It carries on after a failure unless the plugin is in ``required_plugins``.
"""
from . import types
from .context import InitContext, Meta, Plugin, PluginSet, host_platform
from .registration import Registration, SkipPlugin
from .registry import REGISTRY, DependencyCycle, Registry, register

__all__ = [
    "REGISTRY", "DependencyCycle", "InitContext", "Meta", "Plugin", "PluginSet", "Registration",
    "Registry", "SkipPlugin", "host_platform", "register", "types",
]
