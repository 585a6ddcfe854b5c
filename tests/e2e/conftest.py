"""Browser tests: the app served on a real port, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import TenantFixture, serving
from tests.vendors.support import add_connection, forget_synced, serve_app, sync, vendor_url
from tests.vendors.test_connectwise import config as connectwise_config
from tests.vendors.test_keepit import CONFIG as KEEPIT_CONFIG
from tests.vendors.test_keepit import serve as serve_keepit
from tests.vendors.test_veeam import serve as serve_vspc
from vectis.alerts.service import refresh_backup_alerts
from vectis.platform import db
from vectis.simulators import connectwise, vspc
from vectis.simulators.keepit import KeepitState

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium flags for a sandboxed, offline machine: no background traffic, no first-run UI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker and xdist reads the group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e drives Chromium: mark it ``browser`` (``-m "not browser"`` skips them).
    Under ``--dist loadgroup`` they also share one xdist group: one worker runs them all, with one live
    server and one Chromium, while the other workers take the rest of the suite."""
    grouped = config.pluginmanager.hasplugin("xdist")
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            if grouped:
                item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[int]:
    with serving(app) as port:
        yield port


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is missing: make test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    # Every screen a browser test opens must run under the Content-Security-Policy without a violation.
    violations: list[str] = []
    tab.on(
        "console",
        lambda message: (
            violations.append(f"{message.location['url']}: {message.text[:60]}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield tab
    context.close()
    assert violations == [], violations


@pytest.fixture
def synced_northwind(app: Flask, northwind: TenantFixture) -> Iterator[None]:
    """Northwind with Veeam (its customers), Keepit and ConnectWise synced from the simulators, and the alerts
    Vectis raises from them."""
    for sim in serve_vspc(vspc.VspcState.seeded()):
        config = {"base_url": sim.url, "username": vspc.DEMO_USERNAME, "password": vspc.DEMO_PASSWORD, "api_key": ""}
        assert sync(app, add_connection(app, northwind.id, "veeam", config)).status == "succeeded"
    for keepit in serve_keepit(KeepitState.seeded()):
        with vendor_url(app, "keepit", keepit.url + "/{region}"):
            assert sync(app, add_connection(app, northwind.id, "keepit", KEEPIT_CONFIG)).status == "succeeded"
    for url in serve_app(connectwise.create_app(connectwise.ConnectWiseState.seeded())):
        assert (
            sync(app, add_connection(app, northwind.id, "connectwise", connectwise_config(url))).status == "succeeded"
        )
    with app.app_context(), db.tenant_session(northwind.id) as s:
        refresh_backup_alerts(s, northwind.id)
    yield
    forget_synced(app, northwind.id)
