"""Rules (trigger + conditions + actions + scope, versioned), the durable events they evaluate, and what
each evaluation decided and dispatched (a rule's History)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, Integer, String, Text, false, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column


class RuleMode(StrEnum):
    DRY_RUN = "dry_run"  # every new rule: evaluated and recorded, nothing dispatched
    LIVE = "live"
    PAUSED = "paused"  # by a person, or by the circuit breaker (paused_reason says which)


class Rule(TenantOwned, Base):
    __tablename__ = "rules"
    __table_args__ = (Index("ix_rules_tenant_id_mode", "tenant_id", "mode"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    mode: Mapped[str] = mapped_column(String(20), nullable=False, server_default=RuleMode.DRY_RUN.value)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")  # the current one
    trigger: Mapped[str] = mapped_column(String(60), nullable=False)  # copied from the current version
    owner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    paused_reason: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class RuleVersion(TenantOwned, Base):
    """What a rule was at one version. Never changed: an edit writes the next version."""

    __tablename__ = "rule_versions"
    __table_args__ = (
        Index("ix_rule_versions_tenant_id_rule_id_version", "tenant_id", "rule_id", "version", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rules.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # {"trigger", "params", "conditions", "actions", "scope", "cooldown_minutes", "breaker": {"limit", "minutes"}}
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str] = mapped_column(String(320), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    restored_from: Mapped[int | None] = mapped_column(Integer)  # the earlier version this one is a copy of


class RuleEvent(TenantOwned, Base):
    """Something a rule can trigger on, written in the same transaction as the change that caused it.
    Evaluation claims rows with FOR UPDATE SKIP LOCKED, so a lost queue job never loses an event."""

    __tablename__ = "rule_events"
    __table_args__ = (
        Index("ix_rule_events_tenant_id_dedup_key", "tenant_id", "dedup_key", unique=True),
        Index("ix_rule_events_pending", "tenant_id", "id", postgresql_where=text("evaluated_at IS NULL")),
        Index("ix_rule_events_tenant_id_trigger_occurred_at", "tenant_id", "trigger", "occurred_at"),
        Index("ix_rule_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),  # retention
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(60), nullable=False)  # backup.failed, ticket.opened, ...
    # Indexed for the foreign keys' own sake: deleting a customer must not scan every event.
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    connection_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("connections.id", ondelete="SET NULL"))
    subject_type: Mapped[str] = mapped_column(String(40), nullable=False)  # backup_job | ticket | alert | ...
    subject_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    # The triggering record's fields as the trigger declares them (JSON-safe), frozen at the event.
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    rule_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("rules.id", ondelete="CASCADE")
    )  # time-based: for one rule
    dedup_key: Mapped[str] = mapped_column(String(300), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class RuleFire(TenantOwned, Base):
    """One would-fire (dry-run) or fire (live) decision: the event, the version, every condition leaf with
    its value and result, and the exact payload of each action."""

    __tablename__ = "rule_fires"
    __table_args__ = (
        Index(
            "ix_rule_fires_tenant_id_rule_id_version_event_id",
            "tenant_id",
            "rule_id",
            "version",
            "event_id",
            unique=True,
        ),
        Index("ix_rule_fires_tenant_id_rule_id_created_at", "tenant_id", "rule_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rules.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # Indexed so that deleting events or customers (cascades) does not scan every fire.
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("rule_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    leaves: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class RuleDispatch(TenantOwned, Base):
    """One action of one fire. Its key (event × rule version × action) is unique, so a re-run of the
    evaluation never sends an action twice."""

    __tablename__ = "rule_dispatches"
    __table_args__ = (
        Index("ix_rule_dispatches_tenant_id_idempotency_key", "tenant_id", "idempotency_key", unique=True),
        Index("ix_rule_dispatches_tenant_id_rule_id_dispatched_at", "tenant_id", "rule_id", "dispatched_at"),
        Index("ix_rule_dispatches_tenant_id_rule_id_target_key", "tenant_id", "rule_id", "target_key", "dispatched_at"),
        Index("ix_rule_dispatches_pending", "tenant_id", "id", postgresql_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    fire_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("rule_fires.id", ondelete="CASCADE"), nullable=False, index=True
    )
    rule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rules.id", ondelete="CASCADE"), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False)
    verb: Mapped[str] = mapped_column(String(60), nullable=False)
    target: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    target_key: Mapped[str] = mapped_column(String(120), nullable=False)  # for the per (rule, target) cooldown
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    # pending -> sending -> ok | failed | queued | blocked (live), or dry_run (would have been sent);
    # or not sent at all: skipped (does not apply) | cooldown | breaker | paused
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    message: Mapped[str | None] = mapped_column(Text)
    audit_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at_column()
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
