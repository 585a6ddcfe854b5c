"""Admin verbs on integrations: save a connection's settings, start a sync, turn instant updates on, send a test
delivery to the connection's webhook address."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app

from vectis.actions.base import REDACTED, ActionFailed, Applied, Context, Sending, Target, Verb
from vectis.actions.registry import register
from vectis.actions.vendor import connector_for, write_once
from vectis.connectors import registry
from vectis.connectors.capabilities import RegistersCallbacks, SignsTestCallbacks, VerifiesCallbacks, supports
from vectis.connectors.factory import seal_config
from vectis.ingest import webhook_checks
from vectis.ingest.integrations import connection_for, merge_config
from vectis.models import Connection, SyncRun
from vectis.platform import jobs
from vectis.platform.http import ConnectorError


def _vendor(target: Target) -> Any:
    try:
        return registry.get(target.id or "")
    except LookupError:
        raise ActionFailed("Vectis has no integration of that name.") from None


def _connection(ctx: Context, vendor_key: str) -> Connection | None:

    return connection_for(ctx.session, vendor_key)


@register
class UpdateIntegration(Verb):
    name = "integration.update"
    label = "Save integration settings"
    target_type = "integration"

    def redact(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Secret fields are named by the vendor's connector, so redaction asks it."""
        clean = dict(payload)
        config = dict(payload.get("config") or {})
        try:
            secrets = registry.get(str(payload.get("vendor", ""))).secret_fields()
        except LookupError:
            secrets = frozenset(config)  # unknown vendor: assume everything is secret
        clean["config"] = {k: (REDACTED if k in secrets and v else v) for k, v in config.items()}
        return clean

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        vendor = _vendor(target)
        connection = _connection(ctx, vendor.key)
        changes: dict[str, Any] = {}
        if "config" in payload:
            connection = _apply_config(ctx, vendor, connection, payload["config"], changes)
        if connection is None:
            raise ActionFailed(f"Configure {vendor.label} first.")
        _apply_schedule(connection, payload, changes)
        if "enabled" in payload:
            connection.enabled = changes["enabled"] = bool(payload["enabled"])
            if connection.enabled:
                connection.paused_reason = None
                connection.next_run_at = connection.next_run_at or datetime.now(UTC)
        ctx.session.flush()
        state = "enabled" if connection.enabled else "saved, not enabled"
        return Applied(
            f"{vendor.label} settings saved ({state}).", response={"connection_id": connection.id, **changes}
        )


def _apply_config(
    ctx: Context, vendor: Any, connection: Connection | None, submitted: dict[str, Any], changes: dict[str, Any]
) -> Connection:

    try:
        config = vendor.validate_config(merge_config(vendor, submitted, connection))
    except ConnectorError as exc:
        raise ActionFailed(exc.message) from None
    old = connection.read_config() if connection is not None else {}
    changes["fields_changed"] = sorted(k for k in config if config.get(k) != old.get(k))
    if connection is None:
        connection = Connection(tenant_id=ctx.tenant_id, vendor=vendor.key, name=vendor.label)
        ctx.session.add(connection)
    seal_config(connection, config, current_app.config["VECTIS_SETTINGS"])
    if changes["fields_changed"]:
        connection.paused_reason = None  # new settings deserve a new try
    return connection


def _apply_schedule(connection: Connection, payload: dict[str, Any], changes: dict[str, Any]) -> None:
    if "sync_interval_minutes" in payload:
        try:
            interval = int(payload["sync_interval_minutes"])
        except (TypeError, ValueError):
            raise ActionFailed("The sync interval must be a whole number of minutes.") from None
        if not 5 <= interval <= 1440:
            raise ActionFailed("The sync interval must be between 5 and 1440 minutes.")
        connection.sync_interval_minutes = changes["sync_interval_minutes"] = interval
    if "rate_limit_per_second" in payload:
        raw = str(payload["rate_limit_per_second"] or "").strip()
        try:
            rate = float(raw) if raw else None
        except ValueError:
            raise ActionFailed("The rate limit must be a number of requests per second.") from None
        if rate is not None and not 0.1 <= rate <= 100:
            raise ActionFailed("The rate limit must be between 0.1 and 100 requests per second.")
        connection.rate_limit_per_second = changes["rate_limit_per_second"] = rate


@register
class SyncNow(Verb):
    name = "integration.sync_now"
    label = "Start a sync"
    target_type = "integration"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        vendor = _vendor(target)
        connection = _connection(ctx, vendor.key)
        if connection is None:
            raise ActionFailed(f"Configure and save {vendor.label} before syncing.")
        run = SyncRun(tenant_id=ctx.tenant_id, connection_id=connection.id, trigger="manual", status="queued")
        ctx.session.add(run)
        ctx.session.flush()
        tenant_id, connection_id, run_id = ctx.tenant_id, connection.id, run.id

        def enqueue() -> None:
            jobs.SYNC.enqueue(tenant_id, connection_id, run_id, job_id=f"sync-manual-{run_id}")

        ctx.after_commit.append(enqueue)
        return Applied(f"{vendor.label} sync started.", response={"sync_run_id": run.id})


def _callback(ctx: Context, target: Target, payload: dict[str, Any]) -> tuple[Any, Connection, str]:
    """The vendor, its connection and the URL it is to call back, checked."""
    vendor = _vendor(target)
    connection = _connection(ctx, vendor.key)
    if connection is None:
        raise ActionFailed(f"Configure {vendor.label} first.")
    if not supports(vendor, VerifiesCallbacks):
        raise ActionFailed(f"{vendor.label} does not send callbacks to Vectis.")
    if not supports(vendor, RegistersCallbacks):
        raise ActionFailed(
            f"{vendor.label} has no API for Vectis to ask for callbacks: add this connection's webhook address in "
            f"{vendor.label} itself, as its Webhooks section says."
        )
    url = str(payload.get("url") or "")
    if not url.startswith(("https://", "http://")):
        raise ActionFailed("Vectis could not work out its own address for the callback.")
    return vendor, connection, url


@register
class InstantUpdates(Verb):
    name = "integration.instant_updates"
    label = "Turn on instant updates"
    target_type = "integration"

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        vendor, connection, url = _callback(ctx, target, payload)
        with connector_for(ctx, connection, RegistersCallbacks, doing="take callbacks from") as vendor_api:
            return [Sending(str(getattr(vendor, "noun", None) or vendor.label), vendor_api.callback_request(url))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        vendor, connection, url = _callback(ctx, target, payload)
        with connector_for(ctx, connection, RegistersCallbacks, doing="take callbacks from") as vendor_api:
            try:
                connection.callback_id = write_once(
                    lambda: vendor_api.register_callback(url), lambda: None, vendor=vendor.label, what="the callback"
                )
                connection.callback_since, connection.callback_by = datetime.now(UTC), ctx.actor.label
            except ConnectorError as exc:
                raise ActionFailed(
                    f"{vendor.label} did not accept the callback: {exc.message}", vendor_status=exc.status
                ) from None
        return Applied(
            f"Instant updates are on: {vendor.label} now tells Vectis as soon as {vendor.callback_when}.",
            response={"vendor": {"status": 201, "callback_id": connection.callback_id}, "url": url},
        )


@register
class SendTestDelivery(Verb):
    """Post a test delivery to the connection's public webhook address, over real HTTP, and say whether the receiver
    recorded it: the round trip a vendor's callback takes, proven before a vendor needs it."""

    name = "webhook.test"
    label = "Send a test delivery"
    target_type = "integration"
    reaches_vendor = False  # it calls Vectis itself; the only write is the receiver's own record
    secret_fields = frozenset({"url"})  # the webhook URL ends in the connection's token

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        vendor = _vendor(target)
        connection = _connection(ctx, vendor.key)
        if connection is None:
            raise ActionFailed(f"Save {vendor.label}'s settings first: its webhook address comes with the connection.")
        url = str(payload.get("url") or "")
        if not url.startswith(("https://", "http://")):
            raise ActionFailed("Vectis could not work out its own webhook address.")
        if supports(vendor, SignsTestCallbacks) and supports(vendor, VerifiesCallbacks):
            with connector_for(ctx, connection, SignsTestCallbacks, doing="sign a test callback for") as signer:
                body, headers = signer.test_callback()
        else:
            body, headers = webhook_checks.signed(connection.id)
        settings = current_app.config["VECTIS_SETTINGS"]
        sent = webhook_checks.send(
            ctx.session, connection, url, body, headers, allow_loopback=settings.allow_loopback_vendors
        )
        if not sent.ok:
            raise ActionFailed(sent.message, vendor_status=sent.response.get("status"))
        return Applied(sent.message, response=sent.response)
