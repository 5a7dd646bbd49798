"""``pyctr images pull|push|import|export`` and the registry options they share.

Unlike ``ctr``, a pull uses the *daemon's* registry hosts (its ``hosts.toml`` directory and
mirrors, see :mod:`pyctrd.plugins.remotes.registry`) unless ``--hosts-dir`` is given. After
the progress table, each blob's serving host is listed, then the unpack::

    unpacking linux/amd64 sha256:bcc4…...
    done: 15.229485ms
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from ...config import Duration
from ...core.images import Image
from ...core.images import platforms as plat
from ...core.ocispec import Platform
from .app import Context, pass_ctx
from .images import command, snapshotter_option
from .progress import ProgressDisplay
from .tabwriter import stdout

__all__ = ["export", "import_", "print_hosts", "pull", "push", "registry_options", "resolver"]


def registry_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--plain-http``, ``--user``, ``--hosts-dir``, ``--skip-verify`` (ctr's registry flags)."""
    for opt in reversed([
        click.option("--plain-http", is_flag=True, help="allow connections using plain HTTP"),
        click.option("-u", "--user", help="user[:password] for the registry (prompted when omitted)"),
        click.option("--hosts-dir", help="directory of <host>/hosts.toml (default: the daemon's)"),
        click.option("--skip-verify", "-k", is_flag=True, help="skip TLS certificate verification"),
    ]):
        f = opt(f)
    return f


def _user(user: str | None) -> str | None:
    if user and ":" not in user:
        user += ":" + click.prompt("Password", hide_input=True, err=True)
    return user


def resolver(ctx: Context, plain_http: bool, user: str | None, hosts_dir: str | None, skip_verify: bool) -> Any:
    from ...client.transfer import resolver_for

    return resolver_for(ctx.client, plain_http=plain_http, hosts_dir=hosts_dir, user=_user(user),
                        skip_verify=skip_verify)


def print_hosts(display: ProgressDisplay) -> None:
    for ref, host in display.hosts.items():
        click.echo(f"{ref}: served by {host}")


@command.command("pull")
@click.option("--platform", help="pull (and unpack) this platform, e.g. linux/arm64 (default: this host)")
@click.option("--all-platforms", is_flag=True, help="fetch and unpack every platform")
@click.option("--skip-unpack", is_flag=True, help="do not unpack the image into the snapshotter")
@snapshotter_option()
@registry_options
@click.argument("ref")
@pass_ctx
def pull(ctx: Context, platform: str | None, all_platforms: bool, skip_unpack: bool, snapshotter: str,
         plain_http: bool, user: str | None, hosts_dir: str | None, skip_verify: bool, ref: str) -> None:
    """Fetch an image into the content store, record it and unpack it."""
    r = resolver(ctx, plain_http, user, hosts_dir, skip_verify)
    display = ProgressDisplay(stdout())
    started: list[float] = []

    def unpacking(p: Platform, image: Image) -> None:
        display.finish()
        print_hosts(display)
        started.append(time.perf_counter())
        click.echo(f"unpacking {plat.format(p)} {image.target.digest}...")

    with display:
        ctx.client.pull(ref, platform=platform, all_platforms=all_platforms, unpack=not skip_unpack,
                        snapshotter=snapshotter, resolver=r, progress=display, on_unpack=unpacking)
        if skip_unpack:
            display.finish()
            print_hosts(display)
    if started:
        click.echo(f"done: {Duration(time.perf_counter() - started[0])}\t")


@command.command("push")
@click.option("--platform", help="push only this platform's manifest of an index")
@registry_options
@click.argument("remote")
@click.argument("local", required=False)
@pass_ctx
def push(ctx: Context, platform: str | None, plain_http: bool, user: str | None, hosts_dir: str | None,
         skip_verify: bool, remote: str, local: str | None) -> None:
    """Push an image (LOCAL, default REMOTE) to the registry REMOTE names."""
    r = resolver(ctx, plain_http, user, hosts_dir, skip_verify)
    with ProgressDisplay(stdout()) as display:
        ctx.client.push(remote, local, platform=platform, resolver=r, progress=display)


@command.command("import")
@click.option("--base-name", help="name prefix for images the archive names without a registry")
@click.option("--digests", is_flag=True, help="also create <prefix>@<digest> images")
@click.option("--index-name", help="create an image of this name for the whole archive")
@click.option("--all-platforms", is_flag=True, help="import content of every platform")
@click.option("--platform", help="import this platform (default: this host)")
@click.option("--no-unpack", is_flag=True, help="do not unpack the images")
@snapshotter_option()
@click.argument("archive", type=click.Path(exists=True, dir_okay=True))
@pass_ctx
def import_(ctx: Context, base_name: str | None, digests: bool, index_name: str | None, all_platforms: bool,
            platform: str | None, no_unpack: bool, snapshotter: str, archive: str) -> None:
    """Import an OCI layout or docker archive (tar or directory) and unpack its images."""
    from ...client.archive import import_archive

    def unpacking(img: Image, stage: str) -> None:
        if stage == "unpacking":
            click.echo(f"unpacking {img.name} ({img.target.digest})...", nl=False)
        else:
            click.echo("done")

    done = import_archive(ctx.client, archive, unpack_layers=not no_unpack, snapshotter=snapshotter,
                          base_name=base_name, digests=digests, index_name=index_name,
                          all_platforms=all_platforms, platform=platform, on_unpack=unpacking)
    if no_unpack:
        for img, _ in done:
            click.echo(img.name)


@command.command("export")
@click.option("--platform", help="export this platform (default: this host)")
@click.option("--all-platforms", is_flag=True, help="export every platform")
@click.argument("out", type=click.Path(dir_okay=False))
@click.argument("refs", nargs=-1, required=True)
@pass_ctx
def export(ctx: Context, platform: str | None, all_platforms: bool, out: str, refs: tuple[str, ...]) -> None:
    """Write images as an OCI layout tar (OUT; "-" for stdout)."""
    from ...client.archive import export_archive

    binary_stream: Any = click.get_binary_stream  # click 8.5 types it as a bare object
    target: Any = binary_stream("stdout") if out == "-" else out
    export_archive(ctx.client, target, refs, platform=platform, all_platforms=all_platforms)
