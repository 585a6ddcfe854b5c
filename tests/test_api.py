"""The REST API: a personal access token at its own workspace's address, scopes, problem details, keyset pages, the
OpenAPI document written from the same models, and an audit row for every call."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text, update

from tests.conftest import (
    HostClient,
    TenantFixture,
    a_customer,
    a_ticket,
    an_alert,
    client_for,
    csrf_token,
    login,
    pid,
)
from tests.query_world import MARK, World, world
from vectis.actions.resources import OPERATIONS
from vectis.identity import tokens
from vectis.models import Alert, ApiToken, AuditEntry, CustomerNote, SavedQuery
from vectis.platform import db, public_ids
from vectis.platform.queues import redis


def make_token(
    app: Flask, tenant: TenantFixture, *, scopes: tuple[str, ...] = ("read",), user_id: int | None = None
) -> str:
    """A token of ``user_id`` (the tenant's admin by default), made as Account → Tokens makes one."""
    raw = tokens.generate()
    with app.app_context(), db.tenant_session(tenant.id) as s:
        s.add(
            ApiToken(
                tenant_id=tenant.id, user_id=user_id or tenant.users[tenant.admin], label="test", prefix=tokens.shown(raw),
                token_hash=tokens.digest(raw), scopes=list(scopes), expires_at=datetime.now(UTC) + timedelta(days=1),
            )
        )  # fmt: skip
    return raw


def api(app: Flask, tenant: TenantFixture, raw: str | None, path: str) -> Any:
    client: HostClient = client_for(app, tenant)
    headers = {"Authorization": f"Bearer {raw}"} if raw else {}
    return client.get(f"/api/v1{path}", headers=headers)


@pytest.fixture
def worlds(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> World:
    world(app, northwind.id, secret=True)
    return world(app, acme.id)


def test_no_token_or_a_bad_one_is_a_401_in_words(app: Flask, acme: TenantFixture) -> None:
    for raw, words in (
        (None, "Send a personal access token"),
        ("vct_pat_nonsense", "not a Vectis token"),
        (tokens.generate(), "not known here"),
    ):
        answer = api(app, acme, raw, "/customers")
        assert answer.status_code == 401 and answer.mimetype == "application/problem+json"
        assert words in answer.get_json()["detail"] and answer.get_json()["status"] == 401


def test_a_token_of_another_workspace_is_refused_and_both_audit_logs_say_so(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    raw = make_token(app, acme)
    answer = api(app, northwind, raw, "/customers")
    assert answer.status_code == 401 and "belongs to another workspace" in answer.get_json()["detail"]
    with app.app_context():
        with db.tenant_session(northwind.id) as s:
            here = s.scalars(
                select(AuditEntry).where(AuditEntry.action == "api.refused").order_by(AuditEntry.seq.desc())
            ).first()
            assert (
                here is not None
                and here.payload["token"] == tokens.shown(raw)
                and here.payload["reason"] == "other_tenant"
            )
        with db.tenant_session(acme.id) as s:
            there = s.scalars(
                select(AuditEntry).where(AuditEntry.action == "token.used_elsewhere").order_by(AuditEntry.seq.desc())
            ).first()
            assert there is not None and there.payload["workspace"] == "northwind"


def test_customers_page_by_cursor_and_never_show_another_workspace(
    app: Flask, acme: TenantFixture, worlds: World
) -> None:
    raw = make_token(app, acme)
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        answer = api(app, acme, raw, f"/customers?q={MARK.strip()}&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        seen += [c["name"].removeprefix(MARK) for c in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["Aldridge & Co.", "Bayside Bistro", "Coast Logistics"]
    one = api(app, acme, raw, f"/customers?q={MARK.strip()}&limit=1").get_json()["data"][0]
    assert api(app, acme, raw, f"/customers/{one['id']}").get_json() == one


def test_an_object_of_another_workspace_is_not_found(
    app: Flask, acme: TenantFixture, northwind: TenantFixture, worlds: World
) -> None:
    theirs = api(app, northwind, make_token(app, northwind), f"/customers?q={MARK.strip()}").get_json()["data"][0]["id"]
    answer = api(app, acme, make_token(app, acme), f"/customers/{theirs}")
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert api(app, acme, make_token(app, acme), "/customers/cus_notanid").status_code == 404


def test_bad_parameters_are_a_422_naming_them(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme)
    answer = api(app, acme, raw, "/customers?limit=5000&colour=blue")
    assert answer.status_code == 422
    errors = answer.get_json()["errors"]
    assert any(e.startswith("limit:") for e in errors) and any(e.startswith("colour:") for e in errors)
    assert api(app, acme, raw, "/alerts?severity=apocalyptic").status_code == 422


@pytest.mark.parametrize(
    "path", ["/tickets?updated_since=0.5", "/audit?since=0", "/contracts?renews_before=0", "/tickets?updated_since=17"]
)
def test_a_number_is_not_taken_for_a_moment(app: Flask, acme: TenantFixture, path: str) -> None:
    """Found by schemathesis: pydantic read ``0.5`` as seconds since 1970, and the list answered everything since."""
    answer = api(app, acme, make_token(app, acme, scopes=("read", "admin")), path)
    assert answer.status_code == 422, answer.get_json()
    assert "written as ISO 8601" in answer.get_json()["detail"]
    assert api(app, acme, make_token(app, acme), "/tickets?updated_since=2026-12-01").status_code == 200


def test_a_nul_character_in_a_json_body_is_a_422_not_a_500(app: Flask, acme: TenantFixture) -> None:
    """Found by schemathesis: ``"D\\u0000b"`` is valid JSON, passed validation and broke the audit row's insert (PostgreSQL
    holds no NUL in text or JSONB): a 500."""
    raw = make_token(app, acme, scopes=("read", "write:tickets"))
    customer = pid(app, "customer", a_customer(app, acme.id))
    answer = client_for(app, acme).post(
        f"/api/v1/customers/{customer}/notes?dry_run=true",
        data='{"body": "D\\u0000b"}',
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "NUL" in answer.get_json()["detail"], answer.get_json()


@pytest.mark.parametrize("body", [{"body": "Call back", "occurred_at": 0}, {"body": 5}, {"body": "x", "colour": 1}])
def test_a_body_is_read_strictly_as_json(app: Flask, acme: TenantFixture, body: dict[str, Any]) -> None:
    """Found by schemathesis: ``0`` was taken for a moment in 1970, and ``0`` or ``1`` for false or true."""
    raw = make_token(app, acme, scopes=("read", "write:tickets"))
    customer = pid(app, "customer", a_customer(app, acme.id))
    answer = client_for(app, acme).post(
        f"/api/v1/customers/{customer}/notes?dry_run=true", json=body, headers={"Authorization": f"Bearer {raw}"}
    )
    assert answer.status_code == 422 and answer.get_json()["errors"][0].startswith("body."), answer.get_json()


def test_a_token_without_the_scope_gets_a_403(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme, scopes=("write:alerts",))
    answer = api(app, acme, raw, "/alerts")
    assert answer.status_code == 403 and "lacks the scope “read”" in answer.get_json()["detail"]


def test_a_revoked_token_stops_at_its_next_request(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme)
    assert api(app, acme, raw, "/alerts").status_code == 200
    with app.app_context(), db.tenant_session(acme.id) as s:
        s.execute(
            update(ApiToken).where(ApiToken.token_hash == tokens.digest(raw)).values(revoked_at=datetime.now(UTC))
        )
    assert api(app, acme, raw, "/alerts").status_code == 401


def test_every_call_is_audited_with_the_token_and_the_api_surface(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme)
    api(app, acme, raw, "/alerts?status=open")
    with app.app_context(), db.tenant_session(acme.id) as s:
        row = s.execute(
            select(AuditEntry.surface, AuditEntry.actor_label, AuditEntry.payload)
            .where(AuditEntry.action == "api.list_alerts")
            .order_by(AuditEntry.seq.desc())
        ).first()
    assert row is not None and (row.surface, row.actor_label) == ("api", acme.admin)
    assert row.payload["token"] == tokens.shown(raw)
    assert row.payload["query"] == {"status": "open"}


def test_every_operation_needs_a_known_scope_and_is_in_the_openapi_document(app: Flask, acme: TenantFixture) -> None:
    assert OPERATIONS and all(op.scope in tokens.SCOPES for op in OPERATIONS)
    doc = client_for(app, acme).get("/api/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    listed = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert listed == {op.name for op in OPERATIONS}
    alerts = doc["paths"]["/alerts"]["get"]
    assert {p["name"] for p in alerts["parameters"]} >= {"status", "severity", "cursor", "limit"}
    schema = alerts["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(doc["components"]["schemas"][schema]["properties"]) == {"data", "next_cursor"}
    docs = client_for(app, acme).get("/api/v1/docs").get_data(as_text=True)
    assert "Vectis API" in docs and f"{acme.host}/api/mcp" in docs
    reply = docs[docs.index('id="reply_to_ticket"') :].split('class="api-op"')[0]
    # What a client sends, in words: the path id's shape, the body's fields, the tool it is over MCP.
    for words in ("public id (tkt_…)", "<code>text</code> <span", "body", "MCP tool <code>reply_to_ticket</code>"):
        assert words in reply, words
    assert """-d '{"text": "…"}'""" in reply.replace("&#34;", '"').replace("&#39;", "'")


def test_a_saved_query_runs_from_the_api_for_those_it_is_shared_with(
    app: Flask, acme: TenantFixture, northwind: TenantFixture, worlds: World, make_user: Any
) -> None:
    reader = make_user(acme, "read_only")
    with app.app_context(), db.tenant_session(acme.id) as s:
        shared = s.scalar(select(SavedQuery).where(SavedQuery.name == "Renewals with failing backups"))
        assert shared is not None
        shared_id = public_ids.encode("saved_query", shared.id)
        admins_only = SavedQuery(
            tenant_id=acme.id, name="Admins' renewals", owner_label="admin", audience="admin", spec=shared.spec,
            spec_hash=shared.spec_hash,
        )  # fmt: skip
        s.add(admins_only)
        s.flush()
        admins_id = public_ids.encode("saved_query", admins_only.id)
    raw = make_token(app, acme, user_id=reader.id)
    listed = {q["name"] for q in api(app, acme, raw, "/saved-queries?limit=200").get_json()["data"]}
    assert "Renewals with failing backups" in listed and "Admins' renewals" not in listed
    client = client_for(app, acme)
    ran = client.post(
        f"/api/v1/saved-queries/{shared_id}/run", json={"limit": 1000}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert ran.status_code == 200, ran.get_json()
    body = ran.get_json()
    assert [c["label"] for c in body["columns"]] == [
        "Customer",
        "Last backup failure",
        "Renews in (days)",
        "Contract value",
    ]
    assert [row[2:] for row in body["rows"] if row[0] == MARK + "Aldridge & Co."] == [[12, "4200.00"]]
    hidden = client.post(f"/api/v1/saved-queries/{admins_id}/run", json={}, headers={"Authorization": f"Bearer {raw}"})
    assert hidden.status_code == 404
    bad = client.post(
        f"/api/v1/saved-queries/{shared_id}/run", json={"limit": 0}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0].startswith("body.limit")
    theirs = client_for(app, northwind).post(
        f"/api/v1/saved-queries/{shared_id}/run",
        json={},
        headers={"Authorization": f"Bearer {make_token(app, northwind)}"},
    )
    assert theirs.status_code == 404
    with app.app_context(), db.tenant_session(acme.id) as s:
        surface = s.scalar(
            select(AuditEntry.surface).where(AuditEntry.action == "query.run", AuditEntry.actor_id == str(reader.id))
        )
    assert surface == "api"


def test_every_operation_refuses_a_token_without_its_scope(app: Flask, acme: TenantFixture) -> None:
    """The API map walked: each operation, asked with a token holding every scope but its own, answers 403."""
    client = client_for(app, acme)
    for op in OPERATIONS:
        others = tuple(s for s in tokens.SCOPES if s != op.scope)
        raw = make_token(app, acme, scopes=others)
        with app.app_context():
            path = re.sub(r"\{([a-z_]+)_id\}", lambda m: public_ids.encode(m.group(1), 1), op.path)
        answer = client.open(
            f"/api/v1{path}", method=op.method, headers={"Authorization": f"Bearer {raw}"}, json={} if op.body else None
        )
        assert answer.status_code == 403, f"{op.method} {op.path}: {answer.status_code}"
        assert f"lacks the scope “{op.scope}”" in answer.get_json()["detail"]


def _verb_row(app: Flask, tenant_id: int, action: str, alert_id: int) -> Any:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        return s.execute(
            select(
                AuditEntry.actor_type, AuditEntry.actor_id, AuditEntry.actor_label, AuditEntry.action,
                AuditEntry.target_type, AuditEntry.target_id, AuditEntry.target_label, AuditEntry.payload,
                AuditEntry.result, AuditEntry.surface,
            ).where(AuditEntry.action == action, AuditEntry.target_id == str(alert_id)).order_by(AuditEntry.seq.desc())
        ).first()  # fmt: skip


def test_an_api_write_is_the_uis_verb_audited_the_same_but_for_its_surface(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme, scopes=("read", "write:alerts"))
    client = client_for(app, acme)
    bearer = {"Authorization": f"Bearer {raw}"}
    by_api, by_ui = an_alert(app, acme.id), an_alert(app, acme.id)

    preview = client.post(f"/api/v1/alerts/{pid(app, 'alert', by_api)}/acknowledge?dry_run=true", headers=bearer)
    assert preview.status_code == 200 and preview.get_json()["result"] == "dry_run"
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(Alert.state).where(Alert.id == by_api)) == "open"  # nothing was done

    done = client.post(f"/api/v1/alerts/{pid(app, 'alert', by_api)}/acknowledge", headers=bearer)
    assert done.status_code == 200 and done.get_json()["result"] == "ok", done.get_json()
    ui = login(app, acme)
    ui.post(f"/alerts/{pid(app, 'alert', by_ui)}/acknowledge", data={"csrf_token": csrf_token(ui, "/alerts")})
    api_row, ui_row = (
        _verb_row(app, acme.id, "alert.acknowledge", by_api),
        _verb_row(app, acme.id, "alert.acknowledge", by_ui),
    )
    assert api_row is not None and ui_row is not None
    assert (api_row.surface, ui_row.surface) == ("api", "ui")
    same = ("actor_type", "actor_id", "actor_label", "action", "target_type", "target_label", "payload", "result")
    assert {k: getattr(api_row, k) for k in same} == {k: getattr(ui_row, k) for k in same}

    read_only = make_token(app, acme)  # read only
    refused = client.post(
        f"/api/v1/alerts/{pid(app, 'alert', by_ui)}/resolve", headers={"Authorization": f"Bearer {read_only}"}
    )
    assert refused.status_code == 403


def test_a_retry_with_the_same_idempotency_key_does_nothing_twice(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme, scopes=("read", "write:alerts"))
    client = client_for(app, acme)
    alert = pid(app, "alert", an_alert(app, acme.id))
    headers = {"Authorization": f"Bearer {raw}", "Idempotency-Key": "retry-1"}
    first = client.post(f"/api/v1/alerts/{alert}/resolve", headers=headers)
    again = client.post(f"/api/v1/alerts/{alert}/resolve", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    with app.app_context(), db.tenant_session(acme.id) as s:
        rows = s.scalars(
            select(AuditEntry.id).where(
                AuditEntry.action == "alert.resolve", AuditEntry.target_id == str(public_ids.decode("alert", alert))
            )
        ).all()
    assert len(rows) == 1  # resolved once
    other = client.post(f"/api/v1/alerts/{pid(app, 'alert', an_alert(app, acme.id))}/resolve", headers=headers)
    assert other.status_code == 422 and "used for another request" in other.get_json()["detail"]


def test_a_retry_of_a_request_that_failed_inside_vectis_hears_that_failure_not_still_running(
    app: Flask, acme: TenantFixture
) -> None:
    """The request's database connection ends while it waits for the alert's row (held by another transaction): the
    first attempt fails before answering. A retry with its key is told so, for good, and nothing is done twice; a new
    key runs."""
    raw = make_token(app, acme, scopes=("read", "write:alerts"))
    alert_id = an_alert(app, acme.id)
    alert = pid(app, "alert", alert_id)
    headers = {"Authorization": f"Bearer {raw}", "Idempotency-Key": f"cut-{uuid.uuid4().hex[:8]}"}
    path = f"/api/v1/alerts/{alert}/resolve"
    owner = app.extensions["vectis.platform.db"].owner_engine
    pool = ThreadPoolExecutor(1)
    with owner.connect() as holder, owner.connect() as watcher:
        holder.execute(text("SELECT 1 FROM alerts WHERE id = :id FOR UPDATE"), {"id": alert_id})
        holder_pid = holder.scalar(text("SELECT pg_backend_pid()"))
        try:
            first = pool.submit(client_for(app, acme).post, path, headers=headers)
            waiting = None
            for _ in range(200):  # until the request waits for the row
                waiting = watcher.scalar(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> :holder"
                        " AND wait_event_type = 'Lock'"
                    ),
                    {"holder": holder_pid},
                )
                if waiting is not None:
                    break
                time.sleep(0.05)
            assert waiting is not None, "the request never waited for the alert's row"
            watcher.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": waiting})
            assert first.result(timeout=30).status_code == 500
        finally:
            holder.rollback()  # before the pool is waited for: its request may still wait for the row
            pool.shutdown(wait=True)
    again = client_for(app, acme).post(path, headers=headers)
    assert again.status_code == 500 and again.headers["Idempotent-Replayed"] == "true"
    assert "new Idempotency-Key" in again.get_json()["detail"]
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(Alert.state).where(Alert.id == alert_id)) == "open"  # nothing done on the retry
    fresh = client_for(app, acme).post(path, headers={**headers, "Idempotency-Key": f"new-{uuid.uuid4().hex[:8]}"})
    assert fresh.status_code == 200, fresh.get_json()


def calls_of(app: Flask, tenant_id: int, prefix: str) -> list[Any]:
    """The audit rows a token's calls left, oldest first."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        return list(
            s.execute(
                select(
                    AuditEntry.action, AuditEntry.result, AuditEntry.error, AuditEntry.surface,
                    AuditEntry.target_label, AuditEntry.payload,
                )
                .where(AuditEntry.payload["token"].astext == prefix)
                .order_by(AuditEntry.seq)
            ).all()
        )  # fmt: skip


def test_a_call_refused_after_its_token_was_accepted_is_audited_with_what_was_wrong(
    app: Flask, acme: TenantFixture
) -> None:
    """A scope the token lacks, an object that is not there, a value not valid: each call leaves its row, as an
    answered one does, so a token probing for what it cannot reach leaves its trace."""
    raw = make_token(app, acme)  # read only
    prefix = tokens.shown(raw)
    client = client_for(app, acme)
    headers = {"Authorization": f"Bearer {raw}"}
    alert = pid(app, "alert", an_alert(app, acme.id))
    assert client.post(f"/api/v1/alerts/{alert}/resolve", headers=headers).status_code == 403
    assert api(app, acme, raw, "/customers/cus_0000000000000").status_code == 404
    assert api(app, acme, raw, "/customers?limit=5000").status_code == 422
    rows = calls_of(app, acme.id, prefix)
    assert [(r.action, r.result, r.surface) for r in rows] == [
        ("api.resolve_alert", "blocked", "api"), ("api.get_customer", "failed", "api"),
        ("api.list_customers", "failed", "api"),
    ]  # fmt: skip
    assert "lacks the scope" in rows[0].error and "customer" in rows[1].error and "limit" in rows[2].error


def test_a_token_over_its_rate_gets_a_429_with_retry_after(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme)
    app.config["VECTIS_API_RATE"] = (1 / 60, 3)  # a burst of 3, then one a minute: the 4th call must wait
    try:
        answers = [api(app, acme, raw, "/saved-queries?limit=1") for _ in range(4)]
    finally:
        del app.config["VECTIS_API_RATE"]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 50 <= int(answers[3].headers["Retry-After"]) <= 60
    assert "over its 1 requests a minute" in answers[3].get_json()["detail"]


def test_the_rate_holds_when_redis_forgot_its_scripts(app: Flask, acme: TenantFixture) -> None:
    """The bucket's script runs by its digest; a Redis that restarted (or flushed its scripts) is sent it again."""
    raw = make_token(app, acme)
    app.config["VECTIS_API_RATE"] = (1 / 60, 2)
    try:
        first = api(app, acme, raw, "/saved-queries?limit=1")
        with app.app_context():
            redis().script_flush()
        answers = [first, *(api(app, acme, raw, "/saved-queries?limit=1") for _ in range(2))]
    finally:
        del app.config["VECTIS_API_RATE"]
    assert [a.status_code for a in answers] == [200, 200, 429]


def test_a_cursor_vectis_did_not_write_is_a_422_on_every_list(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme)
    for path in ("/customers", "/alerts", "/tickets", "/contracts", "/backups", "/rules", "/saved-queries"):
        answer = api(app, acme, raw, f"{path}?cursor=bm90LWEtY3Vyc29y")
        assert answer.status_code == 422, (path, answer.status_code)
        assert "not a cursor of this list" in answer.get_json()["detail"], path


def test_notes_and_ticket_replies_go_through_the_same_verbs(app: Flask, acme: TenantFixture) -> None:
    raw = make_token(app, acme, scopes=("read", "write:tickets"))
    client = client_for(app, acme)
    bearer = {"Authorization": f"Bearer {raw}"}
    customer = pid(app, "customer", a_customer(app, acme.id))
    body = {"body": f"Called their CIO {uuid.uuid4().hex[:6]}"}

    preview = client.post(f"/api/v1/customers/{customer}/notes?dry_run=true", json=body, headers=bearer)
    assert preview.status_code == 200 and preview.get_json()["result"] == "dry_run"
    done = client.post(f"/api/v1/customers/{customer}/notes", json=body, headers=bearer)
    assert done.status_code == 200 and done.get_json()["result"] == "ok", done.get_json()
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(func.count()).select_from(CustomerNote).where(CustomerNote.body == body["body"])) == 1

    empty = client.post(f"/api/v1/customers/{customer}/notes", json={"body": ""}, headers=bearer)
    assert empty.status_code == 422 and empty.get_json()["errors"][0].startswith("body.body")
    ticket = pid(app, "ticket", a_ticket(app, acme.id))
    reply = client.post(f"/api/v1/tickets/{ticket}/reply?dry_run=true", json={"text": "On it."}, headers=bearer)
    assert reply.status_code == 200 and reply.get_json()["result"] == "dry_run", reply.get_json()
    assert reply.get_json()["would_send"]["payload"] == {"text": "On it.", "internal": False}  # not sent


def test_a_read_commits_without_waiting_for_the_disk_and_a_write_waits(app: Flask, acme: TenantFixture) -> None:
    """A read's transaction holds only its audit row, committed without the disk flush; a write's (the verb's change
    and its audit row) and a refused token's row wait for it as every other write in Vectis does."""
    alert = an_alert(app, acme.id)
    raw = make_token(app, acme, scopes=("read", "write:alerts"))
    bearer = {"Authorization": f"Bearer {raw}"}
    seen: list[str] = []
    engine = app.extensions["vectis.platform.db"].app_engine

    def on_audit(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO audit_log"):
            with conn.connection.driver_connection.cursor() as own:  # the insert's own cursor holds its RETURNING
                own.execute("SELECT current_setting('synchronous_commit')")
                seen.append(own.fetchone()[0])

    client = client_for(app, acme)
    event.listen(engine, "after_cursor_execute", on_audit)
    try:
        assert client.get("/api/v1/alerts", headers=bearer).status_code == 200
        read = list(seen)
        seen.clear()
        assert client.post(f"/api/v1/alerts/{pid(app, 'alert', alert)}/acknowledge", headers=bearer).status_code == 200
        write = list(seen)
        seen.clear()
        assert client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {tokens.generate()}"}).status_code == 401
        refused = list(seen)
    finally:
        event.remove(engine, "after_cursor_execute", on_audit)
    assert read == ["off"]
    assert write and set(write) == {"on"}  # the verb's own row and the call's
    assert refused == ["on"]
