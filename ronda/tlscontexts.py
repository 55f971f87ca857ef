"""TLS contexts, built once and shared: loading the system trust store costs milliseconds,
far more than a handshake, so a context per check would dominate the probe's cost."""

from __future__ import annotations

import os
import ssl
from functools import lru_cache

from ronda.errors import UsageError


class TlsContexts:
    """Verifying contexts (system store plus an optional CA file) and one permissive
    context used only to read a certificate that failed verification."""

    def __init__(self) -> None:
        self._verifying = lru_cache(maxsize=32)(self._build_verifying)
        self._permissive: ssl.SSLContext | None = None

    def verifying(self, ca_file: str | None) -> ssl.SSLContext:
        return self._verifying(ca_file)

    def permissive(self) -> ssl.SSLContext:
        if self._permissive is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            # Accept what the verifying context refuses (old hashes, small keys) so the
            # certificate can still be read and named; nothing sent over it is trusted.
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.set_alpn_protocols(["http/1.1"])
            self._permissive = ctx
        return self._permissive

    @staticmethod
    def _build_verifying(ca_file: str | None) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and host name
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # what browsers accept since 2020
        _load_system_store(ctx)
        ctx.set_alpn_protocols(["http/1.1"])
        if ca_file:
            try:
                ctx.load_verify_locations(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"CA file {ca_file!r}: cannot be loaded ({exc})") from None
        return ctx


def _load_system_store(ctx: ssl.SSLContext) -> None:
    """The system's trust store, from its bundle file when there is one.

    Not its hashed directory as well (which `create_default_context` adds): with a
    directory, OpenSSL looks on disk for every issuer it does not hold in memory, on
    every handshake, which cost 6-8% of a check's CPU in bench/https_throughput.py. The
    bundle holds the same roots. SSL_CERT_FILE is honoured; without a bundle file,
    fall back to OpenSSL's defaults (directory included)."""
    bundle = ssl.get_default_verify_paths().cafile
    if bundle and os.path.isfile(bundle):
        ctx.load_verify_locations(cafile=bundle)
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
