"""HOOK: sample images for the lab's registry (filled in by the image/pull work).

``python -m pyctrd.lab`` calls :func:`push_sample_images` once the registry answers, and
prints what it returns. Notebooks 02+ pull these references (``<registry>/<name>:<tag>``).
The plan: build a one-layer busybox image and a three-layer image (a file added, one
changed, one whited out) from Debian's ``busybox-static`` - offline, no Docker Hub - and
push them with pyctrd's own push code.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLE_IMAGES", "push_sample_images"]

#: The references notebooks may rely on, relative to the registry address.
SAMPLE_IMAGES: tuple[str, ...] = ("samples/busybox:latest", "samples/layered:latest")


def push_sample_images(registry: str, workdir: Path) -> list[str]:
    """Push the sample images to ``registry`` (``host:port``); return the full references pushed.

    Not implemented yet: returns ``[]`` (the lab runs without sample images until then).
    ``workdir`` is a scratch directory under the lab for building layers.
    """
    return []
