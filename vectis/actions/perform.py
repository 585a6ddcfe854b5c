"""``perform()``: the one way anything in Vectis changes the outside world or an admin setting.

It checks the actor's permission, honours dry-run (records the vendor requests it would send, built by the code that
sends them, and calls nothing: ``preview``), does nothing for
a verb whose target already is what is asked (``Verb.unchanged``), refuses what the verb can tell from stored data
will not be done (``Verb.precheck``) before applying the per-connection rate limit (over
it, the action waits in the ``actions`` queue, never dropped), applies the verb, and writes exactly one audit
row in the same transaction as the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import g, has_request_context
from sqlalchemy.orm import Session

from vectis.actions import registry
from vectis.actions.base import ActionFailed, Actor, Applied, Context, Outcome, Preview, Target, Verb
from vectis.actions.vendor import OutcomeUnknown
from vectis.audit import writer as audit
from vectis.models import QueuedAction, Rule, RuleDispatch, RuleMode
from vectis.platform import db, jobs
from vectis.platform.crypto import Sealed
from vectis.platform.queues import redis
from vectis.platform.ratelimit import TokenBucket

log = logging.getLogger(__name__)

BLOCKED_MESSAGE = "Your role does not allow this action. Ask an admin of your workspace if you need it."
UNEXPECTED_MESSAGE = "Vectis hit an unexpected problem while doing this. Nothing was changed."
UNEXPECTED_PREVIEW = "Vectis hit an unexpected problem working out what it would send."


def perform(
    verb_name: str,
    target: Target,
    payload: dict[str, Any],
    *,
    actor: Actor,
    surface: str,
    dry_run: bool = False,
    session: Session | None = None,
    tenant_id: int | None = None,
    record_outcome: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Run ``verb_name`` on ``target``. Commits ``session`` (the request's by default): the change and its
    audit row land together, or, on failure, only the audit row saying why. ``record_outcome`` is called
    with the outcome just before that commit, so a caller's own record of the action (a rule's dispatch
    row) lands in the same transaction; it is not called when nothing is audited or the action waits."""
    verb = registry.get(verb_name)
    s = session if session is not None else db.session()
    if tenant_id is None:
        tenant_id = g.tenant.id
    ctx = Context(s, tenant_id, actor, surface, audit.current_request_id() if has_request_context() else None)
    ctx.record_outcome = record_outcome
    outcome = _run(verb, ctx, target, payload, dry_run=dry_run, queued=None)
    if outcome is None:  # only an action that was already queued can be told to wait again
        raise RuntimeError(f"{verb_name} asked to wait again outside the queue")
    return outcome


def perform_queued(session: Session, queued: QueuedAction) -> Outcome | None:
    """Run an action that waited for its rate limit. ``None`` means it must wait some more. Its final outcome
    settles the record of whoever queued it (``Verb.settle``; a rule's History row), as ``record_outcome`` would
    have done had it run at once."""
    verb = registry.get(queued.verb)
    actor = Actor.from_json(queued.actor)
    ctx = Context(session, queued.tenant_id, actor, queued.surface, queued.request_id)
    payload = queued.payload.open(queued.tenant_id)
    target = Target.from_json(queued.target)
    ctx.record_outcome = lambda outcome: verb.settle(ctx, target, payload, outcome)
    if queued.attempted_at is not None and not verb.repeatable:
        # A worker took this, committed that it was calling the vendor, and died before recording the answer.
        outcome: Outcome | None = _recover(ctx, verb, target, payload, queued)
    elif actor.type == "rule" and not _rule_is_live(session, actor):
        outcome = _finish(
            ctx,
            verb,
            target,
            result="blocked",
            message="Not sent: the rule was paused or set to dry-run while this waited for the rate limit.",
            payload={"request": verb.redact(payload)},
            queued=queued,
            vendor_status=None,
        )
    else:
        outcome = _run(verb, ctx, target, payload, dry_run=False, queued=queued)
    if outcome is not None:
        _settle_rule_dispatch(session, payload, outcome)
    return outcome


def _recover(ctx: Context, verb: Verb, target: Target, payload: dict[str, Any], queued: QueuedAction) -> Outcome:
    since = queued.attempted_at or queued.created_at
    body: dict[str, Any] = {"request": verb.redact(payload), "recovered": True}
    try:
        with ctx.session.begin_nested():
            found = verb.confirm(ctx, target, payload, since)
    except ActionFailed:
        found = None
    if found is not None:
        return _finish(
            ctx,
            verb,
            target,
            result="ok",
            message=f"{found.message} (confirmed by reading it back)",
            payload={**body, "response": found.response},
            queued=queued,
            vendor_status=None,
        )
    return _finish(
        ctx,
        verb,
        target,
        result="unknown",
        message="Unknown — the worker sending this stopped before it recorded the vendor's answer, and reading "
        "back could not tell whether it arrived. Vectis did not send it again; check the vendor.",
        payload=body,
        queued=queued,
        vendor_status=None,
    )


def _rule_is_live(session: Session, actor: Actor) -> bool:

    rule = session.get(Rule, int(actor.id or 0), with_for_update={"read": True})
    return rule is not None and rule.mode == RuleMode.LIVE.value


def _settle_rule_dispatch(session: Session, payload: dict[str, Any], outcome: Outcome) -> None:
    """A rule's action that waited in the queue: its History row gets the final outcome."""

    dispatch_id = (payload.get("rule_fired") or {}).get("dispatch_id")
    row = session.get(RuleDispatch, int(dispatch_id)) if dispatch_id else None
    if row is not None:
        row.state, row.message, row.audit_id = outcome.result, outcome.message[:2000], outcome.audit_id
        session.commit()


def _run(
    verb: Verb, ctx: Context, target: Target, payload: dict[str, Any], *, dry_run: bool, queued: QueuedAction | None
) -> Outcome | None:
    redacted = verb.redact(payload)

    def finish(
        result: str, message: str, response: dict[str, Any] | None = None, vendor_status: int | None = None
    ) -> Outcome:
        body = {"request": redacted} if response is None else {"request": redacted, "response": response}
        return _finish(
            ctx, verb, target, result=result, message=message, payload=body, queued=queued, vendor_status=vendor_status
        )

    if not verb.permitted(ctx.actor, target):
        return finish("blocked", BLOCKED_MESSAGE)
    if dry_run:
        found = preview(verb, ctx, target, payload)
        outcome = _finish(
            ctx, verb, target, result="dry_run", message=found.message,
            payload={"request": redacted, "would_send": found.requests}, queued=queued, vendor_status=None,
        )  # fmt: skip
        outcome.preview = found
        return outcome
    already = verb.unchanged(ctx, target, payload)
    if already is not None:
        # Nothing to send and nothing changed, so no audit row; an action that waited in the queue still ends.
        return finish("ok", already) if queued is not None else Outcome("ok", already)

    refusal = _precheck(verb, ctx, target, payload)
    if refusal is not None:  # refused from stored data: said now, and no rate-limit token spent on it
        applied: Applied | tuple[str, str, int | None] = ("failed", refusal.message, refusal.vendor_status)
    else:
        limit = verb.rate_limit(ctx, target, payload)
        if limit is not None:
            wait = TokenBucket(redis(), limit.key, limit.rate, limit.burst).try_take()
            if wait > 0:
                return _defer(ctx, verb, target, payload, queued=queued, wait=wait, vendor=limit.vendor)
        if queued is not None:
            queued.attempted_at = datetime.now(UTC)
            ctx.session.commit()  # before the vendor call: a worker that dies now is known to have tried
        applied = _apply(verb, ctx, target, payload)
    if not isinstance(applied, Applied):
        result, message, vendor_status = applied
        return finish(result, message, vendor_status=vendor_status)
    outcome = finish("ok", applied.message, applied.response)
    outcome.response, outcome.private = applied.response, applied.private
    for callback in ctx.after_commit:
        callback()
    return outcome


def _precheck(verb: Verb, ctx: Context, target: Target, payload: dict[str, Any]) -> ActionFailed | None:
    """``Verb.precheck``'s refusal, in a savepoint so a failing check leaves the transaction good for the audit row."""
    try:
        with ctx.session.begin_nested():
            verb.precheck(ctx, target, payload)
    except ActionFailed as exc:
        return exc
    except Exception:
        log.exception("precheck of %s failed unexpectedly", verb.name)
        return ActionFailed(UNEXPECTED_MESSAGE)
    return None


def preview(verb: Verb, ctx: Context, target: Target, payload: dict[str, Any]) -> Preview:
    """What ``verb`` would send to vendors for ``payload``, sending nothing and calling no vendor: the requests its
    connector's builders make (the same ones its writes send), secrets redacted, and words saying so. A dry run's
    answer, and what a rule's History shows for each action a dry-run rule recorded."""
    already = verb.unchanged(ctx, target, payload)
    if already is not None:
        return Preview(f"Dry run: {already}", [])
    try:
        # A savepoint: a verb that fails here must leave the transaction good for the audit row.
        with ctx.session.begin_nested():
            sending = verb.would_send(ctx, target, payload)
    except ActionFailed as exc:
        return Preview(f"Dry run: nothing was sent, and it would not go as it is: {exc.message}", [])
    except Exception:
        log.exception("dry run of %s failed unexpectedly", verb.name)
        return Preview(f"Dry run: nothing was sent. {UNEXPECTED_PREVIEW}", [])
    if sending is None:
        return Preview(f"Dry run: {verb.label} was not done. Nothing goes to a vendor: Vectis records it itself.", None)
    requests = verb.redact_requests(payload, [s.to_json() for s in sending])
    if not requests:
        return Preview("Dry run: nothing would be sent.", [])
    said = " then ".join(f"{r['method']} {r['path']}" for r in requests)
    vendors = " and ".join(dict.fromkeys(r["vendor"] for r in requests))
    unknown = "".join(f" {s.unknown}" for s in sending if s.unknown)
    return Preview(f"Dry run: nothing was sent. {vendors} would get {said}.{unknown}", requests)


def _apply(verb: Verb, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied | tuple[str, str, int | None]:
    """The verb's change in a savepoint, or (result, message, vendor status) when it did not happen. What the
    verb asked to keep in any case (``ctx.lasting``) is written after the savepoint, with the audit row."""
    try:
        with ctx.session.begin_nested():
            return verb.apply(ctx, target, payload)
    except OutcomeUnknown as exc:
        return "unknown", exc.message, exc.vendor_status
    except ActionFailed as exc:
        return "failed", exc.message, exc.vendor_status
    except Exception:
        log.exception("action %s failed unexpectedly", verb.name)
        return "failed", UNEXPECTED_MESSAGE, None
    finally:
        for write in ctx.lasting:
            write()
        ctx.lasting.clear()


def _finish(
    ctx: Context,
    verb: Verb,
    target: Target,
    *,
    result: str,
    message: str,
    payload: dict[str, Any],
    queued: QueuedAction | None,
    vendor_status: int | None,
) -> Outcome:
    entry = audit.record(
        ctx.session,
        tenant_id=ctx.tenant_id,
        actor=ctx.actor,
        surface=ctx.surface,
        action=verb.name,
        target=target,
        result=result,
        payload=payload,
        vendor_status=vendor_status,
        error=message if result in ("failed", "blocked") else None,
        request_id=ctx.request_id,
    )
    if queued is not None:
        queued.done_at = datetime.now(UTC)
        queued.result = result
    outcome = Outcome(result, message, entry.id)
    if ctx.record_outcome is not None:
        ctx.record_outcome(outcome)
    ctx.session.commit()
    return outcome


def _defer(
    ctx: Context,
    verb: Verb,
    target: Target,
    payload: dict[str, Any],
    *,
    queued: QueuedAction | None,
    wait: float,
    vendor: str | None,
) -> Outcome | None:
    if queued is None:
        queued = QueuedAction(
            tenant_id=ctx.tenant_id,
            verb=verb.name,
            target=target.to_json(),
            actor=ctx.actor.to_json(),
            surface=ctx.surface,
            payload=Sealed.seal(ctx.tenant_id, payload),
            request_id=ctx.request_id,
        )
        ctx.session.add(queued)
        ctx.session.commit()
        _schedule(ctx.tenant_id, queued.id, wait)
        # Accepted, not failed: the action is stored and the worker sends it when the bucket has a token.
        if vendor:
            return Outcome("queued", f"Queued — {vendor} is busy; Vectis will send it shortly.")
        return Outcome("queued", f"{verb.label} is waiting for the connection's rate limit and will run shortly.")
    _schedule(ctx.tenant_id, queued.id, wait)
    return None


def _schedule(tenant_id: int, queued_action_id: int, wait_seconds: float) -> None:
    jobs.QUEUED_ACTION.enqueue_in(timedelta(seconds=max(wait_seconds, 0.05)), tenant_id, queued_action_id)
