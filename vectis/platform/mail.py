"""Outgoing mail: written to ``mail_outbox`` in the caller's transaction, delivered by the ``mail`` queue
after commit (so a rolled-back action sends nothing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.orm import Session

from vectis.models import OutboxMail
from vectis.platform import jobs
from vectis.platform.crypto import Sealed


class Transaction(Protocol):
    """What queuing a mail needs of its caller (an action's context is one)."""

    session: Session
    tenant_id: int
    after_commit: list[Callable[[], None]]


def queue_mail(tx: Transaction, *, to: str, subject: str, body: str) -> OutboxMail:
    mail = OutboxMail(tenant_id=tx.tenant_id, to_address=to, subject=subject, body=Sealed.seal(tx.tenant_id, body))
    tx.session.add(mail)
    tx.session.flush()
    tenant_id, mail_id = tx.tenant_id, mail.id

    def enqueue() -> None:
        jobs.MAIL.enqueue(tenant_id, mail_id)

    tx.after_commit.append(enqueue)
    return mail


# The links in mail that are keys to someone's account or choices: an operator's invitation, a portal user's setup and
# password reset links, and their signed unsubscribe links.
_PERSONAL_LINK = re.compile(r"(/(?:invite|setup|reset|unsubscribe)/)[A-Za-z0-9._~-]{16,}")
HIDDEN = "[hidden]"


def hide_personal_links(text: str) -> str:
    """``text`` with the key of every personal link replaced by ``[hidden]``, for showing a mail to someone other
    than its recipient (an admin in Sent mail)."""
    return _PERSONAL_LINK.sub(rf"\1{HIDDEN}", text)
