"""The admin's verb on the workspace's retention policy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vectis.actions.base import ActionFailed, Applied, Context, Target, Verb
from vectis.actions.registry import register
from vectis.models import RETENTION_DAYS, RetentionPolicy
from vectis.retention.purge import LABELS


def parse_days(payload: dict[str, Any]) -> dict[str, int]:
    """The policy's fields from a form: whole days within each field's range, or ActionFailed naming it."""
    days: dict[str, int] = {}
    for field, (_, low, high) in RETENTION_DAYS.items():
        raw = str(payload.get(field, "")).strip()
        if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
            raise ActionFailed(f"{LABELS[field]}: keep them between {low} and {high} days.")
        days[field] = int(raw)
    return days


@register
class ChangeRetention(Verb):
    name = "retention.change"
    label = "Change data retention"
    target_type = "workspace"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        days = parse_days(payload)
        policy = ctx.session.get(RetentionPolicy, ctx.tenant_id)
        if policy is None:
            policy = RetentionPolicy.defaults(ctx.tenant_id)
            ctx.session.add(policy)
        before = {field: getattr(policy, field) for field in RETENTION_DAYS}
        for field, value in days.items():
            setattr(policy, field, value)
        policy.updated_at = datetime.now(UTC)
        changed = {f: {"from": before[f], "to": v} for f, v in days.items() if before[f] != v}
        message = "Retention saved. The nightly clean-up applies it." if changed else "Nothing changed."
        return Applied(message, response={"changed": changed})
