"""``pyctr namespaces ls|create|label|rm``."""
from __future__ import annotations

import click

from ... import errdefs
from .app import AliasGroup, Context, pass_ctx
from .tabwriter import TabWriter, stdout


class Group(AliasGroup):
    aliases = {"list": "ls", "remove": "rm", "delete": "rm", "del": "rm"}


def parse_labels(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep and not k:
            raise click.BadParameter(f"invalid label {item!r}")
        out[k] = v
    return out


@click.group("namespaces", cls=Group)
def command() -> None:
    """Manage namespaces."""


@command.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="print only the namespace name")
@pass_ctx
def ls(ctx: Context, quiet: bool) -> None:
    """List namespaces."""
    items = ctx.client.namespaces.list()
    if quiet:
        for name in items:
            click.echo(name)
        return
    w = TabWriter(stdout(), minwidth=1, padding=1)
    w.write("NAME\tLABELS\t\n")
    for name, labels in sorted(items.items()):
        w.write(f"{name}\t{','.join(f'{k}={v}' for k, v in sorted(labels.items()))}\t\n")
    w.flush()


@command.command("create")
@click.argument("name")
@click.argument("labels", nargs=-1)
@pass_ctx
def create(ctx: Context, name: str, labels: tuple[str, ...]) -> None:
    """Create a namespace, optionally with labels KEY=VALUE."""
    ctx.client.namespaces.create(name, parse_labels(labels))


@command.command("label")
@click.argument("name")
@click.argument("labels", nargs=-1)
@pass_ctx
def label(ctx: Context, name: str, labels: tuple[str, ...]) -> None:
    """Set (KEY=VALUE) or clear (KEY=) labels on a namespace."""
    ctx.client.namespaces.set_labels(name, parse_labels(labels))


@command.command("rm")
@click.argument("names", nargs=-1, required=True)
@pass_ctx
def rm(ctx: Context, names: tuple[str, ...]) -> None:
    """Remove namespaces (they must be empty)."""
    failed = None
    for name in names:
        try:
            ctx.client.namespaces.delete(name)
        except errdefs.NotFound:
            pass  # as ctr: a missing namespace is already gone
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: unable to delete {name}: {exc}", err=True)
            # ctr's exit error wraps the first failure with its name: keep the kind, add the name
            failed = failed or type(exc)(f"unable to delete {name}: {exc.what}")
            continue
        click.echo(name)
    if failed:
        raise failed
