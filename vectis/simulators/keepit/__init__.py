"""A faithful simulator of Keepit's REST API (the SaaS backup vendor), one process for every datacenter.

It is the other side of the Keepit connector and follows ``shared/vendor-apis.md`` section 2 (Keepit's API
help pages and Keepit's own MCP server): XML bodies, HTTP Basic on every request, response schemas chosen
with ``Accept: application/vnd.keepit.v<N>+xml``, account ids that are not UUIDs.

Hosts and regions
    Keepit runs one datacenter per region (``https://us-dc.keepit.com``). Here the region is the first path
    segment: ``https://us-dc.keepit.com/users/`` is ``http://127.0.0.1:<port>/us-dc/users/``. ``REGIONS``
    lists the known codes. The seeded accounts live in ``state.region`` (default ``us-dc``); another known
    region answers 401 (the login does not exist in that datacenter), an unknown one a plain-text 404
    (a host that is not Keepit).

Authentication
    ``Authorization: Basic base64(login:password)``, decoded from raw bytes (token logins contain
    ``%+,?!``; nothing is URL-decoded). Two pairs are valid, both on the parent account ``PARENT_GUID``:
    the master admin login (``DEMO_USERNAME``/``DEMO_PASSWORD``) and an API token
    (``DEMO_TOKEN_LOGIN``/``DEMO_TOKEN_PASSWORD``). Anything else: 401, plain text,
    ``WWW-Authenticate: Basic realm="Keepit"``.

Endpoints (under ``/<region>``; bodies ``application/xml``; errors plain text)
    ``GET /users/`` → ``<user><id/></user>`` (who am I).
    ``GET /users/{guid}`` → ``<user><id/><enabled/><created/><product/><parent/><subscribed/></user>``.
    ``GET /users/{guid}/users[?all=1&include_contact_details=1]`` → direct children, paged by ``limit``
    (default 100, max 500) and ``offset``, total in ``X-Total-Count``; v0 ``<users><id/>…``, v1/v2
    ``<users><user><id/><created/><parent_id/><email/><full_name/><company_name/></user>…``, v3+
    ``<users><user><id/><created/><parent_id/>[<contact><email/><companyname/><fullname/><phone/>
    <vatnumber/><country/><state/></contact>]</user>…`` (contact only with ``include_contact_details=1``).
    ``GET /users/{guid}/devices`` → ``<devices><cloud><guid/><name/><type/>[<agent-type/>]<created/>
    <accessible/><orglink/><backup-retention/><backup-retention-updated/></cloud>…</devices>``.
    ``GET /users/{guid}/devices/{dev}/health[?reason=true]`` → ``<devhealth><health/>[<reason/>]</devhealth>``.
    ``GET /users/{guid}/devices/{dev}/history/latest`` → ``<history><backup><tstamp/><root/><type/><size/>
    <account/></backup></history>``, or ``<history/>`` for a connector never backed up.
    ``GET …/jobs`` (header ``active-jobs-only: true|false``) and ``PUT …/jobs`` with a ``<filter>`` body
    (``from-time``, ``to-time``, ``type``, ``types/type``, ``limit``, ``reverse``, ``active-only``,
    ``failed-only``) → ``<jobs><job><guid/><description/><type/><priority/><active/><start/><scheduled/>
    [<dispatched/><started/>(<succeeded/>|<failed/>|<cancelled/>)]</job>…</jobs>``, oldest first
    (``reverse``: newest first). The outcome is only in which timestamp is set.
    ``PUT /audit/filter/pretty?limit=N&offset=M`` (limit default 100, max 500) with
    ``<filter><account/><from/><to/>[<recursive>true</recursive>]</filter>`` →
    ``<audit><record><time/><account/><company/>[<device/>]<area/><action/><method/><message/><acl/>
    <allowed/><succeeded/><client-ip/><token/>[<metadata><parameter><key/><value/></parameter>…</metadata>]
    </record>…</audit>``, oldest first, both bounds inclusive, header ``next-offset`` while more remain.
    A GUID that is neither the caller's account nor below it answers 403 ``Access denied``; an unknown
    path 404, a known path with another method 405, a bad query or body 400 (all plain text).

Data
    ``KeepitState.seeded()`` is a small MSP ("Summit MSP", ten child accounts: seven of the VSPC
    simulator's companies spelt the way another tool would, plus an internal account, a NOC test tenant and
    a customer no other tool knows) with 2-5 connectors each, three days of jobs and twenty days of audit
    records; ``KeepitState.at_scale()`` a large one for benchmarks. Both are deterministic for a given
    ``seed`` and ``now``. Health is judged against ``state.now`` (the data's own clock) with Keepit's rule:
    unhealthy without a successful or active backup in 24 h, critical after 48 h, critical on
    ``BADLOGIN``/``BADTOKEN``. Times are UTC, ``2025-03-14T09:30:12Z``.

Fault knobs
    All knobs live in one ``Faults`` dataclass at ``state.faults``, read on every request: set one from
    Python (``state.faults.errors_5xx = 2``) or over HTTP (``POST /_sim/faults`` with a JSON merge patch,
    RFC 7386; ``null`` puts a knob back to its default). ``POST /_sim/reset`` restores every knob and
    clears the counters; ``GET /_sim/stats`` counts requests per path pattern, per status and per login
    sent (decoded from the Basic header, ``(none)`` without one). Knobs: ``wrong_credentials`` (every
    login fails), ``token_without_audit`` (token logins get 403 on the audit endpoint only),
    ``unknown_region`` (404 everywhere, as a host that does not exist), ``rate_limit_per_second`` (429 with
    ``Retry-After: 1``), ``errors_5xx`` (the next N requests answer 503), ``latency`` and ``hang``
    (seconds), ``malformed_xml`` (``{"path": "/audit/filter/pretty", "offset": 500}`` or without
    ``offset`` for every page: the body cut in half with status 200; the path is the one after the region),
    ``rename_account`` ({guid: company name}), ``remove_connector`` ([device guids]) and
    ``stale_connector`` ([device guids]: latest snapshot and last successful job three days old, health
    critical/NOCHECKIN) and ``odd_snapshot_time`` ([device guids]: the latest snapshot's time reads
    ``0001-01-01T00:00:00+14:00``). ``/_sim/*`` itself is never faulted.

Run it: ``python -m vectis.simulators.keepit --host 127.0.0.1 --port 18081 [--scale demo|bench]``.

Modules: ``vendor`` (regions, the demo account and logins, limits, Keepit's times), ``state``
(``KeepitState`` and its ``Faults``), ``seed`` (the data), ``api`` (the app, ``main``).
"""

from vectis.simulators.keepit.api import KeepitError, create_app, main
from vectis.simulators.keepit.state import Credential, Faults, KeepitState, MalformedXml
from vectis.simulators.keepit.vendor import (
    AUTH_FAILURE_REASONS,
    DEFAULT_PAGE_SIZE,
    DEFAULT_REGION,
    DEMO_PASSWORD,
    DEMO_TOKEN_LOGIN,
    DEMO_TOKEN_PASSWORD,
    DEMO_USERNAME,
    DEVICE_TYPES,
    DSL_AGENTS,
    MAX_PAGE_SIZE,
    PARENT_COMPANY,
    PARENT_GUID,
    REALM,
    REGIONS,
    XML,
    iso,
    parse_iso,
)

__all__ = [
    "AUTH_FAILURE_REASONS",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_REGION",
    "DEMO_PASSWORD",
    "DEMO_TOKEN_LOGIN",
    "DEMO_TOKEN_PASSWORD",
    "DEMO_USERNAME",
    "DEVICE_TYPES",
    "DSL_AGENTS",
    "MAX_PAGE_SIZE",
    "PARENT_COMPANY",
    "PARENT_GUID",
    "REALM",
    "REGIONS",
    "XML",
    "Credential",
    "Faults",
    "KeepitError",
    "KeepitState",
    "MalformedXml",
    "create_app",
    "iso",
    "main",
    "parse_iso",
]
