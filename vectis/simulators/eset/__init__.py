"""A simulator of ESET Connect, ESET PROTECT Cloud's public API, the other side of the ESET connector.

It follows ``shared/vendor-apis.md`` section 13 (ESET's help pages on the API user and Swagger, and third-party
clients); ESET's Swagger is behind its sign-in, so what the clients do not show is marked [U] and is this
simulator's choice.

Hosts
    ESET serves each API from its own host per region: ``https://<region>.business-account.iam.eset.systems`` (the
    token), ``https://<region>.device-management.eset.systems``, ``…incident-management…``, ``…automation…``
    (regions ``eu, de, us, jpn, ca``). Their paths do not overlap, so the simulator is all of them on one host: the
    connector derives each host from the region, and ``VECTIS_VENDOR_URLS`` (``eset=http://127.0.0.1:18085``) sends
    every one of them here.

Authentication
    ``POST /oauth/token`` with the form ``grant_type=password&username=&password=`` (the API user's) →
    ``{"access_token", "token_type": "Bearer", "expires_in": 3600, "refresh_token"}``; ``grant_type=refresh_token``
    with ``refresh_token`` gives a new pair (each refresh token once). A refused grant is 400 ``{"error":
    "invalid_grant", "error_description"}`` (the OAuth shape [U]). Every API call takes ``Authorization: Bearer``;
    an unknown token 401, one past its hour 401 "The access token has expired.", the ``forbidden`` knob 403.
    Errors are a gRPC gateway's ``{"code", "message", "details": []}`` [U].

Paging
    ``pageSize`` (1..1000, default 100 [U]) and ``pageToken``; every list answer carries ``nextPageToken``, empty on
    the last page. Tokens are keyset (opaque base64 of the last row's sort key), so rows added meanwhile do not shift
    the pages after. An unknown query parameter answers 400 [U].

Endpoints
    ``GET /v1/device_groups`` → ``{"deviceGroups": [{uuid, displayName, parentGroupUuid, isSecurityGroup,
    linkedEntityType, etag}]}``: the root "All" (no parent), "Lost & found" under it, and a static group per customer
    under it (an MSP keeps one per customer [U]; some have a "Servers" subgroup).
    ``GET /v1/devices`` → ``{"devices": [{uuid, displayName, originalDisplayName, deviceType, parentGroupUuid,
    operatingSystem{displayName, familyId}, primaryLocalIpAddress, publicIpAddress, lastSyncTime,
    functionalityStatus, isMobile, isMuted, tags, networkIsolationState}]}``; ``GET /v1/devices/{uuid}`` →
    ``{"device"}``. ``networkIsolationState`` (``NETWORK_ISOLATION_STATE_NOT_ISOLATED | _ISOLATING | _ISOLATED |
    _RELEASING``) is [U]: ESET's console shows a device's isolation, its field in the API is not public.
    ``GET /v2/detections?startTime=&endTime=`` → ``{"detections": [{uuid, category (DETECTION_CATEGORY_…),
    typeName, displayName, severityLevel (SEVERITY_LEVEL_UNSPECIFIED | DIAGNOSTIC | LOW | MEDIUM | HIGH), occurTime,
    objectName, objectTypeName, objectUrl, objectHashSha1, context{deviceUuid, userName, process{path},
    circumstances}, device{uuid, displayName}, responses, resolved, note}]}``, oldest ``occurTime`` first;
    ``startTime`` is inclusive, ``endTime`` exclusive. ``GET /v2/detections/{uuid}`` → ``{"detection"}``.

Actions
    ``POST /v2/detections/{uuid}:resolve`` with ``{"note"}`` [T] → ``{"detection"}`` resolved (again: no change).
    ``POST /v1/device_tasks`` with ``{"task": {"action": {"name": "StartNetworkIsolation" | "EndNetworkIsolation"},
    "displayName", "description", "triggers": [{"manual": {...}}], "targets": {"devicesUuids": [...]}}}`` [T] →
    ``{"task"}`` with its ``uuid``. A device heads for its new state at once (``…_ISOLATING``) and reaches it on the
    first read after ``state.transition_seconds`` (1 s) of ``state.clock()``; one already there stays. No API for a
    false-positive verdict exists: ESET handles that with exclusions in the console.

Data
    ``EsetState.seeded()``: the MSP's twelve customers (``fixtures``, named as the VSPC simulator names them) as
    static groups, 3-6 devices each named as the NinjaOne simulator names them (``GAX-SRV01``, ``GAX-WS01``, a Mac at
    some), fourteen detections over two weeks across categories and severities (five resolved), the newest one's
    device isolated. ``EsetState.at_scale()``: 500 customers (about 5,000 devices) and 5,000 detections over four
    weeks. Both deterministic for a ``seed`` and ``now``.

Fault knobs
    ``state.faults`` (``POST /_sim/faults``, a JSON merge patch): ``bad_credentials`` (the token endpoint refuses
    the API user), ``token_expired`` (API calls 401 expired), ``forbidden`` (``"writes"`` | ``"all"``: 403),
    ``rate_limit_per_second`` (429 with ``Retry-After: 1``), ``errors_5xx`` (the next N answer ``error_status``),
    ``latency``, ``hang``. ``POST /_sim/reset``, ``GET /_sim/stats``, ``GET /_sim/received`` (passwords and refresh
    tokens hidden). Test control: ``POST /_sim/detections`` (``{"deviceUuid", "displayName"?, "severityLevel"?}``).

Run it: ``python -m vectis.simulators.eset --host 127.0.0.1 --port 18085 [--scale demo|bench]``.

Modules: ``vendor`` (paths, the demo user, limits, ESET's words, times, tokens, errors), ``seed`` (the data),
``state`` (``EsetState`` and its ``Faults``), ``api`` (the app, the test control, ``main``).
"""

from vectis.simulators.eset.api import create_app, main
from vectis.simulators.eset.state import EsetState, Faults
from vectis.simulators.eset.vendor import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    ISOLATION_STATES,
    PAGE_MAX,
    SEVERITY_LEVELS,
    TOKEN_PATH,
    ApiError,
)

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "ISOLATION_STATES",
    "PAGE_MAX",
    "SEVERITY_LEVELS",
    "TOKEN_PATH",
    "ApiError",
    "EsetState",
    "Faults",
    "create_app",
    "main",
]
