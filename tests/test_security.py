"""Endpoint security's detection surface (issue 21): detections stored per workspace behind row-level security, written
idempotently by the tool's id, announced once (timeline and the rules' trigger), on the RMM device of the same name;
the global Security page and the hub's Security tab (open first, filters, empty states that say what to do, actions
only for those who may act); another workspace's detection is a 404."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from flask import Flask
from markupsafe import escape
from sqlalchemy import delete, func, select

from tests.conftest import MadeUser, TenantFixture, client_for, csrf_token, login, own_workspace, pid
from tests.device_world import device, org
from tests.device_world import write as write_devices
from tests.security_world import NOW, Site, detection, site, write
from tests.test_api import api, make_token
from vectis.actions import Actor, Target, perform
from vectis.events.stream import ORIGIN
from vectis.models import Connection, RuleEvent, TimelineEvent
from vectis.models.security import Detection
from vectis.platform import db
from vectis.security.queries import matrix, refusals


def stored(app: Flask, tenant_id: int, detection_id: int) -> Detection | None:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.get(Detection, detection_id)
        if found is not None:
            s.expunge(found)
        return found


def titles(html: str) -> list[str]:
    return re.findall(r'<h3 class="detection-title">([^<]+)</h3>', html)


def hub_tab(app: Flask, where: Site, query: str = "") -> str:
    return f"/customers/{pid(app, 'customer', where.customer_id)}/security{query}"


# --- storage and the writer ------------------------------------------------------------------------------------


def test_a_workspace_sees_only_its_own_detections(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> None:
    mine = site(app, acme.id)
    (detection_id,) = write(app, mine, [detection(mine)]).values()
    assert stored(app, acme.id, detection_id) is not None
    assert stored(app, northwind.id, detection_id) is None  # RLS: another workspace's row does not exist for it


def test_reading_a_detection_again_updates_it_and_announces_it_once(app: Flask, acme: TenantFixture) -> None:
    where = site(app, acme.id)
    first = detection(where, "Ransom.Lockbit", severity="critical", vendor_severity="malicious")
    (detection_id,) = write(app, where, [first]).values()
    again = detection(where, "Ransom.Lockbit", external_id=first.external_id, status="in_progress",
                      vendor_status="in_progress", device_external_id=first.device_external_id, severity="critical")  # fmt: skip
    assert write(app, where, [again]) == {first.external_id: detection_id}
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.status == "in_progress" and found.severity == "critical"
    with app.app_context(), db.tenant_session(acme.id) as s:
        events = s.scalars(
            select(RuleEvent.trigger).where(RuleEvent.subject_type == "detection", RuleEvent.subject_id == detection_id)
        ).all()
        timeline = s.scalars(
            select(TimelineEvent.title).where(TimelineEvent.dedup_key == f"detection:{first.external_id}")
        ).all()
    assert events == ["security.detection_created"]
    assert timeline == ["SentinelOne detected Ransom.Lockbit on FRONTDESK-01"]


def test_vendor_details_the_fast_encoder_refuses_are_still_written_as_the_vendor_sent_them(
    app: Flask, acme: TenantFixture
) -> None:
    """A sync page goes to PostgreSQL as one JSON document (``vectis/platform/bulk.py``); an integer past 64 bits or
    a key that is not text in a vendor's details must not lose the page."""
    where = site(app, acme.id)
    odd = detection(where, "Odd.Details", details={"agent_uid": 2**70, "counts": {1: "one"}, "ok": True})
    (detection_id,) = write(app, where, [odd]).values()
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.details == {"agent_uid": 2**70, "counts": {"1": "one"}, "ok": True}


def test_a_detection_resolved_before_vectis_saw_it_reaches_the_timeline_but_no_rule(
    app: Flask, acme: TenantFixture
) -> None:
    where = site(app, acme.id)
    old = detection(where, "PUP.Toolbar", status="resolved", vendor_status="resolved", detected_at=NOW.replace(day=1))
    (detection_id,) = write(app, where, [old]).values()
    with app.app_context(), db.tenant_session(acme.id) as s:
        announced = select(func.count()).select_from(RuleEvent)
        assert not s.scalar(
            announced.where(RuleEvent.subject_type == "detection", RuleEvent.subject_id == detection_id)
        )
        severity = s.scalar(
            select(TimelineEvent.severity).where(TimelineEvent.dedup_key == f"detection:{old.external_id}")
        )
    assert severity == "resolved"
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.resolved_at is not None


def test_a_detection_lands_on_the_rmm_device_of_the_same_name_at_the_same_customer(
    app: Flask, acme: TenantFixture
) -> None:
    where = site(app, acme.id)
    # The customer's RMM organisation has a device of that name (written otherwise); another customer has one too.
    theirs, elsewhere = org(app, acme.id, existing=where.customer_id), org(app, acme.id)
    here, there = device("Frontdesk-01", theirs), device("FRONTDESK-01", elsewhere)
    ids = write_devices(app, acme.id, [here, there])
    (detection_id,) = write(app, where, [detection(where)]).values()
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.device_id == ids[here.external_id]


def test_a_device_gone_from_the_rmm_leaves_the_detection_on_it_and_a_renamed_one_moves_it(
    app: Flask, acme: TenantFixture
) -> None:
    where = site(app, acme.id)
    theirs = org(app, acme.id, existing=where.customer_id)
    first, second = device("RECEPTION-02", theirs), device("RECEPTION-03", theirs)
    ids = write_devices(app, acme.id, [first, second])
    record = detection(where, device_name="RECEPTION-02")
    (detection_id,) = write(app, where, [record]).values()
    write(app, where, [replace(record, device_name="RECEPTION-09")])  # no device of that name: the link stays
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.device_id == ids[first.external_id]
    write(app, where, [replace(record, device_name="reception-03")])
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.device_id == ids[second.external_id]


def test_a_detection_older_than_the_rule_activity_kept_reaches_the_timeline_but_no_rule(
    app: Flask, acme: TenantFixture
) -> None:
    """The nightly purge removes rule events past the workspace's retention; a first sync's old, still open history
    must not make them again, or rules would act on what happened a year ago."""
    where = site(app, acme.id)
    old, recent = detection(where, detected_at=NOW - timedelta(days=400)), detection(where)
    ids = write(app, where, [old, recent])
    with app.app_context(), db.tenant_session(acme.id) as s:
        announced = s.scalars(
            select(RuleEvent.subject_id).where(
                RuleEvent.subject_type == "detection", RuleEvent.subject_id.in_(ids.values())
            )
        ).all()
        on_timeline = s.scalar(
            select(func.count()).where(
                TimelineEvent.dedup_key.in_([f"detection:{old.external_id}", f"detection:{recent.external_id}"])
            )
        )
    assert announced == [ids[recent.external_id]]
    assert on_timeline == 2


def test_a_detection_written_by_a_rules_action_names_the_rule_so_it_cannot_trigger_itself(
    app: Flask, acme: TenantFixture
) -> None:
    where = site(app, acme.id)
    token = ORIGIN.set(4242)
    try:
        (detection_id,) = write(app, where, [detection(where)]).values()
    finally:
        ORIGIN.reset(token)
    with app.app_context(), db.tenant_session(acme.id) as s:
        data = s.scalar(
            select(RuleEvent.data).where(RuleEvent.subject_type == "detection", RuleEvent.subject_id == detection_id)
        )
    assert data is not None and data["origin.rule_id"] == 4242 and data["source"] == "SentinelOne"


def test_a_page_naming_one_detection_twice_keeps_the_last_and_announces_it_once(
    app: Flask, acme: TenantFixture
) -> None:
    where = site(app, acme.id)
    first = detection(where, "Trojan.Agent")
    again = replace(first, title="Trojan.Agent.B", severity="critical")
    ids = write(app, where, [first, again])
    found = stored(app, acme.id, ids[first.external_id])
    assert found is not None and (found.title, found.severity) == ("Trojan.Agent.B", "critical")
    with app.app_context(), db.tenant_session(acme.id) as s:
        titles = s.scalars(
            select(TimelineEvent.title).where(TimelineEvent.dedup_key == f"detection:{first.external_id}")
        )
        events = s.scalars(select(RuleEvent.data).where(RuleEvent.subject_id == ids[first.external_id]))
        assert list(titles) == ["SentinelOne detected Trojan.Agent.B on FRONTDESK-01"]
        assert [e["detection.severity"] for e in events] == ["critical"]


def test_a_site_linked_later_brings_its_detections_to_the_customer(app: Flask, acme: TenantFixture) -> None:
    stray = detection(None, customer_external_id="site-later")
    (detection_id,) = write(app, site(app, acme.id), [stray]).values()
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.customer_id is None  # the tool's site is linked to no customer yet
    later = site(app, acme.id, external_id="site-later")
    write(app, later, [stray])
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.customer_id == later.customer_id


# --- the pages -------------------------------------------------------------------------------------------------


def own_workspace_and_tech(app: Flask, make_user: Callable[..., MadeUser]) -> tuple[TenantFixture, str]:
    """A workspace of its own (acme holds every other test's detections) and a technician of it."""
    tenant = own_workspace(app)
    return tenant, make_user(tenant, "technician").email


def test_the_security_page_lists_open_detections_newest_first_with_their_customer(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    tenant, tech = own_workspace_and_tech(app, make_user)
    where = site(app, tenant.id)
    write(app, where, [
        detection(where, "Older threat", detected_at=NOW - timedelta(hours=5)),
        detection(where, "Newest threat", severity="critical"),
        detection(where, "Closed threat", status="resolved", vendor_status="resolved"),
    ])  # fmt: skip
    client = login(app, tenant, tech)
    html = client.get("/security").get_data(as_text=True)
    assert titles(html) == ["Newest threat", "Older threat"]
    assert where.name in html and "2 open:" in html
    resolved = client.get("/security?status=resolved").get_data(as_text=True)
    assert titles(resolved) == ["Closed threat"]
    assert titles(client.get("/security?severity=critical&page=²").get_data(as_text=True)) == ["Newest threat"]


def test_the_hub_tab_shows_only_this_customers_detections(app: Flask, acme: TenantFixture) -> None:
    mine, other = site(app, acme.id), site(app, acme.id)
    write(app, mine, [detection(mine, "Mine")])
    write(app, other, [detection(other, "Theirs")])
    client = login(app, acme)
    html = client.get(hub_tab(app, mine)).get_data(as_text=True)
    assert titles(html) == ["Mine"]
    assert ">Security<" in client.get(f"/customers/{pid(app, 'customer', mine.customer_id)}").get_data(as_text=True)
    filtered = client.get(hub_tab(app, mine, "?severity=low")).get_data(as_text=True)
    assert "No detections match these filters" in filtered


def test_a_read_only_user_sees_detections_but_no_actions(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    where = site(app, acme.id)
    write(app, where, [detection(where, "Look only")])
    viewer = make_user(acme, "read_only")
    html = login(app, acme, viewer.email).get(hub_tab(app, where)).get_data(as_text=True)
    assert "Look only" in html and 'data-testid="detection-actions"' not in html
    technician = login(app, acme).get(hub_tab(app, where)).get_data(as_text=True)
    assert 'data-testid="detection-actions"' in technician


def test_another_workspaces_detection_is_not_found(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> None:
    where = site(app, acme.id)
    (detection_id,) = write(app, where, [detection(where)]).values()
    theirs = login(app, northwind)
    token = pid(app, "detection", detection_id)
    assert theirs.get(f"/detections/{token}/card").status_code == 404
    answer = theirs.post(f"/detections/{token}/resolve", data={"csrf_token": csrf_token(theirs, "/security")})
    assert answer.status_code == 404
    found = stored(app, acme.id, detection_id)
    assert found is not None and found.status == "open"


def test_without_an_endpoint_security_tool_the_page_says_how_to_connect_one(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:  # what earlier tests in this worker left
        s.execute(delete(Connection).where(Connection.vendor == "sentinelone"))
    html = login(app, northwind).get("/security").get_data(as_text=True)
    assert "No endpoint-security tool connected" in html and "Connect SentinelOne" in html
    site(app, acme.id)
    assert "No endpoint-security tool connected" not in login(app, acme).get("/security").get_data(as_text=True)


# --- the REST API ----------------------------------------------------------------------------------------------


def test_the_api_lists_a_workspaces_detections_and_a_write_needs_the_security_scope(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    where = site(app, acme.id)
    (detection_id,) = write(app, where, [detection(where, "Api.Threat", severity="critical")]).values()
    mine = pid(app, "detection", detection_id)
    raw = make_token(app, acme)
    listed = api(app, acme, raw, f"/detections?customer_id={pid(app, 'customer', where.customer_id)}").get_json()
    [item] = listed["data"]
    assert (item["id"], item["title"], item["severity"], item["source"]) == (
        mine,
        "Api.Threat",
        "critical",
        "SentinelOne",
    )
    assert item["customer_id"] == pid(app, "customer", where.customer_id) and item["isolation"] == "connected"
    assert api(app, northwind, make_token(app, northwind), f"/detections/{mine}").status_code == 404
    reader = client_for(app, acme).post(f"/api/v1/detections/{mine}/isolate?dry_run=true", json={},
                                        headers={"Authorization": f"Bearer {raw}"})  # fmt: skip
    assert reader.status_code == 403  # a read token may not isolate


def test_the_hubs_header_counts_open_detections_and_is_no_longer_calm(app: Flask, acme: TenantFixture) -> None:
    """Found on the hub: three open detections, and the header said "Nothing needs attention"."""
    where = site(app, acme.id)
    hub = f"/customers/{pid(app, 'customer', where.customer_id)}"
    client = login(app, acme)
    assert "Nothing needs attention" in client.get(hub).get_data(as_text=True)
    write(app, where, [detection(where, severity="critical"), detection(where, severity="low")])
    write(app, where, [detection(where, status="resolved", vendor_status="resolved")])
    html = client.get(hub).get_data(as_text=True)
    assert re.search(r'data-testid="hub-open-detections"[^>]*>2 open detections</a>', html)
    assert "badge-bad" in html.split('data-testid="hub-open-detections"')[0].rsplit("<a", 1)[1]
    assert "Nothing needs attention" not in html


def test_an_action_the_vendors_api_cannot_do_is_a_disabled_button_that_says_why(
    app: Flask, acme: TenantFixture
) -> None:
    """Huntress's API cannot dismiss a report: its False positive is disabled with Huntress's reason, and the verb
    refuses with the same words and calls nothing."""
    where = site(app, acme.id, vendor="huntress")
    (detection_id,) = write(app, where, [detection(where, "Huntress.Report")]).values()
    html = login(app, acme).get(hub_tab(app, where)).get_data(as_text=True)
    card = html.split(f'id="detection-{detection_id}"')[1].split("</li>")[0]
    reason = str(matrix("huntress")["false_positive"])
    assert "SOC" in reason
    assert re.search(
        r'<summary class="btn btn-small is-disabled" title="([^"]+)" aria-disabled="true">False positive', card
    )
    assert escape(reason) in card and "Isolate…" in card and 'aria-disabled="true">Isolate' not in card
    with app.test_request_context(), db.tenant_session(acme.id) as s:
        refused = perform(
            "detection.false_positive", Target("detection", str(detection_id), "Huntress.Report"), {"reason": "ours"},
            actor=Actor("user", None, "sam@msp.test", "technician"), surface="ui", session=s, tenant_id=acme.id,
        )  # fmt: skip
    assert refused.result == "failed" and refused.message == reason


def test_while_the_tool_has_not_confirmed_an_isolation_or_release_neither_button_goes_the_other_way(
    app: Flask, acme: TenantFixture
) -> None:
    """Release is offered once the isolation is confirmed, Isolate once the release is; each disabled button says
    why."""
    where = site(app, acme.id)
    client = login(app, acme)
    for state, release, isolate in (
        ("isolating", "still being isolated", "already being isolated"),
        ("releasing", "already being released", "is being released"),
        ("isolated", None, "already isolated"),
    ):
        (detection_id,) = write(app, where, [detection(where, f"Threat.{state}", isolation=state)]).values()
        row = stored(app, acme.id, detection_id)
        assert row is not None
        said = refusals(row, "sentinelone")
        assert (said["release"] is None) if release is None else (release in str(said["release"])), (state, said)
        assert isolate in str(said["isolate"]), (state, said)
        card = client.get(hub_tab(app, where)).get_data(as_text=True).split(f'id="detection-{detection_id}"')[1]
        card = card.split("</li>")[0]
        if state == "isolating":
            assert re.search(
                r'<button class="btn btn-small" type="submit" disabled title="[^"]*still being isolated', card
            )
        if state == "isolated":
            assert re.search(r'<button class="btn btn-small" type="submit" title="Give', card)


def test_a_reports_proposed_remediations_show_on_its_card_and_resolve_waits_for_their_approval(
    app: Flask, acme: TenantFixture
) -> None:
    """Huntress resolves a report only once its remediations are approved (approving runs them, in its portal): the
    card lists them, awaiting ones first, and Resolve says so before a click."""
    where = site(app, acme.id, vendor="huntress")
    proposed = [
        {"action": "Delete file C:\\Users\\Public\\svc.exe", "type": "file", "status": "completed"},
        {"action": "Remove scheduled task Updater", "type": "scheduled_task", "status": "unapproved"},
    ]
    (waiting,) = write(
        app, where, [detection(where, "Huntress.Persistence", details={"remediations": proposed})]
    ).values()
    (done,) = write(app, where, [detection(where, "Huntress.Done", details={"remediations": proposed[:1]})]).values()
    html = login(app, acme).get(hub_tab(app, where)).get_data(as_text=True)
    card = html.split(f'id="detection-{waiting}"')[1].split("</li>\n</ul>")[0]
    assert "Huntress proposes:" in card
    assert card.index("Remove scheduled task Updater") < card.index("Delete file")  # awaiting first
    assert "awaiting your approval" in card and "done" in card
    row = stored(app, acme.id, waiting)
    assert row is not None
    said = str(refusals(row, "huntress")["resolve"])
    assert said.startswith("1 remediation still awaits approval in Huntress") and escape(said) in card
    other = stored(app, acme.id, done)
    assert other is not None and refusals(other, "huntress")["resolve"] is None
    item = api(app, acme, make_token(app, acme), f"/detections/{pid(app, 'detection', waiting)}").get_json()
    assert [(r["type"], r["status"]) for r in item["remediations"]] == [
        ("file", "completed"),
        ("scheduled_task", "unapproved"),
    ]


def test_isolate_asks_how_where_the_tool_offers_a_choice(app: Flask, acme: TenantFixture) -> None:
    """Defender isolates Full or Selective: its confirmation asks, Full first; SentinelOne's has one way and asks
    nothing."""
    client = login(app, acme)
    for vendor, asks in (("defender", True), ("sentinelone", False)):
        where = site(app, acme.id, vendor=vendor)
        (detection_id,) = write(app, where, [detection(where, f"Ask.{vendor}")]).values()
        card = client.get(hub_tab(app, where)).get_data(as_text=True).split(f'id="detection-{detection_id}"')[1]
        card = card.split('<li class="detection')[0]
        assert ('data-testid="isolation-modes"' in card) is asks, vendor
        if asks:
            assert re.search(r'value="Full" checked> Full: the device talks to Defender only', card)
            assert "Selective: Outlook, Teams and Skype keep working" in card


def test_the_customer_list_counts_a_customers_open_detections(app: Flask, acme: TenantFixture) -> None:
    where = site(app, acme.id)
    write(
        app, where, [detection(where, severity="high"), detection(where, status="resolved", vendor_status="resolved")]
    )
    html = login(app, acme).get(f"/customers?q={where.name}").get_data(as_text=True)
    hub = f"/customers/{pid(app, 'customer', where.customer_id)}"
    [row] = [tr for tr in html.split("<tr")[1:] if f'href="{hub}"' in tr]
    link = f"{hub}/security"
    assert re.search(rf'<a class="count-link count-alerts-bad" href="{link}">1 detection</a>', row)
