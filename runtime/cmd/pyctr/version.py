"""``pyctr version``."""
from __future__ import annotations

import platform

import click

from ... import __version__
from .app import Context, pass_ctx


@click.command("version")
@pass_ctx
def command(ctx: Context) -> None:
    """Print the client and server versions."""
    # imported here: the version plugin's module loads the plugin registry (and networkx),
    # which no other pyctr command needs - every invocation would pay for it at start-up
    from ...services.version.plugin import VERSION, revision

    click.echo("Client:")
    click.echo(f"  Version:  {VERSION}")
    click.echo(f"  Revision: {revision()}")
    click.echo(f"  Python version: {platform.python_version()}")
    click.echo("")
    v = ctx.client.version()
    click.echo("Server:")
    click.echo(f"  Version:  {v.version}")
    click.echo(f"  Revision: {v.revision}")
    click.echo(f"  UUID: {v.uuid}")
    if v.version != VERSION:
        click.echo("WARNING: version mismatch", err=True)
    _ = __version__
