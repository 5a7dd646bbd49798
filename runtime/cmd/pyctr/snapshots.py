"""``pyctr snapshots ls|tree|info|mounts|usage|prepare|view|commit|rm|label`` (ctr's, same output).

``--snapshotter`` is an option of the group, as in ctr: ``pyctr snapshots --snapshotter native ls``.
``prepare`` and ``commit`` label what they make ``containerd.io/gc.root`` (so the garbage
collector keeps it), exactly as ctr does.
"""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import click

from ...core.mount import Mount
from ...core.snapshots import Info, human_size
from .app import AliasGroup, Context, pass_ctx
from .namespaces import parse_labels
from .tabwriter import TabWriter, stdout


class Group(AliasGroup):
    aliases = {"list": "ls", "remove": "rm", "delete": "rm", "del": "rm", "m": "mounts", "mount": "mounts"}


@click.group("snapshots", cls=Group)
@click.option("--snapshotter", default=lambda: os.environ.get("CONTAINERD_SNAPSHOTTER", "overlayfs"),
              show_default="overlayfs", help="snapshotter name ($CONTAINERD_SNAPSHOTTER)")
@click.pass_context
def command(cctx: click.Context, snapshotter: str) -> None:
    """Manage snapshots."""
    cctx.meta["snapshotter"] = snapshotter


def _sn(ctx: Context):  # type: ignore[no-untyped-def]
    return ctx.client.snapshotter(click.get_current_context().meta["snapshotter"])


def _gc_root() -> dict[str, str]:
    return {"containerd.io/gc.root": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def print_mounts(target: str, mounts: list[Mount]) -> None:
    for m in mounts:
        click.echo(f"mount -t {m.type} {m.source} {target} -o {','.join(m.options)}")


def _mounts_json(mounts: list[Mount]) -> None:
    click.echo(json.dumps([{"Type": m.type, "Source": m.source, "Options": list(m.options)} for m in mounts],
                          indent=4))


@command.command("ls")
@pass_ctx
def ls(ctx: Context) -> None:
    """List snapshots: KEY, PARENT, KIND."""
    w = TabWriter(stdout(), minwidth=1, padding=1)
    w.write("KEY\tPARENT\tKIND\t\n")
    for info in _sn(ctx).walk():
        w.write(f"{info.name}\t{info.parent}\t{info.kind}\t\n")
    w.flush()


def tree_lines(infos: list[Info]) -> list[str]:
    """ctr's ``snapshots tree``: roots in walk order, children indented under ``\\_``.

    >>> from pyctrd.core.snapshots import Info
    >>> tree_lines([Info(name="a"), Info(name="b", parent="a"), Info(name="c", parent="b")])
    [' a', '  \\\\_ b', '    \\\\_ c']
    """
    order: list[str] = []
    parents: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    for info in infos:
        if info.name not in parents:
            order.append(info.name)
        parents[info.name] = info.parent
        if info.parent:
            if info.parent not in parents:  # a placeholder, as ctr makes one
                order.append(info.parent)
                parents[info.parent] = ""
            children.setdefault(info.parent, []).append(info.name)
    lines: list[str] = []
    stack = [(name, 0) for name in reversed(order) if not parents[name]]
    while stack:
        name, level = stack.pop()
        lines.append(("  " * level + ("\\_" if level else "")) + f" {name}")
        stack.extend((child, level + 1) for child in reversed(children.get(name, [])))
    return lines


@command.command("tree")
@pass_ctx
def tree(ctx: Context) -> None:
    """Show the snapshots as a tree of parents and children."""
    for line in tree_lines(list(_sn(ctx).walk())):
        click.echo(line)


@command.command("info")
@click.argument("key")
@pass_ctx
def info(ctx: Context, key: str) -> None:
    """Print a snapshot's info as JSON."""
    click.echo(json.dumps(_sn(ctx).stat(key).to_json(), indent=4))


@command.command("mounts")
@click.argument("target")
@click.argument("key")
@pass_ctx
def mounts(ctx: Context, target: str, key: str) -> None:
    """Print the mount commands that show snapshot KEY at TARGET."""
    print_mounts(target, _sn(ctx).mounts(key))


@command.command("usage")
@click.option("-b", "bytes_", is_flag=True, help="display size in bytes")
@click.argument("keys", nargs=-1)
@pass_ctx
def usage(ctx: Context, bytes_: bool, keys: tuple[str, ...]) -> None:
    """Disk used by each snapshot (all of them when no KEY is given)."""
    sn = _sn(ctx)
    w = TabWriter(stdout(), minwidth=1, padding=1)
    w.write("KEY\tSIZE\tINODES\t\n")
    for key in keys or [i.name for i in sn.walk()]:
        u = sn.usage(key)
        w.write(f"{key}\t{u.size if bytes_ else human_size(u.size)}\t{u.inodes}\t\n")
    w.flush()


def _create(ctx: Context, view: bool, key: str, parent: str, target: str | None, as_json: bool) -> None:
    sn = _sn(ctx)
    made = sn.view(key, parent) if view else sn.prepare(key, parent, _gc_root())
    if target:
        print_mounts(target, made)
    if as_json:
        _mounts_json(made)


@command.command("prepare")
@click.option("-t", "--target", help="mount target path: print the mount commands")
@click.option("--mounts", "as_json", is_flag=True, help="print the mounts as JSON")
@click.argument("key")
@click.argument("parent", required=False, default="")
@pass_ctx
def prepare(ctx: Context, target: str | None, as_json: bool, key: str, parent: str) -> None:
    """Create an active snapshot KEY on top of committed PARENT."""
    _create(ctx, False, key, parent, target, as_json)


@command.command("view")
@click.option("-t", "--target", help="mount target path: print the mount commands")
@click.option("--mounts", "as_json", is_flag=True, help="print the mounts as JSON")
@click.argument("key")
@click.argument("parent", required=False, default="")
@pass_ctx
def view(ctx: Context, target: str | None, as_json: bool, key: str, parent: str) -> None:
    """Create a read-only snapshot KEY of committed PARENT."""
    _create(ctx, True, key, parent, target, as_json)


@command.command("commit")
@click.argument("name")
@click.argument("active")
@pass_ctx
def commit(ctx: Context, name: str, active: str) -> None:
    """Commit active snapshot ACTIVE as NAME."""
    _sn(ctx).commit(name, active, _gc_root())


@command.command("rm")
@click.argument("keys", nargs=-1, required=True)
@pass_ctx
def rm(ctx: Context, keys: tuple[str, ...]) -> None:
    """Remove snapshots (their files go at the next garbage collection)."""
    sn = _sn(ctx)
    for key in keys:
        sn.remove(key)


@command.command("label")
@click.argument("key")
@click.argument("labels", nargs=-1)
@pass_ctx
def label(ctx: Context, key: str, labels: tuple[str, ...]) -> None:
    """Set (KEY=VALUE) or clear (KEY=) labels on a snapshot; prints its labels."""
    sn = _sn(ctx)
    wanted = parse_labels(labels)
    if wanted:
        got = sn.update(Info(name=key, labels={k: v for k, v in wanted.items() if v}),
                        [f"labels.{k}" for k in wanted])
    else:
        got = sn.stat(key)
    click.echo(",".join(f"{k}={v}" for k, v in sorted(got.labels.items())))
