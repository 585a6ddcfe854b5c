"""The Pax8 simulator's data: the demo MSP's customers as Pax8 companies (from :mod:`vectis.simulators.fixtures`,
named as the VSPC simulator names them, so the demo links them to the same customers), a product catalogue of the
licences an MSP resells, and each company's subscriptions to them. Deterministic for a given ``seed`` and ``now``."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from vectis.simulators.base import Json
from vectis.simulators.fixtures import DEMO_CUSTOMERS, Customer, Msp
from vectis.simulators.pax8.vendor import COMMITTED, day_of, iso


@dataclass(frozen=True)
class Product:
    name: str
    vendor: str
    sku: str  # Pax8's own SKU
    vendor_sku: str  # the vendor's (Microsoft's) SKU
    term: str  # the billing term its subscriptions take here
    cost: str  # what Pax8 charges the partner a seat a month
    price: str  # the suggested retail price a seat a month
    seats: tuple[int, int]  # how many seats a customer buys


# Names as a PSA's contract lines spell the same licences (ConnectWise's simulator bills "Microsoft 365 Business
# Premium" and "Exchange Online (Plan 1)"), so the Licensing tab finds the revenue beside each cost.
CATALOGUE = (
    Product("Microsoft 365 Business Premium", "Microsoft", "MST-M365-BP-NCE-ANN", "CFQ7TTC0LCHC:0002", "Annual",
            "19.80", "22.00", (8, 60)),
    Product("Microsoft 365 Business Basic", "Microsoft", "MST-M365-BB-NCE-MTH", "CFQ7TTC0LH18:0001", "Monthly",
            "6.60", "7.20", (3, 25)),
    Product("Microsoft 365 Business Standard", "Microsoft", "MST-M365-BS-NCE-ANN", "CFQ7TTC0LDPB:0001", "Annual",
            "11.25", "12.50", (5, 30)),
    Product("Exchange Online (Plan 1)", "Microsoft", "MST-EXO-P1-NCE-MTH", "CFQ7TTC0LH16:0001", "Monthly",
            "3.60", "4.00", (2, 10)),
    Product("Microsoft Defender for Business", "Microsoft", "MST-MDB-NCE-ANN", "CFQ7TTC0LCHQ:0001", "Annual",
            "2.70", "3.00", (8, 60)),
    Product("Microsoft Intune Plan 1", "Microsoft", "MST-INT-P1-NCE-MTH", "CFQ7TTC0LCHS:0001", "Monthly",
            "7.56", "8.40", (2, 20)),
    Product("Microsoft Entra ID P1", "Microsoft", "MST-EID-P1-NCE-ANN", "CFQ7TTC0LFLX:0001", "Annual",
            "5.40", "6.00", (3, 30)),
    Product("Microsoft Teams Essentials", "Microsoft", "MST-TEAMS-ESS-MTH", "CFQ7TTC0RL1S:0001", "Monthly",
            "3.60", "4.00", (2, 15)),
    Product("Acronis Cyber Protect Cloud", "Acronis", "ACR-CPC-WKS-MTH", "ACR-CPC-WKS", "Monthly",
            "5.00", "7.50", (5, 40)),
    Product("Microsoft 365 E3", "Microsoft", "MST-M365-E3-NCE-3YR", "CFQ7TTC0LFLZ:0002", "3-Year",
            "32.40", "36.00", (5, 20)),
)  # fmt: skip


def guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def add_months(start: date, months: int) -> date:
    year, month = divmod(start.month - 1 + months, 12)
    last = [31, 29 if (start.year + year) % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month]
    return date(start.year + year, month + 1, min(start.day, last))


def commitment_end(start: date, term: str, today: date) -> date | None:
    """The end of the term running today for a subscription started on ``start`` (an NCE term renews itself)."""
    months = COMMITTED.get(term)
    if months is None:
        return None
    end = add_months(start, months)
    while end <= today:
        end = add_months(end, months)
    return end


@dataclass
class Pax8Data:
    """Every company, product and subscription, by id (rows are Pax8's JSON plus the simulator's ``_`` keys)."""

    companies: dict[str, Json] = field(default_factory=dict)
    products: dict[str, Json] = field(default_factory=dict)
    subscriptions: dict[str, Json] = field(default_factory=dict)
    quotes: dict[str, Json] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _products(data: Pax8Data, rng: random.Random) -> list[Json]:
    rows = []
    for product in CATALOGUE:
        row: Json = {
            "id": guid(rng),
            "name": product.name,
            "vendorName": product.vendor,
            "shortDescription": f"{product.name} ({product.term})",
            "sku": product.sku,
            "vendorSku": product.vendor_sku,
            "altVendorSku": None,
            "requiresCommitment": product.term in COMMITTED,
            "_term": product.term,
            "_cost": product.cost,
            "_price": product.price,
            "_seats": product.seats,
        }
        data.products[row["id"]] = row
        rows.append(row)
    return rows


def company_row(customer: Customer, rng: random.Random, now: datetime) -> Json:
    return {
        "id": guid(rng),
        "name": customer.name,
        "address": {
            "street": customer.street,
            "city": customer.city,
            "stateOrProvince": customer.region,
            "postalCode": customer.zip_code,
            "country": customer.country,
        },
        "phone": customer.phone,
        "website": customer.website,
        "externalId": None,
        "billOnBehalfOfEnabled": False,
        "selfServiceAllowed": False,
        "orderApprovalRequired": False,
        "status": "Active" if customer.active else "Inactive",
        "updatedDate": iso(now - timedelta(days=rng.randrange(1, 300))),
    }


def subscription_row(
    company: Json, product: Json, rng: random.Random, now: datetime, *, quantity: int | None = None
) -> Json:
    today = now.date()
    start = today - timedelta(days=rng.randrange(20, 700))
    term = str(product["_term"])
    low, high = product["_seats"]
    created = datetime.combine(start, datetime.min.time(), UTC)
    end = commitment_end(start, term, today)
    return {
        "id": guid(rng),
        "companyId": company["id"],
        "productId": product["id"],
        "quantity": quantity if quantity is not None else rng.randint(low, high),
        "startDate": day_of(start),
        "endDate": None,
        "createdDate": iso(created),
        "updatedDate": iso(created + timedelta(days=rng.randrange(0, 20))),
        "billingStart": day_of(start),
        "status": "Active",
        "price": float(Decimal(str(product["_price"]))),
        "partnerCost": float(Decimal(str(product["_cost"]))),
        "currencyCode": "USD",
        "billingTerm": term,
        # [U] Pax8's field for the NCE commitment; the simulator gives its term and end date.
        "commitment": {"term": term, "endDate": day_of(end)} if end else None,
        "provisioningDetails": [],
    }


def build_demo(data: Pax8Data, seed: int, now: datetime) -> Pax8Data:
    """A company per demo customer; each with three to six subscriptions (Business Premium at most of them)."""
    rng = random.Random(seed * 7_919)  # noqa: S311 - deterministic test data, not security
    products = _products(data, rng)
    for customer in Msp.drawn(seed, DEMO_CUSTOMERS).listed():
        company = company_row(customer, rng, now)
        data.companies[company["id"]] = company
        if not customer.active:
            continue
        chosen = [products[0], *rng.sample(products[1:], rng.randint(2, 5))]
        for product in chosen:
            row = subscription_row(company, product, rng, now)
            data.subscriptions[row["id"]] = row
    return data


def build_at_scale(data: Pax8Data, seed: int, now: datetime, *, companies: int, subscriptions: int) -> Pax8Data:
    """``companies`` companies and ``subscriptions`` subscriptions over them; the first company has forty (the
    Licensing tab's benchmark customer) when there are enough."""
    rng = random.Random(seed * 104_729)  # noqa: S311 - deterministic test data, not security
    products = _products(data, rng)
    customers = Msp.drawn(seed, companies).listed()
    rows = [company_row(customer, rng, now) for customer in customers]
    for company in rows:
        data.companies[company["id"]] = company
    for index in range(subscriptions):
        company = rows[0] if index < min(40, subscriptions) or len(rows) == 1 else rng.choice(rows[1:])
        row = subscription_row(company, products[index % len(products)], rng, now)
        data.subscriptions[row["id"]] = row
    return data
