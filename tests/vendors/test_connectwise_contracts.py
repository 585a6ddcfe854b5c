"""ConnectWise agreements and their additions against the simulator over real HTTP: read page by page from their
cursor, written as contracts with their line items on the customer their company became, each contract's monthly
value per billing cycle, faults mid-sync, malformed JSON, idempotent re-syncs, two tenants, and the hub's tab."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import Text, delete, func, literal_column, select

from tests.conftest import MadeUser, login, own_workspace, pid
from tests.vendors.support import add_connection, count, new_tenant, serve_app, sync
from tests.vendors.test_connectwise import Sim, config, connect
from vectis.connectors.base import ContractRecord, Page
from vectis.connectors.connectwise import cycles_per_year, parse_agreement
from vectis.connectors.factory import build_connector
from vectis.contracts.queries import money, term
from vectis.contracts.value import monthly_value
from vectis.ingest.matching import normalize_name
from vectis.models import Connection, Contract, ContractLineItem, Customer, CustomerLink, StreamCursor
from vectis.platform import db
from vectis.platform.queues import redis
from vectis.simulators.connectwise import ConnectWiseState, MalformedPage, create_app

TODAY = datetime.now(UTC).date()


@pytest.fixture
def cw() -> Iterator[Sim]:
    state = ConnectWiseState.seeded()
    for url in serve_app(create_app(state)):
        yield Sim(state, url)


def additions_in(sim: Sim) -> int:
    return sum(len(found) for found in sim.state.additions.values())


def contract(app: Flask, tenant_id: int, external_id: str) -> tuple[Contract, list[ContractLineItem]]:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.scalar(select(Contract).where(Contract.external_id == external_id))
        assert found is not None
        lines = list(s.scalars(select(ContractLineItem).where(ContractLineItem.contract_id == found.id).order_by("id")))
        s.expunge_all()
        return found, lines


def an_agreement(sim: Sim, **where: Any) -> dict[str, Any]:
    return next(
        a for a in sim.state.agreements.values() if all(a.get(k) == v or (a.get(k) or {}).get("name") == v
                                                        for k, v in where.items())
    )  # fmt: skip


# --- parsing and the monthly value ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cycle", "amount", "monthly"),
    [
        ("Monthly", "1880.00", "1880.00"),
        ("Quarterly", "1252.50", "417.50"),
        ("Semi-Annually", "3000.00", "500.00"),
        ("Annually", "6384.00", "532.00"),
        ("yearly", "1000.00", "83.33"),
        ("Weekly", "100.00", "433.33"),  # 52 a year: no whole number of months in a week
        ("Bi-Weekly", "250.00", "541.67"),
        ("One Time", "2400.00", None),  # bills once: no monthly value
        ("Bi-Monthly", "500.00", None),  # every two months, or twice a month: unknown, so none rather than a guess
        (None, "500.00", None),
    ],
)
def test_the_monthly_value_is_the_bill_amount_brought_to_a_month(
    cycle: str | None, amount: str, monthly: str | None
) -> None:
    per_year = cycles_per_year(cycle)
    assert monthly_value(Decimal(amount), per_year) == (Decimal(monthly) if monthly else None)


def test_an_agreement_parses_with_its_additions_exactly_and_names_its_one_offs() -> None:
    item = {
        "id": 77,
        "name": "Managed Services – Gold",
        "type": {"id": 1, "name": "Managed Services"},
        "company": {"id": 251, "identifier": "Aldridge", "name": "Aldridge and Co"},
        "startDate": "2025-01-01T00:00:00Z",
        "endDate": "2026-12-31T00:00:00Z",
        "billingCycle": {"id": 2, "name": "Quarterly"},
        "billAmount": 1252.1,  # a float in JSON: read as its text, never its binary value
        "agreementStatus": "Active",
        "currency": {"id": 1, "currencyCode": "usd"},
        "_info": {"lastUpdated": "2026-03-01T10:00:00Z"},
    }
    additions = [
        {"id": 1, "product": {"identifier": "BK-VM"}, "quantity": 3, "unitPrice": 105.0, "extPrice": 315.0,
         "billCustomer": "Billable", "effectiveDate": "2025-01-01T00:00:00Z"},
        {"id": 2, "product": {"identifier": "ONB"}, "quantity": 1, "unitPrice": 750, "billCustomer": "Billable",
         "effectiveDate": "2025-01-01T00:00:00Z", "cancelledDate": "2025-01-20T00:00:00Z"},
        {"id": 3, "product": {"identifier": "QBR"}, "quantity": 1, "unitPrice": 0, "billCustomer": "NoCharge"},
        {"id": 4, "product": {"identifier": "OLD"}, "quantity": 2, "unitPrice": 10, "lessIncluded": 1,
         "effectiveDate": "2025-01-01T00:00:00Z", "cancelledDate": "2025-11-01T00:00:00Z"},
    ]  # fmt: skip
    record = parse_agreement(item, additions)
    assert record is not None
    assert (record.bill_amount, record.cycles_per_year, record.currency) == (Decimal("1252.1"), Decimal(4), "USD")
    assert (record.starts_on, record.ends_on, record.status) == (date(2025, 1, 1), date(2026, 12, 31), "active")
    lines = {line.product: line for line in record.lines}
    assert lines["BK-VM"].recurring and lines["BK-VM"].amount == Decimal("315.0")
    assert not lines["ONB"].recurring  # cancelled within the quarter it took effect in: it billed once
    assert lines["ONB"].amount == Decimal("750.00")  # no extPrice: quantity × unit price
    assert not lines["QBR"].billable
    assert lines["OLD"].recurring and lines["OLD"].amount == Decimal("10.00")  # less what is included
    ended = parse_agreement({**item, "noEndingDateFlag": True, "cancelledFlag": True, "agreementStatus": "Active"})
    assert ended is not None and ended.ends_on is None and ended.status == "cancelled"


# --- syncing ---------------------------------------------------------------------------------------------


def test_agreements_land_as_contracts_with_their_lines_on_the_customer_their_company_became(
    app: Flask, cw: Sim
) -> None:
    setup = connect(app, cw)
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    assert run.counts["agreements"] == len(cw.state.agreements) > 20
    assert count(app, setup, Contract) == len(cw.state.agreements)
    assert count(app, setup, ContractLineItem) == additions_in(cw)
    assert count(app, setup, Contract, Contract.customer_id.is_(None)) == 0
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        # Each contract is on the customer its ConnectWise company is linked to.
        pairs = s.execute(
            select(Contract.external_id, CustomerLink.external_id).join(
                CustomerLink, CustomerLink.customer_id == Contract.customer_id
            )
        ).all()
    companies = {str(a["id"]): str(a["company"]["id"]) for a in cw.state.agreements.values()}
    assert {(agreement, companies[agreement]) for agreement in companies} <= set(pairs)

    quarterly = an_agreement(cw, billingCycle="Quarterly", agreementStatus="Active")
    found, lines = contract(app, setup.tenant_id, str(quarterly["id"]))
    assert found.billing_cycle == "Quarterly" and found.bill_amount == Decimal(str(quarterly["billAmount"]))
    assert found.monthly_value == (Decimal(str(quarterly["billAmount"])) / 3).quantize(Decimal("0.01"))
    assert (found.contract_type, found.currency, found.status) == ("Backup as a Service", "USD", "active")
    assert [line.product for line in lines] == ["BK-VM", "BK-M365", "BK-CLOUD"]
    assert all(isinstance(line.unit_price, Decimal) and line.recurring for line in lines)

    cancelled, _ = contract(app, setup.tenant_id, str(an_agreement(cw, cancelledFlag=True)["id"]))
    assert cancelled.status == "cancelled" and cancelled.monthly_value is None  # Block Hours bills once
    endless, _ = contract(app, setup.tenant_id, str(an_agreement(cw, noEndingDateFlag=True)["id"]))
    assert endless.ends_on is None


def test_agreements_are_read_page_by_page_and_then_only_what_changed(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        connection = s.get(Connection, setup.connection_id)
        assert connection is not None
        connector = build_connector(connection, redis(), app.config["VECTIS_SETTINGS"])
    stream = replace(next(s for s in connector.streams() if s.name == "agreements"), page_size=7)
    pages: list[Page] = list(connector.read(stream, None))
    read = [r.external_id for p in pages for r in p.records]
    assert sorted(read) == sorted(str(i) for i in cw.state.agreements)  # each once, none lost between pages
    assert len(pages) >= len(cw.state.agreements) // 7
    asked = cw.state.stats()["paths"]
    assert asked["GET /finance/agreements"] == len(pages)
    assert asked["GET /finance/agreements/{agreement_id}/additions"] == len(cw.state.agreements)
    cursor = pages[-1].cursor
    newest = max(a["_info"]["lastUpdated"] for a in cw.state.agreements.values())
    assert cursor is not None and cursor["since"] == newest

    # From the cursor: nothing new reads nothing; an agreement someone edits is read again, with its additions.
    assert [r for p in connector.read(stream, cursor) for r in p.records] == []
    target = an_agreement(cw, billingCycle="Monthly", agreementStatus="Active")
    requests.post(f"{cw.url}/_sim/agreements/{target['id']}/touch", json={"name": "Renamed"}, timeout=5)
    again = [r for p in connector.read(stream, cursor) for r in p.records]
    assert [r.external_id for r in again] == [str(target["id"])] and isinstance(again[0], ContractRecord)
    assert again[0].name == "Renamed" and len(again[0].lines) == len(cw.state.additions[target["id"]])


def test_an_edited_agreement_reaches_its_contract_on_the_next_sync(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    assert sync(app, setup).status == "succeeded"
    target = an_agreement(cw, billingCycle="Monthly", agreementStatus="Active")
    additions = cw.state.additions[target["id"]]
    kept = [{**additions[0], "quantity": 99, "extPrice": 4455.0}]  # one line changed, the others deleted
    requests.post(
        f"{cw.url}/_sim/agreements/{target['id']}/touch",
        json={"billAmount": 4455.0, "additions": kept, "endDate": "2031-01-31T00:00:00Z"},
        timeout=5,
    ).raise_for_status()
    second = sync(app, setup)
    assert second.status == "succeeded" and second.counts["agreements"] == 1
    found, lines = contract(app, setup.tenant_id, str(target["id"]))
    assert (found.bill_amount, found.monthly_value, found.ends_on) == (
        Decimal("4455.00"),
        Decimal("4455.00"),
        date(2031, 1, 31),
    )
    assert [(line.external_id, line.quantity) for line in lines] == [(str(kept[0]["id"]), Decimal(99))]
    assert count(app, setup, Contract) == len(cw.state.agreements)


def _versions(app: Flask, tenant_id: int) -> dict[str, str]:
    """Each contract's and line's row version (xmin): it changes whenever the row is rewritten."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = {
            f"c{external}": version
            for external, version in s.execute(
                select(Contract.external_id, literal_column("contracts.xmin::text", Text))
            )
        }
        for external, version in s.execute(
            select(ContractLineItem.id, literal_column("contract_line_items.xmin::text", Text))
        ):
            found[f"l{external}"] = version
        return found


def test_a_sync_again_and_a_full_re_read_write_no_duplicate_and_rewrite_no_row(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    assert sync(app, setup).status == "succeeded"
    before = _versions(app, setup.tenant_id)
    again = sync(app, setup)
    assert again.status == "succeeded" and again.counts.get("agreements", 0) == 0  # the cursor: nothing changed
    # Read everything again from the start (a lost cursor): the same rows, none rewritten.
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        s.execute(delete(StreamCursor).where(StreamCursor.stream == "agreements"))
    full = sync(app, setup)
    assert full.status == "succeeded" and full.counts["agreements"] == len(cw.state.agreements)
    assert count(app, setup, Contract) == len(cw.state.agreements)
    assert count(app, setup, ContractLineItem) == additions_in(cw)
    assert _versions(app, setup.tenant_id) == before


def test_429s_and_5xx_mid_sync_lose_nothing(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    assert sync(app, setup).status == "succeeded"
    touched = [a["id"] for a in list(cw.state.agreements.values())[:5]]
    for agreement_id in touched:
        requests.post(
            f"{cw.url}/_sim/agreements/{agreement_id}/touch", json={"name": f"Edited {agreement_id}"}, timeout=5
        )
    cw.state.faults.rate_limit_per_second = 4
    cw.state.faults.errors_503 = 1
    cw.state.faults.errors_5xx = 1
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    statuses = cw.state.stats()["statuses"]
    assert statuses.get("429", 0) >= 1 and statuses.get("503") == 1 and statuses.get("500") == 1
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        names = set(s.scalars(select(Contract.name).where(Contract.external_id.in_([str(i) for i in touched]))))
    assert names == {f"Edited {i}" for i in touched}
    assert count(app, setup, Contract) == len(cw.state.agreements)
    assert count(app, setup, ContractLineItem) == additions_in(cw)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/finance/agreements", "ConnectWise sent a page of agreements in a form Vectis could not read"),
        ("/finance/agreements/{id}/additions", "ConnectWise sent an agreement's additions in a form Vectis could not"),
    ],
)
def test_malformed_json_for_an_agreement_fails_the_run_in_words_and_the_next_sync_completes(
    app: Flask, cw: Sim, path: str, words: str
) -> None:
    first = min(cw.state.agreements)
    cw.state.faults.malformed_page = MalformedPage(path.format(id=first))
    setup = connect(app, cw)
    broken = sync(app, setup)
    assert broken.status == "failed" and broken.error is not None
    assert broken.error.startswith(words) and "(malformed JSON)" in broken.error
    assert count(app, setup, Customer) == 14  # the pages before it stay
    cw.state.faults.malformed_page = None
    mended = sync(app, setup)
    assert mended.status == "succeeded", mended.error
    assert count(app, setup, Contract) == len(cw.state.agreements)
    assert count(app, setup, ContractLineItem) == additions_in(cw)


def test_a_role_that_may_not_read_agreements_still_syncs_its_tickets(app: Flask, cw: Sim) -> None:
    cw.state.faults.forbidden_paths = ["/finance/agreements"]
    setup = connect(app, cw)
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    assert count(app, setup, Contract) == 0 and run.counts["tickets"] == len(cw.state.tickets)


def test_a_tenant_never_sees_another_tenants_contracts(app: Flask, cw: Sim) -> None:
    one = connect(app, cw)
    assert sync(app, one).status == "succeeded"
    del cw.state.agreements[min(cw.state.agreements)]
    other = add_connection(app, new_tenant(app), "connectwise", config(cw.url))
    assert sync(app, other).status == "succeeded"
    assert count(app, one, Contract) == count(app, other, Contract) + 1
    with app.app_context(), db.tenant_session(one.tenant_id) as s:
        mine = s.scalars(select(Contract.id)).all()
        lines = s.scalars(select(ContractLineItem.id)).all()
    with app.app_context(), db.tenant_session(other.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(Contract).where(Contract.id.in_(mine))) == 0
        assert s.scalar(select(func.count()).select_from(ContractLineItem).where(ContractLineItem.id.in_(lines))) == 0
        assert s.get(Contract, mine[0]) is None


# --- the hub's tab ---------------------------------------------------------------------------------------


def test_the_renewal_words_and_money_read_as_a_technician_says_them() -> None:
    def words(status: str = "active", ends: int | None = 0, cancelled: date | None = None) -> tuple[str, str]:
        found = term(
            Contract(
                status=status, ends_on=None if ends is None else TODAY + timedelta(days=ends), cancelled_on=cancelled
            ),
            TODAY,
        )
        return found.words, found.tone

    assert words(ends=12) == ("Renews in 12 days", "warn")
    assert words(ends=45) == ("Renews in 45 days", "info")
    assert words(ends=200) == ("Renews in 200 days", "ok")
    assert words(ends=1) == ("Renews tomorrow", "warn")
    assert words(ends=0) == ("Renews today", "warn")
    assert words(ends=-1) == ("Ended 1 day ago", "muted")
    assert words(ends=None) == ("No end date", "ok")
    assert words("cancelled", ends=30, cancelled=TODAY) == ("Cancelled", "muted")
    assert money(Decimal("3200.00"), "USD") == "$3,200"
    assert money(Decimal("1412.5"), "USD") == "$1,412.50"
    assert money(Decimal("0.0125"), "EUR") == "€0.0125"
    assert money(Decimal("-50"), None) == "-$50"
    assert money(Decimal("1200"), "CHF") == "1,200 CHF"


def test_the_contracts_tab_shows_values_renewals_and_lines_and_an_empty_state_that_says_what_to_do(
    app: Flask, cw: Sim, make_user: Callable[..., MadeUser]
) -> None:
    # A workspace of its own: northwind is shared by every test of this worker, and one may have left a ConnectWise
    # connection there, which a second one would collide with.
    workspace = own_workspace(app)
    setup = add_connection(app, workspace.id, "connectwise", config(cw.url))
    assert sync(app, setup).status == "succeeded"
    soon = an_agreement(cw, billingCycle="Monthly", agreementStatus="Active")  # the first customer's, renewing soon
    with app.app_context(), db.tenant_session(workspace.id) as s:
        customer_id = s.scalar(select(Contract.customer_id).where(Contract.external_id == str(soon["id"])))
        assert customer_id is not None, "the agreement's company is linked to a customer"
        bare = Customer(tenant_id=workspace.id, name="Zephyr Dental", normalized_name=normalize_name("Zephyr Dental"))
        s.add(bare)
        s.flush()
        link = s.scalar(select(CustomerLink).where(CustomerLink.customer_id == customer_id))
        assert link is not None
        s.add(
            CustomerLink(
                tenant_id=workspace.id,
                customer_id=bare.id,
                connection_id=link.connection_id,
                external_id="99999",
                external_name="Zephyr Dental",
            )
        )
        bare_id = bare.id
    client = login(app, workspace, make_user(workspace).email)
    html = client.get(f"/customers/{pid(app, 'customer', customer_id)}/contracts").get_data(as_text=True)
    assert 'aria-current="page">Contracts</a>' in html
    days_left = (date.fromisoformat(soon["endDate"][:10]) - TODAY).days
    assert f"Renews in {days_left} days" in html and "No end date" in html
    assert f"${int(soon['billAmount']):,}/mo" in html  # monthly: its bill amount is its monthly value
    assert "Managed workstation" in html and "One-off" in html and "No charge" in html and "Recurring" in html
    assert "in force" in html and "next renewal in" in html

    tab = client.get(f"/customers/{pid(app, 'customer', bare_id)}/contracts", headers={"HX-Request": "true"})
    empty = tab.get_data(as_text=True)
    assert tab.status_code == 200 and "<html" not in empty
    assert "No contracts for Zephyr Dental" in empty and "Finance → Agreements" in empty
