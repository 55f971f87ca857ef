"""tls://host:port: connect, handshake, and read the certificate whatever its state."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from ronda.certs.aia import fetch_issuers
from ronda.certs.analysis import CertReport, analyze
from ronda.certs.ari import overdue, renewal_window
from ronda.certs.deployment import not_deployed
from ronda.certs.inspect import CertFacts
from ronda.certs.revocation import check_revocation, revocation_deadline
from ronda.certs.session import TlsSession
from ronda.hosts import readable_host
from ronda.probes.addresses import each_address, tcp_at
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.connect import Connection, Failure, Prelude, open_tls
from ronda.probes.fetch import cached_fetcher, fetch_url
from ronda.probes.file import chains, passwords, read_file
from ronda.target import CheckOptions, Target


async def secure_connection(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    host: str,
    address: str,
    port: int,
    deadline: float,
    prelude: Prelude | None = None,
    *,
    http2: bool = False,
) -> Connection | None:
    """Open TLS to host at address:port and record the certificate, its problems and
    warnings on `obs`. Returns the open connection (even over a certificate that failed
    verification, so the caller can still see what the server answers), or None. `http2`:
    offer HTTP/2 by ALPN (Connection.protocol says what the server chose)."""
    client = options.tls_client
    if http2:
        client = dataclasses.replace(client, http2=True)
    conn = await open_tls(address, port, host, ctx.tls, client, deadline, prelude)
    if isinstance(conn, Failure):
        obs.problem(conn.code, conn.detail, address=address, host=host, port=port)
        return None
    assert conn.tls is not None
    report = await _certificate_report(conn.tls, ctx, options, host, address, port, deadline)
    _record(obs, report, host, address, port)
    return conn


async def open_connection(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    host: str,
    address: str,
    port: int,
    deadline: float,
    *,
    secure: bool,
    http2: bool = False,
) -> Connection | None:
    """TCP to address:port, and TLS with the certificate recorded when `secure` (https://,
    wss://), offering HTTP/2 too when `http2`; a failure is recorded on `obs` and gives None."""
    if secure:
        return await secure_connection(obs, ctx, options, host, address, port, deadline, http2=http2)
    return await tcp_at(obs, address, port, deadline, host)


async def _certificate_report(
    session: TlsSession, ctx: ProbeContext, options: CheckOptions, host: str, address: str, port: int, deadline: float
) -> CertReport:
    """The whole analysis: the chain as served, then what it takes fetching (missing
    issuers, revocation) and reading (the renewed certificate on disk)."""
    report = analyze(session, host, address, port, ctx.clock(), options.warn_days, options.ca_file)
    fetched: list[bytes] = []
    if report.missing_issuer and report.leaf is not None:
        # Incomplete chain, or untrusted? Fetch what the server left out and ask again.
        fetched = await fetch_issuers(report.leaf, cached_fetcher(options, ctx, deadline))
        report = analyze(session, host, address, port, ctx.clock(), options.warn_days, options.ca_file, fetched)
    # Revocation (OCSP, else CRL) gets a share of the budget: a slow responder must not starve the request.
    until = revocation_deadline(deadline, time.monotonic())
    report = await check_revocation(
        report, session, fetched, lambda url: fetch_url(url, options, ctx, until), ctx.clock(), ctx.fetch_cache
    )
    if options.deployed_from and report.leaf is not None:
        report.problems += await _deployment(report.leaf, options.deployed_from)
    if options.acme_directory and report.leaf is not None and session.leaf_der is not None:
        window = await renewal_window(session.leaf_der, options.acme_directory, cached_fetcher(options, ctx, deadline))
        if window is not None:  # the CA's word replaces the lifetime rule; without it, the rule stands
            report.warnings = [w for w in report.warnings if w[0] != "cert_renewal_overdue"]
            late = overdue(window, ctx.clock())
            if late and not report.problems:
                report.warnings.append(("cert_renewal_overdue", late))
    return report


async def _deployment(served: CertFacts, path: str) -> list[tuple[str, str]]:
    content = await asyncio.to_thread(read_file, path, passwords({}))
    if not content.certificates:
        why = content.skip[1] if content.skip else f"{path} holds no certificate"
        return [("cert_not_deployed", f"the renewed certificate cannot be read: {why}")]
    renewed = chains(content.certificates)[0][0]
    detail = not_deployed(served, renewed, path)
    return [("cert_not_deployed", detail)] if detail else []


def _record(obs: Observation, report: CertReport, host: str, address: str, port: int) -> None:
    if report.certificate is not None and all(
        c.fingerprint_sha256 != report.certificate.fingerprint_sha256 or c.address != address for c in obs.certificates
    ):
        obs.certificates.append(report.certificate)
    shown = readable_host(host)
    for code, detail in report.problems:
        obs.problem(code, f"{shown} at {address}: {detail}", address=address, host=host, port=port)
    for code, detail in report.warnings:
        obs.warn(code, f"{shown} at {address}: {detail}", address=address, host=host, port=port)


async def probe_tls(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    async def check(address: str) -> None:
        conn = await secure_connection(obs, ctx, options, target.host, address, target.port, deadline)
        if conn is not None:
            conn.close()

    await each_address(obs, options, deadline, check, ctx.dns)


SCHEME = ProbeScheme(probe_tls)
