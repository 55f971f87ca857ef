"""Fetching a URL at one address the way a browser would reach it: TCP, TLS with the
full certificate analysis, the exchange, and redirects followed (a loop is named). Every
failure becomes a finding on the observation."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from ronda.probes.base import Observation, ProbeContext
from ronda.probes.exchange import MAX_BODY, Answer, ExchangeError, Hop, exchange, hop_for
from ronda.probes.redirects import WEB_SCHEMES, BadRedirect, redirect_url
from ronda.probes.resolve import resolve_host
from ronda.probes.tls import open_connection
from ronda.target import CheckOptions

MAX_REDIRECTS = 10


async def follow(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    hop: Hop,
    address: str,
    deadline: float,
    limit: int = MAX_BODY,
) -> Answer | None:
    """Request `hop` at `address`, following redirects; None when a finding was recorded.
    Reads at most `limit` bytes of the final body. Whatever fails at a redirect's other
    host is this address's failure: a user who reaches it cannot get the page either."""
    origin, seen = address, {hop.url}
    for _ in range(MAX_REDIRECTS + 1):
        if address == origin:
            answer = await request(obs, ctx, options, hop, address, deadline, limit)
        else:
            answer = await _elsewhere(obs, ctx, options, hop, address, origin, deadline, limit)
        if answer is None:
            return None
        location = answer.headers.get("location")
        if not (300 <= answer.status < 400 and location):
            return dataclasses.replace(answer, url=hop.url)
        try:
            next_url = redirect_url(hop.url, location)
        except BadRedirect as exc:
            detail = f"{hop.url} redirects where no browser can follow: {exc}"
            obs.problem("protocol_error", detail, address=address, host=hop.host, port=hop.port)
            return None
        if urlsplit(next_url).scheme.lower() not in WEB_SCHEMES:
            return dataclasses.replace(answer, url=hop.url)
        if next_url in seen:
            obs.problem("http_redirect_loop", f"{hop.url} redirects back to {next_url}, a loop", address=address)
            return None
        seen.add(next_url)
        next_hop = hop_for(next_url)
        if (next_hop.host, next_hop.port) != (hop.host, hop.port):
            resolved = await resolve_host(next_hop.host, next_hop.port, options, deadline, ctx.dns)
            if resolved.error:
                detail = f"redirect to {next_url}: {resolved.detail}"
                obs.problem(resolved.error, detail, address=origin, host=next_hop.host)
                return None
            address = resolved.addresses[0]
        hop = next_hop
    obs.problem("http_redirect_loop", f"more than {MAX_REDIRECTS} redirects, the last to {hop.url}", address=origin)
    return None


async def _elsewhere(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    hop: Hop,
    address: str,
    origin: str,
    deadline: float,
    limit: int,
) -> Answer | None:
    """A redirect hop at another host's address, its findings credited to `origin`."""
    scratch = Observation(obs.target, started=obs.started)
    answer = await request(scratch, ctx, options, hop, address, deadline, limit)
    obs.findings += [dataclasses.replace(f, address=origin) for f in scratch.findings]
    obs.warnings += [dataclasses.replace(w, address=origin) for w in scratch.warnings]
    obs.certificates += [c for c in scratch.certificates if c not in obs.certificates]
    return answer


async def request(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    hop: Hop,
    address: str,
    deadline: float,
    limit: int = MAX_BODY,
) -> Answer | None:
    conn = await open_connection(obs, ctx, options, hop.host, address, hop.port, deadline, secure=hop.scheme == "https")
    if conn is None:
        return None
    try:
        return await exchange(conn, hop, deadline, limit)
    except ExchangeError as exc:
        obs.problem(exc.code, f"{hop.url} at {address}: {exc.detail}", address=address, host=hop.host, port=hop.port)
        return None
    finally:
        conn.close()
