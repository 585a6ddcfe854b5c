"""The simulated Pax8 partner account: the API credentials and the tokens given, companies, products, subscriptions
and quotes, the webhooks registered and their deliveries, fault knobs and request counters; the changes the API
(or ``/_sim``) makes, with Microsoft's NCE rule on seat reductions."""

from __future__ import annotations

import json
import random
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState, malformed_page_rule
from vectis.simulators.base.deliveries import Delivers
from vectis.simulators.pax8.seed import Pax8Data, add_months, build_at_scale, build_demo, guid, subscription_row
from vectis.simulators.pax8.vendor import (
    AUDIENCE,
    COMMITTED,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    LEGACY_AUDIENCE,
    REDUCTION_WINDOW_DAYS,
    TOKEN_LIFETIME,
    WEBHOOK_TOPIC,
    ApiError,
    TokenError,
    bad_request,
    day_of,
    iso,
    not_found,
)


@dataclass(frozen=True)
class MalformedPage:
    path: str  # under /v1, e.g. "/subscriptions"
    page: int | None  # which page (0-based); None: every page


_KNOB_RULES: dict[str, Rule] = {
    "bad_secret": BOOL,
    "token_revoked": BOOL,
    "forbidden": (lambda v: v in ("", "writes", "all"), '"writes", "all" or "" for none', str),
    "rate_limit_per_second": COUNT,
    "errors_5xx": COUNT,
    "error_status": (lambda v: v in (500, 502, 503, 504) and not isinstance(v, bool), "500, 502, 503 or 504", int),
    "lose_write_answers": COUNT,
    "malformed_page": malformed_page_rule(
        MalformedPage, "page", example='an object {"path": "/subscriptions", "page": 0}', prefix="/v1"
    ),
    "latency": SECONDS,
    "hang": SECONDS,
}


@dataclass
class Faults(FaultKnobs):
    bad_secret: bool = False  # every token request 401 access_denied (a wrong or revoked client secret)
    token_revoked: bool = False  # every API request 401, whatever token it carries
    forbidden: str = ""  # "writes": the credentials may read only, so PUT and POST answer 403; "all": every call
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1
    errors_5xx: int = 0  # the next N requests answer error_status, before doing anything
    error_status: int = 500
    lose_write_answers: int = 0  # the next N writes are done, then answered 502: an outcome the client cannot know
    malformed_page: MalformedPage | None = None  # that list page's JSON is cut in half
    latency: float = 0.0
    hang: float = 0.0

    RULES = _KNOB_RULES


@dataclass
class Pax8State(SimState[Faults], Pax8Data, Delivers):
    """Seeded data (``Pax8Data``), the partner's credentials, tokens, webhooks, fault knobs and bookkeeping.

    ``clock()`` is the simulator's now: the NCE rule reads its date, so a test can step to a renewal."""

    apps: dict[str, str] = field(default_factory=lambda: {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET})
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expires at (epoch seconds)
    webhooks: dict[str, Json] = field(default_factory=dict)
    deliveries: list[Json] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._senders: list[threading.Thread] = []
        self._rng = random.Random(4_099)  # noqa: S311 - ids of new rows, not security

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> Pax8State:
        """The demo partner: a company per demo customer with its subscriptions."""
        state = cls()
        state.now = now or datetime.now(UTC)
        build_demo(state, seed, state.now)
        return state

    @classmethod
    def at_scale(
        cls, *, companies: int = 500, subscriptions: int = 5_000, seed: int = 1, now: datetime | None = None
    ) -> Pax8State:
        """A large partner for benchmarks and the fault harness."""
        state = cls()
        state.now = now or datetime.now(UTC)
        build_at_scale(state, seed, state.now, companies=companies, subscriptions=subscriptions)
        return state

    def cleared(self) -> None:
        self.deliveries.clear()

    @property
    def demo_company(self) -> Json:
        """The first company with subscriptions (the one the tests and the demo act on)."""
        owners = {s["companyId"] for s in self.subscriptions.values()}
        return next(c for c in self.companies.values() if c["id"] in owners)

    def today(self) -> date:
        return self.clock().date()

    # -- authentication

    def grant(self, body: Json, *, legacy: bool = False) -> Json:
        """``POST /v1/token`` (snake_case JSON) or the older ``/auth/token`` (camelCase): a token for a day."""
        keys = ("clientId", "clientSecret", "audience", "grantType") if legacy else (
            "client_id", "client_secret", "audience", "grant_type")  # fmt: skip
        client, secret, audience, grant = (str(body.get(k) or "") for k in keys)
        if grant != "client_credentials":
            raise TokenError(400, "unsupported_grant_type", "Unsupported grant type: " + (grant or "(none)"))
        if audience not in (AUDIENCE, LEGACY_AUDIENCE):
            raise TokenError(403, "access_denied", f"Service not found: {audience or '(none)'}")
        if self.faults.bad_secret or client not in self.apps or not secrets.compare_digest(secret, self.apps[client]):
            raise TokenError(401, "access_denied", "Unauthorized")
        token = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + secrets.token_urlsafe(32)
        expires = self.clock().timestamp() + TOKEN_LIFETIME
        with self._lock:
            self.tokens[token] = expires
        if legacy:
            return {"token": token, "expiresIn": TOKEN_LIFETIME, "tokenType": "Bearer",
                    "expiresAt": iso(datetime.fromtimestamp(expires, UTC))}  # fmt: skip
        return {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer",
                "scope": "partner", "expires_at": iso(datetime.fromtimestamp(expires, UTC))}  # fmt: skip

    def authorize(self, header: str, *, write: bool) -> None:
        scheme, _, token = header.partition(" ")
        expires = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if self.faults.token_revoked or expires is None or expires <= self.clock().timestamp():
            raise ApiError(401, "Unauthorized", "Full authentication is required to access this resource")
        if self.faults.forbidden == "all" or (self.faults.forbidden == "writes" and write):
            raise ApiError(403, "Forbidden", "Access is denied: these API credentials may not make this change.")

    # -- views

    @staticmethod
    def shown(row: Json) -> Json:
        return {key: value for key, value in row.items() if not key.startswith("_")}

    def subscription(self, subscription_id: str) -> Json:
        found = self.subscriptions.get(subscription_id)
        if found is None:
            raise not_found(f"Subscription {subscription_id} not found")
        return found

    # -- changes

    def set_quantity(self, subscription_id: str, body: Any) -> Json:
        """``PUT /v1/subscriptions/{id}``: a new quantity. An increase always goes through; a reduction of a
        committed (NCE) term only in the first days of its term or once it has ended (it then renews for another
        term at the new quantity), else 422 with the date the commitment ends [U: Pax8's exact refusal]."""
        if not isinstance(body, dict):
            raise bad_request("Send a JSON object with the new quantity.")
        quantity = body.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise bad_request("quantity must be a whole number of at least 1.", {"quantity": quantity})
        with self._lock:
            row = self.subscription(subscription_id)
            if row["status"] != "Active":
                raise ApiError(409, "Conflict", f"Subscription {subscription_id} is {row['status']}: only an "
                               "active subscription can change its quantity.")  # fmt: skip
            months = COMMITTED.get(row["billingTerm"])
            commitment = row.get("commitment") or {}
            if months and quantity < row["quantity"] and commitment.get("endDate"):
                end = date.fromisoformat(commitment["endDate"])
                began = add_months(end, -months)
                today = self.today()
                if today >= end:
                    commitment["endDate"] = day_of(add_months(end, months))  # renewed at the new quantity
                elif (today - began).days > REDUCTION_WINDOW_DAYS:
                    raise ApiError(
                        422,
                        "UnprocessableEntity",
                        f"Quantity cannot be decreased during the commitment term. The {row['billingTerm']} term "
                        f"ends on {commitment['endDate']}; a decrease can take effect at renewal.",
                        details={"commitmentEndDate": commitment["endDate"], "currentQuantity": row["quantity"]},
                    )
            changed = quantity != row["quantity"]
            row["quantity"] = quantity
            row["updatedDate"] = iso(self.clock())
        if changed:
            self.announce(row, "UPDATED")
        return row

    def cancel(self, subscription_id: str) -> Json:
        with self._lock:
            row = self.subscription(subscription_id)
            row["status"], row["endDate"], row["updatedDate"] = "Cancelled", day_of(self.today()), iso(self.clock())
        self.announce(row, "CANCELLED")
        return row

    def add_subscription(self, company_id: str, product_id: str, quantity: int) -> Json:
        company, product = self.companies.get(company_id), self.products.get(product_id)
        if company is None or product is None:
            raise bad_request("companyId and productId must name a company and a product.")
        with self._lock:
            row = subscription_row(company, product, self._rng, self.clock(), quantity=quantity)
            row["startDate"] = row["billingStart"] = day_of(self.today())
            row["createdDate"] = row["updatedDate"] = iso(self.clock())
            months = COMMITTED.get(row["billingTerm"])
            if months:
                row["commitment"] = {"term": row["billingTerm"], "endDate": day_of(add_months(self.today(), months))}
            self.subscriptions[row["id"]] = row
        self.announce(row, "CREATED")
        return row

    def create_quote(self, body: Any) -> Json:
        """``POST /v1/quotes`` [U: Pax8's quotes API is not in the stored docs; this shape is the simulator's]:
        ``{"companyId", "reference"?, "notes"?, "lineItems": [{"productId", "quantity", "billingTerm"?}]}``."""
        if not isinstance(body, dict) or not isinstance(body.get("companyId"), str):
            raise bad_request("companyId is required.")
        if body["companyId"] not in self.companies:
            raise bad_request(f"Company {body['companyId']} not found.", {"companyId": body["companyId"]})
        items = body.get("lineItems")
        if not isinstance(items, list) or not items:
            raise bad_request("A quote needs at least one line item.")
        lines = []
        for item in items:
            product = self.products.get(str(item.get("productId"))) if isinstance(item, dict) else None
            quantity = item.get("quantity") if isinstance(item, dict) else None
            if product is None or isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                raise bad_request("Each line item needs a known productId and a quantity of at least 1.")
            price = float(product["_price"])
            lines.append({"productId": product["id"], "productName": product["name"], "quantity": quantity,
                          "billingTerm": item.get("billingTerm") or product["_term"], "price": price,
                          "total": round(price * quantity, 2)})  # fmt: skip
        with self._lock:
            quote = {
                "id": guid(self._rng),
                "companyId": body["companyId"],
                "status": "Draft",
                "reference": str(body.get("reference") or "")[:100] or None,
                "notes": str(body.get("notes") or "")[:2000] or None,
                "lineItems": lines,
                "total": round(sum(line["total"] for line in lines), 2),
                "currencyCode": "USD",
                "createdDate": iso(self.clock()),
                "expiresOn": day_of(self.today() + timedelta(days=30)),
            }
            self.quotes[quote["id"]] = quote
        return quote

    # -- webhooks

    def register_webhook(self, body: Any) -> Json:
        """``POST /api/v2/webhooks`` [U: the body's field names]: ``{"displayName", "url", "authorization",
        "webhookTopics": [{"topic"}]}``; Pax8 sends the ``authorization`` value back in each delivery's header."""
        if not isinstance(body, dict) or not isinstance(body.get("url"), str) or not body["url"].startswith("http"):
            raise bad_request("url is required (http or https).")
        hook = {
            "id": str(uuid.uuid4()),
            "displayName": str(body.get("displayName") or "Webhook"),
            "url": body["url"],
            "authorization": str(body.get("authorization") or ""),
            "active": True,
            "webhookTopics": body.get("webhookTopics") or [{"topic": WEBHOOK_TOPIC}],
            "createdDate": iso(self.clock()),
        }
        with self._lock:
            self.webhooks[hook["id"]] = hook
        return hook

    def announce(self, row: Json, action: str) -> None:
        """A delivery to every active webhook: ``{"id", "topic", "action", "occurredAt", "data"}`` [U] with the
        ``Authorization`` header the webhook was registered with."""
        with self._lock:
            hooks = [h for h in self.webhooks.values() if h["active"]]
        for hook in hooks:
            payload = {
                "id": str(uuid.uuid4()),
                "topic": WEBHOOK_TOPIC,
                "action": action,
                "occurredAt": iso(self.clock()),
                "data": {
                    "subscriptionId": row["id"],
                    "companyId": row["companyId"],
                    "productId": row["productId"],
                    "quantity": row["quantity"],
                    "status": row["status"],
                },
            }
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", "Authorization": hook["authorization"]}
            entry: Json = {"webhook": hook["id"], "payload": payload}
            self._in_background(self._deliver, entry, hook["url"], body, headers)
