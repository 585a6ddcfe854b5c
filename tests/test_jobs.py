"""The cron schedule's jobs run on a real worker against real Redis."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq import SimpleWorker
from rq.cron import _job_data_registry
from sqlalchemy import delete, insert, select, text, update

from jobs import audit, rules, sync
from jobs.schedule import HEARTBEAT_KEY, heartbeat
from tests.conftest import TenantFixture, a_ticket, acme_connection, login
from vectis.models import Connection, Customer, TicketNote
from vectis.platform import db
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


def test_the_audit_anchor_runs_on_a_worker_and_adds_a_line_only_when_a_chain_grew(
    app: Flask, acme: TenantFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(app.config["VECTIS_SETTINGS"], audit_anchor=tmp_path / "anchor.jsonl")
    monkeypatch.setitem(app.config, "VECTIS_SETTINGS", settings)
    assert any(entry["func"] is audit.anchor and entry["interval"] == 300 for entry in _job_data_registry)

    def run() -> list[dict[str, object]]:
        with app.app_context():
            job = queue("sync").enqueue(audit.anchor)
            SimpleWorker([queue("sync")], connection=redis()).work(burst=True)
            assert job.get_status(refresh=True) == "finished"
        return [json.loads(line) for line in settings.audit_anchor.read_text().splitlines()]

    login(app, acme)  # acme has an audited sign-in at least
    with app.app_context():
        for key in redis().keys("vectis:audit:anchored:*"):
            redis().delete(key)
    with caplog.at_level(logging.INFO, logger="vectis.audit.chain"):
        first = run()
    assert {line["tenant_id"] for line in first} >= {acme.id}
    assert "audit anchor: installation=" in caplog.text  # the worker log holds a second copy
    assert run() == first  # nothing new was audited: no new line
    login(app, acme)  # a sign-in is audited
    grown = run()[len(first) :]
    assert [line["tenant_id"] for line in grown] == [acme.id]


def test_after_a_sync_the_tables_it_bulk_loaded_get_fresh_statistics(app: Flask, acme: TenantFixture) -> None:
    """A first sync loads thousands of rows into tables the planner believes empty (issue 17: with stale
    statistics name matching took a nested-loop anti join, 6 s for 5,000 accounts). The sync job analyzes
    what changed beyond autovacuum's threshold, once, in a job of its own."""
    with app.app_context():
        with db.system_session() as s:  # beyond the threshold whatever earlier tests left in the table
            known = s.scalar(text("SELECT greatest(reltuples, 0) FROM pg_class WHERE relname = 'customers'")) or 0
        with db.tenant_session(acme.id) as s:
            s.execute(
                insert(Customer),
                [
                    {"tenant_id": acme.id, "name": f"Bulk {n}", "normalized_name": f"bulk {n}"}
                    for n in range(int(2000 + 0.2 * known))
                ],
            )
            s.commit()
            s.execute(text("SELECT pg_stat_force_next_flush()"))  # this backend's counters, visible now
        try:
            # The counters reach the statistics when that backend next goes idle: wait for them, briefly.
            deadline = time.monotonic() + 10
            while "customers" not in (analyzed := db.analyze_what_changed()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "customers" in analyzed
            assert "customers" not in db.analyze_what_changed()  # fresh now: nothing to do twice
            assert sync.analyze().startswith("analyzed")  # the job the sync enqueues
        finally:  # left behind, 2,000 customers push a later test's customer off the list's first page
            with db.tenant_session(acme.id) as s:
                s.execute(delete(Customer).where(Customer.name.like("Bulk %")))


def test_after_a_sync_the_words_it_wrote_are_merged_into_the_search_indexes(app: Flask, acme: TenantFixture) -> None:
    """A GIN index keeps new rows' words in a pending list every search reads whole until VACUUM merges it; after a
    sync of a few thousand notes that was half a ticket search's time (issue 17). The job the sync enqueues merges
    it."""
    ticket_id = a_ticket(app, acme.id)
    with app.app_context():
        with db.tenant_session(acme.id) as s:
            s.add_all(
                TicketNote(
                    tenant_id=acme.id,
                    ticket_id=ticket_id,
                    external_id=f"merge-{n}",
                    body=f"Rebooted HV{n:02d} after updates",
                    internal=True,
                    written_at=datetime.now(UTC),
                )
                for n in range(50)
            )
        done = sync.analyze()
        assert re.search(r"merged [1-9][0-9]* pages of new words", done), done
        with db.system_session() as s:
            assert s.scalar(text("SELECT gin_clean_pending_list('ix_ticket_notes_body_words'::regclass)")) == 0


def test_a_sync_job_that_crashed_does_not_keep_its_connection_from_syncing_again(
    app: Flask, acme: TenantFixture
) -> None:
    """The tick enqueues each due connection under an id made of its due time, so two ticks enqueue it once.
    A job that crashed (seen after a deploy ran new code before its migration) never moves the due time: its
    failed job kept the id taken, and the connection never synced again."""
    connection_id = acme_connection(app, acme.id)
    due = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        with db.system_session() as s:
            before = s.execute(
                select(Connection.enabled, Connection.next_run_at).where(Connection.id == connection_id)
            ).one()
            s.execute(update(Connection).where(Connection.id == connection_id).values(next_run_at=due, enabled=True))
        sync_queue = queue("sync")
        sync_queue.empty()  # type: ignore[no-untyped-call]
        job_id = f"sync-{connection_id}-{int(due.timestamp())}"
        sync_queue.enqueue("builtins.int", "not a number", job_id=job_id)  # a job that raises
        SimpleWorker([sync_queue], connection=redis()).work(burst=True)
        failed = sync_queue.fetch_job(job_id)
        assert failed is not None and failed.get_status() == "failed"
        try:
            sync.tick()  # a crash a moment ago: not every tick, lest one that keeps crashing run every minute
            assert job_id not in sync_queue.get_job_ids()
            failed.ended_at = datetime.now(UTC) - sync.RETRY_ENDED_AFTER - timedelta(seconds=1)
            failed.save()
            sync.tick()
            again = sync_queue.fetch_job(job_id)
            assert again is not None and again.get_status() == "queued" and again.func_name == "jobs.sync.run_sync"
            sync.tick()  # queued already: a second tick adds nothing
            assert sync_queue.get_job_ids().count(job_id) == 1
        finally:
            sync_queue.empty()  # type: ignore[no-untyped-call]
            with db.system_session() as s:
                s.execute(
                    update(Connection)
                    .where(Connection.id == connection_id)
                    .values(enabled=before.enabled, next_run_at=before.next_run_at)
                )
