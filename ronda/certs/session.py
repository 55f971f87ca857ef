"""What a TLS handshake showed: the certificates served, and OpenSSL's verdict on them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TlsSession:
    leaf_der: bytes | None
    chain_ders: list[bytes]
    version: str | None
    verify_error: tuple[int, str] | None  # OpenSSL's code and message when verification failed
    handshake_error: str | None = None  # why a verifying handshake was refused, when a permissive one got through
    # The path OpenSSL built to a trusted root, leaf first, when it verified the chain: the
    # one a client uses, which may leave out certificates the server sends.
    verified_ders: list[bytes] | None = None
