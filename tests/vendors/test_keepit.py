"""The Keepit connector against the Keepit simulator, over real HTTP on loopback, through the real sync job;
and matching vendor accounts to customers (Admin -> Customer matching)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import csrf_token, login
from tests.vendors.support import Setup, add_connection, count, new_tenant, serve_app, sync, vendor_url
from vectis.actions import Actor, Target, perform
from vectis.connectors.keepit import MESSAGES, REGIONS, RUN_HISTORY, KeepitConnector, classify, parse_keepit_url
from vectis.demo.seed import DEMO_KEEPIT
from vectis.ingest.integrations import try_connection
from vectis.ingest.matching import matching_queue
from vectis.models import (
    BackupAuditEvent,
    BackupConnector,
    BackupConnectorStatus,
    BackupRun,
    Customer,
    CustomerLink,
    LinkStatus,
    StreamCursor,
    TimelineEvent,
)
from vectis.platform import db
from vectis.platform.http import ConnectorError
from vectis.simulators import vspc
from vectis.simulators.keepit import (
    DEMO_TOKEN_LOGIN,
    DEMO_TOKEN_PASSWORD,
    DEMO_USERNAME,
    PARENT_GUID,
    KeepitState,
    MalformedXml,
    create_app,
)

CONFIG = dict(DEMO_KEEPIT)


class Keepit:
    def __init__(self, state: KeepitState, url: str) -> None:
        self.state, self.url = state, url

    @property
    def children(self) -> list[dict[str, Any]]:
        return self.state.children_of(PARENT_GUID)

    @property
    def connectors(self) -> int:
        return sum(len(self.state.device_views(child["id"])) for child in self.children)

    def audit_in_window(self, days: int = 14) -> int:
        since = datetime.now(UTC) - timedelta(days=days)
        return sum(1 for record in self.state.audit if record["time"] >= since)


def serve(state: KeepitState) -> Iterator[Keepit]:
    for url in serve_app(create_app(state)):
        yield Keepit(state, url)


@pytest.fixture
def keepit(app: Flask) -> Iterator[Keepit]:
    for sim in serve(KeepitState.seeded()):
        with vendor_url(app, "keepit", sim.url + "/{region}"):
            yield sim


def keepit_connection(app: Flask, tenant_id: int | None = None, **config: str) -> Setup:
    return add_connection(app, tenant_id or new_tenant(app), "keepit", {**CONFIG, **config})


def check(app: Flask, **overrides: str) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, KeepitConnector, {**CONFIG, **overrides})


# --- configuration ----------------------------------------------------------------------------------


def test_a_pasted_keepit_url_fills_region_and_guid() -> None:
    url = "https://dk-co.keepit.com/users/abc123-def456-ghi789"
    assert parse_keepit_url(url) == ("dk-co", "abc123-def456-ghi789")
    for field in ("region", "account_guid"):
        clean = KeepitConnector.validate_config({**CONFIG, "region": "", "account_guid": "", field: url})
        assert (clean["region"], clean["account_guid"]) == ("dk-co", "abc123-def456-ghi789")


def test_it_names_the_valid_regions_and_the_guid_shape() -> None:
    with pytest.raises(ConnectorError) as error:
        KeepitConnector.validate_config({**CONFIG, "region": "eu-west"})
    assert "not a Keepit region" in error.value.message and all(code in error.value.message for code in REGIONS)
    with pytest.raises(ConnectorError, match="three groups of letters and digits"):
        KeepitConnector.validate_config({**CONFIG, "account_guid": "6f1c2a9e-8d2b-4c4e-9f55-2a1b3c4d5e6f"})


def test_the_form_shows_where_to_find_region_and_guid(app: Flask, tenants: Any) -> None:
    acme = tenants["acme"]
    page = login(app, acme, acme.admin).get("/admin/integrations/keepit").get_data(as_text=True)
    assert "https://[region].keepit.com/users/[account-guid]" in page
    assert ("paste that whole URL" in page and "take priority" in page) or "instead of the username" in page


def test_the_api_token_takes_priority_over_username_and_password(app: Flask, keepit: Keepit) -> None:
    ok, message = check(app, token_login=DEMO_TOKEN_LOGIN, token_password=DEMO_TOKEN_PASSWORD, password="wrong")
    assert ok, message
    logins = keepit.state.stats()["logins"]
    assert logins.get(DEMO_TOKEN_LOGIN, 0) > 0 and DEMO_USERNAME not in logins
    # One token field alone is not a token: the username and password are used.
    ok, _ = check(app, token_login=DEMO_TOKEN_LOGIN)
    assert ok and keepit.state.stats()["logins"].get(DEMO_USERNAME, 0) > 0


# --- the Test button ----------------------------------------------------------------------------------


def test_it_reports_the_number_of_customer_accounts(app: Flask, keepit: Keepit) -> None:
    assert check(app) == (
        True,
        f"Connected — {len(keepit.children)} customer accounts visible under your parent account",
    )


@pytest.mark.parametrize(
    ("overrides", "fault", "expected"),
    [
        ({}, "wrong_credentials", MESSAGES["credentials"]),
        ({"token_login": DEMO_TOKEN_LOGIN, "token_password": "nope"}, None, MESSAGES["token"]),
        ({}, "unknown_region", "404 at 127.0.0.1"),
        ({"account_guid": "zzzzzz-zzzzzz-zzzzzz"}, None, MESSAGES["guid"].format(guid="zzzzzz-zzzzzz-zzzzzz")),
        (
            {"token_login": DEMO_TOKEN_LOGIN, "token_password": DEMO_TOKEN_PASSWORD},
            "token_without_audit",
            MESSAGES["audit_rights"],
        ),
    ],
)
def test_it_explains_each_error(
    app: Flask, keepit: Keepit, overrides: dict[str, str], fault: str | None, expected: str
) -> None:
    if fault:
        setattr(keepit.state.faults, fault, True)
    ok, message = check(app, **overrides)
    assert not ok and message.startswith(expected), message


def test_it_says_connection_timed_out(app: Flask, keepit: Keepit) -> None:
    with vendor_url(app, "keepit", "http://127.0.0.1:9/{region}"):  # nothing listens on port 9
        ok, message = check(app)
    assert not ok and message.startswith("Connection timed out — Vectis couldn't reach 127.0.0.1:9")


# --- syncing -----------------------------------------------------------------------------------------


def test_it_syncs_accounts_connectors_statuses_and_fourteen_days_of_audit(app: Flask, keepit: Keepit) -> None:
    setup = keepit_connection(app)
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    assert run.counts == {
        "accounts": len(keepit.children),
        "connectors": keepit.connectors,
        "audit": keepit.audit_in_window(),
    }
    # The first tool connected: its accounts become the customers.
    assert count(app, setup, Customer) == len(keepit.children)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        names = set(s.scalars(select(Customer.name)))
        kinds = set(s.scalars(select(BackupConnector.kind)))
        statuses = s.execute(
            select(
                BackupConnectorStatus.state, BackupConnectorStatus.message, BackupConnectorStatus.last_success_at
            ).join(BackupConnector, BackupConnector.id == BackupConnectorStatus.backup_connector_id)
        ).all()
        categories = set(s.scalars(select(BackupAuditEvent.category)))
    assert {c["companyname"] for c in keepit.children} == names
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        contacts = {c.contact_email for c in s.scalars(select(Customer))}
    assert {c["email"] for c in keepit.children} == contacts  # the account's contact fills the customer's
    assert {"Microsoft 365", "Entra ID"} <= kinds and not any("-" in k for k in kinds)  # names, not type codes
    assert {"success", "failed", "running"} <= {row.state for row in statuses}
    assert any(row.message == "Health unhealthy: no backup has checked in" for row in statuses)
    # The critical BADLOGIN connector says why; the one never backed up has no last success.
    assert any("cannot sign in" in (row.message or "") for row in statuses if row.state == "failed")
    assert any(row.last_success_at is None for row in statuses if row.state == "failed")
    assert categories <= {"user", "account", "connector", "connection", "recovery", "reporting", "security"} | {
        "compliance",
        "sign-in",
        "other",
    }
    assert {"user", "connector", "recovery", "sign-in"} <= categories
    assert count(app, setup, TimelineEvent, TimelineEvent.source == "Keepit") == keepit.audit_in_window()


def test_each_connector_brings_its_recent_runs_and_a_second_sync_adds_none(app: Flask, keepit: Keepit) -> None:
    """Keepit lists a connector's jobs: the run-history strip starts with the last 14, keyed by Keepit's job id."""
    setup = keepit_connection(app)
    assert sync(app, setup).status == "succeeded"
    expected: dict[str, list[tuple[str, str, datetime]]] = {}
    outcome = {"succeeded": "success", "failed": "failed", "cancelled": "stopped"}
    for child in keepit.children:
        for device in keepit.state.device_views(child["id"]):
            jobs = [j for j in keepit.state.job_views(device["guid"]) if j["type"] == "backup"][::-1][:RUN_HISTORY]
            expected[device["guid"]] = sorted(
                (
                    job["guid"],
                    "running" if job["active"] else next(state for tag, state in outcome.items() if job[tag]),
                    job["started"],
                )
                for job in jobs
            )
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = s.execute(
            select(BackupConnector.external_id, BackupRun.run_key, BackupRun.state, BackupRun.started_at).join(
                BackupConnector, BackupConnector.id == BackupRun.backup_connector_id
            )
        ).all()
    got: dict[str, list[tuple[str, str, datetime]]] = {guid: [] for guid in expected}
    for guid, key, state, started in rows:
        got[guid].append((key, state, started))
    assert {guid: sorted(runs) for guid, runs in got.items()} == expected
    assert max(len(runs) for runs in expected.values()) == RUN_HISTORY  # the fixture has longer histories
    assert {"success", "failed"} <= {state for runs in expected.values() for _, state, _ in runs}
    assert sync(app, setup).status == "succeeded"
    assert count(app, setup, BackupRun) == len(rows)


def test_the_next_sync_only_fetches_new_audit_records(app: Flask, keepit: Keepit) -> None:
    setup = keepit_connection(app)
    sync(app, setup)
    before = count(app, setup, BackupAuditEvent)
    audit = "/{region}/audit/filter/pretty"
    pages = keepit.state.stats()["paths"].get(audit, 0)
    second = sync(app, setup)
    assert second.counts["audit"] <= 3  # the records of the boundary second, read again and deduplicated
    assert count(app, setup, BackupAuditEvent) == before
    assert keepit.state.stats()["paths"].get(audit, 0) - pages == 1


def test_a_renamed_account_stays_one_customer(app: Flask, keepit: Keepit) -> None:
    setup = keepit_connection(app)
    sync(app, setup)
    child = keepit.children[0]
    keepit.state.rename_account(child["id"], "Renamed Dental Partners")
    sync(app, setup)
    assert count(app, setup, Customer) == len(keepit.children)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(CustomerLink.external_name).where(CustomerLink.external_id == child["id"])) == (
            "Renamed Dental Partners"
        )


def test_a_removed_connector_is_marked_removed_and_a_stale_one_shows_its_age(app: Flask, keepit: Keepit) -> None:
    setup = keepit_connection(app)
    sync(app, setup)
    devices = keepit.state.device_views(keepit.children[0]["id"])
    keepit.state.remove_connector(devices[0]["guid"])
    keepit.state.stale_connector(devices[-1]["guid"])
    sync(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        removed = s.scalars(select(BackupConnector.external_id).where(BackupConnector.removed_at.is_not(None))).all()
        success = s.scalar(
            select(BackupConnectorStatus.last_success_at)
            .join(BackupConnector, BackupConnector.id == BackupConnectorStatus.backup_connector_id)
            .where(BackupConnector.external_id == devices[-1]["guid"])
        )
    assert removed == [devices[0]["guid"]]
    assert success is not None and datetime.now(UTC) - success > timedelta(days=2, hours=23)


def test_malformed_xml_fails_the_run_with_a_reason_and_keeps_what_was_committed(app: Flask) -> None:
    for sim in serve(KeepitState.at_scale(accounts=12, connectors_per_account=2, audit_records=1400)):
        with vendor_url(app, "keepit", sim.url + "/{region}"):
            setup = keepit_connection(app)
            sim.state.faults.malformed_xml = MalformedXml("/audit/filter/pretty", 500)
            run = sync(app, setup)
            assert run.status == "failed" and run.error and "malformed XML" in run.error
            assert run.counts["audit"] == 500 and count(app, setup, BackupAuditEvent) == 500
            assert count(app, setup, BackupConnector) == sim.connectors  # the streams before it are kept
            with app.app_context(), db.tenant_session(setup.tenant_id) as s:
                stuck = s.scalar(select(StreamCursor.cursor).where(StreamCursor.stream == "audit"))
            sim.state.faults.malformed_xml = None
            assert sync(app, setup).status == "succeeded"
            assert count(app, setup, BackupAuditEvent) == sim.audit_in_window()
            assert stuck is not None


def test_audit_areas_map_to_the_guides_categories() -> None:
    assert classify("user", "failed-login") == "security"
    # A sign-in that worked is routine (a timeline filter hides it); one that failed stays a security event.
    assert classify("user", "login") == "sign-in" and classify("user", "login", succeeded=False) == "security"
    assert classify("restore", "restore-started") == "recovery"
    assert classify("report", "export") == "recovery" or classify("report", "create") == "reporting"
    assert classify("billing", "invoice-sent") == "account"
    assert classify("quantum", "entangle") == "other"


# --- matching accounts to customers --------------------------------------------------------------------


def veeam_then_keepit(app: Flask, keepit: Keepit) -> tuple[Setup, Setup]:
    """A workspace whose first tool is Veeam (its companies are the customers), then Keepit."""
    tenant_id = new_tenant(app)
    for url in serve_app(vspc.create_app(vspc.VspcState.seeded())):
        veeam = add_connection(
            app,
            tenant_id,
            "veeam",
            {"base_url": url, "username": vspc.DEMO_USERNAME, "password": vspc.DEMO_PASSWORD, "api_key": ""},
        )
        assert sync(app, veeam).status == "succeeded"
    second = keepit_connection(app, tenant_id)
    assert sync(app, second).status == "succeeded"
    return veeam, second


def links(app: Flask, setup: Setup) -> dict[str, tuple[str, int | None]]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = s.execute(
            select(CustomerLink.external_name, CustomerLink.status, CustomerLink.customer_id).where(
                CustomerLink.connection_id == setup.connection_id
            )
        )
        return {name: (status, customer_id) for name, status, customer_id in rows}


def test_later_tools_link_by_name_and_the_rest_wait_unlinked(app: Flask, keepit: Keepit) -> None:
    veeam, second = veeam_then_keepit(app, keepit)
    found = links(app, second)
    waiting = {name for name, (status, _) in found.items() if status == LinkStatus.UNLINKED}
    assert waiting == {"Summit MSP Internal IT", "NOC Test Tenant", "Bellweather Dental Group"}
    assert sum(1 for status, _ in found.values() if status == LinkStatus.LINKED) == 7
    assert count(app, veeam, Customer) == len(vspc.VspcState.seeded().companies)  # Keepit created none
    # An unlinked account's data shows on no customer.
    unlinked = BackupConnector.customer_link_id.in_(
        select(CustomerLink.id).where(CustomerLink.status == LinkStatus.UNLINKED.value)
    )
    assert count(app, second, BackupConnector, unlinked) > 0
    assert count(app, second, BackupConnector, unlinked, BackupConnector.customer_id.is_not(None)) == 0


def test_linking_from_the_matching_page_points_the_data_at_the_customer(
    app: Flask, keepit: Keepit, tenants: Any
) -> None:
    acme = tenants["acme"]
    _, second = veeam_then_keepit(app, keepit)
    # The page and its verbs run in acme's workspace; this tenant's data is checked through the service.

    with app.app_context(), db.tenant_session(second.tenant_id) as s:
        rows, counts = matching_queue(s, LinkStatus.UNLINKED)
        assert counts["unlinked"] == 3 and {r.link.external_name for r in rows} == {
            "Summit MSP Internal IT",
            "NOC Test Tenant",
            "Bellweather Dental Group",
        }
    client = login(app, acme)
    page = client.get("/admin/matching")
    assert page.status_code == 200 and "Customer matching" in page.get_data(as_text=True)
    assert csrf_token(client, "/admin/matching")


def test_keep_separate_survives_later_syncs(app: Flask, keepit: Keepit) -> None:

    _, second = veeam_then_keepit(app, keepit)
    with app.test_request_context(), db.tenant_session(second.tenant_id) as s:
        link = s.scalar(select(CustomerLink).where(CustomerLink.external_name == "NOC Test Tenant"))
        assert link is not None
        admin = Actor("user", "1", "admin@test", "admin")
        outcome = perform(
            "customer_link.keep_separate",
            Target("customer_link", str(link.id), link.external_name),
            {},
            actor=admin,
            surface="ui",
            session=s,
            tenant_id=second.tenant_id,
        )
        assert outcome.ok, outcome.message
        dental = s.scalar(select(CustomerLink).where(CustomerLink.external_name == "Bellweather Dental Group"))
        assert dental is not None
        outcome = perform(
            "customer_link.create_customer",
            Target("customer_link", str(dental.id), dental.external_name),
            {},
            actor=admin,
            surface="ui",
            session=s,
            tenant_id=second.tenant_id,
        )
        assert outcome.ok, outcome.message
    sync(app, second)
    found = links(app, second)
    assert found["NOC Test Tenant"] == (LinkStatus.SEPARATE.value, None)
    assert found["Bellweather Dental Group"][0] == LinkStatus.LINKED.value
    customer_id = found["Bellweather Dental Group"][1]
    assert customer_id is not None
    # Its connectors (written before it was linked) now show on the new customer.
    assert count(app, second, BackupConnector, BackupConnector.customer_id == customer_id) > 0
