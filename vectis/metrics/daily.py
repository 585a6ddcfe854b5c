"""Each customer's day, computed from what the syncs stored: ``daily_metrics`` and ``sla_snapshots``.

One statement computes a span of days for every customer of the bound tenant and upserts both tables, so a day
computed again (the nightly job redoes yesterday, a backfill redoes a quarter) replaces its rows and never adds
any. Every customer gets a row for every day, zeros included.

A day is a UTC calendar day for every tenant: tenants have no time zone of their own yet, and one fixed day keeps
each row comparable with every other. A tenant's zone would shift these boundaries, not the definitions.

Definitions (per customer and day; tickets, runs and alerts of no customer count nowhere):

- ``tickets_opened``: tickets opened that day; ``tickets_closed``: closed that day; ``tickets_open_at_end``:
  opened before the day ended and not closed by then. A ticket's close is its ``closed_at``; a ticket flagged
  closed without one closed when the PSA last changed it; a reopened ticket (not closed now) is open.
- ``backup_runs``: runs of the customer's backup jobs that started that day and finished with an outcome
  (success, warning, failed). A run still going, stopped by someone (Veeam "Idle", Keepit "cancelled") or of an
  unknown state says nothing about whether a backup was made, so it counts neither way.
- ``backup_runs_succeeded``: of those, success or **warning**. Veeam's warning means the job completed and made
  its restore point with something to look at (vendor-apis.md: the last success is the last Success or Warning),
  which is how Vectis already reads it (``last_success_at``, the failure streak). ``backup_runs_warning`` counts
  them apart, so a stricter rate is one subtraction away.
- ``backup_success_rate``: succeeded / runs × 100, two decimals; None on a day with no run (not 0%).
- ``alerts_opened``: alerts first seen that day.

SLA snapshot: the tickets alive that day (open at any time of it, or closed on it), each classified by the PSA's
own word (ConnectWise's ``isInSla``): ``tickets_in_sla``, ``tickets_out_of_sla`` (breached), and
``tickets_without_sla`` (no SLA, or a PSA that does not say). ``in_sla_rate`` is in / (in + out) × 100, None when
no ticket was under an SLA. The PSA's word is its current one: computed on the day (the nightly job), a snapshot
keeps the state of that day; a backfill of past days applies today's word to them (a ticket that breached last
week counts out of SLA on the days before too), which the vendor's data cannot tell apart. The day's own events
are exact: ``tickets_responded`` and ``tickets_resolved`` (first response, resolution that day),
``tickets_resolved_out_of_sla`` (resolved that day having missed the SLA: final, as a resolved ticket's word is),
and ``tickets_awaiting_response`` (under an SLA, open at the day's end, not responded to by then).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

DAY = timedelta(days=1)
MAX_DAYS = 3660  # a backfill of ten years is already more than any PSA keeps

_COMPUTE = text(
    """
    WITH days AS (
      SELECT day, day::timestamp AT TIME ZONE 'UTC' AS starts, (day + 1)::timestamp AT TIME ZONE 'UTC' AS ends
        FROM (SELECT CAST(:first AS date) + n AS day FROM generate_series(0, :span - 1) AS n) AS g
    ),
    grid AS (
      SELECT c.tenant_id, c.id AS customer_id, d.day FROM customers c CROSS JOIN days d WHERE c.tenant_id = :tenant
    ),
    alive AS (  -- tickets of a customer open at some moment of the span
      SELECT t.customer_id, t.opened_at, t.sla_name, t.in_sla, t.responded_at, t.resolved_at,
             CASE WHEN t.closed THEN coalesce(t.closed_at, t.vendor_updated_at) END AS ended
        FROM tickets t
       WHERE t.tenant_id = :tenant AND t.customer_id IS NOT NULL AND t.opened_at < :ends
         AND NOT (t.closed AND coalesce(t.closed_at, t.vendor_updated_at) < :starts)
    ),
    ticket_days AS (  -- each ticket on each day it was open at some moment of
      SELECT a.customer_id, d.day,
             count(*) FILTER (WHERE a.opened_at >= d.starts) AS opened,
             count(*) FILTER (WHERE a.ended >= d.starts AND a.ended < d.ends) AS closed,
             count(*) FILTER (WHERE a.ended IS NULL OR a.ended >= d.ends) AS open_at_end,
             count(*) FILTER (WHERE a.sla_name IS NOT NULL AND a.in_sla) AS in_sla,
             count(*) FILTER (WHERE a.sla_name IS NOT NULL AND NOT a.in_sla) AS out_of_sla,
             count(*) FILTER (WHERE a.sla_name IS NULL OR a.in_sla IS NULL) AS without_sla,
             count(*) FILTER (WHERE a.responded_at >= d.starts AND a.responded_at < d.ends) AS responded,
             count(*) FILTER (WHERE a.resolved_at >= d.starts AND a.resolved_at < d.ends) AS resolved,
             count(*) FILTER (WHERE a.resolved_at >= d.starts AND a.resolved_at < d.ends
                                AND a.sla_name IS NOT NULL AND NOT a.in_sla) AS resolved_out_of_sla,
             count(*) FILTER (WHERE a.sla_name IS NOT NULL AND (a.ended IS NULL OR a.ended >= d.ends)
                                AND (a.responded_at IS NULL OR a.responded_at >= d.ends)) AS awaiting_response
        FROM alive a JOIN days d ON a.opened_at < d.ends AND (a.ended IS NULL OR a.ended >= d.starts)
       GROUP BY a.customer_id, d.day
    ),
    backup_days AS (
      SELECT j.customer_id, (r.started_at AT TIME ZONE 'UTC')::date AS day, count(*) AS runs,
             count(*) FILTER (WHERE r.state IN ('success', 'warning')) AS succeeded,
             count(*) FILTER (WHERE r.state = 'warning') AS warning
        FROM backup_connectors j
        JOIN backup_runs r ON r.backup_connector_id = j.id AND r.tenant_id = :tenant
                          AND r.started_at >= :starts AND r.started_at < :ends
                          AND r.state IN ('success', 'warning', 'failed')
       WHERE j.tenant_id = :tenant AND j.customer_id IS NOT NULL
       GROUP BY j.customer_id, day
    ),
    alert_days AS (
      SELECT customer_id, (first_seen_at AT TIME ZONE 'UTC')::date AS day, count(*) AS opened
        FROM alerts
       WHERE tenant_id = :tenant AND customer_id IS NOT NULL AND first_seen_at >= :starts AND first_seen_at < :ends
       GROUP BY customer_id, day
    ),
    metrics AS (
      INSERT INTO daily_metrics AS m (tenant_id, customer_id, day, tickets_opened, tickets_closed, tickets_open_at_end,
                                      backup_runs, backup_runs_succeeded, backup_runs_warning, backup_success_rate,
                                      alerts_opened, computed_at)
      SELECT g.tenant_id, g.customer_id, g.day, coalesce(t.opened, 0), coalesce(t.closed, 0),
             coalesce(t.open_at_end, 0), coalesce(b.runs, 0), coalesce(b.succeeded, 0), coalesce(b.warning, 0),
             round(100.0 * b.succeeded / nullif(b.runs, 0), 2), coalesce(a.opened, 0), now()
        FROM grid g
        LEFT JOIN ticket_days t ON t.customer_id = g.customer_id AND t.day = g.day
        LEFT JOIN backup_days b ON b.customer_id = g.customer_id AND b.day = g.day
        LEFT JOIN alert_days a ON a.customer_id = g.customer_id AND a.day = g.day
      ON CONFLICT (tenant_id, customer_id, day) DO UPDATE SET
        tickets_opened = excluded.tickets_opened, tickets_closed = excluded.tickets_closed,
        tickets_open_at_end = excluded.tickets_open_at_end, backup_runs = excluded.backup_runs,
        backup_runs_succeeded = excluded.backup_runs_succeeded, backup_runs_warning = excluded.backup_runs_warning,
        backup_success_rate = excluded.backup_success_rate, alerts_opened = excluded.alerts_opened,
        computed_at = excluded.computed_at
      RETURNING 1
    ),
    snapshots AS (
      INSERT INTO sla_snapshots AS s (tenant_id, customer_id, day, tickets_in_sla, tickets_out_of_sla,
                                      tickets_without_sla, in_sla_rate, tickets_responded, tickets_resolved,
                                      tickets_resolved_out_of_sla, tickets_awaiting_response, computed_at)
      SELECT g.tenant_id, g.customer_id, g.day, coalesce(t.in_sla, 0), coalesce(t.out_of_sla, 0),
             coalesce(t.without_sla, 0), round(100.0 * t.in_sla / nullif(t.in_sla + t.out_of_sla, 0), 2),
             coalesce(t.responded, 0), coalesce(t.resolved, 0), coalesce(t.resolved_out_of_sla, 0),
             coalesce(t.awaiting_response, 0), now()
        FROM grid g LEFT JOIN ticket_days t ON t.customer_id = g.customer_id AND t.day = g.day
      ON CONFLICT (tenant_id, customer_id, day) DO UPDATE SET
        tickets_in_sla = excluded.tickets_in_sla, tickets_out_of_sla = excluded.tickets_out_of_sla,
        tickets_without_sla = excluded.tickets_without_sla, in_sla_rate = excluded.in_sla_rate,
        tickets_responded = excluded.tickets_responded, tickets_resolved = excluded.tickets_resolved,
        tickets_resolved_out_of_sla = excluded.tickets_resolved_out_of_sla,
        tickets_awaiting_response = excluded.tickets_awaiting_response, computed_at = excluded.computed_at
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM metrics) AS metrics, (SELECT count(*) FROM snapshots) AS snapshots
    """
)


@dataclass(frozen=True)
class Computed:
    first: date
    last: date
    rows: int  # customer-days written to each table


def today() -> date:
    return datetime.now(UTC).date()


def compute_days(session: Session, first: date, last: date) -> Computed:
    """Every customer's ``first`` .. ``last`` (inclusive) for the tenant ``session`` is bound to, upserted."""
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        raise RuntimeError("metrics are computed in a tenant's session (db.tenant_session)")
    span = (last - first).days + 1
    if not 1 <= span <= MAX_DAYS:
        raise ValueError(f"compute between 1 and {MAX_DAYS} days, not {first} .. {last}")
    starts = datetime.combine(first, time(), UTC)
    written = session.execute(
        _COMPUTE,
        {"tenant": tenant_id, "first": first, "span": span, "starts": starts, "ends": starts + span * DAY},
    ).one()
    return Computed(first, last, int(written.metrics))


def compute_day(session: Session, day: date) -> Computed:
    return compute_days(session, day, day)


def backfill(session: Session, days: int, *, until: date | None = None) -> Computed:
    """The last ``days`` days up to ``until`` (today, UTC), in one statement: what a new workspace or the demo
    needs so trend questions have rows from its first day."""
    last = until or today()
    return compute_days(session, last - (days - 1) * DAY, last)
