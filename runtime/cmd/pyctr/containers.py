"""``pyctr containers create|ls|info|rm|label``."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import click
from google.protobuf import any_pb2

from ... import errdefs
from ...core import oci, typeurl
from ...core.containers import Container
from .app import AliasGroup, Context, pass_ctx
from .namespaces import parse_labels
from .run import container_options, create_container
from .tabwriter import TabWriter, stdout


class Group(AliasGroup):
    aliases = {"list": "ls", "remove": "rm", "delete": "rm", "del": "rm"}


@click.group("containers", cls=Group)
def command() -> None:
    """Manage containers."""


def go_time(dt: datetime | None) -> str:
    """RFC 3339 with nanoseconds, as Go's JSON writes ``time.Time``.

    >>> go_time(datetime(2026, 11, 28, 4, 53, 45, 430846, tzinfo=UTC))
    '2026-11-28T04:53:45.430846Z'
    """
    if dt is None:
        return "0001-01-01T00:00:00Z"
    dt = dt.astimezone(UTC)
    frac = f".{dt.microsecond:06d}".rstrip("0").rstrip(".")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def _any_json(a: any_pb2.Any | None) -> dict[str, Any] | None:
    if a is None:
        return None
    out: dict[str, Any] = {"type_url": a.type_url}
    if a.value:
        out["value"] = base64.b64encode(a.value).decode()
    return out


def info_json(c: Container) -> dict[str, Any]:
    """What ``ctr containers info`` prints: the record, with the spec decoded."""
    out: dict[str, Any] = {
        "ID": c.id, "Labels": c.labels or None, "Image": c.image,
        "Runtime": {"Name": c.runtime.name, "Options": _any_json(c.runtime.options)},
        "SnapshotKey": c.snapshot_key, "Snapshotter": c.snapshotter,
        "CreatedAt": go_time(c.created_at), "UpdatedAt": go_time(c.updated_at),
        "Extensions": {k: _any_json(v) for k, v in c.extensions.items()} or None,
    }
    if c.spec is not None and c.spec.value:
        out["Spec"] = _spec(c.spec)
    return out


def _spec(a: any_pb2.Any) -> Any:
    doc = typeurl.unpack_json(a)
    return json.loads(oci.dumps(doc)) if a.type_url == typeurl.OCI_SPEC_URL else doc


@command.command("create", context_settings={"allow_interspersed_args": False})
@container_options
@click.argument("image")
@click.argument("id")
@click.argument("args", nargs=-1)
@pass_ctx
def create(ctx: Context, /, image: str, id: str, args: tuple[str, ...], **o: Any) -> None:
    """Create a container (IMAGE is - with --rootfs DIR)."""
    create_container(ctx, image, id, args, o)


@command.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="print only the container id")
@click.argument("filters", nargs=-1)
@pass_ctx
def ls(ctx: Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """List containers (optionally matching filters, e.g. labels.team==red)."""
    found = ctx.client.containers.list(*filters)
    if quiet:
        for c in found:
            click.echo(c.id)
        return
    w = TabWriter(stdout(), minwidth=4, padding=4)
    w.write("CONTAINER\tIMAGE\tRUNTIME\t\n")
    for c in found:
        w.write(f"{c.id}\t{c.image or '-'}\t{c.runtime.name}\t\n")
    w.flush()


@command.command("info")
@click.option("--spec", "spec_only", is_flag=True, help="only display the spec")
@click.argument("id")
@pass_ctx
def info(ctx: Context, spec_only: bool, id: str) -> None:
    """Show a container's record as JSON."""
    c = ctx.client.containers.get(id)
    doc = (_spec(c.spec) if c.spec is not None else None) if spec_only else info_json(c)
    click.echo(json.dumps(doc, indent=4))


@command.command("rm")
@click.option("--keep-snapshot", is_flag=True, help="do not clean up the container's snapshot")
@click.argument("ids", nargs=-1, required=True)
@pass_ctx
def rm(ctx: Context, keep_snapshot: bool, ids: tuple[str, ...]) -> None:
    """Delete containers (their tasks must be deleted first)."""
    failed: errdefs.PyctrdError | None = None
    for id in ids:
        try:
            ctx.client.containers.delete(id, tasks=ctx.client.tasks, snapshot_cleanup=not keep_snapshot)
        except errdefs.PyctrdError as exc:
            click.echo(f'pyctr: failed to delete container "{id}": {exc}', err=True)
            failed = failed or exc
    if failed:
        raise failed


@command.command("label")
@click.argument("id")
@click.argument("labels", nargs=-1)
@pass_ctx
def label(ctx: Context, id: str, labels: tuple[str, ...]) -> None:
    """Set (KEY=VALUE) or clear (KEY=) labels; prints the container's labels."""
    ctx.client.containers.get(id)  # NotFound before anything else, as ctr's LoadContainer
    result = ctx.client.containers.set_labels(id, parse_labels(labels))
    click.echo(",".join(f"{k}={v}" for k, v in sorted(result.items())))
