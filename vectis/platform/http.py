"""The one outbound HTTP seam (CONVENTIONS #8). Connectors never import ``requests``.

- **Timeouts** on connect and read, always.
- **SSRF guard**: the host's addresses are resolved and checked before every request; link-local,
  cloud-metadata, multicast and unspecified addresses are refused, loopback too unless allowed (the
  simulators run there). Private networks stay allowed: VSPC and friends are self-hosted by the MSP.
- **Rate limit**: a per-connection token bucket in Redis, shared by every worker.
- **Retries** only on retryable failures (429, 5xx including VSPC's 520, timeouts, connection resets),
  with full-jitter exponential backoff that honours ``Retry-After`` and VSPC's JSON-body ``retryAfter``.
- **A write reaches the vendor at most once.** ``retry`` is required: ``True`` for a request that can be sent
  again safely (a read, a replace), ``False`` for one the vendor may have acted on (a POST that adds a note).
  The latter is repeated only when it provably never left (refused, DNS, connect timeout) or the vendor said
  it did not process it (429), or when an idempotency key lets the vendor drop the repeat. After an outcome
  nobody can know (read timeout, reset, 5xx) it raises :class:`UncertainOutcome`: the caller reads back.
- **Typed errors** with a ``permanent`` flag; **logs** carry method, path, status and time, never a body,
  a header or a query string.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from vectis.platform.ratelimit import TokenBucket

log = logging.getLogger("vectis.http")

READS = frozenset({"GET", "HEAD"})
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class ConnectorError(Exception):
    """A vendor call failed. ``message`` is for people (the admin page shows it); ``permanent`` errors
    (bad credentials, no rights, wrong host, refused version) pause the connection until fixed,
    transient ones are retried on the next tick with backoff."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status


class UncertainOutcome(ConnectorError):
    """A request that may or may not have been processed (it left, then a timeout, a reset or a 5xx). Never
    retried blindly: the action reads the vendor back, or records that nobody knows."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, permanent=False, status=status)


def never_sent(exc: requests.RequestException) -> bool:
    """The request provably never reached the vendor: no connection was made (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, NewConnectionError)  # NameResolutionError is one too


class BlockedAddress(ConnectorError):
    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def check_host(host: str, port: int, *, allow_loopback: bool) -> None:
    """Refuse hosts that resolve to addresses a vendor never lives at (SSRF)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise ConnectorError(f"The host {host} could not be found (DNS). Check the URL.", permanent=True) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address):
            # ::ffff:127.0.0.1 and 6to4 forms reach IPv4 hosts on a dual-stack socket: judge the IPv4 inside.
            address = address.ipv4_mapped or address.sixtofour or address
        if address.is_reserved and not address.is_private:
            raise BlockedAddress(f"{host} resolves to {address}, a reserved address Vectis never connects to.")
        if address in METADATA_ADDRESSES or address.is_link_local or address.is_multicast or address.is_unspecified:
            raise BlockedAddress(f"{host} resolves to {address}, an address Vectis never connects to.")
        if address.is_loopback and not allow_loopback:
            raise BlockedAddress(f"{host} resolves to this server itself ({address}); Vectis does not connect there.")


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header and header.strip().isdigit():
        return float(header)
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        for error in errors:
            if isinstance(error, dict) and isinstance(error.get("retryAfter"), int | float):
                return float(error["retryAfter"])
    return None


@dataclass
class HttpClient:
    base_url: str
    bucket: TokenBucket | None = None
    allow_loopback: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_wait: float = 300.0  # the longest a Retry-After or the rate limit may hold one request
    idempotency_header: str | None = None  # where the vendor honours one (``Idempotency-Key``)
    sleep: Callable[[float], None] = time.sleep
    headers: dict[str, str] = field(default_factory=dict)
    requests_made: int = 0
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectorError("The URL must start with https:// (or http://) and name a host.", permanent=True)
        self._host, self._port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        self._checked = False

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool,
        idempotency_key: str | None = None,
    ) -> requests.Response:
        """Send, retrying what is worth retrying. Returns any final response below 500 except 429: the
        connector decides what a 401, 403 or 404 means in its vendor's words. ``retry=False`` (a write the
        vendor may have acted on) is repeated only while it provably was not processed, unless the vendor takes
        ``idempotency_key``; otherwise an uncertain outcome raises :class:`UncertainOutcome`."""
        if not self._checked:
            check_host(self._host, self._port, allow_loopback=self.allow_loopback)
            self._checked = True
        url = urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))
        sent_headers = {**self.headers, **(headers or {})}
        if idempotency_key and self.idempotency_header:
            sent_headers[self.idempotency_header] = idempotency_key
            retry = True  # the vendor drops a repeat of the same key
        attempts = self.max_attempts
        for attempt in range(1, attempts + 1):
            if self.bucket is not None:
                self.bucket.take(max_wait=self.max_wait)
            started = time.monotonic()
            try:
                self.requests_made += 1
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    files=files,
                    headers=sent_headers,
                    timeout=(self.connect_timeout, self.read_timeout),
                    allow_redirects=False,
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
                log.warning("%s %s %s (attempt %d)", method, urlsplit(url).path, kind, attempt)
                if not retry and not never_sent(exc):
                    raise UncertainOutcome(
                        f"{self._host} did not answer in time: the request may or may not have been processed."
                    ) from None
                if attempt == attempts and method not in READS and not never_sent(exc):
                    # A write sent again on purpose (a replacement, an idempotency key) may still have landed.
                    raise UncertainOutcome(
                        f"{self._host} did not answer in time: the request may or may not have been processed."
                    ) from None
                if attempt == attempts:
                    raise ConnectorError(
                        f"Connection {kind}: Vectis couldn't reach {self._host}. Make sure the host is reachable "
                        "from wherever Vectis runs.",
                        permanent=False,
                    ) from None
                self.sleep(self._backoff(attempt, None))
                continue
            log.info(
                "%s %s -> %d in %.0f ms",
                method,
                urlsplit(url).path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code in RETRYABLE_STATUS:
                if not retry and response.status_code != 429:
                    raise UncertainOutcome(
                        f"{self._host} answered HTTP {response.status_code} (a server error): the request may or "
                        "may not have been processed.",
                        status=response.status_code,
                    )
                if attempt == attempts and method not in READS and response.status_code != 429:
                    raise UncertainOutcome(
                        f"{self._host} answered HTTP {response.status_code} (a server error) after {attempts} tries: "
                        "the request may or may not have been processed.",
                        status=response.status_code,
                    )
                if attempt == attempts:
                    what = (
                        "is rate-limiting Vectis"
                        if response.status_code == 429
                        else f"answered HTTP {response.status_code} (a server error)"
                    )
                    raise ConnectorError(
                        f"{self._host} {what} and kept doing so after {attempts} tries.",
                        permanent=False,
                        status=response.status_code,
                    )
                self.sleep(self._backoff(attempt, _retry_after(response)))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        # Full jitter: spreads the retries of many workers instead of synchronising them.
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))  # noqa: S311 - not crypto

    def close(self) -> None:
        self._session.close()
