"""The Graph simulator's data (``GraphData``) and how it is filled: a customer tenant per customer of the MSP (from
:mod:`vectis.simulators.fixtures`, named as the other simulators name them), each with its organisation, its
licences (Entra ID P1, Intune) and the permissions the MSP's app was granted there, a Secure Score a day, Intune's
managed devices (named as an RMM names the same machines) with their compliance policies, Conditional Access
policies, directory roles with their members and each user's MFA registration.

Everything is stored as Graph sends it (field names, ISO times); ``_``-keys are the simulator's own. One seeded
``random.Random`` draws it all, so a seed and a ``now`` give the same tenants every time."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

from vectis.simulators.base import Json
from vectis.simulators.fixtures import BENCH_JOBS, DEMO_CUSTOMERS, Customer, Msp
from vectis.simulators.graph.vendor import ALL_ROLES, day, iso

DAY = 86400.0
SCORE_DAYS = 35  # Graph keeps a score a day; 35 covers a 30-day sparkline with some to spare
# The demo's first tenant, fixed so the demo's config and the tests can name it; the second has no Entra ID P1, the
# third no Intune, the fourth was not granted AuditLog.Read.All.
DEMO_TENANT_ID = "3b6e1f2c-7a94-4d0e-b8c5-91f27d4a6e03"
DEMO_GAP_DAYS = (9, 10)  # days ago with no score in the demo tenant: the sparkline shows a gap


@dataclass(frozen=True)
class Control:
    """A Secure Score improvement action (a ``secureScoreControlProfile``)."""

    name: str
    title: str
    category: str  # Identity | Data | Device | Apps
    max_score: float
    service: str


CONTROLS = (
    Control("MFARegistrationV2", "Ensure multifactor authentication is enabled for all users", "Identity", 9, "AzureAD"),
    Control("AdminMFAV2", "Require multifactor authentication for administrative roles", "Identity", 10, "AzureAD"),
    Control("BlockLegacyAuthentication", "Block legacy authentication", "Identity", 8, "AzureAD"),
    Control("SelfServicePasswordReset", "Enable self-service password reset", "Identity", 1, "AzureAD"),
    Control("OneAdmin", "Designate more than one global admin", "Identity", 1, "AzureAD"),
    Control("SigninRiskPolicy", "Turn on sign-in risk policy", "Identity", 7, "AzureAD"),
    Control("mdo_safeattachments", "Turn on Safe Attachments in block mode", "Apps", 8, "MDO"),
    Control("mdo_safelinksforemail", "Create Safe Links policies for email messages", "Apps", 8, "MDO"),
    Control("mdo_atpprotection", "Turn on Microsoft Defender for Office 365 in SharePoint, OneDrive and Teams",
            "Apps", 5, "MDO"),
    Control("exo_mailboxaudit", "Ensure mailbox auditing for all users is enabled", "Data", 5, "EXO"),
    Control("IntuneCompliancePolicy", "Require devices to be marked as compliant", "Device", 9, "Intune"),
    Control("BitLockerEncryption", "Encrypt devices with BitLocker", "Device", 6, "Intune"),
)  # fmt: skip

ROLES = (
    ("62e90394-69f5-4237-9190-012177145e10", "Global Administrator"),
    ("194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    ("29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator"),
)
FIRST_NAMES = ["Alex", "Sam", "Jordan", "Priya", "Tom", "Mei", "Owen", "Grace", "Ravi", "Lucy", "Ben", "Nadia"]
LAST_NAMES = ["Hughes", "Patel", "Evans", "Chen", "Walsh", "Okafor", "Reid", "Khan", "Morgan", "Price"]
METHODS = ["microsoftAuthenticatorPush", "softwareOneTimePasscode", "mobilePhone", "fido2", "windowsHelloForBusiness"]


@dataclass(frozen=True)
class PolicyKind:
    name: str
    grant: tuple[str, ...]  # builtInControls
    include_roles: bool = False  # aimed at admin roles rather than all users


POLICIES = (
    PolicyKind("Require MFA for administrators", ("mfa",), include_roles=True),
    PolicyKind("Require MFA for all users", ("mfa",)),
    PolicyKind("Block legacy authentication", ("block",)),
    PolicyKind("Require compliant or hybrid joined device", ("compliantDevice", "domainJoinedDevice")),
    PolicyKind("Block sign-ins from outside the UK", ("block",)),
    PolicyKind("Require MFA for Azure management", ("mfa",)),
)
# Why a device is not compliant: (the policy, the setting that fails).
FAILING = (
    ("Windows 10/11 baseline compliance", "BitLocker encryption required"),
    ("Windows 10/11 baseline compliance", "Microsoft Defender Antivirus real-time protection"),
    ("Windows 10/11 OS version", "Minimum OS version 10.0.22631"),
    ("macOS baseline compliance", "FileVault encryption required"),
    ("iOS minimum version", "Minimum OS version 17.0"),
)


@dataclass
class GraphData:
    """Every customer tenant's Graph data (``GraphState`` adds the app registration, knobs, bookkeeping)."""

    now: float = field(default_factory=lambda: float(int(time.time())))
    tenants: dict[str, Json] = field(default_factory=dict)  # tenant id -> everything of that tenant (below)
    profiles: list[Json] = field(default_factory=list)  # secureScoreControlProfiles, the same in every tenant


class Generator:
    def __init__(self, seed: int, now: float | None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        self.now = float(int(now if now is not None else time.time()))

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def profiles(self) -> list[Json]:
        return [
            {
                "id": c.name, "title": c.title, "controlCategory": c.category, "maxScore": float(c.max_score),
                "rank": rank, "service": c.service, "tier": "Core", "deprecated": False, "userImpact": "Low",
                "implementationCost": "Low", "actionType": "Config",
                "actionUrl": f"https://security.microsoft.com/securescore?viewid=actions&actionId={c.name}",
            }
            for rank, c in enumerate(CONTROLS, start=1)
        ]  # fmt: skip

    def tenant(self, data: GraphData, customer: Customer, *, p1: bool, intune: bool, roles: tuple[str, ...]) -> Json:
        tenant_id = self.guid() if data.tenants else DEMO_TENANT_ID
        tenant: Json = {
            "id": tenant_id, "displayName": customer.name, "domain": f"{customer.slug}.onmicrosoft.com",
            "p1": p1, "intune": intune, "roles": list(roles),
            "scores": [], "devices": [], "policies": [], "users": [], "directoryRoles": [], "registrations": [],
        }  # fmt: skip
        data.tenants[tenant_id] = tenant
        return tenant

    def users(self, tenant: Json, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            upn = f"{first.lower()}.{last.lower()}{rng.randrange(10, 99)}@{tenant['domain']}"
            tenant["users"].append({"id": self.guid(), "displayName": f"{first} {last}", "userPrincipalName": upn})

    def directory_roles(self, tenant: Json, admins: int) -> None:
        """Activated roles with their members: the first user is a Global Administrator, the next ``admins`` hold one
        role each (a role with no member is not activated, so Graph does not list it)."""
        users = tenant["users"]
        holders: dict[int, list[str]] = {0: [users[0]["id"]]}
        for user in users[1 : admins + 1]:
            holders.setdefault(self.rng.randrange(len(ROLES)), []).append(user["id"])
        for index, (template, name) in enumerate(ROLES):
            if holders.get(index):
                tenant["directoryRoles"].append({
                    "id": self.guid(), "displayName": name, "roleTemplateId": template,
                    "description": f"{name} role.", "_members": holders[index],
                })  # fmt: skip

    def registrations(self, tenant: Json, unregistered_admins: int) -> None:
        admins = {m for role in tenant["directoryRoles"] for m in role["_members"]}
        rng = self.rng
        left = unregistered_admins
        for user in tenant["users"]:
            admin = user["id"] in admins
            if admin and left > 0 and user["id"] != tenant["users"][0]["id"]:
                registered, left = False, left - 1
            else:
                registered = rng.random() < (1.0 if admin else 0.8)
            methods = rng.sample(METHODS, rng.randint(1, 3)) if registered else []
            tenant["registrations"].append({
                "id": user["id"], "userPrincipalName": user["userPrincipalName"], "userDisplayName": user["displayName"],
                "userType": "member", "isAdmin": admin, "isSsprRegistered": registered, "isSsprEnabled": True,
                "isSsprCapable": registered, "isMfaRegistered": registered, "isMfaCapable": registered,
                "isPasswordlessCapable": "fido2" in methods, "methodsRegistered": methods,
                "defaultMfaMethod": methods[0] if methods else "none", "isSystemPreferredAuthenticationMethodEnabled": False,
                "userPreferredMethodForSecondaryAuthentication": methods[0] if methods else "none",
                "lastUpdatedDateTime": iso(self.now - rng.uniform(0.5, 20) * DAY),
            })  # fmt: skip

    def scores(self, tenant: Json, *, gaps: tuple[int, ...] = ()) -> None:
        """A score a day for :data:`SCORE_DAYS` days, newest first, drifting upward; none on the ``gaps`` days."""
        rng = self.rng
        maximum = sum(c.max_score for c in CONTROLS) * 4.0  # the real maximum counts many more controls
        current = rng.uniform(0.3, 0.65) * maximum
        history = []
        for ago in range(SCORE_DAYS - 1, -1, -1):
            current = min(maximum, max(0.0, current + rng.choice([0, 0, 0, 1, 2, -1, 3, 0])))
            if ago in gaps:
                continue
            moment = self.now - ago * DAY
            history.append(self.score(tenant, moment, round(current, 2), maximum))
        tenant["scores"] = list(reversed(history))

    def score(self, tenant: Json, moment: float, current: float, maximum: float) -> Json:
        rng = self.rng
        controls = []
        for c in CONTROLS:
            earned = round(rng.choice([0.0, 0.0, 0.5, 1.0]) * c.max_score, 2)
            controls.append({
                "controlCategory": c.category, "controlName": c.name, "description": c.title, "score": earned,
                "scoreInPercentage": round(100 * earned / c.max_score, 2),
                "implementationStatus": "Completed" if earned == c.max_score else "Not completed",
                "lastSynced": iso(moment), "on": earned > 0, "count": "", "total": "",
            })  # fmt: skip
        return {
            "id": f"{tenant['id']}_{day(moment)}", "azureTenantId": tenant["id"], "createdDateTime": iso(moment),
            "currentScore": current, "maxScore": maximum, "activeUserCount": len(tenant["users"]),
            "licensedUserCount": len(tenant["users"]), "enabledServices": ["HasExchange", "HasSharePoint", "HasAzureAD"],
            "averageComparativeScores": [{"basis": "AllTenants", "averageScore": round(maximum * 0.42, 2)}],
            "controlScores": controls, "vendorInformation": {"provider": "SecureScore", "vendor": "Microsoft"},
        }  # fmt: skip

    def devices(self, tenant: Json, customer: Customer, count: int, noncompliant: int) -> None:
        rng = self.rng
        users = tenant["users"]
        for number in range(1, count + 1):
            name, os_name = f"{customer.code}-WS{number:02d}", "Windows"
            if number == count and count > 3:
                name, os_name = f"{customer.code}-MAC01", "macOS"
            state = "noncompliant" if number <= noncompliant else rng.choices(
                ["compliant", "inGracePeriod", "unknown"], weights=[90, 5, 5])[0]  # fmt: skip
            user = users[number % len(users)]
            policies = []
            if state == "noncompliant":
                policy, setting = rng.choice(
                    [f for f in FAILING if f[0].startswith(os_name if os_name == "macOS" else "Windows")]
                )
                policies.append({"id": self.guid(), "displayName": policy, "state": "nonCompliant",
                                 "platformType": "windows10AndLater" if os_name == "Windows" else "macOS",
                                 "settingCount": 6, "_failing": setting})  # fmt: skip
            tenant["devices"].append({
                "id": self.guid(), "deviceName": name, "operatingSystem": os_name,
                "osVersion": "10.0.22631.3447" if os_name == "Windows" else "14.4.1", "complianceState": state,
                "lastSyncDateTime": iso(self.now - rng.uniform(0.02, 3) * DAY),
                "enrolledDateTime": iso(self.now - rng.uniform(30, 600) * DAY),
                "userPrincipalName": user["userPrincipalName"], "userDisplayName": user["displayName"],
                "managedDeviceOwnerType": "company", "manufacturer": "Dell Inc." if os_name == "Windows" else "Apple",
                "model": "Latitude 5440" if os_name == "Windows" else "MacBook Air", "serialNumber": self.guid()[:10].upper(),
                "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z", "_policies": policies,
            })  # fmt: skip

    def policies(self, tenant: Json, states: list[str]) -> None:
        rng = self.rng
        for kind, state in zip(POLICIES, states, strict=False):
            created = self.now - rng.uniform(60, 700) * DAY
            users: Json = {
                "includeUsers": [] if kind.include_roles else ["All"],
                "excludeUsers": [],
                "includeRoles": [r[0] for r in ROLES] if kind.include_roles else [],
                "excludeRoles": [],
            }
            tenant["policies"].append({
                "id": self.guid(), "displayName": kind.name, "state": state, "createdDateTime": iso(created),
                "modifiedDateTime": iso(created + rng.uniform(1, 50) * DAY),
                "conditions": {"users": users, "applications": {"includeApplications": ["All"]},
                               "clientAppTypes": ["all"]},
                "grantControls": {"operator": "OR", "builtInControls": list(kind.grant)},
            })  # fmt: skip


def _fill(generator: Generator, tenant: Json, customer: Customer, *, devices: int, noncompliant: int,
          admins: int, unregistered: int, policy_states: list[str], gaps: tuple[int, ...] = ()) -> None:  # fmt: skip
    generator.users(tenant, max(admins + 3, 6))
    generator.directory_roles(tenant, admins)
    generator.registrations(tenant, unregistered)
    generator.scores(tenant, gaps=gaps)
    generator.devices(tenant, customer, devices, noncompliant)
    generator.policies(tenant, policy_states)


def build_demo(data: GraphData, seed: int, now: float | None) -> Generator:
    """The demo MSP: a tenant per customer. The first has everything (two devices not compliant, a report-only
    policy, an admin without MFA, two days without a score); the second has no Entra ID P1, the third no Intune, the
    fourth did not grant AuditLog.Read.All."""
    generator = Generator(seed, now)
    data.profiles = generator.profiles()
    rng = generator.rng
    for position, customer in enumerate(Msp.drawn(seed, DEMO_CUSTOMERS).listed()):
        roles = tuple(r for r in ALL_ROLES if not (position == 3 and r == "AuditLog.Read.All"))
        tenant = generator.tenant(data, customer, p1=position != 1, intune=position != 2, roles=roles)
        if position == 0:
            states = ["enabled", "enabledForReportingButNotEnforced", "enabled", "disabled", "enabled"]
            _fill(generator, tenant, customer, devices=8, noncompliant=2, admins=3, unregistered=1,
                  policy_states=states, gaps=DEMO_GAP_DAYS)  # fmt: skip
        else:
            states = [rng.choice(["enabled", "enabled", "enabledForReportingButNotEnforced", "disabled"])
                      for _ in range(rng.randint(2, 5))]  # fmt: skip
            _fill(generator, tenant, customer, devices=rng.randint(3, 9), noncompliant=rng.randint(0, 2),
                  admins=rng.randint(1, 3), unregistered=rng.randint(0, 1), policy_states=states)  # fmt: skip
    return generator


def demo_tenant_ids(seed: int = 1) -> list[str]:
    """The demo MSP's tenant ids, in order (what the demo's connection lists): the same for every ``now``."""
    data = GraphData()
    build_demo(data, seed, 0.0)
    return list(data.tenants)


def build_at_scale(data: GraphData, seed: int, now: float | None, *, tenants: int) -> Generator:
    """A large MSP for benchmarks: ``tenants`` customer tenants (named as the other simulators' benchmark MSP), 4-20
    managed devices, 2-6 policies and 1-4 admins each; every tenth without Entra ID P1, every fifteenth no Intune."""
    generator = Generator(seed, now)
    data.profiles = generator.profiles()
    rng = generator.rng
    for position, customer in enumerate(Msp.drawn(seed, tenants, BENCH_JOBS).listed()):
        tenant = generator.tenant(data, customer, p1=position % 10 != 9, intune=position % 15 != 14, roles=ALL_ROLES)
        states = [rng.choice(["enabled", "enabled", "enabledForReportingButNotEnforced", "disabled"])
                  for _ in range(rng.randint(2, 6))]  # fmt: skip
        _fill(generator, tenant, customer, devices=rng.randint(4, 20), noncompliant=rng.randint(0, 3),
              admins=rng.randint(1, 4), unregistered=rng.randint(0, 2), policy_states=states)  # fmt: skip
    return generator
