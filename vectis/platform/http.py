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
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util import parse_url

from vectis.platform.params import integer
from vectis.platform.ratelimit import TokenBucket

log = logging.getLogger("vectis.http")

READS = frozenset({"GET", "HEAD"})
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
# Cloud metadata services outside the link-local range: AWS over IPv6, Alibaba, Oracle.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
Resolver = Callable[[str, int], list[str]]


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


def vendor_url(url: str) -> SplitResult:
    """The one parser for a vendor's URL, for the check and the connection alike. A backslash, user-info
    (``user@``), whitespace or a control character is refused outright: parsers disagree about where such a
    URL's host is (``http://127.0.0.1:18999\\@10.0.0.1/`` is 10.0.0.1 to one and 127.0.0.1 to another)."""
    refused = ConnectorError("The URL must start with https:// (or http://) and name a host.", permanent=True)
    if "\\" in url or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise ConnectorError(
            "The URL has a backslash, a space or a control character; type it plainly.", permanent=True
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused
    if "@" in parts.netloc:
        raise ConnectorError(
            "The URL must not carry a user name or password (user@host): enter them in their fields.", permanent=True
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ConnectorError("The URL's port must be a number between 1 and 65535.", permanent=True) from None
    # What requests will connect to must be what we checked.
    if (parse_url(url).host or "").strip("[]").lower() != parts.hostname.lower():
        raise refused
    return parts


def _resolve(host: str, port: int) -> list[str]:
    # A name under .localhost is this machine (RFC 6761 6.3), as browsers take it: glibc's resolver knows only
    # "localhost" itself, and the demo's workspaces live at acme.localhost. Still loopback, still judged as such.
    if host.lower().rstrip(".").endswith(".localhost"):
        return ["127.0.0.1"]
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


def check_host(host: str, port: int, *, allow_loopback: bool, resolve: Resolver = _resolve) -> str:
    """Refuse hosts that resolve to addresses a vendor never lives at (SSRF); the first address, to connect to.
    Every address the name has is judged, so a name cannot hide a bad address behind a good one."""
    try:
        found = resolve(host, port)
    except socket.gaierror:
        raise ConnectorError(f"The host {host} could not be found (DNS). Check the URL.", permanent=True) from None
    if not found:
        raise ConnectorError(f"The host {host} could not be found (DNS). Check the URL.", permanent=True)
    for text in found:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address):
            # ::ffff:127.0.0.1 and 6to4 forms reach IPv4 hosts on a dual-stack socket: judge the IPv4 inside.
            address = address.ipv4_mapped or address.sixtofour or address
        if address.is_reserved and not address.is_private:
            raise BlockedAddress(f"{host} resolves to {address}, a reserved address Vectis never connects to.")
        if address in METADATA_ADDRESSES or address.is_link_local or address.is_multicast or address.is_unspecified:
            raise BlockedAddress(f"{host} resolves to {address}, an address Vectis never connects to.")
        if address.is_loopback and not allow_loopback:
            raise BlockedAddress(f"{host} resolves to this server itself ({address}); Vectis does not connect there.")
    return found[0].split("%", 1)[0]


class PinnedAdapter(HTTPAdapter):
    """Connects to the address that was checked, never to what DNS says a moment later (rebinding); TLS still
    checks the certificate against the host name."""

    def __init__(self, address: str, hostname: str) -> None:
        super().__init__()
        self.address, self.hostname = address, hostname

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[Any, Any]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        extra: dict[str, Any] = {"server_hostname": self.hostname, "assert_hostname": self.hostname}
        return {**host_params, "host": self.address}, {
            **pool_kwargs,
            **(extra if host_params["scheme"] == "https" else {}),
        }


class Unreached(Exception):
    """A request that got no HTTP answer. ``reason`` says why in words: "connection refused"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _not_connected(exc: requests.ConnectionError) -> str:
    """Why a connection failed, from the OS error under requests' and urllib3's wrappers (an exception's
    ``reason``, its first argument, or its cause)."""
    found: object = exc
    for _ in range(10):  # the wrappers are three deep; a cycle must not hang
        if isinstance(found, ConnectionRefusedError):
            return "connection refused (nothing listens at that address and port)"
        if isinstance(found, ConnectionResetError):
            return "the connection was reset before an answer came"
        if not isinstance(found, BaseException):
            break
        inner = getattr(found, "reason", None) or (found.args[0] if found.args else None)
        found = inner if isinstance(inner, BaseException) else found.__cause__ or found.__context__
    return "the connection failed"


def post_once(
    url: str, body: bytes, headers: Mapping[str, str], *, timeout: float, allow_loopback: bool,
    resolve: Resolver = _resolve,
) -> requests.Response:  # fmt: skip
    """One POST to ``url``, never repeated, for Vectis checking an address of its own (its webhook URL) rather than
    talking to a vendor: the same URL rules, SSRF guard and address pinning as :class:`HttpClient`, ``timeout``
    seconds to connect and as many to answer, and :class:`Unreached` in words when no HTTP answer came. The log
    names the host and the status, never the path (a webhook URL's last part is a secret)."""
    try:
        parts = vendor_url(url)
    except ConnectorError as exc:
        raise Unreached(exc.message.rstrip(".")) from None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = check_host(parts.hostname or "", port, allow_loopback=allow_loopback, resolve=resolve)
    except BlockedAddress as exc:
        raise Unreached(exc.message.rstrip(".")) from None
    except ConnectorError:
        raise Unreached("its host name could not be found (DNS)") from None
    session = requests.Session()
    session.trust_env = False
    session.mount(f"{parts.scheme}://", PinnedAdapter(address, parts.hostname or ""))
    started = time.monotonic()
    try:
        response = session.post(
            url, data=body, headers={"Host": parts.netloc, **headers}, timeout=timeout, allow_redirects=False
        )
    except requests.ConnectTimeout:
        raise Unreached(f"no connection within {timeout:g} s") from None
    except requests.ReadTimeout:
        raise Unreached(f"the connection was made but no answer came within {timeout:g} s") from None
    except requests.exceptions.SSLError:
        raise Unreached("its TLS certificate was not accepted (expired, self-signed or for another name)") from None
    except requests.ConnectionError as exc:
        raise Unreached(_not_connected(exc)) from None
    finally:
        session.close()
    log.info("POST %s -> %d in %.0f ms", parts.hostname, response.status_code, (time.monotonic() - started) * 1000)
    return response


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header and (seconds := integer(header)) is not None:
        return float(seconds)
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
    resolve: Resolver = _resolve
    sleep: Callable[[float], None] = time.sleep
    headers: dict[str, str] = field(default_factory=dict)
    requests_made: int = 0
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        parts = vendor_url(self.base_url)
        self._scheme, self._host = parts.scheme, parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._netloc = parts.netloc
        self._checked = False
        self._session.trust_env = False  # no proxy from the environment: the call goes where it was checked

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
            address = check_host(self._host, self._port, allow_loopback=self.allow_loopback, resolve=self.resolve)
            self._session.mount(f"{self._scheme}://", PinnedAdapter(address, self._host))
            self._checked = True
        url = urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))
        sent_headers = {"Host": self._netloc, **self.headers, **(headers or {})}
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
