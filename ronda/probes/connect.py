"""Connecting to one address: TCP, then TLS, each phase with its own cause codes.

Verification is never turned off silently: the handshake verifies against the system
store plus the CA file, and only when that fails do we connect again permissively, to
read and report the certificate the server actually serves.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from dataclasses import dataclass

from ronda.certs.session import TlsSession
from ronda.tlscontexts import TlsContexts


@dataclass(frozen=True)
class Failure:
    code: str
    detail: str


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    tls: TlsSession | None = None

    def close(self) -> None:
        # abort(), not close(): a monitor has read all it needs, and a hostile peer that
        # never answers TLS close_notify must not keep the transport alive.
        self.writer.transport.abort()


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


async def open_tls(
    address: str, port: int, server_name: str, contexts: TlsContexts, ca_file: str | None, deadline: float
) -> Connection | Failure:
    """TCP plus a verified handshake; on a verification failure, a permissive one to read
    the certificate, with the verification error kept on the session."""
    conn = await open_tcp(address, port, deadline)
    if isinstance(conn, Failure):
        return conn
    try:
        return await _handshake(conn, server_name, contexts.verifying(ca_file), deadline, None)
    except ssl.SSLCertVerificationError as exc:
        conn.close()
        verify_error = (exc.verify_code, exc.verify_message)
    except Exception:
        conn.close()
        raise
    # Verification failed; read what the server serves anyway, so the verdict can name it.
    conn = await open_tcp(address, port, deadline)
    if isinstance(conn, Failure):
        return conn
    return await _handshake(conn, server_name, contexts.permissive(), deadline, verify_error)


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
    except (ssl.SSLError, OSError, EOFError) as exc:
        conn.close()
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        return Failure("tls_handshake_failed", f"{where}: TLS handshake failed ({reason})")
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
        chain = [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in sent[1:]]  # type: ignore[attr-defined]
    version = ssl_object.version() if ssl_object else None
    return TlsSession(leaf, chain, version, verify_error)
