"""Acknowledge or resolve many alerts at once: one ``perform()`` per alert, so each has its own audit row and
its own outcome, and one summary in words for the person who asked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.actions import Actor, Target, perform
from vectis.models import Alert

ACTIONS = {
    "acknowledge": ("alert.acknowledge", "Acknowledged", "acknowledged"),
    "resolve": ("alert.resolve", "Resolved", "resolved"),
}
MOST = 200  # a page of the list


@dataclass
class Summary:
    action: str
    done: int = 0
    failed: dict[str, list[str]] = field(default_factory=dict)  # why -> the alerts it stopped
    missing: int = 0

    @property
    def category(self) -> str:
        """The flash's colour: all done, some done, none done."""
        if not self.failed and not self.missing:
            return "ok"
        return "warn" if self.done else "error"

    @property
    def message(self) -> str:
        _, did, passive = ACTIONS[self.action]
        parts = [
            f"{did} {self.done} alert{'' if self.done == 1 else 's'}." if self.done else f"No alert was {passive}."
        ]
        if self.done and self.action == "resolve":
            parts.append("A backup job whose next run still has the problem opens a new alert.")
        for why, labels in self.failed.items():
            names = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
            parts.append(f"Not {passive}: {names}: {why}")
        if self.missing:
            parts.append(f"{self.missing} no longer exist{'s' if self.missing == 1 else ''}: reload the page.")
        return " ".join(parts)


def act(session: Session, action: str, alert_ids: Iterable[int], *, actor: Actor, surface: str) -> Summary:
    """``action`` ("acknowledge" or "resolve") on each of ``alert_ids`` that this workspace can see."""
    verb = ACTIONS[action][0]
    wanted = list(dict.fromkeys(alert_ids))[:MOST]
    found = dict(session.execute(select(Alert.id, Alert.subject_label).where(Alert.id.in_(wanted))).all())
    summary = Summary(action, missing=len(wanted) - len(found))
    for alert_id in wanted:
        if alert_id not in found:
            continue
        outcome = perform(verb, Target("alert", str(alert_id), found[alert_id]), {}, actor=actor, surface=surface)
        if outcome.ok:
            summary.done += 1
        else:
            summary.failed.setdefault(outcome.message, []).append(found[alert_id])
    return summary
