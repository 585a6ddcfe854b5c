"""A faithful simulator of the Veeam Service Provider Console (VSPC) REST API v3 (API 3.6.1 = VSPC 9.1).

It is the other side of the Veeam connector: every body follows the schemas of Veeam's published OpenAPI
document (``shared/vendor-specs/veeam-vspc/vspc_rest_3_6_1.json``) and ``tests/vendors`` validates them
against it. Only fields that the schemas define are emitted.

Endpoints (under ``/api/v3``)
    ``POST /token`` (form: ``grant_type=password`` with ``username``/``password``, or
    ``grant_type=refresh_token``) → ``OAuth2Result``, or HTTP 400 ``OAuth2Error``. A refresh token is
    single-use: refreshing hands out a new pair and forgets the old refresh token (Veeam does not say;
    single-use is the stricter reading, so a connector that passes here stores the new one).
    Everything else needs ``Authorization: Bearer <access token or API key>``, otherwise 401.
    ``GET /about``, ``/organizations/companies[/{companyUid}]`` (``expand=Organization``),
    ``/infrastructure/backupServers/jobs``, ``/infrastructure/backupAgents/jobs``, ``/alarms/active``,
    ``/alarms/active/{activeAlarmUid}/history``: the ``{"meta":{"pagingInfo":…},"data":…,"errors":null}``
    envelope with ``limit`` (1–500, default 100), ``offset``, and the JSON ``filter``, ``sort`` and
    ``select`` query parameters. ``/eventLogs/activityLogs`` takes what Veeam's spec gives that operation
    instead: ``from``, ``to``, ``organizationUid``, ``userUid``, ``activityLogKind`` and
    ``dateSortingDirection`` (it has no ``filter``/``sort``, so they are ignored there, as ASP.NET does).
    Errors use Veeam's ``{"errors":[{"message","type","code",…}]}`` body; server errors are HTTP 520.
    Default order is by ``instanceUid`` so offset paging never skips or repeats.

Data
    ``VspcState.seeded()`` builds a small believable MSP (demo, tests); ``VspcState.at_scale()`` a large
    one (benchmarks). Both are deterministic for a given ``seed`` and ``now``. Times are RFC 3339 with
    7 fractional digits and the server's offset (``VspcState.tz``, +01:00), as Veeam writes them.
    A company's organization UID equals its ``instanceUid`` here; jobs carry the company's
    ``instanceUid`` in ``mappedOrganizationUid``; every fourth company's jobs run on the provider's hosted
    VBR server, so their ``organizationUid`` is the provider's. Agent jobs (``BackupAgentJob``) name their
    company in ``organizationUid``.

Fault knobs
    All knobs live in one ``Faults`` dataclass at ``state.faults`` and are read on every request, so a
    test sets one from Python (``state.faults.forbidden = True``) or over HTTP
    (``POST /_sim/faults`` with a JSON merge patch, RFC 7386: ``{"errors_520": 2}``; ``null`` puts a knob
    back to its default). ``POST /_sim/reset`` restores every knob and clears the counters (data and
    issued tokens stay); ``GET /_sim/stats`` counts requests per path and status. Renames and removals
    are knobs too (``rename_company``, ``remove_job``), applied when a response is built, so a reset
    undoes them; ``state.rename_company(uid, name)`` and ``state.remove_job(uid)`` just set them.
    As RFC 7386 says, objects merge (``rename_company``, ``malformed_page``) and lists are replaced whole
    (``remove_job``). ``malformed_page`` and the other switches stay on until cleared; ``errors_520``
    counts down. ``wrong_host`` answers an HTML 404 (another web server, not VSPC); 429 carries
    ``retryAfter`` in the body and no ``Retry-After`` header, as Veeam documents; 520 carries code 500.
    Token expiry reads ``state.clock`` (``time.time``), so a test can move time instead of sleeping.
    ``/_sim/*`` itself is never faulted.

Run it: ``python -m vectis.simulators.vspc --host 127.0.0.1 --port 18080 [--scale demo|bench]``.

Modules: ``vendor`` (paths, versions, credentials, Veeam's times and error body), ``state`` (``VspcState``
and its ``Faults``), ``seed`` (the data), ``query`` (filter, sort, select), ``api`` (the app, ``main``).
"""

from vectis.simulators.vspc.api import create_app, main
from vectis.simulators.vspc.state import Faults, MalformedPage, VspcState
from vectis.simulators.vspc.vendor import (
    API,
    API_VERSION,
    BAD_CREDENTIALS,
    DEFAULT_PAGE_SIZE,
    DEFAULT_SERVER_VERSION,
    DEMO_API_KEY,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    MAX_PAGE_SIZE,
    SERVER_TZ,
    TICKS,
    ApiError,
    format_ticks,
    parse_ticks,
    ticks_of,
)

__all__ = [
    "API",
    "API_VERSION",
    "BAD_CREDENTIALS",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_SERVER_VERSION",
    "DEMO_API_KEY",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "MAX_PAGE_SIZE",
    "SERVER_TZ",
    "TICKS",
    "ApiError",
    "Faults",
    "MalformedPage",
    "VspcState",
    "create_app",
    "format_ticks",
    "main",
    "parse_ticks",
    "ticks_of",
]
