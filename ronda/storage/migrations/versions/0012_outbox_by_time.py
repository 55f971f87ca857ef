"""outbox: an index by time, to see whether a storm of openings is under way

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

An incident's first notice now leaves as soon as the incident is confirmed; only while a
storm is under way on a channel (more than `notify_storm` openings written for it within a
minute) do further openings wait to join a digest. Writing a notice asks how many openings
the channel had in the last minute: this index keeps that a range read, however long the
outbox has grown.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_created", "outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_created", table_name="outbox")
