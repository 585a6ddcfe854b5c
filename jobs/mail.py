"""Mail delivery. With no ``SMTP_URL`` (the demo) the mail is printed to the worker log instead."""

from __future__ import annotations

import functools
import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr
from urllib.parse import unquote, urlsplit

from flask import current_app

from jobs.context import app_context
from vectis.branding import mail as shell
from vectis.models import OutboxMail
from vectis.platform import db
from vectis.platform.crypto import Sealed

log = logging.getLogger("vectis.mail")
SENDER_ADDRESS = "no-reply@vectis.invalid"
SENDER = f"Vectis <{SENDER_ADDRESS}>"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def deliver(tenant_id: int, mail_id: int) -> str:

    with app_context(), db.tenant_session(tenant_id) as s:
        mail = s.get(OutboxMail, mail_id, with_for_update=True)
        if mail is None or mail.sent_at is not None:
            return "nothing to send"
        body = mail.body.open(tenant_id)
        html, headers, sender = None, {}, SENDER
        if mail.shell is not None:  # portal mail: the MSP's branded shell, rendered here rather than in a request
            brand, rendered = shell.render_outbox(s, tenant_id, mail)
            body, html, headers = rendered.text, rendered.html, rendered.headers
            sender = formataddr((brand.company, SENDER_ADDRESS))
        smtp_url = current_app.config["VECTIS_SETTINGS"].smtp_url
        if smtp_url:
            _send_smtp(smtp_url, mail.to_address, mail.subject, body, html=html, headers=headers, sender=sender)
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
        # Kept as it went out (sealed: it can hold a one-time link), so Sent mail shows what the recipient saw even
        # after the branding changes.
        mail.sent_as = Sealed.seal(tenant_id, {"text": body, "html": html})
        return "sent"


@functools.cache
def _tls() -> ssl.SSLContext:
    """smtplib verifies no certificate unless given a context. Made once per process: loading the system's CA
    certificates took 20 ms, most of a mail's cost when the worker sends a thousand notifications in a row."""
    return ssl.create_default_context()


def _send_smtp(
    url: str,
    to: str,
    subject: str,
    body: str,
    *,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    sender: str = SENDER,
) -> None:
    """``smtp://user:pass@host:587`` (STARTTLS) or ``smtps://…:465``. A server on this machine that offers no STARTTLS
    (the demo's sink) is spoken to in the clear: nothing crosses a network."""
    parts = urlsplit(url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    context = _tls()
    host = parts.hostname or "localhost"
    client = (
        smtplib.SMTP_SSL(host, parts.port or 465, timeout=30, context=context)
        if parts.scheme == "smtps"
        else smtplib.SMTP(host, parts.port or 587, timeout=30)
    )
    with client:
        if parts.scheme == "smtp":
            client.ehlo()
            if client.has_extn("starttls"):
                client.starttls(context=context)
            elif host not in LOOPBACK:
                raise smtplib.SMTPNotSupportedError(f"the mail server at {host} does not offer STARTTLS")
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
