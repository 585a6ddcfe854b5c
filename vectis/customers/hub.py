"""The customer hub's tabs. Adding a tab is one template and one entry in ``TABS``.

A tab shows only when an integration of its category is connected and has data for this customer (or
one of its sites); Vectis-native tabs (the timeline) always show. The Devices tab shows even before there is any
device: its empty state says how devices arrive (connect an RMM, link the customer to its organisation), and a tab
listed that way is never the one the hub opens on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from flask import g, request, url_for
from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from vectis.alerts import queries as alerts
from vectis.backups import runs
from vectis.backups.state import BackupHealth
from vectis.connectors import registry
from vectis.contracts import queries as contracts
from vectis.customers import directory as customers
from vectis.customers import timeline
from vectis.devices import queries as devices
from vectis.licensing import queries as licensing
from vectis.m365 import queries as m365
from vectis.models import Alert, BackupConnector, Connection, Customer, Ticket
from vectis.platform import db, params, public_ids
from vectis.portal_access import people as portal_people
from vectis.security import queries as security
from vectis.tickets import queries as tickets


@dataclass(frozen=True)
class HubContext:
    session: Session
    customer: Customer
    sites: list[Customer]

    @property
    def ids(self) -> list[int]:
        return [self.customer.id, *(s.id for s in self.sites)]

    @functools.cached_property
    def jobs(self) -> list[tuple[customers.JobRow, BackupHealth]]:
        """The family's backup jobs with their health: read and derived once for the header's badges and the
        Backups tab (twice was a statement and a derivation of every job more than the page needs)."""
        return customers.derived_jobs(self.session, self.ids)


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    template: str
    category: str | None  # the integration category that feeds it; None for Vectis's own data
    has_data: Callable[[HubContext], ColumnElement[bool]] | None  # None: always shown
    context: Callable[[HubContext], dict[str, Any]]
    always: bool = False  # listed without data too (its empty state says how to get some)
    empty: bool = False  # listed, but with no data for this customer: not the tab the hub opens on


def _has_backups(hub: HubContext) -> ColumnElement[bool]:
    return exists().where(db.among(BackupConnector.customer_id, hub.ids))


def _backups(hub: HubContext) -> dict[str, Any]:
    rows = customers.backups(hub.session, hub.customer, hub.sites, hub.jobs)
    return {"backups": rows, "backup_summary": customers.summary(rows), "strip_length": runs.STRIP}


def _timeline(hub: HubContext) -> dict[str, Any]:
    # Read from the form too: a note refused for its text re-renders the tab with the filters it was sent with.
    filters = replace(timeline.Filters.from_args(request.values), customer=None)  # the hub is the customer
    return {
        "base_url": url_for("customers.tab", customer_id=hub.customer.id, tab="timeline"),
        "target": "#hub-body",
        "filters": filters,
        "page": timeline.page(hub.session, filters, customer_ids=hub.ids, before=request.args.get("before")),
    }


def _has_tickets(hub: HubContext) -> ColumnElement[bool]:
    return exists().where(db.among(Ticket.customer_id, hub.ids))


def _tickets(hub: HubContext) -> dict[str, Any]:
    return {
        "tickets": tickets.for_customer(hub.session, hub.ids),
        "new_ticket": tickets.new_ticket_form(hub.session, hub.customer, hub.ids),
    }


def _has_alerts(hub: HubContext) -> ColumnElement[bool]:
    return exists().where(db.among(Alert.customer_id, hub.ids))


def _alerts(hub: HubContext) -> dict[str, Any]:
    return {
        "alerts": alerts.page(hub.session, alerts.Filters.from_args(request.args), customer_ids=hub.ids),
        "base_url": url_for("customers.tab", customer_id=hub.customer.id, tab="alerts"),
    }


def _has_contracts(hub: HubContext) -> ColumnElement[bool]:
    return contracts.has_contracts_or_a_reader(hub.ids)


def _contracts(hub: HubContext) -> dict[str, Any]:
    rows = contracts.for_customer(hub.session, hub.ids)
    return {"contracts": rows, "contract_summary": contracts.summary(rows)}


def _has_devices(hub: HubContext) -> ColumnElement[bool]:
    return devices.has_devices(hub.ids)


def _devices(hub: HubContext) -> dict[str, Any]:
    return {
        "devices": devices.tab(hub.session, hub.ids, devices.Filters.from_args(request.args)),
        "base_url": url_for("customers.tab", customer_id=hub.customer.id, tab="devices"),
    }


def _has_detections(hub: HubContext) -> ColumnElement[bool]:
    return security.has_detections(hub.ids)


def _security(hub: HubContext) -> dict[str, Any]:
    return {
        "listing": security.listing(hub.session, security.Filters.from_args(request.args), hub.ids),
        "base_url": url_for("customers.tab", customer_id=hub.customer.id, tab="security"),
    }


def _has_m365(hub: HubContext) -> ColumnElement[bool]:
    return m365.has_posture(hub.ids)


def _m365(hub: HubContext) -> dict[str, Any]:
    return {"tenants": m365.tab(hub.session, hub.ids, datetime.now(UTC).date())}


def _has_licences(hub: HubContext) -> ColumnElement[bool]:
    return licensing.has_subscriptions(hub.ids)


def _licensing(hub: HubContext) -> dict[str, Any]:
    shown = licensing.tab(hub.session, hub.ids)
    # A panel asked for by URL (a seat change's preflight, a quote form): how the tab works without scripts.
    asked = public_ids.decode("subscription", request.args.get("subscription", ""))
    panel = licensing.opened(
        hub.session, shown, request.args.get("panel"), asked, params.integer(request.args.get("quantity", ""))
    )
    return {"licensing": shown, "opened": panel}


def _portal(hub: HubContext) -> dict[str, Any]:
    # An invitation just sent (its one-time link, shown once) or refused (its words), from the invite view.
    return {"portal": portal_people.tab(hub.session, hub.customer, g.get("portal_invite"))}


TABS: tuple[Tab, ...] = (
    Tab("tickets", "Tickets", "customers/_tab_tickets.html", "psa", _has_tickets, _tickets),
    Tab("alerts", "Alerts", "customers/_tab_alerts.html", None, _has_alerts, _alerts),
    Tab("security", "Security", "customers/_tab_security.html", "security", _has_detections, _security, always=True),
    Tab("m365", "Microsoft 365", "customers/_tab_m365.html", "m365", _has_m365, _m365),
    Tab("licensing", "Licensing", "customers/_tab_licensing.html", "licensing", _has_licences, _licensing, always=True),
    Tab("devices", "Devices", "customers/_tab_devices.html", None, _has_devices, _devices, always=True),
    Tab("backups", "Backups", "customers/_tab_backups.html", "backup", _has_backups, _backups),
    Tab("contracts", "Contracts", "customers/_tab_contracts.html", "psa", _has_contracts, _contracts),
    Tab("timeline", "Timeline", "customers/_tab_timeline.html", None, None, _timeline),
    # Vectis's own: every customer can have portal users. After the timeline, so the hub never opens on it.
    Tab("portal", "Portal users", "customers/_tab_portal.html", None, None, _portal),
)


def visible_tabs(hub: HubContext) -> list[Tab]:
    """The tabs with something to show, asked in one statement: which vendors are connected, and whether each
    tab's table has a row of this customer's (a round trip per tab was a third of the hub's statements)."""
    asked = [t for t in TABS if t.has_data is not None]
    vendors = func.array(select(Connection.vendor).distinct().scalar_subquery())
    found = hub.session.execute(select(vendors, *(t.has_data(hub) for t in asked if t.has_data))).one()
    connected = {registry_category(vendor) for vendor in found[0]}
    has_data = {t.key: bool(answer) for t, answer in zip(asked, found[1:], strict=True)}
    return [
        t if has_data.get(t.key, True) else replace(t, empty=True)
        for t in TABS
        if (t.category is None or t.category in connected) and (has_data.get(t.key, True) or t.always)
    ]


def opening(tabs: list[Tab]) -> Tab:
    """The tab the hub opens on: the first with something to show (the timeline always has)."""
    return next(t for t in tabs if not t.empty)


def registry_category(vendor: str) -> str | None:
    try:
        return registry.get(vendor).category
    except LookupError:
        return None
