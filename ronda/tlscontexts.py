"""TLS contexts, built once and shared: loading the system trust store costs milliseconds,
far more than a handshake, so a context per check would dominate the probe's cost."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from functools import lru_cache

from ronda.errors import UsageError


@dataclass(frozen=True)
class TlsClient:
    """How ronda presents itself in a handshake: whom it trusts besides the system store,
    and the client certificate it shows for mutual TLS."""

    ca_file: str | None = None
    cert: str | None = None
    key: str | None = None  # None: the key is in the certificate file


class TlsContexts:
    """Verifying contexts (system store plus an optional CA file) and permissive contexts
    used only to read a certificate that failed verification; one of each per TlsClient."""

    def __init__(self) -> None:
        self._verifying = lru_cache(maxsize=32)(self._build_verifying)
        self._permissive = lru_cache(maxsize=32)(self._build_permissive)

    def verifying(self, client: TlsClient) -> ssl.SSLContext:
        return self._verifying(client)

    def permissive(self, client: TlsClient) -> ssl.SSLContext:
        return self._permissive(client)

    @staticmethod
    def _build_verifying(client: TlsClient) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and host name
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # what browsers accept since 2020
        _load_system_store(ctx)
        ctx.set_alpn_protocols(["http/1.1"])
        if client.ca_file:
            try:
                ctx.load_verify_locations(cafile=client.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"CA file {client.ca_file!r}: cannot be loaded ({exc})") from None
        _load_client_certificate(ctx, client)
        return ctx

    @staticmethod
    def _build_permissive(client: TlsClient) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        # Accept what the verifying context refuses (old hashes, small keys) so the
        # certificate can still be read and named; nothing sent over it is trusted.
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.set_alpn_protocols(["http/1.1"])
        _load_client_certificate(ctx, client)
        return ctx


def _load_client_certificate(ctx: ssl.SSLContext, client: TlsClient) -> None:
    if client.cert is None:
        return
    try:
        ctx.load_cert_chain(client.cert, client.key)
    except (OSError, ssl.SSLError) as exc:
        where = client.cert if client.key is None else f"{client.cert} with key {client.key}"
        raise UsageError(f"client certificate {where}: cannot be loaded ({exc})") from None


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
