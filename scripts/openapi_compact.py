"""Cut a vendor's OpenAPI document down to the responses a simulator test validates.

A vendor's full spec lives in ``../shared`` beside the repo, which a fresh clone does not have, so each simulator
test reads a compact form committed under ``tests/vendors/specs/``: for each wanted (method, path, status), the
response's schema at the same place as in the vendor's document, plus every ``$ref`` it reaches, transitively.
Only the facts a validator reads are kept (names, types, formats, enums, required lists, nullable, bounds: all as
the vendor wrote them); the vendor's prose (descriptions, examples, titles, ``x-`` extensions) is left out: the
spec is the vendor's, kept in ``../shared`` for validation only, and its text is not ours to copy.

Each vendor has a small script of its own (``compact_vspc_spec``, ``compact_ninjaone_spec``) that names its spec,
its wanted responses and how its file is read, and calls :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Json = dict[str, Any]
Wanted = list[tuple[str, str, str]]  # (method, path, HTTP status)

REPO = Path(__file__).resolve().parents[1]
# The shared/ folder beside the repo; VECTIS_SHARED names it for a checkout kept elsewhere (a git worktree).
SHARED_SPECS = Path(os.environ.get("VECTIS_SHARED") or REPO.parent / "shared") / "vendor-specs"
COMPACT_SPECS = REPO / "tests" / "vendors" / "specs"
MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class VendorSpec:
    """One vendor's published spec and its committed compact form."""

    vendor: str  # whose spec, in messages: "Veeam", "NinjaOne"
    shared: Path  # the full document in ../shared
    compact: Path  # the committed compact form
    regenerate: str  # the command that rewrites ``compact``
    wanted: Wanted
    load: Callable[[str], Json]  # the full document's text -> its JSON

    def read_full(self, path: Path | None = None) -> Json:
        return self.load((path or self.shared).read_text(encoding="utf-8"))

    def compacted(self, full: Json, *, source: str | None = None) -> Json:
        return compact(full, self.wanted, source=source or self.shared.name, regenerate=self.regenerate)


def response_key(responses: Json, status: str) -> str:
    """The entry of an operation's ``responses`` that describes ``status``, as OpenAPI resolves it."""
    return status if status in responses else "default"


def pointer_tokens(ref: str) -> list[str]:
    """The reference tokens of a local JSON pointer reference such as ``#/components/schemas/Alarm``."""
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in ref[2:].split("/")]


def resolve(document: Json, ref: str) -> Any:
    node: Any = document
    for token in pointer_tokens(ref):
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise KeyError(f"{ref} does not resolve in the document")
    return node


def refs_in(node: Any) -> list[str]:
    """Every ``$ref`` string anywhere in ``node``."""
    if isinstance(node, list):
        return [ref for item in node for ref in refs_in(item)]
    if not isinstance(node, dict):
        return []
    found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
    return found + [ref for value in node.values() for ref in refs_in(value)]


PROSE = frozenset({"description", "example", "examples", "title", "summary", "externalDocs"})
# Keywords whose value maps names (property names, not keywords) to schemas.
NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "definitions"})


def facts_only(node: Any) -> Any:
    """``node`` without prose or extensions, at any depth; a property called "description" is kept."""
    if isinstance(node, list):
        return [facts_only(item) for item in node]
    if not isinstance(node, dict):
        return node
    kept: Json = {}
    for key, value in node.items():
        if key in PROSE or key.startswith("x-"):
            continue
        if key in NAMED_SCHEMAS and isinstance(value, dict):
            kept[key] = {name: facts_only(schema) for name, schema in value.items()}
        else:
            kept[key] = facts_only(value)
    return kept


def _put(document: Json, tokens: list[str], value: Any) -> None:
    node = document
    for token in tokens[:-1]:
        node = node.setdefault(token, {})
    node[tokens[-1]] = value


def response_schema(spec: Json, method: str, path: str, status: str) -> tuple[str, Any]:
    """The key of ``responses`` that answers ``status`` and its JSON body's schema (KeyError when there is none)."""
    responses = spec["paths"][path][method]["responses"]
    key = response_key(responses, status)
    if key not in responses:
        raise KeyError(f"the spec has neither {status} nor default for {method.upper()} {path}")
    schema = responses[key].get("content", {}).get(MEDIA_TYPE, {}).get("schema")
    if schema is None:
        raise KeyError(f"the spec defines no {MEDIA_TYPE} body for {method.upper()} {path} {status}")
    return key, schema


def compact(spec: Json, wanted: Wanted, *, source: str, regenerate: str) -> Json:
    """The part of ``spec`` that validates the ``wanted`` (method, path, status) response bodies: each one's
    schema under ``paths`` as in the spec, and every ``$ref`` it reaches, at the place the spec has it."""
    info = spec.get("info", {})
    out: Json = {
        "x-generated-from": f"{source} ({info.get('title', '?')} {info.get('version', '?')})",
        "x-regenerate": regenerate,
        "openapi": spec["openapi"],
    }
    pending: list[str] = []
    for method, path, status in wanted:
        key, schema = response_schema(spec, method, path, status)
        _put(out, ["paths", path, method, "responses", key, "content", MEDIA_TYPE, "schema"], facts_only(schema))
        pending += refs_in(schema)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        target = resolve(spec, ref)
        _put(out, pointer_tokens(ref), facts_only(target))
        pending += refs_in(target)
    return out


def missing_from(document: Json, wanted: Wanted) -> list[str]:
    """What of ``wanted`` a compact ``document`` cannot validate: a response without a body schema, or a
    ``$ref`` it reaches that does not resolve."""
    missing: list[str] = []
    for method, path, status in wanted:
        try:
            _, schema = response_schema(document, method, path, status)
        except KeyError:
            missing.append(f"{method.upper()} {path} {status}")
            continue
        pending, seen = refs_in(schema), set()
        while pending:
            ref = pending.pop()
            if ref not in seen:
                seen.add(ref)
                try:
                    pending += refs_in(resolve(document, ref))
                except KeyError:
                    missing.append(f"{method.upper()} {path} {status}: {ref}")
    return missing


def render(document: Json) -> str:
    """The committed text: sorted keys, two-space indent, a final newline, so regenerating is byte-identical."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(spec: VendorSpec, argv: list[str] | None = None, *, description: str | None = None) -> int:
    """``python -m scripts.compact_<vendor>_spec [SPEC] [OUT]``: write the compact form of the vendor's spec."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("spec", nargs="?", type=Path, default=spec.shared, help=f"full spec (default: {spec.shared})")
    parser.add_argument("out", nargs="?", type=Path, default=spec.compact, help=f"output (default: {spec.compact})")
    args = parser.parse_args(argv)
    spec_path: Path = args.spec
    out_path: Path = args.out
    if not spec_path.is_file():
        print(f"missing {spec_path}: {spec.vendor}'s full spec (the shared/ folder beside the repo)", file=sys.stderr)
        return 1
    text = render(spec.compacted(spec.read_full(spec_path), source=spec_path.name))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8")
    print(f"wrote {out_path} ({len(text.encode('utf-8')):,} bytes) from {spec_path}")
    return 0
