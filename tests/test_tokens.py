"""Personal access tokens: made once and shown once, stored as a hash, never wider than their owner's role, refused
when expired, revoked, malformed or presented at another workspace."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from tests.conftest import HostClient, TenantFixture, csrf_token, login, pid
from vectis.identity import tokens
from vectis.models import ApiToken, AuditEntry, Tenant, User
from vectis.platform import db


def _make(client: HostClient, **fields: Any) -> Any:
    data = {"label": "CI script", "scopes": ["read"], "days": "30", **fields}
    return client.post("/account/tokens", data={**data, "csrf_token": csrf_token(client, "/account/tokens")})


def _raw(html: str) -> str:
    found = re.search(r'data-testid="new-token">(vct_pat_[0-9A-Za-z]{49})<', html)
    assert found, "the new token is not on the page"
    return found.group(1)


def test_the_format_carries_a_checksum_that_turns_away_typos() -> None:
    raw = tokens.generate()
    assert re.fullmatch(r"vct_pat_[0-9A-Za-z]{49}", raw) and tokens.well_formed(raw)
    assert len({tokens.generate() for _ in range(200)}) == 200
    typo = raw[:20] + ("A" if raw[20] != "A" else "B") + raw[21:]
    assert not tokens.well_formed(typo)
    assert not tokens.well_formed(raw + "x") and not tokens.well_formed("vct_pat_" + "0" * 49)


def test_a_token_is_shown_once_stored_as_a_hash_and_listed_by_its_start(
    app: Flask, acme: TenantFixture, make_user: Any
) -> None:
    me = make_user(acme, "technician")
    client = login(app, acme, me.email)
    made = _make(client, label="Claude Desktop", scopes=["read", "write:tickets"])
    assert made.status_code == 200
    raw = _raw(made.get_data(as_text=True))
    listing = client.get("/account/tokens").get_data(as_text=True)
    assert "Claude Desktop" in listing and tokens.shown(raw) + "…" in listing and raw not in listing
    with app.app_context(), db.tenant_session(acme.id) as s:
        row = s.scalars(select(ApiToken).where(ApiToken.user_id == me.id)).one()
        assert row.token_hash == tokens.digest(raw) and raw not in repr(row.__dict__)
        assert row.scopes == ["read", "write:tickets"]
        assert abs(row.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "token.create").order_by(AuditEntry.seq.desc())
        ).first()
        assert entry is not None and raw not in str(entry.payload) and tokens.shown(raw) in str(entry.payload)


@pytest.mark.parametrize(
    ("role", "scopes", "days", "problem"),
    [
        ("read_only", ["read", "write:tickets"], "30", "cannot grant “write:tickets”"),
        ("technician", ["admin"], "30", "cannot grant “admin”"),
        ("technician", [], "30", "Choose at least one scope"),
        ("technician", ["read"], "400", "1 to 365 days"),
        ("technician", ["read"], "0", "1 to 365 days"),
    ],
)
def test_a_token_never_does_more_than_its_owner_nor_lives_longer_than_the_workspace_allows(
    app: Flask, acme: TenantFixture, make_user: Any, role: str, scopes: list[str], days: str, problem: str
) -> None:
    with app.app_context(), db.system_session() as s:  # the default limit, whatever another test's walk set
        s.execute(update(Tenant).where(Tenant.id == acme.id).values(max_token_days=365))
    me = make_user(acme, role)
    refused = _make(login(app, acme, me.email), scopes=scopes, days=days)
    assert refused.status_code == 422 and problem in refused.get_data(as_text=True)
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(ApiToken.id).where(ApiToken.user_id == me.id)) is None


def test_a_token_made_without_a_lifetime_lives_ninety_days_or_the_workspaces_longest_if_shorter(
    app: Flask, acme: TenantFixture, make_user: Any
) -> None:
    me = make_user(acme, "technician")
    client = login(app, acme, me.email)
    for longest, expected in ((365, tokens.DEFAULT_DAYS), (30, 30)):
        with app.app_context(), db.system_session() as s:
            s.execute(update(Tenant).where(Tenant.id == acme.id).values(max_token_days=longest))
        made = _make(client, days="", label=f"default {longest}")
        assert made.status_code == 200, made.get_data(as_text=True)
        with app.app_context(), db.tenant_session(acme.id) as s:
            expires = s.scalar(select(ApiToken.expires_at).where(ApiToken.label == f"default {longest}"))
        assert expires is not None and abs(expires - (datetime.now(UTC) + timedelta(days=expected))) < timedelta(
            minutes=5
        )
    with app.app_context(), db.system_session() as s:
        s.execute(update(Tenant).where(Tenant.id == acme.id).values(max_token_days=365))


def _authenticate(
    app: Flask, tenant_id: int, raw: str, now: datetime | None = None
) -> tokens.Principal | tokens.Refused:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        return tokens.authenticate(s, raw, now or datetime.now(UTC))


def test_a_token_works_until_it_expires_or_is_revoked_and_only_at_its_own_workspace(
    app: Flask, acme: TenantFixture, northwind: TenantFixture, make_user: Any
) -> None:
    me = make_user(acme, "technician")
    client = login(app, acme, me.email)
    raw = _raw(_make(client, scopes=["read", "write:alerts"], days="10").get_data(as_text=True))
    principal = _authenticate(app, acme.id, raw)
    assert isinstance(principal, tokens.Principal)
    assert (principal.user_id, principal.tenant_id, principal.scopes) == (
        me.id,
        acme.id,
        frozenset({"read", "write:alerts"}),
    )
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(ApiToken.last_used_at).where(ApiToken.token_hash == tokens.digest(raw))) is not None

    later = datetime.now(UTC) + timedelta(days=11)
    assert _authenticate(app, acme.id, raw, later) == tokens.Refused("expired")
    assert _authenticate(app, northwind.id, raw) == tokens.Refused("other_tenant", acme.id)
    assert _authenticate(app, acme.id, tokens.generate()) == tokens.Refused("unknown")
    assert _authenticate(app, acme.id, raw[:-1] + ("x" if raw[-1] != "x" else "y")) == tokens.Refused("malformed")

    # Demoted to read-only: the token keeps working, for reading only.
    with app.app_context(), db.system_session() as s:
        s.execute(update(User).where(User.id == me.id).values(role="read_only"))
    demoted = _authenticate(app, acme.id, raw)
    assert isinstance(demoted, tokens.Principal) and demoted.scopes == {"read"}

    with app.app_context(), db.tenant_session(acme.id) as s:
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.token_hash == tokens.digest(raw)))
    revoked = client.post(
        f"/account/tokens/{pid(app, 'token', token_id)}/revoke",
        data={"csrf_token": csrf_token(client, "/account/tokens")},
    )
    assert revoked.status_code == 302
    assert _authenticate(app, acme.id, raw) == tokens.Refused("revoked")
    assert "Revoked" in client.get("/account/tokens").get_data(as_text=True)


def test_admins_see_and_revoke_every_token_and_set_the_longest_life(
    app: Flask, acme: TenantFixture, make_user: Any
) -> None:
    owner, other = make_user(acme, "technician"), make_user(acme, "technician")
    raw = _raw(_make(login(app, acme, owner.email), label="Owner sync").get_data(as_text=True))
    with app.app_context(), db.tenant_session(acme.id) as s:
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.token_hash == tokens.digest(raw)))
    path = f"/account/tokens/{pid(app, 'token', token_id)}/revoke"

    other_client = login(app, acme, other.email)
    assert "Owner sync" not in other_client.get("/account/tokens").get_data(as_text=True)
    other_client.post(path, data={"csrf_token": csrf_token(other_client, "/account/tokens")})
    assert isinstance(_authenticate(app, acme.id, raw), tokens.Principal)  # not theirs to revoke

    admin = login(app, acme)
    assert "Owner sync" in admin.get("/account/tokens").get_data(as_text=True)
    admin.post(path, data={"csrf_token": csrf_token(admin, "/account/tokens")})
    assert _authenticate(app, acme.id, raw) == tokens.Refused("revoked")

    try:
        admin.post(
            "/account/tokens/policy", data={"max_days": "30", "csrf_token": csrf_token(admin, "/account/tokens")}
        )
        refused = _make(login(app, acme, owner.email), days="31")
        assert refused.status_code == 422 and "1 to 30 days" in refused.get_data(as_text=True)
        assert (
            other_client.post(
                "/account/tokens/policy",
                data={"max_days": "3650", "csrf_token": csrf_token(other_client, "/account/tokens")},
            ).status_code
            == 403
        )
    finally:
        with app.app_context(), db.system_session() as s:
            s.execute(update(Tenant).where(Tenant.id == acme.id).values(max_token_days=365))


def test_account_mcp_is_the_tokens_page(app: Flask, acme: TenantFixture) -> None:
    page = login(app, acme).get("/account/mcp")
    assert page.status_code == 200 and "Personal access tokens" in page.get_data(as_text=True)
