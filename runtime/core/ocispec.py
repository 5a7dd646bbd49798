"""OCI image-spec records shared across subsystems: descriptors, platforms, media types.

A **descriptor** points at content: what it is (media type), where (digest) and how big.
Everything in an image - index, manifest, config, layers - is reached through descriptors.

>>> d = Descriptor(MEDIA_TYPE_OCI_MANIFEST, "sha256:" + "a" * 64, 420)
>>> d
<Descriptor manifest sha256:aaaaaaaaaaaa 420B>
>>> Descriptor.from_json(d.to_json()) == d
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MEDIA_TYPE_DOCKER_CONFIG", "MEDIA_TYPE_DOCKER_LAYER", "MEDIA_TYPE_DOCKER_LAYER_FOREIGN",
    "MEDIA_TYPE_DOCKER_MANIFEST", "MEDIA_TYPE_DOCKER_MANIFEST_LIST", "MEDIA_TYPE_OCI_CONFIG",
    "MEDIA_TYPE_OCI_INDEX", "MEDIA_TYPE_OCI_LAYER", "MEDIA_TYPE_OCI_LAYER_GZIP",
    "MEDIA_TYPE_OCI_LAYER_ZSTD", "MEDIA_TYPE_OCI_MANIFEST", "Descriptor", "Platform",
]

MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_TYPE_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_TYPE_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_TYPE_DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

#: Sizes are Go int64s.
MAX_SIZE = 2**63 - 1

_SHORT = {
    MEDIA_TYPE_OCI_INDEX: "index", MEDIA_TYPE_DOCKER_MANIFEST_LIST: "index",
    MEDIA_TYPE_OCI_MANIFEST: "manifest", MEDIA_TYPE_DOCKER_MANIFEST: "manifest",
    MEDIA_TYPE_OCI_CONFIG: "config", MEDIA_TYPE_DOCKER_CONFIG: "config",
}


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]``, e.g. ``linux/amd64``."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/amd64``, ``linux/arm64/v8`` (no normalisation beyond ``aarch64``->``arm64``)."""
        parts = text.strip().split("/")
        arch = parts[1] if len(parts) > 1 else ""
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)
        return cls(parts[0], arch, parts[2] if len(parts) > 2 else "")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            d["variant"] = self.variant
        if self.os_version:
            d["os.version"] = self.os_version
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Platform:
        return cls(str(d.get("os", "")), str(d.get("architecture", "")), str(d.get("variant", "")),
                   str(d.get("os.version", "")))


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    platform: Platform | None = field(default=None, compare=False, hash=False)
    urls: tuple[str, ...] = field(default=(), compare=False, hash=False)

    def __repr__(self) -> str:
        kind = _SHORT.get(self.media_type) or ("layer" if "layer" in self.media_type
                                               or "rootfs" in self.media_type else self.media_type)
        return f"<Descriptor {kind} {self.digest[:19]} {self.size}B>"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform:
            d["platform"] = self.platform.to_json()
        if self.urls:
            d["urls"] = list(self.urls)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Descriptor:
        """From a JSON object; types are checked as Go's ``json.Unmarshal`` into ocispec's
        types checks them (InvalidArgument on a malformed descriptor): ``size`` is an int64,
        ``annotations`` strings, ``urls`` a list of strings, ``platform`` an object of strings.

        >>> Descriptor.from_json({"mediaType": "x", "digest": "sha256:" + "a" * 64, "size": 1, "urls": 5})
        Traceback (most recent call last):
        ...
        pyctrd.errdefs.InvalidArgument: descriptor urls must be a list of strings: invalid argument
        """
        from ..errdefs import InvalidArgument
        from .digest import validate

        if not isinstance(d, dict):
            raise InvalidArgument("descriptor must be a JSON object")
        mt, dg, size = d.get("mediaType", ""), d.get("digest"), d.get("size")
        if not isinstance(mt, str) or not isinstance(dg, str) or not isinstance(size, int) \
                or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
            raise InvalidArgument(f"malformed descriptor {d!r:.200}")
        # Go's encoding/json (containerd) refuses a value of the wrong type rather than
        # dropping it: a platform that is not an object must not turn into "any platform".
        ann = d.get("annotations")
        if ann is not None and not (isinstance(ann, dict) and all(isinstance(v, str) for v in ann.values())):
            raise InvalidArgument("descriptor annotations must be an object of strings")
        urls = d.get("urls")
        if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
            raise InvalidArgument("descriptor urls must be a list of strings")
        plat = d.get("platform")
        if plat is not None and not (isinstance(plat, dict) and all(
                isinstance(plat.get(k, ""), str) for k in ("os", "architecture", "variant", "os.version"))):
            raise InvalidArgument(f"descriptor platform must be an object of strings, got {plat!r:.80}")
        return cls(mt, validate(dg), size, dict(ann or {}), Platform.from_json(plat) if plat is not None else None,
                   tuple(urls or ()))
