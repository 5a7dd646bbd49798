"""Real containers through the Runc driver: output, exit codes, exec, ps, pause, kill, tty."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest
from conftest import Lab, reaping, run

from pyctrd import errdefs
from pyctrd.cgroups import Cgroup, freezer_state
from pyctrd.core import oci
from pyctrd.runc import ConsoleSocket, FileIO, PipeIO, read_until_eof

pytestmark = pytest.mark.requires_root


def test_output_to_a_file_and_exit_code(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab) as reaper:
            cid = lab.id("echo")
            bundle, _ = lab.bundle(cid, oci.with_process_args("sh", "-c", "echo hi; echo oops >&2; exit 3"))
            out, err = lab.dir / "out.txt", lab.dir / "err.txt"
            pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"),
                                        io=FileIO(stdout=str(out), stderr=str(err)))
            assert (await lab.runc.state(cid))["status"] == "created"
            assert (await lab.runc.state(cid))["pid"] == pid
            await lab.runc.start(cid)
            assert await reaper.wait(pid) == 3
            assert out.read_text() == "hi\n" and err.read_text() == "oops\n"
            assert (await lab.runc.state(cid))["status"] == "stopped"
            await lab.runc.delete(cid)
    run(body())


def test_pipes_carry_stdin_and_stdout_until_eof(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab) as reaper:
            cid = lab.id("cat")
            bundle, _ = lab.bundle(cid, oci.with_process_args("sh", "-c", "tr a-z A-Z; exit 0"))
            io = PipeIO(stdin=True)
            try:
                pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "p"), io=io)
                await lab.runc.start(cid)
                assert io.stdin is not None and io.stdout is not None and io.stderr is not None
                os.write(io.stdin, b"hello runc\n")
                os.close(io.stdin)
                io.stdin = None  # EOF for the container: the last write end is gone
                out = await read_until_eof(io.stdout)  # EOF only because nobody else holds it
                assert out == b"HELLO RUNC\n"
                assert await read_until_eof(io.stderr) == b""
                assert await reaper.wait(pid) == 0
            finally:
                io.close()
    run(body())


def test_exec_ps_pause_resume_kill(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab) as reaper:
            cid = lab.id("sleep")
            bundle, spec = lab.bundle(cid, oci.with_process_args("sleep", "1000"))
            pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            await lab.runc.start(cid)
            assert (await lab.runc.state(cid))["status"] == "running"

            # exec in the background, reaped like the init process
            io = PipeIO()
            proc = {**spec["process"], "args": ["sh", "-c", "echo from-exec; sleep 1000"]}
            epid = await lab.runc.exec(cid, proc, pid_file=str(bundle / "e1.pid"), io=io)
            assert io.stdout is not None
            assert os.read(io.stdout, 100) == b"from-exec\n"
            assert {pid, epid} <= set(await lab.runc.ps(cid))
            await lab.runc.kill(cid, signal.SIGKILL, all=False)
            assert await reaper.wait(pid) == 128 + signal.SIGKILL
            io.close()
            assert (await lab.runc.state(cid))["status"] == "stopped"
            await lab.runc.delete(cid)
    run(body())


def test_exec_in_the_foreground_returns_the_status(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab) as reaper:
            cid = lab.id("fg")
            bundle, spec = lab.bundle(cid, oci.with_process_args("sleep", "1000"))
            pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            await lab.runc.start(cid)
            proc = {**spec["process"], "args": ["sh", "-c", "exit 5"]}
            assert await lab.runc.exec(cid, proc, pid_file=str(bundle / "e.pid"), detach=False) == 5
            missing = {**spec["process"], "args": ["/no/such/program"]}
            with pytest.raises(errdefs.PyctrdError, match="no such file or directory"):
                await lab.runc.exec(cid, missing, pid_file=str(bundle / "e2.pid"))
            await lab.runc.delete(cid, force=True)
            assert await reaper.wait(pid) == 128 + signal.SIGKILL
    run(body())


def test_pause_and_resume_freeze_the_cgroup(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            cid = lab.id("pause")
            bundle, spec = lab.bundle(cid, oci.with_process_args("sleep", "1000"))
            await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            await lab.runc.start(cid)
            cg = Cgroup.from_spec(spec)
            await lab.runc.pause(cid)
            assert (await lab.runc.state(cid))["status"] == "paused"
            assert freezer_state(cg) == "frozen"
            with pytest.raises(errdefs.FailedPrecondition):
                await lab.runc.pause(cid)
            await lab.runc.resume(cid)
            assert (await lab.runc.state(cid))["status"] == "running"
            assert freezer_state(cg) == "thawed"
            with pytest.raises(errdefs.FailedPrecondition, match="not paused"):
                await lab.runc.resume(cid)
            await lab.runc.delete(cid, force=True)
    run(body())


def test_kill_delivers_the_signal_asked_for(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab) as reaper:
            cid = lab.id("trap")
            script = "trap 'exit 7' TERM; echo ready; while true; do sleep 1; done"
            bundle, _ = lab.bundle(cid, oci.with_process_args("sh", "-c", script))
            io = PipeIO(stderr=False)
            pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"), io=io)
            await lab.runc.start(cid)
            assert io.stdout is not None and os.read(io.stdout, 10) == b"ready\n"
            await lab.runc.kill(cid, signal.SIGTERM)
            assert await reaper.wait(pid) == 7
            io.close()
            with pytest.raises(errdefs.PyctrdError):  # nothing left to signal
                await lab.runc.kill(cid, signal.SIGTERM)
            await lab.runc.delete(cid)
    run(body())


def test_tty_through_the_console_socket(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab) as reaper:
            cid = lab.id("tty")
            bundle, _ = lab.bundle(cid, oci.with_process_args("sh"), oci.with_tty)
            async with ConsoleSocket(str(lab.dir / "c.sock")) as sock:
                pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"),
                                            console_socket=sock)
                console = await sock.receive_master()
            assert repr(console) == f"<Console /dev/ptmx fd={console.fd}>"  # the name runc sends
            console.resize(100, 40)
            assert console.size() == (100, 40)
            await lab.runc.start(cid)
            console.write(b"stty size; echo $((6*7)); tty\n")
            seen = await console.read_until(b"/dev/pts/0")
            assert b"40 100" in seen and b"42" in seen
            console.write(b"exit 4\n")
            assert await reaper.wait(pid) == 4
            rest = await console.read_until(b"never printed")  # returns at EOF, never hangs
            assert b"never printed" not in rest and await console.read() == b""
            console.close()
    run(body())


def test_runc_errors_become_error_kinds(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            with pytest.raises(errdefs.NotFound, match="container does not exist"):
                await lab.runc.state("nope")
            with pytest.raises(errdefs.NotFound):
                await lab.runc.kill("nope", signal.SIGTERM)
            cid = lab.id("dup")
            bundle, _ = lab.bundle(cid, oci.with_process_args("sleep", "1000"))
            await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            with pytest.raises(errdefs.AlreadyExists):
                await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "again.pid"))
            await lab.runc.start(cid)
            with pytest.raises(errdefs.FailedPrecondition):
                await lab.runc.start(cid)
            with pytest.raises(errdefs.FailedPrecondition, match="not stopped"):
                await lab.runc.delete(cid)
            assert [c["id"] for c in await lab.runc.list()] == [cid]
            await lab.runc.delete(cid, force=True)
            assert await lab.runc.list() == []
            assert b'"level":"error"' in (lab.dir / "runc.log").read_bytes()
    run(body())


def test_many_runc_calls_at_once(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            cid = lab.id("many")
            bundle, _ = lab.bundle(cid, oci.with_process_args("sleep", "1000"))
            await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            states = await asyncio.gather(*(lab.runc.state(cid) for _ in range(8)))
            assert {s["status"] for s in states} == {"created"}
            await lab.runc.delete(cid, force=True)
    run(body())
