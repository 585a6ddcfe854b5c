"""Hostile input gets a clear 4xx, never a 500 (issue 15, finding 3). The walk covers ``app.url_map`` as it is, so a
new route is sent the same values the day it is added: NUL bytes, 2^63, a superscript digit, year 9999, 10 KB
strings and garbage cursors, in the query string and the form, as an anonymous visitor, a read-only user and an
admin."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from tests.conftest import MadeUser, TenantFixture, a_customer, client_for, csrf_token, login, sample_path
from tests.test_outsider import OBJECT_IDS

HOSTILE = ["\x00", str(2**63), "²", "9999-12-31", "x" * 10_000, "garbage_1", "-1", "0001-01-01T00:00:00+14:00"]
KEYS = (
    "q",
    "day",
    "to",
    "from",
    "week",
    "until",
    "since",
    "after",
    "before",
    "age",
    "days",
    "customer",
    "board",
    "status",
    "assignee",
    "source",
    "tab",
    "sort",
    "state",
    "trigger",
    "actor",
    "action",
    "result",
    "page",
    "email",
    "password",
    "code",
    "body",
    "text",
    "tags",
    "reason",
    "hours",
    "summary",
    "board_id",
    "status_id",
    "priority_id",
    "contact_id",
    "customer_id",
    "occurred_at",
    "role",
    "name",
    "scope_ids",
    "next",
    "url",
)


def test_no_route_answers_a_hostile_value_with_a_5xx(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    clients = {
        "anonymous": client_for(app, acme),
        "viewer": login(app, acme, "viewer@acme.test"),
        "admin": login(app, acme),
    }
    tokens = {who: csrf_token(c, "/signin" if who == "anonymous" else "/customers") for who, c in clients.items()}
    a_customer(app, acme.id)
    failures: list[str] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if rule.endpoint == "auth.signout":
            continue  # it would end the walk's own sessions
        ids: dict[str, Callable[[Flask, TenantFixture], int]] = {
            **OBJECT_IDS,
            "user_id": lambda app, acme: make_user(acme).id,  # never the shared demo users
        }
        values: dict[str, object] = {a: ids[a](app, acme) for a in rule.arguments if a.endswith("_id")}
        if "token" in rule.arguments:
            values["token"] = "0" * 32
        if "vendor" in rule.arguments:
            values["vendor"] = "connectwise"
        path = sample_path(app, rule, values)
        for value in HOSTILE:
            fields = dict.fromkeys(KEYS, value)
            for who, client in clients.items():
                for method in sorted((rule.methods or set()) & {"GET", "POST"}):
                    if method == "GET":
                        answer = client.get(path, query_string=fields)
                    else:
                        answer = client.post(path, data={**fields, "csrf_token": tokens[who]})
                    answer.get_data()  # a streamed answer (the audit CSV) must not break off half-way either
                    answer.close()
                    if answer.status_code >= 500:
                        failures.append(f"{who} {method} {rule.rule} {value[:12]!r}: {answer.status_code}")
    assert failures == [], "\n".join(sorted(set(failures))[:60])


def test_a_rule_form_nested_thousands_of_levels_deep_is_answered_in_words(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    form = {
        "csrf_token": csrf_token(client, "/rules/new"),
        "name": "deep",
        "trigger": "backup.failed",
        "c.r.type": "group",
    }
    path = "r"
    for _ in range(3000):
        path += ".1"
        form[f"c.{path}.type"] = "group"
    for url in ("/rules/new", "/rules/builder", "/rules/test"):
        answer = client.post(url, data=form)
        assert answer.status_code < 500, (url, answer.status_code)
