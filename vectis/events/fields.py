"""The fields of a triggering record: what a rule's conditions can test and a trigger's parameters are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One field of a triggering record that conditions can test."""

    key: str  # "job.state"
    label: str  # "Job state"
    type: str  # "text" | "number" | "date" | "enum" | "boolean"
    choices: tuple[tuple[str, str], ...] = ()  # enum: (value, label)
