"""Two test runs on one machine (a second checkout, a run beside CI) each take Redis dbs of their own."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import TEST_REDIS_DBS, _redis_db
from vectis.platform.config import ROOT


def test_a_redis_db_held_by_one_test_process_is_not_taken_by_another() -> None:
    server = "claims-test.invalid:6379"  # a name of its own: the session's real db is claimed on the real server
    mine = _redis_db(server)
    assert _redis_db(server) != mine  # a second worker of this process
    other = subprocess.run(
        [sys.executable, "-c", f"from tests.conftest import _redis_db; print(_redis_db({server!r}))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    taken = int(other.stdout.strip().splitlines()[-1])
    assert taken in TEST_REDIS_DBS and taken != mine
