"""Schemathesis against the REST API's own OpenAPI document, with each workspace's token: every generated request
(valid and invalid parameters, ids of either workspace) gets an answer the document promises — the status codes it
lists, their content types and schemas — and never a 5xx. And its CLI with both workspaces' tokens as peers: no object
one workspace lists can be read with the other's token."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import select

from tests.conftest import TenantFixture, a_rule, a_ticket, an_alert, client_for, pid, serving
from tests.query_world import world
from tests.test_api import make_token
from vectis.identity import tokens
from vectis.models import Connection, Customer, Rule
from vectis.platform import db


@pytest.fixture(scope="module")
def served(app: Flask) -> Iterator[int]:
    with serving(app) as port:
        yield port


def _schema(app: Flask, tenant: TenantFixture) -> Any:
    document = client_for(app, tenant).get("/api/v1/openapi.json").get_json()
    return schemathesis.openapi.from_dict(document)


@pytest.mark.parametrize("who", ["acme", "northwind"])
def test_every_operation_answers_as_its_document_says(
    app: Flask, served: int, tenants: dict[str, TenantFixture], who: str
) -> None:
    tenant = tenants[who]
    world(app, tenants["northwind"].id, secret=True)
    world(app, tenants["acme"].id)
    # Every scope the admin holds, a rate no generated burst can reach.
    raw = make_token(app, tenant, scopes=tuple(tokens.SCOPES))
    app.config["VECTIS_API_RATE"] = (10_000.0, 100_000)
    schema = _schema(app, tenant)
    headers = {"Authorization": f"Bearer {raw}", "Host": f"{tenant.host}:{served}"}
    failures: list[str] = []
    try:
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=operation.as_strategy())
            def check(case: Any) -> None:
                # Every check but "a schema-valid request is accepted": a cursor is an opaque string only Vectis
                # writes, and one it did not write is a 422 in words, which no schema can say beforehand.
                case.call_and_validate(
                    base_url=f"http://127.0.0.1:{served}/api/v1",
                    headers=headers,
                    excluded_checks=[positive_data_acceptance],
                )

            try:
                check()
            except Exception as error:
                failures.append(f"{operation.method.upper()} {operation.path}: {str(error)[:600]}")
    finally:
        del app.config["VECTIS_API_RATE"]
    assert failures == []


def test_an_error_in_words_reaches_a_client_over_a_real_socket(app: Flask, served: int, acme: TenantFixture) -> None:
    """Found by the generated requests: an error whose sentence has typographic quotes (“Authorization: …”) went
    into the X-Vectis-Error header, which HTTP carries as Latin-1, and the server dropped the answer altogether."""
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    connection.request("GET", "/api/v1/customers", headers={"Host": f"{acme.host}:{served}"})
    answer = connection.getresponse()
    body = json.loads(answer.read())
    assert answer.status == 401 and "“Authorization: Bearer vct_pat_…”" in body["detail"]
    assert answer.getheader("X-Vectis-Error", "").startswith('Send a personal access token as "Authorization: Bearer')
    connection.close()


def _peers(app: Flask, port: int, *workspaces: TenantFixture) -> dict[str, Any]:
    """A Web Fuzzing Commons auth document: each workspace's admin token (every scope) and the workspace's address,
    since a token is good only at its own workspace's host. The Host rides with the token, not in the run's ``headers``:
    schemathesis lets those override a request's own, so every probe of the other workspace would go to the first."""
    users = []
    for tenant in workspaces:
        raw = make_token(app, tenant, scopes=tuple(tokens.SCOPES))
        headers = {"Authorization": f"Bearer {raw}", "Host": f"{tenant.host}:{port}"}
        users.append({"name": tenant.slug, "fixedHeaders": [{"name": k, "value": v} for k, v in headers.items()]})
    return {"auth": users}


def _settings(port: int, peers: Path, owner: str, events: Path, pinned: dict[str, str]) -> str:
    """The run's schemathesis.toml: every check, the object-level authorization one included, but the two whose
    comments say why."""
    return f"""
base-url = "http://127.0.0.1:{port}/api/v1"
seed = 1
workers = 1
cache.enabled = false
reports.ndjson = {{ enabled = true, path = "{events}" }}

[auth.wfc]
path = "{peers}"
# Every request as the owner; the other workspace's entry is there for the check's probes.
user = "{owner}"
peers = ["acme", "northwind"]

[generation]
max-examples = 10
database = "none"
# Tokens come from the document only. A generated request without one would lose the workspace's Host too (it
# rides with the token) and reach no workspace at all; ignored_auth still replays each call without its token, at
# the workspace's address, and expects a 401.
with-security-parameters = false

[checks]
object_level_authorization.enabled = true
# As in the test above: a cursor Vectis did not write is a 422 in words, which no schema can say beforehand.
positive_data_acceptance.enabled = false

# Every write is a dry run, and one on a ticket or an alert is on the owner's own of a real vendor's connection: no
# vendor is served here, and a rule enabled for real would fire in other tests. (The query builder's world's tickets
# are of a test-only vendor that no connector speaks for, which the ticket verbs cannot name: a 500.)
[[operations]]
include-method = "POST"
parameters = {{ {", ".join(f"{name} = {json.dumps(value)}" for name, value in pinned.items())} }}
"""


def _sent_as(events: Path, peer: str) -> tuple[list[str], dict[str, set[tuple[str, int]]]]:
    """From the run's NDJSON report: the object-level authorization check's verdicts, and the requests the run sent as
    ``peer`` (its probes), by operation, as the Host they went to and the status that came back."""
    verdicts: list[str] = []
    sent: dict[str, set[tuple[str, int]]] = {}
    for line in events.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished", {}).get("recorder", {})
        for checks in scenario.get("checks", {}).values():
            verdicts += [check["status"] for check in checks if check["name"] == "object_level_authorization"]
        for case_id, case in scenario.get("cases", {}).items():
            exchange = scenario.get("interactions", {}).get(case_id)
            if case["value"].get("auth_identity") == peer and exchange is not None:
                answer = (exchange["request"]["headers"]["Host"][0], exchange["response"]["status_code"])
                sent.setdefault(f"{case['value']['method']} {case['value']['path']}", set()).add(answer)
    return verdicts, sent


@pytest.fixture
def northwind_as_found(app: Flask, northwind: TenantFixture) -> Iterator[None]:
    """Northwind's connections, customers and rules as they were: the objects this test gives it (a ticket, an alert
    and a rule, each on a connection of its own) would meet the next test on this worker that sets northwind up from
    nothing (its Veeam connection is one per workspace)."""

    def present() -> tuple[set[int], set[int], set[int]]:
        with app.app_context(), db.tenant_session(northwind.id) as s:
            return (
                set(s.scalars(select(Connection.id))),
                set(s.scalars(select(Customer.id))),
                set(s.scalars(select(Rule.id))),
            )

    world(app, northwind.id, secret=True)  # the query builder's world stays: other tests share it
    before = present()
    yield
    after = present()
    connections, customers, rules = (now - then for now, then in zip(after, before, strict=True))
    with app.app_context(), db.tenant_session(northwind.id) as s:
        made = [
            *s.scalars(select(Rule).where(Rule.id.in_(rules))),
            *s.scalars(select(Customer).where(Customer.id.in_(customers))),
            *s.scalars(select(Connection).where(Connection.id.in_(connections))),
        ]
        for row in made:
            s.delete(row)


@pytest.mark.parametrize("owner", ["acme", "northwind"])
@pytest.mark.usefixtures("northwind_as_found")
def test_no_workspace_reads_another_workspaces_objects(
    app: Flask, served: int, tenants: dict[str, TenantFixture], tmp_path: Path, owner: str
) -> None:
    """Schemathesis's object-level authorization check, the two workspaces as peers: each object ``owner`` read by an
    id from a list of its own (a customer, a ticket, a rule; a customer's notes or timeline when the answer names it)
    is asked for again with the other workspace's token at the other workspace's address, and must not come back;
    every other check runs alongside."""
    peer = tenants["northwind" if owner == "acme" else "acme"]
    world(app, tenants["northwind"].id, secret=True)
    world(app, tenants["acme"].id)
    for tenant in tenants.values():
        a_ticket(app, tenant.id)
        a_rule(app, tenant.id)
    peers, document, events = tmp_path / "peers.json", tmp_path / "openapi.json", tmp_path / "events.ndjson"
    peers.write_text(json.dumps(_peers(app, served, tenants["acme"], tenants["northwind"])))
    document.write_bytes(client_for(app, tenants[owner]).get("/api/v1/openapi.json").get_data())
    pinned = {"dry_run": "true", "ticket_id": pid(app, "ticket", a_ticket(app, tenants[owner].id)),
              "alert_id": pid(app, "alert", an_alert(app, tenants[owner].id))}  # fmt: skip
    (tmp_path / "schemathesis.toml").write_text(_settings(served, peers, owner, events, pinned))
    app.config["VECTIS_API_RATE"] = (10_000.0, 100_000)
    try:
        run = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(tmp_path / "schemathesis.toml"),
             "--no-color", "run", str(document)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        del app.config["VECTIS_API_RATE"]
    assert run.returncode == 0, run.stdout.partition("= FAILURES =")[2][:8000] or run.stdout[-3000:] + run.stderr
    # A green run proves something only if the check ran and probed: the owner's objects were asked for with the
    # peer's token at the peer's own address, and each time the answer was that it has no such object.
    verdicts, sent = _sent_as(events, peer.slug)
    assert verdicts and set(verdicts) == {"success"}
    probes = {operation: answers for operation, answers in sent.items() if "{" in operation}
    assert {"GET /customers/{customer_id}", "GET /tickets/{ticket_id}", "GET /rules/{rule_id}"} <= probes.keys(), sent
    assert all(answers == {(f"{peer.host}:{served}", 404)} for answers in probes.values()), probes
