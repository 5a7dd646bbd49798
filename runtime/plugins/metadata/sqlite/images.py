"""Image records in the metadata database (implements :class:`pyctrd.core.metadata.ImageStore`).

One row per (namespace, name): the target descriptor (media type, digest, size,
annotations), labels and times. Deleting an image removes this row only; the blobs it
pointed at become garbage once nothing else references them, and the next collection
removes them (``ctr images rm --sync`` waits for that collection).
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from ....core import digest as digests
from ....core import gc, namespaces
from ....core import labels as labels_
from ....core.filters import parse_all
from ....core.images import Image
from ....core.metadata import adapt_image
from ....core.ocispec import Descriptor
from ....errdefs import AlreadyExists, InvalidArgument, NotFound
from .db import DB
from .leases import utcnow
from .namespaces import NamespaceStore

__all__ = ["ImageRecords", "validate_image"]


def validate_image(image: Image) -> None:
    """containerd's ``validateImage``: a name, valid labels and a usable target.

    >>> validate_image(Image("x", Descriptor("", "sha256:" + "a" * 64, 1)))
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: Target.MediaType must be set: invalid argument

    Raises:
        InvalidArgument: what is wrong.
    """
    if not image.name:
        raise InvalidArgument("image name must not be empty")
    if any(ch.isspace() for ch in image.name) or len(image.name) > 4096:
        raise InvalidArgument(f"image name {image.name[:80]!r} must not contain white space")
    labels_.validate_all(image.labels)
    gc.validate_labels(image.labels)
    t = image.target
    try:
        digests.validate(t.digest)
    except Exception as exc:
        raise InvalidArgument(f"Target.Digest {t.digest!r} invalid: {exc}") from None
    if t.size <= 0:
        raise InvalidArgument("Target.Size must be greater than zero")
    if not t.media_type:
        raise InvalidArgument("Target.MediaType must be set")


def _image(row: sqlite3.Row) -> Image:
    target = Descriptor(row["media_type"], row["digest"], int(row["size"]), json.loads(row["annotations"]))
    return Image(row["name"], target, json.loads(row["labels"]), datetime.fromisoformat(row["created_at"]),
                 datetime.fromisoformat(row["updated_at"]))


class ImageRecords:
    """Images of the current namespace.

    Args:
        db: the metadata database.
        clock: now, timezone-aware.
    """

    def __init__(self, db: DB, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.clock = db, clock
        self._namespaces = NamespaceStore(db)

    def __repr__(self) -> str:
        with self.db.view() as c:
            n = c.execute("SELECT COUNT(*) FROM images WHERE namespace=?", (namespaces.get(),)).fetchone()[0]
        return f"<ImageRecords ns={namespaces.get()} images={n}>"

    def _row(self, c: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = c.execute("SELECT * FROM images WHERE namespace=? AND name=?", (namespaces.get(), name)).fetchone()
        if row is None:
            raise NotFound(f'image "{name}"')
        return row  # type: ignore[no-any-return]

    def get(self, name: str) -> Image:
        with self.db.view() as c:
            return _image(self._row(c, name))

    def list(self, *filters: str) -> list[Image]:
        match = parse_all(filters)
        with self.db.view() as c:
            rows = c.execute("SELECT * FROM images WHERE namespace=? ORDER BY name", (namespaces.get(),)).fetchall()
        return [img for img in map(_image, rows) if match.match(adapt_image(img))]

    def _write(self, c: sqlite3.Connection, image: Image, created: datetime, updated: datetime) -> None:
        t = image.target
        c.execute("INSERT OR REPLACE INTO images VALUES (?,?,?,?,?,?,?,?,?)",
                  (namespaces.get(), image.name, t.media_type, t.digest, t.size, json.dumps(t.annotations),
                   json.dumps(image.labels), created.isoformat(), updated.isoformat()))

    def create(self, image: Image) -> Image:
        validate_image(image)
        now = self.clock()
        with self.db.update() as c:
            self._namespaces.ensure(namespaces.get())
            if c.execute("SELECT 1 FROM images WHERE namespace=? AND name=?",
                         (namespaces.get(), image.name)).fetchone():
                raise AlreadyExists(f'image "{image.name}"')
            self._write(c, image, now, now)
        return replace(image, labels=dict(image.labels), created_at=now, updated_at=now)

    def update(self, image: Image, fieldpaths: Sequence[str] = ()) -> Image:
        if not image.name:
            raise InvalidArgument("image name is required for update")
        with self.db.update() as c:
            current = _image(self._row(c, image.name))
            updated = self._apply(current, image, fieldpaths) if fieldpaths else replace(image)
            updated.labels = {k: v for k, v in updated.labels.items() if v}
            validate_image(updated)
            updated.created_at, updated.updated_at = current.created_at, self.clock()
            assert updated.created_at is not None
            self._write(c, updated, updated.created_at, updated.updated_at)
        return updated

    @staticmethod
    def _apply(current: Image, given: Image, fieldpaths: Sequence[str]) -> Image:
        labels, target = dict(current.labels), current.target
        annotations = dict(current.target.annotations)
        for path in fieldpaths:
            if path.startswith("labels."):
                key = path[len("labels."):]
                labels[key] = given.labels.get(key, "")
            elif path.startswith("annotations."):
                key = path[len("annotations."):]
                if given.target.annotations.get(key):
                    annotations[key] = given.target.annotations[key]
                else:
                    annotations.pop(key, None)
            elif path == "labels":
                labels = dict(given.labels)
            elif path == "target":
                target, annotations = given.target, dict(given.target.annotations)
            elif path == "annotations":
                annotations = dict(given.target.annotations)
            else:
                raise InvalidArgument(f'cannot update "{path}" field on image "{current.name}"')
        target = replace(target, annotations=annotations)
        return replace(current, labels=labels, target=target)

    def delete(self, name: str) -> None:
        with self.db.update() as c:
            if c.execute("DELETE FROM images WHERE namespace=? AND name=?", (namespaces.get(), name)).rowcount == 0:
                raise NotFound(f'image "{name}"')
            self.db.mark_dirty()
