"""Mail delivery. With no ``SMTP_URL`` (the demo) the mail is printed to the worker log instead."""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app

from jobs.context import app_context
from vectis.models import OutboxMail
from vectis.platform import db

log = logging.getLogger("vectis.mail")
SENDER = "Vectis <no-reply@vectis.invalid>"


def deliver(tenant_id: int, mail_id: int) -> str:

    with app_context(), db.tenant_session(tenant_id) as s:
        mail = s.get(OutboxMail, mail_id, with_for_update=True)
        if mail is None or mail.sent_at is not None:
            return "nothing to send"
        body = mail.body.open(tenant_id)
        smtp_url = current_app.config["VECTIS_SETTINGS"].smtp_url
        if smtp_url:
            _send_smtp(smtp_url, mail.to_address, mail.subject, body)
        elif current_app.config["VECTIS_SETTINGS"].mode == "production":
            # No mail server: say so, but never print a body (it can hold a one-time setup link).
            log.warning("mail %s to %s not sent: SMTP_URL is not set", mail_id, mail.to_address)
            return "not sent: no SMTP_URL"
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
    context = ssl.create_default_context()  # smtplib verifies no certificate unless given a context
    host = parts.hostname or "localhost"
    client = (
        smtplib.SMTP_SSL(host, parts.port or 465, timeout=30, context=context)
        if parts.scheme == "smtps"
        else smtplib.SMTP(host, parts.port or 587, timeout=30)
    )
    with client:
        if parts.scheme == "smtp":
            client.starttls(context=context)
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
