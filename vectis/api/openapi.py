"""The OpenAPI 3.1 document of ``/api/v1``, written from the registered operations and their pydantic models: the
models that validate a request and shape its answer are the ones described here."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from vectis.actions.resources import OPERATIONS, Operation, Page
from vectis.identity import tokens

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
}


def _answer(op: Operation) -> type[BaseModel]:
    return Page[op.response] if op.paged else op.response  # type: ignore[name-defined]


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
    return params


@cache
def _spec() -> dict[str, Any]:
    answers = {op.name: _answer(op) for op in OPERATIONS}
    keyed, definitions = models_json_schema(
        [(model, "serialization") for model in dict.fromkeys(answers.values())], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        ref = keyed[(answers[op.name], "serialization")]
        errors = {code: {"description": words, "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}} for code, words in _ERRORS.items()}  # fmt: skip
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
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}, **errors},
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


def document(server: str) -> str:
    """The document as JSON, with this host as its server."""
    return json.dumps({**_spec(), "servers": [{"url": f"{server}/api/v1"}]})
