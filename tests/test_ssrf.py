"""The outbound seam cannot be aimed somewhere else than where it checked (issue 15, finding 1): one parser for
the check and the connection, no user-info or backslashes, the cloud metadata addresses refused, and the
connection pinned to the address that was checked."""

from __future__ import annotations

import pytest
from flask import Flask, request

from tests.vendors.support import serve
from vectis.connectors.veeam import VeeamConnector
from vectis.platform.http import BlockedAddress, ConnectorError, HttpClient, check_host

HOSTILE = [
    "http://127.0.0.1:18999\\@10.0.0.1/",  # requests went to 127.0.0.1, the check judged 10.0.0.1
    "http://169.254.169.254\\@10.0.0.1/",
    "http://10.0.0.1\\@169.254.169.254/",
    "http://user:secret@10.0.0.1/",
    "http://10.0.0.1@169.254.169.254/",
    "http://10.0.0.1 @169.254.169.254/",
    "http://10.0.0.1/\tx",
    "http://10.0.0.1:99999/",
    "http://10.0.0.1:port/",
    "ftp://10.0.0.1/",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_a_url_whose_host_parsers_could_disagree_on_is_refused(url: str) -> None:
    with pytest.raises(ConnectorError):
        HttpClient(base_url=url, allow_loopback=True)


@pytest.mark.parametrize("url", HOSTILE[:5])
def test_veeams_settings_refuse_it_before_anything_is_saved(url: str) -> None:
    config = {"base_url": url, "username": "u", "password": "p", "api_key": ""}
    with pytest.raises(ConnectorError, match="VSPC base URL"):
        VeeamConnector.validate_config(config)


def test_the_backslash_form_never_reaches_the_server_it_hides() -> None:
    hits: list[str] = []
    app = Flask("hidden")

    @app.get("/")
    def hit() -> str:
        hits.append(request.host)
        return "reached"

    url, stop = serve(app)
    try:
        with pytest.raises(ConnectorError):
            HttpClient(base_url=f"{url}\\@10.0.0.1/", allow_loopback=True).request("GET", "/", retry=True)
    finally:
        stop()
    assert hits == []


@pytest.mark.parametrize("address", ["100.100.100.200", "192.0.0.192", "fd00:ec2::254", "169.254.169.254"])
def test_cloud_metadata_addresses_are_refused(address: str) -> None:
    with pytest.raises(BlockedAddress):
        check_host(address, 80, allow_loopback=True)


def test_a_tailscale_or_private_address_stays_allowed() -> None:
    assert check_host("100.101.102.103", 1280, allow_loopback=False) == "100.101.102.103"
    assert check_host("10.20.30.40", 1280, allow_loopback=False) == "10.20.30.40"


def test_every_address_of_a_name_is_judged() -> None:
    def two_faced(host: str, port: int) -> list[str]:
        return ["10.0.0.5", "169.254.169.254"]

    with pytest.raises(BlockedAddress):
        check_host("vendor.example", 443, allow_loopback=False, resolve=two_faced)


def test_the_connection_goes_to_the_checked_address_whatever_dns_says_next() -> None:
    seen: list[str] = []
    app = Flask("vendor")

    @app.get("/ping")
    def ping() -> str:
        seen.append(request.host)
        return "pong"

    url, stop = serve(app)
    port = int(url.rsplit(":", 1)[1])
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])  # a rebinding resolver: checked, then elsewhere

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    client = HttpClient(base_url=f"http://vendor.test:{port}", allow_loopback=True, resolve=rebinding)
    try:
        first = client.request("GET", "/ping", retry=True)
        second = client.request("GET", "/ping", retry=True)
    finally:
        client.close()
        stop()
    assert (first.text, second.text) == ("pong", "pong")
    assert seen == [f"vendor.test:{port}", f"vendor.test:{port}"]  # the vendor's name, sent to the checked address
