"""Registry credentials never show: not in the daemon's log, events, labels, nor any error.

Real registries with Basic (htpasswd) and Bearer (token server) auth hold the sample images;
they are fetched with the password into a daemon's content store (debug logging on), one
attempt uses a wrong password. Then the daemon's log, every event it sent, every content and
image label, the client library's own log and the error messages are searched for the
password, the wrong password and the Basic header value made of either.

TLS verification (on unless hosts.toml says ``skip_verify`` for a host) is covered in
tests/remotes/test_registry_client.py::test_tls_verification_ca_and_skip_verify; credentials
in a hosts.toml server URL are refused without echoing them in
tests/remotes/test_registry_hosts.py::test_credentials_in_server_urls_are_refused_without_echo.
"""
from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.core.leases import lease
from pyctrd.errdefs import PyctrdError
from pyctrd.images.samples import build_samples, push_samples
from pyctrd.remotes import DockerResolver, fetch_image
from tests.fixtures.daemon import DaemonProcess, start_daemon
from tests.fixtures.registry import PASSWORD, USER, Registry
from tests.reliability.figures import record
from tests.runtime.conftest import EventLog

WRONG = "Wr0ng-" + PASSWORD + "-Zq"


def secrets_in(text: str) -> list[str]:
    found = []
    for secret in (PASSWORD, WRONG):
        basic = base64.b64encode(f"{USER}:{secret}".encode()).decode()
        found += [s for s in (secret, basic) if s in text]
    return found


@pytest.fixture
def daemon(short_tmp: Path) -> Iterator[DaemonProcess]:
    d = start_daemon(short_tmp, args=("--log-level", "debug"))
    yield d
    assert d.stop() == 0


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_credentials_stay_out_of_logs_events_labels_and_errors(
        auth: str, daemon: DaemonProcess, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> None:
    caplog.set_level(logging.DEBUG)
    reg: Registry = (request.getfixturevalue("htpasswd_registry") if auth == "htpasswd"
                     else request.getfixturevalue("token_registry")[0])
    samples = build_samples()
    push_samples(DockerResolver(credentials=reg.credentials), reg.host, samples)
    events = EventLog(daemon.address)
    c = daemon.client("creds")
    errors: list[str] = []
    try:
        c.leases.create("pull")
        with lease("pull"):
            try:
                fetch_image(DockerResolver(credentials=lambda h: (USER, WRONG)), reg.ref("layered"), c.content)
            except PyctrdError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            result = fetch_image(DockerResolver(credentials=reg.credentials), reg.ref("layered"), c.content)
            c.images.create(result.image({"source": reg.host}))
        # the client's pull, as pyctr runs it (--user name:secret): wrong, then right
        try:
            c.pull(reg.ref("busybox"), plain_http=True, user=f"{USER}:{WRONG}")
        except PyctrdError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        c.pull(reg.ref("busybox"), plain_http=True, user=f"{USER}:{PASSWORD}")
        events.wait("/images/create")
        assert result.fetched
        if auth == "htpasswd":
            assert len(errors) == 2, "the wrong password was not refused"
    finally:
        events.close()
    labels = [f"{k}={v}" for i in c.content.walk() for k, v in i.labels.items()]
    labels += [f"{k}={v}" for img in c.images.list() for k, v in img.labels.items()]
    assert any("distribution.source" in lb for lb in labels)
    places = {"daemon log": daemon.log_text(), "events": "\n".join(repr(e.event) for e in events.envelopes),
              "labels": "\n".join(labels), "errors": "\n".join(errors), "client log": caplog.text}
    leaks = {where: secrets_in(text) for where, text in places.items() if secrets_in(text)}
    assert not leaks, leaks
    assert "Authorization" not in caplog.text and "Authorization" not in daemon.log_text()
    record("access", f"credential leak checks/{auth}", len(places), "places searched")
