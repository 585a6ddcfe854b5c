"""The lock a sync holds (``vectis.platform.locks``): renewed while its holder lives, fenced before each commit."""

from __future__ import annotations

import time
import uuid

import pytest
from flask import Flask

from vectis.platform.locks import HeldLock, LockLost
from vectis.platform.queues import redis


def test_a_held_lock_outlives_its_ttl_while_its_holder_lives_and_is_free_after_release(app: Flask) -> None:
    with app.app_context():
        name = f"vectis:test-lock:{uuid.uuid4().hex}"
        held = HeldLock(redis(), name, ttl=0.6)
        assert held.acquire()
        time.sleep(1.5)  # two and a half TTLs
        assert not HeldLock(redis(), name, ttl=0.6).acquire()
        held.check()
        held.release()
        assert redis().exists(name) == 0


def test_a_holder_whose_lock_was_taken_over_is_stopped_before_it_commits(app: Flask) -> None:
    with app.app_context():
        name = f"vectis:test-lock:{uuid.uuid4().hex}"
        held = HeldLock(redis(), name, ttl=30)
        assert held.acquire()
        redis().delete(name)  # Redis restarted, or the holder was paused past its TTL
        other = HeldLock(redis(), name, ttl=30)
        assert other.acquire()
        with pytest.raises(LockLost):
            held.check()
        held.release()  # releases nothing of the new holder's
        other.check()
        other.release()
