"""Identifier rules shared by namespaces, containers, leases, snapshots' IDs and more.

containerd (``identifiers.Validate``) accepts letters and digits, joined by single ``.``,
``_`` or ``-``, at most 76 characters. Anything else is an :class:`~pyctrd.errdefs.InvalidArgument`.

>>> validate("default")
>>> validate("my-ns.v1")
>>> validate("../escape")
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: identifier "../escape" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument
"""
from __future__ import annotations

import re

from .errdefs import InvalidArgument

__all__ = ["MAX_LENGTH", "PATTERN", "validate"]

MAX_LENGTH = 76
PATTERN = r"^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$"
_RE = re.compile(PATTERN)


def validate(s: str) -> None:
    """Raise InvalidArgument unless ``s`` is a valid containerd identifier."""
    if not s:
        raise InvalidArgument("identifier must not be empty")
    if len(s) > MAX_LENGTH:
        raise InvalidArgument(f"identifier {s[:MAX_LENGTH]!r}... greater than maximum length ({MAX_LENGTH} characters)")
    if not _RE.fullmatch(s):
        raise InvalidArgument(f'identifier "{s}" must match {PATTERN}')
