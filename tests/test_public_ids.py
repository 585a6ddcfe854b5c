"""Opaque public ids: every object in a URL is named by an enciphered id, never its row key."""

from __future__ import annotations

import re

from flask import Flask

from tests.conftest import TenantFixture, a_customer, login, pid
from vectis.platform.public_ids import PREFIXES, Codec

CODEC = Codec(b"k" * 32)


def test_it_round_trips_every_kind_and_keeps_kinds_apart() -> None:
    for kind in PREFIXES:
        for key in (1, 2, 3, 1042, 2**31, 2**63 - 1):
            public = CODEC.encode(kind, key)
            assert re.fullmatch(r"[a-z]{3}_[0-9a-z]{13}", public) and CODEC.decode(kind, public) == key
    assert CODEC.encode("customer", 7)[4:] != CODEC.encode("ticket", 7)[4:]
    assert CODEC.decode("ticket", CODEC.encode("customer", 7)) is None  # a customer's id never opens a ticket


def test_neighbouring_keys_do_not_look_like_neighbours() -> None:
    ids = [CODEC.encode("customer", key) for key in range(1, 50)]
    assert len({i[4:6] for i in ids}) > 20  # no shared prefix a person could count along
    assert Codec(b"other key" * 4).encode("customer", 1) != ids[0]  # another installation, other ids


def test_it_finds_nothing_for_malformed_or_made_up_ids() -> None:
    for bad in ("", "cus_", "cus_123", "cus_" + "u" * 13, "CUS_" + "0" * 13, "42", "cus_zzzzzzzzzzzzz"):
        assert CODEC.decode("customer", bad) is None


def test_a_url_with_a_row_key_or_a_made_up_id_is_not_found(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    customer_id = a_customer(app, acme.id)
    assert client.get(f"/customers/{pid(app, 'customer', customer_id)}").status_code == 200
    assert client.get(f"/customers/{customer_id}").status_code == 404
    assert client.get("/customers/cus_0000000000000").status_code == 404
    page = client.get("/customers").get_data(as_text=True)
    assert f"/customers/{pid(app, 'customer', customer_id)}" in page and f'/customers/{customer_id}"' not in page
