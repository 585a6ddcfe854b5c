"""A simulator of Microsoft Defender for Endpoint's API (the one Defender for Business shares) and of the Entra ID
token endpoint in front of it, the other side of the Defender connector.

It follows ``shared/vendor-apis.md`` sections 9 and 8 (Microsoft Learn's Defender API reference). Field names and
shapes are Defender's; what is not confirmed there is marked [U] below and is this simulator's choice.

Hosts
    Microsoft serves the token at ``https://login.microsoftonline.com`` and the API at
    ``https://api.securitycenter.microsoft.com/api`` (geo hosts ``us.|eu.|uk.|au.api.security.microsoft.com`` too).
    The simulator is both at its root: the token under ``/{tenant}/oauth2/v2.0/token``, the API under ``/api``.

Tenants and authentication
    Defender is per customer tenant: each customer of the MSP is its own Entra tenant (a GUID) with its own
    machines and alerts. The demo app registration (``DEMO_CLIENT_ID``/``DEMO_CLIENT_SECRET``) is a multi-tenant
    app consented in every simulated tenant. ``POST /{tenant}/oauth2/v2.0/token`` (form ``grant_type=
    client_credentials, client_id, client_secret, scope=https://api.securitycenter.microsoft.com/.default``) →
    ``{"token_type": "Bearer", "expires_in": 3599, "access_token"}``; the token reads that tenant only. The tenant
    in the URL is its id or one of its domains (``<code><n>.onmicrosoft.com``, or the customer's own), as Entra
    takes either. ``state.served`` lists every API request with the tenant whose token it carried. Refusals in
    Entra's shape ``{"error", "error_description": "AADSTS<code>: …", "error_codes"}``: an unknown tenant 400
    ``invalid_request`` (AADSTS90002), an app not in the tenant 400 ``unauthorized_client`` (AADSTS700016), a wrong
    secret 401 ``invalid_client`` (AADSTS7000215), an expired one 401 (AADSTS7000222) [U: the statuses; the codes
    are Entra's]. API requests carry ``Authorization: Bearer <token>``; without a valid one 401, without the
    permission 403, both as ``{"error": {"code", "message", "target"}}``.

Envelope and paging
    Lists answer ``{"@odata.context", "value": [...]}`` and add an absolute ``@odata.nextLink`` (the same query with
    the next ``$skip``) while more rows follow. ``$top`` is 1..10,000 (10,000 when absent), ``$skip`` any offset.
    ``$filter`` takes ``and``-joined comparisons ``<field> eq|ne|gt|ge|lt|le <value>`` (strings quoted, times bare
    ISO 8601) on the fields Defender documents for that list; anything else (``or``, functions, another field) is
    400 [U: Defender's exact refusal]. The simulator orders by creation time then id so ``$skip`` pages hold still.

Endpoints (under ``/api``)
    ``GET /alerts`` (``$expand=evidence`` adds the evidence; without it ``evidence`` is empty) → Alert: ``id,
    incidentId, severity (Informational|Low|Medium|High), status (New|InProgress|Resolved), classification
    (null|Unknown|FalsePositive|TruePositive|InformationalExpectedActivity), determination, category, title,
    description, threatFamilyName, detectionSource, assignedTo, alertCreationTime, firstEventTime, lastEventTime,
    lastUpdateTime, resolvedTime, machineId, computerDnsName, rbacGroupName, aadTenantId, relatedUser, comments,
    evidence[] (entityType File: sha1, sha256, fileName, filePath)``; filter on ``alertCreationTime,
    lastUpdateTime, status, severity, category, id, incidentId, machineId…``. ``GET /alerts/{id}``. ``PATCH
    /alerts/{id}`` with any of ``status, assignedTo, classification, determination, comment`` → the alert; its
    ``lastUpdateTime`` moves to now (always forward). ``GET /machines``, ``GET /machines/{id}`` → Machine (``id,
    computerDnsName, osPlatform, healthStatus, lastSeen, …``).

Machine actions
    ``POST /machines/{id}/isolate`` ``{"Comment", "IsolationType": "Full"|"Selective"}`` and ``POST
    /machines/{id}/unisolate`` ``{"Comment"}`` → 201 MachineAction (``id, type (Isolate|Unisolate), scope, status,
    requestor, requestorComment, machineId, computerDnsName, creationDateTimeUtc, lastUpdateDateTimeUtc``),
    ``Pending`` until ``state.transition_seconds`` (1 s) of ``state.clock()`` have passed, then ``Succeeded`` on the
    next request, as a device applies it at its next check-in. A second action of the same type while one is pending
    answers 400 [U]. ``GET /machineactions`` (``$filter`` on ``machineId, type, status, requestor,
    creationDateTimeUtc``) and ``GET /machineactions/{id}`` read them back.

Data
    ``DefenderState.seeded()``: a tenant per customer of the MSP (``fixtures``, named as the VSPC simulator names
    them), 3-6 machines each named as the NinjaOne and SentinelOne simulators name the same endpoints
    (``GAX-SRV01``, ``GAX-WS01``, a Mac at some; ``computerDnsName`` is ``gax-ws01.<customer's domain>``); the first
    tenant (``DEMO_TENANT_ID``, the demo connection's) has fourteen alerts over two weeks across every severity and
    status (two true positives in progress, one resolved, a false positive, an expected activity), every other
    tenant one or two. ``DefenderState.at_scale()``: 500 tenants, about 5,000 machines and 5,000 alerts over four
    weeks. Both deterministic for a given ``seed`` and ``now``.

Fault knobs
    ``state.faults``, set from Python or with ``POST /_sim/faults`` (a JSON merge patch); ``POST /_sim/reset``,
    ``GET /_sim/stats``, ``GET /_sim/received`` (client secrets hidden). Knobs: ``bad_secret``, ``secret_expired``,
    ``not_consented`` (the token endpoint refuses as above: ``true`` in every tenant, or a list of tenant ids), ``token_revoked`` (every API call 401),
    ``forbidden`` (``"writes"``: read permissions only, so actions and PATCH answer 403; ``"all"``),
    ``rate_limit_per_second`` (429 ``{"error": {"code": "TooManyRequests"}}`` with ``Retry-After: 1``),
    ``errors_5xx`` (the next N requests answer ``error_status``), ``latency`` and ``hang``. ``/_sim`` is never
    faulted. Test control: ``POST /_sim/alerts`` (``{"machineId", "severity"?, "title"?}``: 201 with the new alert).

Run it: ``python -m vectis.simulators.defender --host 127.0.0.1 --port 18087 [--scale demo|bench]``.

Modules: ``vendor`` (paths, the demo app, limits, Defender's words, times, the two error shapes), ``seed`` (the
data), ``state`` (``DefenderState``, its ``Faults`` and the ``$filter`` reader), ``api`` (the app, the test control,
``main``).
"""

from vectis.simulators.defender.api import create_app, main
from vectis.simulators.defender.seed import DEMO_CUSTOMER_NAME, DEMO_TENANT_ID, demo_tenant_domains, demo_tenant_ids
from vectis.simulators.defender.state import DefenderState, Faults
from vectis.simulators.defender.vendor import (
    API,
    CLASSIFICATIONS,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    SCOPE,
    SEVERITIES,
    STATUSES,
    ApiError,
)

__all__ = [
    "API",
    "CLASSIFICATIONS",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_CUSTOMER_NAME",
    "DEMO_TENANT_ID",
    "SCOPE",
    "SEVERITIES",
    "STATUSES",
    "ApiError",
    "DefenderState",
    "Faults",
    "create_app",
    "demo_tenant_domains",
    "demo_tenant_ids",
    "main",
]
