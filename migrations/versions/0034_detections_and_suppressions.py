"""the detections every endpoint-security tool reports, and the suppressions a false positive makes

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vectis.platform.schema import enable_tenant_rls, grant_app, grant_app_sequences

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "detections",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_link_id", sa.BigInteger(), nullable=True),
        sa.Column("device_id", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("device_external_id", sa.String(length=100), nullable=True),
        sa.Column("device_name", sa.String(length=300), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("vendor_severity", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("vendor_status", sa.String(length=60), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=True),
        sa.Column("isolation", sa.String(length=20), nullable=True),
        sa.Column("classification", sa.String(length=100), nullable=True),
        sa.Column("file_path", sa.Text(), nullable=True),
        sa.Column("file_hash", sa.String(length=128), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vendor_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_detections_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_detections_customer_id_customers"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_link_id"],
            ["customer_links.id"],
            name=op.f("fk_detections_customer_link_id_customer_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_detections_device_id_devices"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_detections_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detections")),
    )
    op.create_index(op.f("ix_detections_customer_link_id"), "detections", ["customer_link_id"], unique=False)
    op.create_index(op.f("ix_detections_device_id"), "detections", ["device_id"], unique=False)
    op.create_index(
        "ix_detections_tenant_id_connection_id_external_id",
        "detections",
        ["tenant_id", "connection_id", "external_id"],
        unique=True,
    )
    op.create_index(
        "ix_detections_tenant_id_customer_id_detected_at",
        "detections",
        ["tenant_id", "customer_id", "detected_at"],
        unique=False,
    )
    op.create_index(
        "ix_detections_tenant_id_status_detected_at", "detections", ["tenant_id", "status", "detected_at"], unique=False
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("detection_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_suppressions_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["detection_id"],
            ["detections.id"],
            name=op.f("fk_suppressions_detection_id_detections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_suppressions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
    )
    op.create_index(op.f("ix_suppressions_detection_id"), "suppressions", ["detection_id"], unique=False)
    op.create_index(
        "ix_suppressions_tenant_id_scope_value", "suppressions", ["tenant_id", "scope", "value"], unique=False
    )
    for table in ("detections", "suppressions"):
        enable_tenant_rls(table)
        grant_app(table)
    grant_app_sequences()


def downgrade() -> None:
    op.drop_index("ix_suppressions_tenant_id_scope_value", table_name="suppressions")
    op.drop_index(op.f("ix_suppressions_detection_id"), table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_index("ix_detections_tenant_id_status_detected_at", table_name="detections")
    op.drop_index("ix_detections_tenant_id_customer_id_detected_at", table_name="detections")
    op.drop_index("ix_detections_tenant_id_connection_id_external_id", table_name="detections")
    op.drop_index(op.f("ix_detections_device_id"), table_name="detections")
    op.drop_index(op.f("ix_detections_customer_link_id"), table_name="detections")
    op.drop_table("detections")
