"""A simulator of NinjaOne RMM's Public API 2.0, the other side of the NinjaOne connector.

It follows ``shared/vendor-apis.md`` section 4 and NinjaOne's published OpenAPI document
(``shared/vendor-specs/ninjaone/ninjaOne-API-core-resources.yaml``, "NinjaOne Public API 2.0" 2.0.9): every body it
sends for the resources below has the spec's field names and shapes (``tests/vendors/test_ninjaone_simulator.py``
holds it to them), fields NinjaOne would leave out are left out (never ``null``), and every time is epoch seconds as
a number (the spec's ``double``, to the millisecond).

Hosts and regions
    NinjaOne runs one instance per region (``https://app.ninjarmm.com``, ``us2``, ``eu``, ``ca``, ``oc``); an API
    application exists on the instance it was made on. The simulator is one instance at its root: point the region
    the connector derives at it. A wrong region looks like the ``bad_client`` knob ("Client app not exist").

Authentication
    ``POST /ws/oauth/token``, form-encoded ``grant_type=client_credentials&client_id&client_secret&scope=monitoring
    management`` → ``{"access_token", "token_type": "Bearer", "expires_in": 3600, "scope"}`` (``state.token_lifetime``
    sets the lifetime). The token carries the asked scopes the application has (all of its own when none are asked);
    the demo application (``DEMO_CLIENT_ID`` / ``DEMO_CLIENT_SECRET``) has ``monitoring management control``. An
    unknown client or a wrong secret answers 401 ``{"resultCode": "Client app not exist"}`` (what NinjaOne answers
    to a client it does not know, as clients have seen it); a form without ``grant_type=client_credentials`` 400.
    Then ``Authorization: Bearer <token>`` on every ``/v2`` request: without a valid, unexpired one, 401 with
    ``WWW-Authenticate: Bearer error="invalid_token"``. A GET needs the ``monitoring`` scope, a POST, PUT or DELETE
    ``management``; without it, 403 with ``WWW-Authenticate: Bearer error="insufficient_scope", scope="<scope>"``
    (RFC 6750's answer for a missing scope; NinjaOne's spec describes no error bodies). Errors other than the token
    endpoint's are ``{"resultCode", "errorMessage", "incidentId"}``, the shape clients read from NinjaOne.

Endpoints (under ``/v2``)
    ``GET /organizations`` → ``[Organization]`` (``id, name, description, nodeApprovalMode``) and
    ``GET /organizations-detailed`` → ``[OrganizationDetailed]`` (with ``locations`` and ``policies``), both paged by
    ``after`` (the last organization id of the previous page) and ``pageSize`` (everything without it);
    ``GET /organization/{id}`` → ``OrganizationDetailed``. ``GET /locations`` → ``[LocationWithOrganizationRef]``
    (paged the same way) and ``GET /organization/{id}/locations`` → ``[Location]``.
    ``GET /devices`` → ``[NodeWithDetailedReferences]`` (``id, uid, organizationId, locationId, nodeClass,
    nodeRoleId, rolePolicyId, approvalStatus, offline, displayName, systemName, dnsName, netbiosName, created,
    lastContact, lastUpdate``) and ``GET /devices-detailed`` → ``[Device]`` (also ``ipAddresses, macAddresses,
    publicIP`` and ``references``: ``organization, location, role, rolePolicy``), ids ascending, paged by ``after``
    (the last node id) and ``pageSize``, filtered by ``df`` (NinjaOne's device filter, ``query``: ``org = 1 AND
    offline AND class in (WINDOWS_SERVER, LINUX_SERVER)``; what it cannot read answers 400). ``GET /device/{id}`` →
    ``Device``. The spec's ``Device`` has no operating-system, serial or make/model fields, so neither does this.
    ``GET /alerts`` → ``[Alert]``, every open alert (not paged, oldest first) with its ``device``, narrowed by
    ``sourceType`` and ``df``; severities ``CRITICAL``/``MAJOR``/``MODERATE``/``MINOR``, priorities
    ``HIGH``/``MEDIUM``/``LOW``.
    ``POST /alert/{uid}/reset`` (optional JSON object body: custom data for the activity) → 204: the alert is gone
    from later reads and a ``CONDITION``/``RESET`` activity of its series records it; an alert no longer open, 404.
    ``GET /activities`` → ``{"lastActivityId", "activities": [Activity]}``, newest first, ``pageSize`` 10..1000
    (default 200), narrowed by ``class`` (``SYSTEM``, ``DEVICE``: with a device, ``USER``: by a technician,
    ``ALL``), ``type`` (activityType), ``status`` (statusCodes, comma-separated), ``seriesUid``,
    ``sourceConfigUid`` and ``df``. ``newerThan=<id>`` gives the page of activities just after that id, so a
    cursor that keeps the newest id it has seen reads the log forward to ``lastActivityId``; ``olderThan=<id>``
    the page just before it. ``lastActivityId`` is the newest id in the log, whatever the filters.
    ``PUT /webhook`` (``WebhookConfiguration``: ``url``, ``activities`` {activityType: [statusCodes]; empty: all},
    ``expand``, ``headers`` [{name, value}], ``organizationIds``) → 204, replacing this application's webhook;
    ``DELETE /webhook`` → 204.

Deliveries
    Every activity made after the webhook is registered (an alert reset through the API, and the ``/_sim``
    controls below) that its filters take is POSTed, in a background thread, as the ``Activity`` JSON (with
    ``device`` when ``expand`` names it) with the registered custom headers: NinjaOne signs nothing, so a secret
    header is how a receiver knows the sender. ``state.deliveries`` (``GET /_sim/deliveries``) logs each attempt
    (url, activityId, status, error).

Data
    ``NinjaOneState.seeded()``: the MSP's twelve customers (``fixtures``) as organisations, ten named as the VSPC
    simulator names them (one with "&" written "and") and two a little differently ("Greyhaven Arch.", "Dunmore
    Dental"), so Customer matching has them to decide; 1-3 locations each; 3-14 devices each (Windows
    workstations and servers, Macs, Linux servers and workstations, VMware hosts; about one in six offline, last
    seen hours to weeks ago); 18 open alerts (disk space, CPU, antivirus threat and overdue patches at each
    severity, two devices offline); 14 days of activity (weekly patch cycles, conditions triggered and reset,
    antivirus definition updates, a few policy changes and sign-ins). The spec has no status code for an
    antivirus definitions update: it is ``ANTIVIRUS``/``BITDEFENDER_DOWNLOAD_SUCCEEDED`` (NinjaOne's antivirus is
    Bitdefender's). ``NinjaOneState.at_scale()``: 500 organisations (the VSPC benchmark's names), 20,000 devices,
    5,000 open alerts and 50,000 activities over 30 days, in about two seconds. Both are deterministic for a given
    ``seed`` and ``now``; what the API and the controls add is stamped with ``state.clock()`` (wall time).

Fault knobs
    ``state.faults`` (a ``Faults``), read on every request; set from Python or with ``POST /_sim/faults`` (a JSON
    merge patch, RFC 7386). ``POST /_sim/reset`` restores every knob and clears the counters and the delivery log;
    ``GET /_sim/stats`` counts requests per ``METHOD pattern`` and per status; ``GET /_sim/received`` lists the
    latest as they came in (a token request's secret hidden). Knobs: ``bad_client`` (every token request 401, as a
    wrong client, secret or region), ``missing_scope`` (``"management"``: the application lost that scope, so
    writes answer 403; ``"monitoring"``: reads do), ``rate_limit_per_second`` (429 with ``Retry-After: 1``),
    ``errors_5xx`` (the next N requests answer ``error_status``, 500 by default), ``latency`` and ``hang``
    (seconds), ``rename_organization`` ({"3": "new name"}), ``move_device`` ({"104": 2}: the device is in
    organisation 2 now, at its first location) and ``cleared_alerts`` ([uid]: reset in NinjaOne with nothing
    sent, so Vectis still shows them open). ``/_sim/*`` itself is never faulted. Test controls:
    ``POST /_sim/alerts`` ({"deviceId", "kind": disk|cpu|av|patch|offline, "severity"}: a condition triggers),
    ``POST /_sim/alerts/{uid}/clear`` (it is back to normal), ``POST /_sim/activities`` (any other activity),
    ``GET /_sim/webhook`` (the registration, header names only), ``GET /_sim/deliveries``.

Run it: ``python -m vectis.simulators.ninjaone --host 127.0.0.1 --port 18083 [--scale demo|bench]``.

Modules: ``vendor`` (paths, scopes, the demo application, limits, roles and policies, times, error bodies),
``seed`` (the data), ``query`` (the device filter), ``state`` (``NinjaOneState`` and its ``Faults``), ``api`` (the
app, the test controls, ``main``).
"""

from vectis.simulators.ninjaone.api import create_app, main
from vectis.simulators.ninjaone.query import DeviceFilterError, parse_device_filter
from vectis.simulators.ninjaone.state import ApiApp, Faults, NinjaOneState
from vectis.simulators.ninjaone.vendor import (
    ACTIVITY_PAGE_DEFAULT,
    ACTIVITY_PAGE_MAX,
    ACTIVITY_PAGE_MIN,
    API,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    REGIONS,
    SCOPES,
    TOKEN_LIFETIME,
    TOKEN_PATH,
    ApiError,
)

__all__ = [
    "ACTIVITY_PAGE_DEFAULT",
    "ACTIVITY_PAGE_MAX",
    "ACTIVITY_PAGE_MIN",
    "API",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "REGIONS",
    "SCOPES",
    "TOKEN_LIFETIME",
    "TOKEN_PATH",
    "ApiApp",
    "ApiError",
    "DeviceFilterError",
    "Faults",
    "NinjaOneState",
    "create_app",
    "main",
    "parse_device_filter",
]
