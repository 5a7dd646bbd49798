"""The records a snapshotter hands out: :class:`Kind`, :class:`Info` and :class:`Usage`.

>>> Kind.parse("active"), str(Kind.COMMITTED)
(<Kind.ACTIVE: 2>, 'Committed')
>>> Info(name="k1", kind=Kind.ACTIVE, parent="sha256:" + "e5" * 32, snapshotter="overlayfs")
<Snapshot overlayfs:k1 ACTIVE parent=sha256:e5e5e5e5e5e5…>
>>> Usage(size=8192, inodes=3)
<Usage 8.0 KiB, 3 inodes>
"""
from __future__ import annotations

import enum
import html
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...errdefs import InvalidArgument
from ..filters import Adaptor

__all__ = [
    "EPOCH",
    "INHERITED_LABEL_PREFIX",
    "LABEL_SNAPSHOT_REF",
    "MAX_LABEL_SIZE",
    "UNPACK_KEY_FORMAT",
    "UNPACK_KEY_PREFIX",
    "Info",
    "Kind",
    "Usage",
    "adapt_info",
    "filter_inherited_labels",
    "human_size",
    "validate_labels",
]

#: Keys of snapshots being unpacked start with this; the full key is UNPACK_KEY_FORMAT.
UNPACK_KEY_PREFIX = "extract"
#: ``extract-<unique> <chainID>``: the key an unpacker prepares a layer under.
UNPACK_KEY_FORMAT = UNPACK_KEY_PREFIX + "-{} {}"
#: Labels with this prefix (and LABEL_SNAPSHOT_REF) are the ones a snapshotter keeps.
INHERITED_LABEL_PREFIX = "containerd.io/snapshot/"
LABEL_SNAPSHOT_REF = "containerd.io/snapshot.ref"
#: containerd's limit on a label's key and value together, in bytes.
MAX_LABEL_SIZE = 4096
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Kind(enum.IntEnum):
    """What a snapshot is; the numbers are containerd's (and its protobuf enum's)."""

    UNKNOWN = 0
    VIEW = 1       #: read-only, made by view(); cannot be committed
    ACTIVE = 2     #: writable, made by prepare(); commit() turns it into a committed one
    COMMITTED = 3  #: immutable, made by commit(); the only kind that can be a parent

    def __str__(self) -> str:
        """containerd's spelling: ``View``, ``Active``, ``Committed`` (``ctr snapshots ls``)."""
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Kind:
        """``"active"``/``"Active"`` -> ACTIVE; anything unknown -> UNKNOWN (as containerd)."""
        return {"view": cls.VIEW, "active": cls.ACTIVE, "committed": cls.COMMITTED}.get(
            text.lower(), cls.UNKNOWN)


def _short(name: str) -> str:
    # "sha256:<64 hex>" is unreadable in a repr; keep the algorithm and 12 hex digits.
    m = re.fullmatch(r"([a-z0-9]+:)([0-9a-f]{12})[0-9a-f]{8,}", name)
    return f"{m.group(1)}{m.group(2)}…" if m else name


@dataclass(frozen=True, kw_only=True)
class Info:
    """What :meth:`Snapshotter.stat` tells about one snapshot.

    Attributes:
        name: the key (active, view) or name (committed) it is known by.
        kind: VIEW, ACTIVE or COMMITTED.
        parent: the committed snapshot it descends from ("" for none).
        labels: mutable key/values (the only thing update() may change).
        created: when it was created (for a committed one: when it was committed).
        updated: when it last changed.
        snapshotter: which snapshotter holds it, when known (only for display).
    """

    name: str
    kind: Kind = Kind.UNKNOWN
    parent: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created: datetime = EPOCH
    updated: datetime = EPOCH
    snapshotter: str = field(default="", compare=False)

    def __repr__(self) -> str:
        where = f"{self.snapshotter}:" if self.snapshotter else ""
        parent = f" parent={_short(self.parent)}" if self.parent else ""
        return f"<Snapshot {where}{_short(self.name)} {self.kind.name}{parent}>"

    def __rich_repr__(self) -> Iterator[Any]:
        yield "name", self.name
        yield "kind", str(self.kind)
        yield "parent", self.parent, ""
        yield "labels", self.labels, {}
        yield "created", self.created.isoformat()
        yield "updated", self.updated.isoformat()

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in self.to_json().items())
        return f"<table><caption>{html.escape(repr(self))}</caption>{rows}</table>"

    def to_json(self) -> dict[str, Any]:
        """The JSON ``ctr snapshots info`` prints (Parent and Labels only when set)."""
        out: dict[str, Any] = {"Kind": str(self.kind), "Name": self.name}
        if self.parent:
            out["Parent"] = self.parent
        if self.labels:
            out["Labels"] = dict(self.labels)
        out["Created"] = _rfc3339(self.created)
        out["Updated"] = _rfc3339(self.updated)
        return out


def _rfc3339(t: datetime) -> str:
    t = t.astimezone(UTC)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def human_size(n: float) -> str:
    """Bytes as ``ctr`` prints them (powers of 1024, one decimal).

    >>> human_size(0), human_size(8192), human_size(1992294)
    ('0.0 B', '8.0 KiB', '1.9 MiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Usage:
    """Disk a snapshot uses by itself (its parents not included)."""

    size: int = 0    #: bytes, counted in allocated blocks
    inodes: int = 0  #: distinct inodes, the top directory included

    def __add__(self, other: Usage) -> Usage:
        # As containerd: assumes the inodes are distinct, so the sum is an upper bound.
        return Usage(self.size + other.size, self.inodes + other.inodes)

    def __repr__(self) -> str:
        return f"<Usage {human_size(self.size)}, {self.inodes} inodes>"


def adapt_info(info: Info) -> Adaptor:
    """The filter adaptor containerd's Walk uses: fields kind, name, parent, labels.<key>.

    >>> from pyctrd.core.filters import parse
    >>> parse("kind==active,labels.l==2").match(adapt_info(Info(name="a", kind=Kind.ACTIVE,
    ...                                                         labels={"l": "2"})))
    True
    """

    def field_(fieldpath: Sequence[str]) -> tuple[str, bool]:
        if not fieldpath:
            return "", False
        head = fieldpath[0]
        if head == "kind":
            if info.kind is Kind.UNKNOWN:
                return "", False
            return info.kind.name.lower(), True
        if head == "name":
            return info.name, True
        if head == "parent":
            return info.parent, True
        if head == "labels":
            key = ".".join(fieldpath[1:])
            if key in info.labels:
                return info.labels[key], True
        return "", False

    return field_


def filter_inherited_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The labels a snapshotter keeps: ``containerd.io/snapshot/…`` and ``…snapshot.ref``.

    >>> filter_inherited_labels({"containerd.io/snapshot/x": "1", "other": "2"})
    {'containerd.io/snapshot/x': '1'}
    """
    return {k: v for k, v in (labels or {}).items()
            if k == LABEL_SNAPSHOT_REF or k.startswith(INHERITED_LABEL_PREFIX)}


def validate_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of ``labels``; InvalidArgument if one is not str/str or is over 4096 bytes."""
    out: dict[str, str] = {}
    for k, v in (labels or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidArgument(f"label {k!r}: keys and values must be strings")
        if len(k.encode()) + len(v.encode()) > MAX_LABEL_SIZE:
            raise InvalidArgument(f"label key and value greater than maximum size ({MAX_LABEL_SIZE} "
                                  f"bytes), key: {k[:10]}")
        out[k] = v
    return out
