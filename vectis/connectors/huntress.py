"""Huntress (managed EDR, API v1): organizations matched to customers, incident reports as detections, and the response
actions Huntress's API takes (isolate and release a host, resolve an incident report).

Vendor facts: ``../shared/vendor-apis.md`` section 7, and Huntress's published API reference (its OpenAPI documents,
mirrored publicly), which adds isolation, resolution, page tokens and the ``updated_at`` sort. What this module reads,
and how it acts on what Huntress does:

- One host for every partner: ``https://api.huntress.io/v1``. The API URL field holds it (filled in, and only ever
  changed to reach a simulator or a proxy).
- Auth is HTTP Basic with an API key (``hk_…``) and its secret (``hs_…``), generated at ``<subdomain>.huntress.io`` →
  API Credentials; the secret is shown once. An account's default key is read-only: isolating, releasing and
  resolving need a user-based key with those permissions. Keys do not expire (none is documented to).
- Answers are keyed by resource (``{"incident_reports": [...], "pagination": {...}}``); lists take ``limit`` (at most
  500) and ``page_token``, following ``pagination.next_page_token`` until it is null. (The vendor facts' third-party
  clients page by ``page``; Huntress's reference documents the token, which this follows.)
- Organizations (``/organizations``) -> customer accounts, matched to customers through Customer matching.
- Incident reports (``/incident_reports``) -> ``detections``. Huntress has no filter by time, so reading is
  incremental by order: ``sort_field=updated_at&sort_direction=desc``, stopping at the first report older than the
  cursor (the newest ``updated_at`` the last sync saw, and the ids seen at that second). The cursor is saved with
  the last page only, so a sync stopped part way starts again from the old one. The first sync reads every report
  updated in :data:`FIRST_WINDOW`, and before that the reports still open (``sent``, ``auto_remediating``) however
  old. A report names only its ``agent_id``: the agents are read once a sync (``/agents``) for the host name and
  whether it is isolated (``firewall_status``).
- Mapping. Severity: Huntress's own ``low | high | critical`` as they are (any other word: medium), kept as the
  vendor's word. Status: ``sent`` -> open, ``auto_remediating`` -> in_progress, ``closed``, ``dismissed``,
  ``partner_dismissed`` -> resolved. Verdict: ``dismissed`` and ``partner_dismissed`` -> false_positive; a report
  Huntress's SOC sent (``sent``, ``auto_remediating``, ``closed``) -> true_positive, as a person at Huntress confirmed
  it before sending it. Isolation from the agent's ``firewall_status``: ``Enabled``/``Disabled`` -> connected,
  ``Pending Isolation`` -> isolating, ``Isolated`` -> isolated, ``Pending Release`` -> releasing; none for a report
  with no agent (Microsoft 365, SIEM).
- Response actions: isolate is ``POST /agents/{id}/isolation`` (``{"reason"}``: the technician's comment goes with
  it), release ``DELETE /agents/{id}/isolation``; both are asynchronous (``Pending …`` until the host confirms) and
  do nothing to a host already there. Resolve is ``POST /incident_reports/{id}/resolution``: Huntress refuses it
  (409) until every remediation of the report is approved (approving runs them: that stays a person's decision in
  the portal), and (422) for a report not ``sent``, which the read-back shows as already resolved. There is no call
  to dismiss a report as a false positive: that action is refused with the reason, in :attr:`responses`. Read-backs:
  ``GET /agents/{id}`` and ``GET /incident_reports/{id}``.
- Instant updates: Huntress delivers webhooks through Svix, which signs each one the Standard Webhooks way
  (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with
  the endpoint's ``whsec_…`` secret; Svix also sends the same values as ``svix-*`` headers) [T]. There is no API to
  add an endpoint: the admin adds Vectis's address in the Huntress portal and pastes its signing secret into the
  connection. A verified ``incident_report.*`` event is a callback of kind ``detection``: the job reads the report
  again (``get_detection``) and stores it as a sync would. The event body's shape is [U]: the report's id is taken
  from ``data.id``, ``data.incident_report.id`` or ``data.incident_report_id``. A delivery older or newer than five
  minutes is refused (a replay), and one Svix retries is processed once (its ``webhook-id``).
- Rate limit: 60 requests a minute [T] -> :attr:`default_rate_limit` 1 a second; a 429's ``Retry-After`` is honoured
  by the shared client.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from standardwebhooks import Webhook, WebhookVerificationError
from standardwebhooks.webhooks import EmptyWebhookSecretError

from vectis.connectors.base import (
    ConfigField,
    Connector,
    CustomerRecord,
    DetectionRecord,
    Page,
    Record,
    Stream,
)
from vectis.connectors.capabilities import (
    TEST_CALLBACK,
    Callback,
    CallbackRefused,
    Request,
    RespondsOnEndpoints,
    SignsTestCallbacks,
    VerifiesCallbacks,
)
from vectis.connectors.values import json_of, object_of, text_of
from vectis.platform.dates import parse_instant
from vectis.platform.http import ConnectorError, UncertainOutcome

API = "/v1"
API_URL = "https://api.huntress.io"
PAGE = 500  # the most Huntress gives per page
FIRST_WINDOW = timedelta(days=30)  # the first sync: every report updated this recently, and every open one
OPEN_STATUSES = ("sent", "auto_remediating")

MESSAGES = {
    401: "401 Unauthorized — Huntress did not accept this API key and secret. Check both (the secret is shown once, "
    "when the key is made; a deleted key fails the same way): in the Huntress portal, your account menu → API "
    "Credentials, generate a new key and paste the key (hk_…) and the secret (hs_…).",
    403: "403 Forbidden — this Huntress API key may not {what}. The account's default key is read-only: in the "
    "Huntress portal (your account menu → API Credentials) create a user-based key for a user allowed to isolate "
    "hosts and resolve incident reports.",
    "unreachable": "Vectis couldn't reach Huntress at {host}. Check that Vectis can reach the internet, and the API "
    "URL (it is https://api.huntress.io).",
    "timeout": "Connection timed out — Huntress at {host} did not answer in time. Try again in a minute; if it "
    "persists, check that {host} is reachable from wherever Vectis runs.",
    "not_huntress": "Something answered at {host}, but not Huntress's API (no {path} there). Check the API URL: it is "
    "https://api.huntress.io.",
    "unapproved": "Huntress resolves an incident report only once every remediation in it is approved, and approving "
    "runs them. Review and approve the remediations in the Huntress portal, then resolve it.",
    "no_isolation": "Huntress cannot isolate this host: its agent does not support host isolation, or the isolation "
    "could not be scheduled ({detail}).",
    "bad_secret": "That is not a Huntress webhook signing secret: copy the endpoint's whole secret from the Huntress "
    "portal (Settings → Webhooks → your endpoint → Signing Secret); it starts whsec_.",
    "not_sent": "Huntress resolves only an incident report its SOC has sent and that is still open; this one is "
    "{status}.",
}

# Why a technician cannot take an action from Vectis: Huntress's API documents no such call.
RESPONSES: dict[str, str | None] = {
    "isolate": None,
    "release": None,
    "resolve": None,
    "false_positive": "Huntress's API cannot dismiss an incident report: Huntress's SOC decides what is a false "
    "positive. Tell them in the Huntress portal (the report's feedback), where a partner can dismiss it too.",
}

# Huntress's words -> Vectis's.
SEVERITY = {"critical": "critical", "high": "high", "medium": "medium", "low": "low"}
STATUS = {
    "sent": "open",
    "auto_remediating": "in_progress",
    "closed": "resolved",
    "resolved": "resolved",
    "dismissed": "resolved",
    "partner_dismissed": "resolved",
    "deleting": "resolved",
}
VERDICT = {
    "sent": "true_positive",
    "auto_remediating": "true_positive",
    "closed": "true_positive",
    "resolved": "true_positive",
    "dismissed": "false_positive",
    "partner_dismissed": "false_positive",
}
ISOLATION = {
    "Enabled": "connected",
    "Disabled": "connected",
    "Pending Isolation": "isolating",
    "Isolated": "isolated",
    "Pending Release": "releasing",
}
# What a detection keeps of the report besides the record's own fields, as Huntress said it.
KEPT = ("platform", "summary", "indicator_types", "indicator_counts", "sent_at", "closed_at", "status_updated_at")
KEPT_AGENT = ("os", "platform", "ipv4_address", "external_ip", "version")


def api_root(text: str) -> str:
    """``api.huntress.io/v1`` (or with a scheme, or nothing) -> the API host's root URL."""
    text = text.strip() or API_URL
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def parse_time(value: Any) -> datetime | None:
    """Huntress's times are ISO 8601 in UTC to the second (``2022-03-15T14:22:00Z``)."""
    return parse_instant(value)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# --- pure parsers: vendor JSON -> records ------------------------------------------------------------


def parse_organization(item: dict[str, Any]) -> CustomerRecord | None:
    if not text_of(item.get("id")) or not text_of(item.get("name")):
        return None
    return CustomerRecord(external_id=str(item["id"]).strip(), name=str(item["name"]).strip())


def isolation_of_agent(agent: dict[str, Any] | None) -> str | None:
    return ISOLATION.get(str(object_of(agent).get("firewall_status") or ""))


def parse_report(item: dict[str, Any], agent: dict[str, Any] | None = None) -> DetectionRecord | None:
    """An incident report, with its agent as Huntress lists it now (None: not read, or a report with no host)."""
    detected = parse_time(item.get("created_at")) or parse_time(item.get("sent_at"))
    if not text_of(item.get("id")) or detected is None:
        return None
    agent = object_of(agent)
    status = str(item.get("status") or "sent")
    severity = str(item.get("severity") or "").strip().lower()
    indicators = [str(i) for i in item.get("indicator_types") or [] if i]
    details: dict[str, Any] = {key: item[key] for key in KEPT if item.get(key) not in (None, "", [], {})}
    remediations = object_of(item.get("remediations")).get("items")
    if isinstance(remediations, list) and remediations:
        details["remediations"] = [
            {k: r.get(k) for k in ("action", "type", "status")} for r in remediations if isinstance(r, dict)
        ]
    details.update({f"agent_{key}": agent[key] for key in KEPT_AGENT if agent.get(key) not in (None, "")})
    return DetectionRecord(
        external_id=str(item["id"]).strip(),
        customer_external_id=text_of(item.get("organization_id"))
        or text_of(object_of(item.get("organization")).get("id")),
        device_external_id=text_of(item.get("agent_id")),
        device_name=text_of(agent.get("hostname")),
        title=(text_of(item.get("subject")) or "Huntress incident report")[:500],
        severity=SEVERITY.get(severity, "medium"),
        vendor_severity=severity or "n/a",
        status=STATUS.get(status, "open"),
        vendor_status=status,
        detected_at=detected,
        updated_at=parse_time(item.get("updated_at")),
        verdict=VERDICT.get(status),
        isolation=isolation_of_agent(agent) if agent else None,
        classification=", ".join(indicators) or None,
        details=details,
    )


def _newer(
    items: list[dict[str, Any]], since: datetime, after: datetime | None, seen: set[str]
) -> tuple[list[dict[str, Any]], bool]:
    """Of a page in ``updated_at`` order, newest first: the reports updated since ``since`` (less those seen at the
    cursor's own second), and whether the page went past it (the rest is older: reading stops)."""
    kept: list[dict[str, Any]] = []
    for item in items:
        moment = parse_time(item.get("updated_at"))
        if moment is None:
            continue
        if moment < since:
            return kept, True
        if after is not None and moment == after and str(item.get("id")) in seen:
            continue
        kept.append(item)
    return kept, False


class HuntressConnector(Connector, RespondsOnEndpoints, VerifiesCallbacks, SignsTestCallbacks):
    key = "huntress"
    label = "Huntress"
    noun = "Huntress"
    category = "security"
    description = (
        "Huntress managed EDR: organizations matched to customers, incident reports as detections with their "
        "severity and status, and hosts isolated, released and reports resolved from Vectis."
    )
    # 60 requests a minute [T]; a 429's Retry-After paces Vectis further.
    default_rate_limit = 1.0
    isolation_recheck_seconds = 5.0  # 60 calls a minute for the whole account: a pending isolation takes 12 of them
    base_url_field = "api_url"
    responses: ClassVar[dict[str, str | None]] = RESPONSES
    callback_when = "an incident report is sent or closed"
    callback_check = (
        "each call is signed by Huntress's webhook service (Svix) with the endpoint's secret and checked before Vectis "
        "reads the incident report again"
    )
    callback_off = "delete the endpoint in the Huntress portal (Settings → Webhooks)"
    callback_setup = (
        "in the Huntress portal open Settings → Webhooks → Add Endpoint, paste this address, subscribe to "
        "incident_report.created and incident_report.closed, create it, then copy the endpoint's signing secret "
        "(whsec_…) into this connection's Webhook signing secret and save."
    )
    fields = (
        ConfigField(
            "api_key",
            "API key",
            placeholder="hk_…",
            help="In the Huntress portal, your account menu → API Credentials → Setup (or Generate): the key starts "
            "hk_. The account's default key only reads; to isolate hosts and resolve reports from Vectis, use a "
            "user-based key of a user who may.",
        ),
        ConfigField(
            "api_secret",
            "API secret",
            kind="password",
            secret=True,
            placeholder="hs_…",
            help="Shown once, beside the key, when it is generated: it starts hs_.",
        ),
        ConfigField(
            "api_url",
            "API URL",
            kind="url",
            default=API_URL,
            placeholder=API_URL,
            help="Huntress's API, the same for every partner: leave it as it is.",
        ),
        ConfigField(
            "webhook_secret",
            "Webhook signing secret",
            kind="password",
            secret=True,
            required=False,
            placeholder="whsec_…",
            help="Only for instant updates: the signing secret of the endpoint you add for Vectis in the Huntress "
            "portal (Settings → Webhooks). Leave it empty and Vectis reads Huntress on its sync only.",
        ),
    )

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        return api_root(str(config.get("api_url") or ""))

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        raw = str(config.get("api_url", "") or "")
        clean = super().validate_config({**config, "api_url": api_root(raw)})
        if clean["webhook_secret"] and _signer(clean["webhook_secret"]) is None:
            raise ConnectorError(MESSAGES["bad_secret"], permanent=True)
        return clean

    @property
    def _host(self) -> str:
        return urlsplit(self.ctx.http.base_url).netloc or "api.huntress.io"

    # --- requests ---------------------------------------------------------------------------------

    def _reach(self, exc: ConnectorError, *, reading: bool) -> ConnectorError:
        """A connection failure in words; an action that may have landed stays uncertain (the verb reads back)."""
        if isinstance(exc, UncertainOutcome) and not reading:
            return exc
        if exc.message.startswith("Connection timed out") or isinstance(exc, UncertainOutcome):
            return ConnectorError(MESSAGES["timeout"].format(host=self._host), permanent=False)
        if exc.message.startswith("Connection") or "could not be found" in exc.message:
            return ConnectorError(MESSAGES["unreachable"].format(host=self._host), permanent=exc.permanent)
        return exc

    @staticmethod
    def _detail(text: str) -> str:
        try:
            body = json.loads(text)
        except ValueError:
            return ""
        body = object_of(body)
        return str(body.get("error") or body.get("message") or "")

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """``method path`` with the key pair; Huntress's refusals in words; the answer's JSON (None: 204, or 404 on
        one record, which Huntress no longer has)."""
        reading = method == "GET"
        pair = f"{self.config['api_key']}:{self.config['api_secret']}".encode()
        headers = {"Authorization": f"Basic {base64.b64encode(pair).decode()}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.ctx.http.request(
                method,
                path,
                params=params,
                data=json.dumps(body) if body is not None else None,
                headers=headers,
                retry=True,  # every call here reads, or sets a state (a repeat changes nothing, or is read back)
            )
        except ConnectorError as exc:
            raise self._reach(exc, reading=reading) from None
        status = response.status_code
        one_record = path.count("/") >= 3  # /v1/agents/{id}…, /v1/incident_reports/{id}…
        if status == 401:
            raise ConnectorError(MESSAGES[401], permanent=True, status=401)
        if status == 403:
            what = "read organizations and incident reports" if reading else "isolate hosts or resolve incident reports"
            raise ConnectorError(MESSAGES[403].format(what=what), permanent=True, status=403)
        if status == 404 and one_record and _is_json(response.text):
            return None  # Huntress answered: it no longer has that agent or report
        if status in (404, 405) or 300 <= status < 400:
            path_said = path if not one_record else path.rsplit("/", 1)[0]
            raise ConnectorError(
                MESSAGES["not_huntress"].format(host=self._host, path=path_said), permanent=True, status=status
            )
        if status in (409, 422):
            raise ConnectorError(self._detail(response.text) or f"HTTP {status}", permanent=True, status=status)
        if status >= 400:
            detail = self._detail(response.text) or f"HTTP {status}"
            raise ConnectorError(f"Huntress refused {path}: {detail}", permanent=False, status=status)
        if status == 204 or not response.text.strip():
            return None
        try:
            return json_of(response)
        except ValueError:
            raise ConnectorError(
                MESSAGES["not_huntress"].format(host=self._host, path=path), permanent=status < 300, status=status
            ) from None

    def _items(self, resource: str, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list, following ``pagination.next_page_token``."""
        token: str | None = None
        while True:
            body = object_of(self._call("GET", path, params={**params, **({"page_token": token} if token else {})}))
            rows = body.get(resource)
            if not isinstance(rows, list):
                raise ConnectorError(f"Huntress sent {path} in an unexpected shape (no {resource}).", permanent=False)
            yield [row for row in rows if isinstance(row, dict)]
            found = object_of(body.get("pagination")).get("next_page_token")
            token = found if isinstance(found, str) and found else None
            if token is None or not rows:
                return

    def test_connection(self) -> str:
        account = object_of(object_of(self._call("GET", f"{API}/account")).get("account"))
        for _ in self._items("organizations", f"{API}/organizations", {"limit": 1}):
            break
        for _ in self._items("incident_reports", f"{API}/incident_reports", {"limit": 1}):
            break  # the reports are readable too
        name, subdomain = text_of(account.get("name")), text_of(account.get("subdomain"))
        where = f" ({subdomain}.huntress.io)" if subdomain else ""
        return f"Connected to Huntress: the account {name}{where}." if name else "Connected to Huntress."

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("organizations", f"{API}/organizations", "id", parse_organization, page_size=PAGE),
            Stream(
                "incident_reports",
                f"{API}/incident_reports",
                "id",
                parse_report,
                cursor_field="updated_at",
                snapshot=False,
                page_size=PAGE,
            ),
        ]

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if stream.name == "organizations":
            params = {"limit": stream.page_size, "sort_field": "id", "sort_direction": "asc"}
            for items in self._items("organizations", stream.path, params):
                yield Page([r for r in map(parse_organization, items) if r is not None], None)
        else:
            yield from self._read_reports(stream, cursor)

    def _agents(self) -> dict[str, dict[str, Any]]:
        """Every agent of the account by id, read once a sync (a report names only its agent)."""
        found: dict[str, dict[str, Any]] = {}
        params = {"limit": PAGE, "sort_field": "id", "sort_direction": "asc"}
        for items in self._items("agents", f"{API}/agents", params):
            found.update({str(agent.get("id")): agent for agent in items})
        return found

    def _records(self, items: list[dict[str, Any]], agents: dict[str, dict[str, Any]]) -> list[Record]:
        parsed = (parse_report(item, agents.get(str(item.get("agent_id")))) for item in items)
        return [r for r in parsed if r is not None]

    def _read_reports(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        after_text = (cursor or {}).get("updated_after")
        after = parse_time(after_text) if isinstance(after_text, str) else None
        seen = {str(i) for i in (cursor or {}).get("seen") or []} if after else set()
        agents = self._agents()
        newest: tuple[datetime, str] | None = None
        newest_ids: set[str] = set()
        params: dict[str, Any] = {"limit": stream.page_size, "sort_field": "updated_at", "sort_direction": "desc"}
        since = after or datetime.now(UTC) - FIRST_WINDOW
        if after is None:
            # The reports still open that the window leaves out; saved without a cursor (a stop here starts again).
            for status in OPEN_STATUSES:
                for items in self._items("incident_reports", stream.path, {**params, "status": status}):
                    older = [i for i in items if (t := parse_time(i.get("updated_at"))) is not None and t < since]
                    yield Page(self._records(older, agents), None)
        for items in self._items("incident_reports", stream.path, params):
            kept, done = _newer(items, since, after, seen)
            for item in kept:
                moment = parse_time(item["updated_at"])
                if moment is None:  # _newer keeps only reports with a time
                    continue
                if newest is None or moment > newest[0]:
                    newest, newest_ids = (moment, str(item["updated_at"])), set()
                if moment == newest[0]:
                    newest_ids.add(str(item.get("id")))
            yield Page(self._records(kept, agents), None)
            if done:
                break
        if newest is not None:
            if after is not None and newest[0] == after:
                newest_ids |= seen
            yield Page([], {"updated_after": newest[1], "seen": sorted(newest_ids)})

    # --- response actions -------------------------------------------------------------------------

    def isolate_request(self, device: str, *, comment: str, mode: str = "") -> Request:
        return Request(
            "POST", f"{API}/agents/{device}/isolation", {"reason": comment[:500]}, what="the isolation", retry=True
        )

    def isolate(self, device: str, *, comment: str, mode: str = "") -> None:
        self._act(self.isolate_request(device, comment=comment))

    def release_request(self, device: str, *, comment: str) -> Request:
        # Huntress's release takes no body: the comment stays in Vectis's audit log.
        return Request("DELETE", f"{API}/agents/{device}/isolation", None, what="the release", retry=True)

    def release(self, device: str, *, comment: str) -> None:
        self._act(self.release_request(device, comment=comment))

    def resolve_request(self, detection: str) -> Request:
        return Request(
            "POST", f"{API}/incident_reports/{detection}/resolution", None, what="the resolution", retry=True
        )

    def resolve_detection(self, detection: str) -> None:
        try:
            self._act(self.resolve_request(detection))
        except ConnectorError as exc:
            if exc.status != 422:
                raise
            # Not "sent": already closed or dismissed (a repeat of a resolution that landed reads so), or still
            # being auto-remediated.
            now = self.get_detection(detection)
            if now is None or now.status != "resolved":
                status = now.vendor_status if now is not None else "gone"
                raise ConnectorError(MESSAGES["not_sent"].format(status=status), permanent=True, status=422) from None

    def false_positive_request(self, detection: str, *, reason: str) -> Request:
        raise ConnectorError(str(RESPONSES["false_positive"]), permanent=True)

    def mark_false_positive(self, detection: str, *, reason: str) -> None:
        raise ConnectorError(str(RESPONSES["false_positive"]), permanent=True)

    def _act(self, request: Request) -> None:
        try:
            self._call(request.method, request.path, body=request.body)
        except ConnectorError as exc:
            if exc.status == 409 and "/resolution" in request.path:
                raise ConnectorError(MESSAGES["unapproved"], permanent=True, status=409) from None
            if exc.status == 409:
                raise ConnectorError(MESSAGES["no_isolation"].format(detail=exc.message), permanent=True) from None
            raise

    def isolation_of(self, device: str) -> str | None:
        agent = object_of(self._call("GET", f"{API}/agents/{device}")).get("agent")
        return isolation_of_agent(agent) if isinstance(agent, dict) else None

    def get_detection(self, detection: str) -> DetectionRecord | None:
        report = object_of(self._call("GET", f"{API}/incident_reports/{detection}")).get("incident_report")
        if not isinstance(report, dict):
            return None
        agent = None
        if text_of(report.get("agent_id")):
            agent = object_of(self._call("GET", f"{API}/agents/{report['agent_id']}")).get("agent")
        return parse_report(report, agent if isinstance(agent, dict) else None)

    # --- instant updates (Huntress's webhooks, through Svix) ------------------------------------------

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> Callback:
        signer = _signer(str(self.config.get("webhook_secret") or ""))
        if signer is None:
            raise CallbackRefused(
                "No webhook signing secret is saved for Huntress: paste the endpoint's secret (whsec_…) into the "
                "connection's settings."
            )
        # Svix sends the Standard Webhooks headers, and the same values again under svix-* names.
        signed = {name: headers.get(name) or headers.get(name.replace("webhook-", "svix-")) or "" for name in SIGNED}
        try:
            event = signer.verify(body, signed, json_parse=True)
        except WebhookVerificationError as exc:
            raise CallbackRefused(
                REFUSALS.get(str(exc), "Its signature does not match the endpoint's secret.")
            ) from None
        except ValueError:
            raise CallbackRefused("The body is not JSON.") from None
        event = object_of(event)
        kind = str(event.get("type") or "")
        if kind == TEST_EVENT:
            return Callback(signed["webhook-id"], TEST_CALLBACK, "", "sent")
        report = report_id(event)
        if not kind.startswith("incident_report.") or report is None:
            raise CallbackRefused(f"It is not an incident report event ({kind or 'no type'}).")
        return Callback(signed["webhook-id"], "detection", report, kind.removeprefix("incident_report."))

    def fetch_callback_key(self, body: bytes) -> None:
        return None  # the secret is the connection's own: nothing to fetch

    def test_callback(self) -> tuple[bytes, dict[str, str]]:
        signer = _signer(str(self.config.get("webhook_secret") or ""))
        if signer is None:
            raise ConnectorError(
                "Save Huntress's webhook signing secret first: the test is signed with it, as Huntress signs.",
                permanent=True,
            )
        message = f"msg_{uuid.uuid4().hex}"
        body = json.dumps({"type": TEST_EVENT, "data": {}}, separators=(",", ":")).encode()
        return body, svix_headers(signer, message, body)


SIGNED = ("webhook-id", "webhook-timestamp", "webhook-signature")
TEST_EVENT = "vectis.test"  # a test Vectis signs with the endpoint's secret: recorded, never processed
# The library's reasons, in an admin's words.
REFUSALS = {
    "Missing required headers": "It has no webhook-id, webhook-timestamp and webhook-signature headers (or svix-*).",
    "Message timestamp too old": "It was signed more than five minutes ago: a replay, or a clock far off.",
    "Message timestamp too new": "It is stamped more than five minutes ahead: a clock far off.",
    "Invalid Signature Headers": "Its webhook-timestamp is not a time.",
}


def _signer(secret: str) -> Webhook | None:
    """The endpoint's secret as the Standard Webhooks checker; None when it is not one (empty, not whsec_ base64)."""
    if not secret.startswith("whsec_"):
        return None
    try:
        return Webhook(secret)
    except (ValueError, EmptyWebhookSecretError):  # not base64 (binascii.Error is a ValueError), or nothing after it
        return None


def svix_headers(signer: Webhook, message: str, body: bytes, moment: datetime | None = None) -> dict[str, str]:
    """The headers Svix sends with ``body``, signed by ``signer`` (Vectis's test delivery)."""
    moment = moment or datetime.now(UTC)
    signature = signer.sign(message, moment, body)
    stamp = str(int(moment.timestamp()))
    return {
        "Content-Type": "application/json",
        "webhook-id": message,
        "webhook-timestamp": stamp,
        "webhook-signature": signature,
    }


def report_id(event: dict[str, Any]) -> str | None:
    """The incident report an event is about, wherever the event's data names it."""
    data = object_of(event.get("data"))
    found = text_of(data.get("id")) or text_of(object_of(data.get("incident_report")).get("id"))
    return found or text_of(data.get("incident_report_id"))
