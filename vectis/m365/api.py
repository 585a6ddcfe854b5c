"""A customer's Microsoft 365 posture on the REST API (and so as an MCP tool): the four panels of its hub tab per
Entra tenant, each with its status (known, partial, unknown with the reason) and when it was read."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import Field
from sqlalchemy import select

from vectis.actions.resources import Call, Schema, operation
from vectis.m365 import queries
from vectis.models import Customer
from vectis.platform import public_ids

PanelState = Literal["known", "partial", "unknown", "never"]


class PanelStatus(Schema):
    state: PanelState = Field(description="known; partial (Graph said 206); unknown (see reason); never read yet")
    reason: str | None = Field(description="Why it is partial or unknown, in words (“needs Entra ID P1”)")
    as_of: datetime | None = Field(description="When what is shown was read")
    tried_at: datetime | None = Field(description="The last attempt (later than as_of when it failed)")


class DeviceOut(Schema):
    name: str
    os: str | None
    user: str | None
    failing_policies: list[str]
    last_sync_at: datetime | None


class IntuneOut(Schema):
    status: PanelStatus
    by_compliance: dict[str, int] = Field(description="Managed devices by Intune's complianceState")
    noncompliant: list[DeviceOut]


class ScoreDayOut(Schema):
    day: date
    score: float | None = Field(description="null: Microsoft kept no score that day")


class ActionOut(Schema):
    title: str
    gain: float = Field(description="Points still to win")


class SecureScoreOut(Schema):
    status: PanelStatus
    current: float | None
    max: float | None
    days: list[ScoreDayOut] = Field(description="The last 30 days, oldest first")
    top_actions: list[ActionOut]


class CoverageOut(Schema):
    label: str
    state: Literal["covered", "not_covered", "unknown"]
    detail: str


class PolicyOut(Schema):
    name: str
    state: str = Field(
        description="enabled | disabled | enabledForReportingButNotEnforced (report-only: never counted)"
    )
    controls: list[str]


class AccessOut(Schema):
    status: PanelStatus
    enforcing: int = Field(description="Enabled policies; report-only ones are not counted")
    coverage: list[CoverageOut]
    policies: list[PolicyOut]


class AdminOut(Schema):
    name: str
    user_principal_name: str | None
    roles: list[str]
    mfa_registered: bool | None = Field(description="null: the registration report does not list the user")


class MfaOut(Schema):
    status: PanelStatus
    registered: int
    not_registered: int
    admins: list[AdminOut]


class TenantOut(Schema):
    tenant_id: str = Field(description="The Entra tenant")
    name: str | None
    intune: IntuneOut
    secure_score: SecureScoreOut
    conditional_access: AccessOut
    admin_mfa: MfaOut


class PostureOut(Schema):
    customer_id: str
    tenants: list[TenantOut]


def _status(status: queries.Status) -> PanelStatus:
    return PanelStatus(
        state=status.state,  # type: ignore[arg-type]
        reason=status.reason,
        as_of=status.as_of,
        tried_at=status.tried_at,
    )


def _tenant(t: queries.TenantPosture, today: date) -> TenantOut:
    by_day = t.score.days
    days = [
        ScoreDayOut(day=d, score=by_day[d].current_score if d in by_day else None) for d in queries.spark_days(today)
    ]
    return TenantOut(
        tenant_id=t.tenant,
        name=t.name,
        intune=IntuneOut(
            status=_status(t.intune.status),
            by_compliance={state: n for state, _, n in t.intune.counts},
            noncompliant=[
                DeviceOut(
                    name=d.name,
                    os=d.os,
                    user=d.user_principal_name,
                    failing_policies=list(d.failing_policies),
                    last_sync_at=d.last_sync_at,
                )
                for d in t.intune.noncompliant
            ],
        ),
        secure_score=SecureScoreOut(
            status=_status(t.score.status),
            current=t.score.current,
            max=t.score.maximum,
            days=days,
            top_actions=[ActionOut(title=str(a.get("title")), gain=float(a.get("gain") or 0)) for a in t.score.actions],
        ),
        conditional_access=AccessOut(
            status=_status(t.access.status),
            enforcing=t.access.enforcing,
            coverage=[CoverageOut(label=c.label, state=c.state, detail=c.detail) for c in t.access.coverage],  # type: ignore[arg-type]
            policies=[
                PolicyOut(name=p.name, state=p.state, controls=list(p.controls))
                for _, _, listed in t.access.by_state
                for p in listed
            ],
        ),
        admin_mfa=MfaOut(
            status=_status(t.mfa.status),
            registered=t.mfa.registered,
            not_registered=t.mfa.not_registered,
            admins=[
                AdminOut(
                    name=a.name,
                    user_principal_name=a.user_principal_name,
                    roles=list(a.roles),
                    mfa_registered=a.mfa_registered,
                )
                for a in t.mfa.admins
            ],
        ),
    )


@operation(
    "GET", "/customers/{customer_id}/m365", scope="read", summary="A customer's Microsoft 365 posture",
    tag="Microsoft 365", response=PostureOut, tool="get_m365_posture",
)  # fmt: skip
def customer_m365(call: Call, customer_id: int) -> PostureOut:
    """Per Entra tenant linked to the customer (or its sites): Intune compliance, Secure Score with its last 30 days,
    Conditional Access coverage (covered / not covered / unknown with the reason; report-only policies never count)
    and admins' MFA registration, each with when it was read."""
    customer = call.get(Customer, customer_id, "customer")
    family = [customer.id, *call.session.scalars(select(Customer.id).where(Customer.parent_id == customer.id))]
    today = datetime.now(UTC).date()
    tenants = queries.tab(call.session, family, today)
    return PostureOut(
        customer_id=public_ids.encode("customer", customer.id), tenants=[_tenant(t, today) for t in tenants]
    )
