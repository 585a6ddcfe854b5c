"""A vendor simulator in a process of its own, as a real vendor is another machine: its answer time is
part of the measured wall time, its CPU is not taken from the sync's."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from vectis.platform.config import ROOT


@contextmanager
def simulator(arguments: list[str]) -> Iterator[str]:
    """``arguments`` after ``python``, e.g. ``["-m", "vectis.simulators.vspc", "--scale", "bench"]``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = ROOT / "var" / "bench" / f"{arguments[1].rsplit('.', 1)[-1]}-simulator.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, *arguments, "--port", str(port)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{url}/_sim/stats", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the simulator did not start: see {log}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
