"""HTTP to registry hosts: TLS per host, authentication, bounded retries with backoff.

Every registry call goes through :meth:`Transport.request`, which

- builds the URL from a :class:`~.hosts.RegistryHost` (scheme, host, API path),
- verifies TLS unless the host says ``skip_verify`` (extra CAs and client certs per host),
- answers ``401`` challenges through the :class:`~.auth.Authorizer` and repeats the request,
- turns ``HEAD`` into ``GET`` when a registry refuses ``HEAD`` on manifests (405),
- retries connection errors, ``408``, ``429`` and ``5xx`` a bounded number of times with
  exponential backoff (the ``sleep`` is injected, so tests never wait).

Responses are returned as they are; :func:`status_error` maps a failed one to an errdefs kind.
The ``Authorization`` header is never logged and never part of an error message.
"""
from __future__ import annotations

import logging
import re
import ssl
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from ...errdefs import FailedPrecondition, NotFound, PyctrdError, Unavailable, Unknown
from .auth import Authorizer, Credentials
from .hosts import RegistryHost, is_localhost

__all__ = ["RETRY_STATUSES", "USER_AGENT", "RetryPolicy", "Transport", "status_error"]

log = logging.getLogger("pyctrd.remotes")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = "pyctrd/0.1 (containerd/1.6 compatible)"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a failing request."""

    #: total tries of one request (1 = no retry)
    attempts: int = 4
    #: first delay in seconds; doubles each time up to ``max_delay``
    backoff: float = 0.25
    max_delay: float = 4.0
    #: injected so tests record delays instead of waiting
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delays(self) -> Iterator[float]:
        d = self.backoff
        for _ in range(self.attempts - 1):
            yield min(d, self.max_delay)
            d *= 2


class _TLSAdapter(HTTPAdapter):
    """An adapter whose TLS context trusts extra CAs and presents client certificates."""

    def __init__(self, host: RegistryHost) -> None:
        self._ctx = ssl.create_default_context()
        for ca in host.ca:
            self._ctx.load_verify_locations(cafile=ca)
        for cert, key in host.client_certs:
            self._ctx.load_cert_chain(cert, key or None)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ctx
        super().init_poolmanager(*args, **kwargs)


def _registry_message(resp: requests.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
        return "; ".join(str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return ""


def status_error(resp: requests.Response, what: str) -> PyctrdError:
    """The errdefs kind for a failed registry response (``what`` says which call failed)."""
    code = resp.status_code
    msg = _registry_message(resp) if resp.request is not None and resp.request.method != "HEAD" else ""
    detail = f"{what}: {code} {resp.reason}" + (f" - server message: {msg}" if msg else "")
    if code == 404:
        return NotFound(detail)
    if code in (401, 403):
        return FailedPrecondition(f"{detail}: access denied, repository does not exist or may require "
                                  "authorization")
    if code in RETRY_STATUSES:
        return Unavailable(detail)
    return Unknown(detail)


class Transport:
    """One requests session per resolver, with per-host TLS and a shared authorizer."""

    def __init__(self, *, credentials: Credentials | None = None, headers: Sequence[tuple[str, str]] = (),
                 retry: RetryPolicy | None = None, timeout: float = 60.0,
                 session: requests.Session | None = None) -> None:
        self.session = session or requests.Session()
        self.headers = [("User-Agent", USER_AGENT), *headers]
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.authorizer = Authorizer(self.session, credentials, headers, timeout)
        self._mounted: set[str] = set()
        self._insecure: set[str] = set()

    def __repr__(self) -> str:
        return f"<Transport retries={self.retry.attempts} {self.authorizer!r}>"

    def _verify(self, host: RegistryHost) -> bool:
        if host.scheme != "https":
            return True
        if host.skip_verify:
            name = urlsplit("//" + host.host).hostname or host.host
            if name not in self._insecure:
                # the user asked for it in hosts.toml: say so once, in our log, not per request
                self._insecure.add(name)
                log.warning("TLS verification disabled for %s (skip_verify)", host.host)
                text = f"Unverified HTTPS request is being made to host '{name}'"
                warnings.filterwarnings("ignore", re.escape(text), InsecureRequestWarning)
            return False
        prefix = f"https://{host.host}/"
        if (host.ca or host.client_certs) and prefix not in self._mounted:
            self.session.mount(prefix, _TLSAdapter(host))
            self._mounted.add(prefix)
        return True

    def request(self, host: RegistryHost, method: str, path: str, *, scopes: Sequence[str] = (),
                headers: dict[str, str] | None = None, body: Callable[[], Any] | None = None,
                stream: bool = False, url: str | None = None, authorize: bool = True) -> requests.Response:
        """Send one request to ``host`` (``path`` below its API root, or a full ``url``).

        ``body`` is a factory so a retry can send it again.

        Raises:
            Unavailable: connection errors (or retryable statuses' last answer is returned).
            FailedPrecondition: the token server refused the credentials.
        """
        target = url or host.url(path)
        hdrs = dict(self.headers)
        for k, v in host.headers:
            hdrs[k] = f"{hdrs[k]}, {v}" if k in hdrs and k not in ("User-Agent",) else v
        hdrs.update(headers or {})
        verify = self._verify(host)
        proxies = {"http": None, "https": None} if is_localhost(host.host) else None
        delays = self.retry.delays()
        auth_rounds = 0
        authorized = False
        while True:
            send = dict(hdrs)
            if authorize:
                value = self.authorizer.authorization(host.host, scopes)
                authorized = value is not None
                if value:
                    send["Authorization"] = value
            try:
                resp = self.session.request(method, target, headers=send, data=body() if body else None,
                                            stream=stream, verify=verify, timeout=self.timeout,
                                            allow_redirects=True, proxies=proxies)  # type: ignore[arg-type]
            except requests.exceptions.SSLError as exc:
                # retrying cannot fix an untrusted certificate
                raise FailedPrecondition(f"{method} {target}: TLS: {_reason(exc)}") from None
            except requests.TooManyRedirects:
                raise FailedPrecondition(f"{method} {target}: too many redirects") from None
            except (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL,
                    requests.exceptions.MissingSchema, ValueError) as exc:
                # a Location no client should follow (file://, ftp://, a malformed URL)
                where = "" if target in str(exc) else " (redirected)"
                raise FailedPrecondition(f"{method} {target}: unusable URL{where}: {str(exc)[:300]}") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                delay = next(delays, None)
                log.debug("%s %s: %s, retry in %s", method, target, type(exc).__name__, delay)
                if delay is None:
                    raise Unavailable(f"{method} {target}: {_reason(exc)}") from None
                self.retry.sleep(delay)
                continue
            log.debug("%s %s -> %s", method, target, resp.status_code)
            if resp.status_code == 401 and authorize and auth_rounds < 2:
                auth_rounds += 1
                if self.authorizer.add_challenge(host.host, resp, authorized):
                    resp.close()
                    continue
            elif resp.status_code == 405 and method == "HEAD" and "/manifests/" in target:
                resp.close()
                method = "GET"
                continue
            elif resp.status_code in RETRY_STATUSES:
                delay = next(delays, None)
                if delay is not None:
                    resp.close()
                    self.retry.sleep(delay)
                    continue
            return resp


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Read timed out", "Connection reset", "Name or service not known",
                   "certificate verify failed", "RemoteDisconnected"):
        if marker in text:
            return marker
    return type(exc).__name__
