"""The hub's Microsoft 365 tab: four panels per customer tenant, each with the time it was read or the reason it cannot
be shown. A report-only Conditional Access policy is listed as "would enforce", never counted; an unlicensed tenant is
unknown with Graph's reason, never "not covered"; the Secure Score sparkline draws a day without a score as a gap."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from flask import Flask

from tests.conftest import MadeUser, login
from tests.m365_world import synced
from tests.test_api import api, make_token
from tests.vendors.support import sync, vendor_url
from vectis.actions.resources import OPERATIONS
from vectis.m365 import queries
from vectis.m365.sparkline import segments, sparkline
from vectis.platform import db
from vectis.platform.public_ids import encode
from vectis.simulators.graph import GraphState

TODAY = datetime.now(UTC).date()


def hub_url(app: Flask, customer_id: int, tab: str = "/m365") -> str:
    with app.app_context():
        return f"/customers/{encode('customer', customer_id)}{tab}"


def posture(app: Flask, tenant_id: int, customer_id: int) -> list[queries.TenantPosture]:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = queries.tab(s, [customer_id], TODAY)
        s.expunge_all()  # read: the rows stay as they were loaded
        return found


# --- the sparkline, on its own ------------------------------------------------------------------------------


def test_the_sparkline_draws_a_day_without_a_score_as_a_gap() -> None:
    start = date(2026, 11, 1)
    values: list[float | None] = [50, 52, 53, None, None, 55, 56, None, 60, 61]
    days = [(start + timedelta(days=n), v) for n, v in enumerate(values)]
    assert [[i for i, _ in run] for run in segments(values)] == [[0, 1, 2], [5, 6], [8, 9]]
    svg = str(sparkline(days, label="Secure Score <30 days>"))
    paths = re.findall(r'<path d="([^"]+)"', svg)
    assert len(paths) == 3  # three runs: never a line across a gap
    assert all(p.count("M") == 1 for p in paths)
    assert 'aria-label="Secure Score &lt;30 days&gt;"' in svg  # the label is escaped
    # A day alone between two gaps is a dot, and today's point is marked.
    lonely = str(sparkline([(start, 10.0), (start + timedelta(days=1), None), (start + timedelta(days=2), 12.0),
                            (start + timedelta(days=3), None)], label="x"))  # fmt: skip
    assert lonely.count('class="spark-dot"') == 2 and "<path" not in lonely and 'class="spark-now"' in lonely


def test_a_flat_or_empty_sparkline_still_draws() -> None:
    flat = str(sparkline([(date(2026, 1, d), 40.0) for d in range(1, 6)], label="flat"))
    assert re.search(r'<path d="M3\.0 22\.0 L[^"]+ 22\.0"', flat)  # a level line through the middle
    empty = str(sparkline([(date(2026, 1, 1), None)], label="none yet"))
    assert "<path" not in empty and "<circle" not in empty and "<title>none yet</title>" in empty


# --- the panels, synced from the simulator --------------------------------------------------------------------


def test_a_report_only_policy_would_enforce_but_is_never_counted(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    state = GraphState.seeded()
    first = next(iter(state.tenants))
    # Every policy that asks admins or users for MFA is report-only; the rest as seeded.
    for name in ("Require MFA for administrators", "Require MFA for all users"):
        state.set_policy_state(first, name, "enabledForReportingButNotEnforced")
    with synced(app, make_user, (0,), state=state) as world:
        customer = world.customers[first]
        (tenant,) = posture(app, world.tenant.id, customer)
        access = tenant.access
        enabled = sum(1 for p in state.tenants[first]["policies"] if p["state"] == "enabled")
        assert access.enforcing == enabled == 2
        coverage = {c.label: c for c in access.coverage}
        admins = coverage["MFA for administrators"]
        assert admins.state == "not_covered"
        assert admins.detail == "“Require MFA for administrators” would enforce it but is report-only"
        assert coverage["MFA for all users"].state == "not_covered"
        groups = {state: [p.name for p in listed] for state, _, listed in access.by_state}
        assert set(groups["enabledForReportingButNotEnforced"]) == {
            "Require MFA for administrators",
            "Require MFA for all users",
        }
        html = login(app, world.tenant, world.admin.email).get(hub_url(app, customer)).get_data(as_text=True)
        assert "Report-only (would enforce) · 2" in html
        assert re.search(r'data-testid="m365-enforcing">2<', html)
        # One enabled policy covers it: covered, by that policy.
        state.set_policy_state(first, "Require MFA for administrators", "enabled")
        with vendor_url(app, "m365", world.url):
            assert sync(app, world.setup).status == "succeeded"
        (tenant,) = posture(app, world.tenant.id, customer)
        assert {c.label: c.state for c in tenant.access.coverage}["MFA for administrators"] == "covered"
        assert tenant.access.enforcing == 3


def test_an_unlicensed_tenant_is_unknown_with_its_reason_never_not_covered(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    with synced(app, make_user, (1,)) as world:  # the simulator's second tenant has no Entra ID P1
        tenant_id = world.tenant_at(1)
        customer = world.customers[tenant_id]
        (tenant,) = posture(app, world.tenant.id, customer)
        assert tenant.access.status.state == "unknown" and tenant.access.status.reason == "needs Entra ID P1"
        assert {c.state for c in tenant.access.coverage} == {"unknown"}
        assert {c.detail for c in tenant.access.coverage} == {"needs Entra ID P1"}
        assert tenant.mfa.status.reason == "needs Entra ID P1" and tenant.mfa.admins == []
        assert tenant.intune.status.state == "known"  # the rest of the tenant is read
        html = login(app, world.tenant, world.admin.email).get(hub_url(app, customer)).get_data(as_text=True)
        access = html[html.index('data-testid="m365-access"') : html.index('data-testid="m365-mfa"')]
        assert "Not covered" not in access and "Needs Entra ID P1." in access
        assert access.count('data-state="unknown"') == 4  # the panel and its three coverage lines


def test_the_tab_shows_four_panels_each_with_when_it_was_read(app: Flask, make_user: Callable[..., MadeUser]) -> None:
    with synced(app, make_user, (0,)) as world:
        first = world.tenant_at(0)
        customer = world.customers[first]
        (tenant,) = posture(app, world.tenant.id, customer)
        assert tenant.name == world.state.tenants[first]["displayName"]
        # Two days without a score in the seeded history: the sparkline shows them as a gap.
        assert tenant.score.chart is not None and str(tenant.score.chart).count("<path") == 2
        assert "2 days without a score" in str(tenant.score.chart)
        newest = world.state.tenants[first]["scores"][0]
        assert tenant.score.current == newest["currentScore"] and tenant.score.maximum == newest["maxScore"]
        assert 1 <= len(tenant.score.actions) <= 5
        assert [d.name for d in tenant.intune.noncompliant] and all(
            d.failing_policies for d in tenant.intune.noncompliant
        )
        assert tenant.mfa.not_registered == 1
        client = login(app, world.tenant, world.admin.email)
        page = client.get(hub_url(app, customer, ""))
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and ">Microsoft 365<" in html
        html = client.get(hub_url(app, customer)).get_data(as_text=True)
        for panel in ("m365-intune", "m365-score", "m365-access", "m365-mfa"):
            assert f'data-testid="{panel}" data-state="known"' in html
        assert html.count('data-testid="m365-asof"') == 4 and html.count('data-testid="sparkline"') == 1
        assert "Top improvement actions" in html and "Not registered" in html


def test_the_hubs_header_says_what_the_tab_found_and_never_nothing_needs_attention(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    """Found on the hub: a customer with devices Intune calls not compliant read "Nothing needs attention"."""
    with synced(app, make_user, (0,)) as world, synced(app, make_user, (0,)) as other:
        customer = world.customers[world.tenant_at(0)]
        (found,) = posture(app, world.tenant.id, customer)
        devices = len(found.intune.noncompliant)
        admins = found.mfa.not_registered
        assert devices and admins  # the seeded tenant has both, or this test proves nothing
        header = login(app, world.tenant, world.admin.email).get(hub_url(app, customer, "")).get_data(as_text=True)
        header = header.split('data-testid="hub-badges"', 1)[1].split("</div>", 1)[0]
        assert f"{devices} devices not compliant" in header and f"{admins} admin" in header
        assert "without MFA" in header and "Nothing needs attention" not in header
        assert hub_url(app, customer) in header  # each badge opens the Microsoft 365 tab
        # The other workspace's own customer is counted from its own tenant only.
        theirs = login(app, other.tenant, other.admin.email).get(hub_url(app, other.customers[other.tenant_at(0)], ""))
        assert f"{devices} devices not compliant" in theirs.get_data(as_text=True)


def test_another_workspace_gets_404_for_the_tab(app: Flask, make_user: Callable[..., MadeUser]) -> None:
    with synced(app, make_user, (0,)) as mine, synced(app, make_user, (0,)) as theirs:
        customer = mine.customers[mine.tenant_at(0)]
        outsider = login(app, theirs.tenant, theirs.admin.email)
        assert outsider.get(hub_url(app, customer)).status_code == 404
        their_customer = theirs.customers[theirs.tenant_at(0)]
        assert outsider.get(hub_url(app, their_customer)).status_code == 200


def test_the_rest_api_and_its_mcp_tool_give_the_same_posture_with_reasons(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    with synced(app, make_user, (0, 1)) as world, synced(app, make_user, (0,)) as other:
        tenant = replace(world.tenant, users={world.admin.email: world.admin.id}, admin=world.admin.email)
        raw = make_token(app, tenant)
        licensed, unlicensed = world.customers[world.tenant_at(0)], world.customers[world.tenant_at(1)]
        answer = api(app, tenant, raw, hub_url(app, licensed, "/m365"))
        assert answer.status_code == 200, answer.get_json()
        (posture_,) = answer.get_json()["tenants"]
        assert posture_["tenant_id"] == world.tenant_at(0)
        assert posture_["conditional_access"]["status"]["state"] == "known"
        assert {p["state"] for p in posture_["conditional_access"]["policies"]} >= {"enabledForReportingButNotEnforced"}
        days = posture_["secure_score"]["days"]
        assert len(days) == 30 and sum(d["score"] is None for d in days) == 2
        assert len(posture_["intune"]["noncompliant"]) == 2
        (bare,) = api(app, tenant, raw, hub_url(app, unlicensed, "/m365")).get_json()["tenants"]
        assert bare["admin_mfa"]["status"] == {
            "state": "unknown", "reason": "needs Entra ID P1", "as_of": None, "tried_at": bare["admin_mfa"]["status"]["tried_at"],
        }  # fmt: skip
        assert {c["state"] for c in bare["conditional_access"]["coverage"]} == {"unknown"}
        # Another workspace's customer: 404, as for any object of another workspace.
        assert api(app, tenant, raw, hub_url(app, other.customers[other.tenant_at(0)], "/m365")).status_code == 404
        assert any(op.tool == "get_m365_posture" and op.scope == "read" for op in OPERATIONS)


def test_a_device_or_policy_graph_lists_twice_is_stored_once_and_the_sync_succeeds(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    """Graph pages while devices change, so one id can come on two pages: one upsert of both rows would raise
    PostgreSQL's "ON CONFLICT DO UPDATE command cannot affect row a second time" and fail every sync."""
    state = GraphState.seeded()
    first = next(iter(state.tenants))
    tenant = state.tenants[first]
    devices, policies = len(tenant["devices"]), len(tenant["policies"])
    tenant["devices"].append(dict(tenant["devices"][0]))
    tenant["policies"].append(dict(tenant["policies"][0]))
    with synced(app, make_user, (0,), state=state) as world:
        assert world.setup.connection_id  # synced() asserts the sync succeeded
        (found,) = posture(app, world.tenant.id, world.customers[first])
        assert found.intune.status.state == "known" and found.intune.total == devices
        assert found.access.status.state == "known"
        assert sum(len(listed) for _, _, listed in found.access.by_state) == policies


def test_a_value_of_an_unexpected_shape_makes_one_panel_unknown_and_a_score_no_number_is_skipped(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    state = GraphState.seeded()
    first = next(iter(state.tenants))
    tenant = state.tenants[first]
    policy = next(p for p in tenant["policies"] if p["conditions"].get("users"))
    policy["conditions"]["users"]["includeUsers"] = 5  # "All" not in 5: a TypeError
    days = len({s["createdDateTime"][:10] for s in tenant["scores"]})
    tenant["scores"][0]["currentScore"] = 10**400  # float() of it overflows
    tenant["scores"][1]["currentScore"] = float("nan")  # json.loads takes NaN
    with synced(app, make_user, (0,), state=state) as world:  # the sync succeeds
        (found,) = posture(app, world.tenant.id, world.customers[first])
        assert found.access.status.state == "unknown"
        assert found.access.status.reason == "Microsoft Graph sent the Conditional Access data in an unexpected shape"
        assert found.intune.status.state == "known" and found.mfa.status.state == "known"
        assert found.score.status.state == "known"
        assert all(math.isfinite(s.current_score) for s in found.score.days.values())
        assert len(found.score.days) <= days - 2  # the two days with no usable score are not stored
