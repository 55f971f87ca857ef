"""Facts about host names and addresses that both URL parsing and certificate analysis need.

A base module, importing nothing of ronda's: the certificate rules ask "is this host an IP
address?" without importing URL parsing (ronda/target.py), which would close an import
circle through the probes.
"""

from __future__ import annotations

import ipaddress


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
