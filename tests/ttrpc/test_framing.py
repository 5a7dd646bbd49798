"""Frames and envelopes, without sockets: headers, limits, truncation, status mapping."""
from __future__ import annotations

import asyncio

import grpc
import pytest

from pyctrd import errdefs
from pyctrd.ttrpc import framing, messages
from pyctrd.ttrpc.framing import Header, MessageType


def stream_of(*chunks: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


@pytest.mark.parametrize("header", [
    Header(0, 1, MessageType.REQUEST),
    Header(framing.MAX_MESSAGE_LENGTH, 0xFFFFFFFF, MessageType.RESPONSE, 0x80),
    Header(5, 2, 9, 1),  # a type this version does not know survives as an int
])
def test_header_round_trip(header: Header) -> None:
    raw = framing.encode_header(header)
    assert len(raw) == framing.HEADER_LENGTH
    assert framing.decode_header(raw) == header


def test_header_is_big_endian_and_shows_itself() -> None:
    raw = framing.encode_header(Header(0x01020304, 0x0A0B0C0D, MessageType.RESPONSE, 0))
    assert raw == bytes([1, 2, 3, 4, 10, 11, 12, 13, 2, 0])
    assert repr(framing.decode_header(raw)) == "<Header response stream=168496141 length=16909060>"
    assert repr(Header(1, 3, 7, 2)) == "<Header type=7 stream=3 length=1 flags=0x2>"


@pytest.mark.parametrize("raw", [b"", b"\x00" * 9, b"\x00" * 11])
def test_decode_header_wrong_size(raw: bytes) -> None:
    with pytest.raises(errdefs.InvalidArgument, match="must be 10 bytes"):
        framing.decode_header(raw)


def test_encode_header_out_of_range() -> None:
    with pytest.raises(errdefs.InvalidArgument):
        framing.encode_header(Header(1, 2**32, MessageType.REQUEST))


def test_encode_frame_refuses_oversize() -> None:
    ok = framing.encode_frame(3, MessageType.REQUEST, b"y" * framing.MAX_MESSAGE_LENGTH)
    assert len(ok) == framing.HEADER_LENGTH + framing.MAX_MESSAGE_LENGTH
    with pytest.raises(framing.MessageTooLarge) as info:
        framing.encode_frame(3, MessageType.REQUEST, b"y" * (framing.MAX_MESSAGE_LENGTH + 1))
    assert isinstance(info.value, errdefs.InvalidArgument)
    assert (info.value.stream_id, info.value.length) == (3, framing.MAX_MESSAGE_LENGTH + 1)
    assert "exceeds the ttrpc limit of 4194304 bytes" in str(info.value)


async def test_read_frames_in_sequence_then_eof() -> None:
    one = framing.encode_frame(1, MessageType.REQUEST, b"hello")
    two = framing.encode_frame(3, MessageType.RESPONSE, b"")
    reader = stream_of(one[:4], one[4:12], one[12:] + two)  # split across reads on purpose
    first = await framing.read_frame(reader)
    second = await framing.read_frame(reader)
    assert first is not None and second is not None
    assert (first.header, first.body) == (Header(5, 1, MessageType.REQUEST), b"hello")
    assert (second.header, second.body) == (Header(0, 3, MessageType.RESPONSE), b"")
    assert repr(second) == "<Frame <Header response stream=3 length=0>>"
    assert await framing.read_frame(reader) is None


@pytest.mark.parametrize("cut, message", [(3, "after 3 of 10 header bytes"), (12, "inside the body")])
async def test_truncated_frame_is_unavailable(cut: int, message: str) -> None:
    frame = framing.encode_frame(1, MessageType.REQUEST, b"hello")
    with pytest.raises(errdefs.Unavailable, match=message):
        await framing.read_frame(stream_of(frame[:cut]))


async def test_oversize_frame_is_skipped_and_reported() -> None:
    too_big = framing.MAX_MESSAGE_LENGTH + 10
    header = framing.encode_header(Header(too_big, 5, MessageType.REQUEST))
    after = framing.encode_frame(7, MessageType.REQUEST, b"next")
    reader = stream_of(header, b"z" * too_big, after)
    with pytest.raises(framing.MessageTooLarge) as info:
        await framing.read_frame(reader)
    assert (info.value.stream_id, info.value.length) == (5, too_big)
    frame = await framing.read_frame(reader)  # the stream is still in step
    assert frame is not None and (frame.header.stream_id, frame.body) == (7, b"next")


def test_request_envelope_wire_format() -> None:
    request = messages.Request(service="s", method="m", payload=b"\x01", timeout_nano=5,
                               metadata=messages.encode_metadata({"K": ["a", "b"]}))
    # field 1 "s", 2 "m", 3 b"\x01", 4 varint 5, 5 twice {1:"k", 2:"a"|"b"}
    assert request.SerializeToString() == bytes.fromhex(
        "0a0173" "12016d" "1a0101" "2005" "2a06 0a016b 120161" "2a06 0a016b 120162".replace(" ", ""))
    back = messages.Request.FromString(request.SerializeToString())
    assert messages.decode_metadata(back.metadata) == {"k": ["a", "b"]}
    assert messages.Request.DESCRIPTOR.full_name == "ttrpc.Request"


def test_response_envelope_carries_google_rpc_status() -> None:
    response = messages.Response(status=messages.status(grpc.StatusCode.NOT_FOUND, "x"), payload=b"p")
    assert response.SerializeToString() == bytes.fromhex("0a05 0805 120178 120170".replace(" ", ""))
    assert messages.Response.DESCRIPTOR.fields_by_name["status"].message_type.full_name == \
        "google.rpc.Status"


@pytest.mark.parametrize("kind", sorted(errdefs.GRPC_CODES, key=lambda k: k.__name__))
def test_every_error_kind_survives_a_status(kind: type[errdefs.PyctrdError]) -> None:
    status = messages.Status.FromString(
        messages.status_for_exception(kind("thing x")).SerializeToString())
    error = messages.error_for_status(status)
    assert type(error) is kind and str(error) == str(kind("thing x"))


def test_status_codes_by_number() -> None:
    assert [messages.status_code(n).name for n in (0, 4, 12, 14)] == \
        ["OK", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "UNAVAILABLE"]
    assert messages.status_code(999) is grpc.StatusCode.UNKNOWN
    error = messages.error_for_status(messages.status(grpc.StatusCode.DEADLINE_EXCEEDED, "late"))
    assert type(error) is errdefs.Unknown and str(error) == "late (DEADLINE_EXCEEDED): unknown"
