"""Every verb, by name. A capability registers its verbs with :func:`register` in its own ``verbs`` module;
``vectis/capabilities.py`` imports those modules, so the list of verbs is the list of capabilities."""

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
