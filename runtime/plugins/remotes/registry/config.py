"""Which registry hosts a pull through this daemon uses: a hosts directory and CRI-style mirrors.

containerd keeps this in the CRI plugin's section (``[plugins."io.containerd.grpc.v1.cri".
registry]``), so only CRI pulls see it and ``ctr`` needs ``--hosts-dir``. pyctrd has no CRI:
its section is a plugin of its own, and every client of the daemon sees it (a containerd 1.x
config's CRI ``registry.config_path``/``registry.mirrors`` are read into it too, under this
section: see :mod:`pyctrd.daemon.cri_config`)::

    [plugins."io.containerd.internal.v1.registry"]
      config_path = "/etc/pyctrd/certs.d"        # <config_path>/<host>/hosts.toml, as containerd

      [plugins."io.containerd.internal.v1.registry".mirrors."docker.io"]
        endpoint = ["https://mirror.example.com"]  # tried before the registry itself

The plugin publishes the effective values in its introspection exports (``config_path``;
``mirrors`` as JSON), which is how ``pyctr images pull`` (and :meth:`pyctrd.client.Client.pull`)
finds them; ``--hosts-dir`` overrides them. The hosts files are read by the client, on the
machine where it runs - the same machine as the daemon, for a unix socket.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ....config import setting
from ....errdefs import InvalidArgument
from ....remotes.docker.hosts import HostOptions, hosts_from_mirrors

__all__ = ["RegistryConfig", "exports", "host_options", "parse_mirrors"]


@dataclass
class RegistryConfig:
    """``[plugins."io.containerd.internal.v1.registry"]``."""

    config_path: str = setting("", "Directory of <host>/hosts.toml files (containerd's hosts "
                                    "directory); empty: none")
    mirrors: dict[str, Any] = setting({}, "CRI-style mirrors: registry name (or \"*\") -> "
                                          "{endpoint = [URL, ...]}, tried before the registry")


def parse_mirrors(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{"docker.io": {"endpoint": [...]}}`` (CRI) or ``{"docker.io": [...]}`` -> name -> URLs.

    >>> parse_mirrors({"docker.io": {"endpoint": ["https://m.example"]}})
    {'docker.io': ['https://m.example']}
    >>> parse_mirrors({"docker.io": {"endpoint": ["ftp://m"]}})
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: unable to parse server ftp://…: only http and https: invalid argument

    Raises:
        InvalidArgument: a malformed entry or an endpoint that is not an http(s) URL.
    """
    out: dict[str, list[str]] = {}
    for name, value in raw.items():
        endpoints = value.get("endpoint", []) if isinstance(value, dict) else value
        if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
            raise InvalidArgument(f"mirrors.{name}: expected endpoint = [URL, ...]")
        hosts_from_mirrors(name, {name: endpoints})  # validates each URL
        out[str(name)] = list(endpoints)
    return out


def exports(cfg: RegistryConfig) -> dict[str, str]:
    """What the plugin publishes for clients (introspection exports are strings)."""
    return {"config_path": cfg.config_path, "mirrors": json.dumps(parse_mirrors(cfg.mirrors), sort_keys=True)}


def host_options(exported: Mapping[str, str] | None, *, hosts_dir: str | None = None) -> HostOptions:
    """The :class:`~pyctrd.remotes.docker.HostOptions` a client pulls with.

    ``hosts_dir`` (``--hosts-dir``) replaces the daemon's configuration; without it, the
    daemon's exports are used; a daemon without the plugin (containerd) gives the defaults.

    >>> host_options({"config_path": "/etc/h", "mirrors": '{"docker.io": ["https://m"]}'})
    HostOptions(config_path='/etc/h', mirrors={'docker.io': ['https://m']}, default_scheme='', skip_verify=False)
    >>> host_options({"config_path": "/etc/h"}, hosts_dir="/tmp/h").config_path
    '/tmp/h'
    """
    if hosts_dir:
        return HostOptions(config_path=hosts_dir)
    if not exported:
        return HostOptions()
    try:
        mirrors = json.loads(exported.get("mirrors") or "{}")
    except ValueError:
        raise InvalidArgument("the daemon's registry mirrors export is not JSON") from None
    return HostOptions(config_path=exported.get("config_path") or None, mirrors=parse_mirrors(mirrors))
