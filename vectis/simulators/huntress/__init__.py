"""A simulator of Huntress's API v1, the other side of the Huntress connector.

It follows ``shared/vendor-apis.md`` section 7 and Huntress's published API reference (mirrored as OpenAPI
documents: the list parameters, the ``pagination`` object, isolation and resolution below come from there). What
Huntress leaves undocumented is marked [U] and is this simulator's choice.

Hosts
    Huntress has one API host for every partner, ``https://api.huntress.io``, with the API under ``/v1``. The
    simulator is that host at its root.

Authentication
    HTTP Basic: ``Authorization: Basic base64(<api key>:<api secret>)``. Keys start ``hk_``, secrets ``hs_``; a pair
    is generated at ``<subdomain>.huntress.io`` → API Credentials and the secret is shown once. The demo pair is
    ``DEMO_API_KEY`` / ``DEMO_API_SECRET``. A missing header or a pair the account does not know answers 401 (the
    status is [U]: Huntress documents only "403: There was an issue with your API credential or permissions"); a
    read-only key (an account's default key) asked to isolate, release or resolve answers 403. Keys do not expire
    (none is documented to).

Answers and paging
    Answers are keyed by resource: ``{"account": {...}}``, ``{"agent": {...}}``, ``{"incident_report": {...}}``;
    lists ``{"<resources>": [...], "pagination": {"next_page_token", "next_page_url"}}``, both null on the last page
    (null rather than absent is [U]). Lists take ``limit`` (1..500, default 10), ``page_token`` (the last page's
    ``next_page_token``), ``sort_field`` (``id|created_at|updated_at``, default ``id``) and ``sort_direction``
    (``asc|desc``, default ``desc``). The token is opaque base64 holding the sort key of the last row given (keyset
    paging: a row added or updated while a client pages neither repeats nor shifts what follows) [U]. A query
    argument the endpoint does not know answers 400 [U]. Errors are ``{"error": "<words>", "status": <code>}`` [U].

Endpoints (under ``/v1``)
    ``GET /account``; ``GET /organizations`` (``id, account_id, name, key, notify_emails, agents_count,
    incident_reports_count, created_at, updated_at``); ``GET /agents`` (filters ``organization_id``, ``platform``,
    ``hostname``; ``id, organization_id, hostname, platform, os, firewall_status`` (``Disabled``, ``Enabled``,
    ``Pending Isolation``, ``Isolated``, ``Pending Release``), ``ipv4_address, external_ip, version, edr_version,
    last_callback_at``, …) and ``GET /agents/{id}``; ``GET /incident_reports`` and
    ``GET /organizations/{id}/incident_reports`` (filters ``organization_id``, ``agent_id``, ``status``, ``severity``,
    ``platform``, ``indicator_type``; there is no filter by time: an incremental reader sorts by ``updated_at``
    descending and stops at what it has seen) and ``GET /incident_reports/{id}``: ``id, account_id,
    organization_id, agent_id, platform, severity`` (``low|high|critical``), ``status`` (``sent, closed, dismissed,
    partner_dismissed, auto_remediating``), ``subject, summary, body, indicator_types, indicator_counts,
    remediations {total_count, has_more, items: [{id, type, action, parameters, status, approved_at,
    completed_at}]}, created_at, sent_at, closed_at, status_updated_at, updated_at``.

Actions
    ``POST /agents/{id}/isolation`` (``{"reason"?, "strict_isolation"?}``) → 201 ``{"agent"}`` with
    ``firewall_status`` ``Pending Isolation``; it reads ``Isolated`` after ``state.transition_seconds`` (1 s) of
    ``state.clock()``, as the host applies it at its next callback. ``DELETE /agents/{id}/isolation`` → 204, ``Pending
    Release`` then ``Enabled``. Either is a no-op for an agent already there or on its way (an agent that is not
    isolated has nothing to release). ``POST /incident_reports/{id}/resolution`` → 201 ``{"incident_report"}``: 422
    unless the report is ``sent``, 409 while a remediation awaits the partner's approval; the report is then
    ``closed`` (Huntress's word for the state after a resolution is [U]) and its ``updated_at`` moves to now. There
    is no call to dismiss a report as a false positive: Huntress's SOC and the portal do that.

Data
    ``HuntressState.seeded()``: one account (the MSP, "Summit IT") with an organization per customer of the MSP
    (``fixtures``), named as the VSPC simulator names them; agents named as the NinjaOne and SentinelOne simulators
    name the same customers' devices (``GAX-SRV01``, ``GAX-WS01`` …, a Mac and a Linux server at some); fourteen
    incident reports over the last two weeks across the three severities (ransomware canaries, a Cobalt Strike
    beacon, footholds, Qakbot, LSASS dumping, an unapproved RMM tool, a macOS infostealer), one auto-remediating,
    three closed, one dismissed by Huntress and one by the partner, two waiting on the partner's approval of their
    remediations, and the newest ransomware's host isolated. ``HuntressState.at_scale()``: 500 organizations (the
    VSPC benchmark's names), about 5,000 agents and 5,000 reports over four weeks. Both are deterministic for a given
    ``seed`` and ``now``; what the API and the controls change is stamped with ``state.clock()`` (wall time).

Fault knobs
    ``state.faults`` (a ``Faults``), read on every request; set from Python or with ``POST /_sim/faults`` (a JSON
    merge patch, RFC 7386). ``POST /_sim/reset`` restores every knob and clears the counters; ``GET /_sim/stats``
    counts requests per ``METHOD pattern`` and per status; ``GET /_sim/received`` lists the latest as they came in
    (never the Authorization header). Knobs: ``bad_credentials`` (every request 401), ``forbidden`` (``"writes"``: a
    read-only key, actions answer 403; ``"all"``: every request 403), ``rate_limit_per_second`` (429 with
    ``Retry-After: 1``; Huntress's own limit is 60 a minute [T]), ``errors_5xx`` (the next N requests answer
    ``error_status``, 500 by default), ``latency`` and ``hang`` (seconds). ``/_sim/*`` itself is never faulted. Test
    control: ``POST /_sim/incident_reports`` (``{"agent_id", "severity"?, "kind"?}``: the SOC sends a report on that
    agent now; 201 with it).

Run it: ``python -m vectis.simulators.huntress --host 127.0.0.1 --port 18086 [--scale demo|bench]``.

Modules: ``vendor`` (paths, the demo key pair, limits, Huntress's words, times, page tokens, the error body),
``seed`` (the data), ``state`` (``HuntressState`` and its ``Faults``), ``api`` (the app, the test control, ``main``).
"""

from vectis.simulators.huntress.api import create_app, main
from vectis.simulators.huntress.state import Faults, HuntressState
from vectis.simulators.huntress.vendor import (
    API,
    DEMO_API_KEY,
    DEMO_API_SECRET,
    FIREWALL_STATUSES,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    SEVERITIES,
    STATUSES,
    ApiError,
)

__all__ = [
    "API",
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "FIREWALL_STATUSES",
    "LIMIT_DEFAULT",
    "LIMIT_MAX",
    "SEVERITIES",
    "STATUSES",
    "ApiError",
    "Faults",
    "HuntressState",
    "create_app",
    "main",
]
