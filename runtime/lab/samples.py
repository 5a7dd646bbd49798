"""Sample images for the lab's registry: ``busybox`` and ``layered``, built offline and pushed.

``python -m pyctrd.lab`` calls :func:`push_sample_images` once the registry answers and
prints what it returns; a notebook without ``make lab`` gets the same through
:meth:`pyctrd.lab.Lab.registry_with_samples`. Notebooks pull ``<registry>/busybox:latest``
and ``<registry>/layered:latest`` (see :mod:`pyctrd.images.samples` for what is in them:
Debian's static busybox, plus two small layers with a changed file, a whiteout and an
opaque directory). Pushing is idempotent: a second push finds every blob there already.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLE_IMAGES", "push_sample_images", "sample_reference"]

#: The references notebooks may rely on, relative to the registry address.
SAMPLE_IMAGES: tuple[str, ...] = ("busybox:latest", "layered:latest")


def sample_reference(registry: str, name: str) -> str:
    """``<registry>/<name>:latest``.

    >>> sample_reference("127.0.0.1:5000", "layered")
    '127.0.0.1:5000/layered:latest'
    """
    return f"{registry}/{name}:latest"


def push_sample_images(registry: str, workdir: Path) -> list[str]:
    """Build both samples and push them to ``registry`` (``host:port``, plain HTTP on loopback);
    return the full references pushed.

    ``workdir`` is a scratch directory under the lab (unused: the images are built in memory).

    Raises:
        NotFound: Debian's ``busybox-static`` is not installed.
        FailedPrecondition | Unavailable: the registry refused or could not be reached.
    """
    from ..images.samples import build_samples, push_samples  # imported only when pushing
    from ..remotes.docker import DockerResolver

    samples = build_samples()
    push_samples(DockerResolver(plain_http=True), registry, samples)
    return [s.reference(registry) for s in samples.values()]
