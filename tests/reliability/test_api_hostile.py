"""Every service over real gRPC against hostile requests: clear errors, a daemon that keeps serving.

One daemon process serves the whole module. Each family of :mod:`tests.reliability.api_corpus`
is one test: every case must end with one of the status codes it allows (never UNKNOWN or
INTERNAL, never a Python traceback or type repr in the message), and after the family the
daemon must still pass its health check and answer Version. At the end nothing carrying the
corpus' token may exist outside the daemon's root and state, and the daemon's log holds no
traceback.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.protobuf import any_pb2

from tests.reliability.api_corpus import BAD_OPTIONS, BAD_SPECS, FAMILIES, SPEC_URL, Case, family
from tests.reliability.figures import record
from tests.reliability.rawgrpc import Outcome, assert_serving, call, method
from tests.reliability.served import Served

#: What must never appear in an error message a client gets back.
LEAKS = ("Traceback", 'File "/', "<class '", "object at 0x")


def judge(case: Case, out: Outcome) -> str | None:
    """Why ``out`` is not a clear answer to ``case`` (None when it is)."""
    if out.code not in case.expect:
        return f"{case!r}: got {out.code} {out.details[:300]!r}, want one of {sorted(case.expect)}"
    if any(s in out.details for s in LEAKS):
        return f"{case!r}: internals in the message: {out.details[:300]!r}"
    if len(out.details) > 8192:
        return f"{case!r}: a {len(out.details)}-byte message (the input echoed back whole?)"
    return None


def run_family(s: Served, name: str) -> tuple[int, list[str]]:
    failures = []
    n = 0
    for case in family(s.world, name):
        m = method(case.method)
        timeout = 1.0 if m.name == "Subscribe" else 20.0
        out = call(s.channel, m, case.payload(), namespace=case.namespace or s.world.namespace, timeout=timeout)
        n += 1
        if (problem := judge(case, out)) is not None:
            failures.append(problem)
    return n, failures


@pytest.mark.parametrize("name", FAMILIES)
def test_family_answers_clearly(served: Served, name: str) -> None:
    n, failures = run_family(served, name)
    record("api", name, n)
    assert served.daemon.proc.poll() is None, "the daemon died"
    assert_serving(served.channel)
    assert not failures, f"{len(failures)} of {n} cases:\n" + "\n".join(failures[:60])


#: Option types the daemon knows (and so checks before a shim starts).
KNOWN = {"containerd.runc.v1.Options", "containerd.events.TaskExit"}


@pytest.mark.requires_root
@pytest.mark.parametrize("runtime", ["io.containerd.runc.v2", "io.containerd.pyrunc.v1"])
def test_bad_containers_never_become_tasks(served: Served, runtime: str) -> None:
    """containerd stores specs and options opaquely, so a container may hold garbage; a task
    from it must then fail with a clear error, leaving no bundle and no shim behind."""
    from pyctrd._api.containerd.api.services.containers.v1 import containers_pb2 as cpb
    from pyctrd._api.containerd.api.services.tasks.v1 import tasks_pb2 as tpb

    w = served.world
    made = []
    for i, (url, value) in enumerate(BAD_SPECS):
        made.append(cpb.Container(id=f"t{runtime[-2:]}spec{i}", runtime=cpb.Container.Runtime(name=runtime),
                                  spec=any_pb2.Any(type_url=url, value=value)))
    spec = b'{"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/"}, "root": {"path": "/nonexistent"}}'
    for i, (url, value) in enumerate(BAD_OPTIONS):
        c = cpb.Container(id=f"t{runtime[-2:]}opt{i}", spec=any_pb2.Any(type_url=SPEC_URL, value=spec))
        c.runtime.name = runtime
        c.runtime.options.CopyFrom(any_pb2.Any(type_url=url, value=value))
        made.append(c)
    problems = []
    for x in made:
        out = call(served.channel, method("Containers/Create"), cpb.CreateContainerRequest(container=x)
                   .SerializeToString(), namespace=w.namespace)
        if out.code != "OK":
            continue  # refused at create: clear enough (the any family judges that answer)
        out = call(served.channel, method("Tasks/Create"), tpb.CreateTaskRequest(container_id=x.id)
                   .SerializeToString(), namespace=w.namespace, timeout=60)
        # Option types the daemon does not know go to the shim, which decides (containerd
        # cannot know a third-party shim's types either); the Go shim's refusal is UNKNOWN.
        shims_call = x.runtime.options.type_url and x.runtime.options.type_url.rsplit("/", 1)[-1] not in KNOWN
        if out.code == "UNKNOWN" and shims_call and x.runtime.options.type_url[:40] in out.details:
            continue
        if out.code not in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND") or \
                any(s in out.details for s in LEAKS):
            problems.append(f"{x.id} {x.spec.value[:30]!r} {x.runtime.options.type_url}: {out!r}")
    record("api", f"tasks-from-bad-containers/{runtime}", len(made))
    c = served.daemon.client(w.namespace)
    assert not c.tasks.list()
    bundles = served.daemon.state / "io.containerd.runtime.v2.task" / w.namespace
    assert not (bundles.is_dir() and os.listdir(bundles)), os.listdir(bundles)
    assert_serving(served.channel)
    assert not problems, "\n".join(problems)


def test_nothing_written_outside_root_and_state(served: Served) -> None:
    """Hostile IDs carried the token: it may not name anything outside root and state."""
    token = served.world.token
    outside = []
    for top in (Path("/tmp"), Path("/"), Path("/run"), Path.cwd(), served.daemon.root.parent):
        outside += [str(top / e) for e in os.listdir(top) if token in e]
    for dirpath, dirnames, filenames in os.walk(served.base):
        if Path(dirpath) in (served.daemon.root, served.daemon.state):
            dirnames.clear()
            continue
        outside += [os.path.join(dirpath, e) for e in dirnames + filenames if token in e]
    assert not outside
    log = served.daemon.log_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:4000]
