"""Rules as settings: create (always in dry-run), edit (a new version, never an overwrite), enable, pause,
back to dry-run, delete. Each is audited like any other change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from vectis.actions.base import ActionFailed, Applied, Context, Target, Verb
from vectis.actions.registry import register
from vectis.models import Role, Rule, RuleMode, RuleVersion, User
from vectis.platform.mail import queue_mail
from vectis.rules import definition as rule_definition

WRITERS = frozenset({Role.ADMIN, Role.TECHNICIAN})
MAX_NAME = 200


class RuleVerb(Verb):
    target_type = "rule"
    roles = WRITERS


def _rule(ctx: Context, target: Target) -> Rule:
    rule = ctx.session.get(Rule, int(target.id or 0), with_for_update=True)
    if rule is None:
        raise ActionFailed("That rule no longer exists.")
    return rule


def _checked(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = str(payload.get("name") or "").strip()
    if not name:
        raise ActionFailed("Give the rule a name people will recognise in the audit log.")
    raw = payload.get("definition")
    if not isinstance(raw, dict):
        raise ActionFailed("The rule has no definition.")
    problems = rule_definition.problems(raw)
    if problems:
        raise ActionFailed(" ".join(problems))
    return name[:MAX_NAME], rule_definition.normalized(raw)


@register
class CreateRule(RuleVerb):
    name = "rule.create"
    label = "Create a rule"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        name, definition = _checked(payload)
        rule = Rule(
            tenant_id=ctx.tenant_id,
            name=name,
            mode=RuleMode.DRY_RUN.value,  # every new rule starts in dry-run
            version=1,
            trigger=definition["trigger"],
            owner_id=ctx.actor.user_id,
            template=str(payload.get("template") or "") or None,
        )
        ctx.session.add(rule)
        ctx.session.flush()
        ctx.session.add(
            RuleVersion(
                tenant_id=ctx.tenant_id, rule_id=rule.id, version=1, definition=definition, created_by=ctx.actor.label
            )
        )
        return Applied(
            f"Rule “{name}” saved in dry-run: it records what it would do in its History and sends nothing until "
            "you enable it.",
            response={"rule_id": rule.id, "version": 1},
        )


@register
class UpdateRule(RuleVerb):
    name = "rule.update"
    label = "Edit a rule"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        rule = _rule(ctx, target)
        name, definition = _checked(payload)
        current = ctx.session.scalar(
            select(RuleVersion.definition).where(RuleVersion.rule_id == rule.id, RuleVersion.version == rule.version)
        )
        if current is not None and rule_definition.fingerprint(current) == rule_definition.fingerprint(definition):
            if name == rule.name:
                raise ActionFailed("Nothing changed, so no new version was made.")
            rule.name = name
            return Applied(f"Renamed to “{name}” (still version {rule.version}).", response={"version": rule.version})
        rule.name = name
        version = _new_version(ctx, rule, definition)
        return Applied(f"Saved “{name}” as version {version}.", response={"rule_id": rule.id, "version": version})


def _new_version(ctx: Context, rule: Rule, definition: dict[str, Any], *, restored_from: int | None = None) -> int:
    """The rule's next version, made current. Versions are never changed, so every fire keeps naming the
    definition it ran under."""
    version = (ctx.session.scalar(select(func.max(RuleVersion.version)).where(RuleVersion.rule_id == rule.id)) or 0) + 1
    ctx.session.add(
        RuleVersion(
            tenant_id=ctx.tenant_id,
            rule_id=rule.id,
            version=version,
            definition=definition,
            created_by=ctx.actor.label,
            restored_from=restored_from,
        )
    )
    rule.version, rule.trigger, rule.updated_at = version, definition["trigger"], datetime.now(UTC)
    return version


# What a restore leaves the rule doing: it never changes the mode (a restore is not an "enable"), and says so.
STAYS = {
    RuleMode.LIVE.value: "It stays live: version {version} acts on the next event.",
    RuleMode.DRY_RUN.value: "It stays in dry-run: version {version} records what it would do and sends nothing.",
    RuleMode.PAUSED.value: "It stays paused: version {version} runs once you enable it or set it to dry-run.",
}


@register
class RestoreRuleVersion(RuleVerb):
    name = "rule.restore"
    label = "Restore an earlier version of a rule"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        rule = _rule(ctx, target)
        try:
            wanted = int(payload.get("version") or 0)
        except (TypeError, ValueError):
            wanted = 0
        earlier = ctx.session.scalar(
            select(RuleVersion).where(RuleVersion.rule_id == rule.id, RuleVersion.version == wanted)
        )
        if earlier is None:
            raise ActionFailed("The rule has no such version.")
        if wanted == rule.version:
            raise ActionFailed(f"Version {wanted} is already the current one.")
        problems = rule_definition.problems(earlier.definition)
        if problems:
            raise ActionFailed(
                f"Version {wanted} can no longer run as it was: {' '.join(problems)} Edit the rule instead."
            )
        definition = rule_definition.normalized(earlier.definition)
        current = ctx.session.scalar(
            select(RuleVersion.definition).where(RuleVersion.rule_id == rule.id, RuleVersion.version == rule.version)
        )
        if current is not None and rule_definition.fingerprint(current) == rule_definition.fingerprint(definition):
            raise ActionFailed(
                f"Version {rule.version} already does exactly what version {wanted} did: nothing to restore."
            )
        version = _new_version(ctx, rule, definition, restored_from=wanted)
        stays = STAYS.get(rule.mode, "").format(version=version)
        return Applied(
            f"Restored version {wanted} of “{rule.name}” as version {version}. {stays}".strip(),
            response={"rule_id": rule.id, "version": version, "restored_from": wanted, "mode": rule.mode},
        )


def _switch(ctx: Context, target: Target, mode: RuleMode, already: str, reason: str | None = None) -> Rule:
    """Move a rule to ``mode``; a rule already there is a mistake worth saying."""
    rule = _rule(ctx, target)
    if rule.mode == mode.value:
        raise ActionFailed(already)
    rule.mode, rule.paused_reason, rule.updated_at = mode.value, reason, datetime.now(UTC)
    return rule


@register
class EnableRule(RuleVerb):
    name = "rule.enable"
    label = "Enable a rule (live)"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        rule = _switch(ctx, target, RuleMode.LIVE, "The rule is already live.")
        return Applied(f"“{rule.name}” is live: from now on its actions are sent.", response={"version": rule.version})


@register
class PauseRule(RuleVerb):
    name = "rule.pause"
    label = "Pause a rule"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        reason = str(payload.get("reason") or f"Paused by {ctx.actor.label}.")[:1000]
        rule = _switch(ctx, target, RuleMode.PAUSED, "The rule is already paused.", reason)
        owner = ctx.session.get(User, rule.owner_id) if rule.owner_id else None
        if payload.get("notify_owner") and owner is not None and owner.is_active:
            queue_mail(
                ctx,
                to=owner.email,
                subject=f"Vectis paused your rule “{rule.name}”",
                body=f"{reason}\n\nOpen the rule's History to see what it did, then enable it again "
                "or set it back to dry-run.",
            )
        return Applied(f"“{rule.name}” is paused: it evaluates nothing until it is enabled or set to dry-run.")


@register
class DryRunRule(RuleVerb):
    name = "rule.dry_run"
    label = "Set a rule to dry-run"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        rule = _switch(ctx, target, RuleMode.DRY_RUN, "The rule is already in dry-run.")
        return Applied(f"“{rule.name}” is back in dry-run: it records what it would do and sends nothing.")


@register
class DeleteRule(RuleVerb):
    name = "rule.delete"
    label = "Delete a rule"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        rule = _rule(ctx, target)
        name = rule.name
        ctx.session.delete(rule)
        return Applied(f"Deleted the rule “{name}”. Its past actions stay in the audit log.")
