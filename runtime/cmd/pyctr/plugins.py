"""``pyctr plugins ls [-q] [-d] [FILTER...]``."""
from __future__ import annotations

import click

from .app import AliasGroup, Context, pass_ctx
from .tabwriter import TabWriter, stdout


class Group(AliasGroup):
    aliases = {"list": "ls"}


@click.group("plugins", cls=Group)
def command() -> None:
    """Provides information about the daemon's plugins."""


@command.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="print only the plugin ID")
@click.option("-d", "--detailed", is_flag=True, help="print detailed information about each plugin")
@click.argument("filters", nargs=-1)
@pass_ctx
def ls(ctx: Context, quiet: bool, detailed: bool, filters: tuple[str, ...]) -> None:
    """List plugins (filters as ctr's: id==native, type==io.containerd.grpc.v1)."""
    plugins = ctx.client.plugins(*filters)
    if quiet:
        for p in plugins:
            click.echo(p.id)
        return
    w = TabWriter(stdout(), minwidth=4, padding=4)
    if detailed:
        for i, p in enumerate(plugins):
            if i:
                w.write("\t\t\t\n")
            w.write(f"Type:\t {p.type}\n")
            w.write(f"ID:\t {p.id}\n")
            if p.requires:
                w.write("Requires:\t\n")
                for r in p.requires:
                    w.write(f"\t {r}\n")
            if p.platforms:
                w.write(f"Platforms:\t {','.join(p.platforms)}\n")
            if p.exports:
                w.write("Exports:\t\n")
                for k, v in p.exports.items():
                    w.write(f"\t {k} \t {v}\n")
            if p.capabilities:
                w.write(f"Capabilities:\t {','.join(p.capabilities)}\n")
            if p.error_code is not None:
                w.write("Error:\t\n")
                w.write(f"\t Code:\t {p.error_code_name}\n")
                w.write(f"\t Message:\t {p.error}\n")
        w.flush()
        return
    w.write("TYPE\tID\tPLATFORMS\tSTATUS\t\n")
    for p in plugins:
        w.write(f"{p.type}\t{p.id}\t{','.join(p.platforms) or '-'}\t{p.status}\t\n")
    w.flush()
