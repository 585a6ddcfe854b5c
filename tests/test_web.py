"""The web layer: sign-in, roles, CSRF, the partial-or-page decision, health, error pages."""

from __future__ import annotations

from flask import Flask

from tests.conftest import TenantFixture, client_for, csrf_token, login
from vectis import create_app
from vectis.identity.auth import SIGN_IN_FAILED
from vectis.platform.config import Settings


def test_it_sends_anonymous_users_to_sign_in(app: Flask, acme: TenantFixture) -> None:
    response = client_for(app, acme).get("/customers")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin?next=")


def test_it_tells_htmx_requests_to_redirect_the_whole_page_to_sign_in(app: Flask, acme: TenantFixture) -> None:
    response = client_for(app, acme).get("/customers", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/signin")


def test_it_signs_in_and_shows_the_shell(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    page = client.get("/customers").get_data(as_text=True)
    for label in ("Customers", "Timeline", "Alerts", "Security", "Rules", "Queries", "Admin"):
        assert f"<span>{label}</span>" in page
    # Issue 16: no placeholder sections. Security is a real page now (issue 21): its empty state says how to fill it.
    assert '<a href="/security"' in page
    assert "<h1>Customers</h1>" in page and 'name="q"' in page  # the list (its empty state: test_customers)
    assert "Acme IT Services" in page


def test_it_gives_wrong_password_and_unknown_email_the_same_answer(app: Flask, acme: TenantFixture) -> None:
    client = client_for(app, acme)
    answers = []
    for email, password in (("admin@acme.test", "wrong"), ("nobody@acme.test", "wrong")):
        response = client.post("/signin", data={"email": email, "password": password, "csrf_token": csrf_token(client)})
        answers.append((response.status_code, SIGN_IN_FAILED in response.get_data(as_text=True)))
    assert answers == [(401, True), (401, True)]


def test_it_does_not_let_one_tenants_user_sign_in_on_another_tenants_host(app: Flask, northwind: TenantFixture) -> None:
    client = client_for(app, northwind)
    response = client.post(
        "/signin", data={"email": "admin@acme.test", "password": "vectis-demo", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 401


def test_it_refuses_a_form_without_its_csrf_token_with_words(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    response = client.post("/signout")
    assert response.status_code == 400
    assert "This form has expired. Please reload the page and try again." in response.get_data(as_text=True)
    assert response.headers["X-Vectis-Error"].startswith("This form has expired")


def test_it_accepts_the_csrf_token_from_the_htmx_header(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    token = csrf_token(client, "/customers")
    response = client.post("/signout", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 302


def test_it_forbids_admin_pages_to_other_roles(app: Flask, acme: TenantFixture) -> None:
    for email in ("tech@acme.test", "viewer@acme.test"):
        client = login(app, acme, email)
        assert client.get("/admin/users").status_code == 403
        page = client.get("/customers").get_data(as_text=True)
        assert "<span>Admin</span>" not in page


def test_it_returns_the_partial_to_htmx_and_the_page_otherwise(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    full = client.get("/admin/users")
    partial = client.get("/admin/users", headers={"HX-Request": "true"})
    boosted = client.get("/admin/users", headers={"HX-Request": "true", "HX-Boosted": "true"})
    restore = client.get("/admin/users", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    for response in (full, partial, boosted, restore):
        assert response.status_code == 200
        assert "HX-Request" in response.headers["Vary"]
    assert "<html" in full.get_data(as_text=True)
    assert "<html" not in partial.get_data(as_text=True)
    assert 'id="users-table"' in partial.get_data(as_text=True)
    assert "<html" in boosted.get_data(as_text=True)
    assert "<html" in restore.get_data(as_text=True)


def test_it_reports_health_on_any_host(app: Flask) -> None:
    response = client_for(app, "127.0.0.1:5000").get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


def test_it_reports_unhealthy_when_redis_is_unreachable(settings: Settings) -> None:
    broken = create_app({"redis_url": "redis://127.0.0.1:1/0"}, settings=settings)
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"].startswith("unreachable")
    broken.extensions["vectis.platform.db"].dispose()


def test_it_shows_errors_as_pages_not_stack_traces(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    response = client.get("/admin/users/999999999")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "There is nothing here" in body and "Traceback" not in body


def test_a_body_larger_than_any_form_is_refused_before_csrf_reads_it(app: Flask) -> None:
    client = client_for(app, "acme.localhost")
    answer = client.post("/signin", data=b"x" * (13 * 1024 * 1024), content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 413 and "too large" in answer.get_data(as_text=True)
