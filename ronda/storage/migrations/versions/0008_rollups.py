"""history that stays cheap: hour and day rollups, marks, each monitor's first check, and
64-bit verdict ids on PostgreSQL

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

The rollups start empty: the service's first rounds add every verdict already stored
(`rolled_id` starts at 0), and readers add the raw verdicts not yet rolled up, so figures
are the same before and after. `first_checked_at` is filled from the verdicts kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ronda.storage.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("monitor_id", sa.Integer(), sa.ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("span", sa.String(8), primary_key=True),
        sa.Column("start", UTCDateTime(), primary_key=True),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("up", sa.Integer(), nullable=False),
        sa.Column("degraded", sa.Integer(), nullable=False),
        sa.Column("down", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("latency_min", sa.Float(), nullable=True),
        sa.Column("latency_max", sa.Float(), nullable=True),
        sa.Column("buckets", sa.JSON(), nullable=False),
    )
    op.create_index("ix_rollups_span_start", "rollups", ["span", "start"])
    op.create_table(
        "marks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    # A plain ADD COLUMN, as in 0005: a batch copy of `monitors` on SQLite would drop the rows
    # that point at it.
    op.add_column("monitors", sa.Column("first_checked_at", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE monitors SET first_checked_at = "
        "(SELECT MIN(results.checked_at) FROM results WHERE results.monitor_id = monitors.id)"
    )
    if op.get_bind().dialect.name != "sqlite":  # SQLite's integers are 64 bits already
        op.alter_column("results", "id", type_=sa.BigInteger())
        op.execute("ALTER SEQUENCE results_id_seq AS bigint")  # a serial's sequence stops at 2^31 - 1
        op.alter_column("monitors", "last_result_id", type_=sa.BigInteger())


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("monitors", "last_result_id", type_=sa.Integer())
        op.alter_column("results", "id", type_=sa.Integer())
        op.execute("ALTER SEQUENCE results_id_seq AS integer")
        op.drop_column("monitors", "first_checked_at")
    else:
        op.execute("ALTER TABLE monitors DROP COLUMN first_checked_at")
    op.drop_table("marks")
    op.drop_index("ix_rollups_span_start", "rollups")
    op.drop_table("rollups")
