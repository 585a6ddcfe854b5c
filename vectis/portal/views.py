"""The portal's pages: sign-in and setup, Tickets (list with the parent's rollup, thread, comment, resolve, new), and
People for a portal Admin. Views parse the form, check the scope (404 outside it), call ``perform`` with surface
``portal``, and render."""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from vectis.actions import Outcome, Target, perform
from vectis.branding import contrast
from vectis.identity import mfa
from vectis.identity.second_step import enrol_secret
from vectis.identity.sessions import end_other_sessions
from vectis.models import PortalBranding, PortalRole, PortalUser, PortalUserSite
from vectis.platform import db, params
from vectis.platform.errors import CSRF_MESSAGE, MESSAGES, header_text
from vectis.platform.public_ids import decode
from vectis.portal import auth, surfaces
from vectis.portal_access import notify, users
from vectis.portal_access import settings as portal_settings
from vectis.portal_access import tickets as portal_tickets
from vectis.portal_access.account_verbs import SIGNED_OUT_ELSEWHERE
from vectis.portal_access.scope import Scope, portal_actor

log = logging.getLogger(__name__)
bp = Blueprint("portal", __name__)
DEFAULT_ACCENT = "#1f4fd1"
NOT_HERE = "There is nothing here. It may have been removed, or the link is wrong."


# --- branding, on every page -------------------------------------------------------------------------------------


def _branding() -> dict[str, Any]:
    tenant = g.get("tenant")
    row = db.session().scalar(select(PortalBranding)) if tenant is not None else None
    accent = row.accent if row is not None else DEFAULT_ACCENT
    verdict = contrast.judge(accent)
    return {
        "company": row.company_name if row is not None else (tenant.name if tenant else "Support portal"),
        "accent": accent,
        "accent_text": verdict.text,
        "has_logo": bool(row is not None and row.logo),
        "logo_version": int(row.updated_at.timestamp()) if row is not None else 0,
    }


def _context() -> dict[str, Any]:
    signed = current_user.is_authenticated
    return {
        "brand": _branding(),
        "me": auth.me() if signed else None,
        "scope": auth.scope() if signed else None,
        "surfaces": auth.surfaces() if signed else None,
    }


@bp.get("/branding/logo")
def logo() -> BaseResponse:
    row = db.session().scalar(select(PortalBranding))
    if row is None or not row.logo:
        abort(404)
    response = Response(row.logo, mimetype=row.logo_content_type or "application/octet-stream")
    # Even sanitised, an SVG opened on its own must not run anything or load anything.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- signing in --------------------------------------------------------------------------------------------------


@bp.get("/")
def home() -> BaseResponse:
    if not current_user.is_authenticated:
        return redirect(url_for("portal.signin"))
    on = auth.surfaces()
    first = next((name for name in ("tickets", "assets", "backups") if on.on(name)), None)
    return redirect(url_for(f"portal.{first}") if first else url_for("portal.account"))


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> BaseResponse | str:
    if current_user.is_authenticated:
        return redirect(url_for("portal.home"))
    error, email = None, ""
    if request.method == "POST":
        email = request.form.get("email", "")
        step = auth.sign_in(email, request.form.get("password", ""))
        if step.next_url is not None:
            db.session().commit()
            return redirect(step.next_url)
        error = step.error
    status = 401 if error else 200
    return Response(render_template("portal/signin.html", error=error, email=email), status=status)


def _pending() -> PortalUser | BaseResponse:
    user = auth.pending_user()
    if user is None:
        flash("Your sign-in took too long or was not started. Please sign in again.", "info")
        return redirect(url_for("portal.signin"))
    return user


def _demo_code(secret: str | None) -> str | None:
    """Demo mode only, as on the operators' side: the current code, so nobody needs an authenticator app."""
    return mfa.current_code(secret) if secret and current_app.config["VECTIS_DEMO"] else None


@bp.route("/signin/code", methods=["GET", "POST"])
def signin_code() -> BaseResponse:
    user = _pending()
    if not isinstance(user, PortalUser):
        return user
    if not user.mfa_enrolled:
        return redirect(url_for("portal.signin_enrol"))
    error = None
    if request.method == "POST":
        step = auth.code_step(user, request.form.get("code", ""))
        if step.next_url is not None:
            return redirect(step.next_url)
        error = step.error
    secret = user.totp_secret.open(user.tenant_id) if user.totp_secret is not None else None
    page = render_template("portal/code.html", user=user, error=error, demo_code=_demo_code(secret))
    return Response(page, status=401 if error else 200)


@bp.route("/signin/recovery", methods=["GET", "POST"])
def signin_recovery() -> BaseResponse:
    user = _pending()
    if not isinstance(user, PortalUser):
        return user
    error = None
    if request.method == "POST":
        step = auth.recovery_step(user, request.form.get("code", ""))
        if step.next_url is not None:
            flash("You signed in with a recovery code; it cannot be used again. Make new ones under Security.", "info")
            return redirect(step.next_url)
        error = step.error
    return Response(render_template("portal/recovery.html", user=user, error=error), status=401 if error else 200)


def _enrol_page(user: PortalUser, *, cancel: str | None, error: str | None) -> BaseResponse:
    secret = enrol_secret()
    company = _branding()["company"]
    uri = mfa.provisioning_uri(secret, user.email, g.tenant.name, issuer=f"{company} support")
    page = render_template(
        "portal/enrol.html", user=user, secret=secret, qr_svg=mfa.qr_svg(uri), error=error, cancel=cancel,
        demo_code=_demo_code(secret), required=portal_settings.requires_mfa(db.session()),
    )  # fmt: skip
    return Response(page, status=422 if error else 200)


def _enrol(user: PortalUser) -> Outcome:
    outcome = perform(
        "portal.mfa_enrol",
        Target("portal_user", str(user.id), user.email),
        {"secret": enrol_secret(), "code": request.form.get("code", "")},
        actor=portal_actor(user),
        surface="portal",
    )
    if outcome.ok:
        session.pop("enrol_secret", None)
    return outcome


def _codes_page(codes: list[str], continue_url: str, *, first_time: bool) -> BaseResponse:
    """The recovery codes, shown this once: this response is the only place they ever appear."""
    page = render_template("portal/recovery_codes.html", codes=codes, continue_url=continue_url, first_time=first_time)
    return Response(page)


@bp.route("/signin/enrol", methods=["GET", "POST"])
def signin_enrol() -> BaseResponse:
    """Enrolment between the password and the portal, where the workspace requires two-factor sign-in."""
    user = _pending()
    if not isinstance(user, PortalUser):
        return user
    if user.mfa_enrolled:
        return redirect(url_for("portal.signin_code"))
    error = None
    if request.method == "POST":
        outcome = _enrol(user)
        if outcome.ok:
            return _codes_page(
                outcome.private["codes"], auth.finish_sign_in(user, "password+totp_enrolment"), first_time=True
            )
        error = outcome.message
    return _enrol_page(user, cancel=None, error=error)


@bp.post("/signout")
def signout() -> BaseResponse:
    auth.sign_out()
    flash("You are signed out.", "ok")
    return redirect(url_for("portal.signin"))


@bp.route("/setup/<token>", methods=["GET", "POST"])
def setup(token: str) -> BaseResponse | str:
    s = db.session()
    user, problem = users.by_setup_token(s, token)
    if user is None:
        return Response(render_template("portal/setup.html", problem=problem, user=None), status=404)
    error = None
    if request.method == "POST":
        error = users.set_password(user, request.form.get("password", ""), request.form.get("confirm", ""))
        if error is None:
            following = auth.password_accepted(user)  # where two-factor is required: on to enrolment first
            target = Target("portal_user", str(user.id), user.email)
            auth.record("portal.setup", "ok", actor=portal_actor(user), target=target)  # commits
            flash(f"Welcome, {user.name}. Your portal account is ready.", "ok")
            return redirect(following or url_for("portal.home"))
    return Response(render_template("portal/setup.html", user=user, error=error), status=422 if error else 200)


@bp.route("/forgot", methods=["GET", "POST"])
def forgot() -> BaseResponse | str:
    """Ask for a password reset link. The answer never says whether the address has an account."""
    if current_user.is_authenticated:
        return redirect(url_for("portal.home"))
    email, sent, error = "", False, None
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        error = auth.request_reset(email)
        sent = error is None
    page = render_template("portal/forgot.html", email=email, sent=sent, error=error)
    return Response(page, status=429 if error else 200)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> BaseResponse | str:
    s = db.session()
    user, problem, expired = users.by_reset_token(s, token)
    if user is None:
        page = render_template("portal/reset.html", problem=problem, user=None)
        return Response(page, status=410 if expired else 404)
    error = None
    if request.method == "POST":
        error = users.set_password(user, request.form.get("password", ""), request.form.get("confirm", ""))
        if error is None:
            following = auth.password_accepted(user)  # a reset is not a way around the second factor
            target = Target("portal_user", str(user.id), user.email)
            auth.record("portal.password_reset", "ok", actor=portal_actor(user), target=target)  # commits
            flash("Your new password is set. You are signed out everywhere else.", "ok")
            return redirect(following or url_for("portal.home"))
    return Response(render_template("portal/reset.html", user=user, error=error), status=422 if error else 200)


@bp.get("/account")
@auth.signed_in
def account() -> str:
    return render_template("portal/account.html", active="account", section="overview")


def _security_page(*, error: str | None = None, status: int = 200) -> BaseResponse:
    user = auth.me()
    s = db.session()
    page = render_template(
        "portal/security.html", active="account", section="security", error=error,
        required=portal_settings.requires_mfa(s),
        recovery_left=mfa.remaining_recovery_codes(s, user) if user.mfa_enrolled else 0,
    )  # fmt: skip
    return Response(page, status=status)


@bp.get("/account/security")
@auth.signed_in
def security() -> BaseResponse:
    return _security_page()


@bp.route("/account/security/two-factor", methods=["GET", "POST"])
@auth.signed_in
def two_factor() -> BaseResponse:
    user = auth.me()
    if user.mfa_enrolled:
        return redirect(url_for("portal.security"))
    error = None
    if request.method == "POST":
        outcome = _enrol(user)
        if outcome.ok:
            end_other_sessions(user)
            flash(SIGNED_OUT_ELSEWHERE, "ok")  # the page's heading says two-factor sign-in is on
            return _codes_page(outcome.private["codes"], url_for("portal.security"), first_time=True)
        error = outcome.message
    return _enrol_page(user, cancel=url_for("portal.security"), error=error)


def _own(verb: str, payload: dict[str, Any]) -> Outcome:
    user = auth.me()
    return perform(
        verb, Target("portal_user", str(user.id), user.email), payload, actor=portal_actor(user), surface="portal"
    )


@bp.post("/account/security/recovery-codes")
@auth.signed_in
def new_recovery_codes() -> BaseResponse:
    outcome = _own("portal.recovery_codes", {"password": request.form.get("password", "")})
    if not outcome.ok:
        return _security_page(error=outcome.message, status=422)
    end_other_sessions(auth.me())
    flash(outcome.message, "ok")
    return _codes_page(outcome.private["codes"], url_for("portal.security"), first_time=False)


@bp.post("/account/security/password")
@auth.signed_in
def change_password() -> BaseResponse:
    fields = ("current_password", "new_password", "confirm_password")
    outcome = _own("portal.change_password", {k: request.form.get(k, "") for k in fields})
    if not outcome.ok:
        return _security_page(error=outcome.message, status=422)
    end_other_sessions(auth.me())
    flash(outcome.message, "ok")
    return redirect(url_for("portal.security"))


@bp.post("/account/security/two-factor/off")
@auth.signed_in
def two_factor_off() -> BaseResponse:
    outcome = _own("portal.mfa_disable", {"password": request.form.get("password", "")})
    if not outcome.ok:
        return _security_page(error=outcome.message, status=422)
    end_other_sessions(auth.me())
    flash(outcome.message, "ok")
    return redirect(url_for("portal.security"))


# --- tickets -----------------------------------------------------------------------------------------------------


def _site_filter(scope: Scope) -> int | None:
    raw = request.args.get("site")
    if not raw:
        return None
    site = decode("customer", raw)
    if site is None or not scope.allows(site):
        abort(404)
    return site


@bp.get("/tickets")
@auth.surface("tickets")
def tickets() -> str:
    scope = auth.scope()
    state = "closed" if request.args.get("state") == "closed" else "open"
    site = _site_filter(scope)
    s = db.session()
    rows = portal_tickets.listing(s, scope, closed=state == "closed", customer_ids=[site] if site else None)
    counts = portal_tickets.site_counts(s, scope) if scope.is_rollup else []
    return render_template(
        "portal/tickets.html", active="tickets", rows=rows, counts=counts, state=state, site=site,
        site_name=scope.name_of(site) if site else None,
    )  # fmt: skip


def _ticket_page(ticket_id: int, *, status: int = 200, draft: str = "") -> BaseResponse:
    s = db.session()
    ticket = portal_tickets.in_scope(s, auth.scope(), ticket_id)
    return Response(
        render_template(
            "portal/ticket.html",
            active="tickets",
            ticket=ticket,
            notes=portal_tickets.thread(s, ticket),
            can_resolve=not ticket.closed and portal_tickets.resolved_status(s, ticket) is not None,
            draft=draft,
        ),
        status=status,
    )


@bp.get("/tickets/<pid(ticket):ticket_id>")
@auth.surface("tickets")
def ticket(ticket_id: int) -> BaseResponse:
    return _ticket_page(ticket_id)


def _act(verb: str, target: Target, payload: dict[str, Any]) -> Any:
    return perform(verb, target, payload, actor=portal_actor(auth.me()), surface="portal")


@bp.post("/tickets/<pid(ticket):ticket_id>/comment")
@auth.surface("tickets")
def comment(ticket_id: int) -> BaseResponse:
    found = portal_tickets.in_scope(db.session(), auth.scope(), ticket_id)
    if not auth.scope().can_act:
        abort(403, description="Your portal role can read tickets but not comment on them.")
    text = request.form.get("text", "")
    outcome = _act("portal.ticket_comment", Target("ticket", str(found.id), f"#{found.external_id}"), {"text": text})
    flash(outcome.message, outcome.tone)
    if not outcome.accepted:
        return _ticket_page(ticket_id, status=422, draft=text)
    return redirect(url_for("portal.ticket", ticket_id=ticket_id))


@bp.post("/tickets/<pid(ticket):ticket_id>/resolve")
@auth.surface("tickets")
def resolve(ticket_id: int) -> BaseResponse:
    found = portal_tickets.in_scope(db.session(), auth.scope(), ticket_id)
    if not auth.scope().can_act:
        abort(403, description="Your portal role can read tickets but not resolve them.")
    outcome = _act("portal.ticket_resolve", Target("ticket", str(found.id), f"#{found.external_id}"), {})
    flash(outcome.message, outcome.tone)
    return redirect(url_for("portal.ticket", ticket_id=ticket_id))


def _places(scope: Scope) -> list[tuple[int, str]]:
    return ([] if scope.limited else [(scope.customer_id, scope.customer_name)]) + [(s.id, s.name) for s in scope.sites]


@bp.route("/tickets/new", methods=["GET", "POST"])
@auth.surface("tickets")
def new_ticket() -> BaseResponse:
    scope = auth.scope()
    if not scope.can_act:
        abort(403, description="Your portal role can read tickets but not open them.")
    form = {k: request.form.get(k, "") for k in ("summary", "description", "site")}
    error = None
    if request.method == "POST":
        place = params.integer(form["site"]) if form["site"] else scope.customer_ids[0]
        if place is None or not scope.allows(place):
            abort(404)
        outcome = _act(
            "portal.ticket_create",
            Target("customer", str(place), scope.name_of(place)),
            {"summary": form["summary"], "description": form["description"]},
        )
        if outcome.accepted:
            flash(outcome.message, outcome.tone)
            created = outcome.response.get("ticket_id")
            return redirect(url_for("portal.ticket", ticket_id=created) if created else url_for("portal.tickets"))
        error = outcome.message
    page = render_template("portal/new_ticket.html", active="tickets", form=form, error=error, places=_places(scope))
    return Response(page, status=422 if error else 200)


# --- Assets and Backups: read-only ------------------------------------------------------------------------------


@bp.get("/assets")
@auth.surface("assets")
def assets() -> str:
    scope = auth.scope()
    site = _site_filter(scope)
    rows = surfaces.assets(db.session(), [site] if site else scope.customer_ids)
    return render_template(
        "portal/assets.html", active="assets", rows=rows, site=site, site_name=scope.name_of(site) if site else None
    )


@bp.get("/backups")
@auth.surface("backups")
def backups() -> str:
    scope = auth.scope()
    site = _site_filter(scope)
    rows = surfaces.backups(db.session(), [site] if site else scope.customer_ids)
    return render_template(
        "portal/backups.html", active="backups", rows=rows, site=site, site_name=scope.name_of(site) if site else None
    )


# --- people (a portal Admin invites others of the same customer) --------------------------------------------------


@bp.route("/people", methods=["GET", "POST"])
@auth.signed_in
def people() -> BaseResponse:
    scope = auth.scope()
    if not scope.can_invite:
        abort(404)
    s = db.session()
    form = {k: request.form.get(k, "") for k in ("name", "email", "role")}
    error, link = None, None
    if request.method == "POST":
        payload: dict[str, Any] = {**form, "site_ids": request.form.getlist("site_ids")}
        outcome = _act("portal_user.invite", Target("customer", str(scope.customer_id), scope.customer_name), payload)
        if outcome.ok:
            flash(outcome.message, "ok")
            link, form = outcome.private.get("link"), {}
        else:
            error = outcome.message
    colleagues = s.scalars(
        select(PortalUser).where(PortalUser.customer_id == scope.customer_id).order_by(PortalUser.name)
    ).all()
    limits: dict[int, list[int]] = {}
    for row in s.execute(
        select(PortalUserSite.portal_user_id, PortalUserSite.customer_id).where(
            PortalUserSite.portal_user_id.in_([c.id for c in colleagues])
        )
    ):
        limits.setdefault(row.portal_user_id, []).append(row.customer_id)
    page = render_template(
        "portal/people.html", active="people", colleagues=colleagues, limits=limits, form=form, error=error,
        link=link, roles=list(PortalRole),
    )  # fmt: skip
    return Response(page, status=422 if error else 200)


# --- unsubscribing (no sign-in: the signed link is the key) -----------------------------------------------------


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> BaseResponse:
    """GET asks; POST does, from the page's button or straight from a mail client (RFC 8058 one-click)."""
    found = notify.read_unsubscribe(token)
    if found is None or found[0] != g.tenant.id:
        abort(404)
    _, user_id, category = found
    user = db.session().get(PortalUser, user_id)
    if user is None:
        abort(404)
    if request.method == "GET":
        return Response(render_template("portal/unsubscribe.html", category=category, done=None, email=user.email))
    outcome = perform(
        "portal.unsubscribe",
        Target("portal_user", str(user.id), user.email),
        {"category": category},
        actor=portal_actor(user),
        surface="portal",
    )
    page = render_template("portal/unsubscribe.html", category=category, done=outcome.message, email=user.email)
    return Response(page, status=200 if outcome.ok else 422)


# --- errors, in the portal's own chrome ----------------------------------------------------------------------------


def _error(status: int, message: str, title: str | None = None) -> BaseResponse:
    title = title or MESSAGES.get(status, MESSAGES[500])[0]
    page = render_template("portal/error.html", status=status, title=title, message=message)
    response = Response(page, status=status, mimetype="text/html")
    response.headers["X-Vectis-Error"] = header_text(message)
    return response


def _http_error(exc: HTTPException) -> BaseResponse:
    status = exc.code or 500
    if status == 404 and exc.description == "unknown_workspace":
        return _error(404, "There is no support portal at this address. Check the link you were given.", "Not found")
    if status == 404:
        return _error(404, NOT_HERE)
    message = exc.description if exc.description != type(exc).description else MESSAGES.get(status, MESSAGES[500])[1]
    return _error(status, message or MESSAGES[500][1])


def _unexpected(exc: Exception) -> BaseResponse:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unhandled error on the portal")
    return _error(500, "Something went wrong on our side. Nothing was changed. Please try again.")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(_context)
    app.register_error_handler(CSRFError, lambda exc: _error(400, CSRF_MESSAGE, "Form expired"))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
