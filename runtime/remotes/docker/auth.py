"""Registry authentication: answer a ``401`` challenge with Basic credentials or a Bearer token.

A registry that wants credentials answers ``401`` with a challenge::

    WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"

The client then asks the token server (``realm``) for a token for the scopes it needs -- with
the user's credentials (an OAuth POST, falling back to GET with Basic auth) or anonymously --
and repeats the request with ``Authorization: Bearer <token>``. ``Basic`` challenges are
answered with the credentials directly. Tokens are cached per host and scope.

Secrets never leave this module: error messages name the host and status only.

>>> parse_challenges('Bearer realm="https://a/token",service="reg",scope="repository:x:pull"')
[('bearer', {'realm': 'https://a/token', 'service': 'reg', 'scope': 'repository:x:pull'})]
"""
from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Callable, Sequence

import requests

from ...errdefs import FailedPrecondition, Unavailable

__all__ = ["Authorizer", "Credentials", "parse_challenges"]

log = logging.getLogger("pyctrd.remotes")
#: host -> (username, secret); ``("", "")`` for none. An empty username with a secret is a
#: refresh token.
Credentials = Callable[[str], tuple[str, str]]
_CHALLENGE = re.compile(
    r"([A-Za-z]+)\s+((?:[A-Za-z0-9_.-]+\s*=\s*(?:\"(?:[^\"\\]|\\.)*\"|[^,\s]*)\s*,?\s*)*)")
_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """``WWW-Authenticate`` value -> [(scheme, params)], scheme lower-cased."""
    out: list[tuple[str, dict[str, str]]] = []
    for m in _CHALLENGE.finditer(header):
        params = {k.lower(): (q if q or v == "" else v).replace('\\"', '"')
                  for k, q, v in _PARAM.findall(m.group(2))}
        out.append((m.group(1).lower(), params))
    return out


class _Handler:
    def __init__(self, scheme: str, params: dict[str, str], user: str, secret: str) -> None:
        self.scheme, self.params, self.user, self.secret = scheme, params, user, secret
        self.tokens: dict[str, str] = {}


class Authorizer:
    """Per-host authentication state shared by every request of a resolver."""

    def __init__(self, session: requests.Session, credentials: Credentials | None = None,
                 headers: Sequence[tuple[str, str]] = (), timeout: float = 30.0) -> None:
        self._session = session
        self._credentials = credentials
        self._headers = dict(headers)
        self._timeout = timeout
        self._handlers: dict[str, _Handler] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Authorizer hosts={sorted(self._handlers)}>"

    def authorization(self, host: str, scopes: Sequence[str]) -> str | None:
        """The ``Authorization`` header for a request to ``host`` needing ``scopes``, if known.

        Raises:
            FailedPrecondition: the token server refused the credentials.
            Unavailable: the token server could not be reached.
        """
        with self._lock:
            h = self._handlers.get(host)
        if h is None:
            return None
        if h.scheme == "basic":
            raw = f"{h.user}:{h.secret}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        scope = sorted(set(scopes) | set(filter(None, h.params.get("scope", "").split(" "))))
        key = " ".join(scope)
        with self._lock:
            token = h.tokens.get(key)
        if token is None:
            token = self._fetch_token(host, h, scope)
            with self._lock:
                h.tokens[key] = token
        return f"Bearer {token}"

    def add_challenge(self, host: str, response: requests.Response, retried: bool) -> bool:
        """Learn from a 401. True if the request should be repeated with new authorization.

        ``retried`` says the request already carried authorization from this host's handler:
        a second 401 then means the credentials or token are not good enough.
        """
        for scheme, params in parse_challenges(response.headers.get("WWW-Authenticate", "")):
            if scheme == "bearer":
                with self._lock:
                    if host in self._handlers and not retried:
                        return True
                    if retried:
                        self._handlers.pop(host, None)
                        return False
                user, secret = self._credentials(host) if self._credentials else ("", "")
                if "realm" not in params:
                    return False
                with self._lock:
                    self._handlers[host] = _Handler("bearer", params, user, secret)
                return True
            if scheme == "basic" and self._credentials and not retried:
                user, secret = self._credentials(host)
                if user and secret:
                    with self._lock:
                        self._handlers[host] = _Handler("basic", params, user, secret)
                    return True
        return False

    def forget(self, host: str) -> None:
        with self._lock:
            self._handlers.pop(host, None)

    def _fetch_token(self, host: str, h: _Handler, scopes: list[str]) -> str:
        realm, service = h.params["realm"], h.params.get("service", "")
        hdrs = {"User-Agent": "pyctrd", **self._headers}
        try:
            if h.secret:
                form = {"grant_type": "password", "username": h.user, "password": h.secret,
                        "service": service, "client_id": "containerd-client"}
                if not h.user:
                    form = {"grant_type": "refresh_token", "refresh_token": h.secret,
                            "service": service, "client_id": "containerd-client"}
                if scopes:
                    form["scope"] = " ".join(scopes)
                resp = self._session.post(realm, data=form, headers=hdrs, timeout=self._timeout)
                # registries without OAuth POST answer 404/405/401/400: use GET + Basic
                if resp.status_code in (400, 401, 404, 405):
                    resp.close()
                    resp = self._get_token(realm, service, scopes, hdrs, (h.user, h.secret))
            else:
                resp = self._get_token(realm, service, scopes, hdrs, None)
        except requests.RequestException as exc:
            raise Unavailable(f"token server for {host}: {type(exc).__name__}") from None
        kind = "oauth" if h.secret else "anonymous"
        if resp.status_code >= 400:
            raise FailedPrecondition(f"failed to fetch {kind} token for {host}: status {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            body = None
        token = (body.get("access_token") or body.get("token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise FailedPrecondition(f"authorization server for {host} did not include a token in the "
                                     "response")
        return token

    def _get_token(self, realm: str, service: str, scopes: list[str], hdrs: dict[str, str],
                   basic: tuple[str, str] | None) -> requests.Response:
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        return self._session.get(realm, params=params, headers=hdrs, auth=basic, timeout=self._timeout)

