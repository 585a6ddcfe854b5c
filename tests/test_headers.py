"""Security headers on every answer (issue 15, finding 6); the browser tests fail on any CSP violation."""

from __future__ import annotations

from flask import Flask

from tests.conftest import TenantFixture, client_for, login
from vectis.platform.config import ROOT


def test_every_answer_carries_the_policy_and_a_signed_in_page_is_not_cached(app: Flask, acme: TenantFixture) -> None:
    anonymous = client_for(app, acme).get("/signin")
    policy = anonymous.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert anonymous.headers["X-Content-Type-Options"] == "nosniff"
    assert anonymous.headers["Referrer-Policy"] == "same-origin"
    assert anonymous.headers["X-Frame-Options"] == "DENY"
    signed_in = login(app, acme).get("/customers")
    assert signed_in.status_code == 200 and signed_in.headers["Cache-Control"] == "no-store"


def test_no_template_carries_an_inline_handler_or_script() -> None:
    offenders = []
    for path in sorted((ROOT / "vectis" / "templates").rglob("*.html")):
        text = path.read_text()
        for needle in (
            " onclick=",
            " onsubmit=",
            " onfocus=",
            " onchange=",
            " oninput=",
            " onload=",
            "<script>",
            "javascript:",
        ):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle.strip()}")
    assert offenders == []
