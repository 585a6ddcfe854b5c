"""The cron schedule's jobs run on a real worker against real Redis."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker
from rq.cron import _job_data_registry

from jobs import rules
from jobs.schedule import HEARTBEAT_KEY, heartbeat
from vectis.platform.queues import QUEUES, queue, redis


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

    assert any(entry["func"] is heartbeat and entry["queue_name"] == "sync" for entry in _job_data_registry)


def test_the_rules_tick_enqueues_each_tenant_once_a_minute_and_the_job_runs(app: Flask) -> None:

    with app.app_context():
        rules_queue = queue("rules")
        rules_queue.empty()  # type: ignore[no-untyped-call]
        counted = rules.tick()
        rules.tick()  # a second tick in the same minute (or a second cron by mistake) adds nothing
        jobs = rules_queue.get_jobs()
        assert counted >= 2 and len(jobs) == counted  # every tenant, once
        SimpleWorker([rules_queue], connection=redis()).work(burst=True)
        assert {job.get_status(refresh=True) for job in jobs} == {"finished"}
    assert any(entry["func"] is rules.tick and entry["queue_name"] == "rules" for entry in _registry())


def _registry() -> list[dict[str, object]]:

    return list(_job_data_registry)
