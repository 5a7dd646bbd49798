"""Building blocks for config dataclasses: documented fields and Go-style durations.

Every config field carries its documentation, ending in its default, so ``pyctrd config
default`` can explain itself and the plugin widget can show help::

    @dataclass
    class GCConfig:
        pause_threshold: float = setting(0.02, "Fraction of time GC may pause the database.")

>>> from dataclasses import dataclass, fields
>>> @dataclass
... class C:
...     delay: Duration = setting(Duration("100ms"), "Wait before the first run.")
>>> fields(C)[0].metadata["doc"]
'Wait before the first run. Default: 100ms.'
>>> C().delay.seconds
0.1
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..errdefs import InvalidArgument

__all__ = ["Duration", "doc_of", "setting"]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Go's time.Duration is an int64 of nanoseconds.
MAX_SECONDS = (2**63 - 1) / 1e9
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class Duration:
    """A Go ``time.Duration`` as written in containerd's TOML (``"100ms"``, ``"4h0m0s"``).

    >>> Duration("1m30s").seconds
    90.0
    >>> str(Duration(0.1))
    '100ms'
    >>> Duration("soon")
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: invalid duration "soon": invalid argument

    Like Go's, a duration is a count of nanoseconds that fits in an int64 (about 292 years
    either way); a negative one prints with its sign in front:

    >>> str(Duration("-90s")), str(Duration(-0.5)), str(Duration(-1e-12))
    ('-1m30s', '-500ms', '0s')
    >>> Duration(float("inf"))
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: invalid duration inf (beyond ±292 years): invalid argument
    """

    __slots__ = ("seconds",)

    def __init__(self, value: str | float | int | Duration) -> None:
        if isinstance(value, Duration):
            self.seconds: float = value.seconds
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.seconds = float(value)
        elif isinstance(value, str):
            self.seconds = self.parse(value)
        else:
            raise InvalidArgument(f"invalid duration {value!r}")
        # NaN fails the comparison too. Beyond this a sleep or a timer overflows (and Go refuses).
        if not abs(self.seconds) <= MAX_SECONDS:
            raise InvalidArgument(f"invalid duration {value!r} (beyond ±292 years)")

    @staticmethod
    def parse(text: str) -> float:
        s = text.strip()
        sign = -1.0 if s.startswith("-") else 1.0
        s = s.lstrip("+-")
        if s == "0":
            return 0.0
        pos, total = 0, 0.0
        for m in _PART.finditer(s):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if not s or pos != len(s):
            raise InvalidArgument(f'invalid duration "{text}"')
        return sign * total

    def __str__(self) -> str:
        s = self.seconds
        if s == 0:
            return "0s"
        if s < 0:  # divmod of a negative number rounds towards -inf: format the size, then the sign
            size = str(Duration(-s))
            return size if size == "0s" else "-" + size  # (under a nanosecond is 0, as in Go)
        if abs(s) < 1:
            for unit, f in (("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
                if abs(s) >= f:
                    v = round(s / f, 6)
                    return f"{v:g}{unit}"
        h, rem = divmod(s, 3600)
        m, sec = divmod(rem, 60)
        out = ""
        if h:
            out += f"{int(h)}h"
        if h or m:
            out += f"{int(m)}m"
        return out + f"{round(sec, 9):g}s"

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Duration):
            return self.seconds == other.seconds
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.seconds)


def setting(default: Any, doc: str, *, toml: str | None = None) -> Any:
    """A dataclass field with documentation; the default is appended as ``Default: …``.

    Args:
        default: the value (mutable defaults are copied per instance).
        doc: what the field does, in a sentence.
        toml: the key in TOML when it differs from the attribute name.
    """
    shown = default
    if isinstance(default, (list, dict)):
        shown = default or ("[]" if isinstance(default, list) else "{}")
    text = f"{doc.rstrip('.')}. Default: {shown if not isinstance(shown, str) or shown else chr(34) * 2}."
    meta = {"doc": text}
    if toml:
        meta["toml"] = toml
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def doc_of(obj: Any, name: str) -> str:
    """The documentation of field ``name`` of dataclass ``obj`` ('' if none)."""
    for f in dataclasses.fields(obj):
        if f.name == name:
            return str(f.metadata.get("doc", ""))
    return ""
