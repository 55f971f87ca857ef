"""what a monitor's probe keeps from check to check (an SSH server's host key)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, as in 0005: a batch copy of `monitors` on SQLite would drop the rows
    # that point at it.
    op.add_column("monitors", sa.Column("known", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitors") as table:
        table.drop_column("known")
