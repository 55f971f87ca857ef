"""users' reports as a signal (surges, the signal that opened an incident) and local devices
(a camera's make and model, a push monitor's secret and its job's start)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ronda.storage.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and indexes only: on SQLite a batch "move and copy" of `monitors` would
    # drop the old table, and with foreign keys on, the rows that point at it with it.
    # One report per reporter per service per window counts: the intake looks this up.
    op.create_index("ix_reports_reporter", "reports", ["reporter_hash", "service", "received_at"])
    op.add_column("incidents", sa.Column("signal", sa.String(16), nullable=False, server_default="probes"))
    op.create_table(
        "report_surges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("peak", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_report_surges_service", "report_surges", ["service", "ended_at"])
    op.add_column("monitors", sa.Column("device", sa.JSON(), nullable=True))
    op.add_column("monitors", sa.Column("push_token", sa.String(64), nullable=True))
    op.add_column("monitors", sa.Column("push_started_at", UTCDateTime(), nullable=True))
    op.create_index("ix_monitors_push_token", "monitors", ["push_token"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_monitors_push_token", table_name="monitors")
    with op.batch_alter_table("monitors") as table:
        table.drop_column("push_started_at")
        table.drop_column("push_token")
        table.drop_column("device")
    op.drop_index("ix_report_surges_service", table_name="report_surges")
    op.drop_table("report_surges")
    with op.batch_alter_table("incidents") as table:
        table.drop_column("signal")
    op.drop_index("ix_reports_reporter", table_name="reports")
