"""The simulated MSP that every simulator describes: the names its customers go by, and the customers
themselves, drawn from one seeded stream.

The VSPC console is where the customers are drawn first: ``Msp.drawn(seed, n)`` draws what VSPC's seed
draws up to its last company, in the same order from the same ``random.Random(seed)``, so VSPC keeps
drawing its jobs and alarms from ``msp.rng`` and its seeded UIDs stay what they have always been. Keepit
and ConnectWise take the customers from here too (in VSPC's listing order, ``listed()``) and spell them as
another tool would; the demo's data generator names its customers with :func:`company_names`.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field

DEMO_CUSTOMERS = 12  # the demo MSP's customers (VspcState.seeded)
BENCH_CUSTOMERS = 500  # the benchmark MSP's (VspcState.at_scale, ConnectWiseState.at_scale)
BENCH_JOBS = 5000  # the benchmark MSP's backup-server jobs, spread over its customers

CURATED_NAMES = [
    "Aldridge & Co.",
    "Bayside Bistro",
    "Coast Logistics",
    "Dunmore Dental Practice",
    "Eastfield Veterinary Clinic",
    "Fenwick Legal LLP",
    "Greyhaven Architects",
    "Harbour Lights Hotel",
    "Ironbridge Engineering",
    "Juniper Accountancy",
    "Kestrel Print Works",
    "Larkspur Florists",
    "Millbrook Surgery",
    "Northfield Builders",
    "Oakridge Primary School",
    "Pembroke Motors",
    "Quayside Marine",
    "Redwood Property Group",
    "Saltmarsh Brewery",
    "Thornbury Opticians",
    "Upland Farms Cooperative",
    "Vale Physiotherapy",
    "Westbrook Pharmacy",
    "Yarrow Interiors",
    "Zephyr Travel",
    "Ashcombe Insurance Brokers",
    "Brightwater Nursery",
    "Castleton Estate Agents",
    "Driftwood Cafe",
    "Elmstead Care Home",
    "Foxglove Garden Centre",
    "Granite Quarry Supplies",
]
PLACES = [
    "Aldridge", "Bayside", "Coast", "Dunmore", "Eastfield", "Fenwick", "Greyhaven", "Harbour", "Ironbridge",
    "Juniper", "Kestrel", "Larkspur", "Millbrook", "Northfield", "Oakridge", "Pembroke", "Quayside", "Redwood",
    "Saltmarsh", "Thornbury", "Upland", "Vale", "Westbrook", "Yarrow", "Ashcombe", "Brightwater", "Castleton",
    "Driftwood", "Elmstead", "Foxglove", "Granite", "Hollin", "Kingsmead", "Lowther", "Marston", "Newhaven",
    "Orchard", "Penrose", "Riverside", "Stanway",
]  # fmt: skip
TRADES = [
    "Bistro", "Logistics", "Dental", "Legal", "Architects", "Hotel", "Engineering", "Accountancy", "Print",
    "Florists", "Surgery", "Builders", "Motors", "Marine", "Property", "Brewery", "Opticians", "Farms",
    "Physio", "Pharmacy", "Interiors", "Travel", "Insurance", "Nursery", "Estates", "Cafe", "Care Home",
    "Plumbing", "Electrical", "Joinery",
]  # fmt: skip
SUFFIXES = ["", "", "", " Ltd", " & Sons", " Group", " LLP", " & Co."]
PLACES_OF_BUSINESS = [
    ("United Kingdom", "England", "Leeds", "LS1 4AP", "+44 113 496 0"),
    ("United Kingdom", "England", "Bristol", "BS1 5TR", "+44 117 496 0"),
    ("United Kingdom", "Scotland", "Glasgow", "G2 1DY", "+44 141 496 0"),
    ("Ireland", "Leinster", "Dublin", "D02 X285", "+353 1 555 0"),
    ("USA", "West", "Sacramento", "95814", "+1 916 555 0"),
    ("USA", "Northeast", "Portland", "04101", "+1 207 555 0"),
    ("Netherlands", "Noord-Holland", "Haarlem", "2011 VB", "+31 23 555 0"),
]
STREETS = ["High Street", "Station Road", "Mill Lane", "Church Street", "Harbour Road", "Market Square"]


def uid(rng: random.Random) -> str:
    """A version-4 UUID from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def company_names(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct company names: the curated ones first, then place + trade (+ suffix) in an order
    ``rng`` shuffles, then (beyond ~1,200) curated names with a number."""
    names = CURATED_NAMES[:count]
    taken = set(names)
    combos = [(p, t) for p in PLACES for t in TRADES]
    rng.shuffle(combos)
    for place, trade in combos:
        if len(names) >= count:
            break
        name = f"{place} {trade}{rng.choice(SUFFIXES)}"
        if name not in taken:
            taken.add(name)
            names.append(name)
    number = 2
    while len(names) < count:  # beyond ~1,200 companies the word lists run out: number the rest
        names.append(f"{CURATED_NAMES[len(names) % len(CURATED_NAMES)]} {number}")
        number += 1
    return names


def spread(rng: random.Random, total: int, buckets: int) -> list[int]:
    """``total`` split over ``buckets``, at least one each when possible, skewed like real customers."""
    if buckets <= 0:
        return []
    counts = [1 if total >= buckets else 0] * buckets
    weights = [rng.lognormvariate(0, 1) for _ in range(buckets)]
    for index in rng.choices(range(buckets), weights=weights, k=total - sum(counts)):
        counts[index] += 1
    return counts


@dataclass(frozen=True)
class Customer:
    """One of the MSP's customers: who and where it is, what the MSP runs for it (its subscription plan,
    agent and backup-server quotas, REST access to the console) and the identifiers of its site (location,
    backup server, management agent, two portal users)."""

    index: int  # in the order drawn; every eleventh customer is disabled
    uid: str
    name: str
    slug: str
    code: str  # three capitals, for host names (``ALD-VBR01``)
    country: str
    region: str
    city: str
    zip_code: str
    plan_uid: str | None
    rest_access: bool
    workstation_quota: int
    server_quota: int
    backup_server_quota: int
    phone: str
    street: str
    location_uid: str
    server_uid: str
    agent_uid: str
    user_uids: tuple[str, str]

    @property
    def active(self) -> bool:
        return self.index % 11 != 10

    @property
    def domain(self) -> str:
        return f"{self.slug}.example.com"

    @property
    def website(self) -> str:
        return f"www.{self.domain}"

    @classmethod
    def drawn(cls, rng: random.Random, index: int, name: str, plans: list[str]) -> Customer:
        # The order of the draws is VSPC's seed's: changing it changes every seeded company after it.
        uid_ = uid(rng)
        country, region, city, zip_code, phone = rng.choice(PLACES_OF_BUSINESS)
        plan = rng.choice([*plans, None])
        rest_access = rng.random() < 0.2
        workstation_quota, server_quota = rng.choice([10, 20, 50]), rng.choice([5, 10, 20])
        backup_server_quota = rng.choice([1, 2, 5])
        phone = f"{phone}{rng.randrange(100, 999)}"
        street = f"{rng.randrange(1, 200)} {rng.choice(STREETS)}"
        return cls(
            index=index,
            uid=uid_,
            name=name,
            slug=re.sub(r"[^a-z0-9]", "", name.lower())[:24] or f"company{index}",
            code=re.sub(r"[^A-Z]", "", name.title())[:3].ljust(3, "X"),
            country=country,
            region=region,
            city=city,
            zip_code=zip_code,
            plan_uid=plan,
            rest_access=rest_access,
            workstation_quota=workstation_quota,
            server_quota=server_quota,
            backup_server_quota=backup_server_quota,
            phone=phone,
            street=street,
            location_uid=uid(rng),
            server_uid=uid(rng),
            agent_uid=uid(rng),
            user_uids=(uid(rng), uid(rng)),
        )


@dataclass
class Msp:
    """The MSP ("Summit"): the identifiers of its own console and infrastructure, then its customers, drawn
    in that order from ``rng``, which the caller may go on drawing from (VSPC does)."""

    rng: random.Random = field(repr=False, compare=False)
    site_uid: str  # its Cloud Connect site
    portal_user_uid: str  # its own user of the console
    plan_uids: list[str]  # three subscription plans
    policy_uids: list[str]  # four agent backup policies
    job_counts: list[int] | None  # with ``jobs``: how many backup-server jobs each customer has
    provider_uid: str  # its organization
    installation_uid: str  # its console's installation
    installed_seconds_ago: float
    hosted_server_uid: str  # the backup server it hosts for customers
    hosted_location_uid: str
    alarm_template_uids: list[str]  # four: backup server job, backup agent, company, company quota
    customers: list[Customer]  # in the order drawn

    @classmethod
    def drawn(cls, seed: int, customers: int, jobs: int | None = None) -> Msp:
        rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        site, portal_user = uid(rng), uid(rng)
        plans = [uid(rng) for _ in range(3)]
        policies = [uid(rng) for _ in range(4)]
        job_counts = None if jobs is None else spread(rng, jobs, customers)
        provider, installation = uid(rng), uid(rng)
        installed = rng.uniform(400 * 86400, 500 * 86400)
        hosted_server, hosted_location = uid(rng), uid(rng)
        templates = [uid(rng) for _ in range(4)]
        names = company_names(rng, customers)
        return cls(
            rng=rng,
            site_uid=site,
            portal_user_uid=portal_user,
            plan_uids=plans,
            policy_uids=policies,
            job_counts=job_counts,
            provider_uid=provider,
            installation_uid=installation,
            installed_seconds_ago=installed,
            hosted_server_uid=hosted_server,
            hosted_location_uid=hosted_location,
            alarm_template_uids=templates,
            customers=[Customer.drawn(rng, index, name, plans) for index, name in enumerate(names)],
        )

    def listed(self) -> list[Customer]:
        """The customers as VSPC lists its companies: by UID."""
        return sorted(self.customers, key=lambda customer: customer.uid)
