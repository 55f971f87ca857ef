"""Where a `Location` header leads, read as a browser reads it (the WHATWG URL standard), so
that a redirect a browser follows is followed, and one no browser can follow is a finding in
plain words, never an exception.

A browser drops tabs and line breaks anywhere in the value and spaces or controls at its
ends, percent-encodes spaces, controls and non-ASCII text in the path and query, and turns an
international host name into its ASCII (IDNA) form. What it cannot repair (a port that is no
number or out of range, a broken IPv6 literal, a host name IDNA refuses or with characters no
host name has) makes the page unreachable for users too.

Written by hand: urllib.parse joins and splits but neither repairs nor refuses, and no
well-kept parser of the WHATWG standard is a dependency here; the few rules above are the
ones a redirect needs.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urljoin, urlsplit

from ronda.hosts import ascii_host

_AT_THE_ENDS = "".join(chr(code) for code in range(0x21))  # C0 controls and space
_ANYWHERE = re.compile(r"[\t\n\r]")
_HOST_LABELS = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
# What stays as it is in a path and a query: the reserved and unreserved characters, and
# '%' so that escapes already there are kept.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
WEB_SCHEMES = ("http", "https")


class BadRedirect(ValueError):
    """A Location no browser can follow; the message says why, in plain words."""


def redirect_url(base: str, location: str) -> str:
    """The absolute URL `location` leads to from `base`. A target on another scheme
    (mailto:, a custom app's) is returned joined but otherwise as it is: it is no web page
    to follow. Raises BadRedirect for an http(s) target no browser can reach."""
    text = _ANYWHERE.sub("", _as_sent(location).strip(_AT_THE_ENDS))
    if not text:
        raise BadRedirect("the Location header is empty")
    try:
        joined = urljoin(base, text)
        parts = urlsplit(joined)
        port = parts.port
    except ValueError as exc:  # a broken IPv6 literal, a port that is no number or too large
        raise BadRedirect(f"{text!r} is not a URL ({_plain(exc)})") from None
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES:
        return joined
    if port == 0:
        raise BadRedirect(f"{text!r} is not a URL (its port is not a number from 1 to 65535)")
    host = _ascii_host(parts.hostname or "", text)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = f"?{quote(parts.query, safe=_QUERY_SAFE)}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def _as_sent(location: str) -> str:
    """The header's bytes (read as Latin-1, as HTTP reads header bytes) as the UTF-8 text
    servers mean and browsers read; Latin-1 where they are not UTF-8."""
    raw = location.encode("latin-1", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return location


def _ascii_host(host: str, text: str) -> str:
    if not host:
        raise BadRedirect(f"{text!r} names no host")
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise BadRedirect(f"{text!r}: {host!r} is not an IPv6 address") from None
    if not host.isascii():
        try:
            # The same IDNA 2008 + UTS #46 conversion as every other name ronda looks up.
            host = ascii_host(host)
        except ValueError:
            raise BadRedirect(f"{text!r}: {host!r} is not a valid domain name (IDNA refuses it)") from None
    if not _HOST_LABELS.fullmatch(host):
        raise BadRedirect(f"{text!r}: {host!r} is not a host name")
    if len(host.rstrip(".")) > 253 or any(len(label) > 63 for label in host.split(".")):
        raise BadRedirect(f"{text!r}: {host!r} is not a valid domain name (too long for DNS)")
    return host.lower()


def _plain(exc: ValueError) -> str:
    words = str(exc)
    if "Port" in words:
        return "its port is not a number from 1 to 65535"
    if "IPv6" in words:
        return "its IPv6 address is broken"
    return words
