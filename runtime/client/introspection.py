"""Client side of version and introspection: which daemon, which plugins."""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import grpc
from google.protobuf import empty_pb2

from .._api.containerd.api.services.introspection.v1 import introspection_pb2, introspection_pb2_grpc
from .._api.containerd.api.services.version.v1 import version_pb2_grpc
from .connection import Connection

__all__ = ["IntrospectionClient", "PluginInfo", "VersionInfo"]

SKIP_MARK = "skip plugin"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    revision: str
    uuid: str = ""

    def __repr__(self) -> str:
        return f"<Server {self.version} rev={self.revision} uuid={self.uuid[:8]}>"


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as the daemon reports it (``ctr plugins ls -d``)."""

    type: str
    id: str
    requires: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    exports: dict[str, str] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    error_code: int | None = None
    error: str = ""

    @property
    def uri(self) -> str:
        return f"{self.type}.{self.id}"

    @property
    def status(self) -> str:
        """As ctr decides it: no init error = ok; an error mentioning "skip plugin" = skip."""
        if self.error_code is None:
            return "ok"
        return "skip" if SKIP_MARK in self.error else "error"

    @property
    def error_code_name(self) -> str:
        if self.error_code is None:
            return ""
        for c in grpc.StatusCode:
            if c.value[0] == self.error_code:
                return "".join(w.capitalize() for w in c.name.split("_"))
        return str(self.error_code)

    def __repr__(self) -> str:
        return f"<Plugin {self.uri} {self.status}>"

    def _repr_html_(self) -> str:
        colour = {"ok": "#2e7d32", "skip": "#9e9e9e", "error": "#c62828"}[self.status]
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(v)}</code></td></tr>"
                       for k, v in self.exports.items())
        err = f"<div><b>error:</b> {html.escape(self.error)}</div>" if self.error else ""
        return (f"<div><b>{html.escape(self.type)}</b> <code>{html.escape(self.id)}</code> "
                f"<span style='color:{colour}'>{self.status}</span>{err}"
                f"{'<table>' + rows + '</table>' if rows else ''}</div>")

    @classmethod
    def from_proto(cls, p: introspection_pb2.Plugin) -> PluginInfo:
        plats = tuple("/".join(x for x in (q.os, q.architecture, q.variant) if x) for q in p.platforms)
        has_err = p.HasField("init_err")
        return cls(p.type, p.id, tuple(p.requires), plats, dict(p.exports), tuple(p.capabilities),
                   p.init_err.code if has_err else None, p.init_err.message if has_err else "")


class IntrospectionClient:
    def __init__(self, conn: Connection) -> None:
        self._intro = conn.stub(introspection_pb2_grpc.IntrospectionStub)
        self._version = conn.stub(version_pb2_grpc.VersionStub)

    def version(self) -> VersionInfo:
        v = self._version.Version(empty_pb2.Empty())
        uuid = self._intro.Server(empty_pb2.Empty()).uuid
        return VersionInfo(v.version, v.revision, uuid)

    def plugins(self, *filters: str) -> list[PluginInfo]:
        resp = self._intro.Plugins(introspection_pb2.PluginsRequest(filters=list(filters)))
        return [PluginInfo.from_proto(p) for p in resp.plugins]
