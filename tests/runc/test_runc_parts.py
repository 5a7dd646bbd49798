"""The driver's parts on their own: error mapping, IO plumbing, the monitors and the reaper."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import run

from pyctrd import errdefs
from pyctrd.runc import (
    ChildMonitor,
    ConsoleSocket,
    FileIO,
    Monitor,
    NullIO,
    PipeIO,
    Reaper,
    Runc,
    last_error,
    read_until_eof,
    runc_error,
    set_subreaper,
)


@pytest.mark.parametrize("message,kind", [
    ("container does not exist", errdefs.NotFound),
    ("runc create failed: container with given ID already exists", errdefs.AlreadyExists),
    ("runc create failed: invalid container ID format", errdefs.InvalidArgument),
    ("container not running", errdefs.FailedPrecondition),
    ("cannot delete container c1 that is not stopped: running", errdefs.FailedPrecondition),
    ("exec failed: cannot exec in a paused container", errdefs.FailedPrecondition),
    ("unable to set memory limit to 4096", errdefs.Unknown),
])
def test_runc_messages_map_to_kinds(message: str, kind: type[errdefs.PyctrdError]) -> None:
    err = runc_error("runc x c1", message)
    assert type(err) is kind and str(err).startswith(f"runc x c1: {message}")


def test_last_error_of_a_json_log() -> None:
    log = (b'{"level":"info","msg":"hello"}\nnot json\n{"level":"error","msg":"first"}\n'
           b'{"level":"warning","msg":"w"}\n{"level":"error","msg":"last one"}\n')
    assert last_error(log) == "last one"
    assert last_error(b'{"level":"info","msg":"fine"}') == ""


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_io_kinds_close_what_they_hand_over(tmp_path: Path) -> None:
    before = _fd_count()
    for io in (NullIO(), PipeIO(stdin=True), FileIO(stdout=str(tmp_path / "o"))):
        assert len(io.stdio()) == 3
        io.close_after_start()
        io.close()
        io.close()  # idempotent
    assert _fd_count() == before
    pipes = PipeIO(stdout=True, stderr=False)
    assert repr(pipes) == "<PipeIO stdout>"
    pipes.close()
    assert repr(pipes) == "<PipeIO closed>"
    with pytest.raises(errdefs.NotFound):  # a missing file after one was opened: nothing leaks
        FileIO(stdout=str(tmp_path / "o"), stderr=str(tmp_path / "no" / "such" / "dir"))
    assert _fd_count() == before


def test_fifo_output_opens_without_a_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    io = FileIO(stdout=str(fifo))  # must not block although nobody reads yet
    assert repr(io) == f"<FileIO - {fifo} ->"
    io.close()


async def _exit_codes_and_signals(m: Monitor) -> None:
    io = PipeIO()
    pid = m.spawn(["sh", "-c", "echo out; exit 3"], io.stdio())
    io.close_after_start()
    assert io.stdout is not None
    assert await read_until_eof(io.stdout) == b"out\n"
    assert await m.wait(pid) == 3
    io.close()
    pid = m.spawn(["sleep", "100"], NullIO().stdio())
    os.kill(pid, signal.SIGKILL)
    assert await m.wait(pid) == 128 + signal.SIGKILL


def test_child_monitor_reports_exit_codes_and_signals() -> None:
    run(_exit_codes_and_signals(ChildMonitor()))


def test_reaper_reports_exit_codes_and_signals() -> None:
    async def body() -> None:
        async with Reaper() as reaper:
            await _exit_codes_and_signals(reaper)
    run(body())


def test_spawned_process_gets_only_stdio_and_extra_fds() -> None:
    async def body() -> None:
        keep = os.open(os.devnull, os.O_RDONLY)  # close-on-exec: must not reach the child
        io = PipeIO()
        m = ChildMonitor()
        pid = m.spawn(["ls", "/proc/self/fd"], io.stdio(), extra_fds=[io.stdio()[1]])
        io.close_after_start()
        assert io.stdout is not None
        fds = (await read_until_eof(io.stdout)).split()
        await m.wait(pid)
        os.close(keep)
        io.close()
        assert sorted(int(f) for f in fds) == [0, 1, 2, 3, 4]  # 4: ls's own directory fd
    run(body())


def test_reaper_collects_orphans_and_keeps_late_exits() -> None:
    async def body() -> None:
        set_subreaper(True)
        try:
            async with Reaper() as reaper:
                exits = reaper.subscribe()
                io = PipeIO(stdin=True, stderr=False)
                # The grandchild is orphaned when sh exits, so it becomes *our* child. It waits
                # on fd 3 (a background job's stdin is /dev/null) until we close the pipe.
                null = NullIO()
                pid = reaper.spawn(["sh", "-c", "sh -c 'read x <&3; exit 5' & echo $!"],
                                   (null.stdio()[0], io.stdio()[1], io.stdio()[1]),
                                   extra_fds=[io.stdio()[0]])
                io.close_after_start()
                null.close()
                assert io.stdout is not None
                grandchild = int(os.read(io.stdout, 32))
                assert await reaper.wait(pid) == 0
                io.close()  # the grandchild reads EOF and exits 5
                assert await reaper.wait(grandchild) == 5
                first, second = await exits.get(), await exits.get()
                assert {first.pid, second.pid} == {pid, grandchild}
                assert repr(first) == f"<Exit pid={first.pid} status={first.status}>"
                late = reaper.spawn(["true"], NullIO().stdio())
                while (await exits.get()).pid != late:
                    pass
                assert await reaper.wait(late) == 0  # kept for a wait that arrives afterwards
                reaper.unsubscribe(exits)
                assert repr(reaper).startswith("<Reaper running")
                with pytest.raises(errdefs.FailedPrecondition, match="not a child"):
                    await reaper.wait(1)  # init is nobody's child
        finally:
            set_subreaper(False)
    run(body())


def test_runc_driver_basics(short_tmp: Path) -> None:
    async def body() -> None:
        r = Runc(str(short_tmp / "state"))
        assert repr(r) == f"<Runc root={short_tmp}/state>"
        version = await r.version()
        assert version.runc and version.spec.startswith("1.")
        assert await r.list() == []
        with pytest.raises(errdefs.NotFound, match="runc state ghost: container does not exist"):
            await r.state("ghost")
        with pytest.raises(errdefs.InvalidArgument):
            Runc(str(short_tmp), log_format="text")
        with pytest.raises(errdefs.NotFound):
            await Runc(str(short_tmp), binary="/no/such/runc").list()
        with pytest.raises(errdefs.InvalidArgument):
            ConsoleSocket(str(short_tmp / ("x" * 120)))
    run(body())
