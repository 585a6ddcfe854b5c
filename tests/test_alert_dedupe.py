"""Alerts from several tools collapse deterministically (issue 20): same customer + device + condition class within
30 minutes is one row, same customer + device + source within an hour is one row, anything else its own row; an
alert on no device is deduplicated as it always was."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import TenantFixture, own_workspace
from tests.device_world import Org, device, org, write
from vectis.actions import Actor, Target, perform
from vectis.alerts.dedupe import Raised, Report, raise_alert, raise_alerts
from vectis.alerts.service import label
from vectis.models import Alert, AlertMute, AlertState, RuleEvent, classify_condition
from vectis.platform import db

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
UNLIKE = {"id", "customer_id", "device_id", "subject_id", "created_at"}  # what differs between two customers' rows


@pytest.fixture
def server(app: Flask, acme: TenantFixture) -> tuple[Org, int]:
    """A customer with one server at the RMM: a fresh one per test, so no test sees another's alerts."""
    return server_at(app, acme)


def server_at(app: Flask, acme: TenantFixture, organisation: Org | None = None) -> tuple[Org, int]:
    """A server at the RMM, at a fresh customer unless ``organisation`` is given."""
    organisation = organisation or org(app, acme.id)
    ids = write(app, acme.id, [device("FS01", organisation, external_id=f"fs01-{uuid.uuid4().hex}")])
    return organisation, next(iter(ids.values()))


def report(organisation: Org | None, device_id: int | None, **fields: Any) -> Report:
    values: dict[str, Any] = {
        "source": "NinjaOne",
        "condition": "DISK_FREE_SPACE",
        "severity": "warning",
        "subject_type": "rmm_alert",
        "subject_id": int(uuid.uuid4().int % 10**12),  # each report its own vendor alert unless told
        "subject_label": "FS01",
        "message": "C: has 4 % free",
        "at": T0,
        "customer_id": organisation.customer_id if organisation else None,
        "device_id": device_id,
        **fields,
    }
    return Report(**values)


def raised(app: Flask, tenant_id: int, *reports: Report) -> list[Raised]:
    """Each report raised in its own transaction, in order, as reports arriving one after another are."""
    found = []
    for r in reports:
        with app.app_context(), db.tenant_session(tenant_id) as s:
            done = raise_alert(s, tenant_id, r)
            s.flush()
            s.expunge(done.alert)
            found.append(done)
    return found


def ids(results: list[Raised]) -> list[int]:
    return [r.alert.id for r in results]


def alert(app: Flask, tenant_id: int, alert_id: int) -> Alert:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.get(Alert, alert_id)
        assert found is not None
        s.expunge(found)
        return found


@pytest.mark.parametrize(
    ("condition", "kind"),
    [
        ("DISK_FREE_SPACE", "disk"),
        ("disk.critical", "disk"),
        ("lowDiskSpace", "disk"),
        ("CPU", "cpu"),
        ("cpu_usage_high", "cpu"),
        ("MEMORY", "memory"),
        ("ANTIVIRUS_THREAT", "av"),
        ("av_definitions_outdated", "av"),
        ("PATCH_FAILED", "patch"),
        ("pending_reboot", "patch"),
        ("DEVICE_DOWN", "offline"),
        ("agent_offline", "offline"),
        ("backup_failed", "backup"),
        ("WINDOWS_SERVICE", "service"),
        ("download_slow", "other"),  # whole words: "download" is not "down"
        ("rule:12", "other"),
    ],
)
def test_a_condition_has_a_class_whoever_names_it(condition: str, kind: str) -> None:
    assert classify_condition(condition) == kind


def test_the_same_class_within_30_minutes_is_one_row_and_31_is_another(
    app: Flask, acme: TenantFixture, server: tuple[Org, int]
) -> None:
    organisation, device_id = server
    first, at_29 = raised(
        app, acme.id,
        report(organisation, device_id),
        report(organisation, device_id, source="Datto RMM", condition="disk.critical", at=T0 + 29 * MIN),
    )  # fmt: skip
    assert at_29.alert.id == first.alert.id and at_29.why == "class"
    # 31 minutes after the row was last seen (at 29): another tool's disk alert is another row.
    (at_60,) = raised(app, acme.id, report(organisation, device_id, source="SentinelOne", at=T0 + 60 * MIN))
    assert at_60.new and at_60.alert.id != first.alert.id
    row = alert(app, acme.id, first.alert.id)
    assert row.last_seen_at == T0 + 29 * MIN and row.first_seen_at == T0
    assert row.details["sources"] == ["NinjaOne", "Datto RMM"]
    assert [(m["source"], m["condition"]) for m in row.details["merged"]] == [("Datto RMM", "disk.critical")]


def test_exactly_30_minutes_is_within_the_window(app: Flask, acme: TenantFixture, server: tuple[Org, int]) -> None:
    organisation, device_id = server
    results = raised(
        app, acme.id,
        report(organisation, device_id),
        report(organisation, device_id, source="Datto RMM", at=T0 + 30 * MIN),
        report(organisation, device_id, source="Huntress", at=T0 + 60 * MIN + timedelta(seconds=1)),
    )  # fmt: skip
    assert ids(results)[0] == ids(results)[1] != ids(results)[2]


def test_the_same_source_within_an_hour_is_one_row_and_61_minutes_is_another(
    app: Flask, acme: TenantFixture, server: tuple[Org, int]
) -> None:
    organisation, device_id = server
    disk, cpu_at_59, memory_at_120 = raised(
        app, acme.id,
        report(organisation, device_id),
        report(organisation, device_id, condition="CPU", severity="critical", at=T0 + 59 * MIN),
        report(organisation, device_id, condition="MEMORY", at=T0 + 120 * MIN),  # 61 min after cpu
    )  # fmt: skip
    assert cpu_at_59.alert.id == disk.alert.id and cpu_at_59.why == "source"
    assert memory_at_120.new
    row = alert(app, acme.id, disk.alert.id)
    assert row.severity == "critical"  # the worse of what it absorbed
    assert row.condition == "DISK_FREE_SPACE" and row.condition_class == "disk"  # what it was raised as
    assert row.details["sources"] == ["NinjaOne"]
    assert [m["condition"] for m in row.details["merged"]] == ["CPU"]


def test_another_device_or_another_customer_is_another_row(
    app: Flask, acme: TenantFixture, server: tuple[Org, int]
) -> None:
    organisation, device_id = server
    other_device = next(
        iter(write(app, acme.id, [device("FS02", organisation, external_id=uuid.uuid4().hex)]).values())
    )
    elsewhere = org(app, acme.id)
    results = raised(
        app, acme.id,
        report(organisation, device_id),
        report(organisation, other_device, at=T0 + MIN),
        report(elsewhere, device_id, at=T0 + 2 * MIN),  # the device's row says another customer
    )  # fmt: skip
    assert len(set(ids(results))) == 3 and all(r.new for r in results)


def test_without_a_device_alerts_are_deduplicated_as_before(app: Flask, acme: TenantFixture) -> None:
    """Two tools' disk alerts on no device stay two rows; the same subject and condition again is the same row
    (however much later), and nothing is noted in its details."""
    organisation = org(app, acme.id)
    subject = int(uuid.uuid4().int % 10**12)
    first, other_tool, again = raised(
        app, acme.id,
        report(organisation, None, subject_id=subject),
        report(organisation, None, source="Datto RMM", at=T0 + MIN),
        report(organisation, None, subject_id=subject, at=T0 + 5 * 60 * MIN, severity="critical"),
    )  # fmt: skip
    assert other_tool.new and other_tool.alert.id != first.alert.id
    assert again.alert.id == first.alert.id and again.why == "subject"
    assert again.message == f"Alert #{first.alert.id} was already open; marked as seen again."
    row = alert(app, acme.id, first.alert.id)
    assert "sources" not in row.details and row.severity == "warning" and row.last_seen_at == T0 + 5 * 60 * MIN


def test_two_sources_raising_the_same_disk_alert_make_one_alert_that_rules_hear_of_once(
    app: Flask, acme: TenantFixture, server: tuple[Org, int]
) -> None:
    organisation, device_id = server
    ninja, datto = raised(
        app, acme.id,
        report(organisation, device_id, severity="warning"),
        report(organisation, device_id, source="Datto RMM", condition="disk_usage_critical", severity="critical",
               at=T0 + 3 * MIN, message="D: 98 % used"),
    )  # fmt: skip
    assert datto.alert.id == ninja.alert.id
    assert (
        datto.message
        == f"Alert #{ninja.alert.id} already covers disk trouble on FS01 (from NinjaOne and Datto RMM): marked as seen again."
    )
    row = alert(app, acme.id, ninja.alert.id)
    assert (row.severity, row.state, row.device_id) == ("critical", "open", device_id)
    assert row.details["merged"][0]["message"] == "D: 98 % used"
    with app.app_context(), db.tenant_session(acme.id) as s:
        told = s.scalar(
            select(func.count()).where(
                RuleEvent.trigger == "alert.created", RuleEvent.subject_type == "alert", RuleEvent.subject_id == row.id
            )
        )
    assert told == 1


def test_a_problem_reported_every_20_minutes_stays_one_row(
    app: Flask, acme: TenantFixture, server: tuple[Org, int]
) -> None:
    organisation, device_id = server
    sources = ("NinjaOne", "Datto RMM")
    results = raised(
        app, acme.id, *(report(organisation, device_id, source=sources[n % 2], at=T0 + 20 * n * MIN) for n in range(7))
    )  # fmt: skip
    assert len(set(ids(results))) == 1
    assert alert(app, acme.id, results[0].alert.id).last_seen_at == T0 + 120 * MIN


def test_a_resolved_alert_takes_nothing_in_and_the_nearest_row_is_chosen(
    app: Flask, acme: TenantFixture, server: tuple[Org, int]
) -> None:
    organisation, device_id = server
    (first,) = raised(app, acme.id, report(organisation, device_id))
    with app.app_context(), db.tenant_session(acme.id) as s:
        row = s.get(Alert, first.alert.id)
        assert row is not None
        row.state, row.resolved_at, row.resolved_by = AlertState.RESOLVED.value, T0 + MIN, "Kim"
    again, cpu, disk_late = raised(
        app, acme.id,
        report(organisation, device_id, at=T0 + 2 * MIN),
        report(organisation, device_id, source="Datto RMM", condition="cpu", at=T0 + 40 * MIN),
        # Both open rows are within the hour; only the disk one is the same class, and only within 30 min of it.
        report(organisation, device_id, source="Datto RMM", condition="disk.critical", at=T0 + 25 * MIN),
    )  # fmt: skip
    assert again.new and again.alert.id != first.alert.id
    assert cpu.new
    assert disk_late.alert.id == again.alert.id and disk_late.why == "class"


def test_reports_raised_together_land_as_if_raised_one_after_another_a_tie_included(app: Flask) -> None:
    """An RMM's page raises its alerts in one call; each report must land where it would have, one at a time. The
    last report is an hour from two rows of its tool (another class each, two hours apart), one stored before and one
    the same call opens: the older row takes it, as it does when both were stored."""
    workspace = own_workspace(app)  # of its own: the alert list's tests count acme's alerts

    def reports(organisation: Org, device_id: int) -> list[Report]:
        return [
            report(organisation, device_id, condition="DISK_FREE_SPACE", at=T0),
            report(organisation, device_id, condition="CPU", at=T0 + 120 * MIN),
            report(organisation, device_id, condition="MEMORY", at=T0 + 60 * MIN),
        ]

    def shape(results: list[Raised]) -> list[tuple[int, str | None, str]]:
        first = min(r.alert.id for r in results)
        return [(r.alert.id - first, r.why, r.alert.condition) for r in results]

    one_by_one = shape(raised(app, workspace.id, *reports(*server_at(app, workspace))))
    disk, cpu, memory = reports(*server_at(app, workspace))
    (stored,) = raised(app, workspace.id, disk)
    with app.app_context(), db.tenant_session(workspace.id) as s:
        together = shape([stored, *raise_alerts(s, workspace.id, [cpu, memory])])
        rows = s.scalars(select(Alert).where(Alert.device_id == disk.device_id).order_by(Alert.id)).all()
        written = [(a.condition, a.last_seen_at, a.details["sources"]) for a in rows]
    assert together == one_by_one == [(0, None, "DISK_FREE_SPACE"), (1, None, "CPU"), (0, "source", "DISK_FREE_SPACE")]
    assert written == [("DISK_FREE_SPACE", T0 + 60 * MIN, ["NinjaOne"]), ("CPU", T0 + 120 * MIN, ["NinjaOne"])]


def test_a_page_of_reports_opens_rows_as_one_report_does(app: Flask) -> None:
    """Every column of a row a page of reports opens is what raising its report alone writes (a muted condition
    opening quiet included), and rules hear of each new row once."""
    workspace = own_workspace(app)  # of its own: the alert list's tests count acme's alerts
    now = datetime.now(UTC).replace(microsecond=0)
    quiet = org(app, workspace.id)
    with app.app_context(), db.tenant_session(workspace.id) as s:
        s.add(AlertMute(tenant_id=workspace.id, customer_id=quiet.customer_id, condition="CPU", until=now + 60 * MIN,
                        reason="maintenance", created_by="Kim"))  # fmt: skip

    def reports() -> list[Report]:
        """Each time on a server of its own (at a fresh customer, and at the customer whose CPU alerts are muted)."""
        organisation, device_id = server_at(app, workspace)
        return [
            report(organisation, device_id, condition="DISK_FREE_SPACE", at=now, details={"vendor_alert": "a1"}),
            report(None, None, condition="backup_stale", subject_type="backup_job", subject_id=device_id, at=now),
            report(*server_at(app, workspace, quiet), condition="CPU", at=now),
        ]

    def columns(app: Flask, ids: list[int]) -> list[dict[str, Any]]:
        with app.app_context(), db.tenant_session(workspace.id) as s:
            rows = s.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id)).all()
            heard = s.scalars(select(RuleEvent.subject_id).where(RuleEvent.subject_type == "alert",
                                                                 RuleEvent.subject_id.in_(ids)))  # fmt: skip
            told = set(heard)
            return [
                {**{c.key: getattr(a, c.key) for c in Alert.__table__.columns if c.key not in UNLIKE},
                 "heard": a.id in told}
                for a in rows
            ]  # fmt: skip

    alone = [r.alert.id for r in raised(app, workspace.id, *reports())]
    with app.app_context(), db.tenant_session(workspace.id) as s:
        together = [r.alert.id for r in raise_alerts(s, workspace.id, reports())]
    by_one, by_page = columns(app, alone), columns(app, together)
    seen = {"first_seen_at": now, "last_seen_at": now, "source": "NinjaOne", "severity": "warning"}
    said = {"subject_label": "FS01", "message": "C: has 4 % free", "connection_id": None, "ticket_id": None}
    nobody = {"acknowledged_by": None, "acknowledged_at": None, "resolved_by": None, "resolved_at": None}
    assert by_page == [
        {**seen, **said, **nobody, "tenant_id": workspace.id, "condition": "DISK_FREE_SPACE", "condition_class": "disk",
         "subject_type": "rmm_alert", "state": "open", "announced_at": now, "heard": True,
         "details": {"vendor_alert": "a1", "sources": ["NinjaOne"]}},
        {**seen, **said, **nobody, "tenant_id": workspace.id, "condition": "backup_stale", "condition_class": "backup",
         "subject_type": "backup_job", "state": "open", "announced_at": now, "heard": True, "details": {}},
        {**seen, **said, **nobody, "tenant_id": workspace.id, "condition": "CPU", "condition_class": "cpu",
         "subject_type": "rmm_alert", "state": "muted", "announced_at": None, "heard": False,
         "details": {"sources": ["NinjaOne"]}},
    ]  # fmt: skip
    assert by_page == by_one


def test_two_tools_reporting_at_the_same_moment_make_one_row(
    app: Flask, acme: TenantFixture, server: tuple[Org, int]
) -> None:
    """The first report's transaction holds the device until it commits: the second waits, then joins its row."""
    organisation, device_id = server
    first_in = threading.Event()
    found: dict[str, int] = {}

    def first() -> None:
        with app.app_context(), db.tenant_session(acme.id) as s:
            found["first"] = raise_alert(s, acme.id, report(organisation, device_id)).alert.id
            first_in.set()
            threading.Event().wait(0.5)  # still uncommitted while the second arrives

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    (second,) = raised(app, acme.id, report(organisation, device_id, source="Datto RMM", at=T0 + MIN))
    thread.join()
    assert second.alert.id == found["first"]


def test_a_rules_create_an_alert_on_a_device_joins_the_rmms_alert(
    app: Flask, acme: TenantFixture, server: tuple[Org, int]
) -> None:
    """Through ``alert.raise`` as a rule calls it: the device in the payload, the customer taken from the device."""
    organisation, device_id = server
    now = datetime.now(UTC)
    (rmm_alert,) = raised(app, acme.id, report(organisation, device_id, at=now - 5 * MIN))
    rule = Actor("rule", "77", "Disk watch", "admin")
    payload = {"severity": "critical", "message": "Disk nearly full", "subject_type": "device", "subject_id": device_id,
               "subject_label": "FS01", "condition": "low_disk", "device_id": device_id}  # fmt: skip
    with app.app_context(), db.tenant_session(acme.id) as s:
        outcome = perform("alert.raise", Target("device", str(device_id), "FS01"), payload, actor=rule, surface="rule",
                          session=s, tenant_id=acme.id)  # fmt: skip
    assert outcome.ok, outcome.message
    assert outcome.response["alert_id"] == rmm_alert.alert.id
    assert "already covers disk trouble on FS01" in outcome.message
    row = alert(app, acme.id, rmm_alert.alert.id)
    assert row.details["sources"] == ["NinjaOne", "Disk watch"] and row.severity == "critical"
    with app.app_context(), db.tenant_session(acme.id) as s:
        missing = perform("alert.raise", Target("device", "0", "gone"), {**payload, "device_id": 2**40}, actor=rule,
                          surface="rule", session=s, tenant_id=acme.id)  # fmt: skip
    assert not missing.ok and "no longer in Vectis" in missing.message


def test_a_vendors_condition_reads_as_words_with_its_abbreviations_kept() -> None:
    assert [label(c) for c in ("DISK_FREE_SPACE", "CPU", "AV_THREAT", "backup_stale", "rule:12")] == [
        "Disk free space", "CPU", "AV threat", "Backup stale", "Rule:12",
    ]  # fmt: skip


def test_every_alert_written_gets_its_conditions_class_even_many_at_once(app: Flask, acme: TenantFixture) -> None:
    """The class is the column's default, worked out per row: Vectis's own backup alerts (written many in one
    statement) get theirs without naming it."""
    conditions = ("backup_failed", "CPU", "rule:9", "DISK_FREE_SPACE")
    with app.app_context(), db.tenant_session(acme.id) as s:
        made = [
            Alert(tenant_id=acme.id, source="Veeam", condition=c, severity="warning", subject_type="test",
                  subject_id=int(uuid.uuid4().int % 10**12), subject_label="x", message="x", first_seen_at=T0,
                  last_seen_at=T0)
            for c in conditions
        ]  # fmt: skip
        s.add_all(made)
        s.flush()
        ids = [a.id for a in made]
    with app.app_context(), db.tenant_session(acme.id) as s:
        found = dict(s.execute(select(Alert.condition, Alert.condition_class).where(Alert.id.in_(ids))).all())
    assert found == {"backup_failed": "backup", "CPU": "cpu", "rule:9": "other", "DISK_FREE_SPACE": "disk"}
