"""``pyctr images ls|rm|tag|check`` (ctr's ``images`` commands, same output)."""
from __future__ import annotations

import click

from ... import errdefs
from ...client.images import check as check_image
from ...client.images import image_platforms, image_size
from ...core.metadata import Image
from .app import AliasGroup, Context, pass_ctx
from .tabwriter import TabWriter
from .units import bytes_iec


class Group(AliasGroup):
    aliases = {"list": "ls", "remove": "rm", "delete": "rm", "del": "rm"}


@click.group("images", cls=Group)
def command() -> None:
    """Manage images (records; pulling comes with the registry work)."""


def _labels(image: Image) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(image.labels.items())) or "-"


@command.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="print only the image refs")
@click.argument("filters", nargs=-1)
@pass_ctx
def ls(ctx: Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """List images (FILTERS: name==…, target.digest==…, target.mediatype==…, labels.KEY==…)."""
    found = ctx.client.images.list(*filters)
    if quiet:
        for img in found:
            click.echo(img.name)
        return
    cs = ctx.client.content
    w = TabWriter(click.get_text_stream("stdout"), minwidth=1, padding=1)
    w.write("REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t\n")
    for img in found:
        try:
            size = image_size(cs, img.target)
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: failed calculating size for image {img.name}: {exc}", err=True)
            size = 0
        try:
            plats = ",".join(image_platforms(cs, img.target)) or "-"
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: failed resolving platform for image {img.name}: {exc}", err=True)
            plats = "-"
        w.write(f"{img.name}\t{img.target.media_type}\t{img.target.digest}\t{bytes_iec(size)}\t{plats}\t"
                f"{_labels(img)}\t\n")
    w.flush()


@command.command("rm")
@click.option("--sync", is_flag=True, help="wait for garbage collection after the last one")
@click.argument("refs", nargs=-1)
@pass_ctx
def rm(ctx: Context, sync: bool, refs: tuple[str, ...]) -> None:
    """Remove images by name (the blobs go at the next garbage collection)."""
    failed: errdefs.PyctrdError | None = None
    for i, ref in enumerate(refs):
        try:
            ctx.client.images.delete(ref, sync=sync and i == len(refs) - 1)
        except errdefs.NotFound:
            click.echo(f"pyctr: {ref}: image not found", err=True)
            continue
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: unable to delete {ref}: {exc}", err=True)
            failed = failed or exc
            continue
        click.echo(ref)
    if failed:
        raise failed


@command.command("tag")
@click.option("--force", is_flag=True, help="replace a target that exists")
@click.argument("source")
@click.argument("targets", nargs=-1, required=True)
@pass_ctx
def tag(ctx: Context, force: bool, source: str, targets: tuple[str, ...]) -> None:
    """Give an image more names."""
    images = ctx.client.images
    img = images.get(source)
    with ctx.client.leases.lease():
        for target in targets:
            img.name = target
            try:
                images.create(img)
            except errdefs.AlreadyExists:
                if not force:
                    raise
                images.delete(target)
                images.create(img)
            click.echo(target)


@command.command("check")
@click.option("-q", "--quiet", is_flag=True, help="print only the complete image refs")
@click.argument("filters", nargs=-1)
@pass_ctx
def check(ctx: Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """Which of each image's blobs are present (STATUS complete (n/n) when all are)."""
    cs = ctx.client.content
    w = TabWriter(click.get_text_stream("stdout"), minwidth=1, padding=1)
    if not quiet:
        w.write("REF\tTYPE\tDIGEST\tSTATUS\tSIZE\tUNPACKED\t\n")
    for img in ctx.client.images.list(*filters):
        try:
            res = check_image(cs, img.target)
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: unable to check {img.name}: {exc}", err=True)
            status, size, complete = "error", "-", False
        else:
            present = sum(d.size for d in res.present)
            if res.available:
                status = ("incomplete" if res.missing else "complete") + f" ({len(res.present)}/{len(res.required)})"
                size = f"{bytes_iec(present)}/{bytes_iec(sum(d.size for d in res.required))}"
            else:
                status, size = f"unavailable ({len(res.present)}/?)", f"{bytes_iec(present)}/?"
            complete = res.available and not res.missing
        if quiet:
            if complete:
                click.echo(img.name)
        else:  # unpacking needs the snapshotter: not known here yet
            w.write(f"{img.name}\t{img.target.media_type}\t{img.target.digest}\t{status}\t{size}\tfalse\n")
    w.flush()
