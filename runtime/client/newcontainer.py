"""From an image to a runnable container: the client-side steps ``ctr run IMAGE ID`` takes.

containerd's daemon never looks inside an image to make a container; the *client* does:

1. find the image record and, through its manifest for this platform, its config;
2. make sure the layers are unpacked (the top chain ID exists in the snapshotter);
3. **prepare** a new active snapshot named after the container, whose parent is the image's
   top chain ID - the container's writable layer;
4. build the OCI spec: containerd's defaults, then the image config (Env, Entrypoint/Cmd,
   WorkingDir, User), then the caller's options;
5. create the container record naming the image, the snapshotter and the snapshot key.

Nothing runs yet: ``client.tasks.create(id)`` asks the runtime to start a shim, which mounts
the snapshot at ``<bundle>/rootfs`` and calls ``runc create``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core import oci
from ..core.images import chain_ids, image_config
from ..core.images import platforms as plat
from ..core.mount import temp_mount
from ..errdefs import AlreadyExists, NotFound, PyctrdError
from .images import matcher
from .unpack import is_unpacked, unpack

if TYPE_CHECKING:
    from ..core.containers import Container
    from . import Client

__all__ = ["image_spec_opts", "new_container"]


def _user_needs_rootfs(cfg: dict[str, Any]) -> bool:
    """A ``User`` given by name (not ``uid[:gid]``) is resolved in the image's /etc/passwd."""
    user = str((cfg.get("config") or {}).get("User") or "")
    return bool(user) and not all(part.isdigit() for part in user.split(":"))


def image_spec_opts(client: Client, id: str, image: str, *, snapshotter: str = "overlayfs",
                    args: Sequence[str] = (), platform: str | None = None
                    ) -> tuple[list[oci.SpecOpt], str]:
    """Unpack if needed, prepare the container's snapshot and return (spec options, image name).

    Raises:
        NotFound: no image of that name, or not for this platform.
        AlreadyExists: a snapshot named ``id`` exists already in ``snapshotter``.
    """
    img = client.images.get(image)
    want = matcher(platform)
    provider = client.content
    _, config = image_config(provider, img.target, want)
    sn = client.snapshotter(snapshotter)
    if not is_unpacked(provider, sn, img.target, want):
        with client.leases.lease():
            unpack(provider, sn, client.diff, img.target, snapshotter_name=snapshotter,
                   platform=want if platform else plat.only(plat.default_platform()))
    parent = chain_ids(list(config.diff_ids))[-1] if config.diff_ids else ""
    sn.prepare(id, parent)
    try:
        raw = config.raw
        if not _user_needs_rootfs(raw):
            return [oci.with_image_config(raw, args=list(args) or None)], img.name
        user = _resolve_user(client, sn, id, parent, raw)
        no_user = {**raw, "config": {**(raw.get("config") or {}), "User": ""}}
        return [oci.with_image_config(no_user, args=list(args) or None), _set_user(user)], img.name
    except BaseException:
        try:
            sn.remove(id)
        except PyctrdError:
            pass
        raise


def _resolve_user(client: Client, sn: Any, id: str, parent: str, raw: dict[str, Any]) -> dict[str, Any]:
    """uid, gid and groups of a named ``User``, read from a read-only view of the image.

    As containerd's ``WithUser``: the client mounts the image briefly (this needs root).
    """
    view = f"{id}-user-view"
    try:
        with temp_mount(sn.view(view, parent)) as root:
            probe = oci.default_spec(client.namespace, id)
            oci.with_image_config(raw, rootfs=str(root))(probe)
    finally:
        sn.remove(view)
    return dict(probe["process"]["user"])


def _set_user(user: dict[str, Any]) -> oci.SpecOpt:
    def opt(spec: dict[str, Any]) -> None:
        spec.setdefault("process", {})["user"] = dict(user)

    return opt


def new_container(client: Client, id: str, image: str, *, args: Sequence[str] = (),
                  snapshotter: str = "overlayfs", runtime: str | None = None,
                  spec_opts: Sequence[oci.SpecOpt] = (), labels: dict[str, str] | None = None,
                  platform: str | None = None) -> Container:
    """Create container ``id`` from ``image`` (steps 1-5 above).

    Raises:
        NotFound: no such image. AlreadyExists: the container or its snapshot exists.
    """
    # Under a lease, as containerd's NewContainer: until the container record exists nothing
    # else refers to the new snapshot, and a garbage collection in between would remove it.
    with client.leases.lease():
        opts, name = image_spec_opts(client, id, image, snapshotter=snapshotter, args=args, platform=platform)
        spec = oci.generate_spec(client.namespace, id, oci.with_default_unix_devices, *opts, *spec_opts)
        try:
            return client.containers.create(id, spec=spec, runtime=runtime, snapshotter=snapshotter,
                                            snapshot_key=id, image=name, labels=labels)
        except BaseException:
            try:
                client.snapshotter(snapshotter).remove(id)
            except (NotFound, AlreadyExists, PyctrdError):
                pass
            raise
