"""``make demo`` beside another demo: it must not take the other one's health check for its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from vectis.platform.config import ROOT


def test_it_refuses_to_start_on_a_port_in_use_and_says_which() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        done = subprocess.run(
            [sys.executable, "-m", "vectis.demo"],
            cwd=ROOT,
            env={**env, "VECTIS_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert f"already in use: {port} (the web process)" in done.stderr
    assert "Is another make demo running?" in done.stderr
