"""The cron schedule's jobs run on a real worker against real Redis."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker

from jobs.schedule import HEARTBEAT_KEY, heartbeat
from vectis.queues import QUEUES, queue, redis


def test_it_runs_the_cron_heartbeat_on_a_worker(app: Flask) -> None:
    with app.app_context():
        redis().delete(HEARTBEAT_KEY)
        job = queue("sync").enqueue(heartbeat)
        SimpleWorker([queue(name) for name in QUEUES], connection=redis()).work(burst=True)
        assert job.get_status(refresh=True) == "finished"
        recorded = job.return_value()
        assert isinstance(recorded, str)
        assert redis().get(HEARTBEAT_KEY) == recorded.encode()


def test_it_registers_the_schedule_for_the_cron_process() -> None:
    from rq.cron import _job_data_registry

    assert any(entry["func"] is heartbeat and entry["queue_name"] == "sync" for entry in _job_data_registry)
