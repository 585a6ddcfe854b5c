"""The app a job runs in: built once per worker process (before its first fork: ``jobs.worker``), from the same
settings as the web."""

from __future__ import annotations

from contextlib import AbstractContextManager

from flask import Flask, current_app, has_app_context

from vectis import create_app

_app: Flask | None = None


def app_context() -> AbstractContextManager[object]:
    """The current app's context inside tests and requests; otherwise this process's own app."""
    if has_app_context():
        return current_app.app_context()
    return prepare().app_context()


def prepare() -> Flask:
    """This process's app, built on first use (a preloaded worker builds it before it forks: ``jobs.worker``)."""
    global _app  # noqa: PLW0603 - one app per worker process
    if _app is None:
        _app = create_app()
    return _app
