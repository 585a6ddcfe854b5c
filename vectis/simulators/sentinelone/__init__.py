"""A simulator of SentinelOne's Management API v2.1, the other side of the SentinelOne connector.

It follows ``shared/vendor-apis.md`` section 6 (S1's own API reference is behind its console; the facts there come
from a client generated from S1's v2.1 swagger and from other vendors' connector documentation). Field names and
shapes are S1's; what S1 leaves undocumented publicly is marked [U] below and is this simulator's choice.

Hosts
    S1 runs a management console per customer of its own (``https://<tenant>.sentinelone.net``, often regional:
    ``usea1-partners``, ``euce1-…``) with the API under ``/web/api/v2.1``. The simulator is one console at its root:
    the connector's Console URL points at it.

Authentication
    ``Authorization: ApiToken <token>`` on every request. The demo service user's token is ``DEMO_API_TOKEN``; it was
    made 30 days before the data's ``now`` and expires 180 days after that. A missing or malformed header, or a token
    the console does not know, answers 401 with S1's error envelope ``{"errors": [{"code": 4010010, "detail":
    "Invalid API token.", "title": "Authentication Failed"}]}``; an expired one the same with the detail "API token
    has expired." (the wording of that detail is [U]). ``POST /users/api-token-details`` with ``{"data": {"apiToken":
    "<token>"}}`` → ``{"data": {"createdAt", "expiresAt"}}`` (a body token it does not know: 400).

Envelope and paging
    Every answer is ``{"data": ...}``; lists add ``"pagination": {"totalItems", "nextCursor"}`` and page by
    ``cursor=<nextCursor>`` and ``limit`` (1..1000, default 10); ``nextCursor`` is null on the last page. The cursor is
    opaque base64 holding the sort key of the last row given (keyset paging), so a row added or updated while a
    client pages neither repeats nor shifts what follows. ``sortBy`` (below) then the id make the order total;
    ``sortOrder`` is ``asc`` (default) or ``desc``. A query argument the endpoint does not know answers 400 (S1
    validates its filters; that it refuses unknown ones rather than ignoring them is [U]). Errors are
    ``{"errors": [{"code", "detail", "title"}]}`` with a seven-digit code led by the HTTP status (4000010 validation,
    4030010 permissions, 4290010 rate limit: [U] but for 4010010).

Endpoints (under ``/web/api/v2.1``)
    ``GET /sites`` → ``{"data": {"allSites": {"activeLicenses", "totalLicenses"}, "sites": [Site]}}`` (``id, name,
    accountId, accountName, state, siteType, sku, suite, activeLicenses, totalLicenses, unlimitedLicenses,
    unlimitedExpiration, expiration, isDefault, healthStatus, description, externalId, creator, createdAt,
    updatedAt``), filtered by ``siteIds``, ``accountIds``, ``state``, ``name``; ``sortBy`` ``id|name|createdAt``.
    ``GET /agents`` → ``[Agent]`` (``id, uuid, computerName, accountId, accountName, siteId, siteName, groupId,
    groupName, networkStatus, osName, osType, osRevision, machineType, domain, externalIp, lastIpToMgmt,
    lastLoggedInUserName, lastActiveDate, isActive, isDecommissioned, isUpToDate, agentVersion, mitigationMode,
    infected, activeThreats, registeredAt, createdAt, updatedAt``), filtered by ``ids``, ``siteIds``,
    ``accountIds``, ``networkStatuses``, ``computerName``, ``isActive``; ``sortBy`` ``id|computerName``.
    ``GET /threats`` → ``[Threat]``: ``id``, ``threatInfo`` (``threatName, classification, confidenceLevel
    (malicious|suspicious|n/a), mitigationStatus, incidentStatus (unresolved|in_progress|resolved), analystVerdict
    (undefined|true_positive|false_positive|suspicious)`` each with its ``…Description``, ``sha1, sha256, filePath,
    engines, detectionType, storyline, identifiedAt, createdAt, updatedAt``, …), ``agentRealtimeInfo`` (``agentId,
    agentComputerName, agentNetworkStatus, agentIsActive, siteId, siteName, accountId, accountName``, …: the agent as
    it is now), ``agentDetectionInfo`` (the agent as it was at detection), ``mitigationStatus`` (the actions taken),
    ``indicators``. Filtered by ``ids``, ``siteIds``, ``accountIds``, ``agentIds``, ``resolved``
    (``incidentStatus == resolved``), ``incidentStatuses``, ``analystVerdicts``, ``confidenceLevels``,
    ``classifications`` and ``createdAt``/``updatedAt`` with ``__gt``, ``__gte``, ``__lt``, ``__lte`` (ISO 8601);
    ``sortBy`` ``id|createdAt|updatedAt``: ``sortBy=updatedAt&sortOrder=asc`` is how an incremental reader pages.
    Every filter list is comma-separated.

Actions
    Body ``{"filter": {...}, "data": {...}}`` → ``{"data": {"affected": N}}``, N the rows the filter matched (0 for
    ids it does not know). The filter takes ``ids`` and ``siteIds`` (lists of strings); an empty filter is refused
    with 400 (it would act on the whole console: a guard of the simulator's).
    ``POST /agents/actions/disconnect`` (network quarantine): each agent is ``disconnecting`` at once and
    ``disconnected`` on the first read after ``state.transition_seconds`` (1 s by default) of ``state.clock()``,
    as a real agent applies it at its next heartbeat; ``POST /agents/actions/connect`` mirrors it (``connecting``,
    then ``connected``). An agent already there, or on its way, stays as it is.
    ``POST /threats/incident`` (``data.incidentStatus``, optional ``data.analystVerdict``) and
    ``POST /threats/analyst-verdict`` (``data.analystVerdict``) change the threat and move its ``updatedAt`` to now
    (always forward, so an incremental reader on ``updatedAt`` sees the change).

Data
    ``SentinelOneState.seeded()``: one account (the MSP, "Summit IT") with a site per customer of the MSP
    (``fixtures``), named as the VSPC simulator names them; 3-7 agents per site named as the NinjaOne simulator names
    the same customers' devices (``GAX-SRV01``, ``GAX-WS01`` …, a Mac and a Linux server at some), so both tools
    describe the same endpoints; fifteen threats over the last two weeks (ransomware, trojans, an infostealer, a
    worm, a Mac trojan, PUAs, a hacktool, a fileless exploit, one of confidence ``n/a``), two resolved as true
    positives, one resolved as a false positive, three in progress, and the agent of the newest ransomware already
    disconnected. ``SentinelOneState.at_scale()``: 500 sites (the VSPC benchmark's names), about 5,000 agents and
    5,000 threats over four
    weeks. Both are deterministic for a given ``seed`` and ``now``; what the API and the
    controls change is stamped with ``state.clock()`` (wall time).

Fault knobs
    ``state.faults`` (a ``Faults``), read on every request; set from Python or with ``POST /_sim/faults`` (a JSON
    merge patch, RFC 7386). ``POST /_sim/reset`` restores every knob and clears the counters; ``GET /_sim/stats``
    counts requests per ``METHOD pattern`` and per status; ``GET /_sim/received`` lists the latest as they came in
    (a token asked about hidden). Knobs: ``bad_token`` (every request 401, as a revoked or mistyped token),
    ``token_expired`` (every request 401, expired), ``forbidden`` (``"writes"``: a Viewer's token, actions answer
    403; ``"all"``: every request 403), ``rate_limit_per_second`` (429 with ``Retry-After: 1``), ``errors_5xx`` (the
    next N requests answer ``error_status``, 500 by default), ``latency`` and ``hang`` (seconds). ``/_sim/*`` itself
    is never faulted. Test control: ``POST /_sim/threats`` (``{"agentId", "classification"?, "confidenceLevel"?,
    "threatName"?}``: the agent detects a threat now; 201 with it).

Run it: ``python -m vectis.simulators.sentinelone --host 127.0.0.1 --port 18084 [--scale demo|bench]``.

Modules: ``vendor`` (paths, the demo token, limits, S1's words, times, cursors, the error envelope), ``seed`` (the
data), ``state`` (``SentinelOneState`` and its ``Faults``), ``api`` (the app, the test control, ``main``).
"""

from vectis.simulators.sentinelone.api import create_app, main
from vectis.simulators.sentinelone.state import ApiToken, Faults, SentinelOneState
from vectis.simulators.sentinelone.vendor import (
    API,
    DEMO_API_TOKEN,
    INCIDENT_STATUSES,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    NETWORK_STATUSES,
    TOKEN_DETAILS,
    VERDICTS,
    ApiError,
)

__all__ = [
    "API",
    "DEMO_API_TOKEN",
    "INCIDENT_STATUSES",
    "LIMIT_DEFAULT",
    "LIMIT_MAX",
    "NETWORK_STATUSES",
    "TOKEN_DETAILS",
    "VERDICTS",
    "ApiError",
    "ApiToken",
    "Faults",
    "SentinelOneState",
    "create_app",
    "main",
]
