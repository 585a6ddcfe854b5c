"""Admin -> Integrations: cards, configure, test, save, sync now (with live progress), enable, webhooks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from werkzeug.wrappers import Response

from vectis.actions import Outcome, Target, perform
from vectis.identity.auth import current_actor, require_role
from vectis.ingest import integrations, webhooks
from vectis.models import Connection, Role
from vectis.platform import db, public_ids
from vectis.platform.htmx import render, wants_partial

bp = Blueprint("integrations", __name__, url_prefix="/admin/integrations")
admin_only = require_role(Role.ADMIN)


def _vendor(vendor: str) -> Any:
    return integrations.vendor_or_none(vendor) or abort(404)


def _target(vendor: Any) -> Target:
    return Target("integration", vendor.key, vendor.label)


# What templates read of a run, in words (the run log as sentences, its counts, how far a running one is).
RUN_WORDS: dict[str, Any] = {
    "run_log": integrations.run_log,
    "record_counts": integrations.record_counts,
    "sync_progress": integrations.sync_progress,
}


@bp.get("/")
@admin_only
def index() -> Response:
    return render(
        "integrations/index.html",
        cards=integrations.cards(db.session()),
        active="admin",
        tab="integrations",
        **RUN_WORDS,
    )


@bp.get("/<vendor>")
@admin_only
def configure(vendor: str) -> Response:
    cls = _vendor(vendor)
    s = db.session()
    connection = integrations.connection_for(s, cls.key)
    return render(
        "integrations/configure.html",
        values=integrations.form_values(cls, connection),
        runs=integrations.recent_runs(s, connection),
        run=integrations.latest_run(s, connection),
        unmatched=integrations.unmatched_accounts(s, connection),
        unreadable=integrations.config_unreadable(connection),
        active="admin",
        tab="integrations",
        **_webhooks(cls, connection),
        **RUN_WORDS,
    )


def _webhooks(cls: integrations.Vendor, connection: Connection | None, sent: Outcome | None = None) -> dict[str, Any]:
    """What the Webhooks section shows: the address, instant updates, recent deliveries, a test's outcome."""
    deliveries = webhooks.recent(db.session(), connection)
    return {
        "vendor": cls,
        "connection": connection,
        "takes_callbacks": integrations.takes_callbacks(cls),
        "registers_callbacks": integrations.registers_callbacks(cls),
        "receiving": any(d.verified and not d.test for d in deliveries),
        "deliveries": deliveries,
        "webhook_url": _webhook_url(connection.id) if connection else None,
        "instant": integrations.instant_updates(connection),
        "sent": sent,
    }


@bp.post("/<vendor>")
@admin_only
def save(vendor: str) -> Response:
    cls = _vendor(vendor)
    payload = {
        "vendor": cls.key,
        "config": {f.name: request.form.get(f.name, "") for f in cls.fields},
        "enabled": request.form.get("enabled") == "on",
        "sync_interval_minutes": request.form.get("sync_interval_minutes", "15"),
        "rate_limit_per_second": request.form.get("rate_limit_per_second", ""),
    }
    outcome = perform("integration.update", _target(cls), payload, actor=current_actor(), surface="ui")
    flash(outcome.message, outcome.tone)
    return redirect(url_for("integrations.configure", vendor=cls.key))


@bp.post("/<vendor>/test")
@admin_only
def test(vendor: str) -> Response:
    cls = _vendor(vendor)
    submitted = {f.name: request.form.get(f.name, "") for f in cls.fields}
    started = integrations.start_test(db.session(), g.tenant.id, cls, submitted)
    if isinstance(started, str):
        return _test_result(cls, started, integrations.ConnectionCheck(done=False))
    return _test_result(cls, None, started)


@bp.get("/<vendor>/test/<token>")
@admin_only
def test_status(vendor: str, token: str) -> Response:
    cls = _vendor(vendor)
    return _test_result(cls, token, integrations.check_state(g.tenant.id, token))


def _test_result(cls: integrations.Vendor, token: str | None, check: integrations.ConnectionCheck) -> Response:
    return render(
        "integrations/_test_result.html", "integrations/_test_result.html", vendor=cls, token=token, check=check
    )


@bp.post("/<vendor>/enabled")
@admin_only
def set_enabled(vendor: str) -> Response:
    cls = _vendor(vendor)
    enabled = request.form.get("enabled") == "on"
    outcome = perform(
        "integration.update", _target(cls), {"vendor": cls.key, "enabled": enabled}, actor=current_actor(), surface="ui"
    )
    flash(outcome.message, outcome.tone)
    return redirect(url_for("integrations.configure", vendor=cls.key))


def _on_card() -> bool:
    """Whether the sync component asked for is an Integrations card, or the configure page's Sync section."""
    return (request.args.get("view") or request.form.get("view")) == "card"


def _back_to_page(cls: integrations.Vendor) -> Response:
    """Without htmx, the page the component lives on."""
    return redirect(url_for("integrations.index") if _on_card() else url_for("integrations.configure", vendor=cls.key))


@bp.post("/<vendor>/sync")
@admin_only
def sync_now(vendor: str) -> Response:
    cls = _vendor(vendor)
    outcome = perform("integration.sync_now", _target(cls), {"vendor": cls.key}, actor=current_actor(), surface="ui")
    if not wants_partial():  # the button's form, sent without JavaScript
        flash(outcome.message, outcome.tone)
        return _back_to_page(cls)
    return _sync_component(cls, error=None if outcome.ok else outcome.message)


@bp.get("/<vendor>/sync")
@admin_only
def sync_status(vendor: str) -> Response:
    """What a syncing component polls: itself, redrawn, until the run ends (then it stops polling)."""
    cls = _vendor(vendor)
    if not wants_partial():
        return _back_to_page(cls)
    return _sync_component(cls)


def _sync_component(cls: integrations.Vendor, error: str | None = None) -> Response:
    s = db.session()
    if _on_card():
        return render("integrations/_card.html", card=integrations.card(s, cls), error=error, **RUN_WORDS)
    connection = integrations.connection_for(s, cls.key)
    return render(
        "integrations/_sync.html",
        vendor=cls,
        connection=connection,
        run=integrations.latest_run(s, connection),
        runs=integrations.recent_runs(s, connection),
        error=error,
        **RUN_WORDS,
    )


@bp.post("/<vendor>/instant-updates")
@admin_only
def instant_updates(vendor: str) -> Response:
    cls = _vendor(vendor)
    connection = integrations.connection_for(db.session(), cls.key)
    url = _webhook_url(connection.id) if connection else ""
    outcome = perform(
        "integration.instant_updates",
        Target("integration", cls.key, cls.label),
        {"url": url},
        actor=current_actor(),
        surface="ui",
    )
    flash(outcome.message, outcome.tone)
    return redirect(url_for("integrations.configure", vendor=cls.key))


@bp.post("/<vendor>/webhooks/test")
@admin_only
def test_delivery(vendor: str) -> Response:
    """Send a test delivery to the connection's own webhook address; the section comes back with the outcome."""
    cls = _vendor(vendor)
    connection = integrations.connection_for(db.session(), cls.key)
    url = _webhook_url(connection.id) if connection else ""
    outcome = perform("webhook.test", _target(cls), {"url": url}, actor=current_actor(), surface="ui")
    if not wants_partial():
        flash(outcome.message, outcome.tone)
        return redirect(url_for("integrations.configure", vendor=cls.key))
    return render("integrations/_webhooks.html", **_webhooks(cls, connection, outcome))


def _webhook_url(connection_id: int) -> str:
    token = public_ids.webhook_token(connection_id)
    return url_for("webhooks.receive", connection_id=connection_id, token=token, _external=True)
