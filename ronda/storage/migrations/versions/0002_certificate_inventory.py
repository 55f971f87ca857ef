"""certificate inventory: one row per certificate, its places, its rotations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ronda.storage.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_certificates_not_after", table_name="certificates")  # index names are per schema
    op.rename_table("certificates", "certificates_0001")
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("warned", sa.Text(), nullable=False),
    )
    op.create_index("ix_certificates_not_after", "certificates", ["not_after"])
    op.create_table(
        "certificate_places",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("certificate_id", sa.Integer(), sa.ForeignKey("certificates.id", ondelete="CASCADE"), nullable=False),
        sa.Column("monitor_id", sa.Integer(), sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("certificate_id", "monitor_id", "host", "address", "port"),
    )
    op.create_index("ix_certificate_places_certificate_id", "certificate_places", ["certificate_id"])
    op.create_table(
        "certificate_rotations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("monitor_id", sa.Integer(), sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("old_fingerprint", sa.String(64), nullable=False),
        sa.Column("new_fingerprint", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("old_fingerprint", "new_fingerprint"),
    )
    # Keep what 0001 stored: each certificate once (its latest sighting), and every place.
    op.execute(
        """
        INSERT INTO certificates (fingerprint_sha256, subject, issuer, not_before, not_after, first_seen,
                                  last_seen, details, warned)
        SELECT c.fingerprint_sha256, c.subject, c.issuer, c.not_before, c.not_after,
               (SELECT MIN(first_seen) FROM certificates_0001 WHERE fingerprint_sha256 = c.fingerprint_sha256),
               c.last_seen, c.details, ''
        FROM certificates_0001 c
        WHERE c.id = (SELECT MAX(id) FROM certificates_0001 WHERE fingerprint_sha256 = c.fingerprint_sha256)
        """
    )
    op.execute(
        """
        INSERT INTO certificate_places (certificate_id, monitor_id, host, address, port, first_seen, last_seen)
        SELECT n.id, o.monitor_id, o.host, o.address, o.port, o.first_seen, o.last_seen
        FROM certificates_0001 o JOIN certificates n ON n.fingerprint_sha256 = o.fingerprint_sha256
        """
    )
    op.drop_table("certificates_0001")


def downgrade() -> None:
    raise NotImplementedError("the inventory cannot be folded back into per-place rows without loss")
