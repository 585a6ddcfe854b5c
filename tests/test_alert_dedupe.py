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

from tests.conftest import TenantFixture
from tests.device_world import Org, device, org, write
from vectis.actions import Actor, Target, perform
from vectis.alerts.dedupe import Raised, Report, raise_alert
from vectis.alerts.service import label
from vectis.models import Alert, AlertState, RuleEvent, classify_condition
from vectis.platform import db

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def server(app: Flask, acme: TenantFixture) -> tuple[Org, int]:
    """A customer with one server at the RMM: a fresh one per test, so no test sees another's alerts."""
    organisation = org(app, acme.id)
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
