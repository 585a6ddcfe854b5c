"""Who acts (Actor) and on what (Target): the two nouns of every audit row and every action."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from vectis.models import Role, User

UNTRUSTED_LENGTH = 80


def untrusted_label(typed: str) -> str:
    """Text an anonymous visitor chose (an email typed at sign-in), made fit for an audit row: control and
    format characters dropped, whitespace folded, at most 80 characters. The row is marked untrusted too."""
    kept = "".join(ch for ch in typed if unicodedata.category(ch)[0] != "C" or ch in " \t")
    folded = " ".join(kept.split())
    return folded if len(folded) <= UNTRUSTED_LENGTH else folded[: UNTRUSTED_LENGTH - 1] + "…"


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a signed-in user, an API token, a rule, the system, or (for sign-in
    attempts) an anonymous visitor."""

    type: str  # user | token | rule | system | anonymous
    id: str | None
    label: str
    role: str | None = None
    untrusted: bool = False  # the label is what an anonymous visitor typed

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls("user", str(user.id), user.email, user.role)

    @classmethod
    def system(cls) -> Actor:
        return cls("system", None, "Vectis", Role.ADMIN.value)

    @classmethod
    def anonymous(cls, typed: str) -> Actor:
        return cls("anonymous", None, untrusted_label(typed) or "unknown", untrusted=True)

    @property
    def user_id(self) -> int | None:
        return int(self.id) if self.type == "user" and self.id else None

    def to_json(self) -> dict[str, Any]:
        # Spelled out, not dataclasses.asdict: the rules engine writes one per action it records, and asdict
        # walks and deep-copies each field. Same keys, same order (a test holds the two together).
        return {"type": self.type, "id": self.id, "label": self.label, "role": self.role, "untrusted": self.untrusted}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Actor:
        return cls(**data)


@dataclass(frozen=True)
class Target:
    type: str
    id: str | None
    label: str
    untrusted: bool = False  # the label is what an anonymous visitor typed

    @classmethod
    def for_user(cls, user: User) -> Target:
        return cls("user", str(user.id), user.email)

    @classmethod
    def typed(cls, type_: str, typed: str) -> Target:
        """A target named only by what a visitor typed (an email with no account behind it)."""
        return cls(type_, None, untrusted_label(typed) or "unknown", untrusted=True)

    def to_json(self) -> dict[str, Any]:
        # Spelled out for the same reason as Actor.to_json.
        return {"type": self.type, "id": self.id, "label": self.label, "untrusted": self.untrusted}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(**data)
