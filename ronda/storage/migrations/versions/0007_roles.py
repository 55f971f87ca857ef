"""roles: users and API tokens carry viewer, editor or admin in place of is_admin

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Existing accounts keep what they could do: an admin stays admin, every other user becomes
an editor (before roles, any user could change monitors and incidents). Existing tokens take
their user's role, and those made with the config's token admin. Only new accounts start as
viewers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD and DROP COLUMN, never a batch copy: on SQLite a batch copy drops and
    # recreates `users`, and with foreign keys on that deletes every session and token
    # pointing at it (ON DELETE CASCADE). SQLite drops a column itself since 3.35.
    op.add_column("users", sa.Column("role", sa.String(16), nullable=False, server_default="viewer"))
    op.add_column("api_tokens", sa.Column("role", sa.String(16), nullable=False, server_default="viewer"))
    op.execute("UPDATE users SET role = CASE WHEN is_admin THEN 'admin' ELSE 'editor' END")
    op.execute(
        "UPDATE api_tokens SET role = COALESCE("
        "(SELECT users.role FROM users WHERE users.id = api_tokens.user_id), 'admin')"
    )
    _drop_column("users", "is_admin")


def downgrade() -> None:
    op.add_column("users", sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE users SET is_admin = (role = 'admin')")
    _drop_column("api_tokens", "role")
    _drop_column("users", "role")


def _drop_column(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)
