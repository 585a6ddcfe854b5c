"""``next`` never leaves the site (issue 15, finding 7): one check for sign-in and the alert forms."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import TenantFixture, an_alert, csrf_token, login, pid
from vectis.platform.redirects import safe_next

HOSTILE = [
    "/\t/evil.example",
    "/\n/evil.example",
    "//evil.example",
    "/\\evil.example",
    "https://evil.example/",
    "/\x7f/x",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_a_next_that_a_browser_would_read_as_another_host_is_refused(target: str) -> None:
    assert safe_next(target) is None


def test_a_plain_path_is_kept() -> None:
    assert safe_next("/customers?q=dental") == "/customers?q=dental"


@pytest.mark.parametrize("target", HOSTILE)
def test_an_alert_form_sends_a_hostile_next_back_to_alerts(app: Flask, acme: TenantFixture, target: str) -> None:
    client = login(app, acme)
    alert = pid(app, "alert", an_alert(app, acme.id))
    answer = client.post(
        f"/alerts/{alert}/acknowledge", data={"csrf_token": csrf_token(client, "/alerts"), "next": target}
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/alerts", answer.headers.get("Location")
