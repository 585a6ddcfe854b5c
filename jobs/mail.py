"""Mail delivery. With no ``SMTP_URL`` (the demo) the mail is printed to the worker log instead."""

from __future__ import annotations

import logging
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app

from jobs.context import app_context
from vectis import db

log = logging.getLogger("vectis.mail")
SENDER = "Vectis <no-reply@vectis.invalid>"


def deliver(tenant_id: int, mail_id: int) -> str:
    from vectis.models import OutboxMail

    with app_context(), db.tenant_session(tenant_id) as s:
        mail = s.get(OutboxMail, mail_id, with_for_update=True)
        if mail is None or mail.sent_at is not None:
            return "nothing to send"
        body = mail.body.open(tenant_id)
        smtp_url = current_app.config["VECTIS_SETTINGS"].smtp_url
        if smtp_url:
            _send_smtp(smtp_url, mail.to_address, mail.subject, body)
        else:
            # Demo and development: the worker log is the mailbox.
            print(
                f"\n----- mail to {mail.to_address} -----\nSubject: {mail.subject}\n\n{body}\n----- end of mail -----\n",
                flush=True,
            )
        mail.sent_at = datetime.now(UTC)
        return "sent"


def _send_smtp(url: str, to: str, subject: str, body: str) -> None:
    """``smtp://user:pass@host:587`` (STARTTLS) or ``smtps://…:465``."""
    parts = urlsplit(url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, to, subject
    message.set_content(body)
    client_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with client_class(
        parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 587), timeout=30
    ) as client:
        if parts.scheme == "smtp":
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
