"""Microsoft Entra ID as the Microsoft connectors (Microsoft 365, Defender) use it: one multi-tenant app registration
signs in to each customer tenant with client credentials, the tenant list a technician types, each tenant's token
cache key, and Entra's refusals in a technician's words.

Vendor facts: ``../shared/vendor-apis.md`` section 8. The token is asked for at
``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials`` and the
API's ``/.default`` scope. A refusal is ``{"error", "error_description": "AADSTS<code>: …", "error_codes"}``; the
codes read here: 7000215 (a wrong secret) and 7000222 (an expired one) refuse the app everywhere, so no tenant can be
read; 700016 (the app is not in that tenant: nobody consented) and 90002/900023 (no such tenant) are the tenant's own.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from vectis.connectors.base import ConnectorContext
from vectis.connectors.values import object_of
from vectis.platform.http import ConnectorError, HttpClient

LOGIN_HOST = "login.microsoftonline.com"
TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"  # noqa: S105 - a path, not a password
# A GUID, or a verified domain of the tenant (Entra takes either in the token URL).
TENANT = re.compile(r"^(?:[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}|[a-z0-9-]+(?:\.[a-z0-9-]+)+)$")
MAX_TENANTS = 2_000
TENANTS_HELP = (
    "One customer tenant a line: its Directory (tenant) ID (Entra admin center → Overview) or its .onmicrosoft.com "
    "domain."
)
TENANTS_PLACEHOLDER = "72f988bf-86f1-41af-91ab-2d7cd011db47\ncontoso.onmicrosoft.com"

MESSAGES = {
    "secret": "401 Unauthorized — Microsoft Entra ID did not accept this client secret for the app {client}. Copy "
    "the secret's Value again (not its Secret ID; it is shown once, when it is made): Entra admin center → App "
    "registrations → the app → Certificates & secrets → New client secret.",
    "expired": "The client secret of the app {client} has expired. Make a new one in the Entra admin center (App "
    "registrations → the app → Certificates & secrets → New client secret) and paste its Value here.",
    "consent": "the app is not in this tenant: an administrator of the customer's tenant has not consented to it "
    "(Enterprise applications must list it; grant admin consent to its {api} permissions)",
    "tenant": "Microsoft Entra ID knows no such tenant: use the customer's Directory (tenant) ID or its "
    ".onmicrosoft.com domain",
}


class AppRefused(ConnectorError):
    """The app's own credentials refused (its secret wrong or expired): no tenant can be read, so a sync stops."""


class SignInRefused(Exception):
    """One tenant's sign-in refused for a reason of that tenant's (not consented, unknown): the other tenants of the
    connection are still read. ``reason`` is in words, without a final full stop."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def tenant_of(text: str) -> str:
    """A tenant as typed (or pasted in braces) -> Entra's spelling: lower case, trimmed."""
    return text.strip().strip("{}").lower()


def named_tenants(text: str) -> dict[str, str | None]:
    """The tenant list as typed, each tenant once, in order, with the customer name a line may give after ``=``
    (``contoso.onmicrosoft.com = Contoso Ltd``): a tool that names no organisation (Defender) names the account so,
    and Customer matching links it by that name. Lines without a name may hold several tenants (commas, semicolons
    and spaces separate them)."""
    found: dict[str, str | None] = {}
    for line in (text or "").splitlines():
        tenant, equals, name = line.partition("=")
        parts = [tenant] if equals else re.split(r"[\s,;]+", line)
        for part in parts:
            if part.strip().strip("{}"):
                key = tenant_of(part)
                found[key] = (" ".join(name.split())[:300] or None) if equals else found.get(key)
    return found


def tenants_of(text: str) -> list[str]:
    """The tenants of the list, each once, in order."""
    return list(named_tenants(text))


def clean_tenants(text: str, label: str = "Customer tenants") -> str:
    """The tenant list as stored: each tenant once, in Entra's spelling, one a line (with its name where one was
    given); a clear refusal otherwise."""
    named = named_tenants(text)
    tenants = list(named)
    wrong = [t for t in tenants if not TENANT.match(t)]
    if wrong:
        raise ConnectorError(
            f"“{wrong[0]}” is not a tenant ID: each line is a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47 "
            "(Entra admin center → Overview), or the tenant's .onmicrosoft.com domain.",
            permanent=True,
        )
    if not tenants:
        raise ConnectorError(f"{label} is required: one tenant ID a line.", permanent=True)
    if len(tenants) > MAX_TENANTS:
        raise ConnectorError(f"At most {MAX_TENANTS:,} tenants a connection.", permanent=True)
    return "\n".join(f"{t} = {named[t]}" if named[t] else t for t in tenants)


def token_key(ctx: ConnectorContext, vendor: str, tenant: str, client: str, secret: str) -> str:
    """Where one tenant's token is cached. The credentials and where they go are part of the key: a token is only
    sent back where it came from, and another secret is another sign-in."""
    identity = "\0".join((ctx.http.base_url, tenant, client, secret))
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:24]
    return f"vectis:{vendor}-token:{ctx.tenant_id}:{ctx.connection_id or 'unsaved'}:{fingerprint}"


def sign_in(login: HttpClient, tenant: str, *, client: str, secret: str, scope: str, api: str) -> dict[str, Any]:
    """A client-credentials token for ``tenant`` (Entra's answer: ``access_token``, ``expires_in``). Raises
    :class:`AppRefused` when the app itself is refused (its secret wrong or expired: no tenant can be read),
    :class:`SignInRefused` for a refusal of this tenant's. A failure to reach Entra (``ConnectorError`` from
    ``login``) is the caller's to put in its own words. ``api`` names the API in the consent advice."""
    form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret, "scope": scope}
    # A token grant changes nothing: safe to send again.
    response = login.request("POST", TOKEN_PATH.format(tenant=tenant), data=form, retry=True)
    try:
        said = object_of(json.loads(response.text))
    except ValueError:
        said = {}
    raw_codes = said.get("error_codes")
    codes: list[Any] = raw_codes if isinstance(raw_codes, list) else []
    if response.status_code != 200:
        if 7000222 in codes:
            raise AppRefused(MESSAGES["expired"].format(client=client), permanent=True, status=401)
        if 7000215 in codes or said.get("error") == "invalid_client":
            raise AppRefused(MESSAGES["secret"].format(client=client), permanent=True, status=401)
        if 700016 in codes or said.get("error") == "unauthorized_client":
            raise SignInRefused(MESSAGES["consent"].format(api=api))
        if 90002 in codes or 900023 in codes:
            raise SignInRefused(MESSAGES["tenant"])
        detail = str(said.get("error_description") or f"HTTP {response.status_code}").split("\r\n")[0]
        raise SignInRefused(f"Microsoft Entra ID refused the sign-in: {detail}")
    if not said.get("access_token"):
        raise SignInRefused("Microsoft Entra ID's sign-in answer had no access token")
    return said
