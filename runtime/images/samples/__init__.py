"""Offline sample images (``busybox`` and ``layered``) for tests, the lab and the notebooks.

Build them in memory (:func:`build_samples`; :func:`build_docker_samples` for busybox in Docker's
media types), write them as OCI layouts and docker archives
(:func:`write_samples`), or push them to a registry (:func:`push_samples`). From a shell::

    python -m pyctrd.images.samples --out /tmp/samples [--push 127.0.0.1:5000]
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from ...core.content import Info
from ...core.images import platforms as plat
from ...core.images.labels import distribution_source_key
from ...remotes.docker import DockerResolver
from ...remotes.push import PushResult, push_image
from ..archive.exporter import export_docker_archive, export_oci
from .build import BUSYBOX, SampleImage, build_busybox, build_layered, build_samples
from .docker import build_docker_samples
from .layers import LayerBuilder, gzip_deterministic

__all__ = ["BUSYBOX", "LayerBuilder", "SampleImage", "build_busybox", "build_docker_samples", "build_layered",
           "build_samples",
           "gzip_deterministic", "push_samples", "write_samples"]


def write_samples(out: str | os.PathLike[str],
                  samples: Mapping[str, SampleImage] | None = None) -> dict[str, str]:
    """Write ``<name>-oci/`` (layout directory), ``<name>-oci.tar`` and ``<name>-docker.tar``
    for each sample into ``out``; returns {file name: path}.

    Raises:
        NotFound: busybox is missing. OSError-derived kinds if ``out`` is not writable.
    """
    samples = samples or build_samples()
    os.makedirs(out, exist_ok=True)
    paths = {}
    for name, s in samples.items():
        image = s.image()
        p = os.path.join(out, f"{name}-oci")
        export_oci(s.blobs, [image], p, directory=True, platform=plat.ALL)
        paths[f"{name}-oci"] = p
        p = os.path.join(out, f"{name}-oci.tar")
        export_oci(s.blobs, [image], p, platform=plat.ALL)
        paths[f"{name}-oci.tar"] = p
        p = os.path.join(out, f"{name}-docker.tar")
        export_docker_archive(s.blobs, image.name, s.manifest, p)
        paths[f"{name}-docker.tar"] = p
    return paths


def push_samples(resolver: DockerResolver, registry: str,
                 samples: Mapping[str, SampleImage] | None = None,
                 tag: str = "latest") -> dict[str, PushResult]:
    """Push each sample to ``<registry>/<name>:<tag>`` with the docker pusher. Blobs already
    pushed for an earlier sample (the shared busybox layer) are mounted across repositories.

    Raises:
        FailedPrecondition | Unavailable | NotFound: as :func:`~pyctrd.remotes.push_image`.
    """
    samples = samples or build_samples()
    sources: dict[str, set[str]] = {}
    key, _ = distribution_source_key(f"{registry}/x:y")

    def labels(digest: str) -> Info:
        return Info(digest, 0, labels={key: ",".join(sorted(sources.get(digest, ())))})

    results = {}
    for name, s in samples.items():
        results[name] = push_image(resolver, s.reference(registry, tag), s.blobs, s.manifest, labels=labels)
        for digest in results[name].statuses:
            sources.setdefault(digest, set()).add(name)
    return results
