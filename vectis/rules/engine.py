"""The evaluator. Events are claimed from Postgres (``FOR UPDATE SKIP LOCKED``), each is matched against the
rules of its trigger (scope, then the compiled conditions), and a match is written down as a *fire* with
every condition leaf and the exact call of each action. Dispatch then runs the same steps for a dry-run
and a live rule (cooldown, circuit breaker) and differs only at the very end: a dry run records what it
would have sent, a live rule calls ``perform()`` with surface ``rule``.

A fire is unique per (rule, version, event) and a dispatch per event × rule version × action, so a job
that runs twice, or two workers, never send an action twice.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from vectis.actions import VERBS, Actor, Outcome, Target, perform
from vectis.events.stream import ORIGIN, Event, emit
from vectis.events.triggers import Trigger
from vectis.models import (
    Alert,
    Customer,
    Role,
    Rule,
    RuleDispatch,
    RuleEvent,
    RuleFire,
    RuleMode,
    RuleVersion,
    Ticket,
)
from vectis.models.security import Detection
from vectis.platform import db
from vectis.platform.bulk import update_by_id, upsert
from vectis.rules import conditions
from vectis.rules.action_types import Lookups, Skip, build
from vectis.rules.candidates import Candidates
from vectis.rules.predicates import PREDICATES, Resolver
from vectis.rules.scans import SCANS
from vectis.rules.triggers import catalog

log = logging.getLogger(__name__)

BATCH = 2500
DRY_RUN_BATCH = 2000
EVENT_COLUMNS = (
    "id",
    "trigger",
    "customer_id",
    "connection_id",
    "subject_type",
    "subject_id",
    "title",
    "data",
    "rule_id",
    "occurred_at",
)
PAUSED = "The rule was paused or set to dry-run before this was sent."
SUBJECTS: dict[str, type[Any]] = {
    "ticket": Ticket,
    "alert": Alert,
    "detection": Detection,
}  # read per batch, not per fire
SENT = ("sending", "ok", "queued", "failed")
_compiled: dict[tuple[int, int, int], conditions.Compiled] = {}  # (tenant, rule, version) -> compiled tree


@dataclass(frozen=True)
class Active:
    """A rule's current version, ready to evaluate."""

    rule_id: int
    name: str
    mode: str
    version: int
    definition: Mapping[str, Any]
    trigger: Trigger
    check: conditions.Compiled
    scope: frozenset[int] | None  # a list of customers, or None
    scope_tag: str | None = None  # customers with this tag, whenever they got it

    def covers(self, event: Event, record: Mapping[str, Any]) -> bool:
        if self.scope is not None and event.customer_id not in self.scope:
            return False
        return self.scope_tag is None or self.scope_tag in (record.get("customer.tags") or ())

    @property
    def dry_run(self) -> bool:
        return self.mode == RuleMode.DRY_RUN.value

    def actor(self) -> Actor:
        # Rules act with a technician's rights: they may write tickets and alerts, never change settings.
        return Actor("rule", str(self.rule_id), f"Rule “{self.name}” v{self.version}"[:320], Role.TECHNICIAN.value)


def prepare(
    tenant_id: int,
    rule_id: int,
    *,
    name: str,
    mode: str,
    version: int,
    definition: Mapping[str, Any],
    cache: bool = True,
) -> Active:
    """A version compiled once per process (versions never change), unless it is a draft being tried."""
    trigger = catalog()[definition["trigger"]]
    key = (tenant_id, rule_id, version)
    check = _compiled.get(key) if cache else None
    if check is None:
        check = conditions.compile(definition.get("conditions") or conditions.empty(), trigger.field_map, PREDICATES)
        if cache:
            _compiled[key] = check
    scope = definition.get("scope") or {"kind": "all"}
    ids = frozenset(int(i) for i in scope.get("ids") or []) if scope.get("kind") == "customers" else None
    tag = str(scope.get("tag") or "") if scope.get("kind") == "tag" else None
    return Active(rule_id, name, mode, version, definition, trigger, check, ids, tag)


def active_rules(session: Session, tenant_id: int) -> list[Active]:
    rows = session.execute(
        select(Rule.id, Rule.name, Rule.mode, Rule.version, RuleVersion.definition)
        .join(RuleVersion, (RuleVersion.rule_id == Rule.id) & (RuleVersion.version == Rule.version))
        .where(Rule.mode.in_((RuleMode.DRY_RUN.value, RuleMode.LIVE.value)))
        .order_by(Rule.id)
    )
    found = []
    for rule_id, name, mode, version, definition in rows:
        try:
            found.append(prepare(tenant_id, rule_id, name=name, mode=mode, version=version, definition=definition))
        except (KeyError, conditions.ConditionError):
            log.warning("rule %s v%s cannot be evaluated; skipped", rule_id, version)
    return found


# --- deciding --------------------------------------------------------------------------------------------


@dataclass
class Decision:
    rule: Active
    event: Event
    explanation: conditions.Explanation
    steps: list[dict[str, Any]] = field(default_factory=list)  # {"verb","target","payload","target_key"} or {"skip"}

    def summary(self) -> tuple[int, int, tuple[str, ...]]:
        """What parity compares: the event, the version and each step exactly."""
        return self.event.id, self.rule.version, tuple(repr(sorted(s.items())) for s in self.steps)


def customer_fields(session: Session, ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {
        cid: {"customer.id": cid, "customer.name": name, "customer.location": location, "customer.tags": tags}
        for cid, name, location, tags in session.execute(
            select(Customer.id, Customer.name, Customer.location, Customer.tags).where(db.among(Customer.id, wanted))
        )
    }


def record_of(event: Event, customers: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    return {
        **event.data,
        "event.trigger": event.trigger,
        "event.subject_type": event.subject_type,
        "event.subject_id": event.subject_id,
        **customers.get(event.customer_id or 0, {"customer.id": event.customer_id}),
        "title": event.title,
        "event.occurred_at": event.occurred_at,
    }


def decide(
    lookups: Lookups,
    rule: Active,
    event: Event,
    *,
    record: Mapping[str, Any],
    resolve: Resolver,
    now: datetime,
) -> Decision | None:
    if event.rule_id is not None and event.rule_id != rule.rule_id:
        return None  # a time-based event found by another rule's scan
    if not rule.covers(event, record):
        return None
    if record.get("origin.rule_id") == rule.rule_id and now - event.occurred_at < _own_echo(rule):
        return None  # what this rule's own action caused does not trigger it again
    verdict = rule.check(record, resolve, now)
    if verdict is False:
        return None
    decision = Decision(rule, event, rule.check.explain(record, resolve, now))
    if verdict is None:
        # It hangs on what Vectis cannot know yet (a PSA that has not finished a sync): recorded, sent nowhere.
        unknown = next((leaf for leaf in decision.explanation.leaves if leaf.result is None), None)
        why = f"Not sent: {unknown.text.lower()} is unknown ({unknown.actual})." if unknown else "Not sent."
        decision.steps.extend({"skip": why, "type": step.get("type")} for step in rule.definition.get("actions") or [])
        return decision
    for step in rule.definition.get("actions") or []:
        try:
            call = build(lookups, event, record, step)
        except Skip as why:
            decision.steps.append({"skip": str(why), "type": step.get("type")})
            continue
        except Exception:  # a broken action is recorded as not sent; it must not stop the batch
            log.exception("rule %s could not build action %s", rule.rule_id, step.get("type"))
            decision.steps.append({"skip": "Vectis could not prepare this action; not sent.", "type": step.get("type")})
            continue
        decision.steps.append(
            {
                "verb": call.verb,
                "target": call.target.to_json(),
                "target_key": call.target_key,
                "payload": call.payload,
            }
        )
    return decision


def _own_echo(rule: Active) -> timedelta:
    """How long a rule ignores the events its own actions caused: its cooldown, and never under 5 minutes."""
    try:
        minutes = float(rule.definition.get("cooldown_minutes") or 0)
    except (TypeError, ValueError):
        minutes = 0
    return timedelta(minutes=max(minutes, 5))


def write_fires(
    session: Session,
    tenant_id: int,
    decisions: Sequence[Decision],
    now: datetime,
    *,
    memory: Remembered | None = None,
) -> int:
    """A batch's fires and their dispatches in two statements. A (rule, version, event) decided before is
    skipped by its unique key, and so are its dispatches: a re-run writes nothing twice. A dry run's
    actions pass the dispatch gate here and are written as recorded; live ones wait as pending for
    ``dispatch_pending``. ``memory``: the dry runs recorded so far, kept from batch to batch of one run
    (read afresh otherwise). Returns how many fires are new."""
    if not decisions:
        return 0
    fires = upsert(
        session.connection(),
        RuleFire.__table__,  # type: ignore[arg-type]
        [
            {
                "tenant_id": tenant_id,
                "rule_id": d.rule.rule_id,
                "version": d.rule.version,
                "event_id": d.event.id,
                "customer_id": d.event.customer_id,
                "dry_run": d.rule.dry_run,
                "leaves": d.explanation.to_json()["leaves"],
            }
            for d in decisions
        ],
        conflict=("tenant_id", "rule_id", "version", "event_id"),
        returning=("id", "rule_id", "version", "event_id"),
    )
    new = {(f.rule_id, f.version, f.event_id): f.id for f in fires}
    rows = []
    versions: dict[int, tuple[Mapping[str, Any], int]] = {}
    for d in decisions:
        fire_id = new.get((d.rule.rule_id, d.rule.version, d.event.id))
        if fire_id is None:
            continue
        versions[fire_id] = (d.rule.definition, d.rule.version)
        for n, step in enumerate(d.steps):
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "fire_id": fire_id,
                    "rule_id": d.rule.rule_id,
                    "idempotency_key": f"{d.event.id}:{d.rule.rule_id}:{d.rule.version}:{n}",
                    "verb": step.get("verb") or str(step.get("type")),
                    "target": step.get("target") or {},
                    "target_key": step.get("target_key") or "",
                    "payload": step.get("payload") or {},
                    "dry_run": d.rule.dry_run,
                    "state": "skipped" if "skip" in step else "pending",
                    "message": step.get("skip"),
                    "dispatched_at": None,
                }
            )
    waiting = [r for r in rows if r["dry_run"] and r["state"] == "pending"]
    drafts = [Draft(0, r["rule_id"], r["fire_id"], r["target_key"], r["target"], True) for r in waiting]
    recorded = record_dry_runs(session, drafts, versions, now, counts=memory)
    for row, (state, message, when) in zip(waiting, recorded, strict=True):
        row["state"], row["message"], row["dispatched_at"] = state, message, when
    written = upsert(
        session.connection(),
        RuleDispatch.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "idempotency_key"),
        returning=("id",) if memory is not None else (),
    )
    if memory is not None:
        memory.written(row.id for row in written)
    return len(new)


@dataclass
class Evaluated:
    events: int = 0
    fires: int = 0
    dispatched: int = 0


def evaluate_pending(session: Session, tenant_id: int, *, limit: int = BATCH, now: datetime | None = None) -> Evaluated:
    """Claim up to ``limit`` unevaluated events at a time, decide every rule on them, commit; then dispatch."""
    done = Evaluated()
    rules = Candidates(active_rules(session, tenant_id), lambda rule: rule.trigger.key)
    statistics = _statistics(session)
    memory = Remembered(session)  # the dry runs' gate: read once, then kept up to date from batch to batch
    while True:
        claimed, fires = _evaluate_batch(session, tenant_id, rules, memory, limit=limit, now=now or datetime.now(UTC))
        done.events, done.fires = done.events + claimed, done.fires + fires
        if claimed < limit:
            break
        statistics.keep()  # a backlog writes fires and dispatches by the ten thousand
    # The batches' rows are gone from the session: each live dispatch commits, and a commit expires
    # whatever the session still holds.
    session.expunge_all()
    done.dispatched = dispatch_pending(session, tenant_id, now=now)
    return done


def _evaluate_batch(
    session: Session, tenant_id: int, rules: Candidates[Active], memory: Remembered, *, limit: int, now: datetime
) -> tuple[int, int]:
    """(events claimed, new fires) for one batch, committed."""
    # Columns, not ORM objects: a batch is read once and never changed through the session.
    events: list[Event] = list(
        session.execute(
            select(*(getattr(RuleEvent, name) for name in EVENT_COLUMNS))
            .where(RuleEvent.evaluated_at.is_(None))
            .order_by(RuleEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )
    if not events:
        return 0, 0
    customers = customer_fields(session, (e.customer_id for e in events))
    resolve = Resolver(session, customers, now)
    lookups = Lookups(session, customers)
    lookups.preload(Customer, customers)
    for subject, model in SUBJECTS.items():
        lookups.preload(model, (e.subject_id for e in events if e.subject_type == subject))
    decisions: list[Decision] = []
    for event in events:
        if not rules.covers(event.trigger):
            continue
        record = record_of(event, customers)
        for rule in rules(event, record, now):  # the rules that cannot match are left out unchecked
            decision = decide(lookups, rule, event, record=record, resolve=resolve, now=now)
            if decision is not None:
                decisions.append(decision)
    fires = write_fires(session, tenant_id, decisions, now, memory=memory)
    session.execute(update(RuleEvent).where(db.among(RuleEvent.id, (e.id for e in events))).values(evaluated_at=now))
    session.commit()
    session.expunge_all()  # nothing of this batch is needed again; the next commit need not expire it
    return len(events), fires


# --- dispatching -----------------------------------------------------------------------------------------


def dispatch_pending(session: Session, tenant_id: int, *, now: datetime | None = None) -> int:
    """Dry runs end in the database, so a batch of them is decided in memory and written back in one
    statement; live actions go one per transaction, because ``perform()`` commits and a claim must never
    outlive its lock. Both pass the same gate (cooldown, then circuit breaker)."""
    count = 0
    statistics = _statistics(session)
    while (done := _dry_runs(session, now or datetime.now(UTC))) > 0:
        count += done
    definitions: dict[tuple[int, int], Mapping[str, Any] | None] = {}  # versions never change: read each once
    while True:
        # The fire's version as a subquery of the one row claimed, not a join: the claim stays a walk of the
        # pending index, whatever the planner thinks of rule_fires.
        fired_as = select(RuleFire.version).where(RuleFire.id == RuleDispatch.fire_id).scalar_subquery()
        found = session.execute(
            select(RuleDispatch, fired_as)
            .where(RuleDispatch.state == "pending", RuleDispatch.dry_run.is_(False))
            .order_by(RuleDispatch.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if found is None:
            session.commit()
            return count
        row, number = found
        statistics.keep()  # only with work to do: this runs for every workspace every minute
        moment = now or datetime.now(UTC)
        key = (row.rule_id, number)
        if key not in definitions:
            definitions[key] = session.scalar(
                select(RuleVersion.definition).where(RuleVersion.rule_id == row.rule_id, RuleVersion.version == number)
            )
        definition = definitions[key]
        version = (definition, number) if definition is not None else None
        dispatch_one(session, tenant_id, row, now=moment, version=version, counts=Asked(session))
        session.commit()
        count += 1


def _statistics(session: Session) -> db.FreshStatistics:
    """One per session, shared by evaluating and dispatching: a job that does both (and the calls that drain
    a backlog) refresh the statistics at most once per interval, not once per phase and call."""
    found = session.info.get("vectis.rules.statistics")
    if not isinstance(found, db.FreshStatistics):
        found = session.info["vectis.rules.statistics"] = db.FreshStatistics()
    return found


def _dry_runs(session: Session, now: datetime) -> int:
    rows = session.execute(
        select(
            RuleDispatch.id,
            RuleDispatch.rule_id,
            RuleDispatch.fire_id,
            RuleDispatch.target_key,
            RuleDispatch.target,
            RuleDispatch.dry_run,
        )
        .where(RuleDispatch.state == "pending", RuleDispatch.dry_run.is_(True))
        .order_by(RuleDispatch.id)
        .limit(DRY_RUN_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        session.commit()
        return 0
    versions = _versions(session, {r.fire_id for r in rows})
    outcomes = [
        {"id": row.id, "state": state, "message": message, "dispatched_at": when}
        for row, (state, message, when) in zip(rows, record_dry_runs(session, rows, versions, now), strict=True)
    ]
    update_by_id(session.connection(), RuleDispatch.__table__, outcomes)  # type: ignore[arg-type]
    session.commit()
    return len(rows)


def record_dry_runs(
    session: Session,
    rows: Sequence[Pending],
    versions: Mapping[int, tuple[Mapping[str, Any], int]],
    now: datetime,
    *,
    counts: Remembered | None = None,
) -> list[tuple[str, str, datetime | None]]:
    """Each dry run through the gate, in order: (state, message, when it would have been sent). ``counts``:
    the run's memory of recorded dry runs, brought up to date here; a fresh one otherwise."""
    if counts is None:
        counts = Remembered(session)
        counts.load(rows, versions, now, each_rule_its_own=False)
    else:
        counts.catch_up(rows, versions, now)
    outcomes: list[tuple[str, str, datetime | None]] = []
    for row in rows:
        version = versions.get(row.fire_id)
        verdict = _gate(row, version, counts, now) if version else ("paused", "The rule was deleted before this ran.")
        if verdict is None:
            counts.add(row, now)
            outcomes.append(("dry_run", "Dry run: recorded, not sent.", now))
        else:
            outcomes.append((*verdict, None))
    return outcomes


def _versions(session: Session, fire_ids: set[int]) -> dict[int, tuple[Mapping[str, Any], int]]:
    """fire -> (the definition of the version it ran under, that version)."""
    return {
        fire_id: (definition, version)
        for fire_id, definition, version in session.execute(
            select(RuleFire.id, RuleVersion.definition, RuleVersion.version)
            .join(RuleVersion, (RuleFire.rule_id == RuleVersion.rule_id) & (RuleFire.version == RuleVersion.version))
            .where(db.among(RuleFire.id, fire_ids))
        )
    }


@dataclass
class Draft:
    """A dispatch not written yet, as the gate reads one."""

    id: int
    rule_id: int
    fire_id: int
    target_key: str
    target: dict[str, Any]
    dry_run: bool


class Pending(Protocol):
    """What the gate reads of a dispatch: an ORM row (live) or a plain row (a dry-run batch)."""

    id: int
    rule_id: int
    fire_id: int
    target_key: str
    target: dict[str, Any]
    dry_run: bool


def _gate(
    row: Pending, version: tuple[Mapping[str, Any], int], counts: Counts, now: datetime
) -> tuple[str, str] | None:
    """Cooldown, then circuit breaker, for dry runs and live actions alike: the (state, message) that stops
    this action, or None to go on (record it, or send it)."""
    definition, _ = version
    cooldown = timedelta(minutes=float(definition.get("cooldown_minutes") or 0))
    breaker = definition.get("breaker") or {}
    limit, window = int(breaker.get("limit") or 20), timedelta(minutes=float(breaker.get("minutes") or 5))
    on_target, in_window = counts.recent(row, cooldown_since=now - cooldown, window_since=now - window)
    if cooldown and row.target_key and on_target:
        return "cooldown", f"Not sent: this rule already acted on {row.target.get('label')} in the last {cooldown}."
    if in_window >= limit:
        return "breaker", f"Not sent: the rule already dispatched {limit} actions in {window}; circuit breaker tripped."
    return None


def dispatch_one(
    session: Session,
    tenant_id: int,
    row: RuleDispatch,
    *,
    now: datetime,
    version: tuple[Mapping[str, Any], int] | None,
    counts: Counts,
) -> None:
    try:
        _dispatch(session, tenant_id, row, now=now, version=version, counts=counts)
    except Exception:  # one broken dispatch must not hold up every later one
        log.exception("rule dispatch %s failed unexpectedly", row.id)
        session.rollback()
        failed = session.get(RuleDispatch, row.id, with_for_update=True)
        if failed is not None and failed.state in ("pending", "sending"):
            failed.state, failed.message = "failed", "Vectis hit an unexpected problem preparing this action; not sent."
        session.commit()


def _dispatch(
    session: Session,
    tenant_id: int,
    row: RuleDispatch,
    *,
    now: datetime,
    version: tuple[Mapping[str, Any], int] | None,
    counts: Counts,
) -> None:
    """Cooldown, circuit breaker, then the one difference between dry-run and live: record, or send."""
    # Read-locked for a live action: a pause committed while we decide waits for us, one before is seen.
    rule = session.get(Rule, row.rule_id, with_for_update=None if row.dry_run else {"read": True})
    if rule is None or version is None or (not row.dry_run and rule.mode != RuleMode.LIVE.value):
        row.state, row.message = "paused", PAUSED
        if rule is not None and not row.dry_run:  # the rest of its queue goes the same way, in one statement
            session.execute(
                update(RuleDispatch)
                .where(
                    RuleDispatch.rule_id == rule.id, RuleDispatch.state == "pending", RuleDispatch.dry_run.is_(False)
                )
                .values(state="paused", message=PAUSED)
            )
        return
    _, number = version
    verdict = _gate(row, version, counts, now)
    if verdict is not None:
        row.state, row.message = verdict
        if row.state == "breaker" and not row.dry_run:
            breaker = version[0].get("breaker") or {}
            _trip(
                session,
                tenant_id,
                rule,
                int(breaker.get("limit") or 20),
                timedelta(minutes=float(breaker.get("minutes") or 5)),
            )
        return
    row.dispatched_at = now
    # Read before any commit: a commit expires the row and the rule, and reading them again costs a query each.
    verb, target, payload, dispatch_id = row.verb, Target.from_json(row.target), row.payload, row.id
    rule_id, rule_name = rule.id, rule.name
    if _reaches_vendor(verb):
        # Committed before the vendor call: if the worker dies during it, the row stays "sending" (shown as
        # unknown) and is never picked up again, so nothing is sent twice.
        row.state, row.message = (
            "sending",
            "Sent to the vendor; no answer recorded (the worker stopped). Check the vendor.",
        )
        session.commit()
    # Otherwise the action is a write to Vectis's own tables: it commits with this row's outcome, in
    # perform()'s one transaction, or neither happens and the row is still pending for the next run.
    actor = Actor("rule", str(rule_id), f"Rule “{rule_name}” v{number}"[:320], Role.TECHNICIAN.value)
    fired = {"rule_fired": {"rule_id": rule_id, "rule": rule_name, "version": number, "dispatch_id": dispatch_id}}
    recorded: list[Outcome] = []

    def record(outcome: Outcome) -> None:  # in the audit row's transaction: one commit, not two
        row.state, row.message, row.audit_id = outcome.result, outcome.message[:2000], outcome.audit_id
        recorded.append(outcome)

    token = ORIGIN.set(rule_id)  # events this action causes name the rule, so it cannot re-trigger itself
    try:
        outcome = perform(
            verb,
            target,
            {**payload, **fired},
            actor=actor,
            surface="rule",
            session=session,
            tenant_id=tenant_id,
            record_outcome=record,
        )
    finally:
        ORIGIN.reset(token)
    if not recorded:  # nothing audited (already so) or queued for the rate limit: the caller commits this
        row.state, row.message, row.audit_id = outcome.result, outcome.message[:2000], outcome.audit_id


def _reaches_vendor(verb: str) -> bool:
    """Whether the verb may act outside Vectis's database; an unknown one is taken to (perform() refuses it)."""
    found = VERBS.get(verb)
    return found is None or found.reaches_vendor


class Counts(Protocol):
    """A rule's recent dispatches, for its cooldown and circuit breaker, counted in the row's own mode:
    what went out or, for a dry run, what would have."""

    def recent(self, row: Pending, *, cooldown_since: datetime, window_since: datetime) -> tuple[int, int]:
        """(earlier fires' dispatches to this target since the cooldown began, dispatches in the window)."""
        ...

    def add(self, row: Pending, when: datetime) -> None: ...


class Asked:
    """Live: asked of the database for each action, because other workers send too."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def recent(self, row: Pending, *, cooldown_since: datetime, window_since: datetime) -> tuple[int, int]:
        on_target = func.count().filter(
            RuleDispatch.target_key == row.target_key,
            RuleDispatch.fire_id != row.fire_id,
            RuleDispatch.dispatched_at >= cooldown_since,
        )
        in_window = func.count().filter(RuleDispatch.dispatched_at >= window_since)
        found = self.session.execute(
            select(on_target, in_window).where(
                RuleDispatch.rule_id == row.rule_id,
                RuleDispatch.dry_run.is_(row.dry_run),
                RuleDispatch.state.in_(SENT),
                RuleDispatch.dispatched_at >= min(cooldown_since, window_since),
                RuleDispatch.id != row.id,
            )
        ).one()
        return int(found[0]), int(found[1])

    def add(self, row: Pending, when: datetime) -> None:
        """The database sees it when the session flushes."""


class Remembered:
    """Dry runs: the rules' recent dry runs read once, then kept in memory as the gate records more, so
    recording a would-send costs no query. Same counts, same rules, as ``Asked``.

    One evaluation run keeps it from batch to batch: before each batch it reads only the rules it has not
    seen yet and what other sessions recorded since its last look (by id), instead of every recent dry run
    again, which grew with each batch of a backlog. What this run records it remembers as it records it
    (``add``), and skips when it reads its own rows back (``written``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.times: dict[int, list[datetime]] = {}  # rule -> when each recent dry run was, ascending
        self.targets: dict[tuple[int, str], list[datetime]] = {}
        self.same_fire: Counter[tuple[int, str, int]] = Counter()
        self.since: dict[int, datetime] = {}  # rule -> from when its dry runs are known
        self.seen = 0  # the highest dispatch id read
        self.own: set[int] = set()  # the dispatches this run wrote, remembered when recorded

    @staticmethod
    def _longest(definition: Mapping[str, Any]) -> timedelta:
        """How far back the gate looks for a version: its cooldown or its breaker's window, at least 5 min."""
        breaker = definition.get("breaker") or {}
        return max(
            timedelta(minutes=5),
            timedelta(minutes=float(definition.get("cooldown_minutes") or 0)),
            timedelta(minutes=float(breaker.get("minutes") or 5)),
        )

    def load(
        self,
        rows: Sequence[Pending],
        versions: Mapping[int, tuple[Mapping[str, Any], int]],
        now: datetime,
        *,
        each_rule_its_own: bool,
    ) -> None:
        """Read the recent dry runs of the rules of ``rows`` not known yet (or not known far enough back).
        Each rule as far back as its own versions look, or all as far as the longest of them: the same
        counts either way, since the gate never looks past a version's own window."""
        needed: dict[int, datetime] = {}
        if each_rule_its_own:
            for row in rows:
                version = versions.get(row.fire_id)
                span = self._longest(version[0]) if version else timedelta(minutes=5)
                needed[row.rule_id] = min(needed.get(row.rule_id, now), now - span)
        else:
            longest = max((self._longest(d) for d, _ in versions.values()), default=timedelta(minutes=5))
            needed = {row.rule_id: now - longest for row in rows}
        stale = {rule: since for rule, since in needed.items() if rule not in self.since or since < self.since[rule]}
        if not stale:
            return
        for rule in stale:  # known, but not far enough back: read again from the start
            if rule in self.since:
                self._forget(rule)
        self._take(now, RuleDispatch.rule_id.in_(stale), RuleDispatch.dispatched_at >= min(stale.values()))
        self.since.update(stale)

    def catch_up(
        self, rows: Sequence[Pending], versions: Mapping[int, tuple[Mapping[str, Any], int]], now: datetime
    ) -> None:
        """Before a batch: what other sessions recorded since the last look, then the rules new to this run."""
        if self.since:
            self._take(now, RuleDispatch.rule_id.in_(self.since), RuleDispatch.id > self.seen, by_id=True)
        self.load(rows, versions, now, each_rule_its_own=True)

    def _take(self, now: datetime, *where: ColumnElement[bool], by_id: bool = False) -> None:
        """Remember the recorded dry runs ``where`` says, oldest first, except the ones this gate wrote itself.
        ``by_id``: what other sessions wrote since the last look, in the order written, which may be older than
        what this run remembers already."""
        for rule_id, target_key, fire_id, when, ident in self.session.execute(
            select(
                RuleDispatch.rule_id,
                RuleDispatch.target_key,
                RuleDispatch.fire_id,
                RuleDispatch.dispatched_at,
                RuleDispatch.id,
            )
            .where(RuleDispatch.dry_run.is_(True), RuleDispatch.state == "dry_run", *where)
            .order_by(RuleDispatch.id if by_id else RuleDispatch.dispatched_at)
        ):
            self.seen = max(self.seen, ident)
            if ident not in self.own:
                self._remember(rule_id, target_key, fire_id, when or now, keep_order=by_id)

    def written(self, ids: Iterable[int]) -> None:
        """The ids of the rows just written for what ``add`` remembered: not counted again when read back."""
        self.own.update(ids)

    def _forget(self, rule_id: int) -> None:
        self.times.pop(rule_id, None)
        for key in [k for k in self.targets if k[0] == rule_id]:
            del self.targets[key]
        for fired in [k for k in self.same_fire if k[0] == rule_id]:
            del self.same_fire[fired]
        del self.since[rule_id]

    def _remember(
        self, rule_id: int, target_key: str, fire_id: int, when: datetime, *, keep_order: bool = False
    ) -> None:
        if keep_order:  # another session's row may be older than what this run recorded since
            insort(self.times.setdefault(rule_id, []), when)
            insort(self.targets.setdefault((rule_id, target_key), []), when)
        else:
            self.times.setdefault(rule_id, []).append(when)
            self.targets.setdefault((rule_id, target_key), []).append(when)
        self.same_fire[(rule_id, target_key, fire_id)] += 1

    def recent(self, row: Pending, *, cooldown_since: datetime, window_since: datetime) -> tuple[int, int]:
        times = self.times.get(row.rule_id, [])
        targeted = self.targets.get((row.rule_id, row.target_key), [])
        # Everything of this fire is in this batch, recorded now: inside any cooldown, so subtract it whole.
        on_target = len(targeted) - bisect_left(targeted, cooldown_since)
        on_target = max(0, on_target - self.same_fire[(row.rule_id, row.target_key, row.fire_id)])
        return on_target, len(times) - bisect_left(times, window_since)

    def add(self, row: Pending, when: datetime) -> None:
        self._remember(row.rule_id, row.target_key, row.fire_id, when, keep_order=True)


def _trip(session: Session, tenant_id: int, rule: Rule, limit: int, window: timedelta) -> None:
    reason = (
        f"Circuit breaker: the rule dispatched {limit} actions within {window} and was paused so it cannot flood "
        "your tools. Check its History before enabling it again."
    )
    session.commit()  # the breaker row first, then the pause, audited as Vectis's own action
    perform(
        "rule.pause",
        Target("rule", str(rule.id), rule.name),
        {"reason": reason, "notify_owner": True},
        actor=Actor.system(),
        surface="rule",
        session=session,
        tenant_id=tenant_id,
    )


def scan_time_based(session: Session, tenant_id: int, *, now: datetime | None = None) -> int:
    """The cron tick's half of the engine: each time-based rule's scan, written as events for that rule."""

    now = now or datetime.now(UTC)
    found = 0
    for rule in active_rules(session, tenant_id):
        scan = SCANS.get(rule.trigger.key)
        if scan is None:
            continue
        events = scan(session, tenant_id, rule.rule_id, rule.definition.get("params") or {}, now)
        emit(session, events)
        found += len(events)
    session.commit()
    return found


# --- trying a definition without saving it ------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    event: Event
    explanation: conditions.Explanation
    in_scope: bool
    steps: list[dict[str, Any]]

    @property
    def would_fire(self) -> bool:
        return self.in_scope and self.explanation.result is True


def trial(
    session: Session,
    tenant_id: int,
    definition: Mapping[str, Any],
    events: Sequence[Event],
    *,
    now: datetime | None = None,
) -> list[Trial]:
    """Events through a draft definition: each leaf's value and result per event and, where it would fire,
    the calls its actions would make. Writes nothing: "Test on recent events" and the backtest."""
    now = now or datetime.now(UTC)
    rule = prepare(0, 0, name="draft", mode=RuleMode.DRY_RUN.value, version=0, definition=definition, cache=False)
    customers = customer_fields(session, (e.customer_id for e in events))
    resolve = Resolver(session, customers, now, as_of_event=True)
    lookups = Lookups(session)
    out = []
    for event in events:
        if event.trigger != rule.trigger.key:
            continue
        record = record_of(event, customers)
        explanation = rule.check.explain(record, resolve, now)
        in_scope = rule.covers(event, record)
        decision = (
            decide(lookups, rule, event, record=record, resolve=resolve, now=now)
            if explanation.result and in_scope
            else None
        )
        out.append(Trial(event, explanation, in_scope, decision.steps if decision else []))
    return out
