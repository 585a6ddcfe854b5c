"""What a technician (or a rule) does with an alert: acknowledge, resolve, open it as a ticket, mute its
condition for the customer for a while or end that mute early; and a rule's own "create an alert". Plus ``mail.send``, the e-mail
step of a rule, through the mail queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, true, update

from vectis.actions.base import ActionFailed, Applied, Context, RateLimit, Sending, Target, Verb
from vectis.actions.registry import register
from vectis.actions.vendor import connection_rate, connector_for, vendor_refused
from vectis.alerts import as_ticket
from vectis.alerts.dedupe import Report, raise_alert
from vectis.alerts.service import label, mute_ended, resolving
from vectis.alerts.vendor import open_at_tool
from vectis.connectors.capabilities import ResetsAlerts
from vectis.events.stream import emit
from vectis.models import Alert, AlertMute, AlertState, Connection, Customer, Device, Role, TicketBoard, VendorAlert
from vectis.platform import db, params
from vectis.platform.dates import when
from vectis.platform.http import ConnectorError
from vectis.platform.mail import queue_mail
from vectis.tickets.boards import default_board
from vectis.tickets.verbs import CreateTicket

WRITERS = frozenset({Role.ADMIN, Role.TECHNICIAN})
MAX_MUTE_HOURS = 24 * 30


class AlertVerb(Verb):
    target_type = "alert"
    roles = WRITERS


def _alert(ctx: Context, target: Target, *, lock: bool = True) -> Alert:
    alert = (
        ctx.session.get(Alert, int(str(target.id)), with_for_update=lock or None)
        if str(target.id or "").isdigit()
        else None
    )
    if alert is None:
        raise ActionFailed("That alert no longer exists. Reload the page.")
    return alert


def _now() -> datetime:
    return datetime.now(UTC)


@register
class AcknowledgeAlert(AlertVerb):
    """Recorded in Vectis only: no tool Vectis reads has an acknowledge (NinjaOne has none). For an alert a tool holds,
    the tool is read again first: one it has cleared meanwhile resolves instead, and says so."""

    name = "alert.acknowledge"
    label = "Acknowledge an alert"
    reaches_vendor = False  # it only reads the tool

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        alert = _alert(ctx, target)
        if alert.state != AlertState.OPEN.value:
            raise ActionFailed(f"This alert is {alert.state}; only an open alert can be acknowledged.")
        held = _held(ctx, alert)
        if held is not None and held.cleared_all:
            return _resolved_there(ctx, alert, held)
        alert.state, alert.acknowledged_at, alert.acknowledged_by = (
            AlertState.ACKNOWLEDGED.value,
            _now(),
            ctx.actor.label,
        )
        there = f" {held.only_here}" if held is not None else ""
        return Applied(
            f"Acknowledged: {alert.subject_label}. It stays under Acknowledged until it resolves.{there}",
            response={"recorded_in": "vectis"},
        )


@register
class ResolveAlert(AlertVerb):
    """Resolved in Vectis; an alert a tool holds open (NinjaOne's) is reset there first, then the tool is read again
    to see it gone. Resetting twice changes nothing at the tool, so a retry is safe."""

    name = "alert.resolve"
    label = "Resolve an alert"

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit | None:
        alert = ctx.session.get(Alert, int(target.id or 0)) if str(target.id or "").isdigit() else None
        held = open_at_tool(ctx.session, alert) if alert is not None else []
        connection = ctx.session.get(Connection, held[0].connection_id) if held else None
        return connection_rate(ctx, connection) if connection is not None else None

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending] | None:
        alert = _alert(ctx, target, lock=False)
        if alert.state == AlertState.RESOLVED.value:
            raise ActionFailed("This alert is already resolved.")
        sending: list[Sending] = []
        for connection, uids in _by_connection(ctx, open_at_tool(ctx.session, alert)):
            with connector_for(ctx, connection, ResetsAlerts, doing="reset alerts in") as tool:
                sending += [Sending(tool.noun, tool.reset_request(uid)) for uid in uids]
        return sending or None

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        alert = _alert(ctx, target)
        if alert.state == AlertState.RESOLVED.value:
            raise ActionFailed("This alert is already resolved.")
        said = ""
        for connection, uids in _by_connection(ctx, open_at_tool(ctx.session, alert)):
            said += _reset(ctx, connection, uids)
        alert.state, alert.resolved_at, alert.resolved_by = AlertState.RESOLVED.value, _now(), ctx.actor.label
        after = said or f" {resolving(alert)}"
        return Applied(f"Resolved: {alert.subject_label}.{after}")


def _by_connection(ctx: Context, held: list[VendorAlert]) -> list[tuple[Connection, list[str]]]:
    grouped: dict[int, list[str]] = {}
    for vendor_alert in held:
        grouped.setdefault(vendor_alert.connection_id, []).append(vendor_alert.external_id)
    found = []
    for connection_id, uids in grouped.items():
        connection = ctx.session.get(Connection, connection_id)
        if connection is not None:
            found.append((connection, uids))
    return found


def _reset(ctx: Context, connection: Connection, uids: list[str]) -> str:
    """Reset ``uids`` at the connection's tool and read its open alerts again: the words for what it shows."""
    with connector_for(ctx, connection, ResetsAlerts, doing="reset alerts in") as tool:
        for uid in uids:
            try:
                tool.reset_alert(uid)
            except ConnectorError as exc:
                raise vendor_refused(tool.noun, exc) from None
        try:
            still = tool.open_alert_ids() & set(uids)
        except ConnectorError as exc:
            return f" Reset in {tool.noun}; reading it back failed ({exc.message.rstrip('.')}), the next sync will."
    now = _now()
    ctx.session.execute(
        update(VendorAlert)
        .where(VendorAlert.connection_id == connection.id, db.among_text(VendorAlert.external_id, uids))
        .where(VendorAlert.external_id.not_in(still) if still else true())
        .values(cleared_at=now)
    )
    if still:
        return f" Reset in {tool.noun}, which still lists it open right after: the next sync will tell."
    return f" Reset in {tool.noun} too: it no longer lists the alert."


@dataclass(frozen=True)
class _Held:
    """What the tools holding an alert say of it now."""

    cleared_all: bool
    only_here: str  # the words saying the acknowledge is Vectis's own
    by: str  # the tool, as it resolves the alert


def _held(ctx: Context, alert: Alert) -> _Held | None:
    held = open_at_tool(ctx.session, alert)
    groups = _by_connection(ctx, held)
    if not groups:
        return None
    connection, uids = groups[0]
    with connector_for(ctx, connection, ResetsAlerts, doing="read alerts in") as tool:
        only_here = (
            f"{tool.noun} has no acknowledge, so it is recorded in Vectis only: {tool.noun} still shows it open."
        )
        try:
            open_there = tool.open_alert_ids()
        except ConnectorError:
            return _Held(False, only_here, tool.noun)
    cleared = [uid for uid in uids if uid not in open_there]
    if cleared:
        ctx.session.execute(
            update(VendorAlert)
            .where(VendorAlert.connection_id == connection.id, db.among_text(VendorAlert.external_id, cleared))
            .values(cleared_at=_now())
        )
    return _Held(len(groups) == 1 and len(cleared) == len(uids), only_here, tool.noun)


def _resolved_there(ctx: Context, alert: Alert, held: _Held) -> Applied:
    alert.state, alert.resolved_at, alert.resolved_by = AlertState.RESOLVED.value, _now(), f"{held.by} (cleared there)"
    return Applied(
        f"{held.by} has cleared this alert already, so Vectis resolved it instead of acknowledging it.",
        response={"resolved": True},
    )


@register
class MuteAlert(AlertVerb):
    name = "alert.mute"
    label = "Mute an alert's condition for a customer"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        alert = _alert(ctx, target)
        reason = str(payload.get("reason") or "").strip()
        if not reason:
            raise ActionFailed("Say why you mute it: the reason is shown to everyone who sees the alert.")
        try:
            hours = int(str(payload.get("hours") or ""))
        except ValueError:
            hours = 0
        if not 1 <= hours <= MAX_MUTE_HOURS:
            raise ActionFailed(f"Mute for 1 to {MAX_MUTE_HOURS} hours.")
        if alert.customer_id is None:
            raise ActionFailed("This alert is on no customer, so there is no customer to mute it for.")
        until = _now() + timedelta(hours=hours)
        ctx.session.add(
            AlertMute(
                tenant_id=ctx.tenant_id,
                customer_id=alert.customer_id,
                condition=alert.condition,
                until=until,
                reason=reason[:1000],
                created_by=ctx.actor.label,
            )
        )
        # Every live alert of this condition for this customer goes quiet with it.
        for other in ctx.session.scalars(
            select(Alert).where(
                Alert.customer_id == alert.customer_id,
                Alert.condition == alert.condition,
                Alert.state.in_((AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value)),
            )
        ):
            other.state = AlertState.MUTED.value
        customer = ctx.session.get(Customer, alert.customer_id)
        return Applied(
            f"Muted {alert.condition.replace('_', ' ')} for {customer.name if customer else 'this customer'} "
            f"until {when(until)} UTC.",
            response={"until": until.isoformat()},
        )


@register
class UnmuteAlert(AlertVerb):
    """Ends a mute early: every alert it kept quiet for that customer comes back as it was, as when a mute runs
    out (``service.mute_ended``): acknowledged ones still acknowledged, and rules told only of what is new to them."""

    name = "alert.unmute"
    label = "Unmute an alert's condition for a customer"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        alert = _alert(ctx, target)
        if alert.state != AlertState.MUTED.value:
            raise ActionFailed(f"This alert is {alert.state}, not muted.")
        now = _now()
        same = [Alert.id == alert.id]
        ended = []
        if alert.customer_id is not None:
            same = [Alert.customer_id == alert.customer_id, Alert.condition == alert.condition]
            for mute in ctx.session.scalars(
                select(AlertMute)
                .where(
                    AlertMute.customer_id == alert.customer_id,
                    AlertMute.condition == alert.condition,
                    AlertMute.until > now,
                )
                .with_for_update()
            ):
                ended.append({"reason": mute.reason, "by": mute.created_by, "until": mute.until.isoformat()})
                mute.until = now
        back = list(
            ctx.session.scalars(select(Alert).where(*same, Alert.state == AlertState.MUTED.value).with_for_update())
        )
        events = mute_ended(back, now)
        ctx.session.flush()
        emit(ctx.session, events)
        customer = ctx.session.get(Customer, alert.customer_id) if alert.customer_id else None
        others = f" with {len(back) - 1} other alert{'s' if len(back) != 2 else ''}" if len(back) > 1 else ""
        again = "acknowledged again" if alert.state == AlertState.ACKNOWLEDGED.value else "open again"
        return Applied(
            f"Unmuted {label(alert.condition).lower()} for {customer.name if customer else 'this alert'}: "
            f"{alert.subject_label} is {again}{others}.",
            response={"ended_mutes": ended, "reopened": [a.id for a in back]},
        )


@register
class OpenAlertAsTicket(AlertVerb):
    """Delegates to ``ticket.create``'s own code, so the ticket is written back and re-read the same way."""

    name = "alert.open_ticket"
    label = "Open an alert as a ticket"
    # It creates a ticket at the vendor: a worker that died mid-call must read back, never open a second one.
    repeatable = False

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit | None:

        alert = ctx.session.get(Alert, int(target.id or 0)) if str(target.id or "").isdigit() else None
        if alert is None or alert.customer_id is None:
            return None
        board = payload.get("board_id") or default_board(ctx.session, alert.customer_id)
        return CreateTicket().rate_limit(ctx, target, {"board_id": board})

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        alert = _alert(ctx, target, lock=False)  # a dry run changes nothing, so it holds no lock
        if alert.ticket_id is not None:
            raise ActionFailed("This alert already has a ticket.")
        opening = _opening(ctx, alert, payload)
        return CreateTicket().would_send(ctx, opening.customer, opening.fields)

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        alert = _alert(ctx, target)
        if alert.ticket_id is not None:
            raise ActionFailed("This alert already has a ticket.")
        opening = _opening(ctx, alert, payload)
        applied = CreateTicket().apply(ctx, opening.customer, opening.fields)
        return Applied(f"{applied.message}{opening.chosen}", response={**applied.response, "alert_id": alert.id})

    def confirm(self, ctx: Context, target: Target, payload: dict[str, Any], since: datetime) -> Applied | None:
        """After a worker died while opening it: the ticket the PSA has for it, read back as ``ticket.create``
        reads back its own, so a retry never opens a second one."""
        alert = _alert(ctx, target)
        if alert.ticket_id is not None:
            return None
        opening = _opening(ctx, alert, payload)
        found = CreateTicket().confirm(ctx, opening.customer, opening.fields, since)
        if found is None:
            return None
        return Applied(f"{found.message}{opening.chosen}", response={**found.response, "alert_id": alert.id})


@dataclass(frozen=True)
class _Opening:
    """The ``ticket.create`` an alert asks for: on its customer, and the priority chosen for its severity."""

    customer: Target
    fields: dict[str, Any]
    chosen: str  # " (Priority 2 - High, matching a critical alert)" when Vectis chose it


def _opening(ctx: Context, alert: Alert, payload: dict[str, Any]) -> _Opening:
    if alert.customer_id is None:
        raise ActionFailed("This alert is on no customer: link its account first (Admin → Customer matching).")
    customer = ctx.session.get(Customer, alert.customer_id)
    if customer is None:
        raise ActionFailed("This alert's customer no longer exists.")
    board_id = params.integer(payload.get("board_id")) or default_board(ctx.session, customer.id)
    board = ctx.session.get(TicketBoard, board_id) if board_id else None
    if board is None:
        raise ActionFailed("There is no PSA board to open it on: connect your PSA in Admin → Integrations.")
    priority = payload.get("priority_id")
    matching = None
    if not priority:
        matching = as_ticket.priority_for(ctx.session, board.connection_id, alert.severity)
        priority = matching.id if matching else ""
    link = str(payload.get("link") or "")
    fields = {
        "summary": str(payload.get("summary") or as_ticket.summary(alert))[:100],
        "board_id": board.id,
        "priority_id": priority or "",
        "contact_id": "",
        "description": as_ticket.body(
            ctx.session, alert, customer.name, link if link.startswith(("https://", "http://")) else None
        ),
        "alert_id": alert.id,
    }
    chosen = f" ({matching.name}, matching a {alert.severity} alert)" if matching else ""
    return _Opening(Target("customer", str(customer.id), customer.name), fields, chosen)


@register
class RaiseAlert(Verb):
    """A rule's "Create an alert". Which row it lands in is ``vectis/alerts/dedupe.py``'s rule: one open alert per
    (subject, rule) until it is resolved and, for an alert on a device, one row per problem across tools."""

    name = "alert.raise"
    label = "Create an alert"
    target_type = "any"
    roles = WRITERS
    reaches_vendor = False

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:

        condition = str(payload.get("condition") or f"rule:{ctx.actor.id or 'manual'}")[:60]
        severity = str(payload.get("severity") or "warning")
        if severity not in ("critical", "warning", "info"):
            raise ActionFailed("Severity is critical, warning or info.")
        device_id = params.integer(payload.get("device_id"))
        if device_id is not None and ctx.session.get(Device, device_id) is None:
            raise ActionFailed("That device is no longer in Vectis: its RMM connection was removed.")
        report = Report(
            source=ctx.actor.label[:40] if ctx.actor.type == "rule" else "Vectis",
            condition=condition,
            severity=severity,
            subject_type=str(payload.get("subject_type") or target.type),
            subject_id=int(payload.get("subject_id") or target.id or 0),
            subject_label=str(payload.get("subject_label") or target.label),
            message=str(payload.get("message") or target.label),
            at=_now(),
            customer_id=payload.get("customer_id"),
            device_id=device_id,
            connection_id=payload.get("connection_id"),
        )
        raised = raise_alert(ctx.session, ctx.tenant_id, report)
        return Applied(raised.message, response={"alert_id": raised.alert.id})


@register
class SendMail(Verb):
    name = "mail.send"
    label = "Send an e-mail"
    target_type = "email"
    roles = WRITERS
    reaches_vendor = False  # an outbox row; the mail job sends it after the commit

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:

        to = str(payload.get("to") or target.id or "").strip()
        if "@" not in to:
            raise ActionFailed("Give an e-mail address to send to.")
        mail = queue_mail(
            ctx, to=to, subject=str(payload.get("subject") or "Vectis")[:200], body=str(payload.get("body") or "")
        )
        return Applied(f"E-mail to {to} queued.", response={"mail_id": mail.id})
