"""Small file helpers of the local content store: timestamp files, atomic writes, label files.

An ingest directory holds its timestamps in the text form Go's ``time.Time.MarshalText``
writes (RFC 3339 with up to nanoseconds), so a directory written by containerd reads here and
the other way round:

>>> t = parse_time(format_time(datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)))
>>> format_time(t)
'2024-05-01T12:00:00.25Z'
>>> parse_time("2024-05-01T14:00:00.123456789+02:00")
datetime.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone.utc)
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ....errdefs import InvalidArgument, map_exceptions

__all__ = ["LabelFiles", "format_time", "parse_time", "read_text", "write_atomic"]

_GO_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def format_time(t: datetime) -> str:
    """``t`` in UTC as Go's RFC3339Nano (trailing zeros of the fraction dropped)."""
    t = t.astimezone(UTC)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def parse_time(text: str) -> datetime:
    """A timezone-aware UTC datetime from Go's text form (nanoseconds cut to microseconds).

    Raises:
        InvalidArgument: not a timestamp.
    """
    m = _GO_TIME.match(text.strip())
    if not m:
        raise InvalidArgument(f"timestamp {text[:40]!r}")
    base, frac, zone = m.groups()
    micro = (frac or "").ljust(6, "0")[:6]
    t = datetime.fromisoformat(f"{base}.{micro}{'+00:00' if zone == 'Z' else zone}")
    return t.astimezone(UTC)


def read_text(path: Path) -> str:
    """The whole file as text (NotFound if it is missing)."""
    with map_exceptions(str(path)):
        return path.read_text()


def write_atomic(path: Path, data: str | bytes, *, sync: bool = True) -> None:
    """Write a small file so that readers see the old or the new content, never a part.

    A uniquely named temporary file in the same directory is written, fsynced and renamed
    over ``path`` (containerd's ``writeToCompletion`` does the same with ``<path>.tmp``).
    ``sync=False`` skips the fsync (where containerd writes with a plain ``os.WriteFile``):
    still whole or absent after a crash of the process, not after a power cut.
    """
    raw = data.encode() if isinstance(data, str) else data
    with map_exceptions(str(path)):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                if sync:
                    os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class LabelFiles:
    """Labels of blobs, one JSON object per labelled blob: ``<dir>/sha256/<hex>.json``.

    This is the local store's answer to containerd's optional ``LabelStore``. In the daemon
    the metadata layer owns labels (per namespace); this sidecar lets the local store stand
    alone (tests, notebooks). A blob without labels has no file; the directory appears only
    once a label is set, so an unlabelled store looks exactly like containerd's.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        algorithm, hex_ = digest.split(":", 1)
        return self.root / algorithm / f"{hex_}.json"

    def get(self, digest: str) -> dict[str, str]:
        try:
            text = self._path(digest).read_text()
        except FileNotFoundError:
            return {}
        with map_exceptions(f"labels of {digest}", {ValueError: InvalidArgument}):
            labels = json.loads(text)
        return {str(k): str(v) for k, v in labels.items()}

    def set(self, digest: str, labels: dict[str, str]) -> None:
        """Replace all labels (an empty dict removes the file)."""
        path = self._path(digest)
        if not labels:
            with map_exceptions(str(path)):
                path.unlink(missing_ok=True)
            return
        with map_exceptions(str(path.parent)):
            path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(labels, sort_keys=True, indent=1) + "\n")
