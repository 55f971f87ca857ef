"""Fetching a small document over HTTP(S) inside a check's deadline: an issuer
certificate from AIA, later a CRL or an OCSP answer. Same resolution, connection and
HTTP code as the probes, so --resolve and --nameserver apply to these fetches too."""

from __future__ import annotations

import time

from ronda.certs.aia import Fetch
from ronda.probes.base import ProbeContext
from ronda.probes.connect import Connection, Failure, open_tcp, open_tls
from ronda.probes.exchange import ExchangeError, exchange, hop_for
from ronda.probes.resolve import resolve_host
from ronda.target import CheckOptions
from ronda.tlscontexts import TlsClient

CACHE_SECONDS = 3600.0  # issuers and CRLs change rarely; refetching each check is waste and noise


async def fetch_url(url: str, options: CheckOptions, ctx: ProbeContext, deadline: float) -> bytes | None:
    """The body of a 200 answer for `url`, or None (any failure: these fetches only help
    to explain, so their failures are not findings of their own)."""
    hop = hop_for(url)
    resolution = await resolve_host(hop.host, hop.port, options, deadline, ctx.dns)
    if resolution.error or not resolution.addresses:
        return None
    address = resolution.addresses[0]
    conn: Connection | Failure
    if hop.scheme == "https":
        conn = await open_tls(address, hop.port, hop.host, ctx.tls, TlsClient(options.ca_file), deadline)
    else:
        conn = await open_tcp(address, hop.port, deadline)
    if isinstance(conn, Failure) or (conn.tls is not None and conn.tls.verify_error):
        if isinstance(conn, Connection):
            conn.close()
        return None
    try:
        answer = await exchange(conn, hop, deadline)
    except ExchangeError:
        return None
    finally:
        conn.close()
    return answer.body if answer.status == 200 and not answer.truncated else None


def cached_fetcher(options: CheckOptions, ctx: ProbeContext, deadline: float) -> Fetch:
    """fetch_url with the context's cache in front: one fetch per URL per hour."""

    async def fetch(url: str) -> bytes | None:
        hit = ctx.fetch_cache.get(url)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        body = await fetch_url(url, options, ctx, deadline)
        if body is not None:
            ctx.fetch_cache[url] = (time.monotonic() + CACHE_SECONDS, body)
        return body

    return fetch
