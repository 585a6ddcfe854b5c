"""How hard a password may be tried, and by whom (issue 15, finding 7).

Locking an account after five wrong passwords let anyone who knew an email lock its owner out for 15
minutes, from anywhere, with five anonymous requests; and nothing limited one address trying many accounts.
So three limits, each keyed as narrowly as it can be:

- **an account at one address**: 5 failures in 15 minutes lock that pair only. The owner at their own
  desk is not locked out by a guesser elsewhere.
- **one address**: 30 failures in 15 minutes, whichever accounts, lock that address (password spraying).
- **one account, from everywhere**: never locked by password failures. After a burst of 10 failures it is
  slowed to one attempt per 30 seconds, so a guesser spread over many addresses gets about 2,900 tries a
  day (against bcrypt, and then TOTP), while the owner waits seconds at most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis import Redis

from vectis.platform.dates import clock
from vectis.platform.ratelimit import AttemptWindow, TokenBucket

PAIR_LIMIT, ADDRESS_LIMIT = 5, 30
WINDOW = timedelta(minutes=15)
ACCOUNT_BURST, ACCOUNT_INTERVAL = 10, 30  # failures; seconds between attempts after the burst


@dataclass(frozen=True)
class Refusal:
    message: str
    scope: str  # account_address | address | account
    until: datetime


def _address_locked(until: datetime) -> Refusal:
    return Refusal(f"Too many failed sign-ins from your network. Try again at {clock(until)}.", "address", until)


def _pair_locked(until: datetime) -> Refusal:
    return Refusal(f"Too many attempts. Try again at {clock(until)}.", "account_address", until)


class SignInGuard:
    """The three limits for one sign-in attempt: ``email`` as typed, from ``address``."""

    def __init__(self, store: Redis, tenant_id: int, email: str, address: str) -> None:
        account = f"{tenant_id}:{email.strip().lower()[:320]}"
        self.pair = AttemptWindow(store, f"signin:{account}:{address}", PAIR_LIMIT, WINDOW)
        self.address = AttemptWindow(store, f"signin-address:{address}", ADDRESS_LIMIT, WINDOW)
        self.account = TokenBucket(store, f"signin-account:{account}", 1 / ACCOUNT_INTERVAL, ACCOUNT_BURST)

    def refusal(self) -> Refusal | None:
        """Why this attempt is not even judged, if it is not; the same words whatever password was typed."""
        if (until := self.address.locked_until()) is not None:
            return _address_locked(until)
        if (until := self.pair.locked_until()) is not None:
            return _pair_locked(until)
        if (wait := self.account.wait_for_token()) > 0:
            seconds = math.ceil(wait)
            return Refusal(
                f"This account has had many failed sign-ins. Wait {seconds} seconds and try again.",
                "account",
                datetime.now(UTC) + timedelta(seconds=seconds),
            )
        return None

    def failed(self) -> Refusal | None:
        """Count a wrong password everywhere it counts; the lock it started, if it started one."""
        self.account.try_take()
        address_until, pair_until = self.address.fail(), self.pair.fail()
        if address_until is not None:
            return _address_locked(address_until)
        return None if pair_until is None else _pair_locked(pair_until)

    def succeeded(self) -> None:
        self.pair.reset()  # not the address's count: one good account must not reset a sprayer's tally
