"""Unpacking: turning an image's layer blobs into a chain of committed snapshots.

A pull leaves *blobs* in the content store: a manifest, a config and compressed layer tars.
Nothing can run from those. Unpacking - done by the client, as containerd 1.6's client does
it - applies each layer onto a snapshot and commits the result, bottom layer first, so that
a container can later ``prepare`` a writable snapshot on top of the last one.

**Walk-through** for the three-layer ``layered`` sample (what ``ctr images pull`` does, and
what ``ctr events`` shows)::

    manifest = resolve_manifest(content, image.target, this platform)
    config   = parse_config(read_blob(content, manifest.config))
    diff_ids = config.diff_ids            # sha256 of each *uncompressed* layer tar
    chain    = chain_ids(diff_ids)        # the name each layer stack gets:
        # chain[0] = diff_ids[0]
        # chain[n] = sha256(chain[n-1] + " " + diff_ids[n])
        # - a layer's snapshot depends on everything below it, so two images share a
        #   snapshot exactly when they share the whole stack up to it.

    for layer, chain_id, parent in zip(manifest.layers, chain, ["", *chain]):
        stat(chain_id) succeeds?        -> somebody unpacked this stack: skip the layer
        key = "extract-<ns>-<rand> <chain_id>"      # UNPACK_KEY_FORMAT, unique per attempt
        mounts = prepare(key, parent,                # /snapshot/prepare {key, parent}
                         labels={"containerd.io/snapshot.ref": chain_id})
        applied = diff.apply(layer, mounts)          # the daemon unpacks the tar into them
        applied.digest == diff_id?   no -> remove(key), fail: the layer is not what the
                                           config promised (nothing is committed)
        commit(chain_id, key)                        # /snapshot/commit {key, name}
        label the layer blob containerd.io/uncompressed=<diff_id>

    label the config containerd.io/gc.ref.snapshot.<snapshotter>=<top chain ID>

The last label is what keeps the snapshots alive: the image record references its manifest,
the manifest its config (``gc.ref.content.config``), and the config now the top snapshot,
which keeps its parents. Remove the image and, at the next garbage collection, the whole
chain goes - unless another image's config references a chain sharing it.

While unpacking, the ``extract-…`` snapshots and the chain IDs are attached to the current
lease (the caller's :meth:`~pyctrd.client.leases.LeasesClient.lease`), so a collection in
the middle cannot take them before the config label exists.

**Races.** Two pulls of images sharing a layer may prepare it at once. Whoever commits
second gets AlreadyExists and throws its work away; a prepare refused because the chain
ID appeared meanwhile means "skip" as well.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..core.content import Info, Manager, Provider
from ..core.diff import LABEL_UNCOMPRESSED, Applier
from ..core.gc import LABEL_REF_SNAPSHOT
from ..core.images import chain_ids, parse_config, read_blob, resolve_manifest
from ..core.images import platforms as plat
from ..core.leases import random_id
from ..core.mount import Mount
from ..core.ocispec import Descriptor
from ..core.snapshots import LABEL_SNAPSHOT_REF, UNPACK_KEY_FORMAT, Snapshotter, filter_inherited_labels
from ..errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PyctrdError, Unknown

__all__ = ["UnpackResult", "UnpackStore", "is_unpacked", "unpack", "unpack_key"]


class UnpackStore(Provider, Manager, Protocol):
    """What unpacking needs from a content store: read the documents, label blobs."""


@dataclass
class UnpackResult:
    """What an unpack did: the top chain ID, and per layer whether it was applied or existed."""

    chain_id: str
    snapshotter: str
    applied: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"<UnpackResult {self.snapshotter}:{self.chain_id[:19]} applied={len(self.applied)} "
                f"existing={len(self.existing)}>")


def unpack_key(chain_id: str) -> str:
    """A fresh extraction key: ``extract-<nanoseconds>-<4 random chars> <chainID>``.

    >>> unpack_key("sha256:e5").split(" ")[1], unpack_key("x").startswith("extract-")
    ('sha256:e5', True)
    """
    return UNPACK_KEY_FORMAT.format(random_id(), chain_id)  # random_id is containerd's uniquePart


def _layers(content: UnpackStore, target: Descriptor, matcher: plat.MatchComparer | None
            ) -> tuple[Descriptor, list[Descriptor], list[str]]:
    _, manifest = resolve_manifest(content, target, matcher)
    diff_ids = list(parse_config(read_blob(content, manifest.config)).diff_ids)
    if len(diff_ids) != len(manifest.layers):
        raise InvalidArgument(f"number of layers and diffIDs don't match: {len(manifest.layers)} != "
                              f"{len(diff_ids)}")
    return manifest.config, list(manifest.layers), diff_ids


def is_unpacked(content: UnpackStore, snapshotter: Snapshotter, target: Descriptor,
                matcher: plat.MatchComparer | None = None) -> bool:
    """Whether the image's top chain ID exists in ``snapshotter`` (``ctr images check``'s UNPACKED).

    Raises:
        NotFound: a document is missing, or no manifest for the platform.
    """
    _, _, diff_ids = _layers(content, target, matcher)
    if not diff_ids:
        return True
    try:
        snapshotter.stat(chain_ids(diff_ids)[-1])
    except NotFound:
        return False
    return True


def _prepare(sn: Snapshotter, chain_id: str, parent: str, labels: dict[str, str]) -> tuple[str, list[Mount]] | None:
    """Prepare an extraction snapshot; None when the chain ID appeared meanwhile."""
    for _ in range(3):
        key = unpack_key(chain_id)
        try:
            return key, sn.prepare(key, parent, labels)
        except AlreadyExists:
            try:
                sn.stat(chain_id)
            except NotFound:
                continue  # a key clash (rare): try another key
            return None
    raise Unknown(f"unable to prepare extraction snapshot for {chain_id}")


def _abort(sn: Snapshotter, key: str) -> None:
    try:
        sn.remove(key)
    except PyctrdError:
        pass  # already gone; a leftover would be collected with the lease


def unpack(content: UnpackStore, snapshotter: Snapshotter, applier: Applier, target: Descriptor, *,
           snapshotter_name: str, platform: plat.MatchComparer | None = None,
           progress: Callable[[str, str], None] | None = None) -> UnpackResult:
    """Unpack the image ``target`` for ``platform`` into ``snapshotter`` (see the module docs).

    Args:
        content: the content store holding the image (it gets the labels).
        snapshotter: where the chain goes (for the daemon: ``client.snapshotter(name)``).
        applier: what applies a layer onto mounts (``client.diff``).
        snapshotter_name: the name the GC label on the config uses.
        platform: which manifest of an index (default: this host's).
        progress: called with (chain ID, ``applied`` | ``exists``) per layer.

    Raises:
        NotFound: a document or layer blob is missing; no manifest for the platform.
        InvalidArgument: malformed documents, a hostile or corrupt layer (nothing committed).
        FailedPrecondition: a layer's content does not match the config's diff ID.
    """
    emit = progress or (lambda chain_id, status: None)
    config, layers, diff_ids = _layers(content, target, platform)
    chain = chain_ids(diff_ids)
    result = UnpackResult(chain[-1] if chain else "", snapshotter_name)
    for i, layer in enumerate(layers):
        chain_id, parent = chain[i], chain[i - 1] if i else ""
        try:
            snapshotter.stat(chain_id)
        except NotFound:
            pass
        else:
            result.existing.append(chain_id)
            emit(chain_id, "exists")
            continue
        labels = {**filter_inherited_labels(layer.annotations), LABEL_SNAPSHOT_REF: chain_id}
        prepared = _prepare(snapshotter, chain_id, parent, labels)
        if prepared is None:
            result.existing.append(chain_id)
            emit(chain_id, "exists")
            continue
        key, mounts = prepared
        try:
            applied = applier.apply(layer, mounts)
            if applied.digest != diff_ids[i]:
                raise FailedPrecondition(f"wrong diff id calculated on extraction {applied.digest!r} "
                                         f"(config says {diff_ids[i]})")
            snapshotter.commit(chain_id, key, labels)
        except AlreadyExists:  # a concurrent unpack committed it first
            _abort(snapshotter, key)
            result.existing.append(chain_id)
            emit(chain_id, "exists")
            continue
        except BaseException:
            _abort(snapshotter, key)
            raise
        content.update(Info(layer.digest, 0, labels={LABEL_UNCOMPRESSED: applied.digest}),
                       [f"labels.{LABEL_UNCOMPRESSED}"])
        result.applied.append(chain_id)
        emit(chain_id, "applied")
    if chain:
        gc_label = f"{LABEL_REF_SNAPSHOT}{snapshotter_name}"
        content.update(Info(config.digest, 0, labels={gc_label: chain[-1]}), [f"labels.{gc_label}"])
    return result
