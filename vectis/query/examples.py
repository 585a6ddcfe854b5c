"""Questions worth asking on day one: the demo saves them for its team, the docs and the benchmark ask them."""

from __future__ import annotations

from typing import Any, Final

RENEWALS_WITH_FAILING_BACKUPS: Final[dict[str, Any]] = {
    "base": "customers",
    "joins": [
        {"from": "customers", "to": "backup_jobs", "mode": "with"},
        {"from": "backup_jobs", "to": "backup_runs", "mode": "with"},
        {"from": "customers", "to": "contracts", "mode": "with"},
    ],
    "columns": [
        {"field": "customers.name"},
        {"field": "backup_runs.started_at", "agg": "max", "label": "Last backup failure"},
        {"field": "contracts.days_to_renewal", "agg": "min", "label": "Renews in (days)"},
        {"field": "contracts.monthly_value", "agg": "sum", "label": "Contract value"},
    ],
    "where": {
        "type": "group",
        "match": "all",
        "items": [
            {"type": "leaf", "field": "backup_runs.state", "op": "in", "value": ["failed"]},
            {"type": "leaf", "field": "backup_runs.started_at", "op": "last_days", "value": 30},
            {"type": "leaf", "field": "contracts.status", "op": "in", "value": ["active"]},
        ],
    },
    "sort": [{"column": 2, "dir": "asc"}],
    "limit": None,
}

FAILING_BACKUP_NO_OPEN_TICKET: Final[dict[str, Any]] = {
    "base": "customers",
    "joins": [
        {"from": "customers", "to": "backup_jobs", "mode": "with"},
        {"from": "customers", "to": "tickets", "mode": "without"},
    ],
    "columns": [
        {"field": "customers.name"},
        {"field": "backup_jobs.name"},
        {"field": "backup_jobs.last_attempt_at"},
        {"field": "backup_jobs.consecutive_failures"},
    ],
    "where": {
        "type": "group",
        "match": "all",
        "items": [
            {"type": "leaf", "field": "backup_jobs.state", "op": "in", "value": ["failed"]},
            {"type": "leaf", "field": "tickets.closed", "op": "is_false"},
        ],
    },
    "sort": [{"column": 3, "dir": "desc"}],
    "limit": None,
}

# (name, description, spec): what the demo's team finds under Queries.
SHARED: Final = (
    (
        "Renewals with failing backups",
        "Customers whose backup failed in the last 30 days, with when it last failed, days until their contract "
        "renews and what their contracts are worth a month: the calls to make before renewal.",
        RENEWALS_WITH_FAILING_BACKUPS,
    ),
    (
        "Failing backups with no open ticket",
        "Backup jobs that failed last time, at customers with no open ticket: nobody is on these yet.",
        FAILING_BACKUP_NO_OPEN_TICKET,
    ),
)
