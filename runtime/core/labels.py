"""Label rules (containerd's ``labels.Validate``): key and value together at most 4096 bytes.

>>> validate("a", "b")
>>> validate("k", "v" * 5000)
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: label key and value greater than maximum size (4096 bytes), key: k: invalid argument
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errdefs import InvalidArgument

__all__ = ["MAX_SIZE", "apply_fieldpaths", "validate", "validate_all"]

MAX_SIZE = 4096


def validate(key: str, value: str) -> None:
    if len(key.encode()) + len(value.encode()) > MAX_SIZE:
        raise InvalidArgument(f"label key and value greater than maximum size ({MAX_SIZE} bytes), "
                              f"key: {key[:64]}")


def validate_all(labels: Mapping[str, str]) -> None:
    for k, v in labels.items():
        validate(k, v)


def apply_fieldpaths(current: Mapping[str, str], given: Mapping[str, str], fieldpaths: Sequence[str],
                     what: str) -> dict[str, str]:
    """The labels an Update leaves on ``what``: containerd's field paths over labels.

    No field paths, or ``labels``, replace them all with ``given``; ``labels.<key>`` sets that one
    key from ``given``. An empty value deletes the label.

    >>> apply_fieldpaths({"a": "1", "b": "2"}, {"b": "", "c": "3"}, ["labels.b", "labels.c"], "x")
    {'a': '1', 'c': '3'}
    >>> apply_fieldpaths({"a": "1"}, {}, ["size"], 'snapshot "s"')
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: cannot update "size" field on snapshot "s": invalid argument

    Raises:
        InvalidArgument: a field path other than ``labels`` or ``labels.<key>``.
    """
    labels = dict(current)
    for path in fieldpaths or ("labels",):
        if path == "labels":
            labels = dict(given)
        elif path.startswith("labels."):
            key = path[len("labels."):]
            labels[key] = given.get(key, "")
        else:
            raise InvalidArgument(f'cannot update "{path}" field on {what}')
    return {k: v for k, v in labels.items() if v}
