"""Outgoing mail: written to ``mail_outbox`` in the caller's transaction, delivered by the ``mail`` queue
after commit (so a rolled-back action sends nothing)."""

from __future__ import annotations

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
