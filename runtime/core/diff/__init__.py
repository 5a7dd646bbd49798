"""Diffs: how an image layer becomes files, and how files become a layer.

An image is a stack of **layers**. Each layer is a tar archive of *changes* to the layers
below it: files added or modified are stored whole, and deletions are stored as markers
called **whiteouts**. Two interfaces move between layers and directory trees:

- :class:`Applier` ("unpack"): read a layer blob from the content store and apply it onto
  a mounted snapshot. ``ctr images pull`` does this once per layer, each onto a snapshot
  prepared on top of the previous layer's.
- :class:`Comparer` ("commit"): compare two mounted trees (a container's base and its
  changed rootfs) and write the difference as a new layer into the content store.

**Layer digest vs. diff ID.** A layer is usually stored compressed (``+gzip``). Its
*digest* - the one in the manifest and the content store - is the sha256 of the compressed
bytes. Its **diff ID** is the sha256 of the *uncompressed* tar; the image config lists diff
IDs (``rootfs.diff_ids``) and the snapshot chain is named after them, so recompressing a
layer changes its digest but not its diff ID. ``Apply`` therefore returns a descriptor of the
uncompressed stream (media type ``application/vnd.oci.image.layer.v1.tar``, digest = diff
ID), and ``Compare`` labels the compressed blob it writes with
``containerd.io/uncompressed=<diff id>``.

**Whiteouts.** A tar cannot say "this file is gone", so the OCI layer format names a file
``.wh.<name>`` to mean "delete ``<name>`` from the layers below", and ``.wh..wh..opq`` inside
a directory to mean "this directory is *opaque*: hide everything the lower layers had in
it" (what this layer itself puts there stays). Applying to a plain directory performs the
deletion; applying straight to an overlayfs upperdir records it the way the kernel
understands instead (a 0/0 character device, or the ``trusted.overlay.opaque=y`` xattr).

Walkthrough with the pure functions (no store, no mounts)::

    digest = write_diff(lower_dir, upper_dir, out)   # -> "sha256:<diff id>"; out holds the tar
    stats = apply_tar(open(blob, "rb"), target_dir)  # gzip/zstd/plain by magic
    stats.diff_id, stats.digest                      # uncompressed and compressed sha256

Layers are untrusted: :func:`apply_tar` keeps every write inside its root (see
:mod:`.rootfs`) and bounds sizes with :class:`ApplyLimits`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..mount import Mount
from ..ocispec import Descriptor
from .apply import OPAQUE, WHITEOUT_PREFIX, apply_tar
from .compression import LayerStream, detect
from .limits import ApplyLimits, ApplyStats, ArchiveError
from .rootfs import root_path
from .write import write_diff

__all__ = [
    "LABEL_UNCOMPRESSED", "OPAQUE", "WHITEOUT_PREFIX", "Applier", "ApplyLimits", "ApplyStats",
    "ArchiveError", "Comparer", "LayerStream", "apply_tar", "detect", "root_path", "write_diff",
]

#: The content label a compressed layer carries: its diff ID.
LABEL_UNCOMPRESSED = "containerd.io/uncompressed"


@runtime_checkable
class Applier(Protocol):
    """Applies layer blobs onto mounts (containerd's ``diff.Applier``)."""

    def apply(self, desc: Descriptor, mounts: Sequence[Mount], *,
              payloads: Mapping[str, Any] | None = None) -> Descriptor:
        """Apply the layer ``desc`` (read from the content store) onto ``mounts``.

        Args:
            desc: the layer blob: its media type, digest (verified) and size.
            mounts: the snapshot to change, usually an active snapshot's mounts.
            payloads: stream-processor payloads keyed by media type (containerd's
                ``WithPayloads``; used by processors such as decryption).

        Returns:
            A descriptor of the *uncompressed* layer: media type
            ``application/vnd.oci.image.layer.v1.tar``, digest = diff ID, size in bytes.

        Raises:
            NotFound: the blob is not in the content store.
            NotImplemented: a media type or compression this applier cannot read.
            InvalidArgument: the archive is malformed, hostile, over a limit, or does not
                match its digest (an :class:`ArchiveError`). The mounts are then
                half-changed; the caller removes the active snapshot.
        """



@runtime_checkable
class Comparer(Protocol):
    """Writes the difference of two mounted trees as a layer (containerd's ``diff.Comparer``)."""

    def compare(self, lower: Sequence[Mount], upper: Sequence[Mount], *, media_type: str = "",
                ref: str = "", labels: Mapping[str, str] | None = None) -> Descriptor:
        """Write the changes from ``lower`` to ``upper`` into the content store.

        Args:
            lower: the base (empty for a first layer).
            upper: the changed tree (mounted read-only while it is read).
            media_type: the layer's media type; ``…layer.v1.tar+gzip`` when empty.
            ref: the content ingest ref (a unique one when empty).
            labels: labels for the committed blob (``containerd.io/uncompressed`` is added).

        Returns:
            A descriptor of the blob written: its media type, digest and size.

        Raises:
            NotImplemented: an unsupported media type.
            Unavailable: ``ref`` is held by another writer.
            NotFound, InvalidArgument, Unknown: a mount or tree could not be read.
        """

