"""Chromium's network errors (net::ERR_*, as Playwright reports a failed request) in
ronda's cause codes. Chromium's list: net/base/net_error_list.h."""

from __future__ import annotations

_EXACT: dict[str, str] = {
    "ERR_NAME_NOT_RESOLVED": "dns_nxdomain",
    "ERR_NAME_RESOLUTION_FAILED": "dns_servfail",
    "ERR_DNS_TIMED_OUT": "dns_timeout",
    "ERR_CONNECTION_REFUSED": "tcp_refused",
    "ERR_ADDRESS_UNREACHABLE": "tcp_unreachable",
    "ERR_NETWORK_UNREACHABLE": "tcp_unreachable",
    "ERR_INTERNET_DISCONNECTED": "tcp_unreachable",
    "ERR_CONNECTION_TIMED_OUT": "tcp_timeout",
    "ERR_TIMED_OUT": "http_timeout",
    "ERR_CERT_DATE_INVALID": "cert_expired",  # or not valid yet: Chromium does not tell them apart
    "ERR_CERT_AUTHORITY_INVALID": "cert_untrusted",
    "ERR_CERT_COMMON_NAME_INVALID": "cert_hostname_mismatch",
    "ERR_CERT_REVOKED": "cert_revoked",
    "ERR_CERT_WEAK_KEY": "cert_weak_key",
    "ERR_CERT_WEAK_SIGNATURE_ALGORITHM": "cert_weak_signature",
    "ERR_SSL_OBSOLETE_VERSION": "tls_protocol_too_old",
    "ERR_SSL_VERSION_OR_CIPHER_MISMATCH": "tls_handshake_failed",
    "ERR_SSL_PROTOCOL_ERROR": "tls_handshake_failed",
    "ERR_TOO_MANY_REDIRECTS": "http_redirect_loop",
}
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("ERR_CERT_", "cert_untrusted"),
    ("ERR_SSL_", "tls_handshake_failed"),
    ("ERR_NAME_", "dns_nxdomain"),
)
IGNORED = frozenset({"ERR_ABORTED"})  # the page itself gave up on the request (a navigation, say): no failure


def cause_of(error: str) -> str:
    """The cause code for Chromium's words (`net::ERR_CONNECTION_REFUSED`); anything else,
    an empty answer or a reset connection included, is `protocol_error`."""
    name = bare(error)
    if name in _EXACT:
        return _EXACT[name]
    return next((code for prefix, code in _PREFIXES if name.startswith(prefix)), "protocol_error")


def bare(error: str) -> str:
    """`net::ERR_X` or `ERR_X ...` -> `ERR_X`."""
    word = error.strip().split()[0] if error.strip() else ""
    return word.removeprefix("net::")
