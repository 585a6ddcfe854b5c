"""Writing rule events: in the caller's transaction, next to the change that caused them, deduplicated by
key, so a sync page read twice or a callback replayed never makes a second event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from vectis.models import RETENTION_DAYS, RetentionPolicy, RuleEvent
from vectis.platform.bulk import upsert


class Event(Protocol):
    """What the engine reads of an event: a stored ``RuleEvent``, a row of its columns, or a finding
    not stored (a draft's backtest)."""

    @property
    def id(self) -> int: ...
    @property
    def trigger(self) -> str: ...
    @property
    def customer_id(self) -> int | None: ...
    @property
    def connection_id(self) -> int | None: ...
    @property
    def subject_type(self) -> str: ...
    @property
    def subject_id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def rule_id(self) -> int | None: ...
    @property
    def occurred_at(self) -> datetime: ...


# The rule whose action is running now, if any: the events it causes carry it, so that rule is not
# triggered again by its own doing (engine.decide).
ORIGIN: ContextVar[int | None] = ContextVar("vectis_rule_origin", default=None)


def horizon(session: Session, tenant_id: int, now: datetime | None = None) -> datetime:
    """The oldest moment an event may have: older ones are past the workspace's rule-activity retention.
    The nightly purge deletes events (and their dedup keys) beyond it, so a resync of old history must not
    make them again, or rules would act twice on facts months old."""
    unset = session.info.setdefault(_UNSET, set())
    policy = None if tenant_id in unset else session.get(RetentionPolicy, tenant_id)
    if policy is None:
        # Asked once per session, as a policy found is (the session keeps it): a sync asked again for every page's
        # part, one round trip each on a lane that waited for it.
        unset.add(tenant_id)
    days = policy.rule_activity_days if policy is not None else RETENTION_DAYS["rule_activity_days"][0]
    return (now or datetime.now(UTC)) - timedelta(days=days)


_UNSET = "vectis.events.no_retention_policy"  # session.info: the workspaces found with no policy of their own


@event.listens_for(RetentionPolicy, "after_insert")
def _policy_set(_mapper: Any, _connection: Any, policy: RetentionPolicy) -> None:
    session = object_session(policy)
    if session is not None:
        session.info.get(_UNSET, set()).discard(policy.tenant_id)


def emit(session: Session, events: Sequence[Mapping[str, Any]]) -> None:
    """Each event: tenant_id, trigger, customer_id, connection_id, subject_type, subject_id, title, data,
    rule_id (time-based triggers only), dedup_key, occurred_at. Events older than the retention horizon
    are not written."""
    horizons = {t: horizon(session, t) for t in {e["tenant_id"] for e in events}}
    events = [e for e in events if e["occurred_at"] >= horizons[e["tenant_id"]]]
    if not events:
        return
    rows = [{**e, "data": stamped(e["data"]), "rule_id": e.get("rule_id")} for e in events]
    upsert(
        session.connection(),
        RuleEvent.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "dedup_key"),
    )


def stamped(data: Mapping[str, Any]) -> dict[str, Any]:
    """An event's ``data`` as it is stored: its moments as text, and the rule whose action caused it (:data:`ORIGIN`)."""
    origin = ORIGIN.get()
    return json_safe({**data, "origin.rule_id": origin} if origin is not None else data)


def row(
    tenant_id: int,
    trigger: str,
    *,
    customer_id: int | None,
    connection_id: int | None,
    subject: tuple[str, int],
    title: str,
    data: Mapping[str, Any],
    dedup_key: str,
    occurred_at: datetime,
    rule_id: int | None = None,
) -> dict[str, Any]:
    """One event as ``emit`` takes it."""
    return {
        "tenant_id": tenant_id,
        "trigger": trigger,
        "customer_id": customer_id,
        "connection_id": connection_id,
        "subject_type": subject[0],
        "subject_id": subject[1],
        "title": title[:500],
        "data": data,
        "rule_id": rule_id,
        "dedup_key": dedup_key[:300],
        "occurred_at": occurred_at,
    }


def json_safe(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def hours_between(earlier: datetime | None, later: datetime) -> float | None:
    return None if earlier is None else round((later - earlier).total_seconds() / 3600, 1)
