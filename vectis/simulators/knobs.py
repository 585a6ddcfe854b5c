"""Fault knobs shared by every simulator: one dataclass of knobs per simulator, settable from Python or as
an RFC 7386 JSON merge patch over ``POST /_sim/faults``, with each knob's type checked."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, Self

from flask import Blueprint, Response, request

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
    """Base of a simulator's ``Faults`` dataclass; ``RULES`` names each knob's check."""

    RULES: ClassVar[dict[str, Rule]] = {}

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


class Controllable(Protocol):
    """What the shared ``/_sim`` endpoints need of a simulator's state."""

    @property
    def faults(self) -> FaultKnobs: ...

    def merge_faults(self, patch: Mapping[str, Any]) -> FaultKnobs: ...

    def reset(self) -> None: ...

    def stats(self) -> Json: ...


def add_fault_controls(controls: Blueprint, state: Callable[[], Controllable]) -> None:
    """``GET/POST /_sim/faults`` (a JSON merge patch), ``POST /_sim/reset`` and ``GET /_sim/stats``, the
    same for every simulator. ``state`` returns the simulator's state for the current request."""

    def reply(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body, separators=(",", ":")), status=status, content_type="application/json")

    @controls.get("/faults")
    def get_faults() -> Response:
        return reply(state().faults.to_json())

    @controls.post("/faults")
    def set_faults() -> Response:
        patch = request.get_json(silent=True)
        if not isinstance(patch, dict):
            return reply({"error": "send a JSON object: a merge patch (RFC 7386) of the fault knobs"}, 400)
        try:
            return reply(state().merge_faults(patch).to_json())
        except ValueError as error:
            return reply({"error": str(error)}, 400)

    @controls.post("/reset")
    def reset() -> Response:
        sim = state()
        sim.reset()
        return reply(sim.faults.to_json())

    @controls.get("/stats")
    def stats() -> Response:
        return reply(state().stats())
