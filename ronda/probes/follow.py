"""Fetching a URL at one address the way a browser would reach it: TCP, TLS with the
full certificate analysis, the exchange, and redirects followed (a loop is named). Every
failure becomes a finding on the observation."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from ronda.probes.base import Observation, ProbeContext
from ronda.probes.exchange import MAX_BODY, Answer, ExchangeError, Hop, Outgoing, exchange, hop_for
from ronda.probes.h2exchange import exchange_h2
from ronda.probes.redirects import WEB_SCHEMES, BadRedirect, redirect_url
from ronda.probes.resolve import resolve_host
from ronda.probes.tls import open_connection
from ronda.target import CheckOptions

MAX_REDIRECTS = 10
# Sent to the origin they were given for, never to another a redirect leads to (as curl,
# browsers and every HTTP library do): a redirect must not carry credentials off.
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})


async def follow(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    hop: Hop,
    address: str,
    deadline: float,
    limit: int = MAX_BODY,
    outgoing: Outgoing | None = None,
    *,
    redirects: bool = True,
    measure: int = 0,
    http2: bool = False,
) -> Answer | None:
    """Request `hop` at `address` (a GET, or `outgoing`), following redirects unless told
    not to; None when a finding was recorded. Reads at most `limit` bytes of the final body
    (and counts up to `measure`). `http2`: over HTTP/2 wherever an https server offers it
    (each hop's own choice). Whatever fails at a redirect's other host is this address's
    failure: a user who reaches it cannot get the page either."""
    origin, seen = address, {hop.url}
    for _ in range(MAX_REDIRECTS + 1):
        if address == origin:
            answer = await request(obs, ctx, options, hop, address, deadline, limit, outgoing, measure, http2=http2)
        else:
            answer = await _elsewhere(
                obs, ctx, options, hop, address, origin, deadline, limit, outgoing, measure, http2=http2
            )
        if answer is None:
            return None
        location = answer.headers.get("location")
        if not (redirects and 300 <= answer.status < 400 and location):
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
        outgoing = _redirected(outgoing, answer.status, same_origin=_same_site(hop, next_hop))
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


def _same_site(hop: Hop, to: Hop) -> bool:
    """The same host and port, or the same host moved from http:80 to https:443 (as the
    `requests` library judges where credentials may go)."""
    upgrade = (hop.scheme, hop.port, to.scheme, to.port) == ("http", 80, "https", 443)
    return hop.host == to.host and (hop.port == to.port or upgrade)


def _redirected(outgoing: Outgoing | None, status: int, *, same_origin: bool) -> Outgoing | None:
    """The request a client sends where a redirect leads: a 303 (and a 301 or 302 after a
    POST, as browsers do) becomes a GET without its body; 307 and 308 keep both; credentials
    stay with their origin."""
    if outgoing is None:
        return None
    method, body = outgoing.method, outgoing.body
    if (status == 303 and method not in ("GET", "HEAD")) or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
    headers = outgoing.headers
    if body is None:
        headers = tuple((name, value) for name, value in headers if name.lower() != "content-type")
    if not same_origin:
        headers = tuple((name, value) for name, value in headers if name.lower() not in _CREDENTIALS)
    return Outgoing(method, headers, body)


async def _elsewhere(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    hop: Hop,
    address: str,
    origin: str,
    deadline: float,
    limit: int,
    outgoing: Outgoing | None,
    measure: int,
    *,
    http2: bool,
) -> Answer | None:
    """A redirect hop at another host's address, its findings credited to `origin`."""
    scratch = Observation(obs.target, started=obs.started)
    answer = await request(scratch, ctx, options, hop, address, deadline, limit, outgoing, measure, http2=http2)
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
    outgoing: Outgoing | None = None,
    measure: int = 0,
    *,
    http2: bool = False,
) -> Answer | None:
    """One request at one address, no redirect followed. `http2`: an https server is offered
    HTTP/2 (ALPN) beside HTTP/1.1, and the request goes over the one it chooses."""
    secure = hop.scheme == "https"
    http2 = http2 and secure  # http:// stays HTTP/1.1: no h2c upgrade
    conn = await open_connection(obs, ctx, options, hop.host, address, hop.port, deadline, secure=secure, http2=http2)
    if conn is None:
        return None
    try:
        if http2 and conn.protocol == "h2":
            return await exchange_h2(conn, hop, deadline, limit, outgoing=outgoing, measure=measure)
        return await exchange(conn, hop, deadline, limit, outgoing=outgoing, measure=measure)
    except ExchangeError as exc:
        obs.problem(exc.code, f"{hop.url} at {address}: {exc.detail}", address=address, host=hop.host, port=hop.port)
        return None
    finally:
        conn.close()
