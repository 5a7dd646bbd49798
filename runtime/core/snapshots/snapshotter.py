"""The :class:`Snapshotter` interface: ten operations that give containers their root filesystems."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from ..mount import Mount
from .info import Info, Usage

__all__ = ["Cleaner", "Snapshotter"]


@runtime_checkable
class Snapshotter(Protocol):
    """Stores filesystem trees as stacks of changes, and says how to mount them.

    **The model.** A *snapshot* is a directory tree. Each snapshot has at most one *parent*,
    a snapshot it starts from; only what differs from the parent is stored (overlayfs) or
    the whole tree is copied (native) - callers cannot tell the difference. A chain of
    parents is an image's layers; the tip of the chain is what a container sees.

    A snapshot is one of three kinds (:class:`~pyctrd.core.snapshots.Kind`):

    - **active** (``prepare``): writable. You mount it, change files, then either
      ``commit`` it or ``remove`` it.
    - **view** (``view``): like active but read-only, for looking at a committed snapshot.
      It can only be removed.
    - **committed** (``commit``): frozen forever. Only committed snapshots can be parents.

    A snapshot never changes kind in place: ``commit`` makes a *new* committed snapshot
    out of an active one and the active one is gone.

    **Key, name, parent.** Every snapshot is addressed by one string, all kinds sharing a
    single space (an active ``x`` and a committed ``x`` cannot both exist):

    - ``key`` names an active snapshot or a view - chosen by the caller, often with a
      random part, because it is a temporary handle on work in progress;
    - ``name`` names a committed snapshot - usually a layer's *chain ID*, so that the same
      layer stack is stored once, however many images share it;
    - ``parent`` is the name of the committed snapshot a new one starts from; ``""``
      means an empty directory.

    Methods that accept "any kind" take a ``key`` too (``stat``, ``usage``, ``remove``).

    **Importing a layer** (what ``ctr images pull`` does for each layer, bottom up)::

        key = "extract-5847563-12 sha256:<chainID>"           # UNPACK_KEY_FORMAT
        mounts = sn.prepare(key, parent=chain_id_of_layer_below)  # "" for the first layer
        with temp_mount(mounts) as root:                       # pyctrd.core.mount
            apply_layer(root, tar)                             # the differ unpacks the tar
        sn.commit("sha256:<chainID>", key)                     # now usable as a parent

    If the chain ID exists already (``stat`` finds it, or ``commit`` raises AlreadyExists
    because another pull got there first), the work is thrown away with ``remove(key)``.

    **Running a container** (``ctr run``): prepare a writable snapshot on top of the
    image's top chain ID and hand its mounts to the runtime::

        mounts = sn.prepare("c1", parent=top_chain_id)
        # runc mounts them as the rootfs, e.g. for overlayfs:
        # overlay lowerdir=<layer n>/fs:…:<layer 1>/fs, upperdir=<c1>/fs, workdir=<c1>/work
        sn.mounts("c1")        # the same list again, whenever it is needed later
        sn.remove("c1")        # when the container is deleted; its changes go with it

    Committing ``c1`` instead of removing it would turn the container's changes into a
    new layer - which is how ``commit``-style image builds work.

    Every method raises only :mod:`pyctrd.errdefs` kinds.
    """

    def stat(self, key: str) -> Info:
        """Info on a snapshot of any kind: to resolve parents, check existence, learn the kind.

        Raises:
            NotFound: no snapshot has that key or name.
        """
        ...

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        """Change the labels of snapshot ``info.name``; returns the updated Info.

        ``fieldpaths`` says what to take from ``info``: ``"labels"`` (all of them) or
        ``"labels.<key>"`` (one; an absent or empty value deletes it). With no fieldpaths
        the labels are replaced. Kind, parent and times cannot be changed.

        Raises:
            NotFound: no such snapshot.
            InvalidArgument: a fieldpath other than labels, or a label too large.
        """
        ...

    def usage(self, key: str) -> Usage:
        """Disk used by the snapshot itself, its parents not counted.

        For an active snapshot this walks its directory (cost grows with its size);
        committed snapshots answer from what was measured when they were committed.

        Raises:
            NotFound: no such snapshot.
        """
        ...

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an active snapshot or view, as prepare()/view() returned them.

        Raises:
            NotFound: no such snapshot.
            FailedPrecondition: ``key`` is a committed snapshot (those are never mounted).
        """
        ...

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None
                ) -> list[Mount]:
        """Create a writable (active) snapshot ``key`` starting with ``parent``'s contents.

        Mount the returned list on a directory to see the parent's files and make changes;
        they are captured relative to the parent. Finish with commit() or remove().

        Raises:
            AlreadyExists: ``key`` is taken (by any kind of snapshot).
            NotFound: ``parent`` does not exist.
            InvalidArgument: ``parent`` is not committed; an empty key; bad labels.
        """
        ...

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None
             ) -> list[Mount]:
        """Create a read-only snapshot ``key`` showing ``parent``; writes to it fail (EROFS).

        A view can only be removed, never committed. It may share the parent's storage.

        Raises:
            AlreadyExists: ``key`` is taken.
            NotFound: ``parent`` does not exist.
            InvalidArgument: ``parent`` is not committed; an empty key; bad labels.
        """
        ...

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        """Freeze active snapshot ``key`` as committed snapshot ``name``; ``key`` is gone after.

        The committed snapshot keeps ``key``'s parent, its usage is measured now, and its
        labels are ``labels`` (those of the active snapshot are not carried over).

        Raises:
            NotFound: no snapshot ``key``.
            AlreadyExists: ``name`` is taken.
            FailedPrecondition: ``key`` is a view or a committed snapshot.
        """
        ...

    def remove(self, key: str) -> None:
        """Delete a snapshot of any kind with everything stored for it.

        Raises:
            NotFound: no such snapshot.
            FailedPrecondition: other snapshots have it as parent (remove them first).
        """
        ...

    def walk(self, *filters: str) -> Iterator[Info]:
        """Every snapshot matching any of ``filters`` (all of them when none), by name.

        Filter fields: ``name``, ``parent``, ``kind`` (active, view, committed) and
        ``labels.<key>``, e.g. ``kind==committed,labels."containerd.io/gc.root"``.

        Raises:
            InvalidArgument: a filter does not parse.
        """
        ...

    def close(self) -> None:
        """Release resources (the metadata database). Closing twice is fine.

        Raises:
            Unknown: the database could not be closed cleanly.
        """
        ...


@runtime_checkable
class Cleaner(Protocol):
    """A snapshotter whose remove() leaves disk space to be reclaimed later (containerd's).

    overlayfs removes only the record and lets the garbage collector call cleanup(), so a
    remove answers quickly and the key can be reused at once.
    """

    def cleanup(self) -> None:
        """Delete directories no snapshot record refers to any more.

        Raises:
            Unknown: a directory could not be listed.
        """
        ...
