"""A local certificate authority for the world: root, intermediate, and leaves with any
validity window (expired, not yet valid, short-lived), all made with trustme."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import trustme


class LocalPKI:
    def __init__(self) -> None:
        self.root = trustme.CA(organization_name="ronda demo root")
        self.intermediate = self.root.create_child_ca()

    def write_ca(self, path: str) -> str:
        """Write the root in PEM, the bundle a client passes as --ca-file."""
        self.root.cert_pem.write_to_path(path)
        return path

    def server_context(
        self,
        *names: str,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        lifetime: timedelta | None = None,
        issuer: trustme.CA | None = None,
    ) -> ssl.SSLContext:
        """A server context for `names`, valid over the given window (default: a 90-day
        certificate issued a day ago)."""
        now = datetime.now(UTC)
        not_before = valid_from or (now - timedelta(days=1))
        not_after = valid_until or (not_before + (lifetime or timedelta(days=90)))
        leaf = (issuer or self.intermediate).issue_cert(*names, not_before=not_before, not_after=not_after)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(ctx)
        return ctx

    def self_signed_context(self, *names: str) -> ssl.SSLContext:
        """A certificate from a CA nobody trusts."""
        return self.server_context(*names, issuer=trustme.CA(organization_name="nobody trusts me"))
