"""The second step of signing in, for either kind of account: a code from the authenticator app or a recovery code,
and the lockout after five wrong ones. Operators (``vectis.identity.auth``) and portal users (``vectis.portal.auth``)
each bind it to their own audit trail, lockout counter and way of finishing the sign-in; the rules themselves live
here once, so a fix to one is a fix to both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from flask import session

from vectis.audit.actors import Actor, Target
from vectis.identity import mfa
from vectis.models import PortalUser, User
from vectis.platform import db
from vectis.platform.dates import clock
from vectis.platform.ratelimit import AttemptWindow

WRONG_CODE = "That code is not right. Enter the 6-digit code your authenticator app shows now."
WRONG_RECOVERY_CODE = "That recovery code is not right, or it was used before."

A = TypeVar("A", User, PortalUser)


@dataclass(frozen=True)
class Step:
    """Where a sign-in step leads: the problem in words to show, or the next URL."""

    error: str | None = None
    next_url: str | None = None


class Recorder(Protocol):
    """How a kind of account audits its sign-in events (each commits on its own: the request may still fail)."""

    def __call__(
        self,
        action: str,
        result: str,
        *,
        actor: Actor,
        target: Target,
        payload: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class SecondStep(Generic[A]):
    kind: str  # the audit actions' prefix: ``auth.mfa``, ``portal.lockout``, ...
    record: Recorder
    actor: Callable[[A], Actor]
    target: Callable[[A], Target]
    window: Callable[[A], AttemptWindow]  # the account's own count of wrong codes
    finish: Callable[[A, str], str]  # signs the account in (how: the audit's ``method``); the URL to go on to

    def locked(self, user: A) -> Step | None:
        if (until := self.window(user).locked_until()) is not None:
            return Step(error=f"Too many wrong codes. This account is locked until {clock(until)}.")
        return None

    def code(self, user: A, code: str) -> Step:
        if (locked := self.locked(user)) is not None:
            return locked
        # Lock the row: two requests racing with the same code must not both see the old last-used step.
        db.session().refresh(user, with_for_update=True)
        if not mfa.verify_user_code(user, code):
            return self._failed(user, WRONG_CODE)
        return Step(next_url=self.finish(user, "password+totp"))

    def recovery(self, user: A, code: str) -> Step:
        if (locked := self.locked(user)) is not None:
            return locked
        if not mfa.use_recovery_code(db.session(), user, code):
            return self._failed(user, WRONG_RECOVERY_CODE)
        left = mfa.remaining_recovery_codes(db.session(), user)
        self.record(
            f"{self.kind}.recovery_code_used",
            "ok",
            actor=self.actor(user),
            target=self.target(user),
            payload={"remaining": left},
        )
        return Step(next_url=self.finish(user, "password+recovery_code"))

    def _failed(self, user: A, error: str) -> Step:
        actor, target = self.actor(user), self.target(user)
        db.session().commit()  # a wrong code must not roll back anything already decided (and ends the row lock)
        self.record(f"{self.kind}.mfa", "failed", actor=actor, target=target, error=error)
        if (until := self.window(user).fail()) is not None:
            payload = {"kind": "mfa", "until": until.isoformat()}
            self.record(f"{self.kind}.lockout", "blocked", actor=actor, target=target, payload=payload)
            return Step(error=f"Too many wrong codes. This account is locked until {clock(until)}.")
        return Step(error=error)


def enrol_secret() -> str:
    """The secret shown while enrolling; kept in the server-side session until a code confirms it."""
    if "enrol_secret" not in session:
        session["enrol_secret"] = mfa.new_secret()
    secret: str = session["enrol_secret"]
    return secret
