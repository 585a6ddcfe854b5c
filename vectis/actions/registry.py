"""The explicit list of verbs. A verb is registered by importing its module here."""

from __future__ import annotations

from vectis.actions.base import Verb

VERBS: dict[str, Verb] = {}


def register(verb_class: type[Verb]) -> type[Verb]:
    if verb_class.name in VERBS:
        raise ValueError(f"verb {verb_class.name} is registered twice")
    VERBS[verb_class.name] = verb_class()
    return verb_class


def get(name: str) -> Verb:
    try:
        return VERBS[name]
    except KeyError:
        raise LookupError(f"unknown action {name!r}") from None


def load_all() -> None:
    from vectis.actions import (  # noqa: F401 - registers their verbs
        account,
        alerts,
        customers,
        integrations,
        matching,
        notes,
        rules,
        tickets,
        users,
    )
