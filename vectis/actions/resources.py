"""The REST API's registry, beside the verbs (an operation is what a capability offers the API, as a verb is what it
can change). Each capability declares its own operations, next to its code, in a module named ``api.py`` in its
package (``vectis/customers/api.py``); ``vectis/api`` finds those modules and serves what they declare. A new
capability adds its file and nothing else.

An operation names its method and path, the scope a token needs, its summary, and pydantic models for its query
parameters and its answer: the same models validate the request, shape the answer and write the OpenAPI document,
so the document cannot drift from what the API does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from vectis.actions.perform import perform
from vectis.audit.actors import Actor, Target
from vectis.platform.public_ids import PREFIXES

M = TypeVar("M", bound=BaseModel)
MAX_LIMIT: Final = 200
DEFAULT_LIMIT: Final = 50


# Free text in a query parameter: anything but a NUL byte, which PostgreSQL cannot hold (every request refuses one).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]


def id_shape(kind: str) -> StringConstraints:
    """The shape of a public id of ``kind`` (``cus_`` and 13 characters), for ``Annotated[str, id_shape(kind)]``:
    it goes into the OpenAPI document, so a client knows one when it sees one."""
    return StringConstraints(pattern=rf"^{PREFIXES[kind]}_[0-9a-z]{{13}}$")


class Schema(BaseModel):
    """Every API model: unknown query parameters and fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PageQuery(Schema):
    cursor: Text | None = Field(default=None, max_length=200, description="From the previous page's next_cursor")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items on this page")


class Page(BaseModel, Generic[M]):
    """A list's page: its items, and where the next page starts (null: this is the last)."""

    data: list[M]
    next_cursor: str | None


@dataclass(frozen=True)
class Call:
    """What an operation's handler gets: the tenant's session (row-level security underneath), who is calling, and
    the validated query parameters."""

    session: Session
    actor: Actor
    tenant_id: int
    query: Any
    body: Any = None
    surface: str = "api"  # or "mcp": where the audit log says the call came from


class NotFound(Exception):
    """The object is not there for this caller (or belongs to another workspace: the same answer)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"No such {what}.")


class Problem(Exception):
    """Any other answer than the operation's own: its HTTP status and a sentence saying what happened."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Operation:
    method: str  # GET, POST
    path: str  # "/customers/{customer_id}" (OpenAPI style); a {x_id} is a public id of kind x
    name: str  # operationId: list_customers
    summary: str
    scope: str  # a token scope (vectis.identity.tokens.SCOPES)
    tag: str
    response: type[BaseModel]
    query: type[Schema] | None
    handler: Callable[..., Any]
    paged: bool
    body: type[Schema] | None = None  # a POST's JSON body


OPERATIONS: list[Operation] = []


def operation(
    method: str,
    path: str,
    *,
    scope: str,
    summary: str,
    tag: str,
    response: type[BaseModel],
    query: type[Schema] | None = None,
    body: type[Schema] | None = None,
    paged: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the decorated function as an API operation (operationId = its name)."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        if any(op.name == handler.__name__ for op in OPERATIONS):
            raise ValueError(f"two API operations are called {handler.__name__}")
        OPERATIONS.append(
            Operation(method, path, handler.__name__, summary, scope, tag, response, query, handler, paged, body)
        )
        return handler

    return register


def page_of(items: Sequence[M], limit: int, cursor_of: Callable[[M], str]) -> Page[M]:
    """A page from ``limit + 1`` fetched items: the extra one only says there is a next page."""
    shown = list(items[:limit])
    return Page[Any](data=shown, next_cursor=cursor_of(shown[-1]) if len(items) > limit and shown else None)


class ActionQuery(Schema):
    dry_run: bool = Field(default=False, description="Return what would be sent, and send nothing")


class ActionOut(Schema):
    """What became of a write: the same words and outcome the browser shows."""

    result: str = Field(description="ok | dry_run | queued (waits for the vendor's rate limit)")
    message: str
    would_send: dict[str, Any] | None = Field(default=None, description="With dry_run: the payload, not sent")


_STATUS_OF: Final = {"failed": 422, "blocked": 403, "unknown": 502}


def act(call: Call, verb: str, target: Target, payload: dict[str, Any]) -> ActionOut:
    """Run ``verb`` through the one write path (``perform``: permission, rate limit, dry run, audit), on the API's
    surface; a refusal or a failure is a :class:`Problem` with the verb's own words."""
    query: ActionQuery | None = call.query if isinstance(call.query, ActionQuery) else None
    dry_run = bool(query and query.dry_run)
    outcome = perform(
        verb, target, payload, actor=call.actor, surface=call.surface, dry_run=dry_run, session=call.session,
        tenant_id=call.tenant_id,
    )  # fmt: skip
    if outcome.result in _STATUS_OF:
        raise Problem(_STATUS_OF[outcome.result], outcome.message)
    return ActionOut(result=outcome.result, message=outcome.message, would_send=outcome.response if dry_run else None)
