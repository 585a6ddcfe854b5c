"""NinjaOne's devices and open alerts, against its simulator over real HTTP, through the real sync job: devices on the
Devices tab, alerts through the dedupe, an alert cleared at NinjaOne resolving in Vectis, a device moved between
organisations, and resolving (reset there, read back) and acknowledging (Vectis only) from Vectis."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import requests
from flask import Flask
from sqlalchemy import select, text

from tests.conftest import serving
from tests.vendors.support import Setup, count, deliveries, sync, webhook_url, work
from tests.vendors.test_ninjaone import Ninja, ninja, ninja_connection
from vectis.actions.base import Outcome, Target
from vectis.actions.perform import perform
from vectis.alerts.service import label
from vectis.audit.actors import Actor
from vectis.connectors.base import AlertRecord, DeviceRecord
from vectis.connectors.ninjaone import ALERT_SEVERITY, CALLBACK_HEADER, SECRET_SHOWN, parse_alert, parse_device
from vectis.ingest import lanes
from vectis.ingest.lanes import Part
from vectis.ingest.sync import CUTS, Writer
from vectis.models import Alert, AlertState, Connection, Device, RuleEvent, SyncRun, VendorAlert
from vectis.platform import db

__all__ = ["ninja"]  # the fixture, used by name

SAM = Actor("user", None, "sam@msp.test", "technician")


def act(app: Flask, setup: Setup, verb: str, alert_id: int, *, dry: bool = False) -> Outcome:
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        return perform(
            verb, Target("alert", str(alert_id), "alert"), {}, actor=SAM, surface="ui", dry_run=dry, session=s,
            tenant_id=setup.tenant_id,
        )  # fmt: skip


def held(app: Flask, setup: Setup) -> dict[str, tuple[int, Any]]:
    """NinjaOne uid -> (the Vectis alert it landed in, when it cleared)."""
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = s.execute(select(VendorAlert.external_id, VendorAlert.alert_id, VendorAlert.cleared_at)).all()
    return {uid: (alert_id, cleared) for uid, alert_id, cleared in rows}


def alert(app: Flask, setup: Setup, alert_id: int) -> Alert:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        found = s.get(Alert, alert_id)
        assert found is not None
        s.expunge(found)
        return found


def lone_alert(app: Flask, setup: Setup) -> tuple[str, int]:
    """A NinjaOne alert alone in its Vectis alert (no other report merged into it)."""
    rows = held(app, setup)
    per_alert = Counter(alert_id for alert_id, _ in rows.values())
    return next((uid, alert_id) for uid, (alert_id, _) in sorted(rows.items()) if per_alert[alert_id] == 1)


def test_devices_and_alerts_parse_from_ninjaone_json() -> None:
    device = parse_device(
        {"id": 41, "organizationId": 3, "locationId": 7, "nodeClass": "WINDOWS_SERVER", "offline": False,
         "displayName": "FS01", "lastContact": 1741944612.5, "references": {"location": {"name": "Main office"}}}
    )  # fmt: skip
    assert device is not None
    assert (device.external_id, device.customer_external_id, device.device_class, device.os_name) == (
        "41", "3", "server", "Windows Server",
    )  # fmt: skip
    assert device.online and device.site == "Main office" and device.vendor_class == "WINDOWS_SERVER"
    assert parse_device({"id": 42, "nodeClass": "NMS_SWITCH", "offline": True}).device_class == "network"  # type: ignore[union-attr]
    assert parse_device({"nodeClass": "MAC"}) is None
    raised = parse_alert(
        {"uid": "a1b2", "deviceId": 41, "createTime": 1741944612, "severity": "MAJOR", "message": "C: is 96% full",
         "sourceType": "CONDITION_AGENT_DISK_FREE_SPACE", "device": {"organizationId": 3, "displayName": "FS01"}}
    )  # fmt: skip
    assert raised is not None
    assert (raised.severity, raised.customer_external_id, raised.device_name) == ("critical", "3", "FS01")
    assert parse_alert({"uid": "x", "severity": "CRITICAL"}) is None  # no time: not an alert Vectis can place
    # Its condition in words, as titles and tickets say it: NinjaOne's namespace words dropped.
    assert [label(c) for c in ("CONDITION_AGENT_DISK_FREE_SPACE", "AGENT_OFFLINE", "CONDITION_AGENT_CPU")] == [
        "Disk free space", "Offline", "CPU",
    ]  # fmt: skip


def test_a_sync_lists_the_devices_and_raises_the_open_alerts_once(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    state = ninja.state
    assert run.counts["devices"] == len(state.devices) and run.counts["alerts"] == len(state.open_alerts())
    assert count(app, setup, Device) == len(state.devices)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        devices = {d.external_id: d for d in s.scalars(select(Device))}
        alerts = {a.id: a for a in s.scalars(select(Alert).where(Alert.source == "NinjaOne"))}
        s.expunge_all()
    for device_id, vendor in state.devices.items():
        row = devices[str(device_id)]
        assert row.name == vendor["displayName"] and row.online is (not vendor["offline"])
        assert row.customer_id is not None and row.site
    rows = held(app, setup)
    assert set(rows) == {a["uid"] for a in state.open_alerts()}  # every open alert, each in one Vectis alert
    for vendor_alert in state.open_alerts():
        landed = alerts[rows[vendor_alert["uid"]][0]]
        assert landed.device_id == devices[str(vendor_alert["deviceId"])].id
        assert landed.customer_id == devices[str(vendor_alert["deviceId"])].customer_id
        assert landed.state == AlertState.OPEN.value
    # The dedupe merged a device's burst into one row, and kept the worst severity of what it holds.
    assert len(alerts) <= len(rows)
    for alert_id, landed in alerts.items():
        severities = {
            ALERT_SEVERITY.get(a["severity"], "info") for a in state.open_alerts() if rows[a["uid"]][0] == alert_id
        }
        assert landed.severity == min(severities, key=["critical", "warning", "info"].index)
    # Rules hear of each new one twice over: as an alert, and as an RMM's alert on its device.
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        heard = {
            e.subject_id: e.data for e in s.scalars(select(RuleEvent).where(RuleEvent.trigger == "rmm.alert_created"))
        }
    assert set(heard) == set(alerts)
    some = next(iter(alerts.values()))
    device_row = next(d for d in devices.values() if d.id == some.device_id)
    assert heard[some.id]["device.name"] == device_row.name and heard[some.id]["alert.class"] == some.condition_class
    # Listed again, nothing new opens.
    again = sync(app, setup)
    assert again.status == "succeeded" and count(app, setup, Alert) == len(alerts)
    # A condition that triggers later is one new alert.
    device = next(d for d in state.devices.values() if d["nodeClass"] == "WINDOWS_SERVER" and not d["offline"])
    new, _ = state.raise_alert(device["id"], "cpu", "CRITICAL")
    assert sync(app, setup).status == "succeeded"
    assert new["uid"] in held(app, setup)


def test_a_syncs_alert_page_is_written_in_two_parts_each_devices_alerts_in_one(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    assert sync(app, setup).status == "succeeded"
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        written = s.execute(
            select(text("alerts.xmin::text"), Alert.device_id).select_from(Alert).where(Alert.source == "NinjaOne")
        ).all()
    parts: dict[str, set[int]] = {}
    for transaction, device_id in written:
        parts.setdefault(transaction, set()).add(device_id)
    assert len(parts) == 2  # one transaction a part, one part a lane
    low, high = sorted(parts.values(), key=min)
    assert max(low) < min(high)  # each device's alerts in one part, the parts' devices apart
    assert len(written) == len({a.id for a in alerts_of(app, setup)})


def test_a_lane_held_up_by_a_change_outside_the_sync_gives_up_and_the_next_sync_goes_on(
    app: Flask, ninja: Ninja, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instant update clearing alerts locks a row of the part committing first, then one of the part committing
    second, which holds it while it waits for the first: a circle PostgreSQL cannot see. The lane gives up instead."""
    monkeypatch.setattr(lanes, "LOCK_WAIT", 4)  # time enough to see the second part holding its row
    setup = ninja_connection(app)
    assert sync(app, setup).status == "succeeded"
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = s.execute(select(Alert.device_id, VendorAlert.external_id).join(Alert)).all()
        held = {device: uid for device, uid in rows if device is not None}
    # The highest device's alert is in the part committing first, the lowest device's in the second.
    first, second = held[max(held)], held[min(held)]
    lock = "SELECT 1 FROM vendor_alerts WHERE external_id = %s FOR UPDATE"
    outcome: list[SyncRun] = []
    with app.app_context():
        owner = db.database().owner_engine
        outside, probe = owner.raw_connection(), owner.raw_connection()
    cursor = outside.cursor()
    (pid,) = cursor.execute("SELECT pg_backend_pid()").fetchone()
    syncing = threading.Thread(target=lambda: outcome.append(sync(app, setup)))
    waiting = threading.Thread(target=lambda: cursor.execute(lock, (second,)))
    try:
        cursor.execute(lock, (first,))  # the outside change holds the first part's row
        syncing.start()
        held_by_the_second_part = False
        deadline = time.monotonic() + 3
        while not held_by_the_second_part and time.monotonic() < deadline:  # (it then waits for the first)
            try:
                probe.cursor().execute(lock.replace("UPDATE", "UPDATE NOWAIT"), (second,))
            except psycopg.errors.LockNotAvailable:
                held_by_the_second_part = True
            finally:
                probe.rollback()
            time.sleep(0.02)
        assert held_by_the_second_part
        waiting.start()  # now the outside change waits for the second part: the circle is closed
        syncing.join(timeout=30)
        waiting.join(timeout=5)
        assert not syncing.is_alive() and not waiting.is_alive(), "the sync and the outside change wait on each other"
    finally:
        if waiting.is_alive():  # the circle stayed closed: end the outside change, which frees the sync too
            probe.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
            probe.commit()
            waiting.join(timeout=30)
            syncing.join(timeout=60)
        else:
            outside.rollback()
        outside.close()
        probe.close()
    (run,) = outcome
    assert (run.status, run.error) == ("failed", lanes.WAITED.format(seconds=4))
    again = sync(app, setup)
    assert again.status == "succeeded" and len(held_alerts := held_of(app, setup)) == len(ninja.state.open_alerts())
    assert all(last_seen == again.id for last_seen in held_alerts.values())


def held_of(app: Flask, setup: Setup) -> dict[str, int | None]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        return dict(s.execute(select(VendorAlert.external_id, VendorAlert.last_seen_run_id)).all())


def alerts_of(app: Flask, setup: Setup) -> list[Alert]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        found = list(s.scalars(select(Alert).where(Alert.source == "NinjaOne")))
        s.expunge_all()
        return found


def test_an_alert_page_is_cut_by_device_the_part_committing_first_holding_the_higher_ids(app: Flask) -> None:
    def report(uid: str, device: str | None, condition: str = "CONDITION_CPU") -> AlertRecord:
        return AlertRecord(uid, "3", device, device, condition, "warning", "Busy", datetime(2026, 12, 1, tzinfo=UTC))

    with app.app_context(), db.system_session() as s:
        writer = Writer(s, Connection(vendor="ninjaone"), SyncRun(), "NinjaOne", devices={"d1": 11, "d2": 12, "d3": 13})
        cut = CUTS[AlertRecord]
        page = [report("a1", "d1"), report("a2", "d3"), report("a3", "d1"), report("a4", "d2"), report("a1", "d1", "X")]
        first, second = cut(writer, page)
        # The last report of an id, in page order; a device's reports together; the higher ids commit first.
        assert [r.external_id for r in first.records] == ["a2", "a4"]
        assert [(r.external_id, r.condition) for r in second.records if isinstance(r, AlertRecord)] == [
            ("a1", "X"),
            ("a3", "CONDITION_CPU"),
        ]
        assert (first.span, second.span) == ((12, 13), (11, 11))
        assert second.beside(first) and not first.beside(second)
        assert not Part.of([DeviceRecord("d1", "3", "WS-1", "workstation")]).beside(
            second
        )  # a device page of d1 waits for it
        # A report on a device this run did not write (the dedupe may find it, or put it on the connection): the
        # page is one part, beside no other alerts.
        (whole,) = cut(writer, [*page, report("a9", "d9")])
        assert len(whole.records) == 5 and not whole.beside(second) and not second.beside(whole)
        (alone,) = cut(writer, [report("a5", None)])
        assert not alone.beside(first)
        # Ids alike in the 100 characters stored are one tool alert: never two parts inserting it at once.
        (earlier,), (later,) = (
            cut(writer, [report("x" * 100 + "a", "d3")]),
            cut(writer, [report("x" * 100 + "b", "d1")]),
        )
        assert not later.beside(earlier)


def test_an_alert_cleared_at_ninjaone_resolves_in_vectis(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    sync(app, setup)
    uid, alert_id = lone_alert(app, setup)
    ninja.state.clear_at_vendor(uid)  # reset in NinjaOne, nothing sent to Vectis
    assert sync(app, setup).status == "succeeded"
    cleared = alert(app, setup, alert_id)
    assert cleared.state == AlertState.RESOLVED.value and cleared.resolved_by == "NinjaOne (cleared there)"
    assert held(app, setup)[uid][1] is not None
    others = [a for u, (a, gone) in held(app, setup).items() if u != uid and gone is None]
    assert others and all(alert(app, setup, a).state == AlertState.OPEN.value for a in others[:5])


def test_a_device_moved_to_another_organisation_takes_its_open_alerts_along(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    sync(app, setup)
    uid, alert_id = lone_alert(app, setup)
    device_id = ninja.state.alerts[uid]["deviceId"]
    before = alert(app, setup, alert_id).customer_id
    elsewhere = next(o for o in ninja.state.organizations if o != ninja.state.devices[device_id]["organizationId"])
    ninja.state.move_device(device_id, elsewhere)
    assert sync(app, setup).status == "succeeded"
    moved = alert(app, setup, alert_id)
    assert moved.customer_id not in (None, before) and moved.state == AlertState.OPEN.value
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Device.customer_id).where(Device.external_id == str(device_id))) == moved.customer_id


def test_resolving_resets_it_at_ninjaone_and_reads_it_back(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    sync(app, setup)
    uid, alert_id = lone_alert(app, setup)
    preview = act(app, setup, "alert.resolve", alert_id, dry=True)
    assert preview.result == "dry_run" and preview.preview is not None
    assert preview.preview.requests == [
        {"vendor": "NinjaOne", "method": "POST", "path": f"/v2/alert/{uid}/reset", "body": None, "unknown": None}
    ]
    assert uid in ninja.state.alerts and ninja.requests("POST /v2/alert/<uid>/reset") == 0  # a preview sends nothing
    outcome = act(app, setup, "alert.resolve", alert_id)
    assert outcome.ok, outcome.message
    assert "Reset in NinjaOne too: it no longer lists the alert." in outcome.message
    assert uid not in ninja.state.alerts
    reset = ninja.state.activities[-1]
    assert (reset["statusCode"], reset["seriesUid"]) == ("RESET", uid)
    assert alert(app, setup, alert_id).state == AlertState.RESOLVED.value and held(app, setup)[uid][1] is not None
    # The next sync does not open it again, nor resolve anything else.
    open_before = count(app, setup, Alert, Alert.state == AlertState.OPEN.value)
    assert sync(app, setup).status == "succeeded"
    assert count(app, setup, Alert, Alert.state == AlertState.OPEN.value) == open_before


def test_acknowledging_is_vectis_only_and_says_so(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    sync(app, setup)
    uid, alert_id = lone_alert(app, setup)
    outcome = act(app, setup, "alert.acknowledge", alert_id)
    assert outcome.ok and "NinjaOne has no acknowledge, so it is recorded in Vectis only" in outcome.message
    assert uid in ninja.state.alerts and alert(app, setup, alert_id).state == AlertState.ACKNOWLEDGED.value
    # One NinjaOne cleared meanwhile resolves instead of being acknowledged.
    other, other_id = next(
        (u, a) for u, (a, _) in sorted(held(app, setup).items()) if a != alert_id and u != uid
        and Counter(x for x, _ in held(app, setup).values())[a] == 1
    )  # fmt: skip
    ninja.state.clear_at_vendor(other)
    outcome = act(app, setup, "alert.acknowledge", other_id)
    assert outcome.ok and "NinjaOne has cleared this alert already" in outcome.message
    assert alert(app, setup, other_id).state == AlertState.RESOLVED.value


# --- instant updates: NinjaOne's webhook ----------------------------------------------------------------


ADMIN = Actor("user", None, "admin@msp.test", "admin")


def instant_updates(app: Flask, setup: Setup, url: str, *, dry: bool = False) -> Outcome:
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        return perform(
            "integration.instant_updates", Target("integration", "ninjaone", "NinjaOne"), {"url": url}, actor=ADMIN,
            surface="ui", dry_run=dry, session=s, tenant_id=setup.tenant_id,
        )  # fmt: skip


def test_instant_updates_bring_an_alert_raised_or_cleared_at_ninjaone_without_a_sync(app: Flask, ninja: Ninja) -> None:
    setup = ninja_connection(app)
    sync(app, setup)
    with serving(app) as port:
        url = webhook_url(app, setup, port)
        slug = url.split("//", 1)[1].split(".localhost", 1)[0]
        preview = instant_updates(app, setup, url, dry=True)
        assert preview.result == "dry_run" and preview.preview is not None and ninja.state.webhook is None
        (shown,) = preview.preview.requests or []
        assert (shown["method"], shown["path"], shown["body"]["url"]) == ("PUT", "/v2/webhook", url)
        assert shown["body"]["headers"] == [{"name": CALLBACK_HEADER, "value": SECRET_SHOWN}]  # never the secret
        outcome = instant_updates(app, setup, url)
        assert outcome.ok and "NinjaOne now tells Vectis as soon as an alert is raised or cleared" in outcome.message
        registered = ninja.state.webhook_summary() or {}
        assert registered["url"] == url and registered["headers"] == [CALLBACK_HEADER]

        device = next(
            d for d in ninja.state.devices.values() if d["nodeClass"] == "WINDOWS_SERVER" and not d["offline"]
        )
        raised, _ = ninja.state.raise_alert(device["id"], "cpu", "CRITICAL")
        ninja.state.drain()
        (arrived,) = deliveries(app, setup)
        assert arrived.verified and (arrived.record or "").startswith(f"alert {raised['uid']} triggered")
        work(app)
        assert raised["uid"] in held(app, setup)  # no sync ran: the callback's job read the open alerts
        alert_id = held(app, setup)[raised["uid"]][0]
        assert (deliveries(app, setup)[-1].outcome or "").endswith("1 new, 0 resolved.")

        ninja.state.clear_alert(raised["uid"])  # back to normal at NinjaOne: a RESET activity, delivered
        ninja.state.drain()
        work(app)
        now_held = held(app, setup)
        assert now_held[raised["uid"]][1] is not None  # cleared
        others = [u for u, (a, cleared) in now_held.items() if a == alert_id and u != raised["uid"] and cleared is None]
        after = alert(app, setup, alert_id)
        # Resolved with it, unless the dedupe put it in an alert that still holds another open NinjaOne alert.
        assert (after.state, after.resolved_by) == (
            ("open", None) if others else ("resolved", "NinjaOne (cleared there)")
        )
        assert [d.verified for d in deliveries(app, setup)] == [True, True]

        # Without the secret header, or with another value, nothing is processed.
        forged = json.dumps({"id": 10**9, "activityType": "CONDITION", "statusCode": "TRIGGERED"}).encode()
        for headers in ({}, {CALLBACK_HEADER: "guessed"}):
            answer = requests.post(url.replace(f"{slug}.localhost", "127.0.0.1"), data=forged, timeout=5,
                                   headers={"Host": f"{slug}.localhost:{port}", **headers})  # fmt: skip
            assert answer.status_code == 401
        refused = deliveries(app, setup)[-2:]
        assert [d.verified for d in refused] == [False, False]
        assert "no X-Vectis-Secret header" in refused[0].reason and "not the secret" in refused[1].reason
