"""The REST API's registry, beside the verbs (an operation is what a capability offers the API, as a verb is what it
can change). Each capability declares its own operations, next to its code, in a module named ``api.py`` in its
package (``vectis/customers/api.py``); ``vectis/api`` finds those modules and serves what they declare. A new
capability adds its file and nothing else.

An operation names its method and path, the scope a token needs, its summary, and pydantic models for its query
parameters and its answer: the same models validate the request, shape the answer and write the OpenAPI document,
so the document cannot drift from what the API does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Final, Generic, TypeVar, get_args

from pydantic import (
    AfterValidator,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel
from sqlalchemy import Executable, Result
from sqlalchemy.orm import Session

from vectis.actions.base import Outcome
from vectis.actions.perform import perform
from vectis.actions.registry import VERBS
from vectis.audit.actors import Actor, Target
from vectis.platform import public_ids
from vectis.platform.dates import EARLIEST, LATEST, within_range
from vectis.platform.public_ids import PREFIXES

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
MAX_LIMIT: Final = 200
DEFAULT_LIMIT: Final = 50
MAX_CURSOR: Final = 1000


# Free text in a query parameter: anything but a NUL byte, which PostgreSQL cannot hold (every request refuses one).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]


def id_shape(kind: str) -> StringConstraints:
    """The shape of a public id of ``kind`` (``cus_`` and 13 characters), for ``Annotated[str, id_shape(kind)]``:
    it goes into the OpenAPI document, so a client knows one when it sees one."""
    return StringConstraints(pattern=rf"^{PREFIXES[kind]}_[0-9a-z]{{13}}$")


# MCP clients read camelCase (``customerName``), the REST API answers snake_case: the same models, each spelling
# written by pydantic's serializer (``by_alias=True`` for MCP), not by walking every answer again afterwards. Only
# the models' own fields are renamed: a vendor's JSON inside an answer (a dry run's request body) stays as it goes out.
SPELLING: Final = AliasGenerator(serialization_alias=to_camel)


class Schema(BaseModel):
    """Every API model: unknown query parameters and fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=SPELLING)


class PageQuery(Schema):
    cursor: Text | None = Field(default=None, max_length=200, description="From the previous page's next_cursor")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items on this page")


def _stored(moment: datetime) -> datetime:
    found = within_range(moment)
    if found is None:
        raise ValueError(f"a moment between {EARLIEST.year} and {LATEST.year}")
    return found


_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d*)?\s*")


def _written(value: Any) -> Any:
    """A moment or a day is written as one: pydantic would take ``0.5`` or ``"0"`` for seconds since 1970, which
    nobody means (schemathesis sent them, and got tickets "updated since" 1970)."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("written as ISO 8601, e.g. 2026-12-01 or 2026-12-01T09:00:00Z")
    return value


# A moment (ISO 8601; a day alone is its midnight; no zone is UTC), within what Vectis stores.
Moment = Annotated[datetime, BeforeValidator(_written), AfterValidator(_stored)]
# A day (ISO 8601: 2026-12-01).
Day = Annotated[date, BeforeValidator(_written)]
KeyPart = str | int | date | datetime | None


def keyset(*key: KeyPart) -> str:
    """The cursor after an item: its sort key, id last (a public id, never a row key), as opaque base64url JSON."""
    parts = [part.isoformat() if isinstance(part, date) else part for part in key]
    return base64.urlsafe_b64encode(json.dumps(parts, separators=(",", ":")).encode()).decode().rstrip("=")


class KeysetQuery(PageQuery):
    """A page query whose cursor is :func:`keyset`'s, of ``shape``: each part's type (``type | None`` where the sort
    column may be null), a public id's kind last. A cursor Vectis did not write for this list is a 422: read as
    the first page, it would walk a client round in circles."""

    shape: ClassVar[tuple[Any, ...]] = ()

    @field_validator("cursor")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            cls._read(value)
        return value

    @property
    def after(self) -> tuple[Any, ...] | None:
        """The previous page's last sort key, its id as a row key; None on the first page."""
        return None if self.cursor is None else self._read(self.cursor)

    @classmethod
    def _read(cls, cursor: str) -> tuple[Any, ...]:
        wrong = ValueError("not a cursor of this list: pass next_cursor back as it came")
        if len(cursor) > MAX_CURSOR:  # JSON nested a thousand deep would raise RecursionError, not ValueError
            raise wrong
        try:
            parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, ValueError):
            raise wrong from None
        if not isinstance(parts, list) or len(parts) != len(cls.shape):
            raise wrong
        read = []
        for part, kind in zip(parts, cls.shape, strict=True):
            value = _part(part, kind)
            if value is _WRONG:
                raise wrong
            read.append(value)
        return tuple(read)


_WRONG = object()


def _part(part: Any, kind: Any) -> Any:
    """One part of a cursor as ``kind`` reads it (a type, ``type | None``, or a public id's kind), else ``_WRONG``."""
    if isinstance(kind, str):
        key = public_ids.decode(kind, part) if isinstance(part, str) else None
        return _WRONG if key is None else key
    types = get_args(kind) or (kind,)
    if part is None:
        return None if type(None) in types else _WRONG
    try:
        if isinstance(part, str) and datetime in types:
            return within_range(datetime.fromisoformat(part)) or _WRONG
        if isinstance(part, str) and date in types:
            return date.fromisoformat(part)
    except ValueError:
        return _WRONG
    return part if type(part) in types else _WRONG  # type(): a bool is no int here


class Page(BaseModel, Generic[M]):
    """A list's page: its items, and where the next page starts (null: this is the last)."""

    model_config = ConfigDict(alias_generator=SPELLING)

    data: list[M]
    next_cursor: str | None


# Made once: ``Page[Any]`` asked for at each call costs more than the page's own answer takes to serialise (the
# parametrised class is only weakly cached by pydantic).
_ANY_PAGE: Final = Page[Any]


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

    def get(self, model: type[T], key: int, what: str) -> T:
        """The row ``key`` of ``model`` in this workspace, or :class:`NotFound` (another workspace's: the same)."""
        found = self.session.get(model, key)
        if found is None:
            raise NotFound(what)
        return found

    def rows(self, statement: Executable, values: dict[str, Any] | None = None) -> Result[Any]:
        """The rows of a select of columns (no entities), in the call's transaction: through the session's
        connection, as Core runs them, not through the ORM's execution, which costs a list call more than
        PostgreSQL spends on its rows (bench/api.py)."""
        return self.session.connection().execute(statement, values)


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
    tool: str = ""  # its MCP tool's name (vectis/api/mcp.py makes one of every operation)

    @property
    def writes(self) -> bool:
        """It acts through a verb (``act``), with a dry run: anything else only reads (a POST may: run a query)."""
        return self.query is not None and issubclass(self.query, ActionQuery)


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
    tool: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the decorated function as an API operation (operationId = its name) and an MCP tool (named ``tool``,
    or as the operation). Its docstring, when it has one, tells MCP clients more than the summary."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        name = tool or handler.__name__
        if any(op.name == handler.__name__ or op.tool == name for op in OPERATIONS):
            raise ValueError(f"two API operations (or MCP tools) are called {name}")
        OPERATIONS.append(
            Operation(method, path, handler.__name__, summary, scope, tag, response, query, handler, paged, body, name)
        )
        return handler

    return register


def page_of(items: Sequence[M], limit: int, cursor_of: Callable[[M], str]) -> Page[M]:
    """A page from ``limit + 1`` fetched items: the extra one only says there is a next page."""
    shown = list(items[:limit])
    return _ANY_PAGE(data=shown, next_cursor=cursor_of(shown[-1]) if len(items) > limit and shown else None)


class ActionQuery(Schema):
    dry_run: bool = Field(default=False, description="Return what would be sent, and send nothing")


class ActionOut(Schema):
    """What became of a write: the same words and outcome the browser shows."""

    result: str = Field(description="ok | dry_run | queued (waits for the vendor's rate limit)")
    message: str
    would_send: dict[str, Any] | None = Field(
        default=None,
        description="With dry_run: what the action would act with and send, sent to nobody. verb, target and "
        "payload: the action as Vectis records it (secrets redacted). requests: each request it would send to a "
        "vendor, in order, exactly as it would go out ({vendor, method, path from the connection's base URL, JSON "
        "body, unknown: words on a placeholder standing for what only the vendor's answer tells}; never "
        "credentials); null when nothing goes to a vendor (Vectis records it itself), empty when nothing would be "
        "sent (message says why).",
    )


_STATUS_OF: Final = {"failed": 422, "blocked": 403, "unknown": 502}


def act(call: Call, verb: str, target: Target, payload: dict[str, Any]) -> ActionOut:
    """Run ``verb`` through the one write path (``perform``: permission, rate limit, dry run, audit), on the API's
    surface; a refusal or a failure is a :class:`Problem` with the verb's own words."""
    return acted(call, verb, target, payload)[0]


def acted(call: Call, verb: str, target: Target, payload: dict[str, Any]) -> tuple[ActionOut, Outcome]:
    """:func:`act`, with the verb's outcome beside its answer: for an operation that tells more of what was done
    (the ticket it created)."""
    query: ActionQuery | None = call.query if isinstance(call.query, ActionQuery) else None
    dry_run = bool(query and query.dry_run)
    outcome = perform(
        verb, target, payload, actor=call.actor, surface=call.surface, dry_run=dry_run, session=call.session,
        tenant_id=call.tenant_id,
    )  # fmt: skip
    if outcome.result in _STATUS_OF:
        raise Problem(_STATUS_OF[outcome.result], outcome.message)
    # A dry run answers what the action would act with (the verb, its target and its payload, secrets redacted, as
    # its audit row records it) and the vendor requests it would send, made by the connector code that sends them.
    would = None
    if dry_run:
        requests = outcome.preview.requests if outcome.preview is not None else None
        would = {"verb": verb, "target": target.to_json(), "payload": VERBS[verb].redact(payload), "requests": requests}
    return ActionOut(result=outcome.result, message=outcome.message, would_send=would), outcome
