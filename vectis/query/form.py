"""The builder's form both ways, and the builder's state in a URL.

The state is a *draft*: the spec as JSON, valid or not yet (a condition waiting for its value). Every change posts
the whole form with the button's operation; the server reads the draft back (:func:`from_form`), applies the
operation (:func:`apply`), renders the builder again and pushes the draft into the URL (:func:`encode`), so every
state can be bookmarked and shared, and the page never holds state the server does not know.

Inputs: ``base``; ``j.<n>.from`` / ``.to`` / ``.mode``; ``col.<n>.field`` / ``.agg`` / ``.label``; the conditions as
``c.<path>.…`` (``vectis.platform.condition_forms``) with ``.field`` / ``.op`` / ``.value`` / ``.value2`` /
``.match``; ``sort.column``, ``sort.dir``; ``limit``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import Any, Final

from werkzeug.datastructures import MultiDict

from vectis.platform import condition_forms, params
from vectis.query.allowlist import EDGES, TABLES, column
from vectis.query.operators import OPERATORS, operator
from vectis.query.spec import COUNT_ROWS, MAX_DEPTH, empty

MAX_URL_STATE: Final = 16_384  # bytes of JSON a link may unpack to: far above any real query, far below harm
_INDEXED = re.compile(r"^(j|col)\.(\d{1,2})\.")


def encode(draft: dict[str, Any]) -> str:
    """The draft as a compact URL-safe token (deflated JSON in base64url)."""
    raw = json.dumps(draft, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def decode(token: str) -> dict[str, Any] | None:
    """The draft a link carries; None for anything that is not one (a truncated or crafted link)."""
    if not token or len(token) > MAX_URL_STATE:
        return None
    try:
        packed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_URL_STATE)
        if inflater.unconsumed_tail:
            return None  # it would unpack to more than any query: not ours
        draft = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        return None
    return draft if isinstance(draft, dict) else None


def _indices(form: MultiDict[str, str], prefix: str) -> list[int]:
    return sorted({int(m.group(2)) for key in form if (m := _INDEXED.match(key)) and m.group(1) == prefix})


def _leaf(form: MultiDict[str, str], path: str) -> dict[str, Any]:
    field = form.get(f"c.{path}.field", "")
    found = column(field)
    node: dict[str, Any] = {"type": "leaf", "field": field, "op": form.get(f"c.{path}.op", "")}
    if found is None:
        return node
    op = operator(found[1].kind, node["op"]) or OPERATORS[found[1].kind][0]
    node["op"] = op.key
    value = form.get(f"c.{path}.value", "")
    if op.arity == "two":
        node["value"] = [value, form.get(f"c.{path}.value2", "")]
    elif op.arity == "many":
        node["value"] = form.getlist(f"c.{path}.value")
    elif op.arity != "none":
        node["value"] = value
    return node


def _node(form: MultiDict[str, str], path: str) -> dict[str, Any]:
    if form.get(f"c.{path}.type") == "leaf":
        return _leaf(form, path)
    return {
        "type": "group",
        "match": "any" if form.get(f"c.{path}.match") == "any" else "all",
        "items": [_node(form, child) for child in condition_forms.children(form, path, MAX_DEPTH)],
    }


def from_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """The draft the posted builder describes."""
    joins = [
        {"from": form.get(f"j.{n}.from", ""), "to": form.get(f"j.{n}.to", ""), "mode": form.get(f"j.{n}.mode", "all")}
        for n in _indices(form, "j")
    ]
    columns: list[dict[str, Any]] = []
    for n in _indices(form, "col"):
        out: dict[str, Any] = {"field": form.get(f"col.{n}.field", "")}
        if form.get(f"col.{n}.agg"):
            out["agg"] = form.get(f"col.{n}.agg")
        if form.get(f"col.{n}.label", "").strip():
            out["label"] = form.get(f"col.{n}.label", "").strip()
        columns.append(out)
    sort_column = params.integer(form.get("sort.column"), high=max(len(columns) - 1, 0))
    sort = (
        [{"column": sort_column, "dir": "desc" if form.get("sort.dir") == "desc" else "asc"}]
        if sort_column is not None and columns
        else []
    )
    limit = form.get("limit", "").strip()
    number = params.integer(limit, high=99_999_999)
    return {
        "base": form.get("base", "customers"),
        "joins": joins,
        "columns": columns,
        "where": _node(form, "r"),
        "sort": sort,
        "limit": number if number is not None else (limit or None),
    }


# --- operations ----------------------------------------------------------------------------------------------


def tables_of(draft: dict[str, Any]) -> list[str]:
    """The tables a draft names, the base first, whatever shape a link left it in."""
    joins = draft.get("joins") if isinstance(draft.get("joins"), list) else []
    return [str(draft.get("base", "")), *(str(j.get("to", "")) for j in joins or [] if isinstance(j, dict))]


def _drop_table(draft: dict[str, Any], table: str) -> None:
    """Remove ``table``, the joins that hang from it, and every column and condition that names them."""
    gone = {table}
    changed = True
    while changed:
        changed = False
        for j in draft["joins"]:
            if j.get("from") in gone and j.get("to") not in gone:
                gone.add(j["to"])
                changed = True
    draft["joins"] = [j for j in draft["joins"] if j.get("to") not in gone]
    draft["columns"] = [c for c in draft["columns"] if str(c.get("field", "")).partition(".")[0] not in gone]
    draft["sort"] = []

    def prune(group: dict[str, Any]) -> None:
        kept = []
        for item in group.get("items", []):
            if item.get("type") == "group":
                prune(item)
                kept.append(item)
            elif str(item.get("field", "")).partition(".")[0] not in gone:
                kept.append(item)
        group["items"] = kept

    prune(draft["where"])


def _first_field(draft: dict[str, Any]) -> str:
    for key in tables_of(draft):
        table = TABLES.get(key)
        if table is not None and any(j.get("to") == key and j.get("mode") == "without" for j in draft["joins"]):
            return f"{key}.{table.columns[0].key}"  # a new "only without" join: its condition comes next
    table = TABLES.get(draft.get("base", "")) or TABLES["customers"]
    return f"{table.key}.{table.columns[0].key}"


def _normalise(draft: dict[str, Any]) -> dict[str, Any]:
    """The keys every operation relies on, whatever a link or a post left out."""
    draft.setdefault("joins", [])
    draft.setdefault("columns", [])
    draft.setdefault("sort", [])
    if not isinstance(draft.get("where"), dict):
        draft["where"] = {"type": "group", "match": "all", "items": []}
    for key in ("joins", "columns", "sort"):
        if not isinstance(draft[key], list):
            draft[key] = []
    draft["joins"] = [j for j in draft["joins"] if isinstance(j, dict)]
    draft["columns"] = [c for c in draft["columns"] if isinstance(c, dict)]
    return draft


def apply(draft: dict[str, Any], op: str, form: MultiDict[str, str] | None = None) -> dict[str, Any]:  # noqa: PLR0912
    """One builder button. ``base`` (start again from the chosen table), ``join`` (the edge picked in
    ``new_join``), ``unjoin:<table>``, ``toggle:<table.column>`` (tick or untick a column), ``count:<table>``,
    ``up:<n>`` / ``drop:<n>`` (a chosen column), ``add-leaf:<path>``, ``add-group:<path>``, ``remove:<path>``.
    Unknown or stale operations change nothing."""
    draft = _normalise(draft)
    verb, _, where = op.partition(":")
    if verb == "base":
        base = draft.get("base") if draft.get("base") in TABLES else "customers"
        return empty(str(base))
    if verb == "join" and form is not None:
        edge = EDGES.get(form.get("new_join", ""))
        if edge and edge.left in tables_of(draft) and edge.right not in tables_of(draft):
            draft["joins"].append({"from": edge.left, "to": edge.right, "mode": "all"})
            right = TABLES[edge.right]
            draft["columns"].extend({"field": f"{right.key}.{key}"} for key in right.default_columns[:1])
    elif verb == "unjoin" and where in tables_of(draft)[1:]:
        _drop_table(draft, where)
    elif verb == "toggle" and column(where) and where.partition(".")[0] in tables_of(draft):
        chosen = [c for c in draft["columns"] if c.get("field") == where]
        draft["columns"] = [c for c in draft["columns"] if c.get("field") != where] if chosen else draft["columns"]
        if not chosen:
            draft["columns"].append({"field": where})
        draft["sort"] = []
    elif verb == "count" and where in tables_of(draft):
        draft["columns"].append({"field": f"{where}.{COUNT_ROWS}", "agg": "count"})
    elif verb in ("up", "drop") and (n := params.integer(where, high=len(draft["columns"]) - 1)) is not None:
        if verb == "drop":
            del draft["columns"][n]
        elif n > 0:
            draft["columns"][n - 1], draft["columns"][n] = draft["columns"][n], draft["columns"][n - 1]
        draft["sort"] = []
    elif verb == "add-leaf":
        field = _first_field(draft)
        found = column(field)
        first_op = OPERATORS[found[1].kind][0].key if found else ""
        condition_forms.add(draft["where"], where, {"type": "leaf", "field": field, "op": first_op, "value": ""})
    elif verb == "add-group":
        condition_forms.add(draft["where"], where, {"type": "group", "match": "any", "items": []})
    elif verb == "remove":
        condition_forms.remove(draft["where"], where)
    return draft
