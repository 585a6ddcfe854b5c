"""The Alerts screen on real PostgreSQL and Redis: the list and its filters in the URL, the counts under them,
resolve (and what it means for a backup alert), unmute, bulk acknowledge / resolve, the Muted tab, a hub's
tab that stays inside its customer, and the priority "Open as ticket" picks. Each test works in a workspace
of its own (the alert refresh is tenant-wide)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

from flask import Flask, url_for
from sqlalchemy import select, update

from jobs import rules as rules_job
from tests.conftest import MadeUser, TenantFixture, csrf_token, login, pid
from tests.test_rules import Msp, alerts, count, msp, set_status
from vectis.actions import Actor, Target, perform
from vectis.alerts.as_ticket import matching_priority
from vectis.models import (
    Alert,
    AlertMute,
    AuditEntry,
    BackupConnector,
    BackupConnectorStatus,
    Customer,
    RuleEvent,
    Tenant,
    TicketPriority,
)
from vectis.platform import db


@dataclass(frozen=True)
class Job:
    customer: str
    name: str
    vendor: str  # veeam | keepit
    state: str
    attempt_hours: float | None  # hours ago
    success_hours: float | None
    message: str | None = None
    failures: int = 0


# What a technician's morning looks like: failures, stale and silent jobs across five customers and two tools.
MORNING = (
    Job("Bayside Bistro", "BBX - SQL servers 04", "veeam", "failed", 3, 52, "Failed to flush the transaction log: disk full on repository REPO-02", 2),
    Job("Bayside Bistro", "BBX - File server", "veeam", "failed", 5, 29, "Agent lost connection to the backup server", 1),
    Job("Bayside Bistro", "Microsoft 365 - Exchange", "keepit", "warning", 2, 60),
    Job("Dunmore Dental Practice", "DD - Imaging PACS", "veeam", "failed", 1, 26, "VSS snapshot timed out on DD-PACS01", 3),
    Job("Dunmore Dental Practice", "DD - Practice DB", "veeam", "success", 61, 61),
    Job("Dunmore Dental Practice", "Microsoft 365 - OneDrive", "keepit", "running", 31, 40),
    Job("Coast Logistics", "CL - ERP nightly", "veeam", "failed", 4, 100, "Repository CL-NAS is read-only", 5),
    Job("Coast Logistics", "CL - Warehouse VMs", "veeam", "stopped", 6, 54),
    Job("Coast Logistics", "Microsoft 365 - SharePoint", "keepit", "failed", 2, 27, "Token expired for tenant coastlogistics.onmicrosoft.com", 2),
    Job("Fenwick Legal LLP", "FL - Document store", "veeam", "failed", 2, 25, "Source disk D: not found on FL-FS01", 1),
    Job("Fenwick Legal LLP", "FL - Case DB", "veeam", "success", 80, 80),
    Job("Fenwick Legal LLP", "Microsoft 365 - Teams", "keepit", "warning", 3, 70),
    Job("Eastfield Veterinary Clinic", "EV - Clinic server", "veeam", "failed", 7, 31, "Not enough space on REPO-01 (12 GB free, 240 GB needed)", 4),
    Job("Eastfield Veterinary Clinic", "EV - Xray archive", "veeam", "success", 90, 90),
    Job("Eastfield Veterinary Clinic", "Microsoft 365 - Exchange", "keepit", "stopped", 1, 75),
    Job("Eastfield Veterinary Clinic", "EV - Reception PCs", "veeam", "failed", 9, 33, "Agent is not responding on EV-RECEPT02", 1),
)  # fmt: skip


@dataclass(frozen=True)
class Morning:
    tenant: TenantFixture
    tech: MadeUser
    customers: dict[str, int]  # name -> id
    jobs: dict[str, int]  # job name -> id (the first of that name)
    veeam: int
    keepit: int

    @property
    def msp(self) -> Msp:
        return Msp(self.tenant.id, self.veeam, self.keepit, self.customers["Bayside Bistro"])


def workspace(app: Flask, make_user: Any) -> tuple[TenantFixture, MadeUser, Msp]:
    """A workspace of this test's own (Veeam and Keepit connected), with a technician who can sign in on its host."""
    m = msp(app)
    with app.app_context(), db.system_session() as s:
        slug = s.scalars(select(Tenant.slug).where(Tenant.id == m.tenant_id)).one()
    tenant = TenantFixture(m.tenant_id, slug, f"{slug}.localhost", "", {})
    return tenant, make_user(tenant, "technician"), m


def morning(app: Flask, make_user: Any, jobs: tuple[Job, ...] = MORNING) -> Morning:
    """A workspace with the backup jobs of ``jobs`` and the alerts Vectis raises for them."""
    tenant, tech, m = workspace(app, make_user)
    now = datetime.now(UTC)
    connections = {"veeam": m.veeam, "keepit": m.keepit}
    customers: dict[str, int] = {}
    made: dict[str, int] = {}
    with app.app_context(), db.tenant_session(tenant.id) as s:
        for spec in jobs:
            if spec.customer not in customers:
                customer = Customer(tenant_id=tenant.id, name=spec.customer, normalized_name=spec.customer.lower())
                s.add(customer)
                s.flush()
                customers[spec.customer] = customer.id
            row = BackupConnector(
                tenant_id=tenant.id, connection_id=connections[spec.vendor], customer_id=customers[spec.customer],
                external_id=f"{spec.customer}/{spec.name}", name=spec.name,
                kind="Backup" if spec.vendor == "veeam" else "Microsoft 365",
                vendor_type="BackupVm" if spec.vendor == "veeam" else "o365",
            )  # fmt: skip
            s.add(row)
            s.flush()
            made.setdefault(spec.name, row.id)
            s.add(
                BackupConnectorStatus(
                    tenant_id=tenant.id, backup_connector_id=row.id, state=spec.state, vendor_status=spec.state,
                    last_attempt_at=now - timedelta(hours=spec.attempt_hours) if spec.attempt_hours is not None else None,
                    last_success_at=now - timedelta(hours=spec.success_hours) if spec.success_hours is not None else None,
                    last_duration_seconds=1800, consecutive_failures=spec.failures, message=spec.message,
                )
            )  # fmt: skip
    with app.app_context():
        rules_job.refresh(tenant.id)
    return Morning(tenant, tech, customers, made, connections["veeam"], connections["keepit"])


def act(app: Flask, tenant_id: int, verb: str, alert_id: int, payload: dict[str, Any] | None = None) -> Any:
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return perform(
            verb,
            Target("alert", str(alert_id), "alert"),
            payload or {},
            actor=Actor("user", None, "sam@msp.test", "technician"),
            surface="ui",
            session=s,
            tenant_id=tenant_id,
        )


def alert_of(app: Flask, tenant_id: int, job_id: int, state: str | None = None) -> int:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        query = select(Alert.id).where(Alert.subject_id == job_id).order_by(Alert.id.desc())
        return s.scalars(query.where(Alert.state == state) if state else query).first() or 0


def text(html: str) -> str:
    """What a person reads: tags gone, whitespace folded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def tab_count(html: str, label: str) -> int:
    found = re.search(rf">{label}<span class=\"count\">(\d+)</span>", html)
    assert found, f"no {label} tab"
    return int(found.group(1))


# --- the list --------------------------------------------------------------------------------------------


def test_it_lists_one_line_per_alert_critical_first_with_its_evidence_on_demand(app: Flask, make_user: Any) -> None:
    m = morning(app, make_user)
    client = login(app, m.tenant, m.tech.email)
    html = client.get("/alerts").get_data(as_text=True)
    rows = re.findall(r'<tr data-testid="alert-row".*?</tr>', html, re.S)
    assert len(rows) == tab_count(html, "Open") == 16
    severities = [re.search(r'class="badge [^"]*">(\w+)<', r).group(1) for r in rows]  # type: ignore[union-attr]
    assert severities == sorted(severities, key=["Critical", "Warning"].index)
    first = text(rows[0])
    assert "Backup" in first and "Acknowledge" in first
    # The evidence is in the row after it, hidden until asked for.
    detail = re.search(r'<tr class="alert-detail"[^>]*hidden[^>]*>(.*?)</tr>', html, re.S)
    assert detail and "Last attempt" in detail.group(1) and "Last success" in detail.group(1)
    assert "disk full on repository REPO-02" in html


def test_it_says_there_are_more_only_when_there_are(app: Flask, make_user: Any) -> None:
    tenant, tech, m = workspace(app, make_user)
    client = login(app, tenant, tech.email)
    note = "The 200 most urgent"

    def raise_alerts(first: int, n: int) -> None:
        now = datetime.now(UTC)
        alike = {"tenant_id": tenant.id, "customer_id": m.customer_id, "source": "Vectis", "condition": "rule:1"}
        with app.app_context(), db.tenant_session(tenant.id) as s:
            for i in range(first, first + n):
                s.add(
                    Alert(
                        **alike, severity="warning", subject_type="ticket", subject_id=i, subject_label=f"#{i}",
                        message="Unanswered for 4 h", first_seen_at=now, last_seen_at=now, announced_at=now,
                    )
                )  # fmt: skip

    raise_alerts(1, 200)  # exactly a page: all of them are on it
    html = client.get("/alerts").get_data(as_text=True)
    assert html.count('data-testid="alert-row"') == tab_count(html, "Open") == 200 and note not in html
    raise_alerts(201, 1)  # one more than a page: the page says so, and still shows a page
    html = client.get("/alerts").get_data(as_text=True)
    assert html.count('data-testid="alert-row"') == 200 and tab_count(html, "Open") == 201 and note in html


def test_filters_live_in_the_url_and_the_tab_counts_follow_them(
    app: Flask, make_user: Any, northwind: TenantFixture
) -> None:
    m = morning(app, make_user)
    client = login(app, m.tenant, m.tech.email)
    harbor = pid(app, "customer", m.customers["Coast Logistics"])
    act(app, m.tenant.id, "alert.acknowledge", alert_of(app, m.tenant.id, m.jobs["CL - ERP nightly"]))

    html = client.get(f"/alerts?customer={harbor}&severity=critical").get_data(as_text=True)
    rows = text(" ".join(re.findall(r'<tr data-testid="alert-row".*?</tr>', html, re.S)))
    assert "Microsoft 365 - SharePoint" in rows and "CL - ERP nightly" not in rows  # acknowledged: its own tab
    assert "CL - Warehouse VMs" not in rows and "Bayside" not in rows  # a warning; another customer
    assert (tab_count(html, "Open"), tab_count(html, "Acknowledged")) == (1, 1)
    chips = text(re.search(r'data-testid="filter-chips".*?</div>', html, re.S).group(0))  # type: ignore[union-attr]
    assert "Customer: Coast Logistics" in chips and "Severity: Critical" in chips
    # Each chip links to the same list without its own filter.
    assert f'href="/alerts?customer={harbor}"' in html and 'href="/alerts?severity=critical"' in html

    keepit = client.get("/alerts?state=acknowledged&source=Keepit").get_data(as_text=True)
    assert "No acknowledged alerts match these filters These filters find 5 open" in text(keepit)
    assert (tab_count(keepit, "Open"), tab_count(keepit, "Acknowledged")) == (5, 0)

    # Another workspace's customer is no filter at all: the list shows this workspace's alerts, nothing of theirs.
    with app.app_context(), db.tenant_session(northwind.id) as s:
        theirs = Customer(tenant_id=northwind.id, name="Their Customer", normalized_name="their customer")
        s.add(theirs)
        s.flush()
        theirs_id = theirs.id
    foreign = client.get(f"/alerts?customer={pid(app, 'customer', theirs_id)}").get_data(as_text=True)
    assert tab_count(foreign, "Open") == 15 and "Their Customer" not in foreign


def test_resolving_a_backup_alert_by_hand_holds_until_the_job_runs_again(app: Flask, make_user: Any) -> None:
    m = morning(app, make_user)
    tenant, failed, silent = m.tenant.id, m.jobs["BBX - SQL servers 04"], m.jobs["DD - Practice DB"]
    done = act(app, tenant, "alert.resolve", alert_of(app, tenant, failed))
    assert done.ok and "The job's next success resolves it anyway. Resolved by hand" in done.message
    assert act(app, tenant, "alert.resolve", alert_of(app, tenant, silent)).ok
    refresh(app, m)
    refresh(app, m)  # the same failed run, looked at again: it stays resolved
    assert states(app, m, failed) == ["resolved"] and states(app, m, silent) == ["resolved"]

    # The job's next run fails too: that is news, so a new alert opens.
    set_status(app, m.msp, failed, last_attempt_at=datetime.now(UTC), consecutive_failures=3)
    refresh(app, m)
    assert states(app, m, failed) == ["resolved", "open"]

    # A silent job never runs again: once the threshold has passed since the resolve, it alerts again.
    with app.app_context(), db.tenant_session(tenant) as s:
        s.execute(
            update(Alert).where(Alert.subject_id == silent).values(resolved_at=datetime.now(UTC) - timedelta(hours=49))
        )
    refresh(app, m)
    assert states(app, m, silent) == ["resolved", "open"]


def test_unmute_ends_the_mute_early_and_gives_its_alerts_back_as_they_were(app: Flask, make_user: Any) -> None:
    m = morning(app, make_user)
    tenant = m.tenant.id
    first, second = (
        alert_of(app, tenant, m.jobs["BBX - SQL servers 04"]),
        alert_of(app, tenant, m.jobs["BBX - File server"]),
    )
    assert act(app, tenant, "alert.acknowledge", first).ok
    acknowledged = handling(app, tenant, first)
    muted = act(app, tenant, "alert.mute", first, {"hours": "24", "reason": "Repository swap on Saturday"})
    assert muted.ok, muted.message
    assert handling(app, tenant, first)[0] == "muted"
    created = count(app, m.msp, RuleEvent, RuleEvent.trigger == "alert.created")

    done = act(app, tenant, "alert.unmute", second)
    assert done.ok and "BBX - File server is open again with 1 other alert" in done.message, done.message
    # The acknowledged one is still someone's, since the same moment; the open one is open.
    assert handling(app, tenant, first) == acknowledged
    assert states(app, m, m.jobs["BBX - File server"]) == ["open"]
    with app.app_context(), db.tenant_session(tenant) as s:
        mute = s.scalars(select(AlertMute)).one()
        assert mute.until <= datetime.now(UTC)
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "alert.unmute")).one()
        assert (
            entry.result == "ok"
            and entry.payload["response"]["ended_mutes"][0]["reason"] == "Repository swap on Saturday"
        )
    # Rules were told of both when they opened: the mute ending is no news to them.
    assert count(app, m.msp, RuleEvent, RuleEvent.trigger == "alert.created") == created
    refresh(app, m)
    assert handling(app, tenant, first) == acknowledged and states(app, m, m.jobs["BBX - File server"]) == ["open"]
    assert count(app, m.msp, RuleEvent, RuleEvent.trigger == "alert.created") == created
    refused = act(app, tenant, "alert.unmute", second)
    assert refused.result == "failed" and refused.message == "This alert is open, not muted."


def test_a_mute_that_runs_out_keeps_acknowledgements_and_announces_only_what_it_kept_quiet(
    app: Flask, make_user: Any
) -> None:
    m = morning(app, make_user)
    tenant = m.tenant.id
    first, second = (
        alert_of(app, tenant, m.jobs["BBX - SQL servers 04"]),
        alert_of(app, tenant, m.jobs["BBX - File server"]),
    )
    assert act(app, tenant, "alert.acknowledge", first).ok
    acknowledged = handling(app, tenant, first)
    assert act(app, tenant, "alert.mute", second, {"hours": "4", "reason": "Repository swap"}).ok
    # Under the mute, the customer's Exchange backup fails: its alert is recorded, muted, and rules hear nothing.
    exchange = m.jobs["Microsoft 365 - Exchange"]
    set_status(app, m.msp, exchange, state="failed", last_attempt_at=datetime.now(UTC), consecutive_failures=1)
    created = count(app, m.msp, RuleEvent, RuleEvent.trigger == "alert.created")
    refresh(app, m)
    born_muted = alert_of(app, tenant, exchange, "muted")
    assert born_muted and count(app, m.msp, RuleEvent, RuleEvent.trigger == "alert.created") == created

    with app.app_context(), db.tenant_session(tenant) as s:
        s.execute(update(AlertMute).values(until=datetime.now(UTC) - timedelta(minutes=1)))
    refresh(app, m)
    assert handling(app, tenant, first) == acknowledged
    assert handling(app, tenant, second)[0] == "open" and handling(app, tenant, born_muted)[0] == "open"
    # Only the alert rules never heard of is news: one alert.created, for it; the others had theirs at opening.
    assert count(app, m.msp, RuleEvent, RuleEvent.trigger == "alert.created") == created + 1
    for alert_id in (first, second, born_muted):
        assert count(app, m.msp, RuleEvent, RuleEvent.trigger == "alert.created", RuleEvent.subject_id == alert_id) == 1
    refresh(app, m)
    assert count(app, m.msp, RuleEvent, RuleEvent.trigger == "alert.created") == created + 1


def test_the_muted_tab_says_why_until_when_and_who(app: Flask, make_user: Any) -> None:
    m = morning(app, make_user)
    client = login(app, m.tenant, m.tech.email)
    alert = alert_of(app, m.tenant.id, m.jobs["EV - Clinic server"])
    token = csrf_token(client, "/alerts")
    answer = client.post(
        f"/alerts/{pid(app, 'alert', alert)}/mute",
        data={
            "csrf_token": token,
            "hours": "4",
            "reason": "Moving REPO-01 to the new NAS",
            "next": "/alerts?state=muted",
        },
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/alerts?state=muted"
    html = client.get("/alerts?state=muted").get_data(as_text=True)
    row = text(re.search(r'<tr data-testid="alert-row".*?<tr class="alert-detail"', html, re.S).group(0))  # type: ignore[union-attr]
    until = datetime.now(UTC) + timedelta(hours=4)
    assert f"Muted until {until.day} {until:%b} " in row and "— 3 h left by Test Technician" in row
    assert "Moving REPO-01 to the new NAS" in row
    assert "Unmute" in row  # the next step, as its button
    assert tab_count(html, "Muted") == 2  # the customer's other failed job went quiet with it


def test_bulk_acknowledge_is_one_audited_action_per_alert_with_one_summary(app: Flask, make_user: Any) -> None:
    m = morning(app, make_user)
    client = login(app, m.tenant, m.tech.email)
    tenant = m.tenant.id
    chosen = [
        alert_of(app, tenant, m.jobs[name]) for name in ("FL - Document store", "FL - Case DB", "CL - ERP nightly")
    ]
    act(app, tenant, "alert.acknowledge", chosen[2])  # someone was quicker
    ids = [pid(app, "alert", a) for a in chosen] + [pid(app, "alert", 2**62), "garbage"]  # gone; not an id
    answer = client.post(
        "/alerts/bulk",
        data={"csrf_token": csrf_token(client, "/alerts"), "action": "acknowledge", "alert": ids, "next": "/alerts"},
    )
    assert answer.status_code == 302
    flash = text(client.get("/alerts").get_data(as_text=True))
    assert (
        "Acknowledged 2 alerts. Not acknowledged: CL - ERP nightly: This alert is acknowledged; only an open alert "
        "can be acknowledged. 1 no longer exists: reload the page." in flash
    )
    with app.app_context(), db.tenant_session(tenant) as s:
        rows = s.execute(
            select(AuditEntry.target_id, AuditEntry.result).where(
                AuditEntry.action == "alert.acknowledge", AuditEntry.actor_label == m.tech.email
            )
        ).all()
    assert sorted(rows) == sorted([(str(chosen[0]), "ok"), (str(chosen[1]), "ok"), (str(chosen[2]), "failed")])

    resolved = client.post(
        "/alerts/bulk",
        data={"csrf_token": csrf_token(client, "/alerts"), "action": "resolve", "alert": ids[:2], "next": "/alerts"},
    )
    assert resolved.status_code == 302
    assert "Resolved 2 alerts." in text(client.get("/alerts").get_data(as_text=True))
    nothing = client.post("/alerts/bulk", data={"csrf_token": csrf_token(client, "/alerts"), "action": "resolve"})
    assert nothing.status_code == 302
    assert "Select the alerts first" in text(client.get("/alerts").get_data(as_text=True))


def test_a_read_only_user_sees_the_list_but_no_way_to_change_it(app: Flask, make_user: Any) -> None:
    m = morning(app, make_user)
    viewer = make_user(m.tenant, "read_only")
    client = login(app, m.tenant, viewer.email)
    html = client.get("/alerts").get_data(as_text=True)
    assert tab_count(html, "Open") == 16
    assert ">Acknowledge</button>" not in html and 'name="alert"' not in html and "alert-bulk" not in html
    answer = client.post("/alerts/bulk", data={"csrf_token": csrf_token(client, "/alerts"), "action": "resolve"})
    assert answer.status_code == 403


def test_a_customers_tab_keeps_its_resolved_alerts_inside_the_customer(app: Flask, make_user: Any) -> None:
    m = morning(app, make_user)
    client = login(app, m.tenant, m.tech.email)
    bayside = pid(app, "customer", m.customers["Bayside Bistro"])
    act(app, m.tenant.id, "alert.resolve", alert_of(app, m.tenant.id, m.jobs["BBX - File server"]))
    act(app, m.tenant.id, "alert.resolve", alert_of(app, m.tenant.id, m.jobs["FL - Document store"]))
    html = client.get(f"/customers/{bayside}/alerts").get_data(as_text=True)
    assert f'href="/customers/{bayside}/alerts?state=resolved"' in html
    assert 'href="/alerts?' not in html  # no link out of the customer
    assert (tab_count(html, "Open"), tab_count(html, "Resolved")) == (2, 1)
    resolved = client.get(f"/customers/{bayside}/alerts?state=resolved").get_data(as_text=True)
    rows = text(" ".join(re.findall(r'<tr data-testid="alert-row".*?</tr>', resolved, re.S)))
    assert "BBX - File server" in rows and "FL - Document store" not in rows
    assert "sam@msp.test" in rows  # who resolved it


def test_an_alert_opens_by_its_own_link_with_its_evidence(app: Flask, make_user: Any) -> None:
    m = morning(app, make_user)
    client = login(app, m.tenant, m.tech.email)
    alert = alert_of(app, m.tenant.id, m.jobs["CL - ERP nightly"])
    html = client.get(f"/alerts/{pid(app, 'alert', alert)}").get_data(as_text=True)
    assert len(re.findall(r'data-testid="alert-row"', html)) == 1
    detail = re.search(r'<tr class="alert-detail"[^>]*>(.*?)</tr>', html, re.S)
    assert detail and "hidden" not in detail.group(0).split(">")[0]
    words = text(detail.group(1))
    assert "Repository CL-NAS is read-only" in words and "Failed runs in a row 5" in words
    assert "no success for 4 days" in words


# --- Open as ticket: the priority --------------------------------------------------------------------------


def priorities(*specs: tuple[str, int, bool]) -> list[TicketPriority]:
    return [
        TicketPriority(
            tenant_id=1, connection_id=1, external_id=str(n), name=name, sort_order=order, is_default=default
        )
        for n, (name, order, default) in enumerate(specs)
    ]


def test_a_critical_alert_gets_the_priority_above_the_desks_normal_one() -> None:
    connectwise = priorities(
        ("Do not respond", 1, False),  # sort orders that say nothing: the numbers in the names decide
        ("Priority 4 - Scheduled Maintenance", 2, False),
        ("Priority 3 - Normal Response", 9, True),
        ("Priority 2 - Quick Response", 4, False),
        ("Priority 1 - Emergency Response", 5, False),
    )
    assert matching_priority(connectwise, "critical").name == "Priority 2 - Quick Response"  # type: ignore[union-attr]
    assert matching_priority(connectwise, "warning").name == "Priority 3 - Normal Response"  # type: ignore[union-attr]
    assert matching_priority(connectwise, "info").name == "Priority 3 - Normal Response"  # type: ignore[union-attr]
    # No default flagged: the middle of the list is normal. Names without numbers: the PSA's sort order.
    plain = priorities(("Low", 40, False), ("Urgent", 10, False), ("High", 20, False), ("Medium", 30, False))
    assert matching_priority(plain, "critical").name == "High"  # type: ignore[union-attr]
    assert matching_priority(plain, "warning").name == "Medium"  # type: ignore[union-attr]
    assert matching_priority(priorities(("P1 - Critical", 0, True)), "critical").name == "P1 - Critical"  # type: ignore[union-attr]
    assert matching_priority([], "critical") is None


# --- helpers that read like the product ------------------------------------------------------------------


def refresh(app: Flask, m: Morning) -> None:
    with app.app_context():
        rules_job.refresh(m.tenant.id)


def states(app: Flask, m: Morning, job_id: int) -> list[str]:
    return [s for _, s, j in alerts(app, m.msp) if j == job_id]


def handling(app: Flask, tenant_id: int, alert_id: int) -> tuple[str, datetime | None, str | None]:
    """An alert's state and who acknowledged it when."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        return alert.state, alert.acknowledged_at, alert.acknowledged_by


def test_bulk_actions_cannot_reach_another_workspaces_alerts(app: Flask, make_user: Any) -> None:
    ours, theirs = morning(app, make_user), morning(app, make_user)
    client = login(app, theirs.tenant, theirs.tech.email)
    target = alert_of(app, ours.tenant.id, ours.jobs["BBX - SQL servers 04"])
    client.post(
        "/alerts/bulk",
        data={"csrf_token": csrf_token(client, "/alerts"), "action": "resolve", "alert": [pid(app, "alert", target)]},
    )
    assert "No alert was resolved. 1 no longer exists: reload the page." in text(
        client.get("/alerts").get_data(as_text=True)
    )
    assert states(app, ours, ours.jobs["BBX - SQL servers 04"]) == ["open"]


def test_an_alerts_actions_post_to_its_own_url_and_the_actions_name(app: Flask) -> None:
    """The list writes each action's address as the alert's own URL plus the action (alerts/_actions.html), not
    through url_for 800 times a page: that must stay what alerts.act's route is."""
    with app.test_request_context():
        for action in ("acknowledge", "resolve", "ticket", "mute", "unmute"):
            here = url_for("alerts.show", alert_id=4242)
            assert url_for("alerts.act", alert_id=4242, action=action) == f"{here}/{action}"
