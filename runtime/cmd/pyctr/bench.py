"""``pyctr bench``: container lifecycles and more, timed against pyctrd and containerd.

    pyctr bench --compare --out results          # private containerd + private pyctrd, alternated
    pyctr -a /run/containerd/containerd.sock bench --runtime io.containerd.runc.v2
    pyctr bench --compare --quick                # a smoke-sized run (seconds)

Tables go to the terminal; ``--out DIR`` also writes ``bench-<mode>-<date>.json`` and ``.md``.
The exit code is 0 unless ``--check`` is given and a target was missed (then 3).
"""
from __future__ import annotations

import sys
from dataclasses import fields
from typing import Any

import click

from .app import Context, pass_ctx

__all__ = ["command"]


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected numbers separated by commas") from None
    if any(v < 0 for v in values):
        raise click.BadParameter(f"{text!r}: numbers must not be negative")
    return values


@click.command("bench")
@click.option("--compare", "compare_mode", is_flag=True,
              help="start a private containerd and a private pyctrd (root) and measure both, alternating runs")
@click.option("--quick", is_flag=True, help="smoke-test sizes (seconds): few workers, iterations, calls")
@click.option("--workers", default=None, help="worker counts, e.g. 1,4,8  [default: 1,4,8]")
@click.option("-n", "--iterations", type=click.IntRange(1), default=None,
              help="lifecycles per worker per round  [default: 10]")
@click.option("--rounds", type=click.IntRange(1), default=None, help="alternated rounds per figure  [default: 4]")
@click.option("--runtime", "runtimes", multiple=True,
              help="runtime(s) for lifecycles against --address (repeatable)  [default: io.containerd.pyrunc.v1]")
@click.option("--rpc-calls", type=click.IntRange(1), default=None, help="calls of each RPC  [default: 500]")
@click.option("--cold-starts", type=click.IntRange(0), default=None, help="fresh starts per daemon  [default: 5]")
@click.option("--growth", default=None, help="container counts for the growth figure; '' to skip  [default: 10,100,1000]")
@click.option("--leak-lifecycles", type=click.IntRange(0), default=None,
              help="lifecycles of the leak check, 0 to skip  [default: 1000]")
@click.option("--io", type=click.Choice(["null", "fifo"]), default="null", show_default=True,
              help="container stdio: nothing attached, or FIFOs copied by the client (as ctr run)")
@click.option("--image", default="", help="run containers from this image reference (pulled) instead of a rootfs dir")
@click.option("--no-floor", is_flag=True, help="skip runc alone (the floor)")
@click.option("--no-images", is_flag=True, help="skip pull / import / layer figures")
@click.option("--containerd-pyrunc", is_flag=True, help="also run our shim under containerd")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="write JSON + markdown here")
@click.option("--json", "as_json", is_flag=True, help="print the JSON document instead of tables")
@click.option("--check", is_flag=True, help="exit 3 if a target was missed")
@pass_ctx
def command(ctx: Context, compare_mode: bool, quick: bool, workers: str | None, iterations: int | None,
            rounds: int | None, runtimes: tuple[str, ...], rpc_calls: int | None, cold_starts: int | None,
            growth: str | None, leak_lifecycles: int | None, io: str, image: str, no_floor: bool, no_images: bool,
            containerd_pyrunc: bool, out: str | None, as_json: bool, check: bool) -> None:
    """Time container lifecycles (create, start, kill, wait, delete) and more, per phase.

    Without --compare: the daemon at --address (pyctrd or containerd) for each --runtime:
    lifecycles at each worker count, RPC latency and growth. With --compare: a private
    containerd (Debian's, CRI off) and a private pyctrd side by side, with the runc floor,
    cold start, RSS, a leak check, pulls and imports, and the targets (ratios pyctrd/containerd).
    """
    from ...bench import Options, compare, run  # only when benchmarking: other commands stay quick

    given: dict[str, Any] = {"io": io, "image": image, "containerd_pyrunc": containerd_pyrunc}
    if workers is not None:
        given["workers"] = _ints(workers) or (1,)
    for name, value in (("iterations", iterations), ("rounds", rounds), ("rpc_calls", rpc_calls),
                        ("cold_starts", cold_starts), ("leak_lifecycles", leak_lifecycles)):
        if value is not None:
            given[name] = value
    if growth is not None:
        given["growth"] = _ints(growth)
    if runtimes:
        given["runtimes"] = runtimes
    if no_floor:
        given["floor"] = False
    if no_images:
        given["images"] = False
    known = {f.name for f in fields(Options)}
    opts = Options.quick(**given) if quick else Options(**{k: v for k, v in given.items() if k in known})
    log = (lambda s: None) if as_json else (lambda s: click.echo(s, err=True))
    result = compare(opts, log=log) if compare_mode else run(ctx.address, opts, log=log)
    if as_json:
        click.echo(result.to_json(), nl=False)
    else:
        from rich.console import Console

        wide = not sys.stdout.isatty()  # piped or saved: whole tables, not a terminal's 80 columns
        console = Console(width=200 if wide else None)
        console.print(result.header())
        for table in result.rich_tables():
            console.print(table)
    if out:
        json_path, md_path = result.save(out)
        click.echo(f"wrote {json_path} and {md_path}", err=True)
    if check and not result.ok:
        raise click.exceptions.Exit(3)
