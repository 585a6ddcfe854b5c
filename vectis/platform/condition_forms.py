"""AND/OR condition trees as form inputs, shared by the rule builder and the query builder.

Both render a tree of groups and leaves as named inputs and read the posted form back. Input names carry the
node's path: the root group is ``r``, its children ``r.0``, ``r.1``, theirs ``r.1.0``, each input ``c.<path>.<part>``
(``.type`` names every node). Buttons name a path too ("add a condition to group r.1", "remove r.1.0"); a path that
no longer exists (a stale page, a crafted post) changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.datastructures import MultiDict

_CHILD = re.compile(r"^c\.(r(?:\.\d{1,3})*)\.type$")
_PATH = re.compile(r"r(?:\.\d{1,3})*")
MAX_CHILDREN = 100


def children(form: MultiDict[str, str], path: str, max_depth: int) -> list[str]:
    """The paths of the nodes directly under ``path`` in the posted form, in order; none below ``max_depth``
    levels (the root counted), however deep a crafted form goes: validation says why."""
    depth = path.count(".") + 1
    if depth > max_depth + 1:
        return []
    found = {
        m.group(1)
        for key in form
        if (m := _CHILD.match(key)) and m.group(1).startswith(path + ".") and m.group(1).count(".") == depth
    }
    return sorted(found, key=lambda p: int(p.rsplit(".", 1)[1]))[:MAX_CHILDREN]


def locate(root: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, int | None]:
    """The group holding ``path`` and its index there; (root, None) for the root itself; (None, None) for a path
    that is not in the tree."""
    if not _PATH.fullmatch(path):
        return None, None
    parts = [int(p) for p in path.split(".")[1:]]
    if not parts:
        return root, None
    group = root
    for index in parts[:-1]:
        items = group.get("items") or []
        if index >= len(items) or items[index].get("type") != "group":
            return None, None
        group = items[index]
    return group, parts[-1]


def node_at(root: dict[str, Any], path: str) -> dict[str, Any] | None:
    group, index = locate(root, path)
    if group is None:
        return None
    if index is None:
        return group
    items = group.get("items") or []
    return items[index] if index < len(items) else None


def add(root: dict[str, Any], path: str, node: dict[str, Any]) -> None:
    """Append ``node`` to the group at ``path`` (if there is one)."""
    group = node_at(root, path or "r")
    if group is not None and group.get("type", "group") == "group":
        group.setdefault("items", []).append(node)


def remove(root: dict[str, Any], path: str) -> None:
    """Remove the node at ``path``; the root group stays."""
    if not path or path == "r":
        return
    group, index = locate(root, path)
    if group is not None and index is not None and index < len(group.get("items") or []):
        del group["items"][index]
