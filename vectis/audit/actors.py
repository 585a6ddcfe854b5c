"""Who acts (Actor) and on what (Target): the two nouns of every audit row and every action."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vectis.models import Role, User


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a signed-in user, an API token, a rule, the system, or (for sign-in
    attempts) an anonymous visitor."""

    type: str  # user | token | rule | system | anonymous
    id: str | None
    label: str
    role: str | None = None

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls("user", str(user.id), user.email, user.role)

    @classmethod
    def system(cls) -> Actor:
        return cls("system", None, "Vectis", Role.ADMIN.value)

    @classmethod
    def anonymous(cls, label: str) -> Actor:
        return cls("anonymous", None, label[:320] or "unknown")

    @property
    def user_id(self) -> int | None:
        return int(self.id) if self.type == "user" and self.id else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Actor:
        return cls(**data)


@dataclass(frozen=True)
class Target:
    type: str
    id: str | None
    label: str

    @classmethod
    def for_user(cls, user: User) -> Target:
        return cls("user", str(user.id), user.email)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(**data)
