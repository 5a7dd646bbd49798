"""Platform matching, as containerd's ``platforms`` package does it.

A pull picks one manifest out of an index. ``default()`` matches this host (linux/amd64 also
accepts linux/386, arm64 also accepts arm/v8..v5, in that order of preference);
``only_strict()`` is ``--platform`` on import; ``ALL`` is ``--all-platforms``.

>>> parse("linux/aarch64")
Platform(os='linux', architecture='arm64', variant='', os_version='')
>>> m = only(parse("linux/amd64"))
>>> m.match(Platform("linux", "386")), m.match(Platform("linux", "arm64"))
(True, False)
>>> m.less(Platform("linux", "amd64"), Platform("linux", "386"))
True
"""
from __future__ import annotations

import platform as _host
import re
from collections.abc import Sequence
from typing import Protocol

from ...errdefs import InvalidArgument
from ..ocispec import Platform

__all__ = ["ALL", "MatchComparer", "default", "default_platform", "format", "normalize",
           "only", "only_strict", "ordered", "parse"]

_KNOWN_OS = {"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
             "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos"}
_KNOWN_ARCH = {"386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64",
               "ppc64le", "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32",
               "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm"}
_COMPONENT = re.compile(r"^[A-Za-z0-9_-]+$")


def _norm_arch(arch: str, variant: str) -> tuple[str, str]:
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        return "arm64", "" if variant in ("8", "v8") else variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        if variant in ("5", "6", "8"):
            return "arm", "v" + variant
    return arch, variant


def normalize(p: Platform) -> Platform:
    """Canonical spelling (``x86_64`` -> ``amd64``, empty OS -> ``linux``)."""
    os_ = (p.os or "linux").lower()
    os_ = "darwin" if os_ == "macos" else os_
    arch, variant = _norm_arch(p.architecture, p.variant)
    return Platform(os_, arch, variant, p.os_version)


def default_platform() -> Platform:
    """This host: ``linux/<arch>``."""
    return normalize(Platform("linux", _host.machine()))


def parse(spec: str) -> Platform:
    """Parse ``os[/arch[/variant]]`` or just an arch, as ``--platform`` takes it.

    Raises:
        InvalidArgument: wildcards, bad characters, unknown single component, too many parts.
    """
    if "*" in spec:
        raise InvalidArgument(f"{spec!r}: wildcards not yet supported")
    parts = spec.split("/")
    for part in parts:
        if not _COMPONENT.fullmatch(part):
            raise InvalidArgument(f"{part!r} is an invalid component of {spec!r}")
    if len(parts) == 1:
        os_ = normalize(Platform(parts[0], "")).os
        if os_ in _KNOWN_OS:
            return Platform(os_, default_platform().architecture)
        arch, variant = _norm_arch(parts[0], "")
        if arch == "arm" and variant == "v7":
            variant = ""
        if arch in _KNOWN_ARCH:
            return Platform("linux", arch, variant)
        raise InvalidArgument(f"{spec!r}: unknown operating system or architecture")
    if len(parts) == 2:
        arch, variant = _norm_arch(parts[1], "")
        return Platform(normalize(Platform(parts[0], "")).os, arch,
                        "" if (arch, variant) == ("arm", "v7") else variant)
    if len(parts) == 3:
        arch, variant = _norm_arch(parts[1], parts[2])
        return Platform(normalize(Platform(parts[0], "")).os, arch,
                        "v8" if arch == "arm64" and not variant else variant)
    raise InvalidArgument(f"{spec!r}: cannot parse platform specifier")


def format(p: Platform) -> str:
    return str(p) if p.os else "unknown"


class MatchComparer(Protocol):
    """Decides which platforms are acceptable and which is preferred."""

    def match(self, p: Platform) -> bool: ...

    def less(self, a: Platform, b: Platform) -> bool:
        """True if ``a`` is preferred to ``b``."""


def _same(want: Platform, p: Platform) -> bool:
    n = normalize(p)
    return (want.os, want.architecture, want.variant) == (n.os, n.architecture, n.variant)


class _Ordered:
    def __init__(self, platforms: Sequence[Platform]) -> None:
        self.platforms = [normalize(p) for p in platforms]

    def __repr__(self) -> str:
        return f"<platforms {', '.join(map(str, self.platforms))}>"

    def match(self, p: Platform) -> bool:
        return any(_same(w, p) for w in self.platforms)

    def less(self, a: Platform, b: Platform) -> bool:
        for w in self.platforms:
            am, bm = _same(w, a), _same(w, b)
            if am and not bm:
                return True
            if am or bm:
                return False
        return False


class _All:
    def __repr__(self) -> str:
        return "<platforms all>"

    def match(self, p: Platform) -> bool:
        return True

    def less(self, a: Platform, b: Platform) -> bool:
        return False


#: Matches every platform (``--all-platforms``).
ALL: MatchComparer = _All()


def ordered(*platforms: Platform) -> MatchComparer:
    return _Ordered(platforms)


def _vector(p: Platform) -> list[Platform]:
    out = [p]
    if p.architecture == "amd64":
        if p.variant.startswith("v") and p.variant[1:].isdigit():
            lower = range(int(p.variant[1:]) - 1, 0, -1)
            out += [Platform(p.os, "amd64", f"v{v}" if v > 1 else "") for v in lower]
        out.append(Platform(p.os, "386"))
    elif p.architecture == "arm" and p.variant[1:].isdigit() and int(p.variant[1:]) > 5:
        out += [Platform(p.os, "arm", f"v{v}") for v in range(int(p.variant[1:]) - 1, 4, -1)]
    elif p.architecture == "arm64":
        out += _vector(Platform(p.os, "arm", p.variant or "v8"))
    return out


def only(p: Platform) -> MatchComparer:
    """``p`` and what it can also run (amd64 runs 386), best first."""
    return _Ordered(_vector(normalize(p)))


def only_strict(p: Platform) -> MatchComparer:
    return _Ordered([normalize(p)])


def default() -> MatchComparer:
    """What a pull picks when no ``--platform`` is given."""
    return only(default_platform())
