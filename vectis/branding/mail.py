"""The branded mail shell: the portal's mail (ticket updates, invitations, digests) as text and as HTML in the MSP's
colours, with a footer that names the MSP and, for mail one may unsubscribe from, its postal address and the way
out. Rendered by the worker that sends it, never by a web request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from jinja2 import Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.branding import contrast
from vectis.models import OutboxMail, PortalBranding, Tenant
from vectis.platform.mail import hide_personal_links

DEFAULT_ACCENT = "#1f4fd1"
WORDS = {"digest": "digest", "announcement": "announcement"}


@dataclass(frozen=True)
class Brand:
    company: str
    accent: str
    accent_text: str
    postal_address: str | None
    has_logo: bool


BRAND_TTL_SECONDS = 30.0
_KNOWN: dict[tuple[int, int], tuple[float, Brand]] = {}


def brand_of(session: Session, tenant_id: int) -> Brand:
    """The workspace's brand, kept for a while per process: a worker sending a thousand notifications in a row reads
    it once, and a change made in Admin → Branding is in mail within the TTL."""
    key, now = (id(current_app._get_current_object()), tenant_id), time.monotonic()  # type: ignore[attr-defined]
    known = _KNOWN.get(key)
    if known is not None and known[0] > now:
        return known[1]
    brand = _read_brand(session, tenant_id)
    _KNOWN[key] = (now + BRAND_TTL_SECONDS, brand)
    return brand


def _read_brand(session: Session, tenant_id: int) -> Brand:
    row = session.scalar(select(PortalBranding))
    if row is None:
        name = session.scalar(select(Tenant.name).where(Tenant.id == tenant_id)) or "Your IT provider"
        return Brand(str(name), DEFAULT_ACCENT, contrast.judge(DEFAULT_ACCENT).text, None, False)
    return Brand(row.company_name, row.accent, contrast.judge(row.accent).text, row.postal_address, bool(row.logo))


def _template() -> Template:
    # Jinja keeps the compiled template: a worker renders a thousand notifications in a row from one compilation.
    return current_app.jinja_env.get_template("mail/shell.html")


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str
    headers: dict[str, str]


def render(
    brand: Brand,
    *,
    subject: str,
    body: str,
    category: str,
    links: dict[str, Any],
    logo_url: str | None = None,
) -> Rendered:
    """``body`` (plain text, paragraphs split by blank lines) in the shell; ``links`` is the outbox row's ``shell``:
    its button (``action_url``, ``action_label``) and, with ``unsubscribe_url`` (digests
    and announcements) the List-Unsubscribe headers of RFC 2369 and the one-click POST of RFC 8058."""
    unsubscribe = links.get("unsubscribe_url")
    action_url, action_label = links.get("action_url"), links.get("action_label") or "Open in the portal"
    words = WORDS.get(category, "mail")
    footer = brand.company + (f", {brand.postal_address}" if brand.postal_address else "")
    text = body.rstrip() + "\n"
    if action_url:
        text += f"\n{action_label}: {action_url}\n"
    text += f"\n--\n{footer}\n"
    if unsubscribe:
        text += f"Unsubscribe from {words}s (ticket updates keep coming): {unsubscribe}\n"
    html = _template().render(
        subject=subject,
        company=brand.company,
        accent=brand.accent,
        accent_text=brand.accent_text,
        postal_address=brand.postal_address,
        logo_url=logo_url if brand.has_logo else None,
        paragraphs=[p.strip("\n") for p in body.strip().split("\n\n") if p.strip()],
        action_url=action_url,
        action_label=action_label,
        unsubscribe_url=unsubscribe,
        category_words=words,
    )
    headers = {}
    if unsubscribe:
        headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return Rendered(text, html, headers)


def render_outbox(session: Session, tenant_id: int, mail: OutboxMail) -> tuple[Brand, Rendered]:
    """A portal mail (one with a ``shell``) in the workspace's shell as it stands now: what the worker sends, and what
    Sent mail shows of a mail not sent yet. Its one-time link, kept sealed, is opened here and only here."""
    if mail.shell is None:
        raise ValueError("operator mail has no shell: it goes out as its plain text")
    brand = brand_of(session, tenant_id)
    links = dict(mail.shell)
    if mail.link is not None:
        links["action_url"] = mail.link.open(tenant_id)
    rendered = render(
        brand, subject=mail.subject, body=mail.body.open(tenant_id), category=mail.category, links=links,
        logo_url=mail.shell.get("logo_url"),
    )  # fmt: skip
    return brand, rendered


@dataclass(frozen=True)
class Shown:
    """A mail as Sent mail shows it: its text part, its HTML (None: operator mail, plain text only), and whether this
    is what went out (``kept``) or a rendering made now (not sent yet, or sent before mail was kept as sent)."""

    text: str
    html: str | None
    kept: bool


def as_sent(session: Session, tenant_id: int, mail: OutboxMail, *, reveal_links: bool) -> Shown:
    """``mail`` as its recipient got it. Someone else is looking, so personal links (keys to the recipient's account)
    are hidden unless ``reveal_links`` (the demo, whose mail goes to a local sink)."""
    if mail.sent_as is not None:
        kept = mail.sent_as.open(tenant_id)
        text, html, was_kept = str(kept.get("text") or ""), kept.get("html"), True
    elif mail.shell is not None:
        _, rendered = render_outbox(session, tenant_id, mail)
        text, html, was_kept = rendered.text, rendered.html, False
    else:
        text, html, was_kept = str(mail.body.open(tenant_id)), None, False
    if not reveal_links:
        text, html = hide_personal_links(text), hide_personal_links(html) if html is not None else None
    return Shown(text, html, was_kept)
