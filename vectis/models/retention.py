"""How long a workspace keeps the operational data that grows with every sync (``vectis.retention``).

The audit log is the record and is never purged; neither are customers, tickets, backups or the timeline.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, PrimaryKeyConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vectis.models.base import Base, TenantOwned, created_at_column

# field -> (default days, fewest, most). A workspace without a row keeps the defaults.
RETENTION_DAYS: dict[str, tuple[int, int, int]] = {
    "rule_activity_days": (90, 30, 730),
    "sync_run_days": (90, 7, 730),
    "webhook_days": (30, 7, 365),
    "rejected_webhook_days": (7, 1, 90),
}


def _days(field: str) -> Mapped[int]:
    default = RETENTION_DAYS[field][0]
    return mapped_column(Integer, nullable=False, default=default, server_default=str(default))


class RetentionPolicy(TenantOwned, Base):
    __tablename__ = "retention_policies"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id"),
        *(
            CheckConstraint(f"{field} BETWEEN {low} AND {high}", name=f"{field}_in_range")
            for field, (_, low, high) in RETENTION_DAYS.items()
        ),
    )

    rule_activity_days: Mapped[int] = _days("rule_activity_days")  # rule events, with their fires and dispatches
    sync_run_days: Mapped[int] = _days("sync_run_days")  # sync runs and their logs
    webhook_days: Mapped[int] = _days("webhook_days")  # accepted vendor callbacks, once processed
    rejected_webhook_days: Mapped[int] = _days("rejected_webhook_days")  # callbacks whose signature failed
    updated_at: Mapped[datetime] = created_at_column()

    @classmethod
    def defaults(cls, tenant_id: int) -> RetentionPolicy:
        return cls(tenant_id=tenant_id, **{field: spec[0] for field, spec in RETENTION_DAYS.items()})
