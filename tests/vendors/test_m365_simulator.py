"""The Graph simulator on its own (Flask's test client): Entra's refusals, the token's roles claim, Graph's paging,
its licence and permission refusals in Graph's own error body, 206 with a warning, 429 with Retry-After, and the knobs
refusing what they do not know."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask.testing import FlaskClient

from vectis.simulators.graph import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SCOPE, GraphState, create_app

Json = dict[str, Any]


def client_of(state: GraphState) -> FlaskClient:
    return create_app(state).test_client()


def token_for(client: FlaskClient, tenant: str, **form: str) -> Any:
    data = {"grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
            "scope": SCOPE, **form}  # fmt: skip
    return client.post(f"/{tenant}/oauth2/v2.0/token", data=data)


def bearer(client: FlaskClient, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, tenant).get_json()['access_token']}"}


def claims(token: str) -> Json:
    payload = token.split(".")[1]
    decoded: Json = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def test_each_tenant_signs_in_on_its_own_and_the_token_names_what_was_granted() -> None:
    state = GraphState.seeded()
    client = client_of(state)
    first, fourth = state.tenant_ids()[0], state.tenant_ids()[3]
    answer = token_for(client, first)
    assert answer.status_code == 200 and answer.get_json()["expires_in"] == 3599
    said = claims(answer.get_json()["access_token"])
    assert said["tid"] == first and "AuditLog.Read.All" in said["roles"]
    assert "AuditLog.Read.All" not in claims(token_for(client, fourth).get_json()["access_token"])["roles"]
    domain = state.tenants[first]["domain"]
    assert claims(token_for(client, domain).get_json()["access_token"])["tid"] == first  # by its domain too
    wrong = token_for(client, first, client_secret="nope")
    assert wrong.status_code == 401 and wrong.get_json()["error_codes"] == [7000215]
    unknown = token_for(client, "00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 400 and unknown.get_json()["error_codes"] == [90002]
    state.faults.not_consented = [first]
    assert token_for(client, first).get_json()["error_codes"] == [700016]
    assert token_for(client, fourth).status_code == 200


def test_lists_page_by_next_link_and_refuse_in_graphs_words() -> None:
    state = GraphState.seeded()
    state.page_size = 3
    client = client_of(state)
    tenants = state.tenant_ids()
    headers = bearer(client, tenants[0])
    seen, path = [], "/v1.0/deviceManagement/managedDevices"
    while path:
        body = client.get(path, headers=headers).get_json()
        seen += body["value"]
        path = body.get("@odata.nextLink", "").removeprefix("http://localhost")
    assert len(seen) == len(state.tenants[tenants[0]]["devices"]) == 8
    no_p1 = client.get("/v1.0/identity/conditionalAccess/policies", headers=bearer(client, tenants[1]))
    assert no_p1.status_code == 403
    assert no_p1.get_json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    no_intune = client.get("/v1.0/deviceManagement/managedDevices", headers=bearer(client, tenants[2]))
    assert (
        no_intune.status_code == 400 and "not applicable to target tenant" in no_intune.get_json()["error"]["message"]
    )
    no_audit = client.get(
        "/v1.0/reports/authenticationMethods/userRegistrationDetails", headers=bearer(client, tenants[3])
    )
    assert no_audit.status_code == 403 and no_audit.get_json()["error"]["code"] == "Authorization_RequestDenied"
    assert client.get("/v1.0/directoryRoles", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_the_206_the_429_and_the_knobs() -> None:
    state = GraphState.seeded()
    client = client_of(state)
    headers = bearer(client, state.tenant_ids()[0])
    state.faults.partial = ["/security/secureScores"]
    partial = client.get("/v1.0/security/secureScores?$top=30", headers=headers)
    assert partial.status_code == 206 and "partial" in partial.headers["Warning"]
    assert len(partial.get_json()["value"]) == 15
    state.faults.throttle_next, state.faults.retry_after = 1, 7
    throttled = client.get("/v1.0/organization", headers=headers)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert client.get("/v1.0/organization", headers=headers).status_code == 200
    refused = client.post("/_sim/faults", json={"no_p1": "everyone"})
    assert refused.status_code == 400 and "no_p1 must be a list of strings" in refused.get_json()["error"]
    assert client.post("/_sim/faults", json={"no_such_knob": 1}).status_code == 400
    assert client.post("/_sim/faults", json={"no_intune": ["*"]}).get_json()["no_intune"] == ["*"]
    assert client.get("/v1.0/deviceManagement/managedDevices", headers=headers).status_code == 400
