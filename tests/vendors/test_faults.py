"""Every connector through the same faults (``tests/vendors/faults.py``): a SIGKILLed worker resumed, a 429
storm and a 5xx burst, the sync lock expiring under a slow page. Each must end exactly as an undisturbed sync."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest
from flask import Flask

import jobs.sync as sync_job
from jobs.sync import INTERRUPTED, run_sync
from tests.vendors.faults import (
    VENDORS,
    Vendor,
    assert_same,
    busiest_second,
    committed,
    end_state,
    runs,
    settle,
    wait_until,
    worker_process,
)
from tests.vendors.support import sync
from vectis.platform.config import Settings
from vectis.platform.queues import redis

by_name = pytest.mark.parametrize("vendor", VENDORS, ids=[v.name for v in VENDORS])


def reference(app: Flask, vendor: Vendor, state_of: str, now: datetime) -> dict[str, list[tuple[object, ...]]]:
    """The end state of an undisturbed sync of the same simulator data."""
    with vendor.serving(app, getattr(vendor, state_of)(now)) as url:
        setup = vendor.connect(app, url)
        run = sync(app, setup)
        assert run.status == "succeeded", run.error
        settle(app, setup)
        return end_state(app, setup)


@by_name
def test_a_worker_killed_mid_sync_then_resumed_ends_like_an_undisturbed_sync(
    app: Flask, settings: Settings, vendor: Vendor
) -> None:
    now = datetime.now(UTC)
    expected = reference(app, vendor, "large", now)
    state = vendor.large(now)
    with vendor.serving(app, state) as url:
        victim = vendor.connect(app, url)
        state.faults.latency = vendor.latency  # slow pages, so the kill lands mid-stream
        with worker_process(settings, vendor, url, victim) as worker:
            reached = wait_until(lambda: committed(app, victim) >= vendor.killed_after)
            worker.kill()  # SIGKILL: no cleanup, no rollback handler; the lock stays until its TTL
        assert reached, f"the sync never committed {vendor.killed_after} records"
        state.faults.latency = 0.0
        with app.app_context():
            lock = f"vectis:sync-lock:{victim.connection_id}"
            assert redis().exists(lock)
            assert run_sync(victim.tenant_id, victim.connection_id) == "already running"  # nobody syncs twice
            redis().delete(lock)  # what its TTL does once the dead worker stops renewing it
        restarted = sync(app, victim)
        assert restarted.status == "succeeded", restarted.error
        settle(app, victim)
        assert_same(end_state(app, victim), expected)
        assert runs(app, victim) == [("failed", INTERRUPTED), ("succeeded", None)]


@by_name
def test_a_429_storm_and_a_5xx_burst_lose_nothing_and_keep_to_the_vendors_rate(app: Flask, vendor: Vendor) -> None:
    now = datetime.now(UTC)
    expected = reference(app, vendor, "small", now)
    state = vendor.small(now)
    limit = vendor.storm_limit
    with vendor.serving(app, state) as url:
        stormy = vendor.connect(app, url, rate=100)  # our own pacing well above the vendor's: its 429s pace us
        state.faults.rate_limit_per_second = limit
        setattr(state.faults, vendor.five_xx, 3)
        run = sync(app, stormy)
        assert run.status == "succeeded", run.error
        settle(app, stormy)
        statuses = state.stats()["statuses"]
        assert statuses.get("429", 0) > 0 and getattr(state.faults, vendor.five_xx) == 0  # both happened
        # Every 429 said "Retry-After: 1"; honouring it, Vectis never sends much more than the limit a second.
        assert busiest_second(state.answers()) <= limit + 2
        assert_same(end_state(app, stormy), expected)


@by_name
def test_the_lock_outlives_a_page_slower_than_its_ttl_so_no_second_worker_starts(
    app: Flask, vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that takes longer than the lock's TTL: before, the lock lapsed under the live worker and a second
    worker synced the same connection alongside it. The holder now renews its lock while it lives."""
    monkeypatch.setattr(sync_job, "LOCK_TTL", 1)
    now = datetime.now(UTC)
    state = vendor.small(now)
    with vendor.serving(app, state) as url:
        setup = vendor.connect(app, url)
        state.faults.latency = 1.5  # every request outlasts the TTL
        outcome: list[str] = []
        first = threading.Thread(target=lambda: outcome.append(sync(app, setup).status))
        first.start()
        try:
            assert wait_until(lambda: state.stats()["total"] >= 1, timeout=10)
            for _ in range(3):  # across several TTLs
                with app.app_context():
                    assert run_sync(setup.tenant_id, setup.connection_id) == "already running"
                threading.Event().wait(1.0)
        finally:
            state.faults.latency = 0.0
            first.join(timeout=120)
        assert outcome == ["succeeded"]
        assert runs(app, setup) == [("succeeded", None)]


@by_name
def test_nul_bytes_huge_strings_dates_out_of_range_and_lone_surrogates_are_stored_safely_or_skipped_with_a_reason(
    app: Flask, vendor: Vendor, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, a NUL byte in one vendor field failed its page on every sync, for good."""
    state = vendor.small(datetime.now(UTC))
    vendor.poison(state)
    with vendor.serving(app, state) as url, caplog.at_level(logging.WARNING, logger="vectis.platform.dates"):
        setup = vendor.connect(app, url)
        run = sync(app, setup)
        assert run.status == "succeeded", run.error
        settle(app, setup)
        again = sync(app, setup)  # and the pages that show them still read back
        assert again.status == "succeeded", again.error
    stored = end_state(app, setup)
    texts = [v for rows in stored.values() for row in rows for v in row if isinstance(v, str)]
    assert texts and all("\x00" not in t for t in texts)
    assert max(len(t) for t in texts) <= 65_536
    assert f"a vendor date outside 1970-2200 was not stored: {vendor.out_of_range}" in caplog.text
    odd = [line["odd"] for line in run.log if line.get("odd")]
    if vendor.name != "keepit":  # XML cannot carry a NUL byte or a lone surrogate, so Keepit's poison has neither
        assert any("NUL bytes removed" in changes for changes in odd), run.log
        assert any("broken characters replaced" in changes for changes in odd), run.log
        assert any("Trojan \ufffd dropper" in t for t in texts)  # stored, the broken character marked
