"""The OpenAPI 3.1 document of ``/api/v1``, written from the registered operations and their pydantic models: the
models that validate a request and shape its answer are the ones described here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from vectis.actions.resources import OPERATIONS, Operation, Page
from vectis.identity import tokens
from vectis.platform.public_ids import PREFIXES

REF = "#/components/schemas/{model}"
_PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title", "status", "detail"],
}
_ERRORS = {
    "400": "The request cannot be read (a NUL byte in it)",
    "401": "No token, or a token refused (unknown, expired, revoked, another workspace's)",
    "403": "The token lacks the operation's scope",
    "404": "No such object in this workspace",
    "422": "A query parameter is not valid",
    "429": "The token is over its rate: Retry-After says in how many seconds to try again",
}
# What a POST may also answer: its Idempotency-Key in use, and a vendor whose answer never came.
_POST_ERRORS = {
    "409": "The first request with this Idempotency-Key is still running",
    "502": "The vendor did not answer in time: whether the action took effect there is not known",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "Any unique string: a retry with the same key and request gets the first answer again (kept a "
    "day) and does nothing twice; the same key with another request is refused (422)",
}


def _answer(op: Operation) -> type[BaseModel]:
    return Page[op.response] if op.paged else op.response  # type: ignore[name-defined]


def _errors(op: Operation) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    listed = {**_ERRORS, **(_POST_ERRORS if op.method == "POST" else {})}
    return {
        code: {"description": words, "content": problem, **({"headers": _RETRY_AFTER} if code == "429" else {})}
        for code, words in sorted(listed.items())
    }


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": "A public id"}
        for name in re.findall(r"\{([a-z_]+)\}", op.path)
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            described = {k: v for k, v in prop.items() if k not in ("title", "description")}
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": described,
                    **({"description": prop["description"]} if "description" in prop else {}),
                }
            )
    return [*params, _IDEMPOTENCY_KEY] if op.method == "POST" else params


@cache
def _spec() -> dict[str, Any]:
    answers = {op.name: _answer(op) for op in OPERATIONS}
    keyed, definitions = models_json_schema(
        [(model, "serialization") for model in dict.fromkeys(answers.values())], ref_template=REF, by_alias=False
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        ref = keyed[(answers[op.name], "serialization")]
        paths.setdefault(op.path, {})[op.method.lower()] = {
            "operationId": op.name,
            "summary": op.summary,
            "tags": [op.tag],
            "security": [{"token": [op.scope]}],
            "x-scope": op.scope,
            "parameters": _parameters(op),
            **(
                {
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": op.body.model_json_schema(ref_template=REF)}},
                    }
                }
                if op.body is not None
                else {}
            ),
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": ref}}},
                **_errors(op),
            },
        }
    schemas = {**definitions.get("$defs", {}), "Problem": _PROBLEM}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vectis API",
            "version": "1",
            "description": "Your workspace's data and actions. Authenticate with a personal access token "
            "(Account → Tokens) as `Authorization: Bearer vct_pat_…`, at your workspace's own address. "
            "Scopes: " + "; ".join(f"`{k}`: {v}" for k, v in tokens.SCOPES.items()) + ".",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer", "bearerFormat": "vct_pat_…"}},
        },
    }


@dataclass(frozen=True)
class Field:
    """One input of an operation, as the docs page lists it."""

    where: str  # path, query, body
    name: str
    kind: str  # "string", "one of open, acknowledged", "integer ≤ 200"
    required: bool
    description: str


def _kind(prop: dict[str, Any]) -> str:
    options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
    if len(options) != 1:
        return "value"
    option = options[0]
    if (shape := re.fullmatch(r"\^([a-z]+)_\[0-9a-z\]\{13\}\$", option.get("pattern", ""))) is not None:
        return f"public id ({shape[1]}_…)"
    if "enum" in option:
        return "one of " + ", ".join(str(v) for v in option["enum"])
    words = {"string": "text", "integer": "number", "boolean": "true or false", "array": "list"}
    kind = str(words.get(option.get("type", ""), option.get("type", "value")))
    if option.get("format") in ("date-time", "date"):
        kind = "ISO 8601 moment" if option["format"] == "date-time" else "ISO 8601 day"
    if "maximum" in option:
        kind += f" up to {option['maximum']}"
    return kind


def fields(op: Operation) -> list[Field]:
    """What a client sends to ``op``: from the same schemas the document gives, in words."""
    found = [
        Field("path", name, f"public id ({PREFIXES[name.removesuffix('_id')]}_…)", True, "")
        for name in re.findall(r"\{([a-z_]+)\}", op.path)
    ]
    for where, model in (("query", op.query), ("body", op.body)):
        if model is None:
            continue
        schema = model.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            found.append(Field(where, name, _kind(prop), name in required, prop.get("description", "")))
    return found


def document(server: str) -> str:
    """The document as JSON, with this host as its server."""
    return json.dumps({**_spec(), "servers": [{"url": f"{server}/api/v1"}]})
