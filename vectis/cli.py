"""``flask vectis …``: the operator's commands."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from vectis.audit import seal
from vectis.audit.chain import anchor_newest, installation, verify_chain
from vectis.metrics.daily import MAX_DAYS, backfill
from vectis.models import Tenant
from vectis.platform.bootstrap import migrate
from vectis.platform.crypto import SecretUnreadable, generate_key
from vectis.platform.db import system_session, tenant_session
from vectis.platform.secrets_rotation import rotate_all
from vectis.retention.purge import purge_tenant

group = AppGroup("vectis", help="Vectis maintenance commands.")


@group.command("migrate")
def migrate_command() -> None:
    """Create the runtime role if needed and upgrade the schema to the newest revision."""

    migrate(current_app.config["VECTIS_SETTINGS"])
    click.echo("Schema is up to date.")


@group.command("generate-key")
def generate_key_command() -> None:
    """Print a new encryption key. Put it first in VECTIS_ENCRYPTION_KEYS, then run rotate-keys."""
    click.echo(generate_key())


@group.command("rotate-keys")
def rotate_keys_command() -> None:
    """Re-encrypt every stored secret with the first key of VECTIS_ENCRYPTION_KEYS.

    Afterwards the older keys can be removed from the list."""

    try:
        counts = rotate_all()
    except SecretUnreadable as exc:
        raise click.ClickException(str(exc)) from None
    total = sum(counts.values())
    for where, n in counts.items():
        click.echo(f"  {where}: {n}")
    click.echo(f"Re-encrypted {total} secret(s) with the newest key.")


@group.command("audit-verify")
@click.option("--tenant", "slug", default=None, help="Check one tenant (its slug); default: all tenants.")
def audit_verify_command(slug: str | None) -> None:
    """Walk each tenant's audit chain (links, seals, anchors) and report the first broken link."""

    settings = current_app.config["VECTIS_SETTINGS"]
    broken = 0
    with system_session() as s:
        query = select(Tenant).order_by(Tenant.slug)
        if slug:
            query = query.where(Tenant.slug == slug)
        tenants = list(s.scalars(query))
        if slug and not tenants:
            raise click.ClickException(f"no tenant with slug {slug!r}")
        anchors = seal.read(settings.audit_anchor, settings.audit_key, installation(s, settings))
        if anchors.forged:
            broken += 1
            click.echo(f"anchor file {settings.audit_anchor}: {anchors.forged} line(s) not written with the audit key")
        if not anchors.newest:
            click.echo(
                f"anchor file {settings.audit_anchor}: no anchors for this database yet (the worker writes them every 5 minutes)"
            )
        for tenant in tenants:
            verdict = verify_chain(s, tenant.id, settings, anchors)
            if verdict.problem is not None:
                broken += 1
                click.echo(f"{tenant.slug}: BROKEN at entry {verdict.problem.seq}: {verdict.problem.reason}")
                continue
            anchored = f", anchored up to entry {verdict.anchored.seq}" if verdict.anchored else ", not anchored yet"
            click.echo(f"{tenant.slug}: ok, {verdict.checked} entries verified and sealed{anchored}")
        if not slug:
            gone = set(anchors.newest) - {t.id for t in tenants}
            for tenant_id in sorted(gone):
                broken += 1
                click.echo(f"tenant #{tenant_id}: BROKEN: it was anchored outside the database but is gone from it")
    if broken:
        raise SystemExit(1)


@group.command("audit-anchor")
def audit_anchor_command() -> None:
    """Append each tenant's newest audit link to the anchor file now (the worker does it every 5 minutes)."""

    settings = current_app.config["VECTIS_SETTINGS"]
    with system_session() as s:
        written = anchor_newest(s, settings)
    click.echo(f"Anchored {len(written)} tenant(s) in {settings.audit_anchor}.")


@group.command("purge")
def purge_command() -> None:
    """Apply each workspace's data retention now (the worker does it nightly at 03:15 UTC)."""

    with system_session() as s:
        tenants = list(s.execute(select(Tenant.id, Tenant.slug).order_by(Tenant.slug)))
    for tenant_id, slug in tenants:
        with tenant_session(tenant_id) as s:
            purged = purge_tenant(s, tenant_id)
        click.echo(f"{slug}: deleted {purged.total} row(s)")


@group.command("metrics")
@click.option("--days", default=2, show_default=True, type=click.IntRange(1, MAX_DAYS), help="Up to today (UTC).")
@click.option("--tenant", "slug", default=None, help="One workspace's slug; every workspace when left out.")
def metrics_command(days: int, slug: str | None) -> None:
    """Compute daily metrics and SLA snapshots now (the worker does yesterday and today nightly at 00:20 UTC).

    With --days 90, a workspace gets its last quarter from what is already synced."""

    with system_session() as s:
        query = select(Tenant.id, Tenant.slug).order_by(Tenant.slug)
        tenants = list(s.execute(query.where(Tenant.slug == slug) if slug else query))
    if slug and not tenants:
        raise click.ClickException(f"No workspace is called {slug!r}.")
    for tenant_id, name in tenants:
        with tenant_session(tenant_id) as s:
            done = backfill(s, days)
        click.echo(f"{name}: {done.rows} customer-day(s) from {done.first} to {done.last}")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
