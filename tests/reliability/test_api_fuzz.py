"""Hypothesis against every method: messages built from the method's own descriptor, with
hostile values in every field, and the same bytes mutated (truncated, flipped, spliced).

Each answer must be a clear status (:data:`~tests.reliability.api_corpus.ALL_CLEAN`, never
UNKNOWN or INTERNAL, no Python internals in the message) and the daemon must still be
serving afterwards. Examples per method: 12 in CI, 300 under ``make soak``.
"""
from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.api_corpus import ALL_CLEAN, SPEC_URL, Case, hostile_ids
from tests.reliability.figures import SOAK, record, scaled
from tests.reliability.rawgrpc import Method, assert_serving, call, methods
from tests.reliability.served import Served
from tests.reliability.test_api_hostile import judge

EXAMPLES = scaled(12, 300)
F = FieldDescriptor
TEXT = st.one_of(st.sampled_from(["", "rel", "c1", "img1", "l1", "default", "/tasks/exit", "sha256:" + "0" * 64,
                                  *hostile_ids("relfuzz")]), st.text(max_size=40))
URLS = st.sampled_from(["", SPEC_URL, "containerd.events.TaskExit", "containerd.runc.v1.Options", "x", "/",
                        "types.containerd.io/opencontainers/runtime-spec/1/Process"])
INTS = {F.TYPE_INT32: st.integers(-2**31, 2**31 - 1), F.TYPE_INT64: st.integers(-2**63, 2**63 - 1),
        F.TYPE_UINT32: st.integers(0, 2**32 - 1), F.TYPE_UINT64: st.integers(0, 2**64 - 1),
        F.TYPE_SINT32: st.integers(-2**31, 2**31 - 1), F.TYPE_SINT64: st.integers(-2**63, 2**63 - 1),
        F.TYPE_FIXED32: st.integers(0, 2**32 - 1), F.TYPE_FIXED64: st.integers(0, 2**64 - 1),
        F.TYPE_SFIXED32: st.integers(-2**31, 2**31 - 1), F.TYPE_SFIXED64: st.integers(-2**63, 2**63 - 1)}


def _scalar(f: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if f.type == F.TYPE_STRING:
        return TEXT
    if f.type == F.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.sampled_from([b"{}", b"[]", b'{"args": ["sh"]}', b"null"]))
    if f.type == F.TYPE_BOOL:
        return st.booleans()
    if f.type == F.TYPE_ENUM:
        return st.integers(-1, 8)
    if f.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(allow_nan=False, width=32)
    if f.type == F.TYPE_MESSAGE:
        return fields(f.message_type, depth + 1)
    return INTS[f.type]


def fields(desc: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``desc``'s message class: some fields set, hostile values."""
    if desc.full_name == "google.protobuf.Any":
        return st.fixed_dictionaries({}, optional={"type_url": URLS, "value": _scalar(desc.fields_by_name["value"], 0)})
    if depth > 3:
        return st.just({})
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for f in desc.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            k, v = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            optional[f.name] = st.dictionaries(_scalar(k, depth), _scalar(v, depth), max_size=3)
        elif f.is_repeated:
            optional[f.name] = st.lists(_scalar(f, depth), max_size=3)
        else:
            optional[f.name] = _scalar(f, depth)
    return st.fixed_dictionaries({}, optional=optional)


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, pos, value in ops:
        pos = pos % (len(out) + 1)
        if kind == 0:
            del out[pos:]
        elif kind == 1 and pos < len(out):
            out[pos] ^= value or 1
        else:
            out[pos:pos] = bytes([value])
    return bytes(out)


def payloads(m: Method) -> st.SearchStrategy[bytes]:
    cls = message_factory.GetMessageClass(m.input)
    built = fields(m.input).map(lambda kw: cls(**kw).SerializeToString())
    ops = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 500), st.integers(0, 255)), min_size=1, max_size=4)
    return st.one_of(built, st.tuples(built, ops).map(lambda t: _mutate(*t)), st.binary(max_size=200))


STREAMING_FOREVER = {"Subscribe", "Watch"}
TRIED: dict[str, int] = {}


@pytest.mark.slow
@pytest.mark.parametrize("m", methods(), ids=lambda m: f"{m.service}.{m.name}")
def test_method_fuzz(served: Served, m: Method) -> None:
    expect = ALL_CLEAN | ({"DEADLINE_EXCEEDED"} if m.name in STREAMING_FOREVER else set())
    timeout = 0.5 if m.name in STREAMING_FOREVER else 20.0

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not SOAK,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(st.data())
    def one(data: st.DataObject) -> None:
        payload = data.draw(payloads(m))
        TRIED[m.path] = TRIED.get(m.path, 0) + 1
        req: Any = [payload] if m.client_streaming else payload
        out = call(served.channel, m, req, namespace=served.world.namespace, timeout=timeout)
        problem = judge(Case("hypothesis", f"{m.service}/{m.name}", payload, frozenset(expect)), out)
        assert problem is None, f"{problem}\npayload={payload!r}"

    one()
    record("api", "hypothesis", TRIED.get(m.path, 0))
    assert_serving(served.channel)
