"""Does a certificate name a host? RFC 6125 rules as browsers apply them.

Written by hand because Python's `ssl.match_hostname` is gone since 3.12 and we must
answer the question for certificates that did not verify, where OpenSSL tells us nothing.
"""

from __future__ import annotations

import ipaddress

from ronda.hosts import is_ip_address


def _dns_name_matches(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    # A wildcard covers exactly one whole left-most label: *.example.com matches
    # a.example.com, never example.com or a.b.example.com.
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    label, dot, rest = host.partition(".")
    return bool(label and dot) and rest == pattern[2:]


def hostname_matches(host: str, dns_names: tuple[str, ...], ip_addresses: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    if is_ip_address(host):
        wanted = ipaddress.ip_address(host)
        return any(ipaddress.ip_address(ip) == wanted for ip in ip_addresses)
    return any(_dns_name_matches(name, host) for name in dns_names)
