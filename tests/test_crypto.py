"""Secrets at rest: bound to their tenant, rotatable, never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select, update

from tests.conftest import TenantFixture
from vectis.demo.seed import demo_totp_secret
from vectis.models import User
from vectis.platform import crypto, db
from vectis.platform.config import ROOT, ConfigError, Settings
from vectis.platform.crypto import Keyring, Sealed, SecretUnreadable, generate_key
from vectis.platform.secrets_rotation import rotate_all


@pytest.fixture(autouse=True)
def restore_demo_secrets(app: Flask) -> Iterator[None]:
    """These tests overwrite users' TOTP secrets; put the demo users' own back afterwards."""
    yield
    with app.app_context(), db.system_session() as s:
        for user in s.scalars(select(User)):
            user.totp_secret = Sealed.seal(user.tenant_id, demo_totp_secret(user.email))


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    before = crypto.keyring()
    yield
    crypto.install_keyring(before)


def _store(app: Flask, tenant: TenantFixture, value: str) -> int:
    user_id = tenant.users[tenant.admin]
    with app.app_context(), db.tenant_session(tenant.id) as s:
        user = s.get(User, user_id)
        assert user is not None
        user.totp_secret = Sealed.seal(tenant.id, value)
    return user_id


def _load(app: Flask, tenant: TenantFixture, user_id: int) -> Sealed:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        sealed = s.scalar(select(User.totp_secret).where(User.id == user_id))
    assert sealed is not None
    return sealed


def test_it_stores_ciphertext_and_opens_it_for_the_rows_tenant(app: Flask, acme: TenantFixture) -> None:
    user_id = _store(app, acme, "JBSWY3DPEHPK3PXP")
    sealed = _load(app, acme, user_id)
    assert b"JBSWY3DPEHPK3PXP" not in sealed.token
    assert sealed.open(acme.id) == "JBSWY3DPEHPK3PXP"
    assert "JBSWY3DP" not in repr(sealed) and sealed.token.decode() not in repr(sealed)


def test_it_does_not_open_a_ciphertext_moved_to_another_tenants_row(
    app: Flask, acme: TenantFixture, northwind: TenantFixture
) -> None:
    acme_user = _store(app, acme, "acme-only-secret")
    northwind_user = _store(app, northwind, "northwind-secret")
    with app.app_context(), db.system_session() as s:  # an attacker with raw SQL copies the ciphertext across
        token = s.scalar(select(User.totp_secret).where(User.id == acme_user))
        s.execute(update(User).where(User.id == northwind_user).values(totp_secret=token))
    moved = _load(app, northwind, northwind_user)
    with pytest.raises(SecretUnreadable, match="another workspace"):
        moved.open(northwind.id)


def test_it_keeps_every_secret_readable_across_key_rotation(
    app: Flask, settings: Settings, acme: TenantFixture, northwind: TenantFixture, restore_keyring: None
) -> None:
    old_key, new_key = settings.encryption_keys[0], generate_key()
    acme_user = _store(app, acme, "acme-before-rotation")
    northwind_user = _store(app, northwind, "northwind-before-rotation")

    crypto.install_keyring(Keyring((new_key, old_key)))  # the operator puts the new key first …
    with app.app_context():
        counts = rotate_all()  # … and runs flask vectis rotate-keys
    assert counts["users.totp_secret"] >= 2

    crypto.install_keyring(Keyring((new_key,)))  # … then drops the old key
    assert _load(app, acme, acme_user).open(acme.id) == "acme-before-rotation"
    assert _load(app, northwind, northwind_user).open(northwind.id) == "northwind-before-rotation"
    crypto.install_keyring(Keyring((old_key,)))
    with pytest.raises(SecretUnreadable):
        _load(app, acme, acme_user).open(acme.id)
    # Back to the old key for the tests after this one: every secret of the shared tenants was rotated.
    crypto.install_keyring(Keyring((old_key, new_key)))
    with app.app_context():
        rotate_all()


def test_it_refuses_a_malformed_key() -> None:
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key"):
        Keyring((generate_key(), "not-a-key"))


def test_it_refuses_to_start_without_encryption_keys_in_production() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VECTIS_ENCRYPTION_KEYS", "VECTIS_ENV")}
    env.update(
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", REDIS_URL="redis://127.0.0.1:1/0", SECRET_KEY="x" * 40
    )
    result = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vectis: cannot start: VECTIS_ENCRYPTION_KEYS is not set")
