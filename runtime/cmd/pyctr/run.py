"""``pyctr run``: create a container and run its task, attached (default) or detached.

    pyctr run [-d] [--rm] [-t] [--env K=V] [--mount type=bind,src=A,dst=B,options=rbind:ro]
              [--net-host] [--memory-limit BYTES] [--cpus N] [--runtime NAME]
              [--snapshotter NAME] [--rootfs DIR] IMAGE|- ID [CMD...]

Without ``-d`` the container's stdio is this terminal's, signals are forwarded and the exit
code is pyctr's. IMAGE must have been pulled (``pyctr images pull``); ``--rootfs DIR`` with
``-`` for IMAGE runs from a plain directory instead.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ... import errdefs
from ...client import Client
from ...client.cio import DEFAULT_FIFO_DIR
from ...client.newcontainer import image_spec_opts
from ...core import oci
from .app import Context, pass_ctx
from .attached import io_creator, raw_terminal, wait_attached

__all__ = ["command", "container_options", "create_container", "parse_mount"]

def parse_mount(text: str) -> dict[str, Any]:
    """ctr's ``--mount``: ``type=bind,src=/a,dst=/b,options=rbind:ro``.

    >>> parse_mount("type=bind,src=/a,dst=/b,options=rbind:ro")
    {'destination': '/b', 'type': 'bind', 'source': '/a', 'options': ['rbind', 'ro']}
    """
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise click.BadParameter(f"mount {text!r}: {part!r} is not key=value")
        fields[key] = value
    dst = fields.get("dst") or fields.get("destination") or fields.get("target")
    if not dst:
        raise click.BadParameter(f"mount {text!r}: no dst")
    return {"destination": dst, "type": fields.get("type", "bind"),
            "source": fields.get("src") or fields.get("source", ""),
            "options": [o for o in fields.get("options", "").split(":") if o]}


def container_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The flags ``run`` and ``containers create`` share."""
    for opt in reversed([
        click.option("-t", "--tty", is_flag=True, help="allocate a TTY for the container"),
        click.option("--env", multiple=True, help="environment variable KEY=VALUE"),
        click.option("--mount", "mounts", multiple=True, help="type=bind,src=A,dst=B,options=rbind:ro"),
        click.option("--net-host", is_flag=True, help="use the host's network namespace"),
        click.option("--memory-limit", type=int, default=0, help="memory limit, bytes"),
        click.option("--cpus", type=float, default=0.0, help="CPUs the container may use"),
        click.option("--runtime", default=None, help="runtime name (default io.containerd.pyrunc.v1)"),
        click.option("--snapshotter", default="overlayfs", show_default=True, help="snapshotter for the image"),
        click.option("--rootfs", type=click.Path(exists=True, file_okay=False), default=None,
                     help="run from this root filesystem directory instead of an image (IMAGE is -)"),
        click.option("--label", "labels", multiple=True, help="container label KEY=VALUE"),
        click.option("--cwd", default="", help="working directory in the container"),
    ]):
        f = opt(f)
    return f


def create_container(ctx: Context, image: str, id: str, args: tuple[str, ...], o: dict[str, Any]) -> None:
    """Make the spec from the flags and create the container record.

    Under a lease, as ctr's: until the record exists nothing refers to the new snapshot, and
    a garbage collection in between would remove it.
    """
    with ctx.client.leases.lease():
        _create_container(ctx, image, id, args, o)


def _create_container(ctx: Context, image: str, id: str, args: tuple[str, ...], o: dict[str, Any]) -> None:
    opts: list[oci.SpecOpt] = [oci.with_default_unix_devices, oci.with_default_path_env]
    snapshotter = snapshot_key = image_name = ""
    if o["rootfs"]:
        if image != "-":
            raise click.UsageError("with --rootfs, give - for IMAGE")
        opts.append(oci.with_rootfs_path(str(click.format_filename(o["rootfs"]))))
    elif image == "-":
        raise click.UsageError("IMAGE - needs --rootfs DIR")
    else:
        # The image must be pulled already (as with ctr); it is unpacked if it is not yet.
        more, image_name = image_spec_opts(ctx.client, id, image, snapshotter=o["snapshotter"])
        snapshotter, snapshot_key = o["snapshotter"], id
        opts += more
    if o["env"]:
        opts.append(oci.with_env(o["env"]))
    if o["mounts"]:
        opts.append(oci.with_mounts([parse_mount(m) for m in o["mounts"]]))
    if o["net_host"]:
        opts += [oci.with_host_namespace("network"), oci.with_host_hosts_file, oci.with_host_resolvconf]
    if o["memory_limit"]:
        opts.append(oci.with_memory_limit(o["memory_limit"]))
    if o["cpus"]:
        opts.append(oci.with_cpus(o["cpus"]))
    if o["tty"]:
        opts.append(oci.with_tty)
    if o["cwd"]:
        opts.append(oci.with_process_cwd(o["cwd"]))
    if args:
        opts.append(oci.with_process_args(*args))
    elif o["rootfs"]:
        raise click.UsageError("give the command to run (a root filesystem has no default)")
    spec = oci.generate_spec(ctx.namespace, id, *opts)
    labels = dict(item.partition("=")[::2] for item in o["labels"])
    ctx.client.containers.create(id, spec=spec, runtime=o["runtime"], snapshotter=snapshotter,
                                 snapshot_key=snapshot_key, image=image_name, labels=labels)


@click.command("run", context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="detach from the task after it started")
@click.option("--rm", "remove", is_flag=True, help="remove the container after the task exits")
@click.option("--fifo-dir", default=DEFAULT_FIFO_DIR, show_default=True, help="where the stdio FIFOs are made")
@click.option("--log-uri", default="", help="send stdout/stderr there (file:///path, binary:///bin)")
@container_options
@click.argument("image")
@click.argument("id")
@click.argument("args", nargs=-1)
@pass_ctx
def command(ctx: Context, /, detach: bool, remove: bool, fifo_dir: str, log_uri: str, image: str, id: str,
            args: tuple[str, ...], **o: Any) -> None:
    """Run a command in a new container."""
    if detach and remove:
        raise click.UsageError("flags --detach and --rm cannot be specified together")
    create_container(ctx, image, id, args, o)
    client = ctx.client
    try:
        if detach:
            task = client.tasks.create(id, io=io_creator(False, fifo_dir, log_uri) if log_uri else None)
            task.start()
            return
        task = client.tasks.create(id, io=io_creator(o["tty"], fifo_dir, log_uri))
        with raw_terminal(o["tty"]):
            exit = wait_attached(task, terminal=o["tty"])
        task.delete()
    except BaseException:
        if remove or not detach:
            _cleanup(client, id, remove)
        raise
    if remove:
        client.containers.delete(id, snapshot_cleanup=True)
    if exit.status:
        raise click.exceptions.Exit(exit.status)


def _cleanup(client: Client, id: str, remove: bool) -> None:
    """After a failure: the task goes; with --rm the container too."""
    try:
        client.tasks.get(id).delete(force=True)
    except errdefs.PyctrdError:
        pass
    if remove:
        try:
            client.containers.delete(id, snapshot_cleanup=True)
        except errdefs.PyctrdError:
            pass
