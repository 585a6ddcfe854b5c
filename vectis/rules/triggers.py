"""The catalog of triggers a rule can use: every category's own (``vectis/events/triggers.py`` says why they
live with their capability)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from vectis.alerts import triggers as alert_triggers
from vectis.backups import triggers as backup_triggers
from vectis.events.fields import Field
from vectis.events.triggers import Trigger
from vectis.licensing import triggers as licensing_triggers
from vectis.m365 import triggers as m365_triggers
from vectis.security import triggers as security_triggers
from vectis.tickets import triggers as ticket_triggers

CATEGORY_TRIGGERS = (
    *backup_triggers.TRIGGERS,
    *ticket_triggers.TRIGGERS,
    *alert_triggers.TRIGGERS,
    *security_triggers.TRIGGERS,
    *licensing_triggers.TRIGGERS,
    *m365_triggers.TRIGGERS,
)


def catalog() -> dict[str, Trigger]:
    """Every trigger, by key."""
    return {t.key: t for t in CATEGORY_TRIGGERS}


@cache
def field_maps() -> Mapping[str, Mapping[str, Field]]:
    """Each trigger's fields by key, built once: filling an action's texts asks for them on every fire."""
    return MappingProxyType({t.key: MappingProxyType(t.field_map) for t in CATEGORY_TRIGGERS})


def get(key: str) -> Trigger:
    try:
        return catalog()[key]
    except KeyError:
        raise LookupError(f"No trigger called {key!r}.") from None
