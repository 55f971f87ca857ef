"""ACME Renewal Information (RFC 9773): the CA's own word on when a certificate should be
renewed. Where a monitor names its ACME directory, the suggested window replaces the
lifetime rule for `cert_renewal_overdue`: renewal is overdue once the window has closed."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from ronda.certs.aia import Fetch
from ronda.verdict import parse_iso


@dataclass(frozen=True)
class RenewalWindow:
    start: datetime
    end: datetime


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_id(leaf_der: bytes) -> str | None:
    """RFC 9773's identifier: the authority key identifier and the serial's DER integer
    bytes, each base64url without padding, joined by a dot. None without an AKI."""
    cert = x509.load_der_x509_certificate(leaf_der)
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None
    if aki is None:
        return None
    serial = cert.serial_number
    # signed: some certificates carry a negative serial (RFC 5280 forbids it; DER allows it)
    return f"{_b64url(aki)}.{_b64url(serial.to_bytes(serial.bit_length() // 8 + 1, 'big', signed=True))}"


def parse_window(body: bytes) -> RenewalWindow | None:
    try:
        window = json.loads(body)["suggestedWindow"]
        return RenewalWindow(parse_iso(window["start"]), parse_iso(window["end"]))
    except (ValueError, KeyError, TypeError):
        return None


async def renewal_window(leaf_der: bytes, directory_url: str, fetch: Fetch) -> RenewalWindow | None:
    """The CA's suggested window, or None when the directory or the CA gives none."""
    identifier = cert_id(leaf_der)
    directory = await fetch(directory_url)
    if identifier is None or directory is None:
        return None
    try:
        base = json.loads(directory)["renewalInfo"]
    except (ValueError, KeyError, TypeError):
        return None
    body = await fetch(f"{str(base).rstrip('/')}/{identifier}")
    return parse_window(body) if body else None


def overdue(window: RenewalWindow, now: datetime) -> str | None:
    if now <= window.end:
        return None
    return (
        f"the CA's suggested renewal window (ACME Renewal Information) closed at {window.end:%Y-%m-%dT%H:%M:%SZ}; "
        "renewal should have happened by now"
    )
