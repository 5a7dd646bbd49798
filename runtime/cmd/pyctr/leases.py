"""``pyctr leases ls|create|rm`` (ctr's ``leases`` commands, same output)."""
from __future__ import annotations

from datetime import UTC, datetime

import click

from ... import errdefs
from ...config import Duration
from ...core.leases import expire_label
from .app import AliasGroup, Context, pass_ctx
from .tabwriter import TabWriter, stdout
from .units import rfc3339


class Group(AliasGroup):
    aliases = {"list": "ls", "remove": "rm", "delete": "rm", "del": "rm"}


@click.group("leases", cls=Group)
def command() -> None:
    """Manage leases (what keeps content from garbage collection)."""


@command.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="print only the lease ID")
@click.argument("filters", nargs=-1)
@pass_ctx
def ls(ctx: Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """List leases (FILTERS: id==…, labels.KEY==…)."""
    try:
        found = ctx.client.leases.list(*filters)
    except errdefs.PyctrdError as exc:  # ctr's words, the same kind
        raise type(exc)(f"failed to list leases: {exc.what}") from None
    if quiet:
        for lease in found:
            click.echo(lease.id)
        return
    w = TabWriter(stdout(), minwidth=1, padding=1)
    w.write("ID\tCREATED AT\tLABELS\t\n")
    for lease in found:
        labels = ",".join(f"{k}={v}" for k, v in sorted(lease.labels.items())) or "-"
        created = rfc3339(lease.created_at) if lease.created_at else "-"
        w.write(f"{lease.id}\t{created}\t{labels}\t\n")
    w.flush()


@command.command("create")
@click.option("--id", "id_", default="", help="the lease ID (generated when empty)")
@click.option("-x", "--expires", default="24h", show_default=True, help="expiry (0: never)")
@click.argument("labels", nargs=-1)
@pass_ctx
def create(ctx: Context, id_: str, expires: str, labels: tuple[str, ...]) -> None:
    """Create a lease with labels KEY=VALUE; prints its ID."""
    wanted = {k: v for k, _, v in (item.partition("=") for item in labels)}
    ttl = Duration(expires).seconds
    if ttl > 0:
        wanted.update(expire_label(ttl, datetime.now(UTC)))
    click.echo(ctx.client.leases.create(id_, wanted).id)


@command.command("rm")
@click.option("--sync", is_flag=True, help="wait for garbage collection after the last one")
@click.argument("ids", nargs=-1, required=True)
@pass_ctx
def rm(ctx: Context, sync: bool, ids: tuple[str, ...]) -> None:
    """Delete leases (printed as they go)."""
    for i, lid in enumerate(ids):
        ctx.client.leases.delete(lid, sync=sync and i == len(ids) - 1)
        click.echo(lid)
