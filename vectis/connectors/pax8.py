"""Pax8, the distributor an MSP buys its customers' licences through (Microsoft 365 above all): its companies matched
to customers, every subscription with its seats, cost, term and commitment on the hub's Licensing tab, and the two
writes a technician makes from there (a seat change, a quote).

Vendor facts: ``../shared/vendor-apis.md`` section 5. What this module reads, and how it acts on what Pax8 does:

- Partner API credentials (Pax8: Settings → Integrations → Credentials): a client id and secret, exchanged at
  ``POST https://api.pax8.com/v1/token`` (JSON, audience ``https://api.pax8.com``) for a bearer token that lives a
  day; it is cached (sealed, in Redis) until shortly before it expires, so one sign-in a day per connection. The
  host is derived, never typed: ``VECTIS_VENDOR_URLS`` (``pax8=http://127.0.0.1:18089``) sends it to the simulator.
- Lists answer ``{"content", "page": {"size", "totalElements", "totalPages", "number"}}`` and page by ``page``
  (0-based) and ``size`` (:data:`PAGE_SIZE`, the 200 commonly cited as the maximum [U]).
- Companies (``GET /v1/companies``) -> customers. Products (``GET /v1/products``) name each subscription: read once
  a sync. Subscriptions (``GET /v1/subscriptions``) -> ``license_subscriptions``: quantity, ``partnerCost`` (what
  the MSP pays a seat: the unit cost), ``price`` (the suggested retail), ``billingTerm``, the commitment's end
  (``commitment.endDate`` [U: the field]) and ``status``. Both are snapshots: a subscription Pax8 no longer lists is
  marked removed after a complete read.
- Seats: ``PUT /v1/subscriptions/{id}`` ``{"quantity"}`` replaces a value, so it is safe to send again. A reduction
  of a committed term (Annual, 2-Year, 3-Year: Microsoft's NCE) is refused by Pax8 outside the first
  :data:`REDUCTION_WINDOW_DAYS` days of the term; Vectis refuses it first, from what it stored, and turns Pax8's own
  refusal (422) into the same words (:class:`ReductionRefused` with the renewal date).
- Quotes: ``POST /v1/quotes`` [U: Pax8's quotes API is not in the stored docs; the shape is the simulator's, kept
  minimal: company, line items (product, quantity), notes, and a ``reference``]. A quote is not safe to send twice:
  it carries Vectis's reference, and ``GET /v1/quotes?companyId=&reference=`` (:meth:`find_quote`) is asked before
  each send (the same reference submitted again finds the first quote) and after an outcome nobody can know.
- Webhooks: ``POST /api/v2/webhooks`` registers Vectis's URL for the subscription topic [U: the body's field names]
  with an ``authorization`` value Vectis derives for this connection; Pax8 sends it back in each delivery's
  ``Authorization`` header (no signature), checked in constant time. A delivery names a subscription: the job reads
  it again through :meth:`get_subscription` and stores it, as a sync does.
- Limits: Pax8 publishes none [U]; :attr:`default_rate_limit` keeps to two calls a second and a 429's
  ``Retry-After`` is honoured by the shared client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from vectis.connectors.base import (
    ConfigField,
    Connector,
    CustomerRecord,
    LicenceSubscriptionRecord,
    Page,
    Record,
    Stream,
)
from vectis.connectors.capabilities import (
    Callback,
    CallbackRefused,
    ChangesLicences,
    NewQuote,
    ReductionRefused,
    RegistersCallbacks,
    Request,
    VerifiesCallbacks,
)
from vectis.connectors.token_cache import cached_token
from vectis.connectors.values import json_or_none, object_of, text_of
from vectis.platform import public_ids
from vectis.platform.dates import calendar_day, parse_instant
from vectis.platform.http import ConnectorError, UncertainOutcome

API_URL = "https://api.pax8.com"
AUDIENCE = "https://api.pax8.com"
TOKEN_PATH = "/v1/token"  # noqa: S105 - a path, not a password
WEBHOOKS_PATH = "/api/v2/webhooks"
PAGE_SIZE = 200
MAX_PAGES = 10_000  # a list that never ends is refused, not read forever
MAX_QUANTITY = 2**31 - 1  # what license_subscriptions.quantity (Integer) holds
MONEY_LIMIT = Decimal(10) ** 10  # what Numeric(14, 4) holds
REDUCTION_WINDOW_DAYS = 7  # Microsoft's NCE: seats may go down within 7 days of a term's start
WEBHOOK_TOPIC = "SUBSCRIPTION"
SECRET_SHOWN = "(a secret Vectis derives for this connection; never shown)"  # noqa: S105 - a placeholder

MESSAGES = {
    "credentials": "401 Unauthorized — Pax8 did not accept this client ID and secret. Copy them again from Pax8 "
    "(Settings → Integrations → Credentials); a secret is shown once, when it is made, so make a new one if it is lost.",
    403: "403 Forbidden — Pax8's credentials {client} may not {what}. Check in Pax8 (Settings → Integrations → "
    "Credentials) that they are partner API credentials with access to companies, products and subscriptions.",
    "unreachable": "Vectis couldn't reach Pax8 at {host}. Check that {host} is reachable from wherever Vectis runs "
    "(a proxy or firewall may block it).",
    "timeout": "Connection timed out — Pax8 at {host} did not answer in time. Try again; if it keeps happening, "
    "check that {host} is reachable from wherever Vectis runs.",
    "not_json": "Pax8 sent {path} in a shape Vectis cannot read (not JSON). The next sync reads it again.",
}

# Pax8's words -> Vectis's.
TERMS = {
    "monthly": "monthly", "annual": "annual", "2-year": "2-year", "2 year": "2-year", "3-year": "3-year",
    "3 year": "3-year", "one-time": "one-time", "one time": "one-time", "trial": "trial",
}  # fmt: skip
COMMITTED_TERMS = frozenset({"annual", "2-year", "3-year"})
STATUSES = {
    "active": "active", "activated": "active", "cancelled": "cancelled", "converted": "cancelled",
    "pendingmanual": "pending", "pendingautomated": "pending", "pendingcancel": "pending",
    "waitingfordetails": "pending", "pendingactivation": "pending", "trial": "trial",
}  # fmt: skip
ACTIONS = {"CREATED": "added", "UPDATED": "updated", "CANCELLED": "deleted"}


def money_of(value: Any) -> Decimal | None:
    """An amount a ``Numeric(14, 4)`` column holds, else None (unknown): NaN, Infinity or 1e20 would fail the
    page's INSERT, and so every sync."""
    if value is None or isinstance(value, bool):
        return None
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return found if found.is_finite() and abs(found) < MONEY_LIMIT else None


def quantity_of(value: Any) -> int | None:
    """Seats as a whole number the ``Integer`` column holds (25 or 25.0), else None: ``json.loads`` takes Infinity
    and NaN, and ``int()`` of them raises, which would fail the whole stream instead of one row."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if 0 <= value <= MAX_QUANTITY else None


def day_of(value: Any) -> date | None:
    text = text_of(value)
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


# --- pure parsers: vendor JSON -> records ------------------------------------------------------------


def parse_company(item: dict[str, Any]) -> CustomerRecord | None:
    external_id, name = text_of(item.get("id")), text_of(item.get("name"))
    if not external_id or not name:
        return None
    address = object_of(item.get("address"))
    where = ", ".join(x for x in (text_of(address.get("city")), text_of(address.get("country"))) if x)
    return CustomerRecord(
        external_id=external_id, name=name, contact_phone=text_of(item.get("phone")), location=where or None
    )


def parse_subscription(
    item: dict[str, Any], products: Mapping[str, dict[str, Any]] | None = None
) -> LicenceSubscriptionRecord | None:
    """A subscription, named by its product from ``products`` (id -> Pax8's product), else by its product id."""
    external_id = text_of(item.get("id"))
    quantity = quantity_of(item.get("quantity"))
    if not external_id or quantity is None:
        return None
    product_id = text_of(item.get("productId"))
    product = object_of((products or {}).get(product_id or ""))
    vendor_term = text_of(item.get("billingTerm")) or "Unknown"
    vendor_status = text_of(item.get("status")) or "Unknown"
    commitment = object_of(item.get("commitment"))
    kept: dict[str, Any] = {
        k: item[k] for k in ("price", "partnerCost", "billingStart", "endDate", "commitment") if k in item
    }
    if product:
        kept["vendorName"] = product.get("vendorName")
    return LicenceSubscriptionRecord(
        external_id=external_id,
        customer_external_id=text_of(item.get("companyId")),
        product_name=text_of(product.get("name")) or f"Pax8 product {product_id or 'unknown'}",
        product_external_id=product_id,
        sku=text_of(product.get("sku")) or text_of(product.get("vendorSku")),
        quantity=quantity,
        unit_cost=money_of(item.get("partnerCost")),
        unit_price=money_of(item.get("price")),
        # Not named: unknown, never assumed USD (a UK, EU or AU partner's prices are not dollars).
        currency=(text_of(item.get("currencyCode")) or "").upper()[:3] or None,
        billing_term=TERMS.get(vendor_term.lower(), "other"),
        vendor_term=vendor_term,
        status=STATUSES.get(vendor_status.lower(), "other"),
        vendor_status=vendor_status,
        commitment_ends_on=day_of(commitment.get("endDate")),
        starts_on=day_of(item.get("startDate")),
        updated_at=parse_instant(item.get("updatedDate")),
        details=kept,
    )


def refusal_date(body: Any) -> date | None:
    """The commitment's end a 422 names: in its details, else the first ISO date in its message."""
    said = object_of(body)
    found = day_of(object_of(said.get("details")).get("commitmentEndDate"))
    if found is not None:
        return found
    message = str(said.get("message") or "")
    for word in message.replace(";", " ").split():
        found = day_of(word.strip(".,"))
        if found is not None:
            return found
    return None


def refusal_term(body: Any) -> str:
    """The term a 422 names ("The Annual term ends on …"), in Vectis's words; "committed" when it names none."""
    found = re.search(r"\bThe ([\w-]+) term\b", str(object_of(body).get("message") or ""))
    term = TERMS.get(found[1].lower()) if found else None
    return term if term in COMMITTED_TERMS else "committed"


def reduction_words(renews_on: date | None, term: str = "committed") -> str:
    """Why seats cannot go down now, in the words the preflight (``vectis/licensing/queries.py``) gives too."""
    when = f"on {calendar_day(renews_on)}" if renews_on else "at its renewal"
    return (
        f"Seats on this {term} (NCE) subscription can only go down at renewal, {when}. "
        "Schedule the change for renewal instead."
    )


class Pax8Connector(Connector, ChangesLicences, VerifiesCallbacks, RegistersCallbacks):
    key = "pax8"
    label = "Pax8"
    noun = "Pax8"
    category = "licensing"
    description = (
        "Pax8: companies matched to customers, every licence subscription (seats, cost, term, renewal) on the hub's "
        "Licensing tab, seat changes and quotes from there, and subscription webhooks."
    )
    base_url_field = "client_id"  # new credentials are a new partner account: the secret must be typed again
    default_rate_limit = 2.0
    reduction_window_days: ClassVar[int | None] = REDUCTION_WINDOW_DAYS
    callback_when = "a subscription is created, changed or cancelled"
    callback_check = (
        "each call carries an Authorization value only Vectis and Pax8 know, checked before Vectis reads the "
        "subscription again"
    )
    callback_off = "delete the webhook in Pax8 (Settings → Webhooks; its id there is {id})"
    fields = (
        ConfigField("client_id", "Client ID", help="Pax8 → Settings → Integrations → Credentials."),
        ConfigField(
            "client_secret", "Client secret", kind="password", secret=True, help="Shown once, when it is made."
        ),
    )

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        return template or API_URL

    @property
    def _client(self) -> str:
        return str(self.config.get("client_id") or "").strip()

    @property
    def _host(self) -> str:
        return urlsplit(self.ctx.http.base_url).netloc

    # --- authentication ---------------------------------------------------------------------------

    @property
    def _token_key(self) -> str:
        # The credentials and where they go are part of the key: a token is only sent back where it came from.
        identity = "\0".join((self.ctx.http.base_url, self._client, str(self.config.get("client_secret"))))
        fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:24]
        return f"vectis:pax8-token:{self.ctx.tenant_id}:{self.ctx.connection_id or 'unsaved'}:{fingerprint}"

    def _reach(self, exc: ConnectorError, *, reading: bool) -> ConnectorError:
        """A connection failure in words. A write that may have landed stays uncertain (the verb reads Pax8 back)."""
        if isinstance(exc, UncertainOutcome) and not reading:
            return exc
        if exc.message.startswith("Connection timed out") or isinstance(exc, UncertainOutcome):
            return ConnectorError(MESSAGES["timeout"].format(host=self._host), permanent=False)
        if exc.message.startswith("Connection") or "could not be found" in exc.message:
            return ConnectorError(MESSAGES["unreachable"].format(host=self._host), permanent=exc.permanent)
        return exc

    def _grant(self) -> dict[str, Any]:
        body = {
            "client_id": self._client,
            "client_secret": self.config["client_secret"],
            "audience": AUDIENCE,
            "grant_type": "client_credentials",
        }
        try:
            # A token grant changes nothing: safe to send again.
            response = self.ctx.http.request(
                "POST", TOKEN_PATH, data=json.dumps(body), headers={"Content-Type": "application/json"}, retry=True
            )
        except ConnectorError as exc:
            raise self._reach(exc, reading=True) from None
        said = object_of(json_or_none(response))
        if response.status_code == 401:
            raise ConnectorError(MESSAGES["credentials"], permanent=True, status=401)
        if response.status_code != 200:
            detail = str(said.get("error_description") or said.get("error") or f"HTTP {response.status_code}")
            raise ConnectorError(
                f"Pax8 refused the sign-in: {detail[:200]}",
                permanent=400 <= response.status_code < 500,
                status=response.status_code,
            )
        if not said.get("access_token"):
            raise ConnectorError("Pax8's sign-in answer had no access token.", permanent=False)
        return said

    def _access_token(self, *, force: bool = False) -> str:
        return cached_token(self.ctx, self._token_key, self._grant, force=force, default_lifetime=86_400)

    def forget_token(self) -> None:
        self.ctx.redis.delete(self._token_key)

    # --- requests ---------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        allow: frozenset[int] = frozenset(),
        retry: bool = True,
    ) -> tuple[int, Any]:
        """``method path`` with a token, asked for again once if Pax8 no longer takes it; Pax8's refusals in words.
        ``allow``: 4xx statuses the caller reads itself (a 404, the NCE refusal's 422). Its status and JSON."""
        reading = method == "GET"
        for attempt in (1, 2):
            token = self._access_token(force=attempt == 2)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = self.ctx.http.request(
                    method,
                    path,
                    params=params,
                    data=json.dumps(body) if body is not None else None,
                    headers=headers,
                    retry=retry,
                )
            except ConnectorError as exc:
                raise self._reach(exc, reading=reading) from None
            status = response.status_code
            if status == 401 and attempt == 1:
                continue  # the token expired or was revoked: ask for a new one, once
            answer = json_or_none(response)
            if status in allow:
                return status, answer
            if status == 401:
                raise ConnectorError(MESSAGES["credentials"], permanent=True, status=401)
            if status == 403:
                what = "read companies and subscriptions" if reading else "change subscriptions or create quotes"
                raise ConnectorError(MESSAGES[403].format(client=self._client, what=what), permanent=True, status=403)
            if status >= 400:
                detail = str(object_of(answer).get("message") or f"HTTP {status}")[:300]
                raise ConnectorError(
                    f"Pax8 refused {method} {path.split('?', maxsplit=1)[0]}: {detail}",
                    permanent=status in (400, 404, 405, 409, 422),
                    status=status,
                )
            if answer is None:
                raise ConnectorError(MESSAGES["not_json"].format(path=path), permanent=False, status=status)
            return status, answer

        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list: ``page`` from 0 until ``page.totalPages``. Without a usable count (missing, 3.0),
        pages are read while they come full: stopping after the first would look like a complete read, and
        every subscription on a later page would be marked removed."""
        number = 0
        while True:
            _, body = self._call("GET", path, params={**(params or {}), "page": number, "size": PAGE_SIZE})
            content, page = object_of(body).get("content"), object_of(object_of(body).get("page"))
            if not isinstance(content, list):
                raise ConnectorError(MESSAGES["not_json"].format(path=path), permanent=False)
            yield [item for item in content if isinstance(item, dict)]
            total = page.get("totalPages")
            if isinstance(total, int) and not isinstance(total, bool):
                last = number + 1 >= total
            else:
                last = len(content) < PAGE_SIZE
            if not content or last:
                return
            number += 1
            if number >= MAX_PAGES:
                raise ConnectorError(f"Pax8 kept sending pages of {path} past {MAX_PAGES:,}.", permanent=False)

    def test_connection(self) -> str:
        _, body = self._call("GET", "/v1/companies", params={"page": 0, "size": 1})
        companies = object_of(object_of(body).get("page")).get("totalElements")
        _, body = self._call("GET", "/v1/subscriptions", params={"page": 0, "size": 1})
        subscriptions = object_of(object_of(body).get("page")).get("totalElements")
        return f"Connected to Pax8: {companies or 0} companies, {subscriptions or 0} subscriptions."

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("companies", "/v1/companies", "id", parse_company, page_size=PAGE_SIZE),
            Stream(
                "subscriptions",
                "/v1/subscriptions",
                "id",
                parse_subscription,
                page_size=PAGE_SIZE,
                lists=LicenceSubscriptionRecord,
            ),
        ]

    def _products(self) -> dict[str, dict[str, Any]]:
        return {str(p["id"]): p for items in self._pages("/v1/products") for p in items if p.get("id")}

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if stream.name == "companies":
            for items in self._pages(stream.path):
                yield Page([r for r in map(parse_company, items) if r is not None], None)
            return
        products = self._products()
        for items in self._pages(stream.path):
            records: list[Record] = [r for r in (parse_subscription(i, products) for i in items) if r is not None]
            yield Page(records, None)

    # --- seats and quotes -------------------------------------------------------------------------

    def seats_request(self, subscription: str, quantity: int) -> Request:
        # A replacement: the same quantity twice leaves one change, so it may be sent again after a timeout.
        return Request("PUT", f"/v1/subscriptions/{subscription}", {"quantity": quantity}, what="the seat change",
                       retry=True)  # fmt: skip

    def set_seats(self, subscription: str, quantity: int) -> LicenceSubscriptionRecord | None:
        request = self.seats_request(subscription, quantity)
        status, answer = self._call(request.method, request.path, body=request.body, allow=frozenset({422}))
        if status == 422:
            renews = refusal_date(answer)
            raise ReductionRefused(reduction_words(renews, refusal_term(answer)), renews_on=renews)
        return parse_subscription(object_of(answer), self._product_of(object_of(answer)))

    def _product_of(self, item: dict[str, Any]) -> dict[str, dict[str, Any]]:
        product = text_of(item.get("productId"))
        if not product:
            return {}
        status, body = self._call("GET", f"/v1/products/{product}", allow=frozenset({404}))
        return {product: object_of(body)} if status == 200 else {}

    def get_subscription(self, subscription: str) -> LicenceSubscriptionRecord | None:
        status, body = self._call("GET", f"/v1/subscriptions/{subscription}", allow=frozenset({404}))
        if status == 404 or not isinstance(body, dict):
            return None
        return parse_subscription(body, self._product_of(body))

    def quote_request(self, quote: NewQuote) -> Request:
        body: dict[str, Any] = {
            "companyId": quote.company,
            "reference": quote.reference,
            "lineItems": [{"productId": product, "quantity": quantity} for product, quantity in quote.lines],
        }
        if quote.notes:
            body["notes"] = quote.notes
        # Not safe to send twice: a second POST is a second quote. The reference finds it after a timeout.
        return Request("POST", "/v1/quotes", body, what="the quote", retry=False)

    def create_quote(self, quote: NewQuote) -> str:
        request = self.quote_request(quote)
        _, answer = self._call(request.method, request.path, body=request.body, retry=request.retry)
        found = text_of(object_of(answer).get("id"))
        if not found:
            raise ConnectorError("Pax8 answered the quote without its id.", permanent=False)
        return found

    def quote_lookup_request(self, quote: NewQuote) -> Request:
        # The reference travels in the query: Pax8 lists the company's quotes carrying it (none, or the one sent).
        query = urlencode({"companyId": quote.company, "reference": quote.reference})
        return Request("GET", f"/v1/quotes?{query}", what="the look-up of the quote by its reference", retry=True)

    def find_quote(self, quote: NewQuote) -> str | None:
        path, _, query = self.quote_lookup_request(quote).path.partition("?")
        for items in self._pages(path, dict(parse_qsl(query))):
            for item in items:
                if item.get("reference") == quote.reference:
                    return text_of(item.get("id"))
        return None

    # --- webhooks ---------------------------------------------------------------------------------

    def _callback_secret(self) -> str:
        """What Pax8 sends back in ``Authorization``. Pax8 signs nothing, so Vectis hands it a secret: derived from
        this installation's key for this connection, so it is never stored, never shown, and every web process can
        check it."""
        return public_ids.codec().secret("pax8-webhook", self.ctx.connection_id or 0)

    def callback_request(self, url: str) -> Request:
        body = {
            "displayName": "Vectis",
            "url": url,
            "authorization": SECRET_SHOWN,
            "webhookTopics": [{"topic": WEBHOOK_TOPIC}],
        }
        return Request("POST", WEBHOOKS_PATH, body, what="the webhook registration", retry=False)

    def register_callback(self, url: str) -> str | None:
        request = self.callback_request(url)
        body = {**request.body, "authorization": self._callback_secret()}
        _, answer = self._call(request.method, request.path, body=body, retry=False)
        return text_of(object_of(answer).get("id"))

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> Callback:
        sent = headers.get("authorization") or headers.get("Authorization") or ""
        if not sent:
            raise CallbackRefused("It has no Authorization header.")
        if not hmac.compare_digest(sent.encode(), self._callback_secret().encode()):
            raise CallbackRefused("Its Authorization header is not the secret Vectis gave Pax8.")
        try:
            delivery = json.loads(body)
        except ValueError:
            raise CallbackRefused("The body is not JSON.") from None
        data = object_of(object_of(delivery).get("data"))
        subscription = text_of(data.get("subscriptionId"))
        if not subscription or not text_of(object_of(delivery).get("id")):
            raise CallbackRefused("The body is not a Pax8 subscription delivery.")
        return Callback(
            message_id=f"delivery:{delivery['id']}",
            kind="subscription",
            external_id=subscription,
            action=ACTIONS.get(str(delivery.get("action") or "").upper(), "updated"),
        )

    def fetch_callback_key(self, body: bytes) -> None:
        """No key to fetch: the Authorization value is checked against what Vectis derives itself."""
