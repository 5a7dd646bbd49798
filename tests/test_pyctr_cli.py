"""``pyctr`` through its console script against a real pyctrd, beside the real ``ctr`` doing the same.

For each command: the output has ctr's shape (byte for byte where nothing varies; timestamps,
generated IDs and Go's random map order normalised where they do) and bad input fails as
ctr's does (exit code and error kind). Pulls with ``--platform``/``--all-platforms``/``--user``
are in tests/unpack/test_docker_format_pull.py (they need root to unpack).
"""
from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fixtures.blobs import write_blob, write_image
from tests.fixtures.daemon import DaemonProcess

pytestmark = pytest.mark.needs_ctr

PYCTR = Path(sys.executable).parent / "pyctr"  # the console script pip installed beside this Python


def pyctr(d: DaemonProcess, *args: str, check: bool = True, address: str | None = None) -> subprocess.CompletedProcess[str]:
    if not PYCTR.exists():
        pytest.skip(f"no pyctr console script at {PYCTR}")
    r = subprocess.run([str(PYCTR), "--address", address or d.address, *args], capture_output=True, text=True,
                       timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"pyctr {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def both(d: DaemonProcess, *args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """(ctr, pyctr) results of the same command, neither checked."""
    return d.ctr(*args, check=False), pyctr(d, *args, check=False)


def last_error(stderr: str) -> str:
    """The final ``<prog>: message`` line, without the program name (ctr logs a line before it)."""
    return stderr.strip().splitlines()[-1].split(": ", 1)[1]


def test_version_has_ctrs_shape_and_the_servers_block(pyctrd: DaemonProcess) -> None:
    mine, theirs = pyctr(pyctrd, "version").stdout, pyctrd.ctr("version").stdout
    client, server = mine.split("\n\n")
    assert [line.split(":")[0] for line in client.splitlines()] == ["Client", "  Version", "  Revision",
                                                                    "  Python version"]
    assert [line.split(":")[0] for line in theirs.split("\n\n")[0].splitlines()] == ["Client", "  Version",
                                                                                     "  Revision", "  Go version"]
    assert theirs.split("\n\n")[1].startswith(server)  # ctr adds WARNINGs: its client is not ours
    assert re.fullmatch(r"Server:\n  Version:  1\.6\.20\+pyctrd\.\S+\n  Revision: \S+\n  UUID: [0-9a-f-]{36}\n",
                        server)
    dead = pyctr(pyctrd, "version", check=False, address=str(pyctrd.state / "nosuch.sock"))
    assert dead.returncode == 1 and dead.stdout.startswith("Client:\n")  # as ctr: the client half, then fail
    assert dead.stderr.startswith("pyctr: ") and dead.stderr.rstrip().endswith(": unavailable")


class Lines:
    """A subprocess's stdout lines, read on a thread so a test can wait for them with a timeout."""

    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))

    def get(self, timeout: float = 10) -> str:
        return self.q.get(timeout=timeout)

    def until(self, pred: str) -> list[str]:
        out = [self.get()]
        while pred not in out[-1]:
            out.append(self.get())
        return out

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


@pytest.fixture
def subscribers(pyctrd: DaemonProcess) -> Iterator[dict[str, Lines]]:
    if not PYCTR.exists():
        pytest.skip(f"no pyctr console script at {PYCTR}")
    subs = {"ctr": Lines(["ctr", "--address", pyctrd.address, "events"]),
            "pyctr": Lines([str(PYCTR), "--address", pyctrd.address, "events"]),
            "updates": Lines([str(PYCTR), "--address", pyctrd.address, "events", 'topic=="/namespaces/update"'])}
    try:
        yield subs
    finally:
        for s in subs.values():
            s.close()


def test_events_prints_what_ctr_prints(pyctrd: DaemonProcess, subscribers: dict[str, Lines]) -> None:
    c = pyctrd.client()
    # both subscribe asynchronously: publish until each has printed something
    deadline, n, ready = time.monotonic() + 15, 0, False
    while not ready and time.monotonic() < deadline:
        c.namespaces.create(f"ping{n}")
        c.namespaces.label(f"ping{n}", n="updated")  # something for the update-only subscriber
        n += 1
        time.sleep(0.1)
        ready = all(not s.q.empty() for s in subscribers.values())
    assert ready, "a subscriber printed nothing"
    pyctrd.ctr("namespaces", "create", "evx")
    pyctrd.ctr("namespaces", "label", "evx", "a=b")
    pyctrd.ctr("namespaces", "rm", "evx")
    theirs = subscribers["ctr"].until("/namespaces/delete")
    mine = subscribers["pyctr"].until("/namespaces/delete")
    evx = [line for line in theirs if " evx " in line]
    # same envelopes, same timestamps: the lines are identical
    assert evx == [line for line in mine if " evx " in line]
    assert [line.split(" ", 6)[5:] for line in evx] == [["/namespaces/create", '{"name":"evx"}'],
                                                         ["/namespaces/update", '{"name":"evx","labels":{"a":"b"}}'],
                                                         ["/namespaces/delete", '{"name":"evx"}']]
    stamp = " ".join(evx[0].split()[:4])
    when = datetime.strptime(stamp.split(".")[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=1) and stamp.endswith(" +0000 UTC")
    # the filtered subscriber saw updates only
    updates = subscribers["updates"].until(" evx ")
    assert all("/namespaces/update" in line for line in updates) and updates[-1] == evx[1]
    bad_ctr, bad = both(pyctrd, "events", "topic==/x,bad filter[")
    assert bad.returncode == bad_ctr.returncode == 1
    assert "filters: parse error" in bad.stderr and "invalid argument" in bad.stderr
    assert last_error(bad.stderr) in bad_ctr.stderr


def test_namespaces_create_label_rm(pyctrd: DaemonProcess) -> None:
    assert pyctr(pyctrd, "namespaces", "create", "lab", "course=ctrd", "level=0").stdout == ""
    pyctr(pyctrd, "namespaces", "label", "lab", "level=1", "course=")  # set one, clear one
    ls = pyctrd.ctr("namespaces", "ls").stdout
    assert ls == "NAME LABELS  \nlab  level=1 \n"
    assert pyctr(pyctrd, "namespaces", "ls").stdout == ls
    for args, kind in ((("namespaces", "create", "lab"), "already exists"),
                       (("namespaces", "create", "../x"), "invalid argument"),
                       (("namespaces", "label", "nosuch", "a=b"), "not found")):
        theirs, mine = both(pyctrd, *args)
        assert (mine.returncode, theirs.returncode) == (1, 1), args
        assert last_error(mine.stderr) == last_error(theirs.stderr) and last_error(mine.stderr).endswith(kind)
    # a namespace holding something cannot go: the same FailedPrecondition as ctr's
    c = pyctrd.client("lab")
    with c.leases.lease():
        write_image(c.content, c.images, "example.com/x:1")
    theirs, mine = both(pyctrd, "namespaces", "rm", "lab")
    assert (mine.returncode, theirs.returncode) == (1, 1)
    assert last_error(mine.stderr) == last_error(theirs.stderr)
    assert 'namespace "lab" must be empty, but it still has images, blobs' in mine.stderr
    pyctr(pyctrd, "-n", "lab", "images", "rm", "--sync", "example.com/x:1")
    # removing a missing name is not an error, for ctr either
    assert pyctr(pyctrd, "namespaces", "rm", "lab", "nosuch").stdout == "lab\nnosuch\n"
    assert pyctrd.ctr("namespaces", "ls", "-q").stdout == ""
    # no names at all: ctr does nothing; pyctr says what is missing (a usage error, exit 2)
    empty = pyctr(pyctrd, "namespaces", "rm", check=False)
    assert empty.returncode == 2 and "Missing argument 'NAMES...'" in empty.stderr


def sort_exports(text: str) -> list[str]:
    """``plugins ls -d`` lines with each Exports block sorted: ctr prints a Go map (random order)."""
    out: list[str] = []
    block: list[str] = []
    in_exports = False
    for line in text.splitlines():
        if in_exports and line.startswith("              ") and line.strip():
            block.append(line)
            continue
        out += sorted(block)
        block, in_exports = [], line.startswith("Exports:")
        out.append(line)
    return out + sorted(block)


FILTERS = [(), ("id==sqlite",), ("type==io.containerd.snapshotter.v1",), ("type==io.containerd.snapshotter.v1,id==native",),
           ("id==sqlite", "id==native"), ("id~=^(content|sqlite)$",), ('labels."x"==y',)]


def test_plugins_ls_detailed_with_filters(pyctrd: DaemonProcess) -> None:
    for filters in FILTERS:
        theirs, mine = both(pyctrd, "plugins", "ls", "-d", *filters)
        assert theirs.returncode == mine.returncode == 0, mine.stderr
        assert sort_exports(mine.stdout) == sort_exports(theirs.stdout), filters
    ids = [line.split()[-1] for line in mine.stdout.splitlines() if line.startswith("ID:")]
    assert mine.stdout == "" and ids == []  # the last filter matches nothing
    one_or_other = pyctr(pyctrd, "plugins", "ls", "-d", "id==sqlite", "id==native").stdout
    assert [line.split()[-1] for line in one_or_other.splitlines() if line.startswith("ID:")] == ["native", "sqlite"]
    everything = pyctr(pyctrd, "plugins", "ls", "-d").stdout
    assert "Error:" in everything  # skipped plugins (aufs, btrfs, ...) say why, as in ctr's


def test_plugins_ls_bad_filter_fails_like_ctr(pyctrd: DaemonProcess) -> None:
    theirs, mine = both(pyctrd, "plugins", "ls", "-d", "id==")
    assert (mine.returncode, theirs.returncode) == (1, 1)
    assert last_error(mine.stderr) == last_error(theirs.stderr) == (
        "filters: parse error: [id== <<<]: expected value or quoted: invalid argument")


def test_leases_create_ls_rm(pyctrd: DaemonProcess) -> None:
    assert pyctr(pyctrd, "leases", "create", "--id", "pull-1", "--expires", "1h", "team=red").stdout == "pull-1\n"
    assert pyctr(pyctrd, "leases", "create", "--id", "forever", "--expires", "0").stdout == "forever\n"
    generated = pyctr(pyctrd, "leases", "create").stdout.strip()
    theirs = pyctrd.ctr("leases", "create").stdout.strip()
    # containerd's WithRandomID: "<nanoseconds>-<3 random bytes, URL-safe base64>"
    assert re.fullmatch(r"\d+-[A-Za-z0-9_-]{4}", generated) and re.fullmatch(r"\d+-[A-Za-z0-9_-]{4}", theirs)
    ls = pyctr(pyctrd, "leases", "ls").stdout
    assert ls == pyctrd.ctr("leases", "ls").stdout
    rows = {line.split()[0]: line.split() for line in ls.splitlines()[1:]}
    created = datetime.strptime(rows["pull-1"][1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    expire = re.search(r"containerd.io/gc.expire=(\S+?)(,|$)", rows["pull-1"][2])
    assert expire and rows["pull-1"][2].endswith(",team=red")
    expires_at = datetime.strptime(expire.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires_at - created == timedelta(hours=1)
    assert rows["forever"][2] == "-"
    assert pyctr(pyctrd, "leases", "ls", "-q", "labels.team==red").stdout == "pull-1\n"
    for args in (("leases", "create", "--id", "pull-1"), ("leases", "rm", "nosuch"),
                 ("leases", "ls", "id=="), ("leases", "create", "--expires", "soon")):
        t, m = both(pyctrd, *args)
        assert (m.returncode, t.returncode) == (1, 1), args
        if args[-1] == "soon":  # ctr's flag parser words a bad duration its own way
            assert last_error(m.stderr) == 'invalid duration "soon": invalid argument'
        else:
            assert last_error(m.stderr) == last_error(t.stderr), args
    assert pyctr(pyctrd, "leases", "rm", "--sync", "pull-1", generated, theirs).stdout == (
        f"pull-1\n{generated}\n{theirs}\n")
    assert pyctrd.ctr("leases", "ls", "-q").stdout == "forever\n"
    # ctr stops at the first missing lease, after removing those before it: so does pyctr
    pyctr(pyctrd, "leases", "create", "--id", "again")
    stop = pyctr(pyctrd, "leases", "rm", "again", "nosuch", "forever", check=False)
    assert stop.returncode == 1 and stop.stdout == "again\n" and 'lease "nosuch": not found' in stop.stderr
    assert pyctrd.ctr("leases", "ls", "-q").stdout == "forever\n"


def ingest(d: DaemonProcess, data: bytes) -> str:
    """A blob committed with a gc.root label: the collection a delete schedules must not take it
    (``ctr content ingest`` then ``label`` would race it: ingest's own lease going schedules one)."""
    c = d.client()
    with c.leases.lease():
        return write_blob(c.content, data, {"containerd.io/gc.root": "test"})


def test_content_rm(pyctrd: DaemonProcess) -> None:
    a, b, c, e = (ingest(pyctrd, f"blob {n}\n".encode()) for n in "abce")
    missing = "sha256:" + "0" * 64
    # deleted ones are printed, missing ones skipped quietly, exit 0 - as ctr
    assert pyctr(pyctrd, "content", "rm", a, missing, b).stdout == f"{a}\n{b}\n"
    assert pyctrd.ctr("content", "rm", missing).stdout == pyctr(pyctrd, "content", "rm", missing).stdout == ""
    assert pyctrd.ctr("content", "ls", "-q").stdout.split() == sorted([c, e])
    # a bad digest: the others still go, the error is reported once more at the end, exit 1
    theirs = pyctrd.ctr("content", "rm", "notadigest", c, check=False)
    mine = pyctr(pyctrd, "content", "rm", "notadigest", e, check=False)
    assert (mine.returncode, theirs.returncode) == (1, 1)
    assert (mine.stdout, theirs.stdout) == (f"{e}\n", f"{c}\n")
    assert "could not delete notadigest" in mine.stderr and "could not delete notadigest" in theirs.stderr
    assert "invalid argument" in last_error(mine.stderr)
    assert pyctrd.ctr("content", "ls", "-q").stdout == ""


def test_images_tag(pyctrd: DaemonProcess) -> None:
    c = pyctrd.client()
    with c.leases.lease():
        w = write_image(c.content, c.images, "example.com/hello:1")
    assert pyctr(pyctrd, "images", "tag", "example.com/hello:1", "example.com/hello:2",
                 "example.com/other:1").stdout == "example.com/hello:2\nexample.com/other:1\n"
    ls = pyctrd.ctr("images", "ls").stdout
    assert [line.split()[:3] for line in ls.splitlines()[1:]] == [
        [ref, "application/vnd.oci.image.manifest.v1+json", w.manifest]
        for ref in ("example.com/hello:1", "example.com/hello:2", "example.com/other:1")]
    assert pyctr(pyctrd, "images", "ls").stdout == ls
    for args in (("images", "tag", "example.com/hello:1", "example.com/hello:2"),  # exists
                 ("images", "tag", "example.com/nosuch:1", "example.com/x:1")):
        theirs, mine = both(pyctrd, *args)
        assert (mine.returncode, theirs.returncode) == (1, 1), args
        assert last_error(mine.stderr) == last_error(theirs.stderr), args
    # --force replaces a name that exists (ctr deletes then creates it: so does pyctr)
    with c.leases.lease():
        w2 = write_image(c.content, c.images, "example.com/hello:3")  # its layer holds its name: another image
    assert pyctr(pyctrd, "images", "tag", "--force", "example.com/hello:3", "example.com/hello:2").stdout == (
        "example.com/hello:2\n")
    assert c.images.get("example.com/hello:2").target.digest == w2.manifest
    assert pyctrd.ctr("images", "tag", "--force", "example.com/hello:1", "example.com/hello:2").stdout == (
        "example.com/hello:2\n")
    assert pyctr(pyctrd, "images", "ls").stdout == pyctrd.ctr("images", "ls").stdout
    usage = pyctr(pyctrd, "images", "tag", "example.com/hello:1", check=False)
    assert usage.returncode == 2 and "Missing argument 'TARGETS...'" in usage.stderr
