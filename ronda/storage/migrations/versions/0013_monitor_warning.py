"""monitors.warning: the first warning of a monitor's latest verdict

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

A monitor that answers but warns (a certificate expiring in five days, a renewal overdue,
slow answers) was counted and shown as plainly up. Its latest verdict's first warning code
is kept on the monitor, so the dashboard counts such monitors apart from the up ones and
lists them on their own, in SQL, at any number of monitors.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("monitors", sa.Column("warning", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("monitors", "warning")
