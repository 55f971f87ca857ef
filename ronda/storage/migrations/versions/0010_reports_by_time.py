"""Reports indexed by time: which services have any lately, in one indexed read

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

The report watch asks every round which services had reports in the last half hour, so
that the services without any cost nothing (ronda/service/report_watch.py); without this
index that question reads every report ever kept.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reports_time_service", "reports", ["received_at", "service"])


def downgrade() -> None:
    op.drop_index("ix_reports_time_service", table_name="reports")
