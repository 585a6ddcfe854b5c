"""``perform()`` is the one write-back path: every verb, every outcome, exactly one audit row each."""

from __future__ import annotations

import ast
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import pyotp
import pytest
from flask import Flask
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select, update

from jobs.actions import run_queued
from tests.conftest import (
    MadeUser,
    TenantFixture,
    a_customer,
    a_rule,
    a_saved_query,
    acme_connection,
    an_alert,
    an_api_token,
    serving,
    waiting_account,
)
from tests.portal_world import PASSWORD as PORTAL_PASSWORD
from tests.portal_world import password_hash as portal_password_hash
from tests.vendors.support import Setup, add_connection, serve_app, vendor_url
from vectis.actions import VERBS, Actor, Applied, Target, perform
from vectis.actions.base import Context, RateLimit, Verb
from vectis.connectors.factory import seal_config
from vectis.connectors.pax8 import parse_subscription
from vectis.connectors.sentinelone import parse_threat
from vectis.demo.seed import DEMO_PASSWORD
from vectis.devices.writer import links_of
from vectis.identity import mfa
from vectis.ingest.matching import Account, link_accounts
from vectis.licensing.writer import write_subscriptions
from vectis.models import (
    RETENTION_DAYS,
    Alert,
    AuditEntry,
    Connection,
    CustomerLink,
    CustomerNote,
    LicenseScheduledChange,
    PortalSettings,
    PortalUser,
    PsaMember,
    QueuedAction,
    Rule,
    RuleVersion,
    SavedQuery,
    Ticket,
    TicketBoard,
    TicketPriority,
    TicketStatus,
)
from vectis.platform import db, public_ids
from vectis.platform.config import ROOT
from vectis.platform.crypto import Sealed
from vectis.platform.queues import queue
from vectis.query import examples
from vectis.security.writer import write_detections
from vectis.simulators.connectwise import DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, ConnectWiseState
from vectis.simulators.connectwise import create_app as create_cw_app
from vectis.simulators.pax8 import DEMO_CLIENT_ID as PAX8_CLIENT_ID
from vectis.simulators.pax8 import DEMO_CLIENT_SECRET as PAX8_CLIENT_SECRET
from vectis.simulators.pax8 import Pax8State
from vectis.simulators.pax8 import create_app as create_pax8_app
from vectis.simulators.sentinelone import DEMO_API_TOKEN as SENTINELONE_TOKEN
from vectis.simulators.sentinelone import SentinelOneState
from vectis.simulators.sentinelone import create_app as create_s1_app


def actor(user: MadeUser, role: str) -> Actor:
    return Actor("user", str(user.id), user.email, role)


def user_target(user: MadeUser) -> Target:
    return Target("user", str(user.id), user.email)


@dataclass
class Case:
    """How to make one verb succeed, fail and be refused."""

    actor: Actor
    target: Target
    ok: dict[str, Any]
    failing_target: Target
    failing: dict[str, Any]
    blocked_actor: Actor
    failing_actor: Actor | None = None


@dataclass
class PsaTicket:
    target: Target
    other_status_id: int
    board_id: int
    customer_id: int
    priority_id: int
    connection_id: int
    member_id: int  # a member the ticket is not assigned to, so assigning it changes something


def psa_ticket(app: Flask, acme: TenantFixture, sim: Any) -> PsaTicket:
    """acme's ConnectWise connection pointed at the simulator, one of its open tickets stored in Vectis."""
    state, url = sim
    open_ticket = next(t for t in state.tickets.values() if not t.closed and t.board_id == 1)
    other = next(st for st in state.statuses.values() if st["boardId"] == 1 and st["id"] != open_ticket.status_id)
    customer_id = a_customer(app, acme.id)
    config = {
        "site_url": url,
        "company_id": DEMO_COMPANY_ID,
        "public_key": DEMO_PUBLIC_KEY,
        "private_key": DEMO_PRIVATE_KEY,
        "client_id": "",
    }
    with app.app_context(), db.tenant_session(acme.id) as s:
        connection = s.scalar(select(Connection).where(Connection.vendor == "connectwise"))
        assert connection is not None
        connection.config = Sealed.seal(acme.id, config)
        connection.rate_limit_per_second = 1000  # many verbs in a row: none should wait for the bucket here
        board = s.scalar(
            select(TicketBoard).where(TicketBoard.connection_id == connection.id, TicketBoard.external_id == "1")
        )
        if board is None:
            board = TicketBoard(tenant_id=acme.id, connection_id=connection.id, external_id="1", name="Service Desk")
            s.add(board)
            s.flush()
        status = s.scalar(
            select(TicketStatus).where(TicketStatus.board_id == board.id, TicketStatus.external_id == str(other["id"]))
        )
        if status is None:
            status = TicketStatus(
                tenant_id=acme.id, board_id=board.id, external_id=str(other["id"]), name=other["name"]
            )
            s.add(status)
        ticket = s.scalar(
            select(Ticket).where(Ticket.connection_id == connection.id, Ticket.external_id == str(open_ticket.id))
        )
        if ticket is None:
            now = datetime.now(UTC)
            ticket = Ticket(
                tenant_id=acme.id, connection_id=connection.id, external_id=str(open_ticket.id), summary="From ConnectWise",
                board_id=board.id, status_name="New", opened_at=now, vendor_updated_at=now,
            )  # fmt: skip
            s.add(ticket)
        link = s.scalar(
            select(CustomerLink).where(
                CustomerLink.connection_id == connection.id, CustomerLink.customer_id == customer_id
            )
        )
        if link is None:
            s.add(CustomerLink(
                tenant_id=acme.id, connection_id=connection.id, customer_id=customer_id,
                external_id=str(open_ticket.company_id), external_name="ConnectWise company",
            ))  # fmt: skip
        priority = s.scalar(select(TicketPriority).where(TicketPriority.connection_id == connection.id))
        if priority is None:
            priority = TicketPriority(tenant_id=acme.id, connection_id=connection.id, external_id="2", name="High")
            s.add(priority)
        someone = next(m for m in state.members.values() if m["id"] != open_ticket.owner_id)
        member = s.scalar(
            select(PsaMember).where(
                PsaMember.connection_id == connection.id, PsaMember.external_id == str(someone["id"])
            )
        )
        if member is None:
            member = PsaMember(
                tenant_id=acme.id,
                connection_id=connection.id,
                external_id=str(someone["id"]),
                name=someone["identifier"],
            )
            s.add(member)
        s.flush()
        return PsaTicket(
            Target("ticket", str(ticket.id), "#t"), status.id, board.id, customer_id, priority.id, connection.id,
            member.id,
        )  # fmt: skip


def cases(
    acme: TenantFixture,
    make_user: Callable[..., MadeUser],
    app: Flask | None = None,
    sim: Any = None,
    port: int | None = None,
) -> dict[str, Callable[[], Case]]:
    def admin_case(
        ok: dict[str, Any], failing: dict[str, Any] | None = None, *, fail_on_self: bool = False
    ) -> Callable[[], Case]:
        def build() -> Case:
            admin, subject, tech = make_user(acme, "admin"), make_user(acme), make_user(acme)
            me = actor(admin, "admin")
            failing_target = user_target(admin) if fail_on_self else Target("user", "999999999", "ghost")
            return Case(me, user_target(subject), ok, failing_target, failing or {}, actor(tech, "technician"))

        return build

    def retention() -> Callable[[], Case]:
        def build() -> Case:
            admin, tech = make_user(acme, "admin"), make_user(acme)
            workspace = Target("workspace", str(acme.id), "Acme IT Services")
            days = {field: str(default) for field, (default, _, _) in RETENTION_DAYS.items()}  # the defaults again
            return Case(
                actor(admin, "admin"),
                workspace,
                days,
                workspace,
                {**days, "webhook_days": "0"},
                actor(tech, "technician"),
            )

        return build

    def invite() -> Case:
        admin, tech = make_user(acme, "admin"), make_user(acme)
        email = f"invitee-{time.time_ns()}@acme.test"
        return Case(
            actor(admin, "admin"),
            Target("user", None, email),
            {"email": email, "name": "Invitee", "role": "read_only"},
            Target("user", None, "admin@acme.test"),
            {"email": "admin@acme.test", "name": "Dup", "role": "admin"},
            actor(tech, "technician"),
        )

    def self_service(
        ok: dict[str, Any], failing: dict[str, Any], *, failing_unenrolled: bool = False
    ) -> Callable[[], Case]:
        def build() -> Case:
            me, other = make_user(acme, "read_only"), make_user(acme, "admin")
            failing_user = make_user(acme, "read_only", enrolled=False) if failing_unenrolled else me
            return Case(
                actor(me, "read_only"),
                user_target(me),
                ok,
                user_target(failing_user),
                failing,
                actor(other, "admin"),
                failing_actor=actor(failing_user, "read_only"),
            )

        return build

    def token_policy() -> Case:
        admin, tech = make_user(acme, "admin"), make_user(acme, "technician")
        target = Target("workspace", str(acme.id), "Acme")
        return Case(
            actor(admin, "admin"), target, {"max_days": "365"}, target, {"max_days": "0"}, actor(tech, "technician")
        )

    def integration(ok: dict[str, Any], failing_vendor: str, failing: dict[str, Any]) -> Callable[[], Case]:
        def build() -> Case:
            admin, tech = make_user(acme, "admin"), make_user(acme)
            target = Target("integration", "veeam", "Veeam")
            return Case(
                actor(admin, "admin"),
                target,
                ok,
                Target("integration", failing_vendor, failing_vendor),
                failing,
                actor(tech, "technician"),
            )

        return build

    def matching(ok: dict[str, Any]) -> Callable[[], Case]:
        def build() -> Case:
            assert app is not None
            admin, tech = make_user(acme, "admin"), make_user(acme)
            target, customer_id = waiting_account(app, acme)
            payload = {k: (customer_id if v == "customer" else v) for k, v in ok.items()}
            ghost = Target("customer_link", "999999999", "ghost")
            return Case(actor(admin, "admin"), target, payload, ghost, payload, actor(tech, "technician"))

        return build

    def note(verb: str) -> Callable[[], Case]:
        def build() -> Case:
            assert app is not None
            admin, viewer = make_user(acme, "admin"), make_user(acme, "read_only")
            tech = make_user(acme, "technician")
            customer_id = a_customer(app, acme.id)
            if verb == "note.create":
                target = Target("customer", str(customer_id), "customer")
                return Case(
                    actor(tech, "technician"),
                    target,
                    {"body": "Spoke to Dana."},
                    target,
                    {"body": " "},
                    actor(viewer, "read_only"),
                )
            with app.app_context(), db.tenant_session(acme.id) as s:
                written = CustomerNote(
                    tenant_id=acme.id,
                    customer_id=customer_id,
                    author_id=tech.id,
                    body="First words",
                    occurred_at=datetime.now(UTC),
                )
                s.add(written)
                s.flush()
                target = Target("customer_note", str(written.id), "note")
            # Failing: another technician is not its author.
            return Case(
                actor(tech, "technician"),
                target,
                {"body": "Second words"},
                target,
                {"body": "x"},
                actor(viewer, "read_only"),
                failing_actor=actor(admin, "admin"),
            )

        return build

    def instant_updates() -> Callable[[], Case]:
        def build() -> Case:
            assert app is not None and sim is not None
            admin, tech = make_user(acme, "admin"), make_user(acme)
            psa_ticket(app, acme, sim)  # acme's ConnectWise connection reaches the simulator
            target = Target("integration", "connectwise", "ConnectWise PSA")
            ok = {"url": "http://acme.localhost/webhooks/1"}
            return Case(actor(admin, "admin"), target, ok, target, {"url": "not a url"}, actor(tech, "technician"))

        return build

    def ticket(verb: str) -> Callable[[], Case]:
        def build() -> Case:
            assert app is not None and sim is not None
            tech, viewer = make_user(acme), make_user(acme, "read_only")
            psa = psa_ticket(app, acme, sim)
            ghost = Target("ticket", "999999999", "ghost")
            if verb == "ticket.create":
                target = Target("customer", str(psa.customer_id), "customer")
                ok = {"summary": "Printer jams", "board_id": psa.board_id}
                return Case(
                    actor(tech, "technician"),
                    target,
                    ok,
                    target,
                    {"summary": "", "board_id": psa.board_id},
                    actor(viewer, "read_only"),
                )
            payloads: dict[str, dict[str, Any]] = {
                "ticket.reply": {"text": "On it."},
                "ticket.update_status": {"status_id": psa.other_status_id},
                "ticket.assign": {"member_id": psa.member_id},
                "ticket.set_priority": {"priority_id": psa.priority_id},
            }
            ok = payloads[verb]
            return Case(actor(tech, "technician"), psa.target, ok, ghost, ok, actor(viewer, "read_only"))

        return build

    def authorship(verb: str) -> Callable[[], Case]:
        """An admin's choices about whom a user writes as at the PSA, and trying members again."""

        def build() -> Case:
            assert app is not None and sim is not None
            admin, subject, tech = make_user(acme, "admin"), make_user(acme), make_user(acme)
            psa = psa_ticket(app, acme, sim)
            if verb == "psa_member.choose":
                ok = {"connection_id": str(psa.connection_id), "member_id": "none"}
                failing = {"connection_id": "0", "member_id": "none"}
                return Case(actor(admin, "admin"), user_target(subject), ok, user_target(subject), failing, actor(tech, "technician"))  # fmt: skip
            target = Target("connection", str(psa.connection_id), "ConnectWise PSA")
            ghost = Target("connection", "999999999", "ghost")
            return Case(actor(admin, "admin"), target, {}, ghost, {}, actor(tech, "technician"))

        return build

    veeam_config = {"base_url": "http://127.0.0.1:9/", "username": "vectis-svc", "password": "s3cret", "api_key": ""}
    return {
        "integration.update": integration(
            {"vendor": "veeam", "config": veeam_config, "enabled": False},
            "veeam",
            {"vendor": "veeam", "config": {**veeam_config, "password": "", "api_key": ""}},
        ),
        "integration.sync_now": integration({"vendor": "veeam"}, "no-such-vendor", {}),
        "integration.instant_updates": instant_updates(),
        "user.invite": invite,
        "retention.change": retention(),
        "user.change_role": admin_case({"role": "read_only"}, {"role": "wizard"}),
        "user.deactivate": admin_case({}, fail_on_self=True),
        "user.reactivate": admin_case({}),
        "user.reset_mfa": admin_case({}, fail_on_self=True),
        "account.change_password": self_service(
            {
                "current_password": DEMO_PASSWORD,
                "new_password": "a much longer secret",
                "confirm_password": "a much longer secret",
            },
            {
                "current_password": "not it",
                "new_password": "a much longer secret",
                "confirm_password": "a much longer secret",
            },
        ),
        "account.regenerate_recovery_codes": self_service(
            {"current_password": DEMO_PASSWORD}, {"current_password": DEMO_PASSWORD}, failing_unenrolled=True
        ),
        "token.create": self_service(
            {"label": "CI", "scopes": ["read"], "days": "10"}, {"label": "CI", "scopes": ["admin"], "days": "10"}
        ),
        "workspace.token_policy": token_policy,
        "customer_link.link": matching({"customer_id": "customer"}),
        "customer_link.create_customer": matching({}),
        "customer_link.keep_separate": matching({}),
        "customer_link.unlink": matching({}),
        "note.create": note("note.create"),
        "note.edit": note("note.edit"),
        "note.delete": note("note.delete"),
        "ticket.reply": ticket("ticket.reply"),
        "ticket.update_status": ticket("ticket.update_status"),
        "ticket.create": ticket("ticket.create"),
        "ticket.assign": ticket("ticket.assign"),
        "ticket.set_priority": ticket("ticket.set_priority"),
        "psa_member.choose": authorship("psa_member.choose"),
        "psa_authorship.retry": authorship("psa_authorship.retry"),
        **(alert_cases(acme, make_user, app, sim) if app is not None else {}),
        **(rule_cases(acme, make_user, app) if app is not None else {}),
        **(query_cases(acme, make_user, app) if app is not None else {}),
        **({"token.revoke": token_revoke(acme, make_user, app)} if app is not None else {}),
        **({"webhook.test": webhook_test(acme, make_user, app, port)} if app is not None and port else {}),
    }


def webhook_test(acme: TenantFixture, make_user: Callable[..., MadeUser], app: Flask, port: int) -> Callable[[], Case]:
    """A test delivery to acme's Veeam connection's own webhook address, on the app served at ``port``."""

    def build() -> Case:
        admin, tech = make_user(acme, "admin"), make_user(acme)
        connection = acme_connection(app, acme.id)
        with app.app_context():
            path = f"{public_ids.encode('connection', connection)}/{public_ids.webhook_token(connection)}"
        target = Target("integration", "veeam", "Veeam")
        ok = {"url": f"http://acme.localhost:{port}/webhooks/{path}"}
        return Case(actor(admin, "admin"), target, ok, target, {"url": "not a url"}, actor(tech, "technician"))

    return build


def on_object(
    make_user: Callable[..., MadeUser],
    acme: TenantFixture,
    make_target: Callable[[], Target],
    payload: dict[str, Any],
    failing: dict[str, Any] | None,
) -> Callable[[], Case]:
    """A technician acts on a fresh object; it fails on a ghost of the same kind (or with ``failing``)."""

    def build() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        target = make_target()
        ghost = Target(target.type, "999999999", "ghost")
        return Case(
            actor(tech, "technician"),
            target,
            payload,
            ghost if failing is None else target,
            payload if failing is None else failing,
            actor(viewer, "read_only"),
        )

    return build


def alert_cases(
    acme: TenantFixture, make_user: Callable[..., MadeUser], app: Flask, sim: Any
) -> dict[str, Callable[[], Case]]:
    def simple(payload: dict[str, Any], failing: dict[str, Any] | None = None) -> Callable[[], Case]:
        return on_object(
            make_user, acme, lambda: Target("alert", str(an_alert(app, acme.id)), "FS01 Daily"), payload, failing
        )

    def muted_alert() -> Target:
        alert_id = an_alert(app, acme.id)
        with app.app_context(), db.tenant_session(acme.id) as s:
            s.execute(update(Alert).where(Alert.id == alert_id).values(state="muted"))
        return Target("alert", str(alert_id), "FS01 Daily")

    def open_ticket() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        psa = psa_ticket(app, acme, sim)
        linked = Target("alert", str(an_alert(app, acme.id)), "FS01 Daily")  # psa_ticket linked a_customer
        unlinked = Target("alert", str(an_alert(app, acme.id, on_customer=False)), "FS01 Daily")
        ok = {"board_id": psa.board_id}
        return Case(actor(tech, "technician"), linked, ok, unlinked, ok, actor(viewer, "read_only"))

    def raise_alert() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        target = Target("backup_job", "424242", "FS01 Daily")
        ok = {"severity": "warning", "message": "Check it", "subject_type": "backup_job", "subject_id": 424242}
        return Case(
            actor(tech, "technician"), target, ok, target, {**ok, "severity": "loud"}, actor(viewer, "read_only")
        )

    def mail() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        target = Target("email", "ops@acme.test", "ops@acme.test")
        ok = {"to": "ops@acme.test", "subject": "Backup stale", "body": "FS01 Daily"}
        return Case(
            actor(tech, "technician"), target, ok, Target("email", "nobody", "nobody"), {"to": "nobody"},
            actor(viewer, "read_only"),
        )  # fmt: skip

    return {
        "alert.acknowledge": simple({}),
        "alert.resolve": simple({}),
        "alert.mute": simple({"hours": "4", "reason": "Planned migration"}, {"hours": "4", "reason": ""}),
        "alert.unmute": on_object(make_user, acme, muted_alert, {}, None),
        "alert.open_ticket": open_ticket,
        "alert.raise": raise_alert,
        "mail.send": mail,
        "customer.tags": on_object(
            make_user,
            acme,
            lambda: Target("customer", str(a_customer(app, acme.id)), "customer"),
            {"tags": "managed, VIP"},
            {"tags": "!!"},
        ),
    }


def token_revoke(acme: TenantFixture, make_user: Callable[..., MadeUser], app: Flask) -> Callable[[], Case]:
    """A technician revokes their own token; someone else's fails; a rule may not revoke one at all."""

    def build() -> Case:
        me = make_user(acme, "technician")
        mine = Target("api_token", str(an_api_token(app, acme, me.id)), "mine")
        theirs = Target("api_token", str(an_api_token(app, acme)), "the admin's")
        return Case(actor(me, "technician"), mine, {}, theirs, {}, Actor("rule", "1", "A rule", "admin"))

    return build


def detection_cases(
    acme: TenantFixture, make_user: Callable[..., MadeUser], app: Flask, s1: tuple[SentinelOneState, str]
) -> dict[str, Callable[[], Case]]:
    """Each detection verb on a fresh threat at the SentinelOne simulator (on a connected agent of its own, so every
    isolate has something to do), stored as acme's sync would store it; it fails on a ghost detection."""
    state, url = s1
    config = {"console_url": url, "api_token": SENTINELONE_TOKEN}
    with app.app_context(), db.tenant_session(acme.id) as s:  # one per vendor: acme's own, pointed at the simulator
        held = s.scalar(select(Connection).where(Connection.vendor == "sentinelone"))
        held_id = held.id if held is not None else None
        if held is not None:
            seal_config(held, config, app.config["VECTIS_SETTINGS"])
            held.rate_limit_per_second = 200.0  # as add_connection's: sixteen calls in a row wait for nothing
    setup = Setup(acme.id, held_id) if held_id is not None else add_connection(app, acme.id, "sentinelone", config)
    agents = iter(sorted(a for a, agent in state.agents.items() if agent["networkStatus"] == "connected"))

    def fresh(isolated: bool = False) -> Target:
        agent = next(agents)
        if isolated:
            state.agents[agent]["networkStatus"] = "disconnected"
        record = parse_threat(
            state.threat_view(state.add_threat(agent, classification=None, confidence=None, name=None))
        )
        assert record is not None
        with app.app_context(), db.tenant_session(acme.id) as s:
            connection = s.get(Connection, setup.connection_id)
            assert connection is not None
            (detection_id,) = write_detections(s, connection, "SentinelOne", [record], links_of(s, connection)).values()
        return Target("detection", str(detection_id), record.title)

    def on_threat(payload: dict[str, Any], *, isolated: bool = False) -> Callable[[], Case]:
        return on_object(make_user, acme, lambda: fresh(isolated), payload, None)

    return {
        "detection.isolate": on_threat({"comment": "Checking"}),
        "detection.release": on_threat({}, isolated=True),
        "detection.resolve": on_threat({}),
        "detection.false_positive": on_threat({"reason": "Our own build tool"}),
    }


def licensing_cases(
    acme: TenantFixture, make_user: Callable[..., MadeUser], app: Flask, pax8_sim: tuple[Pax8State, str]
) -> dict[str, Callable[[], Case]]:
    """Each licensing verb on an annual (NCE) subscription at the Pax8 simulator, stored as acme's sync would store
    it (acme's own Pax8 connection, pointed at the simulator); it fails on a ghost subscription."""
    state, _url = pax8_sim
    config = {"client_id": PAX8_CLIENT_ID, "client_secret": PAX8_CLIENT_SECRET}
    with app.app_context(), db.tenant_session(acme.id) as s:
        held = s.scalar(select(Connection).where(Connection.vendor == "pax8"))
        held_id = held.id if held is not None else None
        if held is not None:
            seal_config(held, config, app.config["VECTIS_SETTINGS"])
            held.rate_limit_per_second = 200.0
    setup = Setup(acme.id, held_id) if held_id is not None else add_connection(app, acme.id, "pax8", config)
    annual = [sub for sub in state.subscriptions.values() if sub["billingTerm"] == "Annual"]

    def fresh() -> tuple[Target, int]:
        sub = annual[int(time.time_ns()) % len(annual)]
        products = {sub["productId"]: state.products[sub["productId"]]}
        record = parse_subscription(sub, products)
        assert record is not None
        company = state.companies[sub["companyId"]]
        with app.app_context(), db.tenant_session(acme.id) as s:
            connection = s.get(Connection, setup.connection_id)
            assert connection is not None
            link_accounts(s, connection, [Account(company["id"], company["name"])])
            (key,) = write_subscriptions(s, connection, "Pax8", [record], links_of(s, connection)).values()
            s.execute(
                update(LicenseScheduledChange)
                .where(LicenseScheduledChange.subscription_id == key, LicenseScheduledChange.state == "pending")
                .values(state="cancelled")
            )
        return Target("license_subscription", str(key), record.product_name), record.quantity

    def case(payload_of: Callable[[Target, int], dict[str, Any]]) -> Callable[[], Case]:
        def build() -> Case:
            target, seats = fresh()
            return on_object(make_user, acme, lambda: target, payload_of(target, seats), None)()

        return build

    def scheduled(target: Target, seats: int) -> dict[str, Any]:
        with app.app_context(), db.tenant_session(acme.id) as s:
            s.add(LicenseScheduledChange(tenant_id=acme.id, subscription_id=int(target.id or 0), quantity=seats - 1,
                                         due_on=datetime.now(UTC).date(), requested_by="test"))  # fmt: skip
        return {}

    return {
        "license.adjust_seats": case(lambda _t, seats: {"quantity": seats + 1}),
        "license.schedule_seats": case(lambda _t, seats: {"quantity": seats - 1}),
        "license.cancel_scheduled": case(scheduled),
        "license.create_quote": case(lambda _t, _s: {"quantity": 2, "reference": f"vectis-{uuid.uuid4().hex[:12]}"}),
    }


def query_cases(acme: TenantFixture, make_user: Callable[..., MadeUser], app: Flask) -> dict[str, Callable[[], Case]]:
    """Saved queries: a technician saves one, and changes or deletes their own; a broken spec or someone else's
    query fails."""
    spec = examples.FAILING_BACKUP_NO_OPEN_TICKET

    def ok() -> dict[str, Any]:  # a name of its own each time: a workspace holds one saved query of a name
        return {"name": f"Unattended failures {uuid.uuid4().hex[:8]}", "audience": "everyone", "spec": spec}

    def save() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        target = Target("saved_query", None, "Unattended failures")
        good = ok()
        failing = {**good, "spec": {"base": "users"}}
        return Case(actor(tech, "technician"), target, good, target, failing, actor(viewer, "read_only"))

    def on_own(payload: dict[str, Any]) -> Callable[[], Case]:
        def build() -> Case:
            tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
            mine, theirs = a_saved_query(app, acme.id), a_saved_query(app, acme.id)
            with app.app_context(), db.tenant_session(acme.id) as s:
                s.execute(update(SavedQuery).where(SavedQuery.id == mine).values(owner_id=tech.id))
            return Case(
                actor(tech, "technician"), Target("saved_query", str(mine), "mine"), payload,
                Target("saved_query", str(theirs), "theirs"), payload, actor(viewer, "read_only"),
            )  # fmt: skip

        return build

    return {"query.save": save, "query.update": on_own(ok()), "query.delete": on_own({})}


def rule_cases(acme: TenantFixture, make_user: Callable[..., MadeUser], app: Flask) -> dict[str, Callable[[], Case]]:
    definition = {"trigger": "backup.failed", "actions": [{"type": "create_alert", "params": {"severity": "info"}}]}

    def on_rule(
        payload: dict[str, Any], *, mode: str = "paused", failing: dict[str, Any] | None = None
    ) -> Callable[[], Case]:
        return on_object(
            make_user, acme, lambda: Target("rule", str(a_rule(app, acme.id, mode)), "rule"), payload, failing
        )

    def create() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        target = Target("rule", None, "Failed backups")
        ok = {"name": "Failed backups", "definition": definition}
        return Case(actor(tech, "technician"), target, ok, target, {**ok, "name": ""}, actor(viewer, "read_only"))

    def edited_rule() -> Target:
        """A rule whose current version 2 differs from its version 1, so version 1 can be restored."""
        rule_id = a_rule(app, acme.id)
        with app.app_context(), db.tenant_session(acme.id) as s:
            first = s.scalars(select(RuleVersion).where(RuleVersion.rule_id == rule_id)).one()
            second = {**first.definition, "cooldown_minutes": 5}
            s.add(RuleVersion(tenant_id=acme.id, rule_id=rule_id, version=2, definition=second, created_by="test"))
            s.execute(update(Rule).where(Rule.id == rule_id).values(version=2))
        return Target("rule", str(rule_id), "rule")

    renamed = {"name": "Renamed", "definition": {**definition, "cooldown_minutes": 5}}
    return {
        "rule.restore": on_object(make_user, acme, edited_rule, {"version": 1}, {"version": 9}),
        "rule.create": create,
        "rule.update": on_rule(renamed, failing={"name": "Renamed", "definition": {"trigger": "nope"}}),
        "rule.enable": on_rule({}),
        "rule.pause": on_rule({}, mode="live"),
        "rule.dry_run": on_rule({}),
        "rule.delete": on_rule({}),
    }


def portal_cases(
    acme: TenantFixture, make_user: Callable[..., MadeUser], app: Flask, sim: Any
) -> dict[str, Callable[[], Case]]:
    """The portal's verbs: a portal Member acts on the PSA ticket of its customer (a Viewer is refused); operators
    invite and deactivate portal users and an admin changes branding and settings."""

    def portal_person(customer_id: int, role: str, *, password_hash: str | None = None) -> Actor:
        email = f"portal-{uuid.uuid4().hex[:10]}@customer.test"
        with app.app_context(), db.tenant_session(acme.id) as s:
            person = PortalUser(
                tenant_id=acme.id, customer_id=customer_id, name="Pat", email=email, role=role, invited_by="test",
                password_hash=password_hash,
            )  # fmt: skip
            s.add(person)
            s.flush()
            return Actor("portal_user", str(person.id), email, role)

    def portal_ticket() -> PsaTicket:
        psa = psa_ticket(app, acme, sim)
        state, _ = sim
        resolved = next(st for st in state.statuses.values() if st["boardId"] == 1 and st["name"] == "Resolved")
        with app.app_context(), db.tenant_session(acme.id) as s:
            s.execute(update(Ticket).where(Ticket.id == int(psa.target.id or 0)).values(customer_id=psa.customer_id))
            found = s.scalar(select(TicketStatus).where(TicketStatus.external_id == str(resolved["id"])))
            if found is None:
                s.add(TicketStatus(
                    tenant_id=acme.id, board_id=psa.board_id, external_id=str(resolved["id"]), name="Resolved",
                    closed=True,
                ))  # fmt: skip
            if s.scalar(select(PortalSettings).where(PortalSettings.customer_id == psa.customer_id)) is None:
                s.add(PortalSettings(tenant_id=acme.id, customer_id=psa.customer_id, board_id=psa.board_id))
        return psa

    def on_ticket(payload: dict[str, Any]) -> Callable[[], Case]:
        def build() -> Case:
            psa = portal_ticket()
            member, viewer = portal_person(psa.customer_id, "member"), portal_person(psa.customer_id, "viewer")
            return Case(member, psa.target, payload, Target("ticket", "999999999", "ghost"), payload, viewer)

        return build

    def create() -> Case:
        psa = portal_ticket()
        member, viewer = portal_person(psa.customer_id, "member"), portal_person(psa.customer_id, "viewer")
        target = Target("customer", str(psa.customer_id), "customer")
        return Case(member, target, {"summary": "Printer jams"}, target, {"summary": ""}, viewer)

    def invite() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        target = Target("customer", str(a_customer(app, acme.id)), "customer")
        ok = {"name": "Pat", "email": f"invitee-{uuid.uuid4().hex[:10]}@customer.test", "role": "member"}
        return Case(actor(tech, "technician"), target, ok, target, {**ok, "role": "owner"}, actor(viewer, "read_only"))

    def deactivate() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        person = portal_person(a_customer(app, acme.id), "member")
        target = Target("portal_user", person.id, person.label)
        return Case(
            actor(tech, "technician"), target, {}, Target("portal_user", "999999999", "ghost"), {},
            actor(viewer, "read_only"),
        )  # fmt: skip

    def resend() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        person = portal_person(a_customer(app, acme.id), "member")
        target = Target("portal_user", person.id, person.label)
        return Case(
            actor(tech, "technician"), target, {}, Target("portal_user", "999999999", "ghost"), {},
            actor(viewer, "read_only"),
        )  # fmt: skip

    def send_reset() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        person = portal_person(a_customer(app, acme.id), "member", password_hash="$2b$12$not-a-real-hash")
        invited = portal_person(a_customer(app, acme.id), "member")  # no password yet: a setup link is theirs
        target = Target("portal_user", person.id, person.label)
        return Case(
            actor(tech, "technician"), target, {}, Target("portal_user", invited.id, invited.label), {},
            actor(viewer, "read_only"),
        )  # fmt: skip

    def two_factor_person(*, enrolled: bool) -> Actor:
        """A portal user with a password (``PORTAL_PASSWORD``), with two-factor sign-in on if ``enrolled``."""
        person = portal_person(a_customer(app, acme.id), "viewer", password_hash=portal_password_hash())
        if enrolled:
            with app.app_context(), db.tenant_session(acme.id) as s:
                row = s.get(PortalUser, int(person.id or 0))
                assert row is not None
                mfa.enrol(row, mfa.new_secret(), 0)
                mfa.replace_recovery_codes(s, row)
        return person

    def own_account(ok: dict[str, Any], failing: dict[str, Any], *, enrolled: bool) -> Callable[[], Case]:
        """A portal user on their own account; anyone else (another portal user) is refused."""

        def build() -> Case:
            person, other = two_factor_person(enrolled=enrolled), portal_person(a_customer(app, acme.id), "admin")
            target = Target("portal_user", person.id, person.label)
            return Case(person, target, ok, target, failing, other)

        return build

    def enrol() -> Case:
        secret = mfa.new_secret()
        person, other = two_factor_person(enrolled=False), portal_person(a_customer(app, acme.id), "admin")
        target = Target("portal_user", person.id, person.label)
        ok = {"secret": secret, "code": pyotp.TOTP(secret).now()}
        return Case(person, target, ok, target, {"secret": secret, "code": "000000"}, other)

    def reset_mfa() -> Case:
        tech, viewer = make_user(acme, "technician"), make_user(acme, "read_only")
        person = two_factor_person(enrolled=True)
        target = Target("portal_user", person.id, person.label)
        return Case(
            actor(tech, "technician"), target, {}, Target("portal_user", "999999999", "ghost"), {},
            actor(viewer, "read_only"),
        )  # fmt: skip

    def admin_only(ok: dict[str, Any], failing: dict[str, Any]) -> Callable[[], Case]:
        def build() -> Case:
            admin, tech = make_user(acme, "admin"), make_user(acme, "technician")
            workspace = Target("tenant", str(acme.id), "Acme IT Services")
            return Case(actor(admin, "admin"), workspace, ok, workspace, failing, actor(tech, "technician"))

        return build

    def unsubscribe() -> Case:
        person = portal_person(a_customer(app, acme.id), "viewer")
        other = portal_person(a_customer(app, acme.id), "viewer")
        target = Target("portal_user", person.id, person.label)
        return Case(person, target, {"category": "digest"}, target, {"category": "transactional"}, other)

    return {
        "portal.unsubscribe": unsubscribe,
        "portal.ticket_comment": on_ticket({"text": "Thanks, it works now."}),
        "portal.ticket_resolve": on_ticket({}),
        "portal.ticket_create": create,
        "portal_user.invite": invite,
        "portal_user.deactivate": deactivate,
        "portal_user.resend": resend,
        "portal_user.send_reset": send_reset,
        "portal_user.reset_mfa": reset_mfa,
        "portal.mfa_enrol": enrol,
        "portal.change_password": own_account(
            {
                "current_password": PORTAL_PASSWORD,
                "new_password": "another-long-one-1",
                "confirm_password": "another-long-one-1",
            },
            {
                "current_password": "nope",
                "new_password": "another-long-one-1",
                "confirm_password": "another-long-one-1",
            },
            enrolled=False,
        ),
        "portal.recovery_codes": own_account({"password": PORTAL_PASSWORD}, {"password": "nope"}, enrolled=True),
        "portal.mfa_disable": own_account({"password": PORTAL_PASSWORD}, {"password": "nope"}, enrolled=True),
        "portal.sign_in_policy": admin_only({"require_mfa": ""}, {"require_mfa": "maybe"}),
        "portal.branding": admin_only(
            {"company_name": "Acme IT Services", "accent": "#1f4fd1"},
            {"company_name": "Acme IT Services", "accent": "#777777"},
        ),
        "portal.announce": admin_only({"subject": "Maintenance", "body": "Saturday 10:00."}, {"subject": ""}),
        "portal.settings": admin_only(
            {"tickets": "1", "assets": "1", "backups": "1"}, {"customer_id": "999999999", "tickets": "1"}
        ),
    }


def audit_rows(app: Flask, tenant: TenantFixture) -> list[AuditEntry]:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        s.expunge_all()  # keep them readable after the session ends
        return rows


def run(
    app: Flask,
    tenant: TenantFixture,
    verb: str,
    target: Target,
    payload: dict[str, Any],
    who: Actor,
    surface: str,
    *,
    dry_run: bool = False,
) -> tuple[str, list[AuditEntry]]:
    before = len(audit_rows(app, tenant))
    with app.test_request_context(base_url="http://acme.localhost"), db.tenant_session(tenant.id) as s:
        outcome = perform(
            verb, target, payload, actor=who, surface=surface, dry_run=dry_run, session=s, tenant_id=tenant.id
        )
    new = audit_rows(app, tenant)[before:]
    return outcome.result, new


@pytest.fixture
def connectwise() -> Iterator[tuple[ConnectWiseState, str]]:
    state = ConnectWiseState.seeded()
    for url in serve_app(create_cw_app(state)):
        yield state, url


@pytest.fixture
def pax8_sim(app: Flask) -> Iterator[tuple[Pax8State, str]]:
    state = Pax8State.seeded()
    for url in serve_app(create_pax8_app(state)):
        with vendor_url(app, "pax8", url):
            yield state, url


@pytest.fixture
def sentinelone() -> Iterator[tuple[SentinelOneState, str]]:
    state = SentinelOneState.seeded()
    for url in serve_app(create_s1_app(state)):
        yield state, url


def test_it_writes_exactly_one_audit_row_for_every_outcome_of_every_verb(
    app: Flask,
    acme: TenantFixture,
    make_user: Callable[..., MadeUser],
    connectwise: tuple[ConnectWiseState, str],
    sentinelone: tuple[SentinelOneState, str],
    pax8_sim: tuple[Pax8State, str],
) -> None:
    with serving(app) as port:  # a test delivery goes round the app's own address over HTTP
        table = {
            **cases(acme, make_user, app, connectwise, port),
            **detection_cases(acme, make_user, app, sentinelone),
            **licensing_cases(acme, make_user, app, pax8_sim),
            **portal_cases(acme, make_user, app, connectwise),
        }
        _every_outcome_of_every_verb(app, acme, table)


def _every_outcome_of_every_verb(app: Flask, acme: TenantFixture, table: dict[str, Callable[[], Case]]) -> None:
    assert set(VERBS) == set(table), "every registered verb needs a case here"
    for name, build in table.items():
        for expected, surface in (("ok", "ui"), ("failed", "api"), ("blocked", "rule"), ("dry_run", "mcp")):
            case = build()
            who, target, payload = case.actor, case.target, case.ok
            if expected == "failed":
                target, payload = case.failing_target, case.failing
                who = case.failing_actor or who
            if expected == "blocked":
                who = case.blocked_actor
            result, rows = run(app, acme, name, target, payload, who, surface, dry_run=expected == "dry_run")
            assert result == expected, f"{name} {expected}"
            assert len(rows) == 1, f"{name} {expected}: {len(rows)} audit rows"
            row = rows[0]
            assert (row.action, row.result, row.surface, row.actor_id) == (name, expected, surface, who.id)
            assert (row.error is not None) == (expected in ("failed", "blocked"))


def test_it_keeps_secrets_out_of_the_audit_payload(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    me = make_user(acme, "read_only")
    payload = {
        "current_password": DEMO_PASSWORD,
        "new_password": "hunter2 hunter2 hunter2",
        "confirm_password": "hunter2 hunter2 hunter2",
    }
    result, rows = run(app, acme, "account.change_password", user_target(me), payload, actor(me, "read_only"), "ui")
    assert result == "ok"
    text = str(rows[0].payload)
    assert "hunter2" not in text and DEMO_PASSWORD not in text and "[redacted]" in text


def test_it_rolls_back_the_change_of_a_failed_action_but_keeps_its_audit_row(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    admin, subject = make_user(acme, "admin"), make_user(acme, "admin")
    result, rows = run(
        app, acme, "user.change_role", user_target(subject), {"role": "bogus"}, actor(admin, "admin"), "ui"
    )
    assert result == "failed" and rows[0].error == "Choose a role: Admin, Technician or Read-only."


class Ping(Verb):
    """A write-back to an imaginary vendor connection limited to 5 calls a second, burst 1."""

    name = "test.ping"
    label = "Ping"
    target_type = "device"
    roles: ClassVar = frozenset(VERBS["user.invite"].roles)

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit:
        return RateLimit(
            f"test-connection:{ctx.tenant_id}:{time.time_ns()}"
            if payload.get("fresh")
            else f"test-connection:{ctx.tenant_id}",
            1.0,  # slow enough that a loaded machine still sends the second call inside the same second
            1,
        )

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        return Applied("pong", response={"echo": payload.get("n")})


@pytest.fixture
def ping_verb() -> Iterator[None]:
    VERBS[Ping.name] = Ping()
    yield
    del VERBS[Ping.name]


def test_it_queues_an_action_over_its_rate_limit_and_runs_it_later(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser], ping_verb: None
) -> None:
    admin = actor(make_user(acme, "admin"), "admin")
    device = Target("device", "d-1", "acme-fs01")
    first, _ = run(app, acme, "test.ping", device, {"n": 1}, admin, "rule")
    second, rows = run(app, acme, "test.ping", device, {"n": 2}, admin, "rule")
    assert (first, second) == ("ok", "queued")
    assert rows == []  # not done yet, so not audited yet
    with app.app_context():
        with db.tenant_session(acme.id) as s:
            waiting = s.scalar(
                select(QueuedAction).where(QueuedAction.done_at.is_(None)).order_by(QueuedAction.id.desc())
            )
            assert waiting is not None and waiting.payload.open(acme.id) == {"n": 2}
            waiting_id = waiting.id
        assert ScheduledJobRegistry(queue=queue("actions")).count >= 1  # type: ignore[no-untyped-call]
        time.sleep(1.05)  # the bucket refills at one token a second
        assert run_queued(acme.id, waiting_id) == "ok"
        assert run_queued(acme.id, waiting_id) == "already done"
        with db.tenant_session(acme.id) as s:
            done = s.get(QueuedAction, waiting_id)
            assert done is not None and done.result == "ok"
            last = s.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
            assert last is not None and (last.action, last.result, last.surface) == ("test.ping", "ok", "rule")
            assert last.payload["response"] == {"echo": 2}


def test_no_view_calls_a_vendor_or_writes_the_audit_log_itself() -> None:
    forbidden = ("vectis.connectors", "requests", "urllib.request", "httpx", "vectis.audit.writer", "smtplib")
    offenders = []
    for path in sorted((ROOT / "vectis" / "views").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(forbidden)]
            if isinstance(node, ast.Name) and node.id == "AuditEntry":
                offenders.append(f"{path.name}: touches AuditEntry")
    assert offenders == []


def test_it_counts_audit_rows_per_tenant_only(app: Flask, northwind: TenantFixture) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.tenant_id != northwind.id)) == 0
