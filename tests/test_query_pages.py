"""The Queries pages over HTTP: the builder's form round trip, its state in the URL, saving and sharing by role,
and the audit row of every run."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select

from tests.conftest import HostClient, TenantFixture, csrf_token, login, pid
from tests.query_world import MARK, World, world
from tests.test_query import TOUR
from vectis.audit.actors import Actor
from vectis.models import AuditEntry, QueryExport, SavedQuery
from vectis.platform import db
from vectis.platform.queues import queue, redis
from vectis.query import examples, exports, form
from vectis.query.spec import parse


@pytest.fixture
def acme_world(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> Iterator[World]:
    world(app, northwind.id, secret=True)
    yield world(app, acme.id)


def _token(html: str) -> str:
    found = re.search(r'name="q" value="([^"]+)" data-testid="query-token"', html)
    assert found, "no builder state on the page"
    return found.group(1)


def test_the_tours_question_renders_with_its_trail_from_a_bookmarked_link(
    app: Flask, acme: TenantFixture, acme_world: World
) -> None:
    client = login(app, acme)
    page = client.get(f"/queries/new?q={form.encode(TOUR)}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert MARK + "Aldridge &amp; Co." in html and "4,200.00" in html
    assert 'data-testid="query-trail"' in html and "not multiplied" in html
    assert form.decode(_token(html)) == TOUR


def _build(client: HostClient, draft: dict[str, Any], op: str, **extra: str) -> tuple[str, dict[str, Any]]:
    """One builder button through htmx: the form posted as the page would, the new draft read from the answer."""
    fields = {"csrf_token": csrf_token(client, "/queries/new"), "op": op, **_as_form(draft), **extra}
    response = client.post("/queries/build", data=fields, headers={"HX-Request": "true"})
    assert response.status_code in (200, 422), response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    pushed = response.headers["HX-Push-Url"]
    assert pushed.startswith("/queries/new?q=")
    draft_after = form.decode(pushed.split("q=", 1)[1])
    assert draft_after is not None and form.decode(_token(html)) == draft_after
    return html, draft_after


def _as_form(draft: dict[str, Any]) -> dict[str, Any]:
    """The inputs the builder renders for ``draft`` (what a browser would post back)."""
    fields: dict[str, Any] = {"base": draft["base"]}
    for n, j in enumerate(draft.get("joins", [])):
        fields |= {f"j.{n}.from": j["from"], f"j.{n}.to": j["to"], f"j.{n}.mode": j.get("mode", "all")}
    for n, c in enumerate(draft.get("columns", [])):
        fields |= {f"col.{n}.field": c["field"], f"col.{n}.agg": c.get("agg", ""), f"col.{n}.label": c.get("label", "")}

    def node(n: dict[str, Any], path: str) -> None:
        fields[f"c.{path}.type"] = n["type"]
        if n["type"] == "group":
            fields[f"c.{path}.match"] = n.get("match", "all")
            for i, child in enumerate(n.get("items", [])):
                node(child, f"{path}.{i}")
        else:
            fields[f"c.{path}.field"], fields[f"c.{path}.op"] = n["field"], n["op"]
            value = n.get("value")
            if isinstance(value, list) and n["op"] == "between":
                fields[f"c.{path}.value"], fields[f"c.{path}.value2"] = value
            elif value is not None:
                fields[f"c.{path}.value"] = value

    node(draft.get("where") or {"type": "group", "items": []}, "r")
    if draft.get("sort"):
        fields |= {"sort.column": str(draft["sort"][0]["column"]), "sort.dir": draft["sort"][0]["dir"]}
    if draft.get("limit"):
        fields["limit"] = str(draft["limit"])
    return fields


def test_building_the_tours_question_click_by_click(app: Flask, acme: TenantFixture, acme_world: World) -> None:
    client = login(app, acme)
    draft: dict[str, Any] = {
        "base": "customers",
        "columns": [{"field": "customers.name"}],
        "where": {"type": "group", "match": "all", "items": []},
    }
    _, draft = _build(client, draft, "join", new_join="customers.backup_jobs")
    assert draft["joins"] == [{"from": "customers", "to": "backup_jobs", "mode": "all"}]
    _, draft = _build(client, draft, "join", new_join="backup_jobs.backup_runs")
    _, draft = _build(client, draft, "join", new_join="customers.contracts")
    _, draft = _build(client, draft, "join", new_join="customers.users")  # not an edge: nothing happens
    assert [j["to"] for j in draft["joins"]] == ["backup_jobs", "backup_runs", "contracts"]
    _, draft = _build(client, draft, "toggle:contracts.days_to_renewal")
    _, draft = _build(client, draft, "add-leaf:r")
    assert draft["where"]["items"][0]["field"] == "customers.name"
    html, draft = _build(client, draft, "remove:r.0")
    assert draft["where"]["items"] == []
    _, draft = _build(client, draft, "unjoin:backup_jobs")  # takes its runs with it
    assert [j["to"] for j in draft["joins"]] == ["contracts"]
    assert all(not c["field"].startswith(("backup_jobs.", "backup_runs.")) for c in draft["columns"])
    assert 'data-testid="query-results"' in html


def test_a_condition_waiting_for_its_value_says_so_instead_of_running(
    app: Flask, acme: TenantFixture, acme_world: World
) -> None:
    client = login(app, acme)
    draft = {
        "base": "customers",
        "columns": [{"field": "customers.name"}],
        "where": {"type": "group", "match": "all", "items": []},
    }
    html, draft = _build(client, draft, "add-leaf:r")
    assert "Not ready to run yet" in html and "Condition 1 (Customer is): give a value." in html


def test_a_link_that_cannot_be_read_starts_a_new_query_and_says_why(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    for token in ("not-a-query", "eJzLSM3JyVcozy_KSQEAGgQEXQ", "A" * 20000):
        page = client.get(f"/queries/new?q={token}")
        assert page.status_code == 200
        assert "could not be read" in page.get_data(as_text=True)


def _audit(app: Flask, tenant_id: int, action: str) -> list[Any]:
    """(payload, actor_label, result) of the tenant's audit rows of ``action``, oldest first."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        query = select(AuditEntry.payload, AuditEntry.actor_label, AuditEntry.result).where(AuditEntry.action == action)
        return list(s.execute(query.order_by(AuditEntry.seq)).all())


def test_every_run_writes_an_audit_row_with_the_spec_hash_rows_and_duration(
    app: Flask, acme: TenantFixture, acme_world: World
) -> None:
    client = login(app, acme)
    before = len(_audit(app, acme.id, "query.run"))
    client.get(f"/queries/new?q={form.encode(TOUR)}")
    rows = _audit(app, acme.id, "query.run")
    assert len(rows) == before + 1
    last = rows[-1]
    assert last.payload["spec_hash"] == parse(TOUR).hash and last.payload["rows"] == 1
    assert isinstance(last.payload["milliseconds"], int) and last.actor_label == acme.admin and last.result == "ok"


def _save(client: HostClient, draft: dict[str, Any], name: str, audience: str = "everyone") -> str:
    response = client.post(
        "/queries",
        data={
            "csrf_token": csrf_token(client, "/queries/new"),
            "q": form.encode(draft),
            "name": name,
            "audience": audience,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def test_saved_queries_are_shared_by_role_and_edited_by_their_owner_or_an_admin(
    app: Flask, acme: TenantFixture, northwind: TenantFixture, acme_world: World, make_user: Any
) -> None:
    owner, other, reader = make_user(acme, "technician"), make_user(acme, "technician"), make_user(acme, "read_only")
    owner_client = login(app, acme, owner.email)
    shared = _save(owner_client, TOUR, "Renewals at risk")
    admins_only = _save(owner_client, TOUR, "Admins: renewals", audience="admin")
    assert re.fullmatch(r"/queries/qry_[0-9a-z]{13}", shared)

    other_client, reader_client, admin_client = (
        login(app, acme, other.email),
        login(app, acme, reader.email),
        login(app, acme),
    )
    assert "Renewals at risk" in reader_client.get("/queries?search=renewals").get_data(as_text=True)
    assert "Admins: renewals" not in reader_client.get("/queries").get_data(as_text=True)
    assert reader_client.get(shared).status_code == 200  # everyone runs it
    assert reader_client.get(admins_only).status_code == 404
    assert admin_client.get(admins_only).status_code == 200

    # Another technician may run it but not change it; an admin may.
    edit = {"csrf_token": csrf_token(other_client, "/queries/new"), "q": form.encode(TOUR), "name": "Mine now"}
    other_client.post(shared, data=edit)
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(SavedQuery.name).where(SavedQuery.name == "Mine now")) is None
    admin_client.post(
        shared, data={**edit, "csrf_token": csrf_token(admin_client, "/queries/new"), "name": "Renewals (admin)"}
    )
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(SavedQuery.name).where(SavedQuery.name == "Renewals (admin)")) == "Renewals (admin)"
    assert reader_client.post(
        "/queries", data={"csrf_token": csrf_token(reader_client, "/queries/new"), "q": form.encode(TOUR), "name": "x"}
    ).status_code in (302, 403)
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(SavedQuery.id).where(SavedQuery.name == "x")) is None
    # One saved query of a name: the list and the API find it by its name.
    again = owner_client.post(
        "/queries",
        data={
            "csrf_token": csrf_token(owner_client, "/queries/new"),
            "q": form.encode(TOUR),
            "name": "admins: RENEWALS",
        },
    )
    assert again.status_code == 302 and "exists already" in owner_client.get(again.headers["Location"]).get_data(
        as_text=True
    )
    # Another tenant's id finds nothing.
    assert login(app, northwind).get(shared).status_code == 404
    # The search's words are text, not patterns.
    assert "Renewals" not in reader_client.get("/queries?search=%25%25").get_data(as_text=True)


def test_export_from_the_builder_downloads_a_small_result_at_once(
    app: Flask, acme: TenantFixture, acme_world: World
) -> None:
    client = login(app, acme)
    token = form.encode(TOUR)
    for fmt, kind in (("xlsx", "spreadsheetml"), ("csv", "text/csv")):
        response = client.post(
            "/queries/export", data={"csrf_token": csrf_token(client, "/queries/new"), "q": token, "format": fmt}
        )
        assert response.status_code == 200 and kind in response.content_type
        assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    book = openpyxl.load_workbook(io.BytesIO(client.post(
        "/queries/export", data={"csrf_token": csrf_token(client, "/queries/new"), "q": token, "format": "xlsx"}
    ).data), read_only=True)  # fmt: skip
    rows = list(book["Results"].iter_rows(values_only=True))
    assert rows[0] == ("Customer", "Last backup failure (UTC)", "Renews in (days)", "Contract value")
    assert rows[1][0] == MARK + "Aldridge & Co." and rows[1][2:] == (12, 4200) and len(rows) == 2
    assert [p["format"] for p, _, _ in _audit(app, acme.id, "query.export")[-3:]] == ["xlsx", "csv", "xlsx"]


def test_an_export_that_cannot_run_goes_back_to_the_builder_and_says_why(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    broken = {"base": "customers", "columns": []}
    response = client.post(
        "/queries/export",
        data={"csrf_token": csrf_token(client, "/queries/new"), "q": form.encode(broken), "format": "xlsx"},
    )
    assert response.status_code == 302 and "/queries/new?q=" in response.headers["Location"]
    assert "Choose at least one column to show." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_large_export_shows_progress_then_a_download_for_its_owner_only(
    app: Flask, acme: TenantFixture, northwind: TenantFixture, acme_world: World, make_user: Any
) -> None:
    owner = make_user(acme, "technician")
    client = login(app, acme, owner.email)
    with app.app_context(), db.tenant_session(acme.id) as s:
        actor = Actor("user", str(owner.id), owner.email, "technician")
        queued = exports.start(s, tenant_id=acme.id, actor=actor, spec=parse(TOUR), fmt="csv", inline_rows=0)
        assert isinstance(queued, QueryExport)
        export_id = queued.id
    path = f"/queries/exports/{pid(app, 'export', export_id)}"
    waiting = client.get(path).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in waiting and "of 1 rows" in waiting
    with app.app_context():
        SimpleWorker([queue("exports")], connection=redis()).work(burst=True)
    done = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "every 1s" not in done and 'data-testid="export-download"' in done
    file = client.get(path + "/download")
    assert file.status_code == 200 and MARK + "Aldridge & Co." in file.get_data(as_text=True)
    assert login(app, acme).get(path + "/download").status_code == 404  # not even an admin: it is the owner's
    assert login(app, northwind).get(path).status_code == 404


def test_no_join_is_offered_from_a_table_taken_as_only_without(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    html = client.get(f"/queries/new?q={form.encode(examples.FAILING_BACKUP_NO_OPEN_TICKET)}").get_data(as_text=True)
    offered = re.findall(
        r'<option value="([a-z_]+\.[a-z_]+)">',
        html.split('data-testid="query-new-join"', 1)[1].split("</select>", 1)[0],
    )
    assert offered and not any(edge.startswith("tickets.") for edge in offered)
    assert "customers.contracts" in offered
