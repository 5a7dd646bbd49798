"""``pyctr tasks ls|start|ps|kill|exec|pause|resume|metrics|rm|attach``."""
from __future__ import annotations

import json
import signal as signals
import sys
from datetime import UTC, datetime
from typing import Any

import click
from google.protobuf import json_format
from google.protobuf.message import Message

from ... import errdefs
from ...client import Process
from ...client.cio import DEFAULT_FIFO_DIR, IO, FIFOSet
from ...core import typeurl
from .app import AliasGroup, Context, pass_ctx
from .attached import io_creator, raw_terminal, wait_attached
from .tabwriter import TabWriter, stdout


class Group(AliasGroup):
    aliases = {"list": "ls", "remove": "rm", "delete": "rm", "del": "rm"}


@click.group("tasks", cls=Group)
def command() -> None:
    """Manage tasks."""


def parse_signal(text: str) -> int:
    """``SIGKILL``, ``KILL`` or ``9``.

    >>> parse_signal("KILL"), parse_signal("SIGTERM"), parse_signal("9")
    (9, 15, 9)
    """
    if text.isdigit():
        return int(text)
    name = text.upper() if text.upper().startswith("SIG") else f"SIG{text.upper()}"
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise click.BadParameter(f"unknown signal {text!r}") from None


def go_timestamp(dt: datetime) -> str:
    """Go's ``time.Time.String()``: ``2026-11-28 04:53:46.037857 +0000 UTC``."""
    dt = dt.astimezone(UTC)
    frac = f".{dt.microsecond:06d}".rstrip("0").rstrip(".")
    return dt.strftime("%Y-%m-%d %H:%M:%S") + frac + " +0000 UTC"


@command.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="print only the task id")
@pass_ctx
def ls(ctx: Context, quiet: bool) -> None:
    """List tasks."""
    states = ctx.client.tasks.list()
    if quiet:
        for s in states:
            click.echo(s.id)
        return
    w = TabWriter(stdout(), minwidth=4, padding=4)
    w.write("TASK\tPID\tSTATUS\t\n")
    for s in states:
        w.write(f"{s.id}\t{s.pid}\t{s.status.upper()}\n")
    w.flush()


@command.command("start")
@click.option("-d", "--detach", is_flag=True, help="detach from the task after it started")
@click.option("--fifo-dir", default=DEFAULT_FIFO_DIR, show_default=True)
@click.argument("id")
@pass_ctx
def start(ctx: Context, detach: bool, fifo_dir: str, id: str) -> None:
    """Start a container's task (attached unless -d); deleted again after it exits."""
    spec = ctx.client.containers.spec(id)
    tty_ = bool(spec.get("process", {}).get("terminal"))
    task = ctx.client.tasks.create(id, io=None if detach else io_creator(tty_, fifo_dir))
    if detach:
        task.start()
        return
    with raw_terminal(tty_):
        exit = wait_attached(task, terminal=tty_)
    task.delete()
    if exit.status:
        raise click.exceptions.Exit(exit.status)


def _info(info: Any) -> str:
    """ctr prints the shim's detail with Go's ``%+v``: ``&ProcessDetails{ExecID:e1,…}``."""
    if info is None:
        return "-"
    try:
        msg: Message = typeurl.unpack(info)
    except errdefs.NotFound:
        return str(info.type_url)
    fields = ",".join(f"{''.join(p.capitalize() for p in k.split('_')).replace('Id', 'ID')}:{v}"
                      for k, v in json_format.MessageToDict(msg, preserving_proto_field_name=True).items())
    return f"&{msg.DESCRIPTOR.name}{{{fields},XXX_unrecognized:[],}}"


@command.command("ps")
@click.argument("id")
@pass_ctx
def ps(ctx: Context, id: str) -> None:
    """List the processes of a task."""
    ctx.client.containers.get(id)
    w = TabWriter(stdout(), minwidth=1, padding=4)
    w.write("PID\tINFO\n")
    for p in ctx.client.tasks.get(id).pids():
        w.write(f"{p.pid}\t{_info(p.info)}\n")
    w.flush()


@command.command("kill")
@click.option("-s", "--signal", "sig", default="", help="signal to send (default: the image's, else SIGTERM)")
@click.option("-a", "--all", "all_", is_flag=True, help="send the signal to all processes of the task")
@click.option("--exec-id", default="", help="process ID to kill")
@click.argument("id")
@pass_ctx
def kill(ctx: Context, sig: str, all_: bool, exec_id: str, id: str) -> None:
    """Signal a task's process."""
    if exec_id and all_:
        raise click.UsageError("specify an exec-id or all; not both")
    if not sig:
        sig = ctx.client.containers.get(id).labels.get("io.containerd.image.config.stop-signal", "SIGTERM")
    task = ctx.client.tasks.get(id)
    if exec_id:
        Process(ctx.client.tasks, id, exec_id).kill(parse_signal(sig))
    else:
        task.kill(parse_signal(sig), all=all_)


@command.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("--exec-id", required=True, help="exec process ID")
@click.option("-t", "--tty", "tty_", is_flag=True, help="allocate a TTY")
@click.option("-d", "--detach", is_flag=True, help="detach from the process after it started")
@click.option("--cwd", default="", help="working directory")
@click.option("--env", multiple=True, help="extra environment KEY=VALUE")
@click.option("--fifo-dir", default=DEFAULT_FIFO_DIR, show_default=True)
@click.argument("id")
@click.argument("args", nargs=-1, required=True)
@pass_ctx
def exec_(ctx: Context, exec_id: str, tty_: bool, detach: bool, cwd: str, env: tuple[str, ...], fifo_dir: str,
          id: str, args: tuple[str, ...]) -> None:
    """Run another process in a running task."""
    process_spec: dict[str, Any] = dict(ctx.client.containers.spec(id).get("process") or {})
    process_spec.update(terminal=tty_, args=list(args))
    if cwd:
        process_spec["cwd"] = cwd
    if env:
        process_spec["env"] = [*process_spec.get("env", []), *env]
    task = ctx.client.tasks.get(id)
    p = task.exec(exec_id, process_spec, io=None if detach else io_creator(tty_, fifo_dir))
    if detach:
        p.start()
        return
    try:
        with raw_terminal(tty_):
            exit = wait_attached(p, terminal=tty_)
    finally:
        p.delete()
    if exit.status:
        raise click.exceptions.Exit(exit.status)


@command.command("pause")
@click.argument("id")
@pass_ctx
def pause(ctx: Context, id: str) -> None:
    """Pause (freeze) a task."""
    ctx.client.tasks.get(id).pause()


@command.command("resume")
@click.argument("id")
@pass_ctx
def resume(ctx: Context, id: str) -> None:
    """Resume a paused task."""
    ctx.client.tasks.get(id).resume()


_V1_TABLE = [("memory.usage_in_bytes", "memory.usage.usage"), ("memory.limit_in_bytes", "memory.usage.limit"),
             ("memory.stat.cache", "memory.total_cache"), ("cpuacct.usage", "cpu.usage.total"),
             ("cpuacct.usage_percpu", "cpu.usage.per_cpu"), ("pids.current", "pids.current"),
             ("pids.limit", "pids.limit")]
_V2_TABLE = [(f"{k}", k) for k in ("pids.current", "pids.limit", "cpu.usage_usec", "cpu.user_usec",
                                   "cpu.system_usec", "cpu.nr_periods", "cpu.nr_throttled", "cpu.throttled_usec",
                                   "memory.usage", "memory.usage_limit", "memory.swap_usage", "memory.swap_limit")]


def _plain(msg: Message) -> dict[str, Any]:
    """Set fields as plain values, numbers as numbers (Go's JSON of the metrics struct)."""
    out: dict[str, Any] = {}
    for f, value in msg.ListFields():
        if f.message_type is not None:
            out[f.name] = [_plain(v) for v in value] if f.is_repeated else _plain(value)
        else:
            out[f.name] = list(value) if f.is_repeated else value
    return out


def _get(msg: Any, path: str) -> str:
    for part in path.split("."):
        msg = getattr(msg, part)
    return f"[{' '.join(map(str, msg))}]" if isinstance(msg, (list, tuple)) or hasattr(msg, "extend") else str(msg)


@command.command("metrics")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("id")
@pass_ctx
def metrics(ctx: Context, fmt: str, id: str) -> None:
    """Show a task's cgroup metrics."""
    ctx.client.containers.get(id)
    found = [m for m in ctx.client.tasks.metrics(f"id=={id}") if m[1] == id]
    if not found:
        raise errdefs.NotFound(f"metrics of task {id}")
    ts, _, data = found[0]
    if fmt == "json":
        click.echo(json.dumps(_plain(data), indent=2))
        return
    w = TabWriter(stdout(), minwidth=1, padding=4)
    w.write(f"ID\tTIMESTAMP\t\n{id}\t{go_timestamp(ts)}\t\n\nMETRIC\tVALUE\t\n")
    table = _V1_TABLE if data.DESCRIPTOR.full_name.endswith("v1.Metrics") else _V2_TABLE
    for name, path in table:
        w.write(f"{name}\t{_get(data, path)}\t\n")
    w.flush()


@command.command("rm")
@click.option("-f", "--force", is_flag=True, help="kill the task first if it is running")
@click.option("--exec-id", default="", help="delete this exec process instead of the task")
@click.argument("ids", nargs=-1, required=True)
@pass_ctx
def rm(ctx: Context, force: bool, exec_id: str, ids: tuple[str, ...]) -> None:
    """Delete tasks (they must have stopped, unless -f)."""
    failed: errdefs.PyctrdError | None = None
    for id in ids:
        try:
            task = ctx.client.tasks.get(id)
            if exec_id:
                Process(ctx.client.tasks, id, exec_id).delete()
                continue
            if not force and task.status().status not in ("stopped", "created"):
                raise errdefs.FailedPrecondition(f"task must be stopped before deletion: "
                                                 f"{task.status().status}")
            exit = task.delete(force=force)
            if exit.status:
                click.echo(f"pyctr: task {id} exit with non-zero exit code {exit.status}", err=True)
        except errdefs.PyctrdError as exc:
            click.echo(f"pyctr: unable to delete {id}: {exc}", err=True)
            failed = failed or exc
    if failed:
        raise failed


@command.command("attach")
@click.argument("id")
@pass_ctx
def attach(ctx: Context, id: str) -> None:
    """Attach to the stdio FIFOs of a running task (one made with FIFOs, e.g. by ctr run -d)."""
    state = ctx.client.tasks.get(id).status()
    if not state.io.stdout:
        raise errdefs.FailedPrecondition(f"task {id} has no stdio FIFOs to attach to (it was started detached)")
    fifos = FIFOSet("", state.io.stdin, state.io.stdout, state.io.stderr, state.io.terminal)
    io = IO(fifos.config, fifos, sys.stdin.buffer if state.io.stdin else None, sys.stdout.buffer,
            sys.stderr.buffer if state.io.stderr else None)
    io.start(attach=True)
    task = ctx.client.tasks.get(id, io=io)
    with raw_terminal(state.io.terminal):
        exit = wait_attached(task, terminal=state.io.terminal, start=False)
    if exit.status:
        raise click.exceptions.Exit(exit.status)
