"""Admin -> Integrations: one card per vendor, its connection's config (secrets masked), tests, syncs."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vectis.connectors import registry
from vectis.connectors.base import CATEGORY_LABELS, Connector
from vectis.connectors.capabilities import RegistersCallbacks, VerifiesCallbacks, supports
from vectis.connectors.factory import build_connector
from vectis.ingest import runlog
from vectis.models import BackupAuditEvent, BackupConnector, Connection, CustomerLink, SyncRun
from vectis.platform import jobs
from vectis.platform.crypto import Sealed, SecretUnreadable
from vectis.platform.dates import span_to_the_second
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis

Vendor = type[Connector]  # what views hold of a vendor: its class, for labels and fields
MASK = "••••••••"  # shown instead of a stored secret; sending it back keeps the secret
RUNNING = ("queued", "running")


@dataclass(frozen=True)
class Card:
    vendor: type[Connector]
    connection: Connection | None
    last_run: SyncRun | None

    @property
    def category(self) -> str:
        return CATEGORY_LABELS.get(self.vendor.category, self.vendor.category)

    @property
    def syncing(self) -> bool:
        return self.last_run is not None and self.last_run.status in RUNNING

    @property
    def state(self) -> tuple[str, str]:
        """(badge style, words) for the card's status badge."""
        c = self.connection
        if c is None:
            return "muted", "Not configured"
        if self.syncing:
            return "info", "Syncing"
        if c.paused_reason:
            return "bad", "Paused"
        if not c.enabled:
            return "muted", "Disabled"
        if c.last_status == "failed":
            return "warn", "Last sync failed"
        return "ok", "Enabled"


def vendor_or_none(key: str) -> type[Connector] | None:
    """The vendor's connector class (its fields and labels), for views that must not import connectors."""
    try:
        return registry.get(key)
    except LookupError:
        return None


def connection_for(session: Session, vendor: str) -> Connection | None:
    return session.scalar(select(Connection).where(Connection.vendor == vendor))


def latest_run(session: Session, connection: Connection | None) -> SyncRun | None:
    if connection is None:
        return None
    return session.scalar(
        select(SyncRun).where(SyncRun.connection_id == connection.id).order_by(SyncRun.id.desc()).limit(1)
    )


def recent_runs(session: Session, connection: Connection | None, limit: int = 10) -> list[SyncRun]:
    if connection is None:
        return []
    return list(
        session.scalars(
            select(SyncRun).where(SyncRun.connection_id == connection.id).order_by(SyncRun.id.desc()).limit(limit)
        )
    )


@dataclass(frozen=True)
class UnmatchedAccount:
    link: CustomerLink
    connectors: int
    events: int


def unmatched_accounts(session: Session, connection: Connection | None) -> list[UnmatchedAccount]:
    """The connection's accounts that are no customer (waiting or kept separate): their data shows here
    and nowhere else."""
    if connection is None:
        return []
    connectors = (
        select(func.count())
        .where(BackupConnector.customer_link_id == CustomerLink.id, BackupConnector.removed_at.is_(None))
        .scalar_subquery()
    )
    events = select(func.count()).where(BackupAuditEvent.customer_link_id == CustomerLink.id).scalar_subquery()
    rows = session.execute(
        select(CustomerLink, connectors, events)
        .where(CustomerLink.connection_id == connection.id, CustomerLink.customer_id.is_(None))
        .order_by(CustomerLink.status, CustomerLink.external_name)
    )
    return [UnmatchedAccount(link, n_connectors, n_events) for link, n_connectors, n_events in rows]


def card(session: Session, vendor: type[Connector]) -> Card:
    connection = connection_for(session, vendor.key)
    return Card(vendor, connection, latest_run(session, connection))


def cards(session: Session) -> list[Card]:
    return [card(session, vendor) for vendor in registry.CONNECTORS.values()]


def stored_config(connection: Connection | None) -> dict[str, Any]:
    """The saved settings, or none when they cannot be opened (a key removed from VECTIS_ENCRYPTION_KEYS):
    the admin re-enters them instead of meeting an error page."""
    if connection is None:
        return {}
    try:
        return connection.read_config()
    except SecretUnreadable:
        return {}


def config_unreadable(connection: Connection | None) -> bool:
    return connection is not None and not stored_config(connection)


def form_values(vendor: type[Connector], connection: Connection | None) -> dict[str, str]:
    """What the form shows: stored values, with every stored secret replaced by the mask."""
    stored = stored_config(connection)
    values = {}
    for f in vendor.fields:
        value = str(stored.get(f.name, "") or "")
        values[f.name] = MASK if f.secret and value else value or f.default
    return values


def merge_config(vendor: type[Connector], submitted: dict[str, Any], connection: Connection | None) -> dict[str, Any]:
    """The submitted form with each masked secret replaced by the stored one, but never towards a new
    address: a stored password goes only to the server it was saved for."""
    stored = stored_config(connection)
    moved = str(submitted.get(vendor.base_url_field, "") or "").strip() != str(stored.get(vendor.base_url_field, ""))
    merged = {}
    for f in vendor.fields:
        value = str(submitted.get(f.name, "") or "").strip()
        if f.secret and value == MASK:
            if moved:
                raise ConnectorError(
                    f"The {vendor.fields[0].label} changed: enter the {f.label.lower()} again. Vectis does not send a "
                    "stored secret to a new address.",
                    permanent=True,
                )
            value = str(stored.get(f.name, ""))
        merged[f.name] = value
    return merged


TEST_TTL = 300  # seconds a test's settings and its answer are kept in Redis
EXPIRED = "This test has expired. Click Test again."


def takes_callbacks(vendor: type[Connector]) -> bool:
    return supports(vendor, VerifiesCallbacks)


def registers_callbacks(vendor: type[Connector]) -> bool:
    """Whether Vectis can ask the vendor for callbacks; otherwise an admin adds the address at the vendor by hand."""
    return supports(vendor, RegistersCallbacks)


@dataclass(frozen=True)
class ConnectionCheck:
    done: bool
    ok: bool = False
    message: str = ""


def _test_key(tenant_id: int, token: str, part: str) -> str:
    return f"vectis:connection-test:{tenant_id}:{token}:{part}"


def start_test(
    session: Session, tenant_id: int, vendor: type[Connector], submitted: dict[str, Any]
) -> str | ConnectionCheck:
    """Check the submitted settings and hand the vendor call to a job: the web request never waits on a vendor.
    Returns the test's token, or its answer when the settings are wrong before any call."""
    connection = connection_for(session, vendor.key)
    try:
        config = vendor.validate_config(merge_config(vendor, submitted, connection))
    except ConnectorError as exc:
        return ConnectionCheck(done=True, ok=False, message=exc.message)
    token = secrets.token_urlsafe(16)
    # Sealed: the settings may hold a new password; they live only as long as the test.
    redis().set(_test_key(tenant_id, token, "config"), Sealed.seal(tenant_id, config).token, ex=TEST_TTL)
    jobs.TEST_CONNECTION.enqueue(tenant_id, vendor.key, token, job_id=f"connection-test-{token}")
    return token


def run_test(session: Session, tenant_id: int, vendor: type[Connector], token: str) -> ConnectionCheck:
    """The job's half: one attempt with short timeouts, the answer kept for the page that polls it."""
    client = redis()
    config_key = _test_key(tenant_id, token, "config")
    # Read, not taken: until the answer is written, the settings' presence is what tells the polling page
    # "still testing". Taking them first made a slow vendor call look like an expired test.
    raw = client.get(config_key)
    if raw is None:
        state = ConnectionCheck(done=True, ok=False, message=EXPIRED)
    else:
        sealed = Sealed(raw if isinstance(raw, bytes) else str(raw).encode())
        ok, message = try_connection(session, tenant_id, vendor, sealed.open(tenant_id), validated=True)
        state = ConnectionCheck(done=True, ok=ok, message=message)
    pipe = client.pipeline()  # the answer lands and the settings go in one step
    pipe.set(_test_key(tenant_id, token, "answer"), json.dumps([state.ok, state.message]), ex=TEST_TTL)
    pipe.delete(config_key)
    pipe.execute()
    return state


def check_state(tenant_id: int, token: str) -> ConnectionCheck:
    answer = redis().get(_test_key(tenant_id, token, "answer"))
    if answer is not None:
        ok, message = json.loads(answer)
        return ConnectionCheck(done=True, ok=bool(ok), message=str(message))
    if redis().exists(_test_key(tenant_id, token, "config")):
        return ConnectionCheck(done=False)
    return ConnectionCheck(done=True, ok=False, message=EXPIRED)


def try_connection(
    session: Session, tenant_id: int, vendor: type[Connector], submitted: dict[str, Any], *, validated: bool = False
) -> tuple[bool, str]:
    """Try the submitted (not yet saved) settings with the interactive policy. Nothing is stored."""

    connection = connection_for(session, vendor.key)
    try:
        config = submitted if validated else vendor.validate_config(merge_config(vendor, submitted, connection))
        # A transient row (never added to the session) carries the tenant, id and rate limit to the client.
        probe = Connection(
            tenant_id=tenant_id, vendor=vendor.key, name=vendor.label, id=connection.id if connection else None
        )
        probe.rate_limit_per_second = connection.rate_limit_per_second if connection else None
        connector = build_connector(
            probe, redis(), current_app.config["VECTIS_SETTINGS"], config=config, interactive=True
        )
        try:
            return True, connector.test_connection()
        finally:
            connector.ctx.http.close()
    except ConnectorError as exc:
        return False, exc.message


@dataclass(frozen=True)
class SyncProgress:
    """What a running sync looks like to an admin waiting on it."""

    running: bool
    words: str = ""  # "Syncing… started 12 s ago"
    latest: str = ""  # the stream it is on, as the run log says it


def sync_progress(run: SyncRun | None, *, now: datetime | None = None) -> SyncProgress:
    if run is None or run.status not in RUNNING:
        return SyncProgress(running=False)
    now = now or datetime.now(UTC)
    if run.status == "queued" or run.started_at is None:
        queued = span_to_the_second(now - run.created_at)
        return SyncProgress(True, f"Queued {queued} ago, waiting for a worker to start it…")
    said = runlog.sentences(run.log[-1:], running=True)
    return SyncProgress(
        True, f"Syncing… started {span_to_the_second(now - run.started_at)} ago", said[0] if said else ""
    )


def run_log(run: SyncRun) -> list[str]:
    """The run's log as sentences."""
    return runlog.sentences(run.log, running=run.status in RUNNING)


def record_counts(run: SyncRun) -> str:
    """{"agent_jobs": 3, "jobs": 40} -> "agent jobs 3 · jobs 40"."""
    return " · ".join(f"{name.replace('_', ' ')} {count:,}" for name, count in run.counts.items())


@dataclass(frozen=True)
class InstantUpdates:
    """A vendor calling Vectis back on every change: on since when, turned on by whom."""

    callback_id: str
    since: datetime | None  # None: turned on before Vectis kept the moment
    by: str | None


def instant_updates(connection: Connection | None) -> InstantUpdates | None:
    """Whether instant updates are on, and since when."""
    if connection is None or not connection.callback_id:
        return None
    return InstantUpdates(connection.callback_id, connection.callback_since, connection.callback_by)
