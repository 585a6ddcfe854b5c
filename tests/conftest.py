"""Shared fixtures: real PostgreSQL and Redis, two tenants (``acme`` and ``northwind``), signed-in clients.

With ``DATABASE_URL`` / ``REDIS_URL`` set (CI) the tests use those servers, in a database of their own
(``<name>_test``, recreated and migrated each session) and Redis db 9 (flushed). Otherwise they start the
embedded servers under ``var/test/``.

Under pytest-xdist every worker is a session of its own: database ``<name>_test_<worker>`` (``gw0``,
``gw1``, ...) and its own Redis db (see ``TEST_REDIS_DBS``), so workers never see each other's rows or
keys. Without URLs the controller starts the embedded servers once and hands their addresses to the
workers (``pytest_configure_node``); the workers then use them as they would CI's servers.
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from werkzeug.routing import AnyConverter
from werkzeug.routing import Rule as UrlRule
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

import vectis.capabilities  # noqa: F401 - registers every verb before a test module reads VERBS
from tests.device_world import device, org, write
from tests.security_world import detection, site
from tests.security_world import write as write_detections
from vectis import create_app
from vectis.actions import Target
from vectis.demo.seed import DEMO_PASSWORD, demo_totp_secret, seed_demo
from vectis.identity import tokens
from vectis.identity.passwords import hash_password
from vectis.models import (
    Alert,
    ApiToken,
    BackupConnector,
    Connection,
    Customer,
    CustomerLink,
    CustomerNote,
    OutboxMail,
    PortalUser,
    QueryExport,
    Rule,
    RuleVersion,
    SavedQuery,
    Tenant,
    Ticket,
    TicketBoard,
    User,
)
from vectis.platform import db, embedded, public_ids
from vectis.platform.bootstrap import ensure_app_role, migrate, recreate_database
from vectis.platform.config import ROOT, Settings, load
from vectis.platform.crypto import Sealed
from vectis.platform.db import system_session
from vectis.platform.queues import redis
from vectis.query import examples
from vectis.query.spec import parse
from vectis.rules.definition import normalized

TEST_VAR = ROOT / "var" / "test"
# The Redis dbs a test process may take, in the order it tries them (0 is the demo's): Redis has 16, so at most 15
# test processes at once on one server, every xdist worker of every run counted.
TEST_REDIS_DBS = (9, 10, 11, 12, 13, 14, 15, 8, 7, 6, 5, 4, 3, 2, 1)
_CLAIMED: list[Any] = []  # the lock files of the dbs this process holds, open until it ends
# What the xdist controller hands its workers when it started the embedded servers for them.
WORKER_DATABASE_URL, WORKER_REDIS_URL = "vectis_database_url", "vectis_redis_url"


def _worker_id() -> str | None:
    """The xdist worker this process is (``gw0``, ``gw1``, ...), or None in a serial run."""
    return os.environ.get("PYTEST_XDIST_WORKER") or None


def _redis_db(server: str) -> int:
    """A Redis db on ``server`` that no other test process on this machine is using: the first of TEST_REDIS_DBS
    whose lock file it can take. Each run flushes its db as it starts and some tests flush it again, so two runs at
    once (a second checkout, a run beside CI) that shared one signed each other's browsers out and lost each
    other's sync locks. The lock goes with the process, however it ends."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", server)
    for number in TEST_REDIS_DBS:
        claim = (Path(tempfile.gettempdir()) / f"vectis-test-redis-{name}-{number}.lock").open("w")
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            claim.close()
            continue
        _CLAIMED.append(claim)
        return number
    raise pytest.UsageError(f"Redis has 16 dbs: at most {len(TEST_REDIS_DBS)} test processes can share a server")


def _test_database_url(url: str, worker: str | None = None) -> str:
    parsed = make_url(url)
    name = parsed.database or "vectis"
    if not name.endswith("_test"):
        name += "_test"  # never drop the database a developer pointed DATABASE_URL at
    if worker:
        name += f"_{worker}"
    return parsed.set(database=name).render_as_string(hide_password=False)


def _test_redis_url(url: str) -> str:
    base = url.split("?", 1)[0]
    if url.startswith("unix://"):
        return f"{base}?db={_redis_db(base)}"  # the embedded server: xdist's workers share it
    scheme, _, rest = base.rstrip("/").partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{_redis_db(host)}"


def _test_env(database_url: str, redis_url: str, worker: str | None = None) -> dict[str, str]:
    return {
        "VECTIS_ENV": "test",
        "VECTIS_VAR_DIR": str(TEST_VAR),
        "VECTIS_AUDIT_ANCHOR": str(TEST_VAR / f"audit-anchor-{worker or 'serial'}.jsonl"),
        "VECTIS_BASE_DOMAIN": "localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }


class SharedServices:
    """The xdist controller's part: start the embedded servers (those without a URL) once, make the
    generated secrets under ``var/test`` before any worker races to, and tell every worker where the
    servers are. Registered only when xdist runs the session."""

    def __init__(self) -> None:
        self.services: embedded.Embedded | None = None
        self.urls: dict[str, str] = {}

    def pytest_configure_node(self, node: Any) -> None:
        if self.services is None:
            self.services = embedded.start(
                TEST_VAR, postgres=not os.environ.get("DATABASE_URL"), redis=not os.environ.get("REDIS_URL")
            )
            self.urls = {
                WORKER_DATABASE_URL: self.services.database_url or os.environ["DATABASE_URL"],
                WORKER_REDIS_URL: self.services.redis_url or os.environ["REDIS_URL"],
            }
            load(_test_env(self.urls[WORKER_DATABASE_URL], self.urls[WORKER_REDIS_URL]))  # writes the secrets
        node.workerinput.update(self.urls)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.services is not None:
            self.services.stop()


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(SharedServices(), "vectis-shared-services")


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Iterator[Settings]:
    given: dict[str, str] = getattr(request.config, "workerinput", {})
    database_url = given.get(WORKER_DATABASE_URL) or os.environ.get("DATABASE_URL")
    redis_url = given.get(WORKER_REDIS_URL) or os.environ.get("REDIS_URL")
    services = embedded.start(TEST_VAR, postgres=not database_url, redis=not redis_url)
    worker = _worker_id()
    loaded = load(
        _test_env(
            _test_database_url(services.database_url or database_url or "", worker),
            _test_redis_url(services.redis_url or redis_url or ""),
            worker,
        )
    )
    loaded.audit_anchor.unlink(missing_ok=True)  # its database is made anew below
    # Creating a database or the runtime role is not safe to race: workers take turns (migrating is).
    with (TEST_VAR / ".setup.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recreate_database(loaded.database_url)
        ensure_app_role(loaded)
    migrate(loaded, quiet=True)
    yield loaded
    services.stop()


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings=settings)
    with application.app_context():
        redis().flushdb()
        seed_demo()
    yield application
    application.extensions["vectis.platform.db"].dispose()


@dataclass(frozen=True)
class TenantFixture:
    id: int
    slug: str
    host: str
    admin: str
    users: dict[str, int]  # email -> id


def own_workspace(app: Flask) -> TenantFixture:
    """A new workspace with nothing in it, for a test that must see only its own rows (acme and northwind hold every
    other test's); its users come from ``make_user``."""
    from tests.vendors.support import new_tenant  # noqa: PLC0415 - support imports the app's jobs, not conftest

    tenant_id = new_tenant(app)
    with app.app_context(), system_session() as s:
        slug = s.scalars(select(Tenant.slug).where(Tenant.id == tenant_id)).one()
    return TenantFixture(tenant_id, slug, f"{slug}.localhost", "", {})


@pytest.fixture(scope="session")
def tenants(app: Flask) -> dict[str, TenantFixture]:
    """The two tenants every test can use: ``acme`` (admin, technician, read-only) and ``northwind``."""
    found: dict[str, TenantFixture] = {}
    with app.app_context(), system_session() as s:
        for tenant in s.scalars(select(Tenant).where(Tenant.slug.in_(["acme", "northwind"]))):
            users = {u.email: u.id for u in s.scalars(select(User).where(User.tenant_id == tenant.id))}
            found[tenant.slug] = TenantFixture(
                tenant.id, tenant.slug, f"{tenant.slug}.localhost", f"admin@{tenant.slug}.test", users
            )
    assert set(found) == {"acme", "northwind"}
    return found


@pytest.fixture
def acme(tenants: dict[str, TenantFixture]) -> TenantFixture:
    return tenants["acme"]


@pytest.fixture
def northwind(tenants: dict[str, TenantFixture]) -> TenantFixture:
    return tenants["northwind"]


class HostClient(FlaskClient):
    """A test client whose requests all go to one host, as a browser on that tenant's address would."""

    def __init__(self, *args: Any, host: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host = host

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("base_url", f"http://{self.host}")
        return super().open(*args, **kwargs)


_client_addresses = itertools.count(1)


@contextmanager
def serving(app: Flask) -> Iterator[int]:
    """The app on a real socket (127.0.0.1, a free port) in a thread, for clients that speak HTTP themselves: a
    browser, an MCP client, schemathesis. Yields the port; a request names its workspace with its Host header."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()


def client_for(app: Flask, tenant: TenantFixture | str, *, address: str | None = None) -> HostClient:
    """A browser on ``tenant``'s host. Each comes from its own address (sign-in limits are per address)
    unless ``address`` names one, as two tabs on one machine would share it."""
    host = tenant if isinstance(tenant, str) else tenant.host
    n = next(_client_addresses)
    address = address or f"10.{os.getpid() % 250}.{n // 250 % 250}.{n % 250 + 1}"
    client = HostClient(app, app.response_class, use_cookies=True, host=host)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def totp_code(email: str) -> str:
    return pyotp.TOTP(demo_totp_secret(email)).now()


def forget_used_codes(app: Flask) -> None:
    """Test data only: a TOTP code works once per user, and tests sign the same users in many times
    within one 30-second step. The replay rule itself is tested on its own."""
    with app.app_context(), system_session() as s:
        s.execute(update(User).values(totp_last_step=None))


def login(app: Flask, tenant: TenantFixture, email: str | None = None) -> HostClient:
    """A client signed in on ``tenant``'s host (as its admin unless ``email`` is given): password, then
    the TOTP code of the demo user's known secret, through the real forms."""
    email = email or tenant.admin
    client = client_for(app, tenant)
    response = client.post(
        "/signin", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/signin/mfa"), response.get_data(
        as_text=True
    )
    forget_used_codes(app)
    response = client.post(
        "/signin/mfa", data={"code": totp_code(email), "csrf_token": csrf_token(client, "/signin/mfa")}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def csrf_token(client: FlaskClient, path: str = "/signin") -> str:
    """The CSRF token a page hands its forms, read the way a browser gets it."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def client(app: Flask, acme: TenantFixture) -> FlaskClient:
    """Anonymous client on acme's host."""
    return client_for(app, acme)


@pytest.fixture
def screenshots_dir() -> Path:
    path = ROOT / "var" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def _demo_password_hash() -> str:
    return hash_password(DEMO_PASSWORD)  # bcrypt at cost 12 takes a quarter second: once is enough


@dataclass(frozen=True)
class MadeUser:
    id: int
    email: str
    tenant: TenantFixture


@pytest.fixture
def make_user(app: Flask) -> Callable[..., MadeUser]:
    """A fresh, enrolled user (password ``DEMO_PASSWORD``, TOTP secret ``demo_totp_secret(email)``), so a
    test can lock out, deactivate or demote someone without touching the shared demo users."""

    def make(tenant: TenantFixture, role: str = "technician", *, enrolled: bool = True) -> MadeUser:
        email = f"{role}-{uuid.uuid4().hex[:10]}@{tenant.slug}.test"
        with app.app_context(), system_session() as s:
            user = User(
                tenant_id=tenant.id,
                email=email,
                name=f"Test {role.title()}",
                role=role,
                password_hash=_demo_password_hash(),
                totp_secret=Sealed.seal(tenant.id, demo_totp_secret(email)) if enrolled else None,
                mfa_enrolled_at=datetime.now(UTC) if enrolled else None,
            )
            s.add(user)
            s.flush()
            return MadeUser(user.id, email, tenant)

    return make


def sample_path(app: Flask, rule: UrlRule, values: dict[str, object]) -> str:
    """A concrete URL for ``rule``: the given values, plus any word of an ``any(...)`` argument."""
    values = dict(values)
    for arg in rule.arguments - set(values):
        converter = rule._converters[arg]
        assert isinstance(converter, AnyConverter), f"{rule.rule}: give a sample value for <{arg}>"
        # AnyConverter keeps only its regex, "(?:a|b|c)": any one of its words makes a valid URL.
        values[arg] = re.sub(r"\\(.)", r"\1", converter.regex.removeprefix("(?:").removesuffix(")").split("|")[0])
    with app.app_context():  # public ids are enciphered with the installation's key
        return app.url_map.bind("acme.localhost").build(rule.endpoint, values)


def waiting_account(app: Flask, tenant: TenantFixture) -> tuple[Target, int]:
    """A fresh unlinked vendor account, and a customer it could be."""
    with app.app_context(), db.tenant_session(tenant.id) as s:
        tag = time.time_ns()
        connection = s.scalar(select(Connection).where(Connection.vendor == "test-matching"))
        if connection is None:
            connection = Connection(
                tenant_id=tenant.id, vendor="test-matching", name="Matching", config=Sealed.seal(tenant.id, {})
            )
            s.add(connection)
        customer = Customer(tenant_id=tenant.id, name=f"Customer {tag}", normalized_name=f"customer {tag}")
        s.add(customer)
        s.flush()
        link = CustomerLink(
            tenant_id=tenant.id,
            connection_id=connection.id,
            external_id=f"acc-{tag}",
            external_name=f"Account {tag}",
            status="unlinked",
        )
        s.add(link)
        s.flush()
        return Target("customer_link", str(link.id), link.external_name), customer.id


_SHARED_CUSTOMERS: dict[tuple[Flask, int], int] = {}


def a_customer(app: Flask, tenant_id: int) -> int:
    """One customer of ``tenant_id`` that object-route tests share, with a backup job, so every hub tab
    it can have exists; made again if a test has removed it (one that must leave a workspace as it found it)."""
    known = _SHARED_CUSTOMERS.get((app, tenant_id))
    if known is not None:
        with app.app_context(), db.tenant_session(tenant_id) as s:
            if s.get(Customer, known) is not None:
                return known
    _SHARED_CUSTOMERS[(app, tenant_id)] = made = _a_customer(app, tenant_id)
    return made


def _a_customer(app: Flask, tenant_id: int) -> int:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        customer = Customer(tenant_id=tenant_id, name="Object Route Dental", normalized_name="object route dental")
        connection = s.scalar(select(Connection).where(Connection.vendor == "veeam"))
        if connection is None:
            connection = Connection(
                tenant_id=tenant_id, vendor="veeam", name="Veeam", config=Sealed.seal(tenant_id, {})
            )
        s.add_all([customer, connection])
        s.flush()
        s.add(
            BackupConnector(
                tenant_id=tenant_id,
                connection_id=connection.id,
                customer_id=customer.id,
                external_id=f"route-{customer.id}",
                name="FS01 Daily",
                kind="Backup",
                vendor_type="BackupVm",
            )
        )
        psa = s.scalar(select(Connection).where(Connection.vendor == "connectwise"))
        if psa is None:
            psa = Connection(
                tenant_id=tenant_id, vendor="connectwise", name="ConnectWise", config=Sealed.seal(tenant_id, {})
            )
            s.add(psa)
            s.flush()
        board = TicketBoard(
            tenant_id=tenant_id, connection_id=psa.id, external_id=f"b{customer.id}", name="Service Desk"
        )
        s.add(board)
        s.flush()
        now = datetime.now(UTC)
        s.add(
            Ticket(
                tenant_id=tenant_id,
                connection_id=psa.id,
                customer_id=customer.id,
                external_id=f"t{customer.id}",
                summary="Printer offline",
                board_id=board.id,
                status_name="New",
                opened_at=now,
                vendor_updated_at=now,
            )
        )
        return customer.id


def a_ticket(app: Flask, tenant_id: int) -> int:
    """The ticket of :func:`a_customer`."""
    customer_id = a_customer(app, tenant_id)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.scalar(select(Ticket.id).where(Ticket.customer_id == customer_id))
        assert found is not None
        return found


def an_alert(app: Flask, tenant_id: int, *, on_customer: bool = True) -> int:
    """An open alert on the backup job of :func:`a_customer`, or on that job with no customer at all."""

    customer_id = a_customer(app, tenant_id)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        job = s.scalar(select(BackupConnector).where(BackupConnector.customer_id == customer_id))
        assert job is not None
        now = datetime.now(UTC)
        alert = Alert(
            tenant_id=tenant_id, customer_id=customer_id if on_customer else None, connection_id=job.connection_id, source="Veeam",
            condition=f"route:{uuid.uuid4().hex[:12]}", severity="critical", subject_type="backup_job", subject_id=job.id,
            subject_label=job.name, message="failed", first_seen_at=now, last_seen_at=now,
        )  # fmt: skip
        s.add(alert)
        s.flush()
        return alert.id


@functools.cache
def a_device(app: Flask, tenant_id: int) -> int:
    """One device of :func:`a_customer`, written as an RMM's sync writes it, for object-route tests to share."""
    customer_id = a_customer(app, tenant_id)
    organisation = org(app, tenant_id, existing=customer_id)
    return write(app, tenant_id, [device("ROUTE-PC01", organisation, external_id=f"route-{customer_id}")])[
        f"route-{customer_id}"
    ]


def a_portal_user(app: Flask, tenant_id: int) -> int:
    """A fresh portal user (invited, no password yet) of :func:`a_customer`, for object-route tests."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        person = PortalUser(
            tenant_id=tenant_id, customer_id=a_customer(app, tenant_id), name="Route Person",
            email=f"route-{uuid.uuid4().hex[:10]}@customer.test", role="member", invited_by="test",
        )  # fmt: skip
        s.add(person)
        s.flush()
        return person.id


def a_mail(app: Flask, tenant_id: int) -> int:
    """A portal mail in the outbox (not sent), for object-route tests."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        mail = OutboxMail(
            tenant_id=tenant_id, to_address="route@customer.test", subject="Route mail", body=Sealed.seal(tenant_id, "Hello.")
        )  # fmt: skip
        mail.shell = {"action_url": None, "action_label": None, "logo_url": None}  # a portal mail, in the branded shell
        s.add(mail)
        s.flush()
        return mail.id


def a_detection(app: Flask, tenant_id: int) -> int:
    """One open detection at a site linked to a fresh customer, written as an endpoint-security sync writes it, for
    object-route tests to share."""
    where = site(app, tenant_id)
    return write_detections(app, where, [detection(where, "Route.Test", external_id=f"route-{where.customer_id}")])[
        f"route-{where.customer_id}"
    ]


def a_rule(app: Flask, tenant_id: int, mode: str = "paused") -> int:
    """A rule with one version, paused unless told (so it never fires in another test)."""

    definition = normalized({"trigger": "backup.failed", "actions": [{"type": "create_alert", "params": {}}]})
    with app.app_context(), db.tenant_session(tenant_id) as s:
        rule = Rule(tenant_id=tenant_id, name="Object route rule", mode=mode, version=1, trigger="backup.failed")
        s.add(rule)
        s.flush()
        s.add(RuleVersion(tenant_id=tenant_id, rule_id=rule.id, version=1, definition=definition, created_by="test"))
        return rule.id


def a_note(app: Flask, tenant: TenantFixture, author_email: str | None = None) -> int:
    """A fresh note on :func:`a_customer`, written by ``author_email`` (the tenant's admin by default)."""

    with app.app_context(), db.tenant_session(tenant.id) as s:
        note = CustomerNote(
            tenant_id=tenant.id,
            customer_id=a_customer(app, tenant.id),
            author_id=tenant.users[author_email or tenant.admin],
            body="Called about the printer.",
            occurred_at=datetime.now(UTC),
        )
        s.add(note)
        s.flush()
        return note.id


def a_saved_query(app: Flask, tenant_id: int) -> int:
    """A fresh saved query shared with everyone (one method deletes it)."""
    spec = parse(examples.FAILING_BACKUP_NO_OPEN_TICKET)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        query = SavedQuery(
            tenant_id=tenant_id, name="Object route query", owner_label="test", spec=spec.raw, spec_hash=spec.hash
        )
        s.add(query)
        s.flush()
        return query.id


def an_export(app: Flask, tenant: TenantFixture) -> int:
    """A finished CSV export of the tenant's admin, kept for a day."""
    spec = parse(examples.FAILING_BACKUP_NO_OPEN_TICKET)
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(tenant.id) as s:
        export = QueryExport(
            tenant_id=tenant.id, user_id=tenant.users[tenant.admin], spec=spec.raw, spec_hash=spec.hash, format="csv",
            state="done", rows_total=0, rows_written=0, file=b"Customer\r\n", file_size=10, file_name="route.csv",
            created_at=now, expires_at=now + timedelta(days=1),
        )  # fmt: skip
        s.add(export)
        s.flush()
        return export.id


def an_api_token(app: Flask, tenant: TenantFixture, user_id: int | None = None) -> int:
    """A fresh read token of ``user_id`` (the tenant's admin by default; one method revokes it)."""
    raw = tokens.generate()
    with app.app_context(), db.tenant_session(tenant.id) as s:
        token = ApiToken(
            tenant_id=tenant.id, user_id=user_id or tenant.users[tenant.admin], label="Object route token", prefix=tokens.shown(raw),
            token_hash=tokens.digest(raw), scopes=["read"], expires_at=datetime.now(UTC) + timedelta(days=1),
        )  # fmt: skip
        s.add(token)
        s.flush()
        return token.id


def acme_connection(app: Flask, tenant_id: int) -> int:
    """A connection of the tenant (its Veeam one, from the seed)."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.scalar(select(Connection.id).where(Connection.vendor == "veeam"))
        assert found is not None
        return found


def pid(app: Flask, kind: str, key: int | None) -> str:
    """The public id a URL carries for row ``key`` (``vectis/platform/public_ids.py``)."""
    with app.app_context():
        return public_ids.encode(kind, key)
