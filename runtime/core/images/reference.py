"""Image references: docker's normalisation and containerd's ``locator[:tag][@digest]`` spec.

People type ``busybox``; registries and the image store need the full name. Docker's rules
(``reference/docker``) fill in the default domain, the ``library/`` namespace of official
images and the ``latest`` tag:

>>> str(parse_docker_ref("busybox"))
'docker.io/library/busybox:latest'
>>> str(parse_docker_ref("127.0.0.1:5000/x"))
'127.0.0.1:5000/x:latest'
>>> parse_docker_ref("docker.io/library/busybox:1.36").familiar
'busybox:1.36'
>>> parse_docker_ref("Busybox")
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: invalid reference format: repository name must be lowercase: invalid argument

containerd's own parser (:func:`parse_spec`) does not normalise; it only splits off the object:

>>> s = parse_spec("127.0.0.1:5000/busybox:latest")
>>> s.hostname, s.locator, s.object
('127.0.0.1:5000', '127.0.0.1:5000/busybox', 'latest')
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...errdefs import InvalidArgument
from ..digest import validate

__all__ = ["DEFAULT_DOMAIN", "NAME_TOTAL_LENGTH_MAX", "DockerReference", "Spec", "normalize", "parse_docker_ref", "parse_normalized",
           "parse_spec"]

DEFAULT_DOMAIN = "docker.io"
NAME_TOTAL_LENGTH_MAX = 255
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]*)"
_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_HEX64 = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class DockerReference:
    """A parsed, normalised reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar(self) -> str:
        """The short form docker prints (``busybox:latest``)."""
        name = self.name
        if self.domain == DEFAULT_DOMAIN:
            name = self.path[len("library/"):] if self.path.startswith("library/") and \
                self.path.count("/") == 1 else self.path
        return name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _parse(s: str, original: str) -> DockerReference:
    m = _REFERENCE.fullmatch(s)
    if not m:
        if _REFERENCE.fullmatch(s.lower()):
            raise InvalidArgument("invalid reference format: repository name must be lowercase")
        raise InvalidArgument(f"invalid reference format: {original!r:.300}")
    name, tag, digest = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest:
        digest = validate(digest)
    domain, _, path = name.partition("/")
    return DockerReference(domain, path, tag, digest)


def parse_normalized(s: str) -> DockerReference:
    """Docker's ParseNormalizedNamed: add ``docker.io`` and ``library/``, keep tag/digest as given.

    Raises:
        InvalidArgument: empty, uppercase, bad characters, a bare 64-hex id, name too long, bad digest.
        NotImplemented: a digest algorithm other than sha256.
    """
    if not s:
        raise InvalidArgument("invalid reference format: repository name must have at least one component")
    if _HEX64.fullmatch(s):
        raise InvalidArgument(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    i = s.find("/")
    first = s[:i]
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, rest = DEFAULT_DOMAIN, s
    else:
        domain, rest = first, s[i + 1:]
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = "library/" + rest
    remote = re.split(r"[:@]", rest, maxsplit=1)[0]
    if remote.lower() != remote:
        raise InvalidArgument("invalid reference format: repository name must be lowercase")
    return _parse(f"{domain}/{rest}", s)


def parse_docker_ref(s: str) -> DockerReference:
    """Docker's ParseDockerRef: normalise, drop a tag next to a digest, default the tag to latest.

    Raises:
        InvalidArgument: as :func:`parse_normalized`.
    """
    ref = parse_normalized(s)
    if ref.digest:
        return DockerReference(ref.domain, ref.path, "", ref.digest)
    return ref if ref.tag else DockerReference(ref.domain, ref.path, "latest")


def normalize(s: str) -> str:
    """``parse_docker_ref(s)`` as a string: what the image store names an image."""
    return str(parse_docker_ref(s))


@dataclass(frozen=True)
class Spec:
    """containerd's reference: a locator (``host/path``) and an object (tag, ``@digest`` or both)."""

    locator: str
    object: str = ""

    @property
    def hostname(self) -> str:
        return self.locator.split("/", 1)[0]

    @property
    def repository(self) -> str:
        return self.locator.partition("/")[2]

    @property
    def digest(self) -> str:
        return self.object.partition("@")[2]

    @property
    def tag(self) -> str:
        return self.object.partition("@")[0]

    def __str__(self) -> str:
        if not self.object:
            return self.locator
        return self.locator + (self.object if self.object.startswith("@") else f":{self.object}")


def parse_spec(s: str) -> Spec:
    """Split ``host/path[:tag][@digest]`` without normalising (containerd's reference.Parse).

    Raises:
        InvalidArgument: a URL scheme, no hostname, or characters a URL cannot hold.
    """
    if "://" in s:
        raise InvalidArgument(f"invalid reference {s!r:.200}")
    try:
        u = urlsplit("dummy://" + s)
        host = u.netloc
    except ValueError as exc:
        raise InvalidArgument(f"invalid reference {s!r:.200}: {exc}") from None
    if not host or u.query or u.fragment or "@" in host or any(c.isspace() for c in s):
        raise InvalidArgument(f"hostname required in reference {s!r:.200}" if not host
                              else f"invalid reference {s!r:.200}")
    path, obj = u.path, ""
    m = re.search(r"[:@]", path)
    if m:
        obj = path[m.start():]
        obj = obj.removeprefix(":")
        path = path[:m.start()]
    locator = host + re.sub(r"/+", "/", path).rstrip("/")
    return Spec(locator, obj)
