"""One simulated SentinelOne management console: its account, sites, agents and threats, the API tokens it knows,
fault knobs and request counters; the live views of its data (an agent's network state as it settles), and the
changes the API (or an agent, through ``/_sim``) makes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState
from vectis.simulators.sentinelone.seed import KINDS, Generator, Kind, SentinelOneData, build_at_scale, build_demo
from vectis.simulators.sentinelone.vendor import (
    CONFIDENCE_LEVELS,
    DEMO_API_TOKEN,
    DESCRIPTIONS,
    TOKEN_LIFETIME_DAYS,
    bad_request,
    decode_cursor,
    encode_cursor,
    forbidden,
    iso,
    not_found,
    unauthorized,
)

DAY = 86400.0

# --- faults --------------------------------------------------------------------------------------------

_KNOB_RULES: dict[str, Rule] = {
    "bad_token": BOOL,
    "token_expired": BOOL,
    "forbidden": (lambda v: v in ("", "writes", "all"), '"writes", "all" or "" for none', str),
    "rate_limit_per_second": COUNT,
    "errors_5xx": COUNT,
    "error_status": (lambda v: v in (500, 502, 503, 504) and not isinstance(v, bool), "500, 502, 503 or 504", int),
    "latency": SECONDS,
    "hang": SECONDS,
}


@dataclass
class Faults(FaultKnobs):
    bad_token: bool = False  # every request 401, as for a token S1 does not know (revoked, mistyped, another console)
    token_expired: bool = False  # every request 401 saying the token expired
    forbidden: str = ""  # "writes": the token's user may only view (a Viewer), so writes answer 403; "all": every call
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1
    errors_5xx: int = 0  # the next N requests answer error_status
    error_status: int = 500
    latency: float = 0.0  # seconds added to every request
    hang: float = 0.0  # seconds to sleep before answering, to trip client timeouts

    RULES = _KNOB_RULES


# --- state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiToken:
    """A service user's API token: when it was made and when it stops working (state.clock() seconds)."""

    created_at: float
    expires_at: float


def _epoch_of(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def _demo_tokens(now: float) -> dict[str, ApiToken]:
    created = now - 30 * DAY
    return {DEMO_API_TOKEN: ApiToken(created, created + TOKEN_LIFETIME_DAYS * DAY)}


Settling = tuple[str, float]  # (the network status an agent is heading for, when it was asked: state.clock())
FINAL = {"disconnecting": "disconnected", "connecting": "connected"}


@dataclass
class SentinelOneState(SimState[Faults], SentinelOneData):
    """Seeded data (``SentinelOneData``), the API tokens, fault knobs and the runtime bookkeeping of one console.

    An agent told to disconnect is ``disconnecting`` until ``transition_seconds`` of ``clock()`` have passed, then
    ``disconnected`` on the next read of it (as a real agent takes its next heartbeat to apply the quarantine);
    connect mirrors it (``connecting``, then ``connected``)."""

    tokens: dict[str, ApiToken] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)  # stamps what the API changes
    transition_seconds: float = 1.0

    _settling: dict[str, Settling] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.tokens:
            self.tokens = _demo_tokens(self.now)

    # -- construction

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> SentinelOneState:
        """The demo MSP: its twelve customers as sites, 3-7 agents each, fifteen threats over two weeks (two
        resolved, one false positive, the ransomware's agent off the network)."""
        state = cls()
        generator = build_demo(state, seed, _epoch_of(now))
        state.now = generator.now
        state.tokens = _demo_tokens(state.now)
        return state

    @classmethod
    def at_scale(
        cls, *, sites: int = 500, threats: int = 5_000, seed: int = 1, now: datetime | None = None
    ) -> SentinelOneState:
        """A large MSP for benchmarks: by default 500 sites (about 5,000 agents) and 5,000 threats over four weeks."""
        state = cls()
        generator = build_at_scale(state, seed, _epoch_of(now), sites=sites, threats=threats)
        state.now = generator.now
        state.tokens = _demo_tokens(state.now)
        return state

    # -- tokens

    def authorize(self, header: str, *, write: bool) -> ApiToken:
        """The token ``Authorization: ApiToken <token>`` names, if S1 takes it: 401 otherwise, 403 by the
        ``forbidden`` knob."""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme != "ApiToken" or not token:
            raise unauthorized("Send the API token as 'Authorization: ApiToken <token>'.")
        found = self.tokens.get(token)
        if self.faults.bad_token or found is None:
            raise unauthorized("Invalid API token.")
        if self.faults.token_expired or found.expires_at <= self.clock():
            raise unauthorized("API token has expired.")
        if self.faults.forbidden == "all" or (self.faults.forbidden == "writes" and write):
            raise forbidden("The user of this API token does not have the permission this request needs.")
        return found

    def token_details(self, token: Any) -> Json:
        """``POST /users/api-token-details``: when the token in the body was made and when it expires."""
        found = self.tokens.get(token) if isinstance(token, str) else None
        if found is None:
            raise bad_request("data.apiToken: not a valid API token.")
        return {"createdAt": iso(found.created_at), "expiresAt": iso(found.expires_at)}

    def expire_demo_token_in(self, days: float) -> None:
        """Move the demo token's expiry (tests: a token near its end)."""
        token = self.tokens[DEMO_API_TOKEN]
        self.tokens[DEMO_API_TOKEN] = ApiToken(token.created_at, self.clock() + days * DAY)

    # -- views

    def settle(self) -> None:
        """Agents whose disconnect or connect has had ``transition_seconds`` reach their final state."""
        now = self.clock()
        with self._lock:
            for agent_id, (status, since) in list(self._settling.items()):
                if now - since >= self.transition_seconds:
                    agent = self.agents[agent_id]
                    agent["networkStatus"] = status
                    agent["updatedAt"] = iso(now)
                    del self._settling[agent_id]

    def agent_view(self, agent: Json) -> Json:
        return dict(agent)

    def threat_view(self, threat: Json) -> Json:
        """The threat with its agent as the agent is now (S1's ``agentRealtimeInfo``)."""
        agent = self.agents.get(threat["agentRealtimeInfo"]["agentId"])
        live = threat["agentRealtimeInfo"]
        if agent is not None:
            live = {
                **live,
                "agentComputerName": agent["computerName"],
                "agentNetworkStatus": agent["networkStatus"],
                "agentIsActive": agent["isActive"],
                "agentIsDecommissioned": agent["isDecommissioned"],
                "agentInfected": agent["infected"],
            }
        return {**threat, "threatInfo": dict(threat["threatInfo"]), "agentRealtimeInfo": live}

    @staticmethod
    def page(
        rows: Iterable[Json], key: Callable[[Json], list[Any]], cursor: str | None, limit: int, *, reverse: bool = False
    ) -> tuple[list[Json], str | None, int]:
        """Keyset paging: the ``limit`` rows after ``cursor`` in ``key`` order, the next cursor (None on the last
        page) and how many rows there are in all (S1's ``totalItems``)."""
        # Each row's key is made once, and only the rows after the cursor are sorted: a sync pages through five
        # thousand threats a thousand at a time, and sorting them all for every page made the simulator, not the
        # connector, what the benchmark measured (bench/edr_sync.py).
        keyed = [(key(row), row) for row in rows]
        total = len(keyed)
        if cursor:
            after = decode_cursor(cursor)
            if after is None:
                raise bad_request("cursor: not a cursor this API gave.")
            keyed = [pair for pair in keyed if (pair[0] < after if reverse else pair[0] > after)]
        keyed.sort(key=itemgetter(0), reverse=reverse)
        chosen = keyed[:limit]
        more = len(keyed) > limit
        return [row for _, row in chosen], encode_cursor(chosen[-1][0]) if more and chosen else None, total

    # -- changes

    def network(self, agent_ids: list[str], action: str) -> int:
        """``POST /agents/actions/disconnect`` or ``connect``: each agent starts heading for its new state (one
        already there or on its way stays as it is). How many agents the filter matched."""
        heading = "disconnecting" if action == "disconnect" else "connecting"
        final = FINAL[heading]
        now = self.clock()
        with self._lock:
            for agent_id in agent_ids:
                agent = self.agents[agent_id]
                if agent["networkStatus"] in (heading, final):
                    continue
                agent["networkStatus"] = heading
                agent["updatedAt"] = iso(now)
                self._settling[agent_id] = (final, now)
        return len(agent_ids)

    def _touch(self, threat: Json, **changes: str) -> None:
        info = threat["threatInfo"]
        for name, value in changes.items():
            info[name] = value
            info[f"{name}Description"] = DESCRIPTIONS.get(value, value)
        info["updatedAt"] = iso(max(self.clock(), _seconds(info["updatedAt"]) + 0.001))

    def set_incident(self, threat_ids: list[str], status: str, verdict: str | None) -> int:
        """``POST /threats/incident``: the incident status (and the verdict, when sent) of each threat."""
        with self._lock:
            for threat_id in threat_ids:
                changes = {"incidentStatus": status}
                if verdict is not None:
                    changes["analystVerdict"] = verdict
                self._touch(self.threats[threat_id], **changes)
        return len(threat_ids)

    def set_verdict(self, threat_ids: list[str], verdict: str) -> int:
        """``POST /threats/analyst-verdict``."""
        with self._lock:
            for threat_id in threat_ids:
                self._touch(self.threats[threat_id], analystVerdict=verdict)
        return len(threat_ids)

    def add_threat(
        self, agent_id: str, *, classification: str | None, confidence: str | None, name: str | None
    ) -> Json:
        """A new threat on an agent (``/_sim/threats``), detected now: of the seeded kind with ``classification``
        (a Trojan by default), with the confidence and file name given."""
        agent = self.agents.get(agent_id)
        if agent is None:
            raise not_found(f"Agent {agent_id} was not found.")
        if confidence is not None and confidence not in CONFIDENCE_LEVELS:
            raise bad_request(f"confidenceLevel must be one of {', '.join(CONFIDENCE_LEVELS)}.")
        wanted = classification or "Trojan"
        base = next((k for k in KINDS if k.classification == wanted), None)
        if base is None:
            raise bad_request(f"classification must be one of {', '.join(sorted({k.classification for k in KINDS}))}.")
        kind = Kind(
            base.classification, confidence or base.confidence, name or base.name, base.path, base.engine,
            base.mitigation, base.tactic, base.os_type,
        )  # fmt: skip
        with self._lock:
            generator = Generator(len(self.threats) + 7919, self.clock())
            now = self.clock()
            threat = generator.threat(self, agent, kind, status="unresolved", verdict="undefined", created=now)
            threat["threatInfo"]["createdAt"] = threat["threatInfo"]["updatedAt"] = iso(now)
        return threat


def _seconds(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
