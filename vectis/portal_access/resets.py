"""Password reset links for portal users: made (only the token's hash is kept, ``users.new_reset_token``), mailed in
the branded shell through the ``mail`` queue, and how often anyone may ask for one.

Nothing a visitor sees tells them whether an address has an account, and that includes how long the answer takes: the
"Forgot your password?" request only counts the request against its limits and hands the address typed to the ``mail``
queue (``jobs.portal_mail.send_reset_link``); the worker looks the account up, and makes and mails the link
(``answer_request``). The request does the same work for any address.

Two limits, both counted whether or not the address has an account, so neither tells a visitor anything about who
has one: per address typed (a mailbox is not flooded with links, 3 an hour) and per network (one address cannot ask
for the whole customer list, 10 an hour)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.audit import writer as audit
from vectis.audit.actors import Actor, Target
from vectis.models import PortalUser, Tenant
from vectis.platform.dates import clock
from vectis.platform.ratelimit import AttemptWindow
from vectis.portal_access import notify, users
from vectis.portal_access.hosts import portal_url

PER_ADDRESS, PER_NETWORK = 3, 10
WINDOW = timedelta(hours=1)
ASKED = "portal.password_reset_request"
NO_ACCOUNT = "No active portal account has this address: nothing was sent."


class RequestGuard:
    """The limits for one "Forgot your password?" request: ``email`` as typed, from ``network`` (the client's IP)."""

    def __init__(self, store: Redis, tenant_id: int, email: str, network: str) -> None:
        self.address = AttemptWindow(
            store, f"portal-reset:{tenant_id}:{email.strip().lower()[:320]}", PER_ADDRESS, WINDOW
        )
        self.network = AttemptWindow(store, f"portal-reset-network:{network}", PER_NETWORK, WINDOW)

    def refusal(self) -> str | None:
        """Why this request is not even looked at, in words; None when it may go ahead (and is then counted)."""
        if (until := self.network.locked_until()) is not None:
            return f"Too many reset requests from your network. Try again at {clock(until)}."
        if (until := self.address.locked_until()) is not None:
            return (
                "Several links were asked for that address in the last hour. If it has a portal account, use the "
                f"newest mail, or ask again at {clock(until)}."
            )
        self.network.fail()
        self.address.fail()
        return None


def mail_link(
    session: Session,
    tenant_id: int,
    user: PortalUser,
    *,
    by_operator: bool = False,
    after_commit: list[Callable[[], None]] | None = None,
    scheme: str | None = None,
    port: int | None = None,
) -> None:
    """A new reset link for ``user`` (an earlier one stops working), mailed to them alone: it is a key to the
    account, so it goes nowhere else (not to the operator who sent it, not to the audit log)."""
    token = users.new_reset_token(user)
    slug = session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    company = notify.company_name(session, tenant_id)
    hours = int(users.RESET_LIFETIME.total_seconds() // 3600)
    why = (
        f"{company} sent you a link to choose a new password for your support portal account ({user.email})."
        if by_operator
        else f"Someone, we hope you, asked to reset the password of your {company} support portal account "
        f"({user.email})."
    )
    notify.queue(
        session,
        tenant_id,
        user,
        subject=f"Choose a new password for the {company} support portal",
        body=(
            f"Hello {user.name},\n\n{why}\n\nChoose a new password with the link below. It works once, for "
            f"{hours} hour{'s' if hours != 1 else ''}, and signs you out everywhere else.\n\n"
            "Did not ask for this? Ignore this mail: your password stays as it is."
        ),
        action_url=portal_url(str(slug), f"/reset/{token}", scheme=scheme, port=port),
        action_label="Choose a new password",
        one_time=True,
        after_commit=after_commit,
        scheme=scheme,
        port=port,
    )


def asked_by(typed: str) -> Actor:
    """Whoever typed the address: asking proves nothing about who they are."""
    return Actor.anonymous(typed)


def answer_request(
    session: Session,
    tenant_id: int,
    typed: str,
    *,
    request_id: str | None = None,
    scheme: str | None = None,
    port: int | None = None,
) -> None:
    """The mail worker's half of a "Forgot your password?" request that was let through: a link mailed to the active
    portal account ``typed`` names, if there is one, and the audit row either way (under the request's id). The link
    goes to the scheme and port the request came in on, as it did when the request made it."""
    user = users.by_email(session, typed) if typed else None
    target = Target("portal_user", str(user.id), user.email) if user is not None else Target.typed("portal_user", typed)
    active = user is not None and user.is_active
    if user is not None and active:
        mail_link(session, tenant_id, user, scheme=scheme, port=port)
    audit.record(
        session, tenant_id=tenant_id, actor=asked_by(typed), surface="portal", action=ASKED, target=target,
        result="ok" if active else "failed", error=None if active else NO_ACCOUNT, request_id=request_id,
    )  # fmt: skip
