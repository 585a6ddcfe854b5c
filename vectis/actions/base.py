"""The vocabulary of actions: who acts (Actor), on what (Target), with which verb, and what came of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from vectis.audit.actors import Actor, Target
from vectis.connectors.capabilities import Request
from vectis.models import Role

__all__ = [
    "REDACTED",
    "ActionFailed",
    "Actor",
    "Applied",
    "Context",
    "Outcome",
    "Preview",
    "RateLimit",
    "SelfServiceVerb",
    "Sending",
    "Target",
    "Verb",
]

REDACTED = "[redacted]"


class ActionFailed(Exception):
    """The action could not be done. ``message`` is shown to the person who asked, so it says what
    happened in words a technician understands; ``vendor_status`` is the vendor's HTTP status if any."""

    def __init__(self, message: str, *, vendor_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.vendor_status = vendor_status


@dataclass
class Context:
    session: Session
    tenant_id: int
    actor: Actor
    surface: str
    request_id: str | None
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Writes that stand whatever becomes of the action: what a vendor told us about itself (it refuses notes
    # written as its members). Made after the verb's savepoint, so a failure later in the verb cannot undo them.
    lasting: list[Callable[[], None]] = field(default_factory=list)
    # The caller's own record of the action, written in the audit row's transaction (see ``perform``).
    record_outcome: Callable[[Outcome], None] | None = None


@dataclass
class Applied:
    """What a verb did. ``response`` goes into the audit row; ``private`` only back to the caller
    (a one-time link, new recovery codes: things the audit log must never hold)."""

    message: str
    response: dict[str, Any] = field(default_factory=dict)
    private: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RateLimit:
    """A per-connection limit: ``key`` names the bucket that all processes share; ``vendor`` how people name
    the vendor behind it ("ConnectWise"), for the words saying an action waits for it."""

    key: str
    rate: float
    burst: int = 1
    vendor: str | None = None


@dataclass(frozen=True)
class Sending:
    """One request an action would send to ``vendor`` ("ConnectWise"): the connector's own ``request``, the one its
    write sends. ``unknown`` says in words what Vectis cannot know before the vendor answers (the number of the
    ticket it is about to create), which stands in the request as a placeholder."""

    vendor: str
    request: Request
    unknown: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"vendor": self.vendor, **self.request.shown(), "unknown": self.unknown}


@dataclass(frozen=True)
class Preview:
    """What a dry run found: ``message`` in words, and ``requests``, each vendor request the action would send in
    order (``Sending.to_json``, secrets redacted): None when nothing goes to a vendor (Vectis records it itself),
    empty when nothing would be sent (already so, or refused as it is: the message says which)."""

    message: str
    requests: list[dict[str, Any]] | None


@dataclass
class Outcome:
    result: str  # ok | failed | blocked | dry_run | queued | unknown (the vendor may or may not have it)
    message: str
    audit_id: int | None = None
    response: dict[str, Any] = field(default_factory=dict)
    private: dict[str, Any] = field(default_factory=dict)
    preview: Preview | None = None  # a dry run's: what would have been sent

    @property
    def ok(self) -> bool:
        return self.result == "ok"

    @property
    def accepted(self) -> bool:
        """Done, or stored for the worker to send when the vendor's rate limit allows: either way the person's
        draft can go, and nothing is told as an error (asking again would send it twice)."""
        return self.result in ("ok", "queued")

    @property
    def tone(self) -> str:
        """How the outcome is told: ``ok`` (done), ``info`` (queued, dry run), ``error`` (anything else)."""
        return "ok" if self.ok else "info" if self.result in ("queued", "dry_run") else "error"


class Verb:
    """One thing Vectis can change. Subclasses set ``name``, ``label``, ``roles`` and implement ``apply``."""

    name: ClassVar[str]
    label: ClassVar[str]
    target_type: ClassVar[str]
    roles: ClassVar[frozenset[Role]] = frozenset({Role.ADMIN})
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    def permitted(self, actor: Actor, target: Target) -> bool:
        # A portal user's role names ("admin") are not an operator's: only verbs that say so accept them.
        if actor.type == "portal_user":
            return False
        return actor.role is not None and (actor.role == Role.ADMIN.value or Role(actor.role) in self.roles)

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit | None:
        """Write-backs to a vendor name their connection's bucket; internal verbs have none."""
        return None

    # May ``apply`` act outside Vectis's database (a vendor's API)? A rule commits that it is sending before
    # such a call, so a worker that dies during it never sends twice. A verb that only writes Vectis's own
    # tables (an alert, an outbox e-mail) says no: its write and the rule's record of it commit together.
    reaches_vendor: ClassVar[bool] = True

    # May ``apply`` run again after a worker died mid-call? Yes for verbs that change nothing outside Vectis or
    # only replace a value; a vendor write that adds something says no and reads back with ``confirm``.
    repeatable: ClassVar[bool] = True

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        """Words saying the target already is what ``payload`` asks for ("Already assigned to …"): then nothing
        is sent and nothing audited, since nothing would change. None: there is something to do (or the payload
        is wrong, which ``apply`` says)."""
        return None

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        raise NotImplementedError

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending] | None:
        """The requests ``apply`` would send to a vendor, in order, made by the connector's own builders (the ones
        its writes send) and sending nothing: what a dry run shows. It checks the payload as ``apply`` does
        (ActionFailed) and writes nothing. Where ``apply`` asks the vendor first, it uses what Vectis has stored,
        or a placeholder said in ``Sending.unknown``. None: the verb writes only Vectis's own tables. A verb that
        reaches a vendor overrides it."""
        return None

    def precheck(self, ctx: Context, target: Target, payload: dict[str, Any]) -> None:
        """Refuse, by raising ActionFailed, what the verb can tell from stored data alone will not be done, before
        the rate limit takes a token: the caller hears the refusal now instead of "Queued", and nothing waits in
        the queue only to fail. Reads only; sends nothing. ``apply`` still checks for itself. Default: nothing."""
        return None

    def settle(self, ctx: Context, target: Target, payload: dict[str, Any], outcome: Outcome) -> None:
        """An action that waited in the queue for its rate limit has its final outcome: the caller that queued it
        is gone, so the verb brings the caller's own record of the action (named in ``payload``) up to date, in the
        audit row's transaction. Called once per final outcome (never for "wait again"). Default: nothing."""
        return None

    def confirm(self, ctx: Context, target: Target, payload: dict[str, Any], since: datetime) -> Applied | None:
        """After a worker died between sending and recording: what the vendor shows was done since ``since``
        (None: it cannot tell). Only asked of verbs that are not ``repeatable``."""
        return None

    def redact(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {k: (REDACTED if k in self.secret_fields else v) for k, v in payload.items()}

    def redact_requests(self, payload: dict[str, Any], requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``requests`` (``Sending.to_json``) with every secret of ``payload`` redacted wherever it appears: a
        vendor body built from a password must not show it, in a dry run's answer or in the audit log."""
        secrets = [str(v) for k, v in payload.items() if k in self.secret_fields and v not in (None, "")]
        return [_without(request, secrets) for request in requests] if secrets else requests


def _without(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_without(k, secrets): _without(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without(v, secrets) for v in value]
    return value


class SelfServiceVerb(Verb):
    """A verb a user performs on their own account, whatever their role."""

    roles = frozenset(Role)
    target_type = "user"

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type == "user" and target.type == "user" and actor.id == target.id
