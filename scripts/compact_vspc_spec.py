"""Cut Veeam's VSPC OpenAPI document down to what the simulator tests validate.

``tests/vendors/test_vspc_simulator.py`` checks the VSPC simulator's responses against Veeam's published
REST API 3.6.1 spec. The full document (8 MB) lives in ``../shared`` beside the repo, which a fresh clone does
not have, so the tests read a compact form committed under ``tests/vendors/specs/``: for each response in
:data:`WANTED`, its schema at the same place as in Veeam's document, plus every ``$ref`` it reaches,
transitively. Only the facts a validator reads are kept (names, types, formats, enums, required lists,
nullable, bounds: all as Veeam wrote them); Veeam's prose (descriptions, examples, titles, ``x-`` extensions)
is left out: the spec is Veeam's, kept in ``../shared`` for validation only, and its text is not ours to copy.

Run ``python scripts/compact_vspc_spec.py [SPEC] [OUT]`` after changing :data:`WANTED` or the spec; the
simulator tests fail when the committed file is not what this script makes of the shared spec.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

Json = dict[str, Any]

REPO = Path(__file__).resolve().parents[1]
SPEC_NAME = "vspc_rest_3_6_1.json"
SHARED_SPEC = REPO.parent / "shared" / "vendor-specs" / "veeam-vspc" / SPEC_NAME
COMPACT_SPEC = REPO / "tests" / "vendors" / "specs" / "vspc_rest_3_6_1.compact.json"
REGENERATE = "python scripts/compact_vspc_spec.py"
MEDIA_TYPE = "application/json"

# Every (method, path, HTTP status) whose response body the simulator tests validate. Each status keeps the
# response Veeam's spec gives for it: its own entry when the spec lists that status, "default" otherwise.
WANTED: list[tuple[str, str, str]] = [
    ("post", "/token", "200"),
    ("post", "/token", "400"),
    ("get", "/about", "200"),
    ("get", "/about", "429"),
    ("get", "/organizations/companies", "200"),
    ("get", "/organizations/companies", "401"),
    ("get", "/organizations/companies", "403"),
    ("get", "/organizations/companies/{companyUid}", "200"),
    ("get", "/organizations/companies/{companyUid}", "400"),
    ("get", "/organizations/companies/{companyUid}", "404"),
    ("get", "/infrastructure/backupServers/jobs", "200"),
    ("get", "/infrastructure/backupServers/jobs", "400"),
    ("get", "/infrastructure/backupServers/jobs", "403"),
    ("get", "/infrastructure/backupServers/jobs", "520"),
    ("get", "/infrastructure/backupAgents/jobs", "200"),
    ("get", "/infrastructure/backupAgents/jobs", "403"),
    ("get", "/alarms/active", "200"),
    ("get", "/alarms/active", "403"),
    ("get", "/alarms/active/{activeAlarmUid}/history", "200"),
    ("get", "/alarms/active/{activeAlarmUid}/history", "404"),
    ("get", "/eventLogs/activityLogs", "200"),
    ("get", "/eventLogs/activityLogs", "403"),
]


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


def compact(spec: Json, wanted: list[tuple[str, str, str]], *, source: str = SPEC_NAME) -> Json:
    """The part of ``spec`` that validates the ``wanted`` (method, path, status) response bodies: each one's
    schema under ``paths`` as in the spec, and every ``$ref`` it reaches, at the place the spec has it."""
    info = spec.get("info", {})
    out: Json = {
        "x-generated-from": f"{source} ({info.get('title', '?')} {info.get('version', '?')})",
        "x-regenerate": REGENERATE,
        "openapi": spec["openapi"],
    }
    pending: list[str] = []
    for method, path, status in wanted:
        responses = spec["paths"][path][method]["responses"]
        key = response_key(responses, status)
        if key not in responses:
            raise KeyError(f"Veeam's spec has neither {status} nor default for {method.upper()} {path}")
        schema = responses[key].get("content", {}).get(MEDIA_TYPE, {}).get("schema")
        if schema is None:
            raise KeyError(f"Veeam's spec defines no {MEDIA_TYPE} body for {method.upper()} {path} {status}")
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


def render(document: Json) -> str:
    """The committed text: sorted keys, two-space indent, a final newline, so regenerating is byte-identical."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("spec", nargs="?", type=Path, default=SHARED_SPEC, help=f"full spec (default: {SHARED_SPEC})")
    parser.add_argument("out", nargs="?", type=Path, default=COMPACT_SPEC, help=f"output (default: {COMPACT_SPEC})")
    args = parser.parse_args(argv)
    spec_path: Path = args.spec
    out_path: Path = args.out
    if not spec_path.is_file():
        print(f"missing {spec_path}: Veeam's full VSPC spec (the shared/ folder beside the repo)", file=sys.stderr)
        return 1
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    text = render(compact(spec, WANTED, source=spec_path.name))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8")
    print(f"wrote {out_path} ({len(text.encode('utf-8')):,} bytes) from {spec_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
