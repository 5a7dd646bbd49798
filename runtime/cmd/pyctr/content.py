"""``pyctr content ls|get|active|rm|label|fetch`` (ctr's ``content`` commands, same output)."""
from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import click

from ... import errdefs
from .app import AliasGroup, Context, pass_ctx
from .images_transfer import print_hosts, registry_options, resolver
from .namespaces import parse_labels
from .progress import ProgressDisplay
from .tabwriter import TabWriter, stdout
from .units import human_duration, human_size


class Group(AliasGroup):
    aliases = {"list": "ls", "remove": "rm", "delete": "rm", "del": "rm"}


@click.group("content", cls=Group)
def command() -> None:
    """Manage content (blobs and ingests)."""


def _age(t: datetime | None) -> str:
    return human_duration((datetime.now(UTC) - t).total_seconds()) if t else human_duration(time.time())


@command.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="print only the blob digest")
@click.argument("filters", nargs=-1)
@pass_ctx
def ls(ctx: Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """List blobs in the namespace (FILTERS: digest==…, size==…, labels.KEY==…)."""
    out = stdout()
    infos = list(ctx.client.content.walk(*filters))
    if quiet:
        for info in infos:
            click.echo(info.digest)
        return
    w = TabWriter(out, minwidth=1, padding=1, padchar="\t")
    w.write("DIGEST\tSIZE\tAGE\tLABELS\n")
    for info in infos:
        labels = ",".join(f"{k}={v}" for k, v in sorted(info.labels.items())) or "-"
        w.write(f"{info.digest}\t{human_size(info.size)}\t{_age(info.created_at)}\t{labels}\n")
    w.flush()


@command.command("get")
@click.argument("digest")
@pass_ctx
def get(ctx: Context, digest: str) -> None:
    """Write a blob's bytes to stdout."""
    r = ctx.client.content.reader_at(digest)
    try:
        out = sys.stdout.buffer
        for off in range(0, r.size, 1 << 20):
            out.write(r.read_at(off, 1 << 20))
        out.flush()
    finally:
        r.close()


@command.command("active")
@click.argument("match", required=False, default="")
@pass_ctx
def active(ctx: Context, match: str) -> None:
    """List ingests in progress (MATCH: a filter such as ref~=layer)."""
    statuses = ctx.client.content.list_statuses(*([match] if match else []))
    w = TabWriter(stdout(), minwidth=1, padding=1, padchar="\t")
    w.write("REF\tSIZE\tAGE\t\n")
    for st in statuses:
        w.write(f"{st.ref}\t{human_size(st.offset)}\t{_age(st.started_at)}\t\n")
    w.flush()


@command.command("rm")
@click.argument("digests", nargs=-1)
@pass_ctx
def rm(ctx: Context, digests: tuple[str, ...]) -> None:
    """Delete blobs from the namespace (printed when deleted; missing ones are skipped)."""
    failed: errdefs.PyctrdError | None = None
    for d in digests:
        try:
            ctx.client.content.delete(d)
        except errdefs.NotFound:
            continue
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: could not delete {d}: {exc}", err=True)
            failed = failed or exc
            continue
        click.echo(d)
    if failed:
        raise failed


@command.command("label")
@click.argument("digest")
@click.argument("labels", nargs=-1)
@pass_ctx
def label(ctx: Context, digest: str, labels: tuple[str, ...]) -> None:
    """Set (KEY=VALUE) or clear (KEY=) labels on a blob; prints its labels."""
    from ...core.content import Info

    wanted = parse_labels(labels)
    if wanted:
        info = ctx.client.content.update(Info(digest, 0, labels={k: v for k, v in wanted.items() if v}),
                                         [f"labels.{k}" for k in wanted])
    else:
        info = ctx.client.content.info(digest)
    click.echo(",".join(f"{k}={v}" for k, v in sorted(info.labels.items())))


@command.command("fetch")
@click.option("--platform", help="fetch this platform (default: this host)")
@click.option("--all-platforms", is_flag=True, help="fetch every platform")
@registry_options
@click.argument("ref")
@pass_ctx
def fetch(ctx: Context, platform: str | None, all_platforms: bool, plain_http: bool, user: str | None,
          hosts_dir: str | None, skip_verify: bool, ref: str) -> None:
    """Fetch an image's content into the store and record the image (no unpacking)."""
    r = resolver(ctx, plain_http, user, hosts_dir, skip_verify)
    display = ProgressDisplay(stdout())
    with display:
        ctx.client.fetch(ref, platform=platform, all_platforms=all_platforms, resolver=r, progress=display)
    print_hosts(display)
