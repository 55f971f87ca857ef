"""screenshots: a failing browser check's screenshot, apart from its verdict

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

A browser+https:// check that finds the page failing sends a JPEG of it with the verdict.
A stored verdict is kept small (STORED_VERDICT_BYTES) and kept long, so the image goes to a
table of its own, which holds only the last few of each monitor; the verdict keeps its id.
No foreign key to `results`: on PostgreSQL that table is partitioned, and a verdict outlives
its screenshot anyway.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screenshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("monitor_id", sa.Integer(), sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("vantage", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cause", sa.String(64), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_screenshots_monitor", "screenshots", ["monitor_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_screenshots_monitor", table_name="screenshots")
    op.drop_table("screenshots")
