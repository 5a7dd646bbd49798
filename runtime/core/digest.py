"""Content addresses: ``sha256:<64 hex>`` (OCI's go-digest, sha256 only).

>>> d = from_bytes(b"hello")
>>> d
'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'
>>> validate(d) == d
True
>>> validate("sha256:xyz")
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: invalid digest "sha256:xyz": invalid argument
>>> hex_of(d)[:8]
'2cf24dba'
"""
from __future__ import annotations

import hashlib
import re

from ..errdefs import InvalidArgument

__all__ = ["ALGORITHM", "from_bytes", "hex_of", "is_digest", "validate"]

ALGORITHM = "sha256"
_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_OTHER = re.compile(r"^(sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$")


def is_digest(s: str) -> bool:
    return bool(_RE.fullmatch(s))


def validate(s: str) -> str:
    """Return ``s`` if it is a sha256 digest; InvalidArgument otherwise (NotImplemented for sha512)."""
    if _RE.fullmatch(s):
        return s
    if _OTHER.fullmatch(s):
        from ..errdefs import NotImplemented as _NI

        raise _NI(f"digest algorithm of {s[:12]}… (only sha256)")
    raise InvalidArgument(f'invalid digest "{s}"')


def hex_of(digest: str) -> str:
    """The hex part of a validated digest (used for blob paths)."""
    return validate(digest).split(":", 1)[1]


def from_bytes(data: bytes) -> str:
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"
