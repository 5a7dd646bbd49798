"""Label rules (containerd's ``labels.Validate``): key and value together at most 4096 bytes.

>>> validate("a", "b")
>>> validate("k", "v" * 5000)
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: label key and value greater than maximum size (4096 bytes), key: k: invalid argument
"""
from __future__ import annotations

from collections.abc import Mapping

from ..errdefs import InvalidArgument

__all__ = ["MAX_SIZE", "validate", "validate_all"]

MAX_SIZE = 4096


def validate(key: str, value: str) -> None:
    if len(key.encode()) + len(value.encode()) > MAX_SIZE:
        raise InvalidArgument(f"label key and value greater than maximum size ({MAX_SIZE} bytes), "
                              f"key: {key[:64]}")


def validate_all(labels: Mapping[str, str]) -> None:
    for k, v in labels.items():
        validate(k, v)
