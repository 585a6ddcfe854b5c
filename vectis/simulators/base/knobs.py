"""Fault knobs shared by every simulator: one dataclass of knobs per simulator, settable from Python or as
an RFC 7386 JSON merge patch over ``POST /_sim/faults``, with each knob's type checked."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

Json = dict[str, Any]
Rule = tuple[Callable[[Any], bool], str, Callable[[Any], Any]]  # check, what is expected, convert


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


BOOL: Rule = (lambda v: isinstance(v, bool), "true or false", bool)
COUNT: Rule = (is_count, "a non-negative integer", int)
SECONDS: Rule = (lambda v: is_count(v) or (isinstance(v, float) and v >= 0), "a non-negative number of seconds", float)


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = json_merge_patch(merged.get(key), value)
    return merged


class FaultKnobs:
    """Base of a simulator's ``Faults`` dataclass; ``RULES`` names each knob's check.

    Every simulator has the three knobs below, which :class:`~vectis.simulators.base.SimState` reads
    (``throttled()``, ``pace()``); each ``Faults`` declares them as fields where its JSON wants them."""

    RULES: ClassVar[dict[str, Rule]] = {}

    rate_limit_per_second: int  # 0: no throttling
    latency: float  # seconds added to every request
    hang: float  # seconds to sleep before answering, to trip client timeouts

    def to_json(self) -> Json:
        out: Json = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.asdict(value)
            elif isinstance(value, dict | list):
                value = type(value)(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Build from JSON, refusing unknown knobs and wrong types (ValueError says which)."""
        defaults = cls()
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name in known:
            value = data.get(name)
            if value is None:
                values[name] = getattr(defaults, name)
                continue
            check, expected, convert = cls.RULES[name]
            if not check(value):
                raise ValueError(f"{name} must be {expected}")
            values[name] = convert(value)
        return cls(**values)

    def merged(self, patch: Mapping[str, Any]) -> Self:
        """These knobs with ``patch`` (a JSON merge patch) applied, checked as :meth:`from_json` does."""
        return self.from_json(json_merge_patch(self.to_json(), dict(patch)))


# --- the malformed-page knob ---------------------------------------------------------------------------


def malformed_page_rule(
    kind: type[Any], selector: str, *, example: str, prefix: str = "", default: int | None = None, strict: bool = True
) -> Rule:
    """The rule of a malformed-page knob: ``kind`` is the simulator's dataclass of a ``path`` and one
    selector field (``offset``, ``page``: which page is cut off; ``None``, all of them), built positionally.
    From JSON, an object whose ``path`` is a string, with the API base ``prefix`` taken off and one leading
    ``/``; the selector is a count, or left out for ``default``. ``strict`` refuses other keys (otherwise
    they are ignored)."""

    def check(value: Any) -> bool:
        if isinstance(value, kind):
            return True
        if not isinstance(value, dict) or not isinstance(value.get("path"), str):
            return False
        if strict and set(value) - {"path", selector}:
            return False
        chosen = value.get(selector, default)
        return (chosen is None and default is None) or is_count(chosen)

    def convert(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        return kind("/" + value["path"].removeprefix(prefix).lstrip("/"), value.get(selector, default))

    return (check, example, convert)
