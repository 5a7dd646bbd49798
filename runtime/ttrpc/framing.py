"""ttrpc frames: a 10-byte header, then a protobuf body.

ttrpc ("tiny transport RPC") is the protocol containerd uses to talk to its shims. It keeps
gRPC's idea of services, methods and status codes but drops HTTP/2: each message travels as
one *frame* on a plain unix socket::

    0         4         8    9    10                          10+length
    +---------+---------+----+----+----------------------------+
    | length  | stream  |type|flag|  body (protobuf, length B) |
    +---------+---------+----+----+----------------------------+
      uint32    uint32   u8   u8     big-endian integers

- ``length`` counts only the body, and may be at most 4 MiB (:data:`MAX_MESSAGE_LENGTH`).
- ``stream`` pairs a response with its request. The client picks it; it is always odd
  (1, 3, 5, ...), so that even numbers stay free for server-initiated streams one day.
- ``type`` is 1 for a request and 2 for a response (:class:`MessageType`).
- ``flags`` is reserved; containerd 1.6's ttrpc always sends 0.

Because every frame carries its stream id, many calls can be in flight on one connection and
their answers may come back in any order.

>>> header = Header(length=3, stream_id=1, type=MessageType.REQUEST)
>>> encode_header(header).hex(" ")
'00 00 00 03 00 00 00 01 01 00'
>>> decode_header(bytes.fromhex("00000003000000010100"))
<Header request stream=1 length=3>
>>> encode_frame(7, MessageType.RESPONSE, b"x" * (MAX_MESSAGE_LENGTH + 1))
Traceback (most recent call last):
...
pyctrd.ttrpc.framing.MessageTooLarge: stream 7: message of 4194305 bytes exceeds the ttrpc limit of 4194304 bytes: invalid argument
"""
from __future__ import annotations

import asyncio
import enum
import struct
from dataclasses import dataclass

from .. import errdefs

__all__ = [
    "HEADER_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "Frame",
    "Header",
    "MessageTooLarge",
    "MessageType",
    "decode_header",
    "encode_frame",
    "encode_header",
    "read_frame",
]

HEADER_LENGTH = 10
#: The largest body either side accepts (ttrpc's ``messageLengthMax``, 4 MiB).
MAX_MESSAGE_LENGTH = 4 << 20
_HEADER = struct.Struct(">IIBB")  # big-endian: uint32 length, uint32 stream, uint8 type, uint8 flags
_DISCARD_CHUNK = 64 << 10


class MessageType(enum.IntEnum):
    """What a frame's body is (the header's ``type`` byte)."""

    REQUEST = 1
    RESPONSE = 2


class MessageTooLarge(errdefs.InvalidArgument):
    """A frame's body is larger than :data:`MAX_MESSAGE_LENGTH`.

    Raised before sending such a frame, and after *receiving* the header of one (its body has
    then been read and thrown away, so the connection can go on). ``stream_id`` tells which
    call it belonged to.
    """

    def __init__(self, length: int, stream_id: int) -> None:
        super().__init__(f"stream {stream_id}: message of {length} bytes exceeds the ttrpc limit "
                         f"of {MAX_MESSAGE_LENGTH} bytes")
        self.length = length
        self.stream_id = stream_id


@dataclass(frozen=True)
class Header:
    """The fixed 10-byte prefix of every frame.

    ``type`` stays a plain ``int`` when it is not a known :class:`MessageType`: newer peers may
    send types this version does not know, and the receiver must be able to skip them.
    """

    length: int
    stream_id: int
    type: int
    flags: int = 0

    def __repr__(self) -> str:
        kind = self.type.name.lower() if isinstance(self.type, MessageType) else f"type={self.type}"
        flags = f" flags={self.flags:#x}" if self.flags else ""
        return f"<Header {kind} stream={self.stream_id} length={self.length}{flags}>"


@dataclass(frozen=True)
class Frame:
    """A header and the body it announced."""

    header: Header
    body: bytes

    def __repr__(self) -> str:
        return f"<Frame {self.header!r}>"


def encode_header(header: Header) -> bytes:
    """The 10 bytes that announce a frame.

    Raises:
        InvalidArgument: a field does not fit its integer width.
    """
    try:
        return _HEADER.pack(header.length, header.stream_id, header.type, header.flags)
    except struct.error as exc:
        raise errdefs.InvalidArgument(f"ttrpc header {header!r}: {exc}") from exc


def decode_header(data: bytes) -> Header:
    """Parse the 10 header bytes (any length is accepted here; the reader checks it).

    Raises:
        InvalidArgument: ``data`` is not exactly 10 bytes long.
    """
    if len(data) != HEADER_LENGTH:
        raise errdefs.InvalidArgument(f"ttrpc header must be {HEADER_LENGTH} bytes, got {len(data)}")
    length, stream_id, kind, flags = _HEADER.unpack(data)
    known = kind in MessageType._value2member_map_
    return Header(length, stream_id, MessageType(kind) if known else kind, flags)


def encode_frame(stream_id: int, type: int, body: bytes, flags: int = 0) -> bytes:
    """Header and body as one ``bytes``, ready for a single ``write()``.

    Writing a whole frame in one call matters: with many calls in flight on one connection,
    two frames must never interleave.

    Raises:
        MessageTooLarge: ``body`` is over the 4 MiB limit (nothing is sent then).
        InvalidArgument: ``stream_id``, ``type`` or ``flags`` out of range.
    """
    if len(body) > MAX_MESSAGE_LENGTH:
        raise MessageTooLarge(len(body), stream_id)
    return encode_header(Header(len(body), stream_id, type, flags)) + body


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """Read the next frame, or ``None`` when the peer closed the connection between frames.

    An oversize frame is read to its end and discarded, then reported: the stream stays in
    step, so the caller can answer that one call with an error and keep the connection.

    Raises:
        MessageTooLarge: the header announced a body over the limit (already skipped).
        Unavailable: the connection ended in the middle of a frame.
        OSError: the socket failed (e.g. connection reset).
    """
    try:
        raw = await reader.readexactly(HEADER_LENGTH)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise errdefs.Unavailable(f"ttrpc: connection closed after {len(exc.partial)} of "
                                  f"{HEADER_LENGTH} header bytes") from exc
    header = decode_header(raw)
    try:
        if header.length > MAX_MESSAGE_LENGTH:
            left = header.length
            while left:
                left -= len(await reader.readexactly(min(left, _DISCARD_CHUNK)))
            raise MessageTooLarge(header.length, header.stream_id)
        return Frame(header, await reader.readexactly(header.length))
    except asyncio.IncompleteReadError as exc:
        raise errdefs.Unavailable(f"ttrpc: connection closed inside the body of {header!r}") from exc
