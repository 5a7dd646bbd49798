"""A repository on a registry and the hosts to reach it: what fetchers and pushers share."""
from __future__ import annotations

from dataclasses import dataclass

from ...core.images.reference import Spec
from .hosts import RegistryHost
from .transport import Transport

__all__ = ["RepositoryBase"]


@dataclass
class RepositoryBase:
    """One repository on one registry, with the hosts to try for it."""

    spec: Spec
    hosts: list[RegistryHost]
    transport: Transport

    @property
    def repository(self) -> str:
        return self.spec.repository

    def scopes(self, push: bool = False) -> list[str]:
        return [f"repository:{self.repository}:{'pull,push' if push else 'pull'}"]

    def with_caps(self, *caps: str) -> list[RegistryHost]:
        return [h for h in self.hosts if h.can(*caps)]

    def path(self, host: RegistryHost, *parts: str) -> str:
        """``/<repo>/<parts>``, with ``?ns=<registry>`` when ``host`` is a mirror (containerd's
        ``addNamespace``, so one mirror can serve several registries)."""
        p = "/" + "/".join((self.repository, *parts))
        ref_host = self.spec.hostname
        docker_hub = ref_host == "docker.io" and host.host == "registry-1.docker.io"
        proxy = ref_host != host.host and not docker_hub
        return p + (f"?ns={ref_host}" if proxy else "")
