"""The app a job runs in: built once per worker process, from the same settings as the web."""

from __future__ import annotations

from contextlib import AbstractContextManager

from flask import Flask, current_app, has_app_context

from vectis import create_app

_app: Flask | None = None


def app_context() -> AbstractContextManager[object]:
    """The current app's context inside tests and requests; otherwise this process's own app."""
    global _app  # noqa: PLW0603 - one app per worker process, built on first use
    if has_app_context():
        return current_app.app_context()
    if _app is None:
        _app = create_app()
    return _app.app_context()
