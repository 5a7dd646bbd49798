"""The real ``ctr`` (Debian's containerd 1.6) against pyctrd: content, leases and images.

Images are made through the Python client inside a lease (a pull without a registry); the
outputs are compared with pyctr's, byte for byte where ctr's own output is deterministic.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.blobs import write_image
from tests.fixtures.daemon import DaemonProcess, start_daemon

pytestmark = pytest.mark.needs_ctr

#: the startup collection would race the test's unleased writes; everything else is default
QUIET_GC = '''version = 2
[plugins."io.containerd.gc.v1.scheduler"]
  startup_delay = "1h"
'''


def cells(table: str) -> list[list[str]]:
    """A tab-padded table's cells without the AGE column (it ticks between two calls)."""
    rows = [[c for c in line.split("\t") if c] for line in table.splitlines()]
    return [r[:2] + r[3:] for r in rows]


@pytest.fixture
def d(short_tmp: Path) -> Iterator[DaemonProcess]:
    p = start_daemon(short_tmp, config_text=QUIET_GC)
    try:
        yield p
    finally:
        rc = p.stop()
        assert rc == 0, p.log_text()[-3000:]
        assert not os.path.exists(p.address)


def test_ctr_content_ingest_ls_get_label_rm(d: DaemonProcess) -> None:
    data = "hello from ctr\n"
    dg = "sha256:" + hashlib.sha256(data.encode()).hexdigest()
    d.ctr("content", "ingest", "--expected-size", str(len(data)), "--expected-digest", dg, "ingest-1", input=data)
    ls = d.ctr("content", "ls").stdout
    assert ls.splitlines()[0] == "DIGEST\t\t\t\t\t\t\t\t\tSIZE\tAGE\t\t\tLABELS"  # as containerd's
    assert f"{dg}\t15B\tLess than a second\t-" in ls
    assert d.ctr("content", "get", dg).stdout == data == d.pyctr("content", "get", dg).stdout
    # the same digest in another namespace: the writer starts complete (shared policy), so ctr
    # seeks its input to the end (a file: a pipe cannot seek, with containerd too) and commits
    src = d.root.parent / "blob.txt"
    src.write_text(data)
    with src.open("rb") as f:
        r = subprocess.run(["ctr", "-a", d.address, "-n", "lab", "content", "ingest", "--expected-digest", dg,
                            "ingest-2"], stdin=f, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert d.ctr("content", "get", dg, namespace="lab").stdout == data
    assert d.ctr("content", "label", dg, "team=red").stdout == "team=red\n"
    assert cells(d.pyctr("content", "ls").stdout) == cells(d.ctr("content", "ls").stdout)
    assert d.ctr("content", "ls", "-q", "labels.team==red").stdout == f"{dg}\n"
    assert d.ctr("content", "ls", "-q", "labels.team==blue").stdout == ""
    assert d.pyctr("content", "label", dg, "team=").stdout == "\n"
    assert d.ctr("content", "rm", dg).stdout == f"{dg}\n"
    assert d.ctr("content", "ls", "-q").stdout == ""
    missing = d.ctr("content", "get", dg, check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_ctr_content_active_shows_ingests(d: DaemonProcess) -> None:
    c = d.client()
    w = c.content.writer("layer-sha256:partial", total=100)
    w.write(b"12345")
    w.close()
    out = d.ctr("content", "active").stdout.splitlines()
    assert [x for x in out[0].split("\t") if x] == ["REF", "SIZE", "AGE"]
    assert out[1].split("\t")[0:2] == ["layer-sha256:partial", "5B"]
    mine = d.pyctr("content", "active").stdout
    assert [r[:2] for r in cells(mine)] == [r[:2] for r in cells("\n".join(out))]
    assert d.ctr("content", "active", "ref~=^config").stdout.splitlines()[1:] == []


def test_ctr_leases_create_ls_rm(d: DaemonProcess) -> None:
    assert d.ctr("leases", "create", "--id", "pull-1", "team=red").stdout == "pull-1\n"
    d.ctr("leases", "create", "--id", "forever", "--expires", "0")
    generated = d.ctr("leases", "create").stdout.strip()
    ls = d.ctr("leases", "ls").stdout
    lines = ls.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "AT", "LABELS"]
    row = next(line for line in lines if line.startswith("pull-1 "))
    assert "containerd.io/gc.expire=" in row and row.rstrip().endswith(",team=red")
    assert next(line for line in lines if line.startswith("forever ")).split()[-1] == "-"
    assert d.pyctr("leases", "ls").stdout == ls
    assert d.ctr("leases", "ls", "-q", "labels.team==red").stdout == "pull-1\n"
    assert d.ctr("leases", "rm", "pull-1", generated, "--sync").stdout == f"pull-1\n{generated}\n"
    assert d.ctr("leases", "ls", "-q").stdout == "forever\n"
    gone = d.ctr("leases", "rm", "pull-1", check=False)
    assert gone.returncode != 0 and "not found" in gone.stderr


def test_ctr_images_ls_check_tag_rm(d: DaemonProcess) -> None:
    c = d.client()
    with c.leases.lease():
        w = write_image(c.content, c.images, "example.com/hello:1")
    ls = d.ctr("images", "ls").stdout
    assert ls.splitlines()[0].split() == ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]
    assert f"example.com/hello:1 application/vnd.oci.image.manifest.v1+json {w.manifest} " in ls
    assert "linux/amd64" in ls
    assert d.pyctr("images", "ls").stdout == ls
    check = d.ctr("images", "check", check=False)  # unpack status needs the snapshots service
    row = check.stdout.splitlines()[1]
    assert " complete (2/2) " in row
    assert d.pyctr("images", "check").stdout.splitlines()[1].split()[:5] == row.split()[:5]
    assert d.ctr("images", "tag", "example.com/hello:1", "example.com/hello:2").stdout == "example.com/hello:2\n"
    assert d.ctr("images", "ls", "-q").stdout == "example.com/hello:1\nexample.com/hello:2\n"
    assert d.ctr("images", "rm", "example.com/hello:1").stdout == "example.com/hello:1\n"
    assert len(d.ctr("content", "ls", "-q").stdout.split()) == 3  # :2 still needs them
    assert d.ctr("images", "rm", "--sync", "example.com/hello:2").stdout == "example.com/hello:2\n"
    assert d.ctr("content", "ls", "-q").stdout == ""  # collected before rm returned
    assert d.pyctr("images", "rm", "example.com/hello:2").stderr.strip().endswith("image not found")


def test_pull_in_a_second_namespace_shares_bytes(d: DaemonProcess) -> None:
    c = d.client()
    with c.leases.lease():
        w = write_image(c.content, c.images, "example.com/shared:1")
    lab = c.with_namespace("lab")
    with lab.leases.lease():  # shared policy: a writer for a known digest starts complete
        w2 = lab.content.writer("m", total=c.content.info(w.manifest).size, expected=w.manifest)
        assert w2.status().offset == c.content.info(w.manifest).size
        w2.commit(0, w.manifest)
    assert d.ctr("content", "ls", "-q", namespace="lab").stdout == f"{w.manifest}\n"
