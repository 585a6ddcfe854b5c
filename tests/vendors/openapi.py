"""Holding a simulator to its vendor's published OpenAPI spec: the spec's schemas as strict JSON Schema, a
validator for one response (method, path, status), and the rule for a full spec that may not be beside the repo.

Strict means every object that lists its properties refuses others, so a simulator cannot drift into field names
the real server never sends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import best_match

from scripts.openapi_compact import response_key

Json = dict[str, Any]

_NOT_SCHEMA = {"description", "example", "examples", "readOnly", "writeOnly", "xml", "externalDocs", "discriminator"}


def openapi30_to_json_schema(
    node: Any,
    *,
    name: str | None = None,
    open_schemas: frozenset[str] = frozenset(),
    pattern: Callable[[str], str] = str,
) -> Any:
    """OpenAPI 3.0 schemas as draft-4 JSON Schema: ``nullable: true`` becomes ``anyOf`` with null (it must wrap
    ``allOf``/``enum`` too, which a type union would not), annotations and ``x-`` extensions go, and every object
    that lists its properties refuses others, except the components named in ``open_schemas``. ``pattern``
    rewrites a vendor's regular expression where ECMA-262 and Python read it differently."""

    def convert(child: Any, child_name: str | None = None) -> Any:
        return openapi30_to_json_schema(child, name=child_name, open_schemas=open_schemas, pattern=pattern)

    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Json = {}
    for key, value in node.items():
        if key in _NOT_SCHEMA or key.startswith("x-"):
            continue
        if key in ("properties", "schemas") and isinstance(value, dict):  # maps of names: keep every name
            out[key] = {k: convert(v, k if key == "schemas" else None) for k, v in value.items()}
        elif key == "pattern" and isinstance(value, str):
            out[key] = pattern(value)
        else:
            out[key] = convert(value)
    if "properties" in out and "additionalProperties" not in out and name not in open_schemas:
        out["additionalProperties"] = False
    if out.pop("nullable", False) is True and "$ref" not in out:
        return {"anyOf": [{"type": "null"}, out]}
    return out


def integer_and_uuid_formats() -> FormatChecker:
    """A format checker that knows OpenAPI's ``int32``/``int64`` and canonical lower-case ``uuid``; a vendor adds
    its own (a date-time of its own shape) with ``@checker.checks(...)``."""
    checker = FormatChecker(formats=())

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or str(uuid.UUID(value)) == value

    @checker.checks("int32")
    def _int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("int64")
    def _int64(value: object) -> bool:
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    return checker


def response_validator(document: Json, path: str, method: str, status: int, formats: FormatChecker) -> Draft4Validator:
    """A validator of the body ``document`` (converted) defines for ``method path`` answering ``status``."""
    responses = document["paths"][path][method]["responses"]
    key = response_key(responses, str(status))
    assert key in responses and "content" in responses[key], (
        f"the spec defines no body for {method.upper()} {path} {status}"
    )
    escaped = path.replace("~", "~0").replace("/", "~1")
    media = next(iter(responses[key]["content"])).replace("~", "~0").replace("/", "~1")
    pointer = f"#/paths/{escaped}/{method}/responses/{key}/content/{media}/schema"
    # The whole document is the root resource, so every "#/components/..." $ref resolves in place.
    return Draft4Validator({**document, "$ref": pointer}, format_checker=formats)


def schema_errors(validator: Draft4Validator, body: Any) -> list[str]:
    """Each way ``body`` breaks the schema, as ``where: what`` (the first ten)."""
    errors = [best_match([e]) for e in validator.iter_errors(body)]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:10]]


def json_body(response: requests.Response) -> Any:
    assert response.headers["Content-Type"].startswith("application/json"), response.headers["Content-Type"]
    return response.json()


def full_spec_or_skip(path: Path, vendor: str, compact: Path) -> Path:
    """``path``, the vendor's full spec; skips without it, except in CI, which has the shared folder and must
    check."""
    if not path.is_file():
        reason = (
            f"{vendor}'s full spec is not here ({path}, the shared/ folder beside the repo), "
            f"so {compact.name} cannot be checked against it"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it", pytrace=False)
        pytest.skip(reason)
    return path
