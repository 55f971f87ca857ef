"""Connecting to one address: TCP, then TLS, each phase with its own cause codes.

Verification is never turned off silently: the handshake verifies against the system
store plus the CA file, and only when that fails do we connect again permissively, to
read and report the certificate the server actually serves. When the same chain failed at
the last check, one handshake that does not abort on it reads it again, and OpenSSL's
error on that very chain is reused (ronda/tlscontexts.py, KnownFailures).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ronda.certs.session import TlsSession
from ronda.tlscontexts import KnownFailure, Served, TlsClient, TlsContexts


@dataclass(frozen=True)
class Failure:
    code: str
    detail: str
    retry_permissively: bool = False  # a TLS refusal that a permissive handshake may get past


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    tls: TlsSession | None = None

    @property
    def protocol(self) -> str | None:
        """What the TLS handshake agreed to speak (ALPN: "h2", "http/1.1"); None without TLS
        or when the server chose nothing."""
        ssl_object = self.writer.get_extra_info("ssl_object")
        return ssl_object.selected_alpn_protocol() if ssl_object is not None else None

    def close(self) -> None:
        # abort(), not close(): a monitor has read all it needs, and a hostile peer that
        # never answers TLS close_notify must not keep the transport alive.
        self.writer.transport.abort()


# TLS alerts a server sends about the client's certificate (mutual TLS). With TLS 1.3
# they arrive after the handshake, on the first read, so the exchange checks them too.
_CLIENT_CERTIFICATE_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate (--cert, client_cert)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused the client certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the server refused the client certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server refused the client certificate as expired",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the client certificate's issuer",
    "TLSV1_ALERT_ACCESS_DENIED": "the server denied access to this client certificate",
}


def client_certificate_refusal(exc: ssl.SSLError) -> str | None:
    """Plain words for a server's refusal of our client certificate, or None."""
    return _CLIENT_CERTIFICATE_ALERTS.get(exc.reason or "")


_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}
_LIMIT = 2**16


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def open_tcp(address: str, port: int, deadline: float) -> Connection | Failure:
    where = _hostport(address, port)
    try:
        async with asyncio.timeout(_remaining(deadline)):
            reader, writer = await asyncio.open_connection(address, port, limit=_LIMIT)
    except TimeoutError:
        return Failure("tcp_timeout", f"{where} did not accept a connection in time")
    except ConnectionRefusedError:
        return Failure("tcp_refused", f"{where} refused the connection: nothing is listening")
    except ConnectionResetError:
        return Failure("tcp_refused", f"{where} reset the connection as it opened")
    except OSError as exc:
        code = "tcp_unreachable" if exc.errno in _UNREACHABLE else "tcp_refused"
        return Failure(code, f"{where}: {exc.strerror or exc}")
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Connection(reader, writer)


Prelude = Callable[[Connection, float], Awaitable[Failure | None]]
"""What a protocol says before TLS starts (STARTTLS): prelude(connection, deadline)
returns a Failure when the server does not offer TLS."""


async def _open_plain(address: str, port: int, deadline: float, prelude: Prelude | None) -> Connection | Failure:
    conn = await open_tcp(address, port, deadline)
    if isinstance(conn, Failure) or prelude is None:
        return conn
    failure = await prelude(conn, deadline)
    if failure is not None:
        conn.close()
        return failure
    return conn


async def open_tls(
    address: str,
    port: int,
    server_name: str,
    contexts: TlsContexts,
    client: TlsClient,
    deadline: float,
    prelude: Prelude | None = None,
) -> Connection | Failure:
    """TCP (and a STARTTLS prelude) plus a verified handshake; when verification fails,
    or the handshake is refused by our TLS library's policy, a permissive one to read the
    certificate, with the error kept on the session. A chain that failed verification at
    the last check and is served again costs one handshake (tlscontexts.KnownFailures)."""
    endpoint = (client, server_name, address, port)
    known = contexts.known_failures.get(endpoint)
    if known is not None:
        again = await _known_failure(address, port, server_name, contexts, client, deadline, prelude, known)
        if again is not None:
            return again
        contexts.known_failures.forget(endpoint)
    first: Connection | Failure | None = None
    verify_error: tuple[int, str] | None = None
    try:
        first = await _connected(address, port, server_name, contexts.verifying(client), deadline, prelude, None)
    except ssl.SSLCertVerificationError as exc:
        verify_error = (exc.verify_code, exc.verify_message)
    if isinstance(first, Connection) or (isinstance(first, Failure) and not first.retry_permissively):
        return first
    # Verification failed or our TLS policy refused the handshake: read what the server
    # serves anyway, so the verdict can name what is wrong with it.
    permissive = contexts.permissive(client)
    second = await _connected(address, port, server_name, permissive, deadline, prelude, verify_error)
    if isinstance(second, Connection) and second.tls is not None:
        if first is not None:
            second.tls.handshake_error = first.detail
        elif verify_error is not None:
            contexts.known_failures.remember(endpoint, _served(second.tls), verify_error)
    return second if isinstance(second, Connection) or first is None else first


async def _known_failure(
    address: str,
    port: int,
    server_name: str,
    contexts: TlsContexts,
    client: TlsClient,
    deadline: float,
    prelude: Prelude | None,
    known: KnownFailure,
) -> Connection | Failure | None:
    """One handshake under the verifying policy, not aborted by the certificate: the
    connection with OpenSSL's known error when the server serves the chain that failed,
    a failure to connect as it is, or None when the full path must run (another chain,
    or a handshake the policy refuses)."""
    lenient = contexts.lenient(client)
    done = await _connected(address, port, server_name, lenient, deadline, prelude, known.verify_error)
    if isinstance(done, Failure):
        return done if not done.retry_permissively else None
    if done.tls is not None and _served(done.tls) == known.served:
        return done
    done.close()
    return None


async def _connected(
    address: str,
    port: int,
    server_name: str,
    context: ssl.SSLContext,
    deadline: float,
    prelude: Prelude | None,
    verify_error: tuple[int, str] | None,
) -> Connection | Failure:
    """A new connection (and its prelude) and a handshake under `context`: the connection,
    or why it failed. A verification error is raised as _handshake raises it, and nothing is
    left open whatever is raised."""
    conn = await _open_plain(address, port, deadline, prelude)
    if isinstance(conn, Failure):
        return conn
    try:
        return await _handshake(conn, server_name, context, deadline, verify_error)
    except BaseException:
        conn.close()
        raise


def _served(session: TlsSession) -> Served:
    return session.leaf_der, tuple(session.chain_ders)


async def _handshake(
    conn: Connection,
    server_name: str,
    context: ssl.SSLContext,
    deadline: float,
    verify_error: tuple[int, str] | None,
) -> Connection | Failure:
    where = _hostport(*conn.writer.get_extra_info("peername")[:2])
    try:
        async with asyncio.timeout(_remaining(deadline)):
            await conn.writer.start_tls(context, server_hostname=server_name)
    except ssl.SSLCertVerificationError:
        raise
    except TimeoutError:
        conn.close()
        return Failure("tls_handshake_failed", f"{where}: the TLS handshake did not complete in time")
    except ssl.SSLError as exc:
        conn.close()
        refusal = client_certificate_refusal(exc)
        if refusal:
            return Failure("auth_failed", f"{where}: {refusal}")
        reason = exc.reason or str(exc) or type(exc).__name__
        return Failure("tls_handshake_failed", f"{where}: TLS handshake failed ({reason})", retry_permissively=True)
    except (OSError, EOFError) as exc:
        # Servers often answer a ClientHello they dislike (an old protocol, no shared
        # cipher) by hanging up rather than with an alert: worth a permissive retry too.
        conn.close()
        reason = str(exc) or type(exc).__name__
        return Failure("tls_handshake_failed", f"{where}: TLS handshake failed ({reason})", retry_permissively=True)
    conn.tls = _session(conn.writer, verify_error)
    return conn


def _session(writer: asyncio.StreamWriter, verify_error: tuple[int, str] | None) -> TlsSession:
    ssl_object = writer.get_extra_info("ssl_object")
    leaf = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    chain: list[bytes] = []
    # The chain as the server sent it. Python 3.13 makes this public; 3.11 has it on the
    # underlying _ssl object.
    raw = getattr(ssl_object, "_sslobj", None)
    if raw is not None and hasattr(raw, "get_unverified_chain"):
        sent = raw.get_unverified_chain() or []
        chain = [_der(cert) for cert in sent[1:]]
    verified = None
    verifying = ssl_object is not None and ssl_object.context.verify_mode == ssl.CERT_REQUIRED
    if verifying and raw is not None and hasattr(raw, "get_verified_chain"):
        # Only a verifying handshake built a path; a permissive one only read what was sent.
        verified = [_der(cert) for cert in raw.get_verified_chain() or []] or None
    version = ssl_object.version() if ssl_object else None
    return TlsSession(leaf, chain, version, verify_error, verified_ders=verified)


def _der(cert: object) -> bytes:
    return cert.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined, no-any-return]
