"""Outgoing mail: written to ``mail_outbox`` in the caller's transaction, delivered by the ``mail`` queue
after commit (so a rolled-back action sends nothing)."""

from __future__ import annotations

from vectis.actions.base import Context
from vectis.crypto import Sealed
from vectis.models import OutboxMail


def queue_mail(ctx: Context, *, to: str, subject: str, body: str) -> OutboxMail:
    mail = OutboxMail(tenant_id=ctx.tenant_id, to_address=to, subject=subject, body=Sealed.seal(ctx.tenant_id, body))
    ctx.session.add(mail)
    ctx.session.flush()
    tenant_id, mail_id = ctx.tenant_id, mail.id

    def enqueue() -> None:
        from jobs.mail import deliver
        from vectis.queues import queue

        queue("mail").enqueue(deliver, tenant_id, mail_id, job_timeout=60)

    ctx.after_commit.append(enqueue)
    return mail
