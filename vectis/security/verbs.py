"""What a technician (or a rule) does about a detection, at the endpoint-security tool that reported it: isolate its
endpoint from the network, release it, resolve the detection, mark it a false positive (with a reason, which makes a
Vectis suppression). Each goes through the tool's ``RespondsOnEndpoints`` capability, refuses with the tool's own
reason when its API cannot do it (the capability matrix), and reads the tool back afterwards: what Vectis shows is
what the tool says, not what was asked.

Isolation belongs to the endpoint, not the detection: every detection on that endpoint shows the same state. Isolating
an endpoint Vectis knows is isolated (or pending) sends nothing and says so; the tool confirms a pending isolation in
its own time, and :func:`vectis.security.service.refresh_isolation` reads it again for the card.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vectis.actions.base import ActionFailed, Applied, Context, RateLimit, Sending, Target, Verb
from vectis.actions.registry import register
from vectis.actions.vendor import connection_rate, connector_for, vendor_refused
from vectis.connectors.capabilities import RespondsOnEndpoints
from vectis.devices.writer import links_of
from vectis.models import Connection, Role
from vectis.models.security import SUPPRESSION_SCOPES, Detection, Suppression
from vectis.platform import params
from vectis.platform.dates import day
from vectis.platform.http import ConnectorError
from vectis.security.queries import matrix
from vectis.security.writer import set_isolation, write_detections

WRITERS = frozenset({Role.ADMIN, Role.TECHNICIAN})
MAX_SUPPRESSION_DAYS = 365
PENDING = {"isolate": "isolating", "release": "releasing"}


def _found(ctx: Context, target: Target, *, lock: bool = False) -> Detection | None:
    key = params.integer(target.id)
    return ctx.session.get(Detection, key, with_for_update=lock or None) if key is not None else None


def detection_of(ctx: Context, target: Target, *, lock: bool = False) -> Detection:
    found = _found(ctx, target, lock=lock)
    if found is None:
        raise ActionFailed("That detection no longer exists. Reload the page.")
    return found


def connection_of(ctx: Context, detection: Detection) -> Connection:
    connection = ctx.session.get(Connection, detection.connection_id)
    if connection is None:
        raise ActionFailed("The integration that reported this detection has been removed.")
    return connection


def endpoint_of(detection: Detection) -> str:
    if not detection.device_external_id:
        raise ActionFailed("The tool did not say which endpoint this detection is on, so there is nothing to isolate.")
    return detection.device_external_id


class DetectionVerb(Verb):
    target_type = "detection"
    roles = WRITERS
    action: str  # one of ENDPOINT_ACTIONS: the matrix entry that says whether the tool can

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit | None:
        detection = _found(ctx, target)
        connection = ctx.session.get(Connection, detection.connection_id) if detection is not None else None
        return connection_rate(ctx, connection) if connection is not None else None

    def connection(self, ctx: Context, detection: Detection) -> Connection:
        """The connection that reported the detection, once its tool's capability matrix says it can do this."""
        connection = connection_of(ctx, detection)
        reason = matrix(connection.vendor)[self.action]
        if reason:
            raise ActionFailed(reason)
        return connection


class _Isolation(DetectionVerb):
    """Isolate or release: the endpoint's network state, asked of the tool, then read back from it."""

    wanted: str  # the state this verb ends in: isolated | connected
    doing: str

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        detection = _found(ctx, target)
        if detection is None:
            return None  # apply says so
        name = detection.device_name or "This endpoint"
        if detection.isolation == self.wanted:
            return f"{name} is already {'isolated' if self.wanted == 'isolated' else 'connected'}; nothing was sent."
        if detection.isolation == PENDING[self.action]:
            return f"{name} is already {PENDING[self.action]}: waiting for the tool to confirm; nothing was sent."
        return None

    def _request(self, tool: RespondsOnEndpoints, device: str, comment: str, payload: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _send(self, tool: RespondsOnEndpoints, device: str, comment: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending] | None:
        detection = detection_of(ctx, target)
        device = endpoint_of(detection)
        with connector_for(ctx, self.connection(ctx, detection), RespondsOnEndpoints, doing=self.doing) as tool:
            return [Sending(tool.noun, self._request(tool, device, _comment(ctx, payload), payload))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        detection = detection_of(ctx, target, lock=True)
        device, name = endpoint_of(detection), detection.device_name or "the endpoint"
        with connector_for(ctx, self.connection(ctx, detection), RespondsOnEndpoints, doing=self.doing) as tool:
            try:
                self._send(tool, device, _comment(ctx, payload), payload)
            except ConnectorError as exc:
                raise vendor_refused(tool.noun, exc) from None
            try:
                state = tool.isolation_of(device) or PENDING[self.action]
            except ConnectorError:
                state = PENDING[self.action]  # sent and accepted; the card reads it again
            noun = tool.noun
        set_isolation(ctx.session, detection, state)
        if state == self.wanted:
            said = f"{name} is {'isolated' if self.wanted == 'isolated' else 'connected again'}: {noun} confirms it."
        else:
            said = f"Sent to {noun}: {name} is {PENDING[self.action]}, until {noun} confirms it."
        return Applied(said, response={"isolation": state})


def _comment(ctx: Context, payload: dict[str, Any]) -> str:
    said = str(payload.get("comment") or "").strip()[:500]
    return said or f"From Vectis, by {ctx.actor.label}"


@register
class IsolateEndpoint(_Isolation):
    name = "detection.isolate"
    label = "Isolate an endpoint"
    action = "isolate"
    wanted = "isolated"
    doing = "isolate endpoints through"

    def _request(self, tool: RespondsOnEndpoints, device: str, comment: str, payload: dict[str, Any]) -> Any:
        return tool.isolate_request(device, comment=comment, mode=_mode(tool, payload))

    def _send(self, tool: RespondsOnEndpoints, device: str, comment: str, payload: dict[str, Any]) -> None:
        tool.isolate(device, comment=comment, mode=_mode(tool, payload))


def _mode(tool: RespondsOnEndpoints, payload: dict[str, Any]) -> str:
    """How to isolate, when the tool offers a choice (Defender: Full or Selective); "" for its only way."""
    mode = str(payload.get("mode") or "").strip()
    if not mode:
        return ""
    modes = tool.isolation_modes
    if mode not in modes:
        ways = f"choose {' or '.join(modes)}" if modes else "it isolates one way only"
        raise ActionFailed(f"{tool.noun} has no “{mode[:40]}” isolation: {ways}.")
    return mode


@register
class ReleaseEndpoint(_Isolation):
    name = "detection.release"
    label = "Release an isolated endpoint"
    action = "release"
    wanted = "connected"
    doing = "release endpoints through"

    def _request(self, tool: RespondsOnEndpoints, device: str, comment: str, payload: dict[str, Any]) -> Any:
        return tool.release_request(device, comment=comment)

    def _send(self, tool: RespondsOnEndpoints, device: str, comment: str, payload: dict[str, Any]) -> None:
        tool.release(device, comment=comment)


def _read_back(ctx: Context, detection: Detection, tool: RespondsOnEndpoints, connection: Connection) -> str:
    """The detection as the tool holds it now, written over the row; the words when reading failed."""
    try:
        now = tool.get_detection(detection.external_id)
    except ConnectorError as exc:
        return f" Reading it back failed ({exc.message.rstrip('.')}); the next sync will."
    if now is not None:
        write_detections(ctx.session, connection, tool.noun, [now], links_of(ctx.session, connection))
        ctx.session.refresh(detection)
    return ""


@register
class ResolveDetection(DetectionVerb):
    """Resolved at the tool (SentinelOne's incident status), then read back."""

    name = "detection.resolve"
    label = "Resolve a detection"
    action = "resolve"

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        detection = _found(ctx, target)
        resolved = detection is not None and detection.status == "resolved"
        return "This detection is already resolved; nothing was sent." if resolved else None

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending] | None:
        detection = detection_of(ctx, target)
        with connector_for(ctx, self.connection(ctx, detection), RespondsOnEndpoints, doing="resolve in") as tool:
            return [Sending(tool.noun, tool.resolve_request(detection.external_id))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        detection = detection_of(ctx, target, lock=True)
        connection = self.connection(ctx, detection)
        with connector_for(ctx, connection, RespondsOnEndpoints, doing="resolve in") as tool:
            try:
                tool.resolve_detection(detection.external_id)
            except ConnectorError as exc:
                raise vendor_refused(tool.noun, exc) from None
            after = _read_back(ctx, detection, tool, connection)
            noun = tool.noun
        detection.resolved_by = ctx.actor.label
        if detection.status != "resolved":
            return Applied(
                f"Sent to {noun}, which still shows “{detection.title}” as {detection.vendor_status}.{after}",
                response={"status": detection.status},
            )
        return Applied(f"Resolved in {noun}: {detection.title}.{after}", response={"status": detection.status})


@register
class MarkFalsePositive(DetectionVerb):
    """The tool's analyst verdict becomes false positive (its incident status stays as it is: resolving is its own
    action); Vectis keeps a suppression (by file hash, path, endpoint or customer) with the technician's reason, which
    the rules' "no existing suppression" reads."""

    name = "detection.false_positive"
    label = "Mark a detection a false positive"
    action = "false_positive"

    def _checked(self, detection: Detection, payload: dict[str, Any]) -> tuple[str, str, str, int | None]:
        reason = str(payload.get("reason") or "").strip()
        if not reason:
            raise ActionFailed("Say why this is a false positive: the reason stays with the suppression.")
        scope = str(payload.get("scope") or ("hash" if detection.file_hash else "device"))
        if scope not in SUPPRESSION_SCOPES:
            raise ActionFailed("Suppress by file hash, file path, endpoint or customer.")
        value = {
            "hash": detection.file_hash,
            "path": detection.file_path,
            "device": detection.device_external_id,
            "customer": str(detection.customer_id) if detection.customer_id else None,
        }[scope]
        if not value:
            raise ActionFailed(f"This detection has no {_SCOPE_WORDS[scope]} to suppress by: choose another scope.")
        days = str(payload.get("days") or "").strip()
        if days and (not days.isdigit() or not 1 <= int(days) <= MAX_SUPPRESSION_DAYS):
            raise ActionFailed(f"A suppression lasts 1 to {MAX_SUPPRESSION_DAYS} days, or leave it empty for no end.")
        return reason[:2000], scope, value, int(days) if days else None

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending] | None:
        detection = detection_of(ctx, target)
        reason, _, _, _ = self._checked(detection, payload)
        with connector_for(
            ctx, self.connection(ctx, detection), RespondsOnEndpoints, doing="judge detections in"
        ) as tool:
            return [Sending(tool.noun, tool.false_positive_request(detection.external_id, reason=reason))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        detection = detection_of(ctx, target, lock=True)
        reason, scope, value, days = self._checked(detection, payload)
        connection = self.connection(ctx, detection)
        with connector_for(ctx, connection, RespondsOnEndpoints, doing="judge detections in") as tool:
            try:
                tool.mark_false_positive(detection.external_id, reason=reason)
            except ConnectorError as exc:
                raise vendor_refused(tool.noun, exc) from None
            after = _read_back(ctx, detection, tool, connection)
            noun = tool.noun
        detection.resolved_by = ctx.actor.label
        expires = datetime.now(UTC) + timedelta(days=days) if days else None
        suppression = Suppression(
            tenant_id=ctx.tenant_id,
            scope=scope,
            value=value,
            customer_id=detection.customer_id,
            detection_id=detection.id,
            reason=reason,
            created_by=ctx.actor.label,
            expires_at=expires,
        )
        ctx.session.add(suppression)
        ctx.session.flush()
        until = f" until {day(expires)}" if expires else ""
        return Applied(
            f"Marked a false positive in {noun}: {detection.title}. Detections with this "
            f"{_SCOPE_WORDS[scope]} are suppressed{until}.{after}",
            response={"suppression_id": suppression.id, "scope": scope, "verdict": detection.verdict},
        )


_SCOPE_WORDS = {"hash": "file hash", "path": "file path", "device": "endpoint", "customer": "customer"}
