"""kill -9 in the middle of a Write stream: the ingest survives, resumes, and the database is intact."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
from pathlib import Path

from pyctrd.core import digest as digests
from pyctrd.core.leases import lease
from pyctrd.errdefs import PyctrdError
from tests.fixtures.daemon import start_daemon

CHUNK = 64 * 1024


def test_kill_9_during_write_then_resume(short_tmp: Path) -> None:
    data = random.Random(9).randbytes(64 * CHUNK)  # 4 MiB
    dg = digests.from_bytes(data)
    d = start_daemon(short_tmp)
    c = d.client()
    c.leases.create("upload", {"containerd.io/gc.expire": "2099-01-01T00:00:00Z"})
    half = threading.Event()
    stopped: list[BaseException] = []

    def upload() -> None:  # keeps writing until the daemon dies under it
        with lease("upload"):
            w = c.content.writer("big-layer", total=len(data), expected=dg)
        try:
            for off in range(0, len(data), CHUNK):
                w.write(data[off:off + CHUNK])
                if off >= len(data) // 2:
                    half.set()
        except PyctrdError as exc:
            stopped.append(exc)
        finally:
            w.close()  # on a dead stream: quiet

    t = threading.Thread(target=upload)
    t.start()
    assert half.wait(60)
    os.kill(d.pid, signal.SIGKILL)
    t.join(60)
    assert d.stop() == -signal.SIGKILL and stopped, "the writer saw the daemon die"

    db = d.root / "io.containerd.metadata.v1.sqlite" / "meta.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    d2 = start_daemon(short_tmp)  # same root, same socket path: a restart
    try:
        c2 = d2.client()
        st = c2.content.status("big-layer")
        assert len(data) // 2 <= st.offset < len(data) and st.total == len(data)
        with lease("upload"):
            w = c2.content.writer("big-layer", total=len(data), expected=dg)
        assert w.status().offset == st.offset  # resumes where the bytes on disk end
        w.write(data[st.offset:])
        w.commit(len(data), dg)
        r = c2.content.reader_at(dg)
        assert r.read_at(0, r.size) == data
        assert [x.id for x in c2.leases.list_resources("upload")] == [dg]
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        assert d2.stop() == 0, d2.log_text()[-3000:]
