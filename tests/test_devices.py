"""Devices from any RMM (issue 20): stored per workspace behind row-level security, written idempotently by the RMM's
id, following their organisation to its customer; the hub's Devices tab (offline first, filters, pages, empty states
that say what to do) and a device's page (facts, alerts open first, tickets naming it, its timeline); the REST API."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from mcp import Client
from sqlalchemy import select

from tests.conftest import MadeUser, TenantFixture, login, pid, serving
from tests.device_world import NOW, Org, device, fleet, org, rmm, write
from tests.test_alert_dedupe import report
from tests.test_api import api, make_token
from tests.test_api_reads import refused, walk
from tests.test_mcp import session as mcp_session
from vectis.actions import Actor, Target, perform
from vectis.alerts.dedupe import raise_alert
from vectis.connectors.base import TicketRecord
from vectis.ingest.matching import Account, link_accounts
from vectis.ingest.sync import Writer
from vectis.models import (
    Alert,
    AlertState,
    Connection,
    Customer,
    CustomerLink,
    Device,
    Linked,
    SyncRun,
    Tenant,
    TimelineEvent,
)
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.tickets.writer import write_tickets


def stored(app: Flask, tenant_id: int, device_id: int) -> Device | None:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.get(Device, device_id)
        if found is not None:
            s.expunge(found)
        return found


def an_alert_on(app: Flask, organisation: Org, device_id: int, **fields: Any) -> int:
    with app.app_context(), db.tenant_session(organisation.tenant_id) as s:
        return raise_alert(s, organisation.tenant_id, report(organisation, device_id, **fields)).alert.id


def names(html: str) -> list[str]:
    return re.findall(r'<tr data-testid="device-row".*?<a class="strong" href="[^"]+">([^<]+)</a>', html, re.S)


def tab_url(app: Flask, customer_id: int, query: str = "") -> str:
    return f"/customers/{pid(app, 'customer', customer_id)}/devices{query}"


# --- storage and the writer ------------------------------------------------------------------------------------


def test_a_workspace_sees_only_its_own_devices(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> None:
    mine = org(app, acme.id)
    (device_id,) = write(app, acme.id, [device("ACME-FS01", mine, external_id=uuid.uuid4().hex)]).values()
    theirs = org(app, northwind.id)
    write(app, northwind.id, [device("NW-FS01", theirs, external_id=uuid.uuid4().hex)])
    assert stored(app, acme.id, device_id) is not None
    assert stored(app, northwind.id, device_id) is None  # row-level security: not there at all
    with app.app_context(), db.tenant_session(northwind.id) as s:
        assert "ACME-FS01" not in set(s.scalars(select(Device.name)))


def test_writing_the_same_page_twice_keeps_one_row_per_device_and_a_rename_keeps_its_row(
    app: Flask, acme: TenantFixture
) -> None:
    organisation = org(app, acme.id)
    page = [
        device("PC-1", organisation, external_id=f"{organisation.external_id}-1"),
        device("PC-2", organisation, external_id=f"{organisation.external_id}-2", device_class="gaming-rig"),
    ]
    first = write(app, acme.id, page)
    assert write(app, acme.id, page) == first
    renamed = write(app, acme.id, [device("PC-1-RENAMED", organisation, external_id=f"{organisation.external_id}-1",
                                          online=False, os_name="Windows 11 Pro 24H2", serial="X" * 500)])  # fmt: skip
    assert renamed == {f"{organisation.external_id}-1": first[f"{organisation.external_id}-1"]}
    with app.app_context(), db.tenant_session(acme.id) as s:
        rows = {
            d.external_id: d for d in s.scalars(select(Device).where(Device.customer_id == organisation.customer_id))
        }
        assert len(rows) == 2
        one, two = rows[f"{organisation.external_id}-1"], rows[f"{organisation.external_id}-2"]
        assert (one.name, one.online, one.os_name, len(one.serial or "")) == (
            "PC-1-RENAMED",
            False,
            "Windows 11 Pro 24H2",
            200,
        )
        assert (two.device_class, two.vendor_class) == ("other", "WINDOWS_WORKSTATION")  # an unknown class is "other"
        assert one.first_seen_at <= one.updated_at


def test_a_device_moved_to_another_organisation_moves_customer_and_its_open_alerts_go_with_it(
    app: Flask, acme: TenantFixture
) -> None:
    before, after = org(app, acme.id), org(app, acme.id)
    external = uuid.uuid4().hex
    (device_id,) = write(app, acme.id, [device("MOVER", before, external_id=external)]).values()
    still_open = an_alert_on(app, before, device_id, at=NOW)
    done = an_alert_on(app, before, device_id, at=NOW - timedelta(hours=5), condition="CPU")
    with app.app_context(), db.tenant_session(acme.id) as s:
        resolved = s.get(Alert, done)
        assert resolved is not None
        resolved.state = AlertState.RESOLVED.value
    write(app, acme.id, [device("MOVER", after, external_id=external)])
    moved = stored(app, acme.id, device_id)
    assert moved is not None and moved.customer_id == after.customer_id
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(Alert.customer_id).where(Alert.id == still_open)) == after.customer_id
        assert s.scalar(select(Alert.customer_id).where(Alert.id == done)) == before.customer_id  # history stays


def test_an_unmatched_organisations_devices_join_its_customer_when_an_admin_links_it(
    app: Flask, acme: TenantFixture, make_user: Any
) -> None:
    connection_id = rmm(app, acme.id)
    nobody = f"Org nobody has {uuid.uuid4().hex[:8]}"
    with app.app_context(), db.tenant_session(acme.id) as s:
        connection = s.get(Connection, connection_id)
        assert connection is not None
        linked = link_accounts(s, connection, [Account(f"org-{nobody}", nobody)])
    assert linked[f"org-{nobody}"].customer_id is None  # waits in Admin -> Customer matching
    (device_id,) = write(app, acme.id, [device("WAITING-PC", f"org-{nobody}", external_id=uuid.uuid4().hex)]).values()
    waiting = stored(app, acme.id, device_id)
    assert waiting is not None and waiting.customer_id is None and waiting.customer_link_id is not None
    alert_id = an_alert_on(app, Org(acme.id, connection_id, 0, "", ""), device_id, customer_id=None, at=NOW)
    customer = org(app, acme.id)  # the customer it turns out to be
    admin: MadeUser = make_user(acme, "admin")
    with app.app_context(), db.tenant_session(acme.id) as s:
        link = s.get(CustomerLink, waiting.customer_link_id)
        assert link is not None
        outcome = perform(
            "customer_link.link", Target("customer_link", str(link.id), nobody), {"customer_id": customer.customer_id},
            actor=Actor("user", str(admin.id), admin.email, "admin"), surface="ui", session=s, tenant_id=acme.id,
        )  # fmt: skip
    assert outcome.ok, outcome.message
    found = stored(app, acme.id, device_id)
    assert found is not None and found.customer_id == customer.customer_id
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(Alert.customer_id).where(Alert.id == alert_id)) == customer.customer_id


def test_a_complete_sync_run_marks_what_the_rmm_no_longer_lists_removed_and_brings_it_back_when_it_does(
    app: Flask, acme: TenantFixture
) -> None:
    """Through the sync engine's writer, as a sync run writes an RMM's device pages and then completes."""
    organisation = org(app, acme.id)
    stays, goes = (device(n, organisation, external_id=f"{organisation.external_id}-{n}") for n in ("STAYS", "GOES"))

    def run(records: list[Any]) -> int:
        with app.app_context(), db.tenant_session(acme.id) as s:
            connection = s.get(Connection, organisation.connection_id)
            assert connection is not None
            sync_run = SyncRun(tenant_id=acme.id, connection_id=connection.id, trigger="manual", status="running")
            s.add(sync_run)
            s.flush()
            writer = Writer(s, connection, sync_run, "NinjaOne")
            writer.write_page(records)
            writer.complete()
            return writer.retired_devices

    run([stays, goes])
    assert run([stays]) >= 1  # every device of the connection this run did not list: GOES among them
    ids = {d.name: d for d in _devices_of(app, acme.id, organisation.customer_id)}
    assert ids["GOES"].removed_at is not None and ids["STAYS"].removed_at is None
    html = login(app, acme).get(tab_url(app, organisation.customer_id)).get_data(as_text=True)
    assert names(html) == ["STAYS"]  # the tab lists what the RMM still has
    run([stays, goes])
    assert {d.name: d.removed_at for d in _devices_of(app, acme.id, organisation.customer_id)} == {
        "STAYS": None, "GOES": None,
    }  # fmt: skip


def _devices_of(app: Flask, tenant_id: int, customer_id: int) -> list[Device]:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = list(s.scalars(select(Device).where(Device.customer_id == customer_id)))
        s.expunge_all()
        return found


# --- the hub's Devices tab -------------------------------------------------------------------------------------


def test_the_devices_tab_lists_offline_first_then_by_name_with_state_contact_rmm_and_open_alerts(
    app: Flask, acme: TenantFixture
) -> None:
    organisation = org(app, acme.id)
    site = org(app, acme.id, parent_id=organisation.customer_id)
    written = write(app, acme.id, [
        device("B-ONLINE", organisation, external_id=uuid.uuid4().hex),
        device("A-ONLINE", organisation, external_id=uuid.uuid4().hex, device_class="server", vendor_class="WINDOWS_SERVER"),
        device("Z-OFF", organisation, external_id=uuid.uuid4().hex, online=False, last_contact_at=NOW - timedelta(days=3)),
        device("C-OFF", site, external_id=uuid.uuid4().hex, online=False, last_contact_at=None, site="Branch office"),
    ])  # fmt: skip
    server = next(i for e, i in written.items() if stored(app, acme.id, i).name == "A-ONLINE")  # type: ignore[union-attr]
    an_alert_on(app, organisation, server, severity="critical", at=NOW)
    client = login(app, acme)
    page = client.get(tab_url(app, organisation.customer_id))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and 'aria-current="page">Devices</a>' in html
    assert names(html) == ["C-OFF", "Z-OFF", "A-ONLINE", "B-ONLINE"]  # a site's device on its customer's tab too
    assert "4 devices" in html and "2 offline" in html
    row = re.search(r'<tr data-testid="device-row".*?A-ONLINE.*?</tr>', html, re.S)
    assert row is not None
    assert 'class="device-state online"' in row.group(0) and ">Server<" in row.group(0)
    assert "1 min ago" in row.group(0) and re.search(r'title="\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d UTC"', row.group(0))
    assert "count-alerts-bad" in row.group(
        0
    ) and f'href="/devices/{pid(app, "device", server)}#alerts">1</a>' in row.group(0)
    assert "Ninjaone" in row.group(0) or "NinjaOne" in row.group(0)  # the RMM it comes from
    assert 'data-testid="lifecycle"></td>' in row.group(0)  # reserved for lifecycle chips, empty until they come
    off = re.search(r'<tr data-testid="device-row".*?C-OFF.*?</tr>', html, re.S)
    assert off is not None and "Offline" in off.group(0) and "never" in off.group(0) and "Branch office" in off.group(0)
    partial = client.get(tab_url(app, organisation.customer_id), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and 'id="device-results"' in partial


def test_the_tab_filters_by_class_and_state_in_the_url(app: Flask, acme: TenantFixture) -> None:
    organisation = org(app, acme.id)
    write(app, acme.id, [
        device("SRV-1", organisation, external_id=uuid.uuid4().hex, device_class="server", online=False),
        device("SRV-2", organisation, external_id=uuid.uuid4().hex, device_class="server"),
        device("LT-1", organisation, external_id=uuid.uuid4().hex, device_class="laptop", online=False),
    ])  # fmt: skip
    client = login(app, acme)

    def shown(query: str) -> list[str]:
        return names(client.get(tab_url(app, organisation.customer_id, query)).get_data(as_text=True))

    assert shown("?class=server") == ["SRV-1", "SRV-2"]
    assert shown("?state=offline") == ["LT-1", "SRV-1"]
    assert shown("?class=server&state=online") == ["SRV-2"]
    assert shown("?class=toaster&state=maybe") == ["LT-1", "SRV-1", "SRV-2"]  # what it cannot read, it ignores
    html = client.get(tab_url(app, organisation.customer_id, "?class=mac")).get_data(as_text=True)
    assert "No devices match these filters" in html and "has 3 devices" in html
    assert '<option value="server" selected>Server (2)</option>' in html or 'value="mac"' not in html


def test_a_big_customer_pages_100_devices_at_a_time(app: Flask, acme: TenantFixture) -> None:
    organisation = org(app, acme.id)
    fleet(app, organisation, 250, offline_every=10**6)  # all online: by name
    client = login(app, acme)
    first = client.get(tab_url(app, organisation.customer_id)).get_data(as_text=True)
    assert len(names(first)) == 100 and names(first)[0] == "WS-0001" and "1–100 of 250" in first
    assert f'href="{tab_url(app, organisation.customer_id, "?page=2")}"' in first
    third = client.get(tab_url(app, organisation.customer_id, "?page=3")).get_data(as_text=True)
    assert names(third) == [f"WS-{n:04d}" for n in range(201, 251)] and "201–250 of 250" in third
    beyond = client.get(tab_url(app, organisation.customer_id, "?page=40")).get_data(as_text=True)
    assert names(beyond) == names(third)  # past the end: the last page


def test_the_empty_tab_says_what_to_do(app: Flask, acme: TenantFixture, make_user: Any) -> None:
    """No RMM at all: connect one. An RMM the customer is not linked to: link it. Linked with no devices: wait."""
    with app.app_context(), db.system_session() as s:
        tenant = Tenant(slug=f"d{uuid.uuid4().hex[:10]}", name="No RMM MSP")
        s.add(tenant)
        s.flush()
        bare = TenantFixture(tenant.id, tenant.slug, f"{tenant.slug}.localhost", "", {})
    admin: MadeUser = make_user(bare, "admin")
    with app.app_context(), db.tenant_session(bare.id) as s:
        customer = Customer(tenant_id=bare.id, name="Lonely Ltd", normalized_name="lonely")
        s.add(customer)
        s.flush()
        lonely = customer.id
    client = login(app, bare, admin.email)
    hub = client.get(f"/customers/{pid(app, 'customer', lonely)}").get_data(as_text=True)
    assert 'aria-current="page">Timeline</a>' in hub and ">Devices</a>" in hub  # listed, but not where it opens
    html = client.get(tab_url(app, lonely)).get_data(as_text=True)
    assert "Connect an RMM (NinjaOne) under" in html and "to see this customer's devices." in html
    assert 'href="/admin/integrations/"' in html

    # An RMM that has listed devices (of another customer), and a customer linked to one of its organisations.
    write(app, acme.id, [device("SOMEONE-ELSES", org(app, acme.id), external_id=uuid.uuid4().hex)])
    acme_client = login(app, acme)
    unlinked = org(app, acme.id)
    with app.app_context(), db.tenant_session(acme.id) as s:
        stranger = Customer(tenant_id=acme.id, name=f"Unlinked {uuid.uuid4().hex[:6]}", normalized_name="x")
        s.add(stranger)
        s.flush()
        stranger_id = stranger.id
    html = acme_client.get(tab_url(app, stranger_id)).get_data(as_text=True)
    assert "is not linked to one of its organisations yet" in html and 'href="/admin/matching"' in html
    html = acme_client.get(tab_url(app, unlinked.customer_id)).get_data(as_text=True)
    assert "has no devices yet" in html and "after the next sync" in html


# --- a device's page -------------------------------------------------------------------------------------------


def test_a_device_page_shows_its_facts_alerts_open_first_tickets_naming_it_and_its_timeline(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    organisation = org(app, acme.id)
    (device_id,) = write(app, acme.id, [
        device("ACME-FS01", organisation, external_id=uuid.uuid4().hex, device_class="server", vendor_class="WINDOWS_SERVER",
               os_name="Windows Server 2022", serial="CZ1234", make="HPE", model="ProLiant DL380", site="Head office"),
    ]).values()  # fmt: skip
    old = an_alert_on(app, organisation, device_id, condition="CPU", at=NOW - timedelta(days=2), message="CPU 99 %")
    with app.app_context(), db.tenant_session(acme.id) as s:
        resolved = s.get(Alert, old)
        assert resolved is not None
        resolved.state = AlertState.RESOLVED.value
    an_alert_on(app, organisation, device_id, at=NOW - timedelta(minutes=5), message="C: has 4 % free")
    an_alert_on(
        app, organisation, device_id, source="Datto RMM", condition="disk.critical", at=NOW, severity="critical"
    )
    psa = _psa(app, acme.id)
    with app.app_context(), db.tenant_session(acme.id) as s:
        connection = s.get(Connection, psa)
        assert connection is not None
        here = Linked(None, organisation.customer_id)
        tickets = [
            TicketRecord(f"{uuid.uuid4().hex[:8]}", None, summary, None, None, "New", False, NOW - timedelta(hours=n), NOW)
            for n, summary in enumerate(("Disk full on acme-fs01 again", "ACME-FS010 will not boot", "Printer offline"))
        ]  # fmt: skip
        write_tickets(s, connection, tickets, lambda _: here)
        s.add(TimelineEvent(tenant_id=acme.id, customer_id=organisation.customer_id, connection_id=organisation.connection_id,
                            device_id=device_id, source="NinjaOne", kind="rmm.patch", occurred_at=NOW - timedelta(hours=1),
                            title="Patch cycle completed: 12 of 12 patches installed", dedup_key=uuid.uuid4().hex))  # fmt: skip
        s.add(TimelineEvent(tenant_id=acme.id, customer_id=organisation.customer_id, source="Veeam", kind="backup.job",
                            occurred_at=NOW, title="Another device's backup", dedup_key=uuid.uuid4().hex))  # fmt: skip
    client = login(app, acme)
    page = client.get(f"/devices/{pid(app, 'device', device_id)}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>ACME-FS01</h1>" in html
    for fact in (
        "Windows Server 2022",
        "CZ1234",
        "HPE ProLiant DL380",
        "Head office",
        "WINDOWS_SERVER",
        organisation.name,
    ):
        assert fact in html, fact
    alerts = re.findall(r'<tr data-testid="device-alert".*?</tr>', html, re.S)
    assert len(alerts) == 2  # the two tools' disk alerts are one row
    assert "Open" in alerts[0] and "NinjaOne, Datto RMM" in alerts[0] and "Critical" in alerts[0]
    assert "Resolved" in alerts[1] and "CPU 99 %" in alerts[1]
    assert re.findall(
        r'data-testid="device-ticket"><a [^>]*><span class="mono small">#\w+</span> ([^<]+)</a>', html
    ) == ["Disk full on acme-fs01 again"]  # by its name as a whole word: not FS010, not the printer
    assert "Patch cycle completed" in html and "Another device&#39;s backup" not in html
    assert f'href="/customers/{pid(app, "customer", organisation.customer_id)}/devices"' in html  # back to the tab

    outsider = login(app, northwind)
    assert outsider.get(f"/devices/{pid(app, 'device', device_id)}").status_code == 404
    assert client.get("/devices/dev_0000000000000").status_code == 404


def _psa(app: Flask, tenant_id: int) -> int:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.scalar(select(Connection.id).where(Connection.vendor == "devices-psa"))
        if found is None:
            connection = Connection(
                tenant_id=tenant_id, vendor="devices-psa", name="PSA", config=Sealed.seal(tenant_id, {})
            )
            s.add(connection)
            s.flush()
            found = connection.id
        return found


# --- the REST API ----------------------------------------------------------------------------------------------


def test_the_api_lists_devices_by_name_with_filters_and_pages_and_gets_one_with_its_alerts(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    organisation = org(app, acme.id)
    written = write(app, acme.id, [
        device("API-3", organisation, external_id=uuid.uuid4().hex, online=False),
        device("API-1", organisation, external_id=uuid.uuid4().hex, device_class="server", details={"ip": "10.0.0.5"}),
        device("API-2", organisation, external_id=uuid.uuid4().hex),
    ])  # fmt: skip
    by_name = {stored(app, acme.id, i).name: i for i in written.values()}  # type: ignore[union-attr]
    an_alert_on(app, organisation, by_name["API-1"], at=NOW)
    theirs = org(app, northwind.id)
    write(app, northwind.id, [device("API-SECRET", theirs, external_id=uuid.uuid4().hex)])
    raw = make_token(app, acme)
    customer = pid(app, "customer", organisation.customer_id)
    listed = walk(app, acme, raw, f"/devices?customer_id={customer}")
    assert [d["name"] for d in listed] == ["API-1", "API-2", "API-3"]
    first = listed[0]
    assert first["id"] == pid(app, "device", by_name["API-1"]) and first["customer_id"] == customer
    assert (first["device_class"], first["online"], first["open_alerts"], first["customer_name"]) == (
        "server", True, 1, organisation.name,
    )  # fmt: skip
    assert [d["name"] for d in walk(app, acme, raw, f"/devices?customer_id={customer}&online=false")] == ["API-3"]
    assert [d["name"] for d in walk(app, acme, raw, f"/devices?customer_id={customer}&device_class=server")] == [
        "API-1"
    ]
    assert "API-SECRET" not in {d["name"] for d in walk(app, acme, raw, "/devices?limit=200", limit=200)}
    refused(app, acme, raw, "/devices?device_class=toaster")
    refused(app, acme, raw, "/devices?cursor=nonsense")

    one = api(app, acme, raw, f"/devices/{pid(app, 'device', by_name['API-1'])}")
    assert one.status_code == 200, one.get_json()
    body = one.get_json()
    assert body["details"] == {"ip": "10.0.0.5"} and body["open_alerts"] == 1
    assert [(a["condition_class"], a["status"], a["sources"]) for a in body["alerts"]] == [
        ("disk", "open", ["NinjaOne"])
    ]
    assert (
        api(app, northwind, make_token(app, northwind), f"/devices/{pid(app, 'device', by_name['API-1'])}").status_code
        == 404
    )
    no_read = make_token(app, acme, scopes=("write:alerts",))
    assert api(app, acme, no_read, "/devices").status_code == 403


def test_devices_are_mcp_tools_that_answer_from_the_tokens_workspace(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    organisation = org(app, acme.id)
    (device_id,) = write(app, acme.id, [device("MCP-FS01", organisation, external_id=uuid.uuid4().hex)]).values()
    write(app, northwind.id, [device("MCP-SECRET", org(app, northwind.id), external_id=uuid.uuid4().hex)])
    raw = make_token(app, acme)

    async def work(client: Client) -> Any:
        listed = await client.call_tool("list_devices", {"customer_id": pid(app, "customer", organisation.customer_id)})
        one = await client.call_tool("get_device", {"device_id": pid(app, "device", device_id)})
        every = await client.call_tool("list_devices", {"limit": 200})
        return listed, one, every

    with serving(app) as port:
        listed, one, every = mcp_session(port, acme, raw, work)
    assert not listed.is_error, listed.content
    assert [d["name"] for d in listed.structured_content["data"]] == ["MCP-FS01"]
    assert one.structured_content["name"] == "MCP-FS01" and one.structured_content["alerts"] == []
    assert "MCP-SECRET" not in {d["name"] for d in every.structured_content["data"]}
