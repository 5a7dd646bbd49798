"""One small error hierarchy for the whole of pyctrd, mapped to gRPC in exactly one place.

containerd's ``errdefs`` package defines a handful of error kinds and translates them to and
from gRPC status codes at the edge (``errgrpc``). pyctrd does the same::

    PyctrdError
    ├── NotFound            -> NOT_FOUND            "not found"
    ├── AlreadyExists       -> ALREADY_EXISTS       "already exists"
    ├── InvalidArgument     -> INVALID_ARGUMENT     "invalid argument"
    ├── FailedPrecondition  -> FAILED_PRECONDITION  "failed precondition"
    ├── Unavailable         -> UNAVAILABLE          "unavailable"
    ├── NotImplemented      -> UNIMPLEMENTED        "not implemented"
    └── Unknown             -> UNKNOWN              (anything else)

Messages follow containerd's habit of ending in the kind, so a client sees the same text
whichever side of the wire raised it:

>>> str(NotFound('namespace "lab"'))
'namespace "lab": not found'
>>> str(AlreadyExists())
'already exists'

:data:`CODES` is the single table, kind -> :class:`Code` (gRPC's status numbers, which
ttrpc uses too); :func:`to_status` and :func:`from_status` are the only functions that read
it. :func:`to_grpc`, :func:`from_grpc` and :data:`GRPC_CODES` are the same with
``grpc.StatusCode`` values: they import grpc when first used, never at import time, so a
ttrpc-only process (a shim) does not pay for grpc. Servicers never build status codes by
hand: they raise these errors and the :func:`grpc_errors` decorator on their class does the
rest.
"""
from __future__ import annotations

import enum
import errno
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: a shim's start-up imports neither typing's runtime nor grpc
    from typing import Any, TypeVar

    import grpc

    C = TypeVar("C", bound=type)

__all__ = [
    "CODES",
    "GRPC_CODES",
    "MAX_MESSAGE",
    "AlreadyExists",
    "Code",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "NotImplemented",
    "PyctrdError",
    "Unavailable",
    "Unknown",
    "fit_message",
    "from_grpc",
    "from_status",
    "grpc_errors",
    "map_exceptions",
    "to_grpc",
    "to_status",
]


class PyctrdError(Exception):
    """Base of every error pyctrd raises on purpose.

    Args:
        what: what the error is about, e.g. ``'content digest sha256:…'``. The kind's
            suffix (``: not found``) is added when the message does not already end in it.
    """

    suffix = "unknown"

    def __init__(self, what: str = "") -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        if not self.what:
            return self.suffix
        if self.what.endswith(self.suffix):
            return self.what
        return f"{self.what}: {self.suffix}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class NotFound(PyctrdError):
    """The object does not exist (in this namespace)."""

    suffix = "not found"


class AlreadyExists(PyctrdError):
    """An object with that name or key exists already."""

    suffix = "already exists"


class InvalidArgument(PyctrdError):
    """The request is malformed: a bad ID, filter, digest, label or config value."""

    suffix = "invalid argument"


class FailedPrecondition(PyctrdError):
    """The system is not in a state that allows the request (e.g. a namespace not empty)."""

    suffix = "failed precondition"


class Unavailable(PyctrdError):
    """Try again later: a resource is busy (e.g. an ingest ref locked by another writer)."""

    suffix = "unavailable"


class NotImplemented(PyctrdError):
    """The operation exists in the API but this implementation does not support it."""

    suffix = "not implemented"


class Unknown(PyctrdError):
    """Anything that is not one of the kinds above."""

    suffix = "unknown"


class Code(enum.IntEnum):
    """gRPC's status codes by number: what travels on the wire, in gRPC and ttrpc alike.

    The same numbers as ``grpc.StatusCode``, without importing grpc (a shim, which speaks
    only ttrpc, must start fast; grpc alone costs ~30 ms).
    """

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


#: The one table between pyctrd's errors and status codes (read in both directions).
CODES: dict[type[PyctrdError], Code] = {
    NotFound: Code.NOT_FOUND,
    AlreadyExists: Code.ALREADY_EXISTS,
    InvalidArgument: Code.INVALID_ARGUMENT,
    FailedPrecondition: Code.FAILED_PRECONDITION,
    Unavailable: Code.UNAVAILABLE,
    NotImplemented: Code.UNIMPLEMENTED,
    Unknown: Code.UNKNOWN,
}
_KINDS: dict[int, type[PyctrdError]] = {code: kind for kind, code in CODES.items()}

if TYPE_CHECKING:
    #: :data:`CODES` with ``grpc.StatusCode`` values, built on first use (see ``__getattr__``).
    GRPC_CODES: dict[type[PyctrdError], grpc.StatusCode]


def __getattr__(name: str) -> Any:
    # GRPC_CODES is derived from CODES the first time someone asks, so that importing
    # errdefs never imports grpc.
    if name == "GRPC_CODES":
        import grpc

        by_number = {code.value[0]: code for code in grpc.StatusCode}
        table = {kind: by_number[code] for kind, code in CODES.items()}
        globals()["GRPC_CODES"] = table
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Budget for a status message on the wire, in percent-encoded bytes (gRPC sends the
#: message in a trailer; a client refuses a call's metadata over 16 KiB, and some of the
#: time over its 8 KiB soft limit, with RESOURCE_EXHAUSTED "Stream removed" instead of
#: the error).
MAX_MESSAGE = 4096


def _wire_cost(ch: str) -> int:
    # grpc-message percent-encodes every byte outside printable ASCII (and '%' itself).
    return 1 if " " <= ch <= "~" and ch != "%" else 3 * len(ch.encode("utf-8", "surrogatepass"))


def fit_message(message: str, budget: int = MAX_MESSAGE) -> str:
    """``message``, cut short when it would not fit in a status trailer (a huge ID echoed back).

    >>> fit_message("short")
    'short'
    >>> fit_message('container "' + "x" * 70000 + '": not found')[-24:]
    'xx… (70023 chars in all)'
    """
    cost = 0
    for i, ch in enumerate(message):
        cost += _wire_cost(ch)
        if cost > budget - 64:
            return f"{message[:i]}… ({len(message)} chars in all)"
    return message


def to_status(exc: BaseException) -> tuple[Code, str]:
    """The status code and message a server sends for ``exc`` (gRPC or ttrpc).

    Messages too long for a status trailer are cut short (:func:`fit_message`).

    >>> to_status(NotFound("image x"))
    (<Code.NOT_FOUND: 5>, 'image x: not found')
    >>> to_status(ValueError("boom"))
    (<Code.UNKNOWN: 2>, 'boom')
    """
    for kind in type(exc).__mro__:
        if kind in CODES:
            return CODES[kind], fit_message(str(exc))
    return Code.UNKNOWN, fit_message(str(exc) or type(exc).__name__)


def from_status(code: int | None, message: str) -> PyctrdError:
    """The pyctrd error for a status code number a client received.

    Codes with no kind of their own (DEADLINE_EXCEEDED, CANCELLED, …) become :class:`Unknown`,
    keeping the code's name in the message.

    >>> from_status(6, 'namespace "x": already exists')
    AlreadyExists('namespace "x": already exists')
    >>> from_status(Code.DEADLINE_EXCEEDED, "too late")
    Unknown('too late (DEADLINE_EXCEEDED): unknown')
    """
    kind = _KINDS.get(code) if code is not None else None
    if kind is None:
        name = Code(code).name if code is not None and code in Code._value2member_map_ else "UNKNOWN"
        return Unknown(f"{message} ({name})" if message else name)
    return kind(message)


def to_grpc(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """:func:`to_status` with a ``grpc.StatusCode`` (for grpc.aio servicers).

    >>> to_grpc(NotFound("image x"))
    (<StatusCode.NOT_FOUND: (5, 'not found')>, 'image x: not found')
    >>> to_grpc(ValueError("boom"))[0]
    <StatusCode.UNKNOWN: (2, 'unknown')>
    """
    import grpc

    code, message = to_status(exc)
    return grpc.StatusCode[code.name], message


def from_grpc(code: grpc.StatusCode | None, message: str) -> PyctrdError:
    """:func:`from_status` for a ``grpc.StatusCode`` a gRPC client received.

    >>> import grpc
    >>> from_grpc(grpc.StatusCode.ALREADY_EXISTS, 'namespace "x": already exists')
    AlreadyExists('namespace "x": already exists')
    """
    return from_status(None if code is None else code.value[0], message)


def _abort_code(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, PyctrdError):
        return to_grpc(exc)
    import grpc

    return grpc.StatusCode.UNKNOWN, fit_message(f"{type(exc).__name__}: {exc}")


def _wrap(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap one grpc.aio servicer method (coroutine or async generator)."""
    import inspect

    import grpc

    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> Any:
            try:
                async for item in method(self, request, context):
                    yield item
            except (grpc.aio.AbortError, GeneratorExit):
                raise
            except Exception as exc:
                await context.abort(*_abort_code(exc))

        return stream

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await context.abort(*_abort_code(exc))

    return unary


def grpc_errors(cls: C) -> C:
    """Class decorator for grpc.aio servicers: raised errors become gRPC statuses.

    Every public ``async def`` method (RPC handler) is wrapped; a :class:`PyctrdError` keeps
    its kind, anything else is UNKNOWN with the exception's type in the message.
    """
    import inspect

    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not (
            inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)
        ):
            continue
        setattr(cls, name, _wrap(member))
    return cls


_ERRNO_KINDS: dict[int, type[PyctrdError]] = {
    errno.ENOENT: NotFound,
    errno.EEXIST: AlreadyExists,
    errno.ENOTEMPTY: FailedPrecondition,
    errno.EBUSY: Unavailable,
    errno.EAGAIN: Unavailable,
    errno.EINVAL: InvalidArgument,
    errno.ENAMETOOLONG: InvalidArgument,
    errno.ENOSYS: NotImplemented,
    errno.EOPNOTSUPP: NotImplemented,
}


@contextmanager
def map_exceptions(what: str = "", extra: dict[type[BaseException], type[PyctrdError]] | None = None
                   ) -> Iterator[None]:
    """Translate low-level errors (OSError, sqlite3) into pyctrd's kinds, as httpcore does.

    >>> with map_exceptions("blob sha256:00"):
    ...     open("/nonexistent/blob")
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.NotFound: blob sha256:00: not found
    """
    try:
        yield
    except PyctrdError:
        raise
    except OSError as exc:
        kind = _ERRNO_KINDS.get(exc.errno or 0, Unknown)
        detail = exc.strerror or str(exc)
        msg = f"{what} ({detail})" if what and kind is Unknown else what or detail
        raise kind(msg) from exc
    except Exception as exc:
        # sqlite3 is looked up, not imported: if nothing imported it, no sqlite error can
        # be passing through here (and a shim need not pay for the import).
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(exc, sqlite3.IntegrityError):
            raise AlreadyExists(what or str(exc)) from exc
        if sqlite3 is not None and isinstance(exc, sqlite3.Error):
            raise Unknown(f"{what}: metadata: {exc}" if what else f"metadata: {exc}") from exc
        for src, kind in (extra or {}).items():
            if isinstance(exc, src):
                raise kind(what or str(exc)) from exc
        raise
