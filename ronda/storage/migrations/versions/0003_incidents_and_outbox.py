"""incidents people can trust: recoveries, flapping, vantage points, grouping, human
updates, maintenance, and the notification outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ronda.storage.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitors") as table:
        table.add_column(sa.Column("successes", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("changes", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("results") as table:
        table.add_column(sa.Column("vantage", sa.String(64), nullable=False, server_default="local"))
    # A covering index for the uptime figures (status and latency without the verdict rows).
    op.drop_index("ix_results_monitor_time", table_name="results")
    op.create_index("ix_results_monitor_time", "results", ["monitor_id", "checked_at", "status", "latency_ms"])
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("flapping", sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("planned", sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("regions", sa.JSON(), nullable=False, server_default="[]"))
        table.add_column(sa.Column("announced", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("incident_updates") as table:
        table.add_column(sa.Column("status", sa.String(16), nullable=True))
        table.add_column(sa.Column("author", sa.String(64), nullable=False, server_default="ronda"))
    op.create_table(
        "incident_monitors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("monitor_id", sa.Integer(), sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("incident_id", "monitor_id"),
    )
    op.create_index("ix_incident_monitors_incident_id", "incident_monitors", ["incident_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("source", "channel"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "connectivity",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_connectivity_at", "connectivity", ["at"])


def downgrade() -> None:
    op.drop_table("connectivity")
    op.drop_index("ix_results_monitor_time", table_name="results")
    op.create_index("ix_results_monitor_time", "results", ["monitor_id", "checked_at"])
    op.drop_table("outbox")
    op.drop_table("incident_monitors")
    for table, columns in (
        ("incident_updates", ("status", "author")),
        ("incidents", ("flapping", "planned", "regions", "announced")),
        ("results", ("vantage",)),
        ("monitors", ("successes", "changes")),
    ):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
