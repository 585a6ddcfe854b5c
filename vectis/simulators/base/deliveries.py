"""For a simulated vendor that calls its subscribers back (webhooks, callbacks): each delivery is POSTed from a thread
of its own, as the vendor's own queue would, and recorded for the tests and the ``/_sim`` pages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

Json = dict[str, Any]


class Delivers:
    """Mixed into a simulator's state, which holds ``deliveries``, ``_senders`` and the state's ``_lock``."""

    deliveries: list[Json]
    _senders: list[threading.Thread]
    _lock: threading.RLock

    def _in_background(self, send: Callable[..., None], *args: Any) -> None:
        sender = threading.Thread(target=send, args=args, daemon=True)
        with self._lock:
            self._senders = [t for t in self._senders if t.is_alive()]
            self._senders.append(sender)
        sender.start()

    def _deliver(self, entry: Json, url: str, body: bytes, headers: dict[str, str]) -> None:
        """POST ``body``; ``entry`` (what the log says of this delivery) gains its status or its error."""
        try:
            url, headers = _localhost(url, headers)
            response = requests.post(url, data=body, headers=headers, timeout=10)
            entry["status"] = response.status_code
            if response.status_code >= 400:
                entry["error"] = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            entry["error"] = f"{type(error).__name__}: {error}"
        with self._lock:
            self.deliveries.append(entry)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for the deliveries under way (tests)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            senders = list(self._senders)
        for sender in senders:
            sender.join(max(deadline - time.monotonic(), 0))


def _localhost(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A name under .localhost is this machine (RFC 6761), as browsers and Vectis take it, but glibc's resolver knows
    only "localhost" itself: the demo's and the tests' workspaces (acme.localhost) are reached at 127.0.0.1, named in
    the Host header, which is what says the workspace."""
    parts = urlsplit(url)
    if not (parts.hostname or "").lower().rstrip(".").endswith(".localhost"):
        return url, headers
    address = f"127.0.0.1:{parts.port}" if parts.port else "127.0.0.1"
    return urlunsplit(parts._replace(netloc=address)), {**headers, "Host": parts.netloc}
