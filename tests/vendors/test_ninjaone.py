"""The NinjaOne connector against the NinjaOne simulator, over real HTTP on loopback, through the real sync job:
the Test button's messages, organisations matched to customers, and the activity log on the timeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import login
from tests.vendors.support import (
    Setup,
    add_connection,
    count,
    new_tenant,
    serve_app,
    sync,
    vendor_url,
    wait_for_the_hung_request,
)
from vectis.connectors import ninjaone
from vectis.connectors.base import TimelineRecord
from vectis.connectors.ninjaone import (
    EVENT_WINDOW,
    MESSAGES,
    NinjaOneConnector,
    parse_activity,
    parse_organization,
    region_of,
)
from vectis.demo.seed import DEMO_NINJAONE
from vectis.ingest.integrations import try_connection
from vectis.ingest.matching import matching_queue
from vectis.models import Customer, CustomerLink, LinkStatus, StreamCursor, TimelineEvent
from vectis.platform import db
from vectis.platform.http import ConnectorError
from vectis.simulators import vspc
from vectis.simulators.ninjaone import DEMO_CLIENT_ID, NinjaOneState, create_app

CONFIG = {**DEMO_NINJAONE, "region": "eu"}


class Ninja:
    def __init__(self, state: NinjaOneState, url: str) -> None:
        self.state, self.url = state, url

    def activities_in_window(self) -> list[dict[str, Any]]:
        since = (datetime.now(UTC) - EVENT_WINDOW).timestamp()
        return [a for a in self.state.activities if a["activityTime"] >= since]

    def requests(self, pattern: str) -> int:
        return int(self.state.stats()["paths"].get(pattern, 0))


def serve(state: NinjaOneState) -> Iterator[Ninja]:
    for url in serve_app(create_app(state)):
        yield Ninja(state, url)


@pytest.fixture
def ninja(app: Flask) -> Iterator[Ninja]:
    for sim in serve(NinjaOneState.seeded()):
        with vendor_url(app, "ninjaone", sim.url):
            yield sim


def ninja_connection(app: Flask, tenant_id: int | None = None, **config: str) -> Setup:
    return add_connection(app, tenant_id or new_tenant(app), "ninjaone", {**CONFIG, **config})


def check(app: Flask, **overrides: str) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, NinjaOneConnector, {**CONFIG, **overrides})


def timeline(app: Flask, setup: Setup) -> list[TimelineEvent]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = list(s.scalars(select(TimelineEvent).where(TimelineEvent.connection_id == setup.connection_id)))
        s.expunge_all()
        return rows


# --- configuration and parsing ------------------------------------------------------------------------


def test_it_reads_the_region_from_a_pasted_address_and_names_the_valid_ones() -> None:
    assert region_of("https://eu.ninjarmm.com/#/dashboard") == "eu" == region_of("EU")
    assert NinjaOneConnector.validate_config({**CONFIG, "region": "ca.ninjarmm.com"})["region"] == "ca"
    with pytest.raises(ConnectorError) as error:
        NinjaOneConnector.validate_config({**CONFIG, "region": "us3"})
    assert "not a NinjaOne region" in error.value.message
    assert all(code in error.value.message for code in ("app", "us2", "eu", "ca", "oc"))
    assert NinjaOneConnector.base_url({"region": "oc"}) == "https://oc.ninjarmm.com"
    assert NinjaOneConnector.secret_fields() == {"client_secret"}


def test_activities_parse_with_epoch_second_times_and_their_meaning() -> None:
    patch = {
        "id": 7, "activityTime": 1741944612.25, "deviceId": 3, "severity": "MINOR", "activityType": "PATCH_MANAGEMENT",
        "statusCode": "PATCH_MANAGEMENT_APPLY_PATCH_COMPLETED", "activityResult": "FAILURE", "subject": "Patch cycle",
        "message": "3 of 4 patches installed",
    }  # fmt: skip
    record = parse_activity({"activity": patch, "organization": 2, "device": "WS-01"})
    assert record == TimelineRecord(
        external_id="activity:7",
        customer_external_id="2",
        occurred_at=datetime(2025, 3, 14, 9, 30, 12, 250000, tzinfo=UTC),
        kind="rmm.patching",
        severity="warning",
        title="WS-01: Patch cycle",
        detail="3 of 4 patches installed",
        device_external_id="3",
    )
    reset = {**patch, "activityType": "CONDITION", "statusCode": "RESET", "subject": "Disk space low"}
    parsed = parse_activity({"activity": reset, "organization": None, "device": None})
    assert parsed is not None and parsed.severity == "resolved" and parsed.kind == "rmm.condition"
    assert parsed.title == "Disk space low: back to normal" and parsed.customer_external_id is None
    sign_in = {**patch, "activityType": "SYSTEM", "statusCode": "APP_USER_LOGGED_IN"}
    assert parse_activity({"activity": sign_in, "organization": None, "device": None}) is None
    assert parse_activity({"activity": {**patch, "activityTime": "2025-03-14"}, "organization": 2}) is None
    assert parse_organization({"id": 4, "name": " Ironbridge ", "description": "Leeds, UK"}) == (
        parse_organization({"id": 4, "name": "Ironbridge", "description": "Leeds, UK"})
    )
    assert parse_organization({"id": 4, "name": ""}) is None


def test_the_setup_page_asks_for_the_app_and_region_and_never_shows_the_secret(
    app: Flask, tenants: Any, ninja: Ninja
) -> None:
    acme = tenants["acme"]
    client = login(app, acme, acme.admin)
    page = client.get("/admin/integrations/ninjaone").get_data(as_text=True)
    for words in ("Client ID", "Client Secret", "Region / instance", "Administration → Apps → API", "us2, eu, ca"):
        assert words in page, words
    assert DEMO_NINJAONE["client_secret"] not in page
    # The demo's connection, as make demo seeds it, passes the form's own checks.
    assert NinjaOneConnector.validate_config(DEMO_NINJAONE) == DEMO_NINJAONE
    assert DEMO_NINJAONE["client_id"] == DEMO_CLIENT_ID


# --- the Test button ----------------------------------------------------------------------------------


def test_it_reports_the_region_and_the_organizations_visible(app: Flask, ninja: Ninja) -> None:
    assert check(app) == (True, f"Connected to NinjaOne (EU) — {len(ninja.state.organizations)} organizations visible")


def test_a_wrong_client_id_or_secret_says_so_and_names_the_region(app: Flask, ninja: Ninja) -> None:
    ok, message = check(app, client_secret="wrong")
    assert not ok and message == MESSAGES[401].format(region="EU")
    assert "client ID and secret" in message and "check the region" in message


def test_an_app_without_the_management_or_monitoring_scope_is_named(app: Flask, ninja: Ninja) -> None:
    for scope in ("management", "monitoring"):
        ninja.state.faults.missing_scope = scope
        ok, message = check(app)
        assert not ok and message == MESSAGES[403].format(scope=scope.title()), message
        assert "Monitoring and Management" in message


def test_a_region_that_knows_no_such_client_or_does_not_answer_says_to_check_the_region(
    app: Flask, ninja: Ninja
) -> None:
    ninja.state.faults.bad_client = True  # what another instance answers: "Client app not exist"
    ok, message = check(app, region="ca")
    assert not ok and "check the region" in message and "(Canada)" in message
    with vendor_url(app, "ninjaone", "http://127.0.0.1:9"):  # nothing listens on port 9
        ok, message = check(app)
    assert not ok and message == MESSAGES["region"].format(host="127.0.0.1:9")
    with vendor_url(app, "ninjaone", ninja.url + "/not-ninjaone"):  # something answers, not NinjaOne
        ok, message = check(app)
    assert not ok and message == MESSAGES["region"].format(host=ninja.url.removeprefix("http://"))


def test_it_says_connection_timed_out(app: Flask, ninja: Ninja) -> None:
    ninja.state.faults.hang = 8.0  # longer than the Test button waits
    answered = ninja.state.stats()["total"]
    ok, message = check(app)
    assert not ok and message == MESSAGES["timeout"].format(host=ninja.url.removeprefix("http://"))
    ninja.state.faults.hang = 0.0
    wait_for_the_hung_request(ninja.state, answered)


def test_the_token_is_cached_not_asked_for_on_every_request(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    assert sync(app, setup).status == "succeeded"
    assert sync(app, setup).status == "succeeded"
    assert ninja.requests("POST /ws/oauth/token") == 1


# --- syncing -----------------------------------------------------------------------------------------


def test_it_syncs_organisations_and_fourteen_days_of_activity_onto_the_timeline(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    wanted = [a for a in ninja.activities_in_window() if a["statusCode"] != "APP_USER_LOGGED_IN"]
    assert run.counts == {
        "organizations": len(ninja.state.organizations),
        "devices": len(ninja.state.devices),
        "alerts": len(ninja.state.open_alerts()),
        "activities": len(wanted),
    }
    # The first tool connected: its organisations become the customers, with where they are.
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        customers = {c.name: c.location for c in s.scalars(select(Customer))}
    assert customers == {o["name"]: o["description"] for o in ninja.state.organizations.values()}
    rows = {row.dedup_key: row for row in timeline(app, setup)}
    assert len(rows) == len(wanted)
    for activity in wanted:
        row = rows[f"activity:{activity['id']}"]
        assert row.occurred_at == datetime.fromtimestamp(activity["activityTime"], UTC)
        assert row.source == "NinjaOne"
        if "deviceId" in activity:  # on the customer its device belongs to
            device = ninja.state.devices[activity["deviceId"]]
            assert row.customer_id is not None and row.title.startswith(device["displayName"])
    kinds = {row.kind for row in rows.values()}
    assert {"rmm.patching", "rmm.condition", "rmm.antivirus"} <= kinds
    assert {"resolved", "info"} <= {row.severity for row in rows.values()}
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        cursor = s.scalar(select(StreamCursor.cursor).where(StreamCursor.stream == "activities"))
    assert cursor == {"newer_than": ninja.state.last_activity_id()}


def test_the_next_sync_reads_only_what_is_newer_than_its_cursor(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    sync(app, setup)
    before = len(timeline(app, setup))
    device = next(iter(ninja.state.devices.values()))
    added = ninja.state.add_activity(
        {"activityType": "PATCH_MANAGEMENT", "statusCode": "PATCH_MANAGEMENT_APPLY_PATCH_COMPLETED",
         "deviceId": device["id"], "subject": "Patch cycle", "message": "4 operating system patches installed"}
    )  # fmt: skip
    asked = ninja.requests("GET /v2/activities")
    second = sync(app, setup)
    assert second.status == "succeeded" and second.counts["activities"] == 1
    assert ninja.requests("GET /v2/activities") - asked == 1
    rows = timeline(app, setup)
    assert len(rows) == before + 1
    row = next(r for r in rows if r.dedup_key == f"activity:{added['id']}")
    assert row.title == f"{device['displayName']}: Patch cycle" and row.customer_id is not None
    assert abs(row.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert sync(app, setup).counts.get("activities", 0) == 0


def test_later_tools_link_by_name_and_the_two_near_names_wait_with_a_suggestion(app: Flask, ninja: Ninja) -> None:
    tenant_id = new_tenant(app)
    for url in serve_app(vspc.create_app(vspc.VspcState.seeded())):
        veeam = add_connection(
            app, tenant_id, "veeam",
            {"base_url": url, "username": vspc.DEMO_USERNAME, "password": vspc.DEMO_PASSWORD, "api_key": ""},
        )  # fmt: skip
        assert sync(app, veeam).status == "succeeded"
    customers = count(app, veeam, Customer)
    setup = ninja_connection(app, tenant_id)
    assert sync(app, setup).status == "succeeded"
    assert count(app, setup, Customer) == customers  # NinjaOne created none
    with app.app_context(), db.tenant_session(tenant_id) as s:
        waiting, _ = matching_queue(s, LinkStatus.UNLINKED)
        mine = [row for row in waiting if row.link.connection_id == setup.connection_id]
        linked = s.scalar(
            select(CustomerLink.id)
            .where(CustomerLink.connection_id == setup.connection_id, CustomerLink.status == LinkStatus.LINKED.value)
            .limit(1)
        )
        by_name = {row.link.external_name: [name for _, name, *_ in row.suggested] for row in mine}
    assert set(by_name) == {"Greyhaven Arch.", "Dunmore Dental"}
    assert by_name["Greyhaven Arch."][0] == "Greyhaven Architects"
    assert by_name["Dunmore Dental"][0] == "Dunmore Dental Practice"
    assert linked is not None
    # An activity of an organisation still waiting shows on no customer.
    waiting_events = TimelineEvent.customer_link_id.in_(
        select(CustomerLink.id).where(CustomerLink.status == LinkStatus.UNLINKED.value)
    )
    assert count(app, setup, TimelineEvent, waiting_events) > 0
    assert count(app, setup, TimelineEvent, waiting_events, TimelineEvent.customer_id.is_not(None)) == 0


def test_an_organisation_renamed_at_ninjaone_stays_one_customer(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    sync(app, setup)
    ninja.state.rename_organization(3, "Renamed Holdings")
    assert sync(app, setup).status == "succeeded"
    assert count(app, setup, Customer) == len(ninja.state.organizations)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(CustomerLink.external_name).where(CustomerLink.external_id == "3")) == (
            "Renamed Holdings"
        )


def test_organisations_and_activities_are_paged_and_capped_per_sync(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ninjaone, "PAGE_SIZE", 5)
    monkeypatch.setattr(ninjaone, "ACTIVITY_PAGE", 40)
    monkeypatch.setattr(ninjaone, "EVENT_CAP", 150)
    state = NinjaOneState.at_scale(organizations=12, devices=60, alerts=5, activities=400, now=datetime.now(UTC))
    for sim in serve(state):
        with vendor_url(app, "ninjaone", sim.url):
            setup = ninja_connection(app)
            first = sync(app, setup)
            assert first.status == "succeeded", first.error
            assert first.counts["organizations"] == 12 and sim.requests("GET /v2/organizations") == 3
            # The first sync takes the newest 150 of the window (the cap), newest first, 40 a page.
            assert sim.requests("GET /v2/activities") == 4
            taken = sorted(a["id"] for a in sim.activities_in_window())[-150:]
            for _ in range(45):  # what arrives later is read forward from the cursor, a page at a time
                sim.state.add_activity({"activityType": "SYSTEM", "statusCode": "POLICY_UPDATED"})
            second = sync(app, setup)
            assert second.counts["activities"] == 45 and sim.requests("GET /v2/activities") == 4 + 2
            logged = {a["id"] for a in sim.state.activities if a["statusCode"] == "APP_USER_LOGGED_IN"}
            expected = {f"activity:{i}" for i in [*taken, *(a["id"] for a in sim.state.activities[-45:])]}
            assert {row.dedup_key for row in timeline(app, setup)} == expected - {f"activity:{i}" for i in logged}
