"""The walking differ: containerd's ``walking`` Comparer and ``apply`` fs Applier in one object.

``apply`` reads a layer blob from the content store and unpacks it onto the snapshot's mounts;
``compare`` walks two mounted trees and writes the changes into the content store. Mounts
are made under ``mount_dir`` (the plugin's state directory) and always undone.

A single overlay mount is not mounted at all for ``apply``: the layer goes straight into its
``upperdir`` with overlayfs whiteouts, its ``lowerdir``\\s supplying the metadata of parent
directories the layer does not list - as containerd does on Linux.
"""
from __future__ import annotations

import base64
import contextlib
import errno
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ....core.content import ContentStore, ReaderAt
from ....core.diff import LABEL_UNCOMPRESSED, ApplyLimits, apply_tar, write_diff
from ....core.diff.compression import open_compressor
from ....core.mount import Mount, temp_mount
from ....core.ocispec import (
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_LAYER_FOREIGN,
    MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_LAYER_GZIP,
    MEDIA_TYPE_OCI_LAYER_ZSTD,
    Descriptor,
)
from ....errdefs import AlreadyExists, InvalidArgument, PyctrdError, map_exceptions
from ....errdefs import NotImplemented as NotImplementedErr

__all__ = ["APPLY_MEDIA_TYPES", "WalkingDiff", "readonly_mounts"]

#: Layer media types ``apply`` reads (compression is detected from the bytes, not the type).
APPLY_MEDIA_TYPES = frozenset({
    MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_ZSTD,
    MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_DOCKER_LAYER_FOREIGN,
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
})


class _ReaderAtStream:
    """``read(n)`` over a content ReaderAt."""

    def __init__(self, ra: ReaderAt) -> None:
        self.ra, self.offset = ra, 0

    def read(self, n: int = -1) -> bytes:
        left = self.ra.size - self.offset
        data = self.ra.read_at(self.offset, left if n < 0 else min(n, left)) if left > 0 else b""
        self.offset += len(data)
        return data


class _Counting:
    def __init__(self, w: Any) -> None:
        self.w, self.n = w, 0

    def write(self, data: bytes) -> int:
        self.w.write(data)
        self.n += len(data)
        return len(data)


def readonly_mounts(mounts: Sequence[Mount]) -> list[Mount]:
    """The same mounts, read-only: overlay's upperdir becomes its top lowerdir, others get ``ro``."""
    out = []
    for m in mounts:
        if m.type == "overlay":
            upper = next((o[len("upperdir="):] for o in m.options if o.startswith("upperdir=")), "")
            opts = [o for o in m.options if not o.startswith(("upperdir=", "workdir="))]
            if upper:
                opts = [f"lowerdir={upper}:{o[len('lowerdir='):]}" if o.startswith("lowerdir=") else o
                        for o in opts]
            out.append(Mount(m.type, m.source, tuple(opts), m.target))
        else:
            out.append(Mount(m.type, m.source, (*(o for o in m.options if o != "rw"), "ro"), m.target))
    return out


def _overlay_paths(mounts: Sequence[Mount]) -> tuple[str, list[str]] | None:
    """(upperdir, lowerdirs) of a single overlay mount that has an upperdir."""
    if len(mounts) != 1 or mounts[0].type != "overlay":
        return None
    upper, lower = "", []
    for o in mounts[0].options:
        if o.startswith("upperdir="):
            upper = o[len("upperdir="):]
        elif o.startswith("lowerdir="):
            lower = o[len("lowerdir="):].split(":")
    return (upper, lower) if upper else None


@contextlib.contextmanager
def _mount_errors() -> Iterator[None]:
    """mount(2) refusing a caller's mounts is the caller's error, not UNKNOWN: an unknown file
    system type (ENODEV) or the errno's kind (EINVAL: InvalidArgument, ENOENT: NotFound, ...),
    with mount's own message."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENODEV, errno.ENOTBLK):  # no such file system type / not a block device
            raise InvalidArgument(exc.strerror or str(exc)) from None
        with map_exceptions():  # the kind by errno; mount's own message (it names the mount)
            raise


class WalkingDiff:
    """Applier and Comparer over a content store.

    Args:
        store: where layers are read and written (Provider + Ingester + Manager).
        mount_dir: where temporary mounts are made (created on first use).
        limits: bounds applied to every layer.
    """

    def __init__(self, store: ContentStore, mount_dir: str | os.PathLike[str], *,
                 limits: ApplyLimits | None = None) -> None:
        self.store, self.mount_dir, self.limits = store, Path(mount_dir), limits or ApplyLimits()

    def __repr__(self) -> str:
        return f"<WalkingDiff {self.mount_dir}>"

    def _base(self) -> str:
        self.mount_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return str(self.mount_dir)

    def apply(self, desc: Descriptor, mounts: Sequence[Mount], *,
              payloads: Mapping[str, Any] | None = None) -> Descriptor:
        """See :meth:`pyctrd.core.diff.Applier.apply`."""
        if desc.media_type not in APPLY_MEDIA_TYPES:
            raise NotImplementedErr(f"apply {desc.media_type}: no processor for this media type")
        ra = self.store.reader_at(desc.digest)
        try:
            kw: dict[str, Any] = {"limits": self.limits, "expected_digest": desc.digest,
                                  "expected_size": desc.size if desc.size > 0 else -1}
            overlay = _overlay_paths(mounts)
            if overlay is not None:
                stats = apply_tar(_ReaderAtStream(ra), overlay[0], whiteouts="overlay",
                                  parents=overlay[1], **kw)
            else:
                with contextlib.ExitStack() as stack:
                    with _mount_errors():
                        root = stack.enter_context(temp_mount(mounts, prefix="apply-", base=self._base()))
                    stats = apply_tar(_ReaderAtStream(ra), root, **kw)
        finally:
            ra.close()
        return Descriptor(MEDIA_TYPE_OCI_LAYER, stats.diff_id, stats.size)

    def compare(self, lower: Sequence[Mount], upper: Sequence[Mount], *, media_type: str = "",
                ref: str = "", labels: Mapping[str, str] | None = None) -> Descriptor:
        """See :meth:`pyctrd.core.diff.Comparer.compare`."""
        media_type = media_type or MEDIA_TYPE_OCI_LAYER_GZIP
        if media_type not in (MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_LAYER_GZIP):
            raise NotImplementedErr(f"unsupported diff media type: {media_type}")
        compressed = media_type == MEDIA_TYPE_OCI_LAYER_GZIP
        new_ref = not ref
        ref = ref or f"{time.time_ns()}-{base64.urlsafe_b64encode(os.urandom(3)).decode()}"
        commit_labels = dict(labels or {})
        with contextlib.ExitStack() as stack:
            with _mount_errors():
                lroot = stack.enter_context(temp_mount(readonly_mounts(lower), prefix="lower-", base=self._base()))
                uroot = stack.enter_context(temp_mount(readonly_mounts(upper), prefix="upper-", base=self._base()))
            w = self.store.writer(ref)
            try:
                if not new_ref:
                    w.truncate(0)
                out = _Counting(w)
                if compressed:
                    gz = open_compressor(out, "gzip")
                    commit_labels[LABEL_UNCOMPRESSED] = write_diff(lroot, uroot, gz)
                    gz.close()
                else:
                    write_diff(lroot, uroot, out)
                dgst = w.digest()
                try:
                    w.commit(out.n, dgst, commit_labels)
                except AlreadyExists:
                    pass
            except BaseException:
                w.close()
                if new_ref:
                    try:
                        self.store.abort(ref)
                    except PyctrdError:
                        pass
                raise
        info = self.store.info(dgst)
        if compressed and LABEL_UNCOMPRESSED not in info.labels:
            info.labels[LABEL_UNCOMPRESSED] = commit_labels[LABEL_UNCOMPRESSED]
            info = self.store.update(info, [f"labels.{LABEL_UNCOMPRESSED}"])
        return Descriptor(media_type, info.digest, info.size)
