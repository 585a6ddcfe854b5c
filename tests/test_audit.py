"""The audit log: append-only at the database, a per-tenant hash chain that finds tampering, and the
Admin -> Audit log page with its URL filters, keyset paging and CSV export."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import TenantFixture, client_for, csrf_token, login
from vectis.actions import Actor, Target
from vectis.audit import reader, seal
from vectis.audit.chain import anchor_newest, installation, verify_chain
from vectis.audit.seal import Anchor
from vectis.audit.writer import record
from vectis.models import AuditEntry, Tenant
from vectis.platform import db


@pytest.fixture
def scratch_tenant(app: Flask) -> Iterator[int]:
    """A third tenant whose chain these tests may break without touching acme's or northwind's."""
    with app.app_context(), db.system_session() as s:
        tenant = Tenant(slug=f"t{uuid.uuid4().hex[:8]}", name="Scratch MSP")
        s.add(tenant)
        s.flush()
        tenant_id = tenant.id
    with app.app_context(), db.tenant_session(tenant_id) as s:
        for n in range(5):
            record(
                s,
                tenant_id=tenant_id,
                actor=Actor.system(),
                surface="system",
                action="test.event",
                target=Target("thing", str(n), f"thing {n}"),
                result="ok",
                payload={"n": n},
            )
    yield tenant_id


def verify(app: Flask, tenant_id: int) -> tuple[int, str | None]:
    with app.app_context(), db.system_session() as s:
        verdict = verify_chain(s, tenant_id, app.config["VECTIS_SETTINGS"])
    problem = verdict.problem
    return verdict.checked, None if problem is None else f"{problem.seq}: {problem.reason}"


def as_owner(app: Flask, *statements: str, **params: object) -> None:
    """What whoever owns the database can do: switch the append-only triggers off, change rows, switch back."""
    with app.app_context(), db.system_session() as s:
        for table in ("audit_log", "audit_seal"):
            s.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for statement in statements:
            s.execute(text(statement), params)
        for table in ("audit_log", "audit_seal"):
            s.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


# The chain trigger's own hash, recomputed by the owner for every row from :seq on, in order.
REHASH_FROM = """
DO $$
DECLARE r record; prev bytea;
BEGIN
  FOR r IN SELECT * FROM audit_log WHERE tenant_id = {tenant} AND seq >= {seq} ORDER BY seq LOOP
    SELECT row_hash INTO prev FROM audit_log WHERE tenant_id = {tenant} AND seq = r.seq - 1;
    UPDATE audit_log a SET prev_hash = coalesce(prev, '\\x'::bytea),
           row_hash = sha256(coalesce(prev, '\\x'::bytea) || convert_to(audit_log_canonical(a), 'UTF8'))
     WHERE a.id = r.id;
  END LOOP;
END $$
"""


def test_it_refuses_update_delete_and_truncate_to_the_app(app: Flask, acme: TenantFixture) -> None:
    for statement in ("UPDATE audit_log SET result = 'ok'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with app.app_context(), pytest.raises(DBAPIError, match=r"permission denied|append-only"):  # noqa: SIM117
            with db.tenant_session(acme.id) as s:
                s.execute(text(statement))


def test_it_refuses_update_and_delete_even_to_the_owner(app: Flask, scratch_tenant: int) -> None:
    for statement in ("UPDATE audit_log SET result = 'ok'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with app.app_context(), pytest.raises(DBAPIError, match="append-only"):  # noqa: SIM117
            with db.system_session() as s:
                s.execute(text(statement))


def test_it_chains_each_tenants_entries(app: Flask, scratch_tenant: int) -> None:
    assert verify(app, scratch_tenant) == (5, None)
    with app.app_context(), db.tenant_session(scratch_tenant) as s:
        seqs = list(s.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert seqs == [1, 2, 3, 4, 5]


def test_it_finds_a_row_changed_by_the_owner(app: Flask, scratch_tenant: int) -> None:
    as_owner(app, "UPDATE audit_log SET result = 'failed' WHERE tenant_id = :t AND seq = 3", t=scratch_tenant)
    assert verify(app, scratch_tenant) == (3, "3: its content was changed after it was written")
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == scratch_tenant))
    result = app.test_cli_runner().invoke(args=["vectis", "audit-verify", "--tenant", str(slug)])
    assert result.exit_code == 1
    assert f"{slug}: BROKEN at entry 3: its content was changed after it was written" in result.output


def test_it_finds_a_row_removed_by_the_owner(app: Flask, scratch_tenant: int) -> None:
    as_owner(app, "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 2", t=scratch_tenant)
    assert verify(app, scratch_tenant) == (2, "3: entries 2–2 are missing")


def test_it_finds_a_row_the_owner_changed_and_rehashed(app: Flask, scratch_tenant: int) -> None:
    """Issue 15, finding 5: with no key in the hash, an owner could edit a row, recompute every later
    hash and get "ok". The seals are keyed outside the database, so the rehashed chain no longer matches."""
    as_owner(
        app,
        "UPDATE audit_log SET result = 'failed' WHERE tenant_id = :t AND seq = 3",
        REHASH_FROM.format(tenant=scratch_tenant, seq=3),
        t=scratch_tenant,
    )
    assert verify(app, scratch_tenant) == (
        3,
        "3: its seal does not match: it or an entry before it was rewritten and rehashed",
    )


def test_it_finds_a_row_the_owner_inserted_without_a_seal(app: Flask, scratch_tenant: int) -> None:
    with app.app_context(), db.system_session() as s:  # the trigger links it; only Vectis could seal it
        s.execute(
            text(
                "INSERT INTO audit_log (tenant_id, actor_type, actor_label, surface, action, target_type, "
                "target_label, result) VALUES (:t, 'system', 'Vectis', 'system', 'test.forged', 'thing', 'x', 'ok')"
            ),
            {"t": scratch_tenant},
        )
    assert verify(app, scratch_tenant) == (6, "6: its seal is missing (it was not written by Vectis)")


def test_it_finds_the_newest_rows_deleted_after_they_were_anchored(app: Flask, scratch_tenant: int) -> None:
    """Deleting the tail, seals and all, leaves a chain that links and seals fine: only the anchor outside
    the database shows that entries 4 and 5 existed."""
    with app.app_context(), db.system_session() as s:
        written = anchor_newest(s, app.config["VECTIS_SETTINGS"])
    assert any(a.tenant_id == scratch_tenant and a.seq == 5 for a in written)
    assert verify(app, scratch_tenant) == (5, None)
    as_owner(
        app,
        "DELETE FROM audit_log WHERE tenant_id = :t AND seq >= 4",
        "DELETE FROM audit_seal WHERE tenant_id = :t AND seq >= 4",
        t=scratch_tenant,
    )
    checked, problem = verify(app, scratch_tenant)
    assert checked == 3 and problem is not None
    assert re.fullmatch(r"4: entries 4–5 were removed: entry 5 was anchored outside the database at .+ UTC", problem)


def test_it_refuses_an_anchor_line_not_made_with_the_key(
    app: Flask, scratch_tenant: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(app.config["VECTIS_SETTINGS"], audit_anchor=tmp_path / "anchor.jsonl")
    monkeypatch.setitem(app.config, "VECTIS_SETTINGS", settings)
    with app.app_context(), db.system_session() as s:
        anchor_newest(s, settings)
        tag = installation(s, settings)
    forged = Anchor(scratch_tenant, 99, b"\x00" * 32, b"\x00" * 32, datetime.now(UTC))
    seal.append(settings.audit_anchor, tag, [forged])
    assert verify(app, scratch_tenant) == (5, None)  # the forged line is no evidence of entries up to 99
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == scratch_tenant))
    result = app.test_cli_runner().invoke(args=["vectis", "audit-verify", "--tenant", str(slug)])
    assert result.exit_code == 1
    assert "1 line(s) not written with the audit key" in result.output
    assert f"{slug}: ok, 5 entries verified and sealed, anchored up to entry 5" in result.output


def test_it_reports_an_intact_chain_from_the_command_line(app: Flask, acme: TenantFixture) -> None:
    login(app, acme)  # at least one entry
    result = app.test_cli_runner().invoke(args=["vectis", "audit-verify", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    assert re.search(r"acme: ok, \d+ entries verified and sealed", result.output)


def test_it_filters_the_audit_log_in_the_url_and_pages_by_keyset(app: Flask, acme: TenantFixture) -> None:
    admin = login(app, acme)
    with app.app_context(), db.tenant_session(acme.id) as s:
        for n in range(60):
            record(
                s,
                tenant_id=acme.id,
                actor=Actor.system(),
                surface="system",
                action="test.paging",
                target=Target("thing", str(n), f"paging {n}"),
                result="ok",
            )
    first = admin.get("/admin/audit?action=test.paging")
    body = first.get_data(as_text=True)
    assert first.status_code == 200 and "<html" in body
    assert body.count('class="audit-row"') == 50 and "paging 59" in body and "paging 9<" not in body
    more = re.search(r'hx-get="(/admin/audit\?[^"]*before=\d+[^"]*)"', body)
    assert more
    older = admin.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    rest = older.get_data(as_text=True)
    assert (
        "<html" not in rest
        and rest.count('class="audit-row"') == 10
        and "paging 0<" in rest
        and "paging 10<" not in rest
    )
    assert "HX-Request" in older.headers["Vary"]
    partial = admin.get("/admin/audit?action=test.paging&target=paging+42", headers={"HX-Request": "true"})
    assert partial.get_data(as_text=True).count('class="audit-row"') == 1
    assert 'id="audit-results"' in partial.get_data(as_text=True)


def test_it_exports_the_filtered_audit_log_as_csv(app: Flask, acme: TenantFixture) -> None:
    admin = login(app, acme)
    response = admin.get("/admin/audit.csv?action=auth.sign_in")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows and {r["action"] for r in rows} == {"auth.sign_in"}
    assert all(len(r["row_hash"]) == 64 for r in rows)


def test_it_shows_the_audit_log_to_admins_only(app: Flask, acme: TenantFixture) -> None:
    assert login(app, acme, "tech@acme.test").get("/admin/audit").status_code == 403
    assert login(app, acme, "tech@acme.test").get("/admin/audit.csv").status_code == 403


def test_it_quotes_spreadsheet_formulas_in_the_csv_export(app: Flask, acme: TenantFixture) -> None:
    client = client_for(app, acme)
    client.post(
        "/signin", data={"email": '=HYPERLINK("http://evil")', "password": "x", "csrf_token": csrf_token(client)}
    )
    rows = list(
        csv.DictReader(io.StringIO(login(app, acme).get("/admin/audit.csv?action=auth.sign_in").get_data(as_text=True)))
    )
    labels = [r["target_label"] for r in rows if "HYPERLINK" in r["target_label"]]
    assert labels and all(label.startswith("'=") for label in labels)


def test_audit_rows_name_targets_by_the_vendors_id_not_ours(app: Flask, acme: TenantFixture) -> None:
    """Issue 16: a ticket's row said "ticket #7" (our row id) beside the vendor's #48283."""
    with app.app_context(), db.tenant_session(acme.id) as s:
        record(
            s,
            tenant_id=acme.id,
            actor=Actor.system(),
            surface="system",
            action="test.vendor_ids",
            target=Target("ticket", "987654", "#48283"),
            result="ok",
        )
    page = login(app, acme).get("/admin/audit?action=test.vendor_ids").get_data(as_text=True)
    assert "#48283" in page and "#987654" not in page
    assert "987654" in page  # still there, in the entry's details


def test_a_long_value_is_shown_shortened_with_the_whole_of_it_one_click_away(app: Flask, acme: TenantFixture) -> None:
    """Issue 16: one entry made the table 54,000 px wide. The browser test (tests/e2e/test_audit_log.py) measures
    the page; here, what the page is given: each long value cut for the first look, the whole kept beside it."""
    note = "y" * 50_000
    with app.app_context(), db.tenant_session(acme.id) as s:
        long = record(
            s, tenant_id=acme.id, actor=Actor.system(), surface="system", action="test.long_value",
            target=Target("ticket", "1", "#48283"), result="failed", payload={"request": {"text": note}},
            error="ConnectWise answered 400: " + note,
        )  # fmt: skip
        short = record(
            s, tenant_id=acme.id, actor=Actor.system(), surface="system", action="test.long_value",
            target=Target("ticket", "2", "#48284"), result="ok", payload={"request": {"text": "On it."}},
        )  # fmt: skip
        cut, whole = (reader.details(s.get_one(AuditEntry, entry.id)) for entry in (long, short))
    assert f'"text": "{"y" * reader.CLAMP}… (48,000 more characters)"' in cut.short
    assert cut.full is not None and note in cut.full and '"hash": "' in cut.full
    assert whole.full is None and '"text": "On it."' in whole.short  # nothing cut: nothing twice
    page = login(app, acme).get("/admin/audit?action=test.long_value").get_data(as_text=True)
    assert "(49,786 more characters)" in page and "Show all" in page and "#48283" in page
    assert page.count(note) == 2  # the error and the entry's details, each once in full, hidden until asked for
