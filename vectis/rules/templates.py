"""Rules → Browse templates: common MSP rules, each saved as a new rule in dry-run for its author to adjust."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    definition: dict[str, Any]


def _all(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "group", "match": "all", "items": list(items)}


TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        Template(
            "backup_stale_ticket",
            "Backup stale → open a ticket",
            "No successful backup for a job or connector within 48 hours (Veeam or Keepit) opens a ticket for the "
            "customer, unless one was opened in the last 24 hours.",
            {
                "trigger": "backup.stale",
                "params": {"threshold_hours": 48},
                "conditions": _all({"type": "predicate", "name": "no_open_ticket", "params": {"hours": 24}}),
                "actions": [
                    {
                        "type": "create_ticket",
                        "params": {
                            "summary": "Backup stale: {job.name}",
                            "description": "{title}. Source: {source}. Last success: {job.last_success_at}.",
                        },
                    }
                ],
                "cooldown_minutes": 24 * 60,
            },
        ),
        Template(
            "backup_failed_three_times",
            "Backup failed 3 runs in a row → open a ticket",
            "A job that failed three runs in a row opens a ticket, once per day per customer.",
            {
                "trigger": "backup.failed",
                "conditions": _all({"type": "leaf", "field": "job.consecutive_failures", "op": "gte", "value": 3}),
                "actions": [
                    {
                        "type": "create_ticket",
                        "params": {
                            "summary": "Backup failing: {job.name} ({job.consecutive_failures} runs in a row)",
                            "description": "{title}. Vendor message: {job.message}",
                        },
                    }
                ],
                "cooldown_minutes": 24 * 60,
            },
        ),
        Template(
            "critical_alert_ticket",
            "Critical alert with no open ticket → create a ticket",
            "A critical alert for a customer with no ticket opened in the last 24 hours creates one, linked to the alert.",
            {
                "trigger": "alert.created",
                "conditions": _all(
                    {"type": "leaf", "field": "alert.severity", "op": "is", "value": "critical"},
                    {"type": "predicate", "name": "no_open_ticket", "params": {"hours": 24}},
                ),
                "actions": [
                    {"type": "create_ticket", "params": {"summary": "{title}", "description": "{alert.message}"}}
                ],
                "cooldown_minutes": 60,
            },
        ),
        Template(
            "critical_rmm_alert_ticket",
            "Critical RMM alert with no open ticket → create a ticket",
            "A critical alert from the RMM (NinjaOne) on a customer's device, when the customer has no ticket opened in "
            "the last 24 hours, creates one, linked to the alert.",
            {
                "trigger": "rmm.alert_created",
                "conditions": _all(
                    {"type": "leaf", "field": "alert.severity", "op": "is", "value": "critical"},
                    {"type": "predicate", "name": "no_open_ticket", "params": {"hours": 24}},
                ),
                "actions": [
                    {
                        "type": "create_ticket",
                        "params": {"summary": "{title}", "description": "{device.name}: {alert.message}"},
                    }
                ],
                "cooldown_minutes": 60,
            },
        ),
        Template(
            "high_severity_detection_ticket",
            "High-severity detection with no matching ticket → create a ticket",
            "A critical or high detection from endpoint security (SentinelOne, ESET, Huntress or Defender), when the customer has no ticket opened in "
            "the last 24 hours and no false positive suppresses it, creates a ticket on the customer's usual board at "
            "an urgent priority.",
            {
                "trigger": "security.detection_created",
                "conditions": _all(
                    {
                        "type": "group",
                        "match": "any",
                        "items": [
                            {"type": "leaf", "field": "detection.severity", "op": "is", "value": "critical"},
                            {"type": "leaf", "field": "detection.severity", "op": "is", "value": "high"},
                        ],
                    },
                    {"type": "predicate", "name": "no_open_ticket", "params": {"hours": 24}},
                    {"type": "predicate", "name": "no_suppression", "params": {}},
                ),
                "actions": [
                    {
                        "type": "create_ticket",
                        "params": {
                            "summary": "{title}",
                            "description": "{source} reports {detection.title} ({detection.classification}, "
                            "{detection.severity}) on {device.name}. Isolate, resolve or mark it a false positive "
                            "from the customer's Security tab in Vectis.",
                        },
                    }
                ],
                "cooldown_minutes": 60,
            },
        ),
        Template(
            "waiting_ticket_close",
            "Ticket waiting 7+ days → note and close",
            "A ticket left in a waiting status for seven days gets an internal note and is closed.",
            {
                "trigger": "ticket.idle",
                "params": {"days": 7},
                "conditions": _all({"type": "leaf", "field": "ticket.status", "op": "contains", "value": "waiting"}),
                "actions": [
                    {
                        "type": "add_ticket_note",
                        "params": {
                            "text": "Closed by Vectis after {ticket.days_unchanged} days waiting with no reply.",
                            "internal": True,
                        },
                    },
                    {"type": "update_ticket_status", "params": {"status": "Closed"}},
                ],
                "cooldown_minutes": 60,
            },
        ),
        Template(
            "backup_stale_alert",
            "Backup stale → alert",
            "The Keepit guide's Alerts → New rule → Backup Stale: no successful backup within the threshold raises a "
            "warning alert on the Alerts page.",
            {
                "trigger": "backup.stale",
                "params": {"threshold_hours": 48},
                "conditions": _all(),
                "actions": [
                    {"type": "create_alert", "params": {"severity": "warning", "message": "{title}"}},
                ],
                "cooldown_minutes": 0,
            },
        ),
    )
}
