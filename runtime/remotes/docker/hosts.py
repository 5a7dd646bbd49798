"""Which servers to ask for an image, in what order, and how to talk to each.

A reference names a registry (``docker.io``, ``127.0.0.1:5000``), but the bytes may come from
mirrors first. containerd reads this from a **hosts directory** (``config_path``)::

    <config_path>/docker.io/hosts.toml        # or 127.0.0.1_5000_/ for a host with a port
    <config_path>/_default/hosts.toml         # for every registry without its own directory

    server = "https://registry-1.docker.io"   # the upstream, tried last
    [host."http://127.0.0.1:5001"]            # mirrors, tried first, in file order
      capabilities = ["pull", "resolve"]
      skip_verify = true
      ca = "ca.crt"                            # relative to the directory
      header = {X-Trace = "1"}
      override_path = false                    # true: the URL path is the API root, no /v2

or from the older CRI setting ``registry.mirrors."docker.io".endpoint = [...]`` (see
:func:`hosts_from_mirrors`). Localhost registries default to plain HTTP, everything else to
HTTPS with certificate verification on.

>>> hosts = configure_hosts(HostOptions())("127.0.0.1:5000")
>>> hosts
[<RegistryHost http://127.0.0.1:5000/v2 pull,resolve,push>]
>>> configure_hosts(HostOptions())("docker.io")[0].url("/library/busybox")
'https://registry-1.docker.io/v2/library/busybox'
"""
from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ...errdefs import InvalidArgument

__all__ = ["ALL_CAPABILITIES", "PULL", "PUSH", "RESOLVE", "HostOptions", "RegistryHost", "RegistryHosts", "configure_hosts",
           "host_dir", "hosts_from_mirrors", "is_localhost", "parse_hosts_toml"]

PULL, RESOLVE, PUSH = "pull", "resolve", "push"
ALL_CAPABILITIES = frozenset({PULL, RESOLVE, PUSH})


@dataclass(frozen=True)
class RegistryHost:
    """One server that can answer registry API calls for a reference's registry."""

    host: str
    scheme: str = "https"
    path: str = "/v2"
    capabilities: frozenset[str] = ALL_CAPABILITIES
    headers: tuple[tuple[str, str], ...] = ()
    skip_verify: bool | None = None
    ca: tuple[str, ...] = ()
    client_certs: tuple[tuple[str, str], ...] = ()

    def url(self, path: str = "") -> str:
        return f"{self.scheme}://{self.host}{self.path}{path}"

    def can(self, *caps: str) -> bool:
        return set(caps) <= self.capabilities

    def __repr__(self) -> str:
        caps = ",".join(c for c in (PULL, RESOLVE, PUSH) if c in self.capabilities)
        tls = " insecure" if self.skip_verify and self.scheme == "https" else ""
        return f"<RegistryHost {self.url()} {caps}{tls}>"


RegistryHosts = Callable[[str], list[RegistryHost]]


@dataclass
class HostOptions:
    """How :func:`configure_hosts` finds the hosts for a registry name."""

    #: containerd's ``config_path``: a directory of ``<host>/hosts.toml``.
    config_path: str | None = None
    #: CRI-style mirrors: ``{"docker.io": ["https://mirror.example"], "*": [...]}``.
    mirrors: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: ``http`` for ``--plain-http``; empty means https (plain http for localhost).
    default_scheme: str = ""
    #: ``--skip-verify``: do not verify TLS certificates of hosts that do not say otherwise.
    skip_verify: bool = False


def is_localhost(host: str) -> bool:
    """``localhost`` or a loopback IP, with or without a port."""
    name = urlsplit("//" + host).hostname or host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_dir_names(host: str) -> list[str]:
    names = []
    if ":" in host and not host.endswith("]"):
        i = host.rindex(":")
        names.append(f"{host[:i]}_{host[i + 1:]}_")
    return [*names, host, "_default"]


def host_dir(config_path: str, host: str) -> str | None:
    """The directory configuring ``host`` (``host_port_``, ``host``, then ``_default``), or None."""
    for name in _host_dir_names(host):
        d = os.path.join(config_path, name)
        if os.path.isdir(d):
            return d
    return None


def _strings(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidArgument(f"invalid type {type(value).__name__} for {what!r}")


def _parse_server(server: str) -> tuple[str, str, str]:
    if "://" in server and not server.startswith(("http://", "https://")):
        raise InvalidArgument(f"unable to parse server {server.split('://')[0]}://…: only http and https")
    u = urlsplit(server if server.startswith("http") else "https://" + server)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise InvalidArgument(f"unable to parse server {server!r:.200}")
    if u.username or u.password:
        # never echo the URL: it holds a secret
        raise InvalidArgument(f"server for {u.hostname}: credentials in URLs are not supported")
    host = u.netloc
    return u.scheme, host, u.path


def _host_config(server: str, base_dir: str, cfg: Mapping[str, Any]) -> RegistryHost:
    scheme, host, path = ("", "", "")
    if server:
        scheme, host, path = _parse_server(server)
        override = cfg.get("override_path", False)
        if not isinstance(override, bool):
            raise InvalidArgument("override_path must be a boolean")
        path = os.path.normpath(path) if path else ""
        if not override and not path.endswith("/v2"):
            path = (path.rstrip("/") if path != "/" else "") + "/v2"
    caps = ALL_CAPABILITIES
    if "capabilities" in cfg:
        names = [c.lower() for c in _strings(cfg["capabilities"], "capabilities")]
        unknown = [c for c in names if c not in ALL_CAPABILITIES]
        if unknown:
            raise InvalidArgument(f"unknown capability {unknown[0]!r}")
        caps = frozenset(names) or ALL_CAPABILITIES
    skip = cfg.get("skip_verify")
    if skip is not None and not isinstance(skip, bool):
        raise InvalidArgument("skip_verify must be a boolean")
    ca = tuple(os.path.join(base_dir, p) for p in _strings(cfg["ca"], "ca")) if "ca" in cfg else ()
    clients: list[tuple[str, str]] = []
    for item in ([cfg["client"]] if isinstance(cfg.get("client"), str) else cfg.get("client", [])):
        pair = _strings(item, "client")
        if len(pair) not in (1, 2):
            raise InvalidArgument(f"invalid pair {pair!r} for 'client'")
        key = os.path.join(base_dir, pair[1]) if len(pair) == 2 else ""
        clients.append((os.path.join(base_dir, pair[0]), key))
    headers: list[tuple[str, str]] = []
    hdr = cfg.get("header", {})
    if not isinstance(hdr, dict):
        raise InvalidArgument("header must be a table")
    for key, value in hdr.items():
        headers += [(key, v) for v in _strings(value, f"header {key}")]
    return RegistryHost(host, scheme or "https", path or "/v2", caps, tuple(headers), skip, ca,
                        tuple(clients))


def parse_hosts_toml(text: str, base_dir: str = "") -> list[RegistryHost]:
    """The hosts a ``hosts.toml`` lists: mirrors in file order, then ``server`` (``host=""`` if
    absent: the caller fills in the registry's default).

    Raises:
        InvalidArgument: not TOML, or a field of the wrong type / an unknown capability.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"failed to parse hosts.toml in {base_dir or '.'}: {exc}") from None
    mirrors = doc.get("host", {})
    if not isinstance(mirrors, dict) or not all(isinstance(v, dict) for v in mirrors.values()):
        raise InvalidArgument("invalid `host` tree in hosts.toml")
    server = doc.get("server", "")
    if not isinstance(server, str):
        raise InvalidArgument("server must be a string")
    out = [_host_config(name, base_dir, cfg) for name, cfg in mirrors.items()]
    top = _host_config(server, base_dir, doc)
    return [*out, top if server else replace(top, host="")]


def _load_dir(d: str) -> list[RegistryHost]:
    path = os.path.join(d, "hosts.toml")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if text.strip():
            return parse_hosts_toml(text, d)
    # no hosts.toml: the directory may hold docker-style certs (*.crt CAs, *.cert/*.key pairs)
    names = sorted(os.listdir(d))
    ca = tuple(os.path.join(d, n) for n in names if n.endswith(".crt"))
    pairs = tuple((os.path.join(d, n), os.path.join(d, n[:-5] + ".key") if n[:-5] + ".key" in names else "")
                  for n in names if n.endswith(".cert"))
    return [RegistryHost("", ca=ca, client_certs=pairs)]


def hosts_from_mirrors(host: str, mirrors: Mapping[str, Sequence[str]]) -> list[RegistryHost]:
    """CRI's ``registry.mirrors``: endpoints for ``host`` (or ``"*"``), upstream last (``host=""``).

    Raises:
        InvalidArgument: an endpoint that is not an http(s) URL.
    """
    out = []
    for endpoint in mirrors.get(host) or mirrors.get("*") or ():
        scheme, netloc, path = _parse_server(endpoint)
        out.append(RegistryHost(netloc, scheme, path.rstrip("/") or "/v2", frozenset({PULL, RESOLVE})))
    return [*out, RegistryHost("")]


def configure_hosts(options: HostOptions) -> RegistryHosts:
    """A function from registry name to the hosts to try, in order (containerd's ConfigureHosts).

    The returned function raises InvalidArgument for a broken hosts.toml.
    """

    def hosts(name: str) -> list[RegistryHost]:
        found: list[RegistryHost] = []
        d = host_dir(options.config_path, name) if options.config_path else None
        if d:
            found = _load_dir(d)
        elif options.mirrors:
            found = hosts_from_mirrors(name, options.mirrors)
        if not found:
            found = [RegistryHost("")]
        out = []
        for h in found:
            if not h.host:
                h = _default_upstream(name, h, options.default_scheme)
            if h.skip_verify is None and options.skip_verify:
                h = replace(h, skip_verify=True)
            out.append(h)
        # collapse an upstream listed twice (a mirror entry equal to the default)
        seen, unique = set(), []
        for h in out:
            if (h.scheme, h.host, h.path) not in seen:
                seen.add((h.scheme, h.host, h.path))
                unique.append(h)
        return unique

    return hosts


def _default_upstream(name: str, h: RegistryHost, default_scheme: str) -> RegistryHost:
    if name == "docker.io":
        return replace(h, host="registry-1.docker.io", scheme="https", path="/v2")
    if is_localhost(name) and default_scheme in ("", "http"):
        return replace(h, host=name, scheme="http", path="/v2", skip_verify=True)
    return replace(h, host=name, scheme=default_scheme or "https", path="/v2")
