"""Schemathesis against the REST API's own OpenAPI document, with each workspace's token: every generated request
(valid and invalid parameters, ids of either workspace) gets an answer the document promises — the status codes it
lists, their content types and schemas — and never a 5xx."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import TenantFixture, client_for, serving
from tests.query_world import world
from tests.test_api import make_token
from vectis.identity import tokens


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
