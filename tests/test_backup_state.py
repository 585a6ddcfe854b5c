"""One truth for backup state (issue 16, finding 1): the customer list's badges, the hub header, the Backups
tab and its summary, the alerts and the "needs attention first" order all say the same thing about the same
job, for every state the derivation knows."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import TenantFixture, login, pid
from vectis.alerts.service import refresh_backup_alerts
from vectis.backups.state import ATTENTION, LABEL
from vectis.backups.writer import last_success_of
from vectis.connectors.base import BackupJobRecord
from vectis.connectors.veeam import parse_time
from vectis.models import Alert, BackupConnector, BackupConnectorStatus, Connection, Customer
from vectis.platform import db
from vectis.simulators.vspc import VspcState

H = timedelta(hours=1)

# state -> (vendor state, last attempt ago, last success ago, usual duration s, removed ago)
CASES: dict[str, tuple[str | None, timedelta | None, timedelta | None, int | None, timedelta | None]] = {
    "success": ("success", 2 * H, 2 * H, 600, None),
    "warning": ("warning", 2 * H, 2 * H, 600, None),
    "failed": ("failed", 2 * H, 52 * H, 600, None),  # failed, though no success for 52 h: the case that disagreed
    "running": ("running", 0.2 * H, 20 * H, 600, None),
    "stopped": ("stopped", 2 * H, 2 * H, 600, None),
    "stale": ("warning", 2 * H, 60 * H, 600, None),
    "silent": ("success", 60 * H, 59 * H, 600, None),  # success ended after the attempt began: text uses the attempt
    "stuck": ("running", 9 * H, 30 * H, 40 * 60, None),
    "never": (None, None, None, None, None),
    "removed": ("success", H, H, 60, 3 * H),
}


def customer_with(app: Flask, tenant: TenantFixture, state: str, jobs: int = 1) -> int:
    vendor_state, attempt, success, duration, removed = CASES[state]
    now = datetime.now(UTC)
    name = f"State {state} {uuid.uuid4().hex[:6]}"
    with app.app_context(), db.tenant_session(tenant.id) as s:
        customer = Customer(tenant_id=tenant.id, name=name, normalized_name=name.lower())
        s.add(customer)
        s.flush()
        connection = s.scalar(select(Connection).where(Connection.vendor == "veeam"))
        assert connection is not None
        for n in range(jobs):
            job = BackupConnector(
                tenant_id=tenant.id,
                connection_id=connection.id,
                customer_id=customer.id,
                external_id=f"state-{customer.id}-{n}",
                name=f"{state} job {n}",
                kind="Backup",
                vendor_type="BackupVm",
                removed_at=now - removed if removed else None,
            )
            s.add(job)
            s.flush()
            if vendor_state is not None:
                s.add(
                    BackupConnectorStatus(
                        tenant_id=tenant.id,
                        backup_connector_id=job.id,
                        state=vendor_state,
                        vendor_status=vendor_state.title(),
                        last_attempt_at=now - attempt if attempt else None,
                        last_success_at=now - success if success else None,
                        last_duration_seconds=duration,
                    )
                )
        return customer.id


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("state", list(CASES))
def test_every_surface_says_the_same_state(app: Flask, acme: TenantFixture, state: str) -> None:
    customer_id = customer_with(app, acme, state)
    label = LABEL.get(state, state)
    admin = login(app, acme)
    with app.app_context(), db.tenant_session(acme.id) as s:
        name = s.get(Customer, customer_id).name  # type: ignore[union-attr]
        refresh_backup_alerts(s, acme.id)
        s.commit()
        job_ids = list(s.scalars(select(BackupConnector.id).where(BackupConnector.customer_id == customer_id)))
        conditions = sorted(
            s.scalars(
                select(Alert.condition).where(
                    Alert.subject_type == "backup_job", Alert.subject_id.in_(job_ids), Alert.state != "resolved"
                )
            )
        )
    listed = _text(admin.get(f"/customers?q={name}").get_data(as_text=True))
    hub = admin.get(f"/customers/{pid(app, 'customer', customer_id)}")
    header = _text(hub.get_data(as_text=True).split('data-testid="hub-badges"', 1)[1].split("</div>", 1)[0])
    tab = _text(admin.get(f"/customers/{pid(app, 'customer', customer_id)}/backups").get_data(as_text=True))

    assert f"1 {label}" in tab  # the Backups tab's summary
    if state in ATTENTION:
        assert f"1 {label}" in listed  # the list's badge
        assert f"1 backup {label}" in header
        assert conditions == [f"backup_{state}"]  # one alert, for the same state
    else:
        assert not any(f"1 {LABEL.get(a, a)}" in listed for a in ATTENTION)
        assert "Nothing needs attention" in header
        assert conditions == []


def test_needs_attention_first_puts_a_failure_above_more_stale_jobs(app: Flask, acme: TenantFixture) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = {state: customer_with(app, acme, state, jobs=2 if state == "stale" else 1) for state in ("stale", "failed")}
    with app.app_context(), db.tenant_session(acme.id) as s:
        for customer_id in ids.values():
            customer = s.get(Customer, customer_id)
            assert customer is not None
            customer.name = f"Order {tag} {customer.name}"
            customer.normalized_name = customer.name.lower()
    page = login(app, acme).get(f"/customers?q=Order+{tag}&sort=attention").get_data(as_text=True)
    assert page.index("State failed") < page.index("State stale")  # 1 failed outranks 2 stale


def test_a_success_never_shows_after_the_last_attempt(app: Flask) -> None:
    """Issue 16, finding 2: a success dated at its run's end showed later than Last attempt, the run's start."""
    start, end = datetime(2026, 11, 24, 4, 49, tzinfo=UTC), datetime(2026, 11, 24, 5, 56, tzinfo=UTC)
    record = BackupJobRecord(
        external_id="j", customer_external_id=None, name="Nightly", kind="Backup", vendor_type="BackupVm",
        state="success", vendor_status="Success", last_attempt_at=start, last_end_at=end,
    )  # fmt: skip
    assert last_success_of(record) == start
    snapshot = dataclasses.replace(record, last_success_at=end)  # Keepit dates a success by its snapshot
    assert last_success_of(snapshot) == start
    earlier = dataclasses.replace(record, state="failed", last_success_at=start - 30 * H)
    assert last_success_of(earlier) == start - 30 * H


def test_no_simulator_reports_a_finished_run_after_now() -> None:
    """The cause of "last success 20:09" at 18:27: the VSPC seed let a run started minutes ago end hours later."""
    now = datetime.now(UTC)
    for state in (VspcState.seeded(), VspcState.at_scale(companies=60, jobs=600, alarms=10)):
        for job in state.server_jobs + state.agent_jobs:
            for field in ("lastRun", "lastEndTime"):
                moment = parse_time(job.get(field))
                assert moment is None or moment <= now, (job["name"], field, job.get(field))


def test_needs_attention_first_puts_a_critical_detection_above_a_stale_backup_and_both_above_calm(
    app: Flask, acme: TenantFixture
) -> None:
    """The list's Open column counts detections, alerts and tickets beside the backup badges; its attention sort read
    the backups alone, so a customer under attack sorted with the calm ones."""
    from tests.security_world import detection, site, write  # noqa: PLC0415 - the security world, only here

    tag = uuid.uuid4().hex[:6]
    stale = customer_with(app, acme, "stale")
    breach = site(app, acme.id, f"Order {tag} C breach")
    write(app, breach, [detection(breach, "Ransom.Lockbit", severity="critical")])
    with app.app_context(), db.tenant_session(acme.id) as s:
        customer = s.get(Customer, stale)
        assert customer is not None
        customer.name = customer.normalized_name = f"order {tag} b stale"
        s.add(Customer(tenant_id=acme.id, name=f"Order {tag} A calm", normalized_name=f"order {tag} a calm"))
    page = login(app, acme).get(f"/customers?q=Order+{tag}&sort=attention").get_data(as_text=True)
    order = sorted(("C breach", "b stale", "A calm"), key=page.index)
    assert order == ["C breach", "b stale", "A calm"]
