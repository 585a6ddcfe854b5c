"""A simulator of ConnectWise PSA (Manage) REST, the other side of the ConnectWise connector.

It follows ``shared/vendor-apis.md`` section 3: JSON bodies under ``/v4_6_release/apis/3.0``, Basic auth with
``companyId+publicKey:privateKey`` and a ``clientId`` header on every request, ``conditions``/``orderBy``/
``page``/``pageSize`` queries with a ``Link`` header, JSON-Patch updates and signed callbacks. ConnectWise
leaves null fields out of its JSON, and so does this simulator.

Authentication
    ``Authorization: Basic base64("<companyId>+<publicKey>:<privateKey>")``; the company id is case-sensitive.
    The demo pair is ``DEMO_COMPANY_ID`` + ``DEMO_PUBLIC_KEY``/``DEMO_PRIVATE_KEY`` (the API member
    ``VectisAPI``), and ``clientId: DEMO_CLIENT_ID`` (``state.client_ids`` holds the accepted ones). The clientId
    is checked first: missing or unknown answers 400 ``{"code":"InvalidRequest","message":"clientId header is
    required"}`` (or ``"... is not a registered clientId"``); bad keys answer 401 ``{"code":"Unauthorized",…}``.
    Errors are always ``{"code","message"[,"errors":[{"code","message","resource","field"}]]}``.

Endpoints (under ``/v4_6_release/apis/3.0``)
    ``GET /system/info`` → ``{version,isCloud,serverTimeZone,cloudRegion}``.
    ``GET /company/companies[/{id}|/count]``, ``GET /company/contacts``, ``GET /system/members[/{id}]``, ``GET /service/boards[/{id}]``,
    ``GET /service/boards/{id}/statuses``, ``GET /service/priorities``, ``GET /service/tickets[/count]``,
    ``GET /service/tickets/{id}/notes``, ``GET /system/documents``, ``GET /system/callbacks[/{id}]``,
    ``GET /finance/agreements[/{id}|/count]``, ``GET /finance/agreements/{id}/additions``.
    Every list takes ``conditions`` (``field op value`` with ``= != < > <= >= like contains in``, ``and``/``or``,
    parentheses; strings in double quotes, dates in square brackets, ``true``/``false``/``null``; nested fields
    as ``company/id``, ``_info/lastUpdated``), ``orderBy`` (``"lastUpdated asc, id asc"``; default ``id asc``),
    ``fields`` (``id,summary,board/name``), ``page`` (1-based) and ``pageSize`` (default 25, over 1000 → 400),
    and answers a bare JSON array with a navigable ``Link`` header (``rel="first"/"prev"/"next"/"last"``).
    With the header ``pagination-type: forward-only`` it pages by ``pageId`` (acts as ``id > pageId``, order id
    ascending) and ``Link`` carries only ``rel="next"``.
    ``POST /service/tickets`` (``summary``, ``board{id}``, ``company{id|identifier}``, optional ``priority{id}``,
    ``status{id}``, ``contact{id}``, ``owner{id}``, ``initialDescription``) → 201 ticket.
    ``PATCH /service/tickets/{id}`` with a JSON-Patch array (``replace``/``add`` on ``status/id``, ``summary``,
    ``priority/id``, ``owner/id``, ``contact/id``; ``remove`` on ``owner``) → 200 ticket; a status of another
    board → 400 ``InvalidObject`` naming the board; closing statuses set ``closedFlag``/``closedDate``.
    ``POST /service/tickets/{id}/notes`` (``text``, ``detailDescriptionFlag``, ``internalAnalysisFlag``,
    ``resolutionFlag``, optional ``member{id|identifier}``: the note's author, else the API member) → 201 note. ``POST /system/documents`` (multipart ``recordType=Ticket``, ``recordId``,
    ``file``, optional ``title``, ``privateFlag``) → 201 document; a file over 10 MB → 413.
    ``POST /system/callbacks`` (``url``, ``objectId``, ``type``, ``level``, ``description``, ``inactiveFlag``)
    → 201; ``DELETE /system/callbacks/{id}`` → 204. ``GET /system/callbackkeys/{keyId}`` → ``{"signing_key"}``
    (no auth, as a callback receiver fetches it).

Callbacks
    A ticket added or updated (through the API, or through the ``/_sim/tickets`` controls that stand for a
    technician working in ConnectWise) is POSTed, in a background thread, to every active ``ticket``
    callback whose level matches (``owner``: all; ``board``/``status``/``company``: ``objectId`` is that id;
    ``ticket``: that ticket). Body keys: ``MessageId, FromUrl, CompanyId, MemberId, Action ("added"|"updated"),
    Type ("ticket"), ID, ProductInstanceId, PartnerId, Entity`` (the ticket as a JSON string),
    ``Metadata{key_url}``, ``CallbackObjectRecId``; header ``x-content-signature`` =
    ``base64(HMAC-SHA256(key=SHA256(signing_key).digest(), msg=raw body))`` (``sign()``). ``state.deliveries``
    logs each attempt (url, status, error).

Data
    ``ConnectWiseState.seeded()``: the VSPC simulator's twelve companies (ten spelt the same, two a little
    differently) plus the MSP itself and one customer only ConnectWise knows; six technicians, the demo's own
    operators (``primaryEmail`` admin@acme.test and tech@acme.test, owning a few open tickets) and the API member
    ``VectisAPI``; three boards (and an inactive one) with their statuses; ~150 tickets over 60 days, open and closed, a few from the last day, each with
    1-5 notes and an SLA (Standard, Premium every fifth company, none for projects and the MSP's own: most in SLA,
    some breached, see ``sla``); two or three agreements per customer company (Managed Services monthly, Backup as a Service quarterly,
    Security Bundle yearly, Microsoft 365 with no end date, a one-time Block Hours) with their additions (one a
    one-off set-up fee, one a no-charge review): the first customers' renew within 60 days, one expired 20 days ago,
    one is cancelled. ``ConnectWiseState.at_scale()``: 500 companies (the VSPC benchmark's names) and 200,000
    tickets whose notes are generated when first read. Both are deterministic for a given ``seed`` and
    ``now``; changes made through the API are stamped with ``state.clock()`` (wall time).

Fault knobs
    ``state.faults`` (a ``Faults``), read on every request; set from Python or with ``POST /_sim/faults`` (a JSON
    merge patch, RFC 7386). ``POST /_sim/reset`` restores every knob and clears counters and the delivery log;
    ``GET /_sim/stats`` counts requests per ``METHOD pattern`` (relative to the API base) and per status;
    ``GET /_sim/received`` (``state.received()``) lists the latest 2,000 as they came in: ``{method, path`` (from
    the site's root), ``query, body}``, a multipart body as its fields with each file's name and size.
    Knobs: ``bad_keys`` (every login 401), ``missing_client_id_check`` (every clientId treated as missing: 400),
    ``forbidden_paths`` (path prefixes answering 403 naming the security-role permission),
    ``rate_limit_per_second`` (429, ``Retry-After: 1``), ``errors_503`` (the next N answer 503,
    ``Retry-After: 1``), ``errors_5xx`` (the next N answer 500), ``latency``/``hang`` (seconds),
    ``hang_after_writes`` (the next N writes are stored, then answered ``write_answer_delay`` s late), ``fail_patch``
    (the next N PATCHes, or ``true`` for one, answer 400 ``InvalidObject``), ``refuse_note_member`` (a note naming
    a ``member`` answers 403: the API member's role may not write as others; without one it is stored), ``malformed_page``
    (``{"path": "/service/tickets", "page": 2}``, without ``page`` every page: 200 with the JSON cut off).
    ``/_sim/*`` is never faulted. Test controls: ``POST /_sim/tickets`` (a technician creates a ticket),
    ``POST /_sim/tickets/{id}/touch`` (``{"status": id, "summary": …, "member": identifier}``, all optional),
    ``GET /_sim/tickets/{id}/history`` (status changes), ``GET /_sim/deliveries``,
    ``POST /_sim/agreements/{id}/touch`` (fields to replace, ``additions``: the new list; ``lastUpdated`` moves on).

Run it: ``python -m vectis.simulators.connectwise --host 127.0.0.1 --port 18082 [--scale demo|bench]``.

Modules: ``vendor`` (paths, demo keys, limits, records, the error body, times, signing), ``state``
(``ConnectWiseState`` and its ``Faults``), ``seed`` (the data), ``query`` (conditions, orderBy, fields),
``sla`` (the SLA a ticket is under and what ConnectWise says of it: ``sla``, ``isInSla``, ``slaStatus``, the stage
dates), ``api`` (the app, the test controls, ``main``).
"""

from vectis.simulators.connectwise.api import create_app, main
from vectis.simulators.connectwise.state import ConnectWiseState, Faults, MalformedPage
from vectis.simulators.connectwise.vendor import (
    API,
    API_MEMBER,
    ATTACHMENT_CAP,
    DEFAULT_PAGE_SIZE,
    DEMO_CLIENT_ID,
    DEMO_COMPANY_ID,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    MAX_PAGE_SIZE,
    PERMISSIONS,
    SIGNATURE_HEADER,
    SYSTEM_INFO,
    ApiError,
    ApiKey,
    Ticket,
    iso,
    parse_iso,
    sign,
)

__all__ = [
    "API",
    "API_MEMBER",
    "ATTACHMENT_CAP",
    "DEFAULT_PAGE_SIZE",
    "DEMO_CLIENT_ID",
    "DEMO_COMPANY_ID",
    "DEMO_PRIVATE_KEY",
    "DEMO_PUBLIC_KEY",
    "MAX_PAGE_SIZE",
    "PERMISSIONS",
    "SIGNATURE_HEADER",
    "SYSTEM_INFO",
    "ApiError",
    "ApiKey",
    "ConnectWiseState",
    "Faults",
    "MalformedPage",
    "Ticket",
    "create_app",
    "iso",
    "main",
    "parse_iso",
    "sign",
]
