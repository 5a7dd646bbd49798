"""The daemon's config: containerd's version-2 TOML schema, field by field.

``pyctrd config default`` prints this (plus every plugin's section); a config file overrides
any part of it. Paths default to pyctrd's own (``/var/lib/pyctrd``, ``/run/pyctrd``), never
containerd's, so both can run side by side on one machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fields import Duration, setting

__all__ = [
    "DEFAULT_ADDRESS", "DEFAULT_ROOT", "DEFAULT_STATE", "CgroupConfig", "Config", "DebugConfig",
    "GRPCConfig", "MetricsConfig", "TTRPCConfig",
]

DEFAULT_ROOT = "/var/lib/pyctrd"
DEFAULT_STATE = "/run/pyctrd"
DEFAULT_ADDRESS = "/run/pyctrd/pyctrd.sock"
DEFAULT_MAX_MSG = 16 << 20


@dataclass
class GRPCConfig:
    address: str = setting(DEFAULT_ADDRESS, "Unix socket the gRPC API is served on")
    tcp_address: str = setting("", "TCP address to serve gRPC on as well (not supported: must be empty)")
    tcp_tls_ca: str = setting("", "CA for the TCP listener (unused)")
    tcp_tls_cert: str = setting("", "Certificate for the TCP listener (unused)")
    tcp_tls_key: str = setting("", "Key for the TCP listener (unused)")
    uid: int = setting(0, "Owner of the socket")
    gid: int = setting(0, "Group of the socket (members may connect: mode 0660)")
    max_recv_message_size: int = setting(DEFAULT_MAX_MSG, "Largest message the server accepts, bytes")
    max_send_message_size: int = setting(DEFAULT_MAX_MSG, "Largest message the server sends, bytes")


@dataclass
class TTRPCConfig:
    address: str = setting("", "ttrpc socket for shims; empty means <grpc address>.ttrpc")
    uid: int = setting(0, "Owner of the ttrpc socket")
    gid: int = setting(0, "Group of the ttrpc socket")


@dataclass
class DebugConfig:
    address: str = setting("", "Debug socket (not served by pyctrd)")
    uid: int = setting(0, "Owner of the debug socket")
    gid: int = setting(0, "Group of the debug socket")
    level: str = setting("", "Log level: trace, debug, info, warn, error (empty: info)")
    format: str = setting("", "Log format: text or json (empty: text)")


@dataclass
class MetricsConfig:
    address: str = setting("", "host:port for Prometheus metrics over HTTP; empty disables")
    grpc_histogram: bool = setting(False, "Also export gRPC latency histograms")


@dataclass
class CgroupConfig:
    path: str = setting("", "cgroup the daemon moves itself into; empty leaves it where it is")


def _timeouts() -> dict[str, str]:
    return {
        "io.containerd.timeout.bolt.open": "0s",
        "io.containerd.timeout.shim.cleanup": "5s",
        "io.containerd.timeout.shim.load": "5s",
        "io.containerd.timeout.shim.shutdown": "3s",
        "io.containerd.timeout.task.state": "2s",
    }


@dataclass
class Config:
    """The whole daemon config. ``plugins`` holds raw per-plugin tables until they are merged."""

    version: int = setting(2, "Config schema version; pyctrd reads version 2 (containerd 1.5+)")
    root: str = setting(DEFAULT_ROOT, "Persistent data: one directory per plugin, <root>/<type>.<id>")
    state: str = setting(DEFAULT_STATE, "Runtime data (sockets, bundles): one directory per plugin")
    temp: str = setting("", "Temporary files; empty means the system default")
    plugin_dir: str = setting("", "External plugins (not supported: must be empty)")
    oom_score: int = setting(0, "Written to /proc/self/oom_score_adj; -999 keeps the daemon alive")
    imports: list[str] = setting([], "Other config files merged into this one")
    disabled_plugins: list[str] = setting([], "Plugin URIs (<type>.<id>) or IDs left out of the graph")
    required_plugins: list[str] = setting([], "Plugin URIs that must initialise ok or the daemon exits")
    grpc: GRPCConfig = field(default_factory=GRPCConfig, metadata={"doc": "The gRPC API socket."})
    ttrpc: TTRPCConfig = field(default_factory=TTRPCConfig, metadata={"doc": "The ttrpc socket for shims."})
    debug: DebugConfig = field(default_factory=DebugConfig, metadata={"doc": "Logging."})
    metrics: MetricsConfig = field(default_factory=MetricsConfig, metadata={"doc": "Prometheus metrics."})
    cgroup: CgroupConfig = field(default_factory=CgroupConfig, metadata={"doc": "The daemon's cgroup."})
    timeouts: dict[str, str] = setting(_timeouts(), "Named timeouts (Go durations)")
    plugins: dict[str, Any] = setting({}, "Per-plugin config: [plugins.\"<type>.<id>\"]")
    proxy_plugins: dict[str, Any] = setting({}, "External plugins over gRPC (not supported)")
    stream_processors: dict[str, Any] = setting({}, "Stream processors (not supported)")

    @property
    def ttrpc_address(self) -> str:
        return self.ttrpc.address or self.grpc.address + ".ttrpc"

    def timeout(self, name: str, default: float) -> float:
        v = self.timeouts.get(name)
        return Duration(v).seconds if v is not None else default
