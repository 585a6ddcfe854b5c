"""A simulator of Pax8's partner API, the other side of the Pax8 connector.

It follows ``shared/vendor-apis.md`` section 5 (Pax8's developer docs). Field names and shapes are Pax8's where
they are documented; what is not confirmed there is marked [U] below and is this simulator's choice.

Authentication
    ``POST /v1/token`` with the JSON ``{"client_id", "client_secret", "audience": "https://api.pax8.com",
    "grant_type": "client_credentials"}`` → ``{"access_token", "expires_in": 86400, "token_type": "Bearer", "scope",
    "expires_at"}``: a token for a day. The older token-manager path ``POST /auth/token`` with camelCase JSON
    (``clientId, clientSecret, audience, grantType`` → ``{token, expiresIn, tokenType, expiresAt}``) is served too.
    Refusals as Pax8's Auth0 tenant gives them [U]: 401 ``{"error": "access_denied", "error_description":
    "Unauthorized"}`` for wrong credentials, 403 ``access_denied`` for an unknown audience. API calls carry
    ``Authorization: Bearer <token>``; without a valid one 401, without the permission 403.

Envelope and paging
    Lists answer ``{"content": [...], "page": {"size", "totalElements", "totalPages", "number"}}``; ``page`` is
    0-based, ``size`` 1..200 (10 when absent) [U: the maximum]. Errors answer ``{"type", "message", "status",
    "instance", "details"}`` [U].

Endpoints (under ``/v1``)
    ``GET /companies`` (``status``), ``GET /companies/{id}``; ``GET /products`` (``vendorName``),
    ``GET /products/{id}``; ``GET /subscriptions?companyId=&productId=&status=&billingTerm=`` and
    ``GET /subscriptions/{id}`` → Subscription: ``id, companyId, productId, quantity, startDate, endDate,
    createdDate, updatedDate, billingStart, status, price, partnerCost, currencyCode, billingTerm, commitment
    {term, endDate} [U], provisioningDetails``. ``PUT /subscriptions/{id}`` ``{"quantity"}`` sets the quantity:
    an increase always; a decrease of an Annual, 2-Year or 3-Year term (Microsoft's NCE) only within seven days of
    the term's start or once the commitment has ended (then it renews for another term at the new quantity),
    otherwise 422 naming the commitment's end date [U: Pax8's words]. ``DELETE /subscriptions/{id}`` cancels.
    Quotes [U: not in the stored docs]: ``POST /quotes`` ``{"companyId", "reference", "notes", "lineItems":
    [{"productId", "quantity", "billingTerm"}]}`` → 201 ``{id, companyId, status: "Draft", reference, lineItems,
    total, currencyCode, createdDate, expiresOn}``; ``GET /quotes?companyId=&reference=``, ``GET /quotes/{id}``.

Webhooks
    ``POST /api/v2/webhooks`` ``{"displayName", "url", "authorization", "webhookTopics": [{"topic": "SUBSCRIPTION"}]}``
    [U: field names] registers one; each subscription created, changed or cancelled is POSTed to every webhook as
    ``{"id", "topic": "SUBSCRIPTION", "action": "CREATED"|"UPDATED"|"CANCELLED", "occurredAt", "data":
    {"subscriptionId", "companyId", "productId", "quantity", "status"}}`` [U] with the header ``Authorization:
    <the webhook's authorization value>`` (no signature: Pax8 sends back the secret it was given).

Data
    ``Pax8State.seeded()``: a company per demo customer (named as the VSPC simulator names them), ten products (the
    Microsoft 365 plans and add-ons, Acronis), three to six subscriptions per active company. ``Pax8State.at_scale()``:
    500 companies and 5,000 subscriptions, forty of them the first company's. Both deterministic for ``seed``.

Fault knobs
    ``state.faults``, set from Python or with ``POST /_sim/faults`` (a JSON merge patch); ``POST /_sim/reset``,
    ``GET /_sim/stats``, ``GET /_sim/received`` (secrets hidden). Knobs: ``bad_secret`` (the token endpoint
    refuses), ``token_revoked`` (every API call 401), ``forbidden`` (``"writes"``: PUT and POST answer 403; ``"all"``),
    ``rate_limit_per_second`` (429 with ``Retry-After: 1``), ``errors_5xx`` (the next N requests answer
    ``error_status``), ``lose_write_answers`` (the next N writes are done, then answered 502), ``malformed_page``
    (``{"path", "page"}``: that page's JSON cut in half), ``latency`` and ``hang``. ``/_sim`` is never faulted.
    Test controls: ``POST /_sim/subscriptions`` (a new order, announced), ``PATCH /_sim/subscriptions/{id}`` (set
    fields, e.g. the commitment's end), ``POST /_sim/subscriptions/{id}/cancel``, ``GET /_sim/deliveries``.

Run it: ``python -m vectis.simulators.pax8 --host 127.0.0.1 --port 18089 [--scale demo|bench]``.

Modules: ``vendor`` (paths, the demo credentials, limits, Pax8's words, dates, the error shapes), ``seed`` (the
data), ``state`` (``Pax8State`` and its ``Faults``), ``api`` (the app, the test controls, ``main``).
"""

from vectis.simulators.pax8.api import create_app, main
from vectis.simulators.pax8.seed import CATALOGUE
from vectis.simulators.pax8.state import Faults, MalformedPage, Pax8State
from vectis.simulators.pax8.vendor import (
    API,
    AUDIENCE,
    BILLING_TERMS,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    STATUSES,
    ApiError,
)

__all__ = [
    "API",
    "AUDIENCE",
    "BILLING_TERMS",
    "CATALOGUE",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "STATUSES",
    "ApiError",
    "Faults",
    "MalformedPage",
    "Pax8State",
    "create_app",
    "main",
]
