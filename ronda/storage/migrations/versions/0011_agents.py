"""probe agents: who may send verdicts, from which region

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

Remote probe agents (ronda/agent/) authenticate with a token of their own; the hub keeps
each one's name, region, token hash, when it was last heard from and whether its own
network works (its canaries), so that a silent agent reads as a lost vantage point. A verdict
made while its vantage point was cut off is marked (`results.offline`): kept, never counted
among the readings that decide an incident. An incident keeps the regions that see its
target work meanwhile (`incidents.working_regions`): "down from eu-south, up from us-east".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ronda.storage.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("online", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("offline_since", UTCDateTime(), nullable=True),
        sa.Column("offline_detail", sa.Text, nullable=True),
        sa.Column("version", sa.String(32), nullable=True),
    )
    op.add_column("results", sa.Column("offline", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("incidents", sa.Column("working_regions", sa.JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("incidents", "working_regions")
    op.drop_column("results", "offline")
    op.drop_table("agents")
