"""One simulated Huntress account: its organizations, agents and incident reports, the API key pairs it knows, fault
knobs and request counters; the live view of an agent's firewall as an isolation settles, and the changes the API
(or a host, through ``/_sim``) makes."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState
from vectis.simulators.base.deliveries import Delivers
from vectis.simulators.huntress.seed import KINDS, Generator, HuntressData, build_at_scale, build_demo
from vectis.simulators.huntress.vendor import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    SEVERITIES,
    ApiError,
    bad_request,
    decode_token,
    encode_token,
    iso,
    not_found,
)

# --- faults --------------------------------------------------------------------------------------------

_KNOB_RULES: dict[str, Rule] = {
    "bad_credentials": BOOL,
    "forbidden": (lambda v: v in ("", "writes", "all"), '"writes", "all" or "" for none', str),
    "rate_limit_per_second": COUNT,
    "errors_5xx": COUNT,
    "error_status": (lambda v: v in (500, 502, 503, 504) and not isinstance(v, bool), "500, 502, 503 or 504", int),
    "latency": SECONDS,
    "hang": SECONDS,
}


@dataclass
class Faults(FaultKnobs):
    bad_credentials: bool = False  # every request 401, as for a key pair Huntress does not know (revoked, mistyped)
    # "writes": the account's default read-only key, so isolate, release and resolve answer 403; "all": every call
    forbidden: str = ""
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1
    errors_5xx: int = 0  # the next N requests answer error_status
    error_status: int = 500
    latency: float = 0.0  # seconds added to every request
    hang: float = 0.0  # seconds to sleep before answering, to trip client timeouts

    RULES = _KNOB_RULES


# --- state ---------------------------------------------------------------------------------------------

Settling = tuple[str, float]  # (the firewall status an agent is heading for, when it was asked: state.clock())
FINAL = {"Pending Isolation": "Isolated", "Pending Release": "Enabled"}


@dataclass
class HuntressState(SimState[Faults], HuntressData, Delivers):
    """Seeded data (``HuntressData``), the API key pairs, fault knobs and the runtime bookkeeping of one account.

    An agent told to isolate is ``Pending Isolation`` until ``transition_seconds`` of ``clock()`` have passed, then
    ``Isolated`` on the next read (the host applies it at its next callback); a release mirrors it (``Pending
    Release``, then ``Enabled``)."""

    keys: dict[str, str] = field(default_factory=lambda: {DEMO_API_KEY: DEMO_API_SECRET})  # key -> secret
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)  # stamps what the API changes
    transition_seconds: float = 1.0
    # Webhook endpoints as added in the Huntress portal (its Svix app): {"id", "url", "secret", "filter_types"}.
    endpoints: list[Json] = field(default_factory=list, compare=False)
    deliveries: list[Json] = field(default_factory=list, compare=False, repr=False)

    _settling: dict[int, Settling] = field(default_factory=dict, init=False, repr=False, compare=False)
    _senders: list[threading.Thread] = field(default_factory=list, init=False, repr=False, compare=False)

    # -- construction

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> HuntressState:
        """The demo MSP: its twelve customers as organizations, 2-6 agents each, fourteen incident reports over two
        weeks (three closed, two dismissed as false positives, the ransomware's host isolated)."""
        state = cls()
        state.now = build_demo(state, seed, _epoch_of(now)).now
        return state

    @classmethod
    def at_scale(
        cls, *, organizations: int = 500, reports: int = 5_000, seed: int = 1, now: datetime | None = None
    ) -> HuntressState:
        """A large MSP for benchmarks: 500 organizations (about 5,000 agents) and 5,000 incident reports."""
        state = cls()
        state.now = build_at_scale(state, seed, _epoch_of(now), organizations=organizations, reports=reports).now
        return state

    # -- credentials

    def authorize(self, header: str, *, write: bool) -> str:
        """The API key ``Authorization: Basic base64(key:secret)`` names, if Huntress takes it: 401 otherwise, 403 by
        the ``forbidden`` knob (a read-only key asked to act)."""
        scheme, _, encoded = header.partition(" ")
        try:
            key, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key = secret = ""
        if scheme != "Basic" or not key:
            raise ApiError(401, "Send the API key and secret as HTTP Basic authentication.")
        if self.faults.bad_credentials or self.keys.get(key) != secret:
            raise ApiError(401, "Invalid API key or secret.")
        if self.faults.forbidden == "all" or (self.faults.forbidden == "writes" and write):
            raise ApiError(403, "There was an issue with your API credential or permissions.")
        return key

    # -- views

    def settle(self) -> None:
        """Agents whose isolation or release has had ``transition_seconds`` reach their final firewall status."""
        now = self.clock()
        with self._lock:
            for agent_id, (status, since) in list(self._settling.items()):
                if now - since >= self.transition_seconds:
                    agent = self.agents[agent_id]
                    agent["firewall_status"] = status
                    agent["updated_at"] = iso(now)
                    del self._settling[agent_id]

    @staticmethod
    def page(
        rows: Iterable[Json], key: Callable[[Json], list[Any]], token: str | None, limit: int, *, reverse: bool
    ) -> tuple[list[Json], str | None]:
        """Keyset paging: the ``limit`` rows after ``token`` in ``key`` order and the next token (None on the last
        page)."""
        ordered = sorted(rows, key=key, reverse=reverse)
        if token:
            after = decode_token(token)
            if after is None:
                raise bad_request("page_token: not a token this API gave.")
            ordered = [row for row in ordered if (key(row) < after if reverse else key(row) > after)]
        chosen = ordered[:limit]
        return chosen, encode_token(key(chosen[-1])) if len(ordered) > limit and chosen else None

    def cleared(self) -> None:
        """A reset also clears the delivery log (the endpoints stay, as they would in the portal)."""
        self.deliveries.clear()

    # -- webhooks (Svix)

    def add_endpoint(self, url: str, filter_types: list[str] | None, secret: str | None) -> Json:
        """An endpoint added in the portal: Svix makes its signing secret (``whsec_`` + 24 random bytes, base64)."""
        endpoint = {
            "id": f"ep_{uuid.uuid4().hex[:24]}",
            "url": url,
            "secret": secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
            "filter_types": list(filter_types or []),
        }
        with self._lock:
            self.endpoints.append(endpoint)
        return endpoint

    def announce(self, event_type: str, report: Json) -> None:
        """POST the event to every endpoint that wants it, signed as Svix signs, each from a thread of its own."""
        with self._lock:
            wanted = [e for e in self.endpoints if not e["filter_types"] or event_type in e["filter_types"]]
        if not wanted:
            return
        stamp = self.clock()
        data = {key: report.get(key) for key in ("id", "organization_id", "agent_id", "severity", "status", "subject")}
        body = json.dumps({"type": event_type, "timestamp": iso(stamp), "data": data}, separators=(",", ":")).encode()
        for endpoint in wanted:
            message = f"msg_{uuid.uuid4().hex}"
            moment = datetime.fromtimestamp(stamp, UTC)
            signed = {
                "webhook-id": message,
                "webhook-timestamp": str(int(stamp)),
                "webhook-signature": Webhook(endpoint["secret"]).sign(message, moment, body),
            }
            # Svix sends the same values under its own names too.
            headers = {
                "Content-Type": "application/json",
                **signed,
                **{k.replace("webhook-", "svix-"): v for k, v in signed.items()},
            }
            entry: Json = {
                "endpoint": endpoint["id"],
                "type": event_type,
                "message": message,
                "status": None,
                "error": None,
            }
            self._in_background(self._deliver, entry, endpoint["url"], body, headers)

    # -- changes

    def agent_or_404(self, agent_id: int) -> Json:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise not_found("Agent not found.")
        return agent

    def firewall(self, agent_id: int, heading: str) -> Json:
        """``POST`` (``Pending Isolation``) or ``DELETE`` (``Pending Release``) ``/agents/{id}/isolation``: the agent
        starts heading for its new state; one already there or on its way stays as it is."""
        now = self.clock()
        with self._lock:
            agent = self.agent_or_404(agent_id)
            final = FINAL[heading]
            if agent["firewall_status"] not in (heading, final):
                if heading == "Pending Release" and agent["firewall_status"] not in ("Isolated", "Pending Isolation"):
                    return agent  # not isolated: nothing to release
                agent["firewall_status"] = heading
                agent["updated_at"] = iso(now)
                self._settling[agent_id] = (final, now)
            return agent

    def resolve(self, report_id: int) -> Json:
        """``POST /incident_reports/{id}/resolution``: 422 unless the report is ``sent``, 409 while any remediation
        awaits approval; else it is closed (Huntress says "resolved"; the status it then lists is ``closed`` [U])."""
        now = self.clock()
        with self._lock:
            report = self.reports.get(report_id)
            if report is None:
                raise not_found("Incident Report not found.")
            if report["status"] != "sent":
                raise ApiError(422, "Incident Report cannot be resolved unless report status is 'sent'.")
            if any(r["status"] == "unapproved" for r in report["remediations"]["items"]):
                raise ApiError(
                    409, "Incident Report cannot be resolved. Confirm that all remediations are approved and report "
                    "status is 'sent'."
                )  # fmt: skip
            stamp = iso(max(now, _seconds(report["updated_at"]) + 1))
            report.update(status="closed", closed_at=stamp, status_updated_at=stamp, updated_at=stamp)
        self.announce("incident_report.closed", report)
        return report

    def add_report(self, agent_id: int, *, severity: str | None, kind_index: int | None) -> Json:
        """A new incident report on an agent (``/_sim/incident_reports``), sent now by the SOC."""
        if severity is not None and severity not in SEVERITIES:
            raise bad_request(f"severity must be one of {', '.join(SEVERITIES)}.")
        if kind_index is not None and not 0 <= kind_index < len(KINDS):
            raise bad_request(f"kind must be 0..{len(KINDS) - 1}.")
        with self._lock:
            agent = self.agent_or_404(agent_id)
            now = self.clock()
            generator = Generator(len(self.reports) + 7919, now, first_id=max(self.reports, default=1000) + 1)
            kind = KINDS[kind_index or 2]
            report = generator.report(self, agent, kind, status="sent", approved=True, created=now - 600)
            stamp = iso(now)
            if severity is not None:
                report["severity"] = severity
            report.update(sent_at=stamp, status_updated_at=stamp, updated_at=stamp)
        self.announce("incident_report.created", report)
        return report


def _epoch_of(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def _seconds(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
