"""Where a form may send the browser next: a path on this site, never another host. The one check every
``next`` goes through (sign-in, the alert forms)."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a plain path here, else None. Browsers drop tabs and newlines and read a backslash
    as a slash, so ``/\\t/evil.example`` would become ``//evil.example``: any of them refuses the path."""
    if not target or "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    if target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return None
