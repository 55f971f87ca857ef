"""Who a request comes from, for the limits that count per client: the connection's peer,
or, when that peer is a proxy listed in `server.trusted_proxies`, the address the proxy
says it forwarded for (X-Forwarded-For; X-Forwarded-Proto gives the scheme).

X-Forwarded-For is written by whoever sends the request: believed from anyone, it lets one
client pass for as many addresses as it likes and slip every per-address limit. So it is
believed from the listed proxies only, and by default from nobody (uvicorn's own default
believes 127.0.0.1, which on a machine running anything else is anyone).

The work is uvicorn's ProxyHeadersMiddleware (it walks the header from the right, past the
trusted hops, to the first address no listed proxy owns); ronda only decides whom it trusts,
in the app itself, so that the ASGI app a test drives and `ronda run` behave alike.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


def behind_proxies(app: ASGIApp, trusted: Sequence[str]) -> ASGIApp:
    """`app`, believing forwarded headers from the `trusted` addresses and networks only."""
    if not trusted:
        return app
    # As networks, always: uvicorn takes a bare string for a literal host name, and would
    # compare "::1" and "0:0::1" as different hosts.
    networks = [str(ipaddress.ip_network(entry, strict=False)) for entry in trusted]
    # uvicorn types ASGI apps with its own TypedDicts, starlette with plain mappings: the same protocol.
    return ProxyHeadersMiddleware(app, trusted_hosts=networks)  # type: ignore[arg-type,return-value]


class ForwardedFor:
    """The middleware form of `behind_proxies`, for `FastAPI.add_middleware`."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str] = ()) -> None:
        self.app = behind_proxies(app, trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


# Parsing an address costs 4 µs, twice a report (its limits, its reporter): a flood comes
# from the same few addresses over and over. Bounded, so many made-up ones cost no memory.
@functools.lru_cache(maxsize=4096)
def network_of(address: str) -> str:
    """Who a per-address limit counts: an IPv4 address, or an IPv6 address's /64 (one home
    or office network, where each device makes up addresses of its own at will)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip.packed, 64), strict=False))
    return str(ip)
