"""Settings, parsed once from the environment (12-factor).

Three modes, from ``VECTIS_ENV``:

- ``production`` (the default): every secret must be given; nothing is generated.
- ``demo`` and ``test``: ``SECRET_KEY`` and ``VECTIS_ENCRYPTION_KEYS`` are generated once into ``./var/``
  and reused, so a newcomer needs nothing but ``make demo``.

``DATABASE_URL`` is the schema owner (migrations, ``system_session``). The app itself connects as a
second, unprivileged role: ``DATABASE_APP_URL``, or, when unset, the same server and database as the
role ``VECTIS_APP_ROLE`` (default ``vectis_app``) with no password (local trust auth, as in the demo).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy.engine import URL, make_url

ROOT = Path(__file__).resolve().parents[2]  # the checkout: vectis/platform/config.py
MODES = ("production", "demo", "test")


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line an operator can act on."""


@dataclass(frozen=True)
class Settings:
    mode: str
    database_url: str
    database_app_url: str
    redis_url: str
    secret_key: str
    encryption_keys: tuple[str, ...]
    base_domain: str
    var_dir: Path
    # Keys the audit chain's seals (HMAC); it lives in the environment, never in the database.
    audit_key: bytes = b""
    # Where the newest audit link of each tenant is appended on a schedule: outside the database.
    audit_anchor: Path = Path("var/audit-anchor.jsonl")
    db_pool_size: int = 5
    # How many reverse proxies in front of gunicorn set X-Forwarded-For; 0 trusts none (the peer is the client).
    proxy_hops: int = 0
    db_max_overflow: int = 10
    smtp_url: str | None = None
    # The port browsers reach Vectis on, for links made outside a request (a worker's portal mail); None: the
    # scheme's own (443 behind a proxy). The demo's web process says its own (VECTIS_PORT).
    public_port: int | None = None
    secure_cookies: bool = True
    allow_loopback_vendors: bool = False
    # vendor key -> URL template, for vendors whose host Vectis derives (Keepit's region host). Only the
    # demo and tests set it, to reach the simulators: VECTIS_VENDOR_URLS="keepit=http://127.0.0.1:18081/{region}".
    vendor_urls: dict[str, str] = field(default_factory=dict)
    # vendor key -> Vectis's own registered id at that vendor, when it differs from the one the connector
    # ships with (VECTIS_CONNECTWISE_CLIENT_ID).
    product_ids: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    @property
    def app_role(self) -> str:
        return make_url(self.database_app_url).username or "vectis_app"

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        known = {k: v for k, v in overrides.items() if k in self.__dataclass_fields__}
        return replace(self, **known)


def sqlalchemy_url(url: str) -> URL:
    """Accept plain ``postgresql://`` URLs and always drive them with psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def derive_app_url(owner_url: str, role: str) -> str:
    url = sqlalchemy_url(owner_url).set(username=role, password=None)
    return url.render_as_string(hide_password=False)


def _var_secret(var_dir: Path, name: str, make: Any) -> str:
    """Read a generated demo/test secret from ``var/``, creating it on first use."""
    path = var_dir / name
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(make() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def load(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    mode = env.get("VECTIS_ENV", "production")
    if mode not in MODES:
        raise ConfigError(f"VECTIS_ENV must be one of {', '.join(MODES)}, not {mode!r}")
    var_dir = Path(env.get("VECTIS_VAR_DIR", ROOT / "var")).resolve()
    generated = mode in ("demo", "test")

    database_url = env.get("DATABASE_URL", "")
    redis_url = env.get("REDIS_URL", "")
    if not database_url:
        raise ConfigError("DATABASE_URL is not set (make demo and make test start an embedded PostgreSQL for you)")
    if not redis_url:
        raise ConfigError("REDIS_URL is not set (make demo and make test start an embedded Redis for you)")
    app_role = env.get("VECTIS_APP_ROLE", "vectis_app")
    database_app_url = env.get("DATABASE_APP_URL") or derive_app_url(database_url, app_role)

    secret_key = env.get("SECRET_KEY", "")
    if not secret_key:
        if not generated:
            raise ConfigError(
                "SECRET_KEY is not set: give it a long random value (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        secret_key = _var_secret(var_dir, "secret_key", lambda: secrets.token_urlsafe(48))

    keys_text = env.get("VECTIS_ENCRYPTION_KEYS", "")
    if not keys_text:
        if not generated:
            raise ConfigError(
                "VECTIS_ENCRYPTION_KEYS is not set: vendor secrets cannot be encrypted; "
                "generate a key with `flask vectis generate-key` and set it"
            )
        keys_text = _var_secret(var_dir, "encryption_keys", lambda: Fernet.generate_key().decode())
    keys = tuple(k.strip() for k in keys_text.split(",") if k.strip())

    audit_key = env.get("VECTIS_AUDIT_KEY", "")
    if not audit_key:
        if not generated:
            raise ConfigError(
                "VECTIS_AUDIT_KEY is not set: the audit log cannot be sealed; give it a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))') and keep it out of the database's backups"
            )
        audit_key = _var_secret(var_dir, "audit_key", lambda: secrets.token_urlsafe(48))
    if len(audit_key) < 32:
        raise ConfigError("VECTIS_AUDIT_KEY is too short: give it at least 32 random characters")

    return Settings(
        mode=mode,
        database_url=sqlalchemy_url(database_url).render_as_string(hide_password=False),
        database_app_url=sqlalchemy_url(database_app_url).render_as_string(hide_password=False),
        redis_url=redis_url,
        secret_key=secret_key,
        encryption_keys=keys,
        base_domain=env.get("VECTIS_BASE_DOMAIN", "localhost").lower(),
        var_dir=var_dir,
        audit_key=audit_key.encode(),
        audit_anchor=Path(env.get("VECTIS_AUDIT_ANCHOR") or var_dir / "audit-anchor.jsonl").resolve(),
        db_pool_size=int(env.get("VECTIS_DB_POOL_SIZE", "5")),
        proxy_hops=int(env.get("VECTIS_PROXY_HOPS", "0")),
        db_max_overflow=int(env.get("VECTIS_DB_MAX_OVERFLOW", "10")),
        smtp_url=env.get("SMTP_URL") or None,
        # Behind a proxy the port gunicorn binds (VECTIS_PORT) is no port a browser uses: only the demo's and tests'
        # web process is reached on its own port.
        public_port=int(port)
        if (port := env.get("VECTIS_PUBLIC_PORT") or (env.get("VECTIS_PORT") if mode != "production" else None))
        else None,
        # Secure cookies need https; the demo and tests are served over plain http on loopback.
        secure_cookies=env.get("VECTIS_SECURE_COOKIES", "0" if generated else "1") not in ("0", "false", "no"),
        # The vendor simulators run on loopback; a real deployment never talks to itself.
        allow_loopback_vendors=env.get("VECTIS_ALLOW_LOOPBACK_VENDORS", "1" if generated else "0")
        in ("1", "true", "yes"),
        product_ids={
            vendor: value
            for vendor, value in (("connectwise", env.get("VECTIS_CONNECTWISE_CLIENT_ID", "").strip()),)
            if value
        },
        vendor_urls=dict(
            item.strip().split("=", 1) for item in env.get("VECTIS_VENDOR_URLS", "").split(",") if "=" in item
        ),
    )
