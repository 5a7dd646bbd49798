"""Hostile requests against a *running* task, through each shim (Debian's Go shim and ours).

The ``tasks`` part of the corpus needs a live task: bad exec IDs and specs, impossible
signals and resources, calls in the wrong state. Each must get a clear status, the task must
keep running through all of it, and afterwards the ``rt`` fixture checks that no bundle,
mount, FIFO, shim or runc state is left.
"""
from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2

from pyctrd import errdefs
from pyctrd._api.containerd.api.services.tasks.v1 import tasks_pb2 as tpb
from pyctrd.plugins.runtime.v2.binary import resolve_runtime
from tests.reliability.api_corpus import BAD, LOOKUP, Case, hostile_ids
from tests.reliability.figures import record
from tests.reliability.rawgrpc import assert_serving, call, method
from tests.reliability.test_api_hostile import judge
from tests.runtime.conftest import Env, needs_go_shim

pytestmark = needs_go_shim

PROCESS_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
RESOURCES_URL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
WRONG_STATE = frozenset({"FAILED_PRECONDITION"})


def _js(url: str, doc: Any) -> any_pb2.Any:
    return any_pb2.Any(type_url=url, value=doc if isinstance(doc, bytes) else json.dumps(doc).encode())


def live_cases(id: str, process: dict[str, Any], token: str) -> list[Case]:
    def c(m: str, req: Any, expect: frozenset[str], note: str = "") -> Case:
        return Case("live-task", m, req, expect, note=note)

    ok_spec = _js(PROCESS_URL, {**process, "args": ["true"]})
    cases = [c("Tasks/Exec", tpb.ExecProcessRequest(container_id=id, exec_id=x, spec=ok_spec),
               BAD | ({"NOT_FOUND"} if not x else set()), repr(x[:30])) for x in hostile_ids(token)]
    for x in hostile_ids(token)[:12]:
        for m, req in (("Start", tpb.StartRequest), ("Kill", tpb.KillRequest), ("Wait", tpb.WaitRequest),
                       ("Get", tpb.GetRequest), ("CloseIO", tpb.CloseIORequest), ("ResizePty", tpb.ResizePtyRequest),
                       ("DeleteProcess", tpb.DeleteProcessRequest)):
            cases.append(c(f"Tasks/{m}", req(container_id=id, exec_id=x), LOOKUP, f"exec id {x[:30]!r}"))
    bad_process: list[Any] = [b"", b"[]", b"{", b"null", {"args": "sh"}, {"args": []}, {"args": ["sh"], "env": "x"},
                              {"args": ["sh"], "user": {"uid": "root"}}, {"args": ["sh"], "capabilities": []},
                              {"args": ["sh"], "terminal": "yes"}, {"args": ["sh"], "rlimits": [5]}]
    for i, doc in enumerate(bad_process):
        cases.append(c("Tasks/Exec", tpb.ExecProcessRequest(container_id=id, exec_id=f"bad{i}",
                                                           spec=_js(PROCESS_URL, doc)), BAD, f"process {doc!r:.40}"))
    bad_resources: list[Any] = [b"{", b"[]", b"7", {"memory": 5}, {"memory": {"limit": "big"}},
                                {"cpu": {"shares": -1.5}}, {"pids": {"limit": "x"}}, {"unified": {"a": 1}}]
    for doc in bad_resources:
        cases.append(c("Tasks/Update", tpb.UpdateTaskRequest(container_id=id, resources=_js(RESOURCES_URL, doc)),
                       BAD, f"resources {doc!r:.40}"))
    cases += [
        c("Tasks/Kill", tpb.KillRequest(container_id=id, signal=99999), BAD, "signal 99999"),
        c("Tasks/Kill", tpb.KillRequest(container_id=id, signal=2 ** 32 - 1), BAD, "signal 2^32-1"),
        c("Tasks/Create", tpb.CreateTaskRequest(container_id=id), frozenset({"ALREADY_EXISTS"}), "second task"),
        c("Tasks/Start", tpb.StartRequest(container_id=id), WRONG_STATE, "start a running task"),
        c("Tasks/Delete", tpb.DeleteTaskRequest(container_id=id), WRONG_STATE, "delete a running task"),
        c("Tasks/Resume", tpb.ResumeTaskRequest(container_id=id), WRONG_STATE, "resume a running task"),
        c("Tasks/Checkpoint", tpb.CheckpointTaskRequest(container_id=id), frozenset({"UNIMPLEMENTED"}), "checkpoint"),
        c("Tasks/ResizePty", tpb.ResizePtyRequest(container_id=id, width=2 ** 32 - 1, height=0),
          frozenset({"OK", "INVALID_ARGUMENT"}), "no console, huge size"),
        c("Tasks/Exec", tpb.ExecProcessRequest(container_id=id, exec_id="twice", spec=ok_spec), frozenset({"OK"})),
        c("Tasks/Exec", tpb.ExecProcessRequest(container_id=id, exec_id="twice", spec=ok_spec),
          frozenset({"ALREADY_EXISTS"}), "exec ID in use"),
        c("Tasks/DeleteProcess", tpb.DeleteProcessRequest(container_id=id, exec_id="twice"), frozenset({"OK"})),
        c("Tasks/Pause", tpb.PauseTaskRequest(container_id=id), frozenset({"OK"})),
        c("Tasks/Pause", tpb.PauseTaskRequest(container_id=id), WRONG_STATE | {"OK"}, "pause twice"),
        c("Tasks/Exec", tpb.ExecProcessRequest(container_id=id, exec_id="frozen", spec=ok_spec),
          WRONG_STATE | {"OK"}, "exec in a paused task"),
        c("Tasks/Resume", tpb.ResumeTaskRequest(container_id=id), frozenset({"OK"})),
    ]
    return cases


@pytest.mark.parametrize("runtime", ["io.containerd.runc.v2", "io.containerd.pyrunc.v1"])
def test_running_task_answers_clearly(rt: Env, runtime: str) -> None:
    try:
        resolve_runtime(runtime)
    except errdefs.NotFound:
        pytest.skip(f"{runtime}'s shim is not installed")
    rt.client.containers.create("live", spec=rt.spec("live", "sleep", "1000"), runtime=runtime)
    task = rt.client.tasks.create("live")
    task.start()
    channel = grpc.insecure_channel(f"unix://{rt.daemon.address}")
    failures, cases = [], live_cases("live", rt.spec("live")["process"], "relesclive")
    try:
        for case in cases:
            out = call(channel, method(case.method), case.payload(), namespace=rt.namespace, timeout=30)
            if (problem := judge(case, out)) is not None:
                failures.append(problem)
        record("api", f"live-task/{runtime}", len(cases))
        assert rt.client.tasks.get("live").status().status == "running", "the task survived it all"
        assert_serving(channel)
    finally:
        channel.close()
        task.delete(force=True)
        rt.client.containers.delete("live")
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)
