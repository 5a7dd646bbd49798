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

:data:`GRPC_CODES` is the single table; :func:`to_grpc` and :func:`from_grpc` are the only
functions that read it. Servicers never build status codes by hand: they raise these errors
and the :func:`grpc_errors` decorator on their class does the rest.
"""
from __future__ import annotations

import errno
import functools
import inspect
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc

__all__ = [
    "GRPC_CODES",
    "AlreadyExists",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "NotImplemented",
    "PyctrdError",
    "Unavailable",
    "Unknown",
    "from_grpc",
    "grpc_errors",
    "map_exceptions",
    "to_grpc",
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


class NotImplemented(PyctrdError):  # noqa: A001 - containerd's name for it
    """The operation exists in the API but this implementation does not support it."""

    suffix = "not implemented"


class Unknown(PyctrdError):
    """Anything that is not one of the kinds above."""

    suffix = "unknown"


#: The one table between pyctrd's errors and gRPC status codes (read in both directions).
GRPC_CODES: dict[type[PyctrdError], grpc.StatusCode] = {
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    NotImplemented: grpc.StatusCode.UNIMPLEMENTED,
    Unknown: grpc.StatusCode.UNKNOWN,
}
_KINDS: dict[grpc.StatusCode, type[PyctrdError]] = {code: kind for kind, code in GRPC_CODES.items()}


def to_grpc(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a server sends for ``exc``.

    >>> to_grpc(NotFound("image x"))
    (<StatusCode.NOT_FOUND: (5, 'not found')>, 'image x: not found')
    >>> to_grpc(ValueError("boom"))[0]
    <StatusCode.UNKNOWN: (2, 'unknown')>
    """
    for kind in type(exc).__mro__:
        if kind in GRPC_CODES:
            return GRPC_CODES[kind], str(exc)  # type: ignore[index]
    return grpc.StatusCode.UNKNOWN, str(exc) or type(exc).__name__


def from_grpc(code: grpc.StatusCode | None, message: str) -> PyctrdError:
    """The pyctrd error for a status a client received.

    Codes with no kind of their own (DEADLINE_EXCEEDED, CANCELLED, …) become :class:`Unknown`,
    keeping the code's name in the message.

    >>> from_grpc(grpc.StatusCode.ALREADY_EXISTS, 'namespace "x": already exists')
    AlreadyExists('namespace "x": already exists')
    """
    kind = _KINDS.get(code) if code is not None else None
    if kind is None:
        name = code.name if code is not None else "UNKNOWN"
        return Unknown(f"{message} ({name})" if message else name)
    return kind(message)


def _abort_code(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, PyctrdError):
        return to_grpc(exc)
    return grpc.StatusCode.UNKNOWN, f"{type(exc).__name__}: {exc}"


def _wrap(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap one grpc.aio servicer method (coroutine or async generator)."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> Any:
            try:
                async for item in method(self, request, context):
                    yield item
            except (grpc.aio.AbortError, GeneratorExit):
                raise
            except Exception as exc:  # noqa: BLE001 - the edge: everything becomes a status
                await context.abort(*_abort_code(exc))

        return stream

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001
            await context.abort(*_abort_code(exc))

    return unary


C = TypeVar("C", bound=type)


def grpc_errors(cls: C) -> C:
    """Class decorator for grpc.aio servicers: raised errors become gRPC statuses.

    Every public ``async def`` method (RPC handler) is wrapped; a :class:`PyctrdError` keeps
    its kind, anything else is UNKNOWN with the exception's type in the message.
    """
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
    except sqlite3.IntegrityError as exc:
        raise AlreadyExists(what or str(exc)) from exc
    except sqlite3.Error as exc:
        raise Unknown(f"{what}: metadata: {exc}" if what else f"metadata: {exc}") from exc
    except Exception as exc:
        for src, kind in (extra or {}).items():
            if isinstance(exc, src):
                raise kind(what or str(exc)) from exc
        raise
