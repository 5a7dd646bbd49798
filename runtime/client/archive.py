"""Import and export image archives through a daemon (``ctr images import|export``).

Import reads an OCI layout or a ``docker save`` tarball, writes its blobs into the daemon's
content store (inside a lease), creates or updates an image record for each image it names
and - unless told not to - unpacks each for this platform, printing what ctr prints::

    unpacking docker.io/library/layered:latest (sha256:bcc4…)...done

Export walks the named images' blobs in the daemon and writes them as an OCI layout tar
(with docker's ``manifest.json``, so ``docker load`` takes it too).
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

from ..core.images import Image
from ..core.images import platforms as plat
from ..core.ocispec import Descriptor
from ..images.archive import export_oci, import_images
from .transfer import create_or_update
from .unpack import UnpackResult, unpack

if TYPE_CHECKING:
    from . import Client

__all__ = ["export_archive", "import_archive"]


def import_archive(client: Client, source: str | os.PathLike[str] | IO[bytes], *, unpack_layers: bool = True,
                   snapshotter: str = "overlayfs", base_name: str | None = None, digests: bool = False,
                   index_name: str | None = None, all_platforms: bool = False, platform: str | None = None,
                   today: dt.date | None = None,
                   on_unpack: Callable[[Image, str], None] | None = None) -> list[tuple[Image, UnpackResult | None]]:
    """Import an archive; returns each image record with its unpack (None when skipped).

    ``on_unpack(image, "unpacking" | "done")`` is called around each image's unpack.

    Raises:
        InvalidArgument: not an OCI layout or docker archive, or malformed documents.
        NotFound: the archive lacks a blob it lists; FailedPrecondition: nothing matches
        the platform.
    """
    matcher = plat.only(plat.parse(platform)) if platform else plat.default()
    out: list[tuple[Image, UnpackResult | None]] = []
    with client.leases.lease():
        result = import_images(client.content, source, base_name=base_name, digests=digests,
                               index_name=index_name, platform=matcher, all_platforms=all_platforms, today=today)
        for img in result.images:
            out.append((create_or_update(client.images, img), None))
        if unpack_layers:
            sn = client.snapshotter(snapshotter)
            for i, (img, _) in enumerate(out):
                if on_unpack:
                    on_unpack(img, "unpacking")
                out[i] = (img, unpack(client.content, sn, client.diff, img.target, snapshotter_name=snapshotter,
                                      platform=matcher))
                if on_unpack:
                    on_unpack(img, "done")
    return out


def export_archive(client: Client, out: str | os.PathLike[str] | IO[bytes], names: Sequence[str], *,
                   platform: str | None = None, all_platforms: bool = True) -> Descriptor:
    """Write the images ``names`` as an OCI layout tar; returns the index descriptor.

    Raises:
        NotFound: no such image, or content missing from the daemon.
    """
    images = [client.images.get(n) for n in names]
    matcher = None if all_platforms and not platform else plat.only(plat.parse(platform)) if platform \
        else plat.default()
    return export_oci(client.content, images, out, platform=matcher)
