"""The operators' side of the customer portal: Portal users on a customer's hub (invite, deactivate), and
Admin → Branding and Admin → Portal. Every change is a verb through ``perform`` (vectis/portal_access/verbs.py)."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from vectis.actions import Target, perform
from vectis.branding import contrast
from vectis.branding import mail as shell
from vectis.identity.auth import current_actor, operator, require_role
from vectis.models import Customer, OutboxMail, PortalBranding, PortalUser, Role, TicketBoard
from vectis.platform import db, params
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render
from vectis.portal_access import settings as portal_settings
from vectis.portal_access.hosts import portal_url
from vectis.portal_access.people import Invitation
from vectis.views import customers as customer_views

bp = Blueprint("portal_admin", __name__)
admin_only = require_role(Role.ADMIN)
LOGO_FIELD = "logo"


# --- the hub's Portal users tab ------------------------------------------------------------------------------------


@bp.post("/customers/<pid(customer):customer_id>/portal-users")
@operator
def invite(customer_id: int) -> Response:
    customer = get_or_404(Customer, customer_id)
    form = {k: request.form.get(k, "").strip() for k in ("name", "email", "role")}
    site_ids = [params.integer(v) or 0 for v in request.form.getlist("site_ids")]
    outcome = perform(
        "portal_user.invite",
        Target("customer", str(customer.id), customer.name),
        {**form, "site_ids": site_ids},
        actor=current_actor(),
        surface="ui",
    )
    if outcome.ok:
        flash(outcome.message, "ok")
        g.portal_invite = Invitation(link=outcome.private.get("link"))
        return customer_views.hub_page(customer.id, "portal")
    g.portal_invite = Invitation(error=outcome.message, form=form, site_ids=tuple(site_ids))
    return customer_views.hub_page(customer.id, "portal", status=422)


@bp.post("/customers/<pid(customer):customer_id>/portal-users/<pid(portal_user):portal_user_id>/deactivate")
@operator
def deactivate(customer_id: int, portal_user_id: int) -> Response:
    return _act_on(customer_id, portal_user_id, "portal_user.deactivate")


@bp.post("/customers/<pid(customer):customer_id>/portal-users/<pid(portal_user):portal_user_id>/resend")
@operator
def resend(customer_id: int, portal_user_id: int) -> Response:
    user = _portal_user_of(customer_id, portal_user_id)
    outcome = perform(
        "portal_user.resend", Target("portal_user", str(user.id), user.email), {}, actor=current_actor(), surface="ui"
    )
    if outcome.ok:
        g.portal_invite = Invitation(link=outcome.private.get("link"))
        return customer_views.hub_page(customer_id, "portal")
    g.portal_invite = Invitation(error=outcome.message)
    return customer_views.hub_page(customer_id, "portal", status=422)


@bp.post("/customers/<pid(customer):customer_id>/portal-users/<pid(portal_user):portal_user_id>/reset-password")
@operator
def send_reset(customer_id: int, portal_user_id: int) -> Response:
    return _act_on(customer_id, portal_user_id, "portal_user.send_reset")


@bp.post("/customers/<pid(customer):customer_id>/portal-users/<pid(portal_user):portal_user_id>/reset-two-factor")
@operator
def reset_two_factor(customer_id: int, portal_user_id: int) -> Response:
    return _act_on(customer_id, portal_user_id, "portal_user.reset_mfa")


def _act_on(customer_id: int, portal_user_id: int, verb: str) -> Response:
    """``verb`` on one of the customer's portal users, its words flashed on the hub's Portal users tab."""
    user = _portal_user_of(customer_id, portal_user_id)
    outcome = perform(verb, Target("portal_user", str(user.id), user.email), {}, actor=current_actor(), surface="ui")
    flash(outcome.message, outcome.tone)
    return redirect(url_for("customers.tab", customer_id=customer_id, tab="portal"))


def _portal_user_of(customer_id: int, portal_user_id: int) -> PortalUser:
    """The portal user, of this customer: another customer's (or workspace's) is a 404 here."""
    customer = get_or_404(Customer, customer_id)
    user = get_or_404(PortalUser, portal_user_id)
    if user.customer_id != customer.id:
        abort(404)
    return user


# --- Admin → Branding ------------------------------------------------------------------------------------------------


def _branding_page(status: int = 200, form: dict[str, str] | None = None, error: str | None = None) -> Response:
    row = db.session().scalar(select(PortalBranding))
    shown = form or {
        "company_name": row.company_name if row else g.tenant.name,
        "accent": row.accent if row else "#1f4fd1",
        "postal_address": (row.postal_address or "") if row else "",
    }
    colour = contrast.normalised(shown.get("accent", "")) or "#1f4fd1"
    return render(
        "admin/branding.html",
        branding=row,
        form=shown,
        verdict=contrast.judge(colour),
        error=error,
        portal_link=portal_url(g.tenant.slug, "/"),
        active="admin",
        tab="branding",
        status=status,
    )


@bp.get("/admin/branding")
@admin_only
def branding() -> Response:
    return _branding_page()


@bp.post("/admin/branding")
@admin_only
def save_branding() -> Response:
    form = {k: request.form.get(k, "").strip() for k in ("company_name", "accent", "postal_address")}
    payload: dict[str, Any] = dict(form)
    upload = request.files.get(LOGO_FIELD)
    if upload is not None and upload.filename:
        payload["logo_name"] = upload.filename
        payload["logo_content"] = base64.b64encode(upload.read()).decode()
    if request.form.get("remove_logo"):
        payload["remove_logo"] = True
    outcome = perform(
        "portal.branding",
        Target("tenant", str(g.tenant.id), g.tenant.name),
        payload,
        actor=current_actor(),
        surface="ui",
    )
    if not outcome.ok:
        return _branding_page(422, form, outcome.message)
    flash(outcome.message, "ok")
    return redirect(url_for("portal_admin.branding"))


# --- Admin → Portal ----------------------------------------------------------------------------------------------------


def _settings_page(
    status: int = 200, error: str | None = None, *, announcement: dict[str, str] | None = None
) -> Response:
    s = db.session()
    customers = s.scalars(select(Customer).where(Customer.parent_id.is_(None)).order_by(Customer.name)).all()
    rows = {c.id: portal_settings.customer_row(s, c.id) for c in customers}
    boards = s.scalars(select(TicketBoard).where(TicketBoard.inactive.is_(False)).order_by(TicketBoard.name)).all()
    return render(
        "admin/portal.html",
        workspace=portal_settings.workspace(s),
        require_mfa=portal_settings.requires_mfa(s),
        customers=customers,
        rows=rows,
        boards=boards,
        surfaces=[(key, portal_settings.LABELS[key]) for key in portal_settings.SURFACES],
        error=error,
        portal_link=portal_url(g.tenant.slug, "/"),
        announcement=announcement or {},
        active="admin",
        tab="portal",
        status=status,
    )


@bp.get("/admin/portal")
@admin_only
def settings() -> Response:
    return _settings_page()


@bp.post("/admin/portal")
@admin_only
def save_settings() -> Response:
    payload: dict[str, Any] = {key: bool(request.form.get(key)) for key in portal_settings.SURFACES}
    customer_id = request.form.get("customer_id", "")
    if customer_id:
        payload["customer_id"] = params.integer(customer_id) or 0
        payload["board_id"] = params.integer(request.form.get("board_id")) or None
    outcome = perform(
        "portal.settings",
        Target("tenant", str(g.tenant.id), g.tenant.name),
        payload,
        actor=current_actor(),
        surface="ui",
    )
    if not outcome.ok:
        return _settings_page(422, outcome.message)
    flash(outcome.message, "ok")
    return redirect(url_for("portal_admin.settings"))


@bp.post("/admin/portal/sign-in")
@admin_only
def save_sign_in_policy() -> Response:
    outcome = perform(
        "portal.sign_in_policy",
        Target("tenant", str(g.tenant.id), g.tenant.name),
        {"require_mfa": bool(request.form.get("require_mfa"))},
        actor=current_actor(),
        surface="ui",
    )
    if not outcome.ok:
        return _settings_page(422, outcome.message)
    flash(outcome.message, "ok")
    return redirect(url_for("portal_admin.settings"))


@bp.get("/admin/branding/logo")
@admin_only
def logo() -> Response:
    row = db.session().scalar(select(PortalBranding))
    if row is None or not row.logo:
        abort(404)
    response = Response(row.logo, mimetype=row.logo_content_type or "application/octet-stream")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response


# --- Admin → Sent mail ---------------------------------------------------------------------------------------------

MAIL_SHOWN = 100


@bp.get("/admin/mail")
@admin_only
def sent_mail() -> Response:
    """The newest mail Vectis handed to SMTP (or holds to send); each opens as it went out."""
    rows = db.session().scalars(select(OutboxMail).order_by(OutboxMail.id.desc()).limit(MAIL_SHOWN)).all()
    return render(
        "admin/mail.html", mails=rows, demo=bool(current_app.config["VECTIS_DEMO"]),
        smtp=bool(current_app.config["VECTIS_SETTINGS"].smtp_url), active="admin", tab="mail",
    )  # fmt: skip


def _shown(mail: OutboxMail) -> shell.Shown:
    # Outside the demo an admin is not the recipient: a setup or reset link is a key to someone else's account.
    return shell.as_sent(db.session(), g.tenant.id, mail, reveal_links=bool(current_app.config["VECTIS_DEMO"]))


@bp.get("/admin/mail/<pid(mail):mail_id>")
@admin_only
def sent_mail_preview(mail_id: int) -> Response:
    mail = get_or_404(OutboxMail, mail_id)
    return render(
        "admin/mail_preview.html", mail=mail, shown=_shown(mail), demo=bool(current_app.config["VECTIS_DEMO"]),
        active="admin", tab="mail",
    )  # fmt: skip


def _preview_policy() -> str:
    """For the mail's own HTML, in its sandboxed frame: nothing runs, nothing is sent, nothing embeds it but this
    site; the only thing it may load is the logo the recipient saw, from the portal's host."""
    portal = portal_url(g.tenant.slug, "").rstrip("/")
    return "; ".join(
        (
            "default-src 'none'",
            f"img-src {portal} data:",
            "style-src 'unsafe-inline'",  # the shell's inline styles (mail clients ignore style sheets)
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",
            "sandbox",
        )
    )


@bp.get("/admin/mail/<pid(mail):mail_id>/html")
@admin_only
def sent_mail_html(mail_id: int) -> Response:
    """The mail's HTML alone, never inlined into an admin page: whatever a stored mail holds, it runs nothing here
    (the policy's ``sandbox`` and no script source) and is framed only by Sent mail's ``<iframe sandbox>``."""
    shown = _shown(get_or_404(OutboxMail, mail_id))
    if shown.html is None:
        abort(404)
    response = Response(shown.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _preview_policy()
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/admin/portal/announce")
@admin_only
def announce() -> Response:
    payload = {"subject": request.form.get("subject", ""), "body": request.form.get("body", "")}
    outcome = perform(
        "portal.announce",
        Target("tenant", str(g.tenant.id), g.tenant.name),
        payload,
        actor=current_actor(),
        surface="ui",
    )
    if not outcome.ok:
        return _settings_page(422, outcome.message, announcement=payload)
    flash(outcome.message, "ok")
    return redirect(url_for("portal_admin.settings"))
