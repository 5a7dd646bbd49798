"""``pyctr images ls|rm|tag|check`` (ctr's ``images`` commands, same output).

``pull``, ``push``, ``import`` and ``export`` are in :mod:`.images_transfer`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ... import errdefs
from ...client.unpack import is_unpacked
from ...core.images import Image
from ...core.images import platforms as plat
from .app import AliasGroup, Context, pass_ctx
from .tabwriter import TabWriter, stdout
from .units import bytes_iec

F = TypeVar("F", bound=Callable[..., Any])


class Group(AliasGroup):
    aliases = {"list": "ls", "remove": "rm", "delete": "rm", "del": "rm"}


@click.group("images", cls=Group)
def command() -> None:
    """Manage images (pull, push, import, export; records and checks)."""


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
    images = ctx.client.images
    w = TabWriter(stdout(), minwidth=1, padding=1)
    w.write("REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t\n")
    for img in found:
        try:
            size = images.size(img)
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: failed calculating size for image {img.name}: {exc}", err=True)
            size = 0
        try:
            plats = ",".join(sorted(plat.format(p) for p in images.platforms(img))) or "-"
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


def snapshotter_option() -> Callable[[F], F]:
    return click.option("--snapshotter", default=lambda: os.environ.get("CONTAINERD_SNAPSHOTTER", "overlayfs"),
                        show_default="overlayfs", help="snapshotter name ($CONTAINERD_SNAPSHOTTER)")


@command.command("check")
@click.option("-q", "--quiet", is_flag=True, help="print only the ready image refs (complete and unpacked)")
@snapshotter_option()
@click.argument("filters", nargs=-1)
@pass_ctx
def check(ctx: Context, quiet: bool, snapshotter: str, filters: tuple[str, ...]) -> None:
    """Which of each image's blobs are present, and whether it is unpacked (ctr's columns)."""
    images, cs = ctx.client.images, ctx.client.content
    sn = ctx.client.snapshotter(snapshotter)
    failed: errdefs.PyctrdError | None = None
    w = TabWriter(stdout(), minwidth=1, padding=1)
    if not quiet:
        w.write("REF\tTYPE\tDIGEST\tSTATUS\tSIZE\tUNPACKED\t\n")
    for img in images.list(*filters):
        try:
            res = images.check(img)
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: unable to check {img.name}: {exc}", err=True)
            failed = failed or exc
            status, size, complete = "error", "-", False
        else:
            present = sum(d.size for d in res.present)
            if res.available:
                size = f"{bytes_iec(present)}/{bytes_iec(sum(d.size for d in res.required))}"
            else:
                size = f"{bytes_iec(present)}/?"
            status, complete = res.status, res.complete
        try:
            unpacked = is_unpacked(cs, sn, img.target)
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: unable to check unpack for {img.name}: {exc}", err=True)
            failed = failed or exc
            unpacked = False
        if quiet:
            if complete:
                click.echo(img.name)
        else:
            w.write(f"{img.name}\t{img.target.media_type}\t{img.target.digest}\t{status}\t{size}\t"
                    f"{str(unpacked).lower()}\n")
    w.flush()
    if failed:
        raise failed


from . import images_transfer  # noqa: E402, F401 - registers pull, push, import and export on the group
