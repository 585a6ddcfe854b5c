"""Roles are enforced on the server: a read-only user changes nothing, whatever URL they post to."""

from __future__ import annotations

from flask import Flask

from tests.conftest import (
    TenantFixture,
    a_customer,
    a_detection,
    a_note,
    a_portal_user,
    a_rule,
    a_saved_query,
    a_ticket,
    an_alert,
    csrf_token,
    login,
    sample_path,
    waiting_account,
)
from tests.licensing_world import a_subscription

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# What every signed-in person may do to their own session and account, whatever their role.
SELF_SERVICE = {
    "auth.signout",
    "account.change_password",
    "account.regenerate_recovery_codes",
    "account.make_token",  # a read-only user's token reads only (tests/test_tokens.py)
    "account.revoke_token",  # their own
}
# The sign-in steps and invite acceptance happen before anyone is signed in.
SIGNED_OUT = {"auth.signin", "auth.mfa", "auth.recovery", "auth.enrol", "auth.invite"}
# Vendors call these: the signature is the authentication (tests/vendors/test_connectwise.py).
VENDOR_CALLS = {"webhooks.receive"}
# Reads that post a form: the query builder's redraw (its whole state) and an export. Read-only users ask questions too.
READS_BY_POST = {"queries.build", "queries.export"}


def test_it_answers_403_to_read_only_users_on_every_unsafe_route(app: Flask, acme: TenantFixture) -> None:
    viewer = login(app, acme, "viewer@acme.test")
    headers = {"X-CSRFToken": csrf_token(viewer, "/customers")}
    ids = {
        "user_id": acme.users["tech@acme.test"],
        "token": "x",
        "vendor": "veeam",
        "link_id": int(waiting_account(app, acme)[0].id or 0),
        "customer_id": a_customer(app, acme.id),
        "note_id": a_note(app, acme, "viewer@acme.test"),  # even their own note: read-only users do not write
        "ticket_id": a_ticket(app, acme.id),
        "alert_id": an_alert(app, acme.id),
        "detection_id": a_detection(app, acme.id),
        "subscription_id": a_subscription(app, acme.id),
        "portal_user_id": a_portal_user(app, acme.id),
        "rule_id": a_rule(app, acme.id),
        "query_id": a_saved_query(app, acme.id),
    }
    checked = []
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) & UNSAFE
        if not methods or rule.endpoint in SELF_SERVICE | SIGNED_OUT | VENDOR_CALLS | READS_BY_POST:
            continue
        if rule.endpoint.startswith(("api.", "mcp.")):
            continue  # a token's scopes, not a session's role: tests/test_api.py walks the API map
        path = sample_path(app, rule, {k: v for k, v in ids.items() if k in rule.arguments})
        for method in sorted(methods):
            response = viewer.open(path, method=method, headers=headers)
            assert response.status_code == 403, f"{method} {path} answered {response.status_code}"
            checked.append(rule.endpoint)
    assert {
        "admin.invite",
        "admin.user_action",
        "admin.matching_action",
        "customers.add_note",
        "tickets.reply",
        "tickets.create",
        "customers.delete_note",
        "integrations.save",
        "integrations.sync_now",
        "queries.create",
        "queries.update",
        "queries.delete",
        "account.token_policy",
    } <= set(checked)


def test_it_hides_what_a_role_cannot_do(app: Flask, acme: TenantFixture) -> None:
    viewer_page = login(app, acme, "viewer@acme.test").get("/customers").get_data(as_text=True)
    admin_page = login(app, acme).get("/customers").get_data(as_text=True)
    assert "<span>Admin</span>" not in viewer_page and "<span>Admin</span>" in admin_page
