"""The HTTP seam's retries on their own (``vectis.platform.http.HttpClient``), against a scripted vendor on
loopback: how many attempts, what a 429's ``Retry-After`` (header or Veeam's body) makes it wait, what is never
sent twice; then what a failed sync does to the connection's failure count and next run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, Response, request
from sqlalchemy import select

from tests.vendors.support import add_connection, new_tenant, serve_app
from vectis.ingest.sync import MAX_BACKOFF, _finish
from vectis.models import Connection, SyncRun
from vectis.platform import db
from vectis.platform.http import ConnectorError, HttpClient, UncertainOutcome


class Script:
    """The answers the vendor gives, in order (then 200 forever), and the requests it saw."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], str]] = []
        self.seen: list[str] = []
        self.hang = 0.0
        self._lock = threading.Lock()

    def then(self, status: int, body: str = "{}", **headers: str) -> Script:
        self.answers.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))
        return self

    def next(self) -> tuple[int, dict[str, str], str]:
        with self._lock:
            self.seen.append(request.method)
            return self.answers.pop(0) if self.answers else (200, {}, '{"ok": true}')


@pytest.fixture
def vendor() -> Iterator[tuple[Script, str]]:
    script = Script()
    wsgi = Flask("scripted-vendor")

    @wsgi.route("/<path:_path>", methods=["GET", "POST"])
    def answer(_path: str) -> Response:
        if script.hang:
            time.sleep(script.hang)
        status, headers, body = script.next()
        return Response(body, status=status, headers=headers, mimetype="application/json")

    for url in serve_app(wsgi):
        yield script, url


def client(url: str, waits: list[float], **knobs: float) -> HttpClient:
    return HttpClient(url, allow_loopback=True, sleep=waits.append, **knobs)  # type: ignore[arg-type]


def test_a_429_waits_as_long_as_its_retry_after_header_says(vendor: tuple[Script, str]) -> None:
    script, url = vendor
    script.then(429, Retry_After="7").then(429, Retry_After="2")
    waits: list[float] = []
    http = client(url, waits)
    assert http.request("GET", "/things", retry=True).status_code == 200
    assert waits == [7.0, 2.0] and http.requests_made == 3


def test_a_429_waits_as_long_as_veeams_retry_after_in_the_body_says(vendor: tuple[Script, str]) -> None:
    script, url = vendor
    script.then(429, '{"errors": [{"code": "429", "retryAfter": 3}]}')
    waits: list[float] = []
    assert client(url, waits).request("GET", "/things", retry=True).status_code == 200
    assert waits == [3.0]


def test_no_retry_after_waits_longer_than_the_clients_longest_wait(vendor: tuple[Script, str]) -> None:
    script, url = vendor
    script.then(429, Retry_After="86400")
    waits: list[float] = []
    client(url, waits, max_wait=60).request("GET", "/things", retry=True)
    assert waits == [60.0]


def test_a_5xx_burst_is_retried_with_growing_jittered_backoff(vendor: tuple[Script, str]) -> None:
    script, url = vendor
    for _ in range(4):
        script.then(503)
    waits: list[float] = []
    http = client(url, waits, backoff_base=0.5, backoff_cap=30)
    assert http.request("GET", "/things", retry=True).status_code == 200
    assert http.requests_made == 5 and len(waits) == 4
    assert all(0 <= wait <= 0.5 * 2**n for n, wait in enumerate(waits))


def test_a_vendor_that_keeps_failing_is_a_temporary_error_after_six_attempts(vendor: tuple[Script, str]) -> None:
    script, url = vendor
    for _ in range(10):
        script.then(502)
    waits: list[float] = []
    http = client(url, waits)
    with pytest.raises(ConnectorError) as failed:
        http.request("GET", "/things", retry=True)
    assert "answered HTTP 502 (a server error) and kept doing so after 6 tries" in failed.value.message
    assert not failed.value.permanent and failed.value.status == 502
    assert http.requests_made == 6 and len(waits) == 5


def test_a_write_answered_with_a_server_error_is_never_sent_again(vendor: tuple[Script, str]) -> None:
    script, url = vendor
    script.then(500)
    waits: list[float] = []
    http = client(url, waits)
    with pytest.raises(UncertainOutcome):
        http.request("POST", "/notes", data="{}", retry=False)
    assert script.seen == ["POST"] and waits == []


def test_a_write_answered_429_was_not_processed_and_is_sent_again(vendor: tuple[Script, str]) -> None:
    script, url = vendor
    script.then(429, Retry_After="1")
    waits: list[float] = []
    assert client(url, waits).request("POST", "/notes", data="{}", retry=False).status_code == 200
    assert script.seen == ["POST", "POST"] and waits == [1.0]


def test_a_read_that_times_out_is_retried_and_a_write_that_times_out_is_uncertain(vendor: tuple[Script, str]) -> None:
    script, url = vendor
    script.hang = 0.5
    waits: list[float] = []
    http = client(url, waits, read_timeout=0.1, max_attempts=2)
    with pytest.raises(ConnectorError, match="Connection timed out"):
        http.request("GET", "/things", retry=True)
    assert http.requests_made == 2 and len(waits) == 1
    with pytest.raises(UncertainOutcome, match="may or may not have been processed"):
        http.request("POST", "/notes", data="{}", retry=False)
    time.sleep(0.6)  # let the vendor finish what it was still answering


def test_each_failed_sync_doubles_the_wait_before_the_next_until_six_hours_and_a_success_resets_it(app: Flask) -> None:
    setup = add_connection(app, new_tenant(app), "veeam", {"base_url": "http://127.0.0.1:9/"})
    error = ConnectorError(
        "vendor.example answered HTTP 503 (a server error) and kept doing so after 6 tries.", permanent=False
    )
    seen: list[tuple[int, timedelta]] = []
    for outcome in [error] * 6 + [None]:
        with app.app_context(), db.tenant_session(setup.tenant_id) as s:
            connection = s.get(Connection, setup.connection_id)
            assert connection is not None
            run = SyncRun(tenant_id=setup.tenant_id, connection_id=connection.id, trigger="schedule", status="running")
            s.add(run)
            s.flush()
            before = datetime.now(UTC)
            _finish(s, connection, run, error=outcome)
            assert connection.next_run_at is not None
            seen.append((connection.failure_count, connection.next_run_at - before))
    interval = timedelta(minutes=15)
    assert [count for count, _ in seen] == [1, 2, 3, 4, 5, 6, 0]
    expected = [min(interval * 2**n, MAX_BACKOFF) for n in range(1, 7)] + [interval]
    assert all(abs(wait - want) < timedelta(seconds=5) for (_, wait), want in zip(seen, expected, strict=True))
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        statuses = list(s.scalars(select(SyncRun.status).order_by(SyncRun.id)))
    assert statuses == ["failed"] * 6 + ["succeeded"]


def test_a_retry_after_that_is_not_ascii_digits_is_no_retry_after(vendor: tuple[Script, str]) -> None:
    """A vendor's "²" passed ``str.isdigit`` and then broke ``float``: the sync failed with a stack trace."""
    script, url = vendor
    script.then(429, Retry_After="²")
    waits: list[float] = []
    assert client(url, waits).request("GET", "/things", retry=True).status_code == 200
    assert len(waits) == 1 and waits[0] < 60
