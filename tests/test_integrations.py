"""Admin -> Integrations without a vendor: cards, the form with masked secrets, validation in words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import HostClient, TenantFixture, csrf_token, login
from vectis.ingest.integrations import MASK
from vectis.models import AuditEntry, Connection
from vectis.platform import db


@pytest.fixture
def northwind_admin(app: Flask, northwind: TenantFixture) -> Iterator[HostClient]:
    client = login(app, northwind)
    yield client
    with app.app_context(), db.system_session() as s:
        for connection in s.scalars(select(Connection).where(Connection.tenant_id == northwind.id)):
            s.delete(connection)


def test_it_shows_a_card_per_vendor_configured_or_not(
    app: Flask, northwind: TenantFixture, northwind_admin: HostClient
) -> None:
    page = northwind_admin.get("/admin/integrations/").get_data(as_text=True)
    assert 'data-vendor="veeam"' in page and "Not configured" in page


def test_it_saves_settings_masks_secrets_and_keeps_them_when_the_mask_comes_back(
    app: Flask, northwind: TenantFixture, northwind_admin: HostClient
) -> None:
    client = northwind_admin
    form = {
        "base_url": "https://vspc.northwind.example:1280",
        "username": "vectis-svc",
        "password": "hunter2-secret",
        "api_key": "",
        "sync_interval_minutes": "30",
        "rate_limit_per_second": "",
    }
    token = csrf_token(client, "/admin/integrations/veeam")
    response = client.post("/admin/integrations/veeam", data={**form, "csrf_token": token})
    assert response.status_code == 302
    page = client.get("/admin/integrations/veeam").get_data(as_text=True)
    assert "hunter2-secret" not in page and MASK in page and "Veeam settings saved" in page
    client.post(
        "/admin/integrations/veeam", data={**form, "password": MASK, "sync_interval_minutes": "20", "csrf_token": token}
    )
    with app.app_context(), db.tenant_session(northwind.id) as s:
        connection = s.scalar(select(Connection).where(Connection.vendor == "veeam"))
        assert connection is not None and connection.read_config()["password"] == "hunter2-secret"
        assert connection.sync_interval_minutes == 20
        payloads = [
            str(p) for p in s.scalars(select(AuditEntry.payload).where(AuditEntry.action == "integration.update"))
        ]
    assert payloads and all("hunter2" not in p for p in payloads)


def test_it_says_what_is_missing(app: Flask, northwind_admin: HostClient) -> None:
    client = northwind_admin
    token = csrf_token(client, "/admin/integrations/veeam")
    client.post(
        "/admin/integrations/veeam",
        data={"base_url": "https://vspc.example.com:1280", "username": "u", "csrf_token": token},
    )
    page = client.get("/admin/integrations/veeam").get_data(as_text=True)
    assert "Enter the username and password of the VSPC user, or a REST API key." in page


def test_it_answers_404_for_an_unknown_vendor(northwind_admin: HostClient) -> None:
    assert northwind_admin.get("/admin/integrations/nope").status_code == 404


def test_a_stored_secret_is_never_sent_to_a_new_address(
    app: Flask, northwind: TenantFixture, northwind_admin: HostClient
) -> None:
    client = northwind_admin
    token = csrf_token(client, "/admin/integrations/veeam")
    form = {
        "base_url": "https://vspc.northwind.example:1280",
        "username": "vectis-svc",
        "password": "hunter2-secret",
        "api_key": "",
        "csrf_token": token,
    }
    client.post("/admin/integrations/veeam", data=form)
    moved = {**form, "base_url": "https://attacker.example:1280", "password": MASK}
    tested = client.post("/admin/integrations/veeam/test", data=moved, headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "enter the password again" in tested
    client.post("/admin/integrations/veeam", data=moved)
    with app.app_context(), db.tenant_session(northwind.id) as s:
        connection = s.scalar(select(Connection).where(Connection.vendor == "veeam"))
        assert connection is not None and connection.read_config()["base_url"] == "https://vspc.northwind.example:1280"
