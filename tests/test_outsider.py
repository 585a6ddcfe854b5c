"""Every route that takes an object id answers 404 to a signed-in user of another tenant.

The walk covers ``app.url_map`` as it is, so a new object route that is not listed in ``OBJECT_IDS``
fails this test until someone says which object it takes (and so proves it is tenant-scoped).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from tests.conftest import (
    TenantFixture,
    a_customer,
    a_detection,
    a_device,
    a_mail,
    a_note,
    a_portal_user,
    a_rule,
    a_saved_query,
    a_ticket,
    acme_connection,
    an_alert,
    an_api_token,
    an_export,
    csrf_token,
    login,
    sample_path,
    waiting_account,
)
from tests.licensing_world import a_subscription
from tests.test_api import make_token
from vectis.actions.resources import OPERATIONS, ActionQuery
from vectis.identity import tokens
from vectis.models import Ticket, TicketPriority, TicketStatus
from vectis.platform import db, public_ids

# URL argument -> how to get an id of an acme object of that kind.
OBJECT_IDS: dict[str, Callable[[Flask, TenantFixture], int]] = {
    "user_id": lambda app, acme: acme.users[acme.admin],
    "link_id": lambda app, acme: int(waiting_account(app, acme)[0].id or 0),
    "customer_id": lambda app, acme: a_customer(app, acme.id),
    "note_id": a_note,
    "ticket_id": lambda app, acme: a_ticket(app, acme.id),
    "connection_id": lambda app, acme: acme_connection(app, acme.id),  # a fresh one each time: one method deletes it
    "alert_id": lambda app, acme: an_alert(app, acme.id),
    "rule_id": lambda app, acme: a_rule(app, acme.id),  # a fresh one each time: one method deletes it
    "query_id": lambda app, acme: a_saved_query(app, acme.id),  # a fresh one each time: one method deletes it
    "export_id": an_export,
    "token_id": an_api_token,  # a fresh one each time: one method revokes it
    "saved_query_id": lambda app, acme: a_saved_query(app, acme.id),  # the API's name for it
    "device_id": lambda app, acme: a_device(app, acme.id),
    "detection_id": lambda app, acme: a_detection(app, acme.id),
    "subscription_id": lambda app, acme: a_subscription(app, acme.id),
    "portal_user_id": lambda app, acme: a_portal_user(app, acme.id),
    "mail_id": lambda app, acme: a_mail(app, acme.id),
}


def choice_bodies(app: Flask, acme: TenantFixture) -> dict[str, dict[str, object]]:
    """Bodies naming what acme's ticket can really be set to (no status is called "x"), by API operation: so only
    tenancy can refuse them."""
    with app.app_context(), db.tenant_session(acme.id) as s:
        ticket = s.get(Ticket, a_ticket(app, acme.id))
        assert ticket is not None and ticket.board_id is not None
        status = s.scalar(select(TicketStatus.name).where(TicketStatus.board_id == ticket.board_id))
        if status is None:
            s.add(TicketStatus(tenant_id=acme.id, board_id=ticket.board_id, external_id="1", name="New"))
            status = "New"
        priority = s.scalar(select(TicketPriority.name).where(TicketPriority.connection_id == ticket.connection_id))
        if priority is None:  # as tests/test_actions.py makes it, should it come first
            s.add(TicketPriority(tenant_id=acme.id, connection_id=ticket.connection_id, external_id="2", name="High"))
            priority = "High"
    return {
        "set_ticket_status": {"status": status},
        "set_ticket_priority": {"priority": priority},
        "assign_ticket": {"member": None},  # unassigned: a choice any ticket has
        # Seats are a number, not text.
        **{key: {"quantity": 11} for key in ("adjust_seats", "schedule_seats", "create_quote")},
    }


def test_it_hides_every_object_route_from_another_tenant(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    outsider = login(app, northwind)  # northwind's admin: every role check passes, only tenancy can stop it
    insider = login(app, acme)
    # Unsafe methods carry each session's CSRF token, so only tenancy (not CSRF) can answer 404.
    outsider_headers = {"X-CSRFToken": csrf_token(outsider, "/customers")}
    insider_headers = {"X-CSRFToken": csrf_token(insider, "/customers")}
    every = tuple(tokens.SCOPES)  # so only tenancy, never a scope, can answer 404
    insider_bearer = {"Authorization": f"Bearer {make_token(app, acme, scopes=every)}"}
    outsider_bearer = {"Authorization": f"Bearer {make_token(app, northwind, scopes=every)}"}
    choices = choice_bodies(app, acme)
    checked = []
    for rule in app.url_map.iter_rules():
        id_args = [a for a in rule.arguments if a.endswith("_id")]
        if not id_args:
            continue
        unknown = [a for a in id_args if a not in OBJECT_IDS]
        assert not unknown, f"{rule.rule}: add {unknown} to OBJECT_IDS"
        values: dict[str, object] = {arg: OBJECT_IDS[arg](app, acme) for arg in id_args}
        if rule.endpoint.startswith("api."):  # the API: public ids in the path, each workspace's admin's token
            with app.app_context():
                values = {arg: public_ids.encode(arg.removesuffix("_id"), int(str(v))) for arg, v in values.items()}
            path = sample_path(app, rule, values)
            op = next(o for o in OPERATIONS if o.name == rule.endpoint.removeprefix("api."))
            if op.query is ActionQuery:
                path += "?dry_run=true"  # a write answers what it would do: no vendor is needed for the walk
            # A body with a value in each required text field (or a real choice), so only tenancy can refuse it.
            required = op.body.model_json_schema().get("required", []) if op.body else []
            sample = choices.get(op.name) or {name: "x" for name in required}
            body = {"json": sample} if op.body else {}
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                own = insider.open(path, method=method, headers=insider_bearer, **body)
                assert own.status_code == 200, f"{method} {path} should answer acme's own token: {own.get_json()}"
                theirs = outsider.open(path, method=method, headers=outsider_bearer, **body)
                assert theirs.status_code == 404, f"{method} {path} answered {theirs.status_code} to northwind"
                checked.append(f"{method} {rule.rule}")
            continue
        if "token" in rule.arguments:  # a webhook URL: the right token, so only tenancy can answer 404
            with app.app_context():
                values["token"] = public_ids.webhook_token(int(str(values["connection_id"])))
        path = sample_path(app, rule, values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            own = insider.open(path, method=method, headers=insider_headers)
            own.close()  # a streamed answer (a download) holds its request open until it is closed, as a server does
            assert own.status_code != 404, f"{method} {path} should exist for acme itself"
            theirs = outsider.open(path, method=method, headers=outsider_headers)
            theirs.close()
            assert theirs.status_code == 404, f"{method} {path} answered {theirs.status_code} to northwind"
            checked.append(f"{method} {rule.rule}")
    assert "GET /admin/users/<pid(user):user_id>" in checked
    assert any(c.startswith("POST /admin/users/<pid(user):user_id>/") for c in checked)
    assert "POST /webhooks/<pid(connection):connection_id>/<token>" in checked
    assert "GET /api/v1/customers/<customer_id>" in checked
    assert {"GET /api/v1/tickets/<ticket_id>", "GET /api/v1/rules/<rule_id>", "GET /api/v1/customers/<customer_id>/notes",
            "GET /api/v1/customers/<customer_id>/timeline", "POST /api/v1/tickets/<ticket_id>/status",
            "POST /api/v1/tickets/<ticket_id>/assignee", "POST /api/v1/tickets/<ticket_id>/priority",
            "GET /api/v1/tickets/<ticket_id>/choices", "GET /api/v1/customers/<customer_id>/ticket-choices",
            "POST /api/v1/rules/<rule_id>/enable", "POST /api/v1/rules/<rule_id>/pause",
            "GET /devices/<pid(device):device_id>", "GET /api/v1/devices/<device_id>"} <= set(checked)  # fmt: skip
