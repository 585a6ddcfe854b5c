"""A simulator of Microsoft Graph's posture reads (Secure Score, Intune, Conditional Access, directory roles, MFA
registration) and of the Entra ID token endpoint in front of it, the other side of the Microsoft 365 connector.

It follows ``shared/vendor-apis.md`` section 8 (Microsoft Learn's Graph reference). Field names and shapes are
Graph's; what is not confirmed there is marked [U] and is this simulator's choice.

Hosts
    Microsoft serves the token at ``https://login.microsoftonline.com`` and Graph at
    ``https://graph.microsoft.com/v1.0``. The simulator is both at its root: the token under
    ``/{tenant}/oauth2/v2.0/token``, Graph under ``/v1.0``.

Tenants and authentication
    Each customer of the MSP is its own Entra tenant. The demo app registration (``DEMO_CLIENT_ID`` /
    ``DEMO_CLIENT_SECRET``) is the MSP's multi-tenant app, consented in every simulated tenant. ``POST
    /{tenant}/oauth2/v2.0/token`` (form ``grant_type=client_credentials, client_id, client_secret,
    scope=https://graph.microsoft.com/.default``; the tenant by id or ``.onmicrosoft.com`` domain) → ``{"token_type":
    "Bearer", "expires_in": 3599, "access_token"}``; the token is a JWT whose payload names the tenant (``tid``) and
    the application permissions consented there (``roles``), as Entra's app-only tokens do. Refusals in Entra's
    shape: an unknown tenant 400 (AADSTS90002), an app not in the tenant 400 ``unauthorized_client``
    (AADSTS700016), a wrong secret 401 (AADSTS7000215), an expired one 401 (AADSTS7000222).

Envelope and paging
    Lists answer ``{"@odata.context", "value": [...]}`` plus an absolute ``@odata.nextLink`` (the same query with a
    ``$skiptoken``) while more rows follow; ``$top`` 1..999 (``state.page_size`` when absent). ``$filter`` takes one
    ``<field> eq <value>`` on the fields noted below. Errors are ``{"error": {"code", "message", "innerError"}}``.

Endpoints (under ``/v1.0``; the permission each needs, any one of those named)
    ``GET /organization`` (Organization.Read.All) · ``GET /security/secureScores`` and ``GET
    /security/secureScoreControlProfiles`` (SecurityEvents.Read.All; a score a day, newest first, id
    ``<tenant>_<yyyy-mm-dd>``) · ``GET /deviceManagement/managedDevices`` (``$filter=complianceState eq '…'``) and
    ``GET /deviceManagement/managedDevices/{id}/deviceCompliancePolicyStates`` (DeviceManagementManagedDevices.Read.All;
    a tenant without Intune: 400 "Request not applicable to target tenant." [T]) · ``GET
    /identity/conditionalAccess/policies`` (Policy.Read.All; without Entra ID P1: 403
    ``Authentication_RequestFromNonPremiumTenantOrB2CTenant`` [U for this list]) · ``GET
    /directoryRoles?$expand=members`` (RoleManagement.Read.Directory or Directory.Read.All; activated roles only) ·
    ``GET /reports/authenticationMethods/userRegistrationDetails`` (AuditLog.Read.All, Entra ID P1: 403 as above
    [T]; ``$filter`` on ``isAdmin, isMfaRegistered, …``). A missing permission: 403 ``Authorization_RequestDenied``
    (directory lists) or ``Forbidden`` naming the scopes (Intune, security).

Data
    ``GraphState.seeded()``: a tenant per customer of the MSP (``fixtures``), the first (``DEMO_TENANT_ID``) with
    two devices not compliant, a report-only policy, an admin without MFA and two days without a Secure Score; the
    second without Entra ID P1, the third without Intune, the fourth did not grant AuditLog.Read.All.
    ``GraphState.at_scale()``: 500 tenants. Both deterministic for a given ``seed`` and ``now``.

Fault knobs
    ``state.faults``, set from Python or with ``POST /_sim/faults`` (a JSON merge patch); ``POST /_sim/reset``, ``GET
    /_sim/stats``, ``GET /_sim/received`` (secrets hidden). ``bad_secret``, ``secret_expired``, ``not_consented``
    (tenant ids, or ``"*"``), ``token_revoked``, ``revoked_roles`` (permissions left out of new tokens), ``no_p1`` and
    ``no_intune`` (tenant ids or ``"*"``: licences missing), ``partial`` (API paths answering 206 with half a page and
    a ``Warning``), ``throttle_next`` (the next N API requests 429 with ``Retry-After: retry_after``),
    ``rate_limit_per_second``, ``errors_5xx`` / ``error_status``, ``latency``, ``hang``. Test controls: ``POST
    /_sim/compliance`` ``{"tenant", "device", "state"}`` and ``POST /_sim/policy`` ``{"tenant", "policy", "state"}``.

Run it: ``python -m vectis.simulators.graph --host 127.0.0.1 --port 18088 [--scale demo|bench]``.
"""

from vectis.simulators.graph.api import create_app, main
from vectis.simulators.graph.seed import DEMO_TENANT_ID, demo_tenant_ids
from vectis.simulators.graph.state import Faults, GraphState
from vectis.simulators.graph.vendor import ALL_ROLES, API, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SCOPE, ApiError

__all__ = [
    "ALL_ROLES",
    "API",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_TENANT_ID",
    "SCOPE",
    "ApiError",
    "Faults",
    "GraphState",
    "create_app",
    "demo_tenant_ids",
    "main",
]
