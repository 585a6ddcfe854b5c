"""The Keepit simulator's data (``KeepitData``) and how it is filled: the parent account and its child
accounts (seven of the MSP's customers, from :mod:`vectis.simulators.fixtures`, spelt as another tool would),
their connectors in every health state, three days of jobs and the audit log."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from vectis.simulators.base import Json
from vectis.simulators.keepit.vendor import (
    DEFAULT_REGION,
    DEMO_TOKEN_LOGIN,
    DEVICE_TYPES,
    DSL_AGENTS,
    PARENT_COMPANY,
    PARENT_GUID,
)


@dataclass
class KeepitData:
    """The data of one Keepit (``KeepitState`` adds the logins, knobs and bookkeeping)."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    region: str = DEFAULT_REGION
    # account guid -> {id, parent_id, created, enabled, product, subscribed, email, fullname, companyname,
    # phone, vatnumber, country, state}; the parent first, children in creation order
    accounts: dict[str, Json] = field(default_factory=dict)
    devices: dict[str, list[Json]] = field(default_factory=dict)  # account guid -> devices (cloud kind)
    snapshots: dict[str, Json] = field(default_factory=dict)  # device guid -> latest snapshot (absent: never)
    jobs: dict[str, list[Json]] = field(default_factory=dict)  # device guid -> jobs, oldest first
    problems: dict[str, str] = field(default_factory=dict)  # device guid -> BADLOGIN | BADTOKEN | QUOTAVIOLATED
    audit: list[Json] = field(default_factory=list)  # oldest first


D = TypeVar("D", bound=KeepitData)

_GUID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_FIRST = ["Alex", "Sam", "Jordan", "Priya", "Morgan", "Chris", "Dana", "Elena", "Tom", "Fatima", "Grace", "Luis"]
_LAST = ["Hughes", "Patel", "Okafor", "Jensen", "Moreau", "Kowalski", "Brennan", "Lindqvist", "Nakamura", "Reyes"]
_PLACES = [
    ("USA", "VA", "", "+1 703 555 0"),
    ("USA", "CA", "", "+1 916 555 0"),
    ("USA", "NY", "", "+1 212 555 0"),
    ("Canada", "ON", "", "+1 416 555 0"),
    ("United Kingdom", "", "GB", "+44 117 496 0"),
    ("Ireland", "", "IE", "+353 1 555 0"),
]
_SCALE_PLACES = [
    "Ashford", "Birchwood", "Cedar", "Dover", "Elm", "Fairview", "Glen", "Hazel", "Iris", "Jasper", "Kent", "Linden",
    "Maple", "Norton", "Oak", "Pine", "Quarry", "Rowan", "Summit", "Tamar", "Union", "Valley", "Willow", "York",
]  # fmt: skip
_SCALE_TRADES = [
    "Dental", "Legal", "Logistics", "Motors", "Pharmacy", "Builders", "Accountants", "Clinic", "Realty", "Studios",
    "Engineering", "Foods", "Outfitters", "Insurance", "Academy", "Veterinary", "Printing", "Consulting",
]  # fmt: skip
_SCALE_SUFFIXES = ["", "", " Inc.", " LLC", " Ltd", " Group", " Co."]
# How another tool spells a company (each keeps vectis.sync.normalize_name equal): the first applies to
# names with "&", the rest are dealt out in turn.
_RESPELLINGS: list[Callable[[str], str]] = [
    lambda name: name.replace(" & ", " and ").rstrip("."),
    lambda name: name.upper(),
    lambda name: f"{name} Ltd",
    lambda name: name.lower(),
    lambda name: f"{name}, Inc.",
    lambda name: f"The {name}",
    lambda name: " ".join([name.split()[0], *(word.lower() for word in name.split()[1:])]),
    lambda name: f"{name} Limited",
]
_DEFAULT_TYPES = ["o365-admin", "azure-ad"]
_OTHER_TYPES = [("gsuite", 5), ("sforce", 4), ("dynamics365", 3), ("powerbi", 3), ("zendesk", 2), ("azure-do", 2)]
_RETENTIONS = ["P1Y", "P3Y", "P5Y", "P10Y", "P99Y"]
_AUDIT = [  # area, action, method, message, succeeded, needs a device, weight
    ("user", "login", "POST", "User {email} logged in", True, False, 40),
    ("user", "failed-login", "POST", "Failed login for {email}: wrong password", False, False, 6),
    ("user", "create", "POST", "User {email} created", True, False, 3),
    ("user", "update", "PUT", "User {email} updated", True, False, 4),
    ("user", "delete", "DELETE", "User {email} deleted", True, False, 1),
    ("account", "update", "PUT", "Account settings of {company} updated", True, False, 4),
    ("account", "create", "POST", "Sub-account {company} created", True, False, 1),
    ("connector", "create", "POST", "Connector {device} created", True, True, 2),
    ("connector", "update", "PUT", "Connector {device} settings updated", True, True, 5),
    ("connector", "delete", "DELETE", "Connector {device} deleted", True, True, 1),
    ("connection", "update", "PUT", "Connection of {device} re-authorized", True, True, 3),
    ("connection", "failed-login", "PUT", "Connection of {device} could not sign in to the service", False, True, 2),
    ("backup", "snapshot-failed", "PUT", "Backup of {device} failed: the service did not respond", False, True, 4),
    ("backup", "start", "PUT", "Manual backup of {device} started", True, True, 2),
    ("restore", "restore-started", "POST", "Restore of {items} items from {device} started", True, True, 4),
    ("restore", "restore-completed", "POST", "Restore of {items} items from {device} completed", True, True, 3),
    ("restore", "restore-failed", "POST", "Restore from {device} failed: target mailbox not found", False, True, 1),
    ("report", "export", "GET", "Backup report exported", True, False, 3),
    ("report", "create", "POST", "Scheduled report 'Weekly backup status' created", True, False, 1),
    ("security", "update", "PUT", "Two-factor authentication enabled for {email}", True, False, 2),
    ("security", "update", "PUT", "IP allowlist updated", True, False, 1),
    ("compliance", "export", "GET", "Compliance export of {device} prepared", True, True, 1),
    ("compliance", "update", "PUT", "Retention of {device} changed to P5Y", True, True, 1),
    ("token", "create", "POST", "API token 'Vectis sync' created", True, False, 1),
    ("token", "delete", "DELETE", "API token revoked", True, False, 1),
    ("billing", "update", "PUT", "Billing contact updated", True, False, 1),
    ("notification", "update", "PUT", "Email notification settings updated", True, False, 1),
]


class Generator:
    """All randomness comes from one ``random.Random(seed)``, in a fixed order, so a seed and a ``now``
    give the same MSP every time."""

    def __init__(self, seed: int, now: datetime | None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        moment = now or datetime.now(UTC)
        self.now = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).replace(
            microsecond=0
        )
        self.taken: set[str] = {PARENT_GUID}

    def guid(self, groups: int = 3) -> str:
        """Keepit's shape: dash-separated base-36 groups of 5-6 characters (never a UUID)."""
        while True:
            text = "-".join(
                "".join(self.rng.choice(_GUID_ALPHABET) for _ in range(self.rng.choice((5, 6)))) for _ in range(groups)
            )
            if text not in self.taken:
                self.taken.add(text)
                return text

    def ago(self, low_hours: float, high_hours: float) -> datetime:
        return self.now - timedelta(seconds=int(self.rng.uniform(low_hours, high_hours) * 3600))

    def respell(self, names: list[str]) -> list[str]:
        out, turn = [], 1
        for name in names:
            if " & " in name:
                out.append(_RESPELLINGS[0](name))
                continue
            respelt = _RESPELLINGS[turn](name)
            turn = turn % (len(_RESPELLINGS) - 1) + 1
            out.append(respelt if respelt != name else f"{name} Ltd")
        return out

    def names(self, count: int) -> list[str]:
        combos = [(place, trade) for place in _SCALE_PLACES for trade in _SCALE_TRADES]
        self.rng.shuffle(combos)
        names = []
        for number in range(count):
            place, trade = combos[number % len(combos)]
            lap = number // len(combos)
            names.append(f"{place} {trade}{self.rng.choice(_SCALE_SUFFIXES)}" + (f" {lap + 1}" if lap else ""))
        return names

    # -- build

    def build(
        self,
        state: D,
        names: list[str],
        connectors: list[int],
        scenarios: dict[tuple[int, int], str],
        *,
        audit_records: int,
        audit_days: int,
    ) -> D:
        distributor = self.guid()
        state.accounts[PARENT_GUID] = self.account(
            PARENT_GUID, distributor, PARENT_COMPANY, self.ago(900 * 24, 1000 * 24), "partner"
        )
        for index, name in enumerate(names):
            guid = self.guid()
            created = self.ago(60 * 24, 800 * 24)
            account = self.account(guid, PARENT_GUID, name, created, "business")
            if len(names) > 25 and index % 25 == 24:
                account["enabled"] = False
            state.accounts[guid] = account
        children = list(state.accounts)[1:]
        for index, guid in enumerate(children):
            for number, kind in enumerate(self.device_types(connectors[index])):
                scenario = scenarios.get((index, number), "healthy")
                self.device(state, guid, kind, scenario)
        ordered = sorted(children, key=lambda g: state.accounts[g]["created"])
        state.accounts = {PARENT_GUID: state.accounts[PARENT_GUID], **{g: state.accounts[g] for g in ordered}}
        state.audit = self.audit(state, audit_records, audit_days)
        return state

    def account(self, guid: str, parent: str, name: str, created: datetime, product: str) -> Json:
        rng = self.rng
        slug = re.sub(r"[^a-z0-9]", "", name.lower())[:32] or "customer"
        country, region, vat_prefix, phone = rng.choice(_PLACES)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return {
            "id": guid,
            "parent_id": parent,
            "created": created,
            "enabled": True,
            "product": product,
            "subscribed": True,
            "email": f"{first.lower()}.{last.lower()}@{slug}.example",
            "fullname": f"{first} {last}",
            "companyname": name,
            "phone": f"{phone}{rng.randrange(100, 999)}",
            "vatnumber": f"{vat_prefix}{rng.randrange(10**8, 10**9)}" if vat_prefix else "",
            "country": country,
            "state": region,
            "domain": slug,
        }

    def device_types(self, count: int) -> list[str]:
        kinds = _DEFAULT_TYPES[:count]
        while len(kinds) < count:
            if self.rng.random() < 0.2:
                kind = "dsl:" + self.rng.choice(sorted(DSL_AGENTS))
            else:
                kind = self.rng.choices([k for k, _ in _OTHER_TYPES], weights=[w for _, w in _OTHER_TYPES])[0]
            if kind not in kinds:
                kinds.append(kind)
        return kinds

    def device(self, state: KeepitData, account: str, kind: str, scenario: str) -> None:
        rng = self.rng
        kind, _, agent = kind.partition(":")
        label = DSL_AGENTS[agent] if agent else DEVICE_TYPES[kind]
        domain = state.accounts[account]["domain"]
        orglink = {
            "o365-admin": f"{domain}.onmicrosoft.com",
            "azure-ad": f"{domain}.onmicrosoft.com",
            "gsuite": f"{domain}.example",
            "sforce": f"https://{domain}.my.salesforce.com",
            "dynamics365": f"https://{domain}.crm.dynamics.com",
            "powerbi": f"{domain}.onmicrosoft.com",
            "zendesk": f"https://{domain}.zendesk.com",
            "azure-do": f"https://dev.azure.com/{domain}",
        }.get(kind, f"https://{domain}.{agent}.com")
        guid = self.guid()
        created = self.ago(72, 400 * 24) if scenario != "never" else self.ago(60, 70)
        device: Json = {
            "guid": guid,
            "name": f"{label} - {state.accounts[account]['companyname']}",
            "type": kind,
            "agent-type": agent or None,
            "created": created,
            "accessible": True,
            "orglink": orglink,
            "backup-retention": rng.choice(_RETENTIONS),
            "backup-retention-updated": created + timedelta(minutes=rng.randrange(5, 120)),
        }
        state.devices.setdefault(account, []).append(device)
        if scenario == "badlogin":
            state.problems[guid] = "BADLOGIN"
        elif scenario == "badtoken":
            state.problems[guid] = "BADTOKEN"
        elif scenario == "quota":
            state.problems[guid] = "QUOTAVIOLATED"
        # the end of the last successful backup; None: never
        anchor = {
            "healthy": self.ago(0.5, 7),
            "quota": self.ago(0.5, 7),
            "unhealthy": self.now - timedelta(hours=26),
            "badlogin": self.now - timedelta(hours=30),
            "badtoken": self.now - timedelta(hours=20),
            "critical": self.ago(50, 60),
            "never": None,
        }[scenario]
        number = rng.randrange(1, 12)
        title = f"{label} Backup({number})"
        describe = f"[backup][bl][auto][{agent or kind}]{{{title}}}"
        jobs: list[Json] = []
        interval = timedelta(hours=rng.choice((4, 6, 8)))
        if anchor is not None:
            end = anchor
            while end > max(self.now - timedelta(hours=72), created):
                jobs.append(self.job(describe, end, "succeeded" if rng.random() < 0.92 or end == anchor else "failed"))
                end -= interval
            state.snapshots[guid] = {
                "tstamp": anchor,
                "root": "".join(rng.choice("0123456789abcdef") for _ in range(40)),
                "type": "c" if rng.random() < 0.85 else "p",
                "size": rng.randrange(2 * 10**9, 900 * 10**9),
                "account": account,
            }
        after = (anchor or created) + interval
        while scenario not in ("healthy", "quota") and after < self.now:  # failing since the last success
            jobs.append(self.job(describe, after, "failed"))
            after += interval
        if scenario == "healthy" and rng.random() < 0.3:
            jobs.append(self.job(describe, self.now - timedelta(minutes=rng.randrange(3, 40)), "active"))
        if scenario == "healthy" and rng.random() < 0.25:
            restore = f"[restore][bl][manual][{agent or kind}]{{{label} Restore({rng.randrange(1, 40)})}}"
            jobs.append(self.job(restore, self.ago(2, 60), "succeeded", kind="restore"))
        state.jobs[guid] = sorted(jobs, key=lambda job: (job["start"], job["guid"]))

    def job(self, description: str, end: datetime, outcome: str, kind: str = "backup") -> Json:
        rng = self.rng
        if outcome == "active":
            started = end
            end = self.now
        else:
            started = end - timedelta(seconds=rng.randrange(4 * 60, 95 * 60))
        scheduled = started - timedelta(seconds=rng.randrange(10, 90))
        return {
            "guid": self.guid(4),
            "description": description,
            "type": kind,
            "priority": 5 if kind == "backup" else 10,
            "active": outcome == "active",
            "start": scheduled,
            "scheduled": scheduled,
            "dispatched": scheduled + timedelta(seconds=rng.randrange(1, 8)),
            "started": started,
            "succeeded": end if outcome == "succeeded" else None,
            "failed": end if outcome == "failed" else None,
            "cancelled": end if outcome == "cancelled" else None,
        }

    def audit(self, state: KeepitData, count: int, days: int) -> list[Json]:
        rng = self.rng
        guids = list(state.accounts)
        weights = [len(guids) * 0.15 if guid == PARENT_GUID else 1.0 for guid in guids]
        token_users = {PARENT_GUID}
        records = []
        span = days * 86400
        for _ in range(count):
            guid = rng.choices(guids, weights=weights)[0]
            account = state.accounts[guid]
            area, action, method, template, succeeded, needs_device, _ = rng.choices(
                _AUDIT, weights=[row[-1] for row in _AUDIT]
            )[0]
            devices = state.devices.get(guid, [])
            if needs_device and not devices:
                area, action, method, template, succeeded, needs_device, _ = _AUDIT[0]
            device = rng.choice(devices) if needs_device else None
            by_token = guid in token_users and area in ("report", "connector", "backup") and rng.random() < 0.5
            metadata = []
            if area == "restore":
                metadata = [("job", self.guid(4)), ("items", str(rng.randrange(1, 400)))]
            elif area == "user":
                metadata = [("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)")]
            record: Json = {
                "time": self.now - timedelta(seconds=rng.randrange(1, span)),
                "account": guid,
                "company": account["companyname"],
                "device": device["guid"] if device else None,
                "area": area,
                "action": action,
                "method": method,
                "message": template.format(
                    email=account["email"],
                    company=account["companyname"],
                    device=device["name"] if device else "",
                    items=rng.randrange(1, 400),
                ),
                "acl": rng.choice(["MasterAdmin", "PartnerParent"]) if guid == PARENT_GUID else "Admin",
                "allowed": action != "failed-login" or area != "user",
                "succeeded": succeeded,
                "client-ip": f"{rng.choice(['203.0.113', '198.51.100', '192.0.2'])}.{rng.randrange(1, 255)}",
                "token": DEMO_TOKEN_LOGIN if by_token else "",
                "metadata": metadata,
            }
            records.append(record)
        records.sort(key=lambda r: (r["time"], r["account"], r["area"], r["action"]))
        return records
