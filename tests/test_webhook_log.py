"""The webhook delivery log on the REST API (admin scope, newest first, paged, filtered, each workspace its own), and
"Send test delivery": a delivery Vectis signs and posts over real HTTP to a connection's own webhook address, which
the receiver records as a test and processes not at all."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, Response, jsonify
from sqlalchemy import func, select

from tests.conftest import (
    HostClient,
    TenantFixture,
    a_customer,
    acme_connection,
    client_for,
    csrf_token,
    login,
    pid,
    serving,
)
from tests.test_api import make_token
from tests.test_api_reads import ok, refused, walk
from tests.vendors.support import serve
from vectis.ingest import webhook_checks
from vectis.models import AuditEntry, Connection, WebhookDelivery
from vectis.platform import db, public_ids
from vectis.platform.crypto import Sealed
from vectis.platform.http import Unreached, post_once

SUCCESS = "the webhook address works."


@dataclass(frozen=True)
class Log:
    """Deliveries written as the receiver writes them, at known moments, to two connections of acme and one of
    northwind: their public ids, newest first."""

    start: datetime
    first: int  # acme's first connection
    second: int  # acme's second connection
    other: int  # northwind's connection
    acme: list[str]
    northwind: list[str]


def _connection(app: Flask, tenant: TenantFixture, tag: str) -> int:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        connection = Connection(
            tenant_id=tenant.id, vendor=f"test-webhooks-{tag}", name=f"Hooks {tag}", config=Sealed.seal(tenant.id, {})
        )
        s.add(connection)
        s.flush()
        return connection.id


def _delivery(app: Flask, tenant: TenantFixture, connection_id: int, at: datetime, **columns: Any) -> str:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        row = WebhookDelivery(tenant_id=tenant.id, connection_id=connection_id, received_at=at, **columns)
        s.add(row)
        s.flush()
        return public_ids.encode("webhook_delivery", row.id)


@pytest.fixture
def log(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> Log:
    tag = uuid.uuid4().hex[:8]
    start = datetime.now(UTC) - timedelta(hours=5)
    first, second = _connection(app, acme, f"a{tag}"), _connection(app, acme, f"b{tag}")
    other = _connection(app, northwind, f"n{tag}")
    verified = _delivery(
        app, acme, first, start + timedelta(hours=1), message_id=f"m-{tag}", verified=True, reason="Signature verified.",
        record="ticket 48222 updated", processed_at=start + timedelta(hours=1, seconds=2), outcome="Ticket #48222 stored.",
    )  # fmt: skip
    forged = _delivery(app, acme, first, start + timedelta(hours=2), reason="Its signature does not match.")
    test = _delivery(
        app, acme, first, start + timedelta(hours=3), message_id=f"test-{tag}", verified=True, test=True,
        reason=webhook_checks.REASON, record=webhook_checks.RECORD, processed_at=start + timedelta(hours=3),
        outcome=webhook_checks.OUTCOME,
    )  # fmt: skip
    waiting = _delivery(
        app, acme, second, start + timedelta(hours=4), reason="Waiting for the signing key.",
        pending_body=Sealed.seal(acme.id, {"body": "SECRET-PENDING-BODY"}),
    )  # fmt: skip
    theirs = _delivery(app, northwind, other, start + timedelta(hours=2), reason="Northwind's own.")
    return Log(start, first, second, other, [waiting, test, forged, verified], [theirs])


def _since(moment: datetime) -> str:
    return quote(moment.isoformat())


def test_the_log_lists_deliveries_newest_first_page_by_page(app: Flask, acme: TenantFixture, log: Log) -> None:
    admin = make_token(app, acme, scopes=("read", "admin"))
    walked = walk(app, acme, admin, f"/webhook-deliveries?since={_since(log.start)}", limit=1)
    ours = [d for d in walked if d["id"] in log.acme]
    assert [d["id"] for d in ours] == log.acme  # newest first, each once, a page at a time
    received = [d["received_at"] for d in walked]
    assert received == sorted(received, reverse=True)
    waiting, test, forged, verified = ours
    assert verified == {
        "id": log.acme[3], "connection_id": pid(app, "connection", log.first), "connection": verified["connection"],
        "vendor": verified["vendor"], "received_at": verified["received_at"], "message_id": verified["message_id"],
        "verified": True, "reason": "Signature verified.", "record": "ticket 48222 updated",
        "processed_at": verified["processed_at"], "outcome": "Ticket #48222 stored.", "test": False,
    }  # fmt: skip
    assert verified["connection"].startswith("Hooks a") and verified["vendor"].startswith("test-webhooks-a")
    assert test["test"] and test["verified"] and test["reason"] == webhook_checks.REASON
    assert not forged["verified"] and forged["processed_at"] is None and forged["message_id"] is None
    assert waiting["connection_id"] == pid(app, "connection", log.second) and waiting["outcome"] is None
    assert "SECRET-PENDING-BODY" not in json.dumps(walked) and "pending_body" not in waiting


def test_the_log_filters_by_connection_signature_test_and_moment(app: Flask, acme: TenantFixture, log: Log) -> None:
    admin = make_token(app, acme, scopes=("admin",))

    def ids(query: str, since: datetime = log.start) -> list[str]:
        found = ok(app, acme, admin, f"/webhook-deliveries?since={_since(since)}&limit=200&{query}")["data"]
        return [d["id"] for d in found if d["id"] in log.acme]

    waiting, test, forged, verified = log.acme
    assert ids(f"connection_id={pid(app, 'connection', log.first)}") == [test, forged, verified]
    assert ids(f"connection_id={pid(app, 'connection', log.second)}") == [waiting]
    assert ids("verified=false") == [waiting, forged] and ids("verified=true") == [test, verified]
    assert ids("test=true") == [test] and ids("test=false") == [waiting, forged, verified]
    assert ids("", since=log.start + timedelta(hours=2, minutes=30)) == [waiting, test]
    assert ids(f"connection_id={pid(app, 'connection', log.first)}&verified=true&test=false") == [verified]
    for bad in ("verified=maybe", "since=yesterday", "connection_id=cus_0000000000000", "limit=0", "cursor=abc"):
        refused(app, acme, admin, f"/webhook-deliveries?{bad}")


def test_the_log_needs_the_admin_scope(app: Flask, acme: TenantFixture, log: Log) -> None:
    reader = make_token(app, acme, scopes=("read", "write:tickets", "write:alerts"))
    assert "lacks the scope “admin”" in refused(app, acme, reader, "/webhook-deliveries", 403)["detail"]
    refused(app, acme, reader, "/webhook-deliveries?verified=maybe", 403)  # the scope is checked first


def test_each_workspace_reads_only_its_own_deliveries(
    app: Flask, acme: TenantFixture, northwind: TenantFixture, log: Log
) -> None:
    acme_admin = make_token(app, acme, scopes=("admin",))
    northwind_admin = make_token(app, northwind, scopes=("admin",))
    everything = walk(app, acme, acme_admin, f"/webhook-deliveries?since={_since(log.start)}", limit=200)
    assert log.northwind[0] not in {d["id"] for d in everything}
    assert pid(app, "connection", log.other) not in {d["connection_id"] for d in everything}
    theirs = f"/webhook-deliveries?connection_id={pid(app, 'connection', log.other)}"
    assert ok(app, acme, acme_admin, theirs)["data"] == []  # another workspace's connection: nothing came to it here
    own = walk(app, northwind, northwind_admin, f"/webhook-deliveries?since={_since(log.start)}", limit=200)
    assert log.northwind[0] in {d["id"] for d in own} and not {d["id"] for d in own} & set(log.acme)


# --- the receiver and a test delivery --------------------------------------------------------------------------


def _webhook_path(app: Flask, connection_id: int) -> str:
    with app.app_context():
        return f"/webhooks/{public_ids.encode('connection', connection_id)}/{public_ids.webhook_token(connection_id)}"


def _deliveries(app: Flask, tenant: TenantFixture, connection_id: int) -> list[WebhookDelivery]:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        rows = list(
            s.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.connection_id == connection_id)
                .order_by(WebhookDelivery.id)
            )
        )
        s.expunge_all()
        return rows


def _signed(app: Flask, connection_id: int, *, now: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    with app.app_context():
        return webhook_checks.signed(connection_id, now=now)


def test_a_signed_test_delivery_is_recorded_once_before_any_connector_is_asked(app: Flask, acme: TenantFixture) -> None:
    a_customer(app, acme.id)  # its ConnectWise connection has no settings: asking its connector would fail
    with app.app_context(), db.tenant_session(acme.id) as s:
        connection = s.scalar(select(Connection.id).where(Connection.vendor == "connectwise"))
        assert connection is not None
    before = len(_deliveries(app, acme, connection))
    body, headers = _signed(app, connection)
    client = client_for(app, acme)
    answer = client.post(_webhook_path(app, connection), data=body, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["message"] == "Test delivery received: this address reaches Vectis."
    again = client.post(_webhook_path(app, connection), data=body, headers=headers)
    assert again.status_code == 200 and again.get_json() == {"message": "Already received; not processed again."}
    rows = _deliveries(app, acme, connection)[before:]
    assert len(rows) == 1
    row = rows[0]
    assert (row.verified, row.test, row.reason, row.record) == (True, True, webhook_checks.REASON, "test delivery")
    assert row.processed_at is not None and row.outcome == webhook_checks.OUTCOME and row.pending_body is None
    assert answer.get_json()["delivery_id"] == pid(app, "webhook_delivery", row.id)


def test_a_forged_or_stale_test_signature_is_refused_and_logged(app: Flask, acme: TenantFixture) -> None:
    connection = acme_connection(app, acme.id)
    before = len(_deliveries(app, acme, connection))
    client = client_for(app, acme)
    path = _webhook_path(app, connection)
    body, headers = _signed(app, connection)
    forged = {**headers, webhook_checks.HEADER: headers[webhook_checks.HEADER][:-4] + "0000"}
    stale_body, stale = _signed(app, connection, now=datetime.now(UTC) - timedelta(minutes=6))
    other_body, other = _signed(app, connection + 1)  # signed with another connection's key
    answers = [
        client.post(path, data=body, headers=forged),
        client.post(path, data=body + b" ", headers=headers),  # the body changed after signing
        client.post(path, data=stale_body, headers=stale),
        client.post(path, data=other_body, headers=other),
        client.post(path, data=body, headers={webhook_checks.HEADER: "nonsense"}),
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert all("delivery_id" not in a.get_json() for a in answers)
    rows = _deliveries(app, acme, connection)[before:]
    assert [(r.verified, r.test, r.processed_at) for r in rows] == [(False, False, None)] * 5
    reasons = [r.reason for r in rows]
    assert (
        reasons[0]
        == reasons[1]
        == reasons[3]
        == ("A test delivery whose signature does not match this connection's: it is not from this Vectis.")
    )
    assert reasons[2].startswith("A test delivery signed more than 5 minutes from now")
    assert reasons[4].startswith("A test delivery whose signature cannot be read")
    assert [a.get_json()["message"] for a in answers] == reasons


# --- Send test delivery, over real HTTP -------------------------------------------------------------------------


def _at(client: HostClient, host: str) -> HostClient:
    """The signed-in browser, now at ``host`` (the workspace's name with a port): the address Vectis builds its own
    webhook URL from, as behind any reverse proxy."""
    client.host = host
    return client


def _send(client: HostClient, vendor: str = "veeam") -> str:
    token = csrf_token(client, f"/admin/integrations/{vendor}")
    answer = client.post(
        f"/admin/integrations/{vendor}/webhooks/test", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="card flush" id="webhooks"')  # the section alone, swapped
    return " ".join(html.split())


def _audit(app: Flask, tenant: TenantFixture) -> AuditEntry:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        entry = s.scalar(
            select(AuditEntry).where(AuditEntry.action == "webhook.test").order_by(AuditEntry.seq.desc()).limit(1)
        )
        assert entry is not None
        s.expunge(entry)
        return entry


@pytest.fixture
def acme_admin(app: Flask, acme: TenantFixture) -> HostClient:
    return login(app, acme)


def test_send_test_delivery_goes_round_the_real_address_and_shows_in_the_log(
    app: Flask, acme: TenantFixture, northwind: TenantFixture, acme_admin: HostClient
) -> None:
    connection = acme_connection(app, acme.id)
    before = len(_deliveries(app, acme, connection))
    with serving(app) as port:
        html = _send(_at(acme_admin, f"acme.localhost:{port}"))
    assert "Test delivery received in " in html and f" ms: {SUCCESS}" in html
    assert 'data-testid="test-delivery-result"' in html and "flash-ok" in html
    rows = _deliveries(app, acme, connection)[before:]
    assert len(rows) == 1 and rows[0].test and rows[0].verified and (rows[0].message_id or "").startswith("test-")
    assert ">test</span>" in html and webhook_checks.OUTCOME in html  # the section's list has it

    admin = make_token(app, acme, scopes=("admin",))
    listed = ok(app, acme, admin, f"/webhook-deliveries?connection_id={pid(app, 'connection', connection)}&limit=1")
    newest = listed["data"][0]
    assert newest["id"] == pid(app, "webhook_delivery", rows[0].id)
    assert (newest["test"], newest["verified"], newest["reason"]) == (True, True, webhook_checks.REASON)
    theirs = ok(app, northwind, make_token(app, northwind, scopes=("admin",)), "/webhook-deliveries?test=true")
    assert newest["id"] not in {d["id"] for d in theirs["data"]}

    entry = _audit(app, acme)  # the send is an action like any other, audited through perform
    assert (entry.result, entry.surface, entry.target_id) == ("ok", "ui", "veeam")
    assert entry.payload["request"] == {"url": "[redacted]"}  # the URL ends in the connection's token
    assert entry.payload["response"]["delivery_id"] == rows[0].id and entry.payload["response"]["status"] == 200


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_address_is_told_in_words_and_nothing_is_recorded(
    app: Flask, acme: TenantFixture, acme_admin: HostClient
) -> None:
    connection = acme_connection(app, acme.id)
    before = len(_deliveries(app, acme, connection))
    port = _closed_port()
    html = _send(_at(acme_admin, f"acme.localhost:{port}"))
    address = f"http://acme.localhost:{port}/webhooks/{pid(app, 'connection', connection)}/…"
    said = (
        f"Vectis could not reach its own webhook address {address}: connection refused (nothing listens at that "
        "address and port). Check that this address is reachable from the Vectis server and that the reverse proxy "
        "in front of Vectis forwards /webhooks/ to it."
    )
    assert f'data-testid="test-delivery-result">{said}</div>' in html and "flash-error" in html
    assert len(_deliveries(app, acme, connection)) == before
    entry = _audit(app, acme)
    assert (entry.result, entry.error) == ("failed", said)
    with app.app_context():  # the page shows the address whole, for the vendor; the audit log never holds its token
        assert public_ids.webhook_token(connection) not in json.dumps(entry.payload)


@pytest.fixture
def stranger() -> Iterator[int]:
    """Some other web server that answers 200 to anything: what a wrong proxy rule may lead to."""
    answering = Flask("stranger")

    @answering.post("/<path:anything>")
    def anything(anything: str) -> Response:
        return jsonify({"message": "ok", "delivery_id": "whd_0000000000000"})

    url, stop = serve(answering)
    try:
        yield int(url.rsplit(":", 1)[1])
    finally:
        stop()


def test_a_200_from_something_else_at_the_address_is_no_proof(
    app: Flask, acme: TenantFixture, acme_admin: HostClient, stranger: int
) -> None:
    html = _send(_at(acme_admin, f"acme.localhost:{stranger}"))
    assert "answered HTTP 200, but this Vectis recorded no test delivery: the address leads to another server." in html
    assert SUCCESS not in html and _audit(app, acme).result == "failed"


def test_without_htmx_the_outcome_is_flashed_on_the_page(
    app: Flask, acme: TenantFixture, acme_admin: HostClient
) -> None:
    with serving(app) as port:
        client = _at(acme_admin, f"acme.localhost:{port}")
        answer = client.post(
            "/admin/integrations/veeam/webhooks/test",
            data={"csrf_token": csrf_token(client, "/admin/integrations/veeam")},
        )
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/integrations/veeam")
        page = " ".join(client.get("/admin/integrations/veeam").get_data(as_text=True).split())
    assert SUCCESS in page


def test_only_an_admin_sends_a_test_delivery(app: Flask, acme: TenantFixture) -> None:
    technician = login(app, acme, "tech@acme.test")
    with app.app_context(), db.tenant_session(acme.id) as s:
        before = s.scalar(select(func.count()).select_from(WebhookDelivery))
    token = csrf_token(technician, "/customers")
    answer = technician.post(
        "/admin/integrations/veeam/webhooks/test", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 403
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == before


@pytest.fixture
def slow() -> Iterator[str]:
    """A server that takes a second to answer."""
    answering = Flask("slow")

    @answering.post("/hook")
    def hook() -> str:
        time.sleep(1)
        return "late"

    url, stop = serve(answering)
    try:
        yield url
    finally:
        stop()


def _no_such_host(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_the_seam_says_in_words_why_no_answer_came(slow: str) -> None:
    def why(url: str, **options: Any) -> str:
        options = {"timeout": 0.3, "allow_loopback": True, **options}
        with pytest.raises(Unreached) as refused:
            post_once(url, b"{}", {}, **options)
        return refused.value.reason

    assert why(f"http://127.0.0.1:{_closed_port()}/hook") == (
        "connection refused (nothing listens at that address and port)"
    )
    assert why(f"{slow}/hook") == "the connection was made but no answer came within 0.3 s"
    assert why(f"{slow}/hook", allow_loopback=False).endswith(
        "resolves to this server itself (127.0.0.1); Vectis does not connect there"
    )
    assert why("http://hooks.example.test/hook", resolve=_no_such_host) == "its host name could not be found (DNS)"
    assert (
        why("http://169.254.169.254/latest")
        == "169.254.169.254 resolves to 169.254.169.254, an address Vectis never connects to"
    )
    assert post_once(f"{slow}/hook", b"{}", {}, timeout=3, allow_loopback=True).text == "late"


@pytest.mark.parametrize("signature", ["t=²,v1=abc", "t=٣٣,v1=abc", "t=,v1=abc"])
def test_a_test_delivery_whose_time_is_not_ascii_digits_is_refused_in_words(app: Flask, signature: str) -> None:
    """A forged header's "²" passed ``str.isdigit`` and then broke ``int``: the receiver answered a 500."""
    with app.app_context():
        said = webhook_checks.refusal(1, b"{}", signature)
    assert said is not None and "cannot be read" in said
