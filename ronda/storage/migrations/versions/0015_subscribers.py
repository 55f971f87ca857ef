"""subscribers: visitors who hear of a status page's incidents by e-mail or webhook

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

A status page's visitors subscribe (double opt-in) and get its public posts; the outbox
carries one row per subscriber and post, as it does per channel. Public channels whose
posts a person approves first keep them in the outbox as drafts (status `draft`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ronda.storage.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("page", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("components", sa.JSON, nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("confirmed_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("page", "kind", "address"),
    )
    op.create_index("ix_subscribers_page", "subscribers", ["page", "confirmed_at"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_page", "subscribers")
    op.drop_table("subscribers")
