"""TLS contexts, built once and shared: loading the system trust store costs milliseconds,
far more than a handshake, so a context per check would dominate the probe's cost."""

from __future__ import annotations

import os
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
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
    # Offer HTTP/2 by ALPN before HTTP/1.1 (an https check's `request: {http2: true}`).
    # A field of the client, so such contexts are cached apart: every other handshake
    # keeps offering http/1.1 alone.
    http2: bool = False

    @property
    def alpn(self) -> list[str]:
        return ["h2", "http/1.1"] if self.http2 else ["http/1.1"]


# How long OpenSSL's refusal of a chain is taken as known (KnownFailures). Short: a chain's
# verdict changes only as its dates pass, and ronda's own reading of the dates (at every
# check, ronda/certs/analysis.py) is what names them; this bounds how late a chain that has
# just become valid is verified again.
KNOWN_FAILURE_SECONDS = 60.0
KNOWN_FAILURES_KEPT = 4096


Served = tuple[bytes | None, tuple[bytes, ...]]  # the leaf, then the rest of the chain as sent


@dataclass(frozen=True)
class KnownFailure:
    """What a server served and OpenSSL's verdict on it, from the last verifying handshake."""

    served: Served
    verify_error: tuple[int, str]
    until: float  # time.monotonic()


Endpoint = tuple[TlsClient, str, str, int]  # client, server name, address, port


class KnownFailures:
    """Endpoints whose certificate failed verification at the last check, with OpenSSL's error.

    A failing certificate used to cost two handshakes per check: a verifying one that OpenSSL
    aborts (Python gives no verify callback that would let it go on), then a permissive one
    to read the certificate and talk HTTP. Once the error is known, one handshake that keeps
    the verifying policy but does not abort reads the chain; when it is the very chain that
    failed, OpenSSL's verdict on it is the same, so it is reused; any other chain is verified
    afresh. Bounded in size and time (KNOWN_FAILURE_SECONDS)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._known: OrderedDict[Endpoint, KnownFailure] = OrderedDict()

    def get(self, endpoint: Endpoint) -> KnownFailure | None:
        known = self._known.get(endpoint)
        if known is not None and known.until <= self._now():
            del self._known[endpoint]
            return None
        return known

    def remember(self, endpoint: Endpoint, served: Served, error: tuple[int, str]) -> None:
        self._known[endpoint] = KnownFailure(served, error, self._now() + KNOWN_FAILURE_SECONDS)
        self._known.move_to_end(endpoint)
        while len(self._known) > KNOWN_FAILURES_KEPT:
            self._known.popitem(last=False)

    def forget(self, endpoint: Endpoint) -> None:
        self._known.pop(endpoint, None)


class TlsContexts:
    """Verifying contexts (system store plus an optional CA file), lenient ones (the same
    policy, no verification: for chains whose failure is already known) and permissive
    contexts used only to read a certificate that failed verification; one of each per
    TlsClient (one that offers HTTP/2 is a TlsClient of its own)."""

    def __init__(self) -> None:
        self._verifying = lru_cache(maxsize=32)(self._build_verifying)
        self._lenient = lru_cache(maxsize=32)(self._build_lenient)
        self._permissive = lru_cache(maxsize=32)(self._build_permissive)
        self.known_failures = KnownFailures()

    def verifying(self, client: TlsClient) -> ssl.SSLContext:
        return self._verifying(client)

    def lenient(self, client: TlsClient) -> ssl.SSLContext:
        return self._lenient(client)

    def permissive(self, client: TlsClient) -> ssl.SSLContext:
        return self._permissive(client)

    @staticmethod
    def _build_lenient(client: TlsClient) -> ssl.SSLContext:
        """The verifying context's policy (versions, ciphers, security level, ALPN), so a
        server it refuses is refused here too, but no trust store and no verification."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(client.alpn)
        _load_client_certificate(ctx, client)
        return ctx

    @staticmethod
    def _build_verifying(client: TlsClient) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and host name
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # what browsers accept since 2020
        _load_system_store(ctx)
        ctx.set_alpn_protocols(client.alpn)
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
        ctx.set_alpn_protocols(client.alpn)
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
