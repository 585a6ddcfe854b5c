"""One simulated ESET PROTECT Cloud instance behind ESET Connect: its groups, devices, detections and device tasks,
the API user and the tokens it was given, fault knobs and request counters; the live views of its data (a device's
isolation as it settles) and the changes the API (or a device, through ``/_sim``) makes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState
from vectis.simulators.eset.seed import KINDS, EsetData, Generator, build_at_scale, build_demo
from vectis.simulators.eset.vendor import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    TOKEN_LIFETIME,
    ApiError,
    bad_request,
    decode_token,
    encode_token,
    iso,
    not_found,
)

_KNOB_RULES: dict[str, Rule] = {
    "bad_credentials": BOOL,
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
    bad_credentials: bool = False  # the token endpoint refuses the API user (wrong password, user removed)
    token_expired: bool = False  # every API request 401 as for an access token past its 60 minutes
    forbidden: str = ""  # "writes": the API user's permission set only reads; "all": it may read nothing
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1
    errors_5xx: int = 0  # the next N requests answer error_status
    error_status: int = 500
    latency: float = 0.0
    hang: float = 0.0

    RULES = _KNOB_RULES


@dataclass(frozen=True)
class Grant:
    username: str
    expires_at: float  # state.clock() seconds


def _epoch_of(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


ISOLATION_FINAL = {
    "NETWORK_ISOLATION_STATE_ISOLATING": "NETWORK_ISOLATION_STATE_ISOLATED",
    "NETWORK_ISOLATION_STATE_RELEASING": "NETWORK_ISOLATION_STATE_NOT_ISOLATED",
}


@dataclass
class EsetState(SimState[Faults], EsetData):
    """Seeded data, the API users (username -> password), the tokens handed out, fault knobs and bookkeeping.

    A device told to isolate (a ``StartNetworkIsolation`` device task) is ``…_ISOLATING`` until
    ``transition_seconds`` of ``clock()`` have passed, then ``…_ISOLATED`` on the next read (as ESET's agent applies
    a task at its next connection); ``EndNetworkIsolation`` mirrors it."""

    users: dict[str, str] = field(default_factory=lambda: {DEMO_USERNAME: DEMO_PASSWORD})
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
    transition_seconds: float = 1.0

    _access: dict[str, Grant] = field(default_factory=dict, init=False, repr=False, compare=False)
    _refresh: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _settling: dict[str, tuple[str, float]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> EsetState:
        """The demo MSP: twelve customer groups, 3-6 devices each, fourteen detections over two weeks."""
        state = cls()
        state.now = build_demo(state, seed, _epoch_of(now)).now
        return state

    @classmethod
    def at_scale(
        cls, *, customers: int = 500, detections: int = 5_000, seed: int = 1, now: datetime | None = None
    ) -> EsetState:
        """A large MSP: by default 500 customer groups (about 5,000 devices) and 5,000 detections over four weeks."""
        state = cls()
        state.now = build_at_scale(state, seed, _epoch_of(now), customers=customers, detections=detections).now
        return state

    # -- tokens

    def _issue(self, username: str) -> Json:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._access[access] = Grant(username, self.clock() + TOKEN_LIFETIME)
            self._refresh[refresh] = username
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "refresh_token": refresh,
        }

    def grant(self, form: dict[str, str]) -> Json:
        """``POST /oauth/token``: the password grant, or a refresh token's."""
        kind = form.get("grant_type")
        if kind == "password":
            username = form.get("username", "")
            if self.faults.bad_credentials or self.users.get(username) != form.get("password") or not username:
                raise ApiError(400, "Invalid username or password.", oauth="invalid_grant")
            return self._issue(username)
        if kind == "refresh_token":
            with self._lock:
                username = self._refresh.pop(form.get("refresh_token", ""), "")
            if self.faults.bad_credentials or not username or username not in self.users:
                raise ApiError(400, "The refresh token is invalid or expired.", oauth="invalid_grant")
            return self._issue(username)
        raise ApiError(400, "grant_type must be password or refresh_token.", oauth="unsupported_grant_type")

    def authorize(self, header: str, *, write: bool) -> Grant:
        scheme, _, token = header.partition(" ")
        found = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise ApiError(401, "Invalid or missing access token.")
        if self.faults.token_expired or found.expires_at <= self.clock():
            raise ApiError(401, "The access token has expired.")
        if self.faults.forbidden == "all" or (self.faults.forbidden == "writes" and write):
            raise ApiError(403, "The API user's permission set does not allow this operation.")
        return found

    def expire_tokens(self) -> None:
        """Every access token handed out expires now (tests: a cached token past its hour)."""
        with self._lock:
            for token, grant in list(self._access.items()):
                self._access[token] = Grant(grant.username, self.clock() - 1)

    # -- views

    def settle(self) -> None:
        now = self.clock()
        with self._lock:
            for device_uuid, (final, since) in list(self._settling.items()):
                if now - since >= self.transition_seconds:
                    self.devices[device_uuid]["networkIsolationState"] = final
                    del self._settling[device_uuid]

    def detection_view(self, detection: Json) -> Json:
        """The detection with its device as ESET names it now (``device``) [T]."""
        device = self.devices.get(detection["context"]["deviceUuid"]) or {}
        return {**detection, "device": {"uuid": device.get("uuid"), "displayName": device.get("displayName")}}

    @staticmethod
    def page(
        rows: Iterable[Json], key: Callable[[Json], list[Any]], token: str | None, size: int
    ) -> tuple[list[Json], str]:
        """Keyset paging in ``key`` order: the ``size`` rows after ``token`` and the next token ("" on the last page,
        as a protobuf string field is never null)."""
        ordered = sorted(rows, key=key)
        if token:
            after = decode_token(token)
            if after is None:
                raise bad_request("pageToken: not a token this API gave.")
            ordered = [row for row in ordered if key(row) > after]
        chosen = ordered[:size]
        return chosen, encode_token(key(chosen[-1])) if len(ordered) > size and chosen else ""

    # -- changes

    def resolve(self, detection_uuid: str, note: str) -> Json:
        with self._lock:
            detection = self.detections.get(detection_uuid)
            if detection is None:
                raise not_found(f"Detection {detection_uuid} not found.")
            detection["resolved"] = True
            if note:
                detection["note"] = note
            return self.detection_view(detection)

    def create_task(self, task: Json) -> Json:
        """``POST /v1/device_tasks``: a network isolation task (start or end) on devices, run at once."""
        action = (task.get("action") or {}).get("name") if isinstance(task.get("action"), dict) else None
        targets = task.get("targets") if isinstance(task.get("targets"), dict) else {}
        devices = targets.get("devicesUuids") if isinstance(targets, dict) else None
        if action not in ("StartNetworkIsolation", "EndNetworkIsolation"):
            raise bad_request("task.action.name: this simulator runs StartNetworkIsolation and EndNetworkIsolation.")
        if not isinstance(devices, list) or not devices or not all(isinstance(d, str) for d in devices):
            raise bad_request("task.targets.devicesUuids: name at least one device.")
        unknown = [d for d in devices if d not in self.devices]
        if unknown:
            raise not_found(f"Device {unknown[0]} not found.")
        heading = (
            "NETWORK_ISOLATION_STATE_ISOLATING"
            if action == "StartNetworkIsolation"
            else ("NETWORK_ISOLATION_STATE_RELEASING")
        )
        final = ISOLATION_FINAL[heading]
        now = self.clock()
        with self._lock:
            for device_uuid in devices:
                device = self.devices[device_uuid]
                if device["networkIsolationState"] in (heading, final):
                    continue  # already there, or on its way
                device["networkIsolationState"] = heading
                self._settling[device_uuid] = (final, now)
            created = {
                **task,
                "uuid": Generator(len(self.tasks) + 104_729, now).uuid(),
                "createTime": iso(now),
            }
            self.tasks[created["uuid"]] = created
        return created

    def add_detection(self, device_uuid: str, *, kind_name: str | None, severity: str | None) -> Json:
        """A device detects something now (``/_sim/detections``): one of the seeded kinds by its display name (the
        first, a ransomware trojan, by default), with the severity given."""
        device = self.devices.get(device_uuid)
        if device is None:
            raise not_found(f"Device {device_uuid} not found.")
        kind = next((k for k in KINDS if k.display_name == kind_name), None) if kind_name else KINDS[0]
        if kind is None:
            raise bad_request(f"displayName must be one of {', '.join(k.display_name for k in KINDS)}.")
        with self._lock:
            now = self.clock()
            detection = Generator(len(self.detections) + 7919, now).detection(
                self, device, kind, resolved=False, occurred=now
            )
            if severity is not None:
                detection["severityLevel"] = severity
        return self.detection_view(detection)
