"""The system's own name resolution without the system's blocking resolver: /etc/hosts read
here, /etc/resolv.conf read by dnspython, every lookup asynchronous and cancelled with its check.

getaddrinfo() holds a thread for as long as the resolver takes (resolv.conf's timeout times
its attempts times its search domains: 20 s and more behind a silent server), cannot be
cancelled, and runs in the one thread pool the whole process shares. One monitor with a
hundred slow asset hosts filled that pool: unrelated monitors' lookups queued behind it and
timed out, and the process could not stop until every thread came back. dnspython's
asynchronous resolver reads the same configuration (nameservers, search list, ndots,
timeout, attempts) and runs on the event loop, under each check's deadline.

dnspython does not read /etc/hosts, so that small file is parsed here, as glibc reads it:
an address, then its names; comments after `#`; every address a name is given, in order.
`localhost` and names under it are loopback (RFC 6761) when the file does not name them.
Other sources nsswitch.conf may list (mDNS, LDAP, systemd-resolved's own names) are not
consulted: `resolve:` or `nameserver:` reach those.
"""

from __future__ import annotations

import ipaddress
import os

import dns.asyncresolver
import dns.resolver

RESOLV_CONF = "/etc/resolv.conf"
HOSTS = "/etc/hosts"
LOOPBACK = ("127.0.0.1",)  # `localhost` when the hosts file does not say (glibc's own fallback)


def parse_hosts(text: str) -> dict[str, tuple[str, ...]]:
    """Name (lower case, no trailing dot) -> its addresses, in the file's order."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            address = str(ipaddress.ip_address(fields[0]))
        except ValueError:
            continue  # not an address: glibc skips the line too
        for name in fields[1:]:
            addresses = table.setdefault(name.lower().rstrip("."), [])
            if address not in addresses:
                addresses.append(address)
    return {name: tuple(addresses) for name, addresses in table.items()}


Stamp = tuple[float, int] | None  # a file's (mtime, size) when read; None: it was missing
_UNREAD: Stamp = (-1.0, -1)


class SystemResolution:
    """The system's hosts file and resolver configuration, read again when either file changes
    (a laptop's DHCP rewrites resolv.conf; an operator edits hosts), not at every lookup."""

    def __init__(self, resolv_conf: str = RESOLV_CONF, hosts: str = HOSTS) -> None:
        self.resolv_conf = resolv_conf
        self.hosts_file = hosts
        self._hosts_read: Stamp = _UNREAD
        self._table: dict[str, tuple[str, ...]] = {}
        self._conf_read: Stamp = _UNREAD
        self._resolver = dns.asyncresolver.Resolver(configure=False)

    def hosts(self, name: str) -> tuple[str, ...]:
        """The addresses the hosts file gives `name` (loopback for localhost), or ()."""
        stamp = _stamp(self.hosts_file)
        if stamp != self._hosts_read:
            self._hosts_read, self._table = stamp, parse_hosts(_read(self.hosts_file))
        key = name.lower().rstrip(".")
        found = self._table.get(key, ())
        if not found and (key == "localhost" or key.endswith(".localhost")):
            return LOOPBACK
        return found

    def resolver(self) -> dns.asyncresolver.Resolver:
        """A resolver configured as the system is; glibc's default (127.0.0.1) when the file
        is missing or names no nameserver."""
        stamp = _stamp(self.resolv_conf)
        if stamp != self._conf_read:
            try:
                resolver = dns.asyncresolver.Resolver(filename=self.resolv_conf)
            except dns.resolver.NoResolverConfiguration:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = ["127.0.0.1"]
            self._conf_read, self._resolver = stamp, resolver
        return self._resolver


def _stamp(path: str) -> tuple[float, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime, info.st_size


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read(1 << 20)  # a hosts file of a MiB is already absurd
    except OSError:
        return ""


SYSTEM = SystemResolution()
