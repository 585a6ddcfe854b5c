"""The worker the Procfile runs builds the app before it forks a horse for each job, and hands no connection across."""

from __future__ import annotations

import pytest
from flask import Flask
from rq import Queue

from jobs import context
from jobs.worker import PreloadedWorker
from tests.conftest import own_workspace
from vectis.platform.queues import redis


def test_a_job_runs_in_a_horse_forked_from_a_built_app_that_holds_no_database_connection(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = own_workspace(app)
    monkeypatch.setattr(context, "_app", app)  # this session's app stands for the one the worker would build
    with app.app_context():
        connection = redis()
        queue = Queue(f"preload-test-{workspace.id}", connection=connection)
        job = queue.enqueue("jobs.metrics.compute", workspace.id)
    worker = PreloadedWorker([queue], connection=connection)
    pools = app.extensions["vectis.platform.db"]
    # Built, imported and holding nothing a horse would share: a pooled socket used by two processes corrupts both.
    assert context._app is app
    assert pools.app_engine.pool.checkedin() == 0 and pools.owner_engine.pool.checkedin() == 0
    # One job, forked and waited for as the worker's loop does it, without the loop's signal handlers and
    # subscriptions landing in the test's own process.
    worker.execute_job(job, queue)
    result = job.latest_result()
    assert result is not None and result.type == result.Type.SUCCESSFUL, result and result.exc_string
    assert pools.app_engine.pool.checkedin() == 0  # the horse's own connections went with it
