"""tcp:// and tls:// targets against real loopback sockets: refused, timed out, up, and the
certificate behind a bare TLS port."""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ronda.errors import UsageError


@pytest.fixture
def listen() -> Iterator[Callable[..., int]]:
    """listen(host, port=0) -> port: a bare listening socket; the kernel completes handshakes.

    Bare sockets rather than the world's WebServer: a tcp:// check connects and leaves before
    an asyncio server has processed the accept, and closing that server then (Python 3.11)
    leaks the half-accepted socket as a ResourceWarning."""
    sockets: list[socket.socket] = []

    def start(host: str, port: int = 0) -> int:
        sock = socket.socket()
        sockets.append(sock)
        sock.bind((host, port))
        sock.listen(8)
        return sock.getsockname()[1]

    yield start
    for sock in sockets:
        sock.close()


@pytest.fixture
def full_backlog_port() -> Iterator[int]:
    """A listening port whose accept queue is full, so the kernel drops new SYNs: a connection
    is neither accepted nor refused, as behind a firewall that drops packets.

    Linux admits one connection beyond listen(0)'s backlog; more handshakes stay unanswered.
    Clients are added until one is seen hanging, so the port is known to drop SYNs before
    the test uses it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):
            client = socket.socket()
            client.setblocking(False)
            fillers.append(client)
            client.connect_ex(("127.0.0.1", port))
            _, writable, _ = select.select([], [client], [], 0.2)
            if not writable:
                break  # this handshake is hanging: the queue is full
        else:
            pytest.skip("this kernel completes handshakes beyond a full accept queue; cannot make a SYN drop")
        yield port
    finally:
        for client in fillers:
            client.close()
        server.close()


# --- tcp:// --------------------------------------------------------------------------------------


def test_a_closed_port_is_refused(check, free_port):
    verdict = check(f"tcp://127.0.0.1:{free_port}")
    assert (verdict.status, verdict.cause) == ("down", "tcp_refused")
    assert f"127.0.0.1:{free_port} refused the connection" in verdict.summary
    [finding] = verdict.findings
    assert (finding.address, finding.port) == ("127.0.0.1", free_port)


def test_a_port_that_drops_connections_is_a_tcp_timeout(check, full_backlog_port):
    verdict = check(f"tcp://127.0.0.1:{full_backlog_port}", timeout=0.5)
    assert (verdict.status, verdict.cause) == ("down", "tcp_timeout")
    assert "did not accept a connection in time" in verdict.summary


def test_a_listening_port_is_up(check, listening_port):
    verdict = check(f"tcp://127.0.0.1:{listening_port}")
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert verdict.addresses == ("127.0.0.1",)
    assert verdict.findings == () and verdict.certificates == ()
    assert verdict.http is None


def listening_on_both(listen: Callable[..., int], first: str, second: str) -> int:
    """One port open on two addresses. The first's port is the kernel's choice, and another
    socket of the machine may hold that number on the second address: then another port."""
    for _ in range(20):
        port = listen(first)
        try:
            listen(second, port)
        except OSError:
            continue
        return port
    raise AssertionError(f"no port free on both {first} and {second}")


def test_a_name_is_connected_at_every_address_it_resolves_to(listen, check):
    port = listening_on_both(listen, "127.0.0.2", "127.0.0.3")
    verdict = check(f"tcp://db.test:{port}", resolve={("db.test", port): ("127.0.0.2", "127.0.0.3")})
    assert verdict.status == "up", verdict.summary
    assert verdict.addresses == ("127.0.0.2", "127.0.0.3")


def test_one_closed_address_among_open_ones_is_degraded(listen, check):
    port = listen("127.0.0.2")
    verdict = check(f"tcp://db.test:{port}", resolve={("db.test", port): ("127.0.0.2", "127.0.0.4")})
    assert (verdict.status, verdict.cause) == ("degraded", "tcp_refused")
    assert [f.address for f in verdict.findings] == ["127.0.0.4"]
    assert "1 of 2 addresses work" in verdict.summary


def test_a_tcp_target_without_a_port_is_a_usage_error(check):
    with pytest.raises(UsageError, match="need a port"):
        check("tcp://127.0.0.1")


# --- tls:// --------------------------------------------------------------------------------------


def test_a_tls_port_with_a_good_certificate_is_up(web, pki, check):
    server = web(tls=pki.server_context("mail.test"))
    verdict = check(f"tls://mail.test:{server.port}", resolve={("mail.test", server.port): ("127.0.0.1",)})
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    [cert] = verdict.certificates
    assert (cert.host, cert.address, cert.port) == ("mail.test", "127.0.0.1", server.port)
    assert cert.sans == ("mail.test",)
    assert 88 < cert.days_left < 90
    assert cert.problems == ()
    assert cert.chain, "the intermediate the server sends is listed"
    assert verdict.http is None  # nothing is requested over a bare TLS port
    assert server.requests == 0


def test_a_tls_port_with_an_expired_certificate_is_down_and_the_certificate_still_read(web, pki, check):
    now = datetime.now(UTC)
    server = web(
        tls=pki.server_context("mail.test", valid_from=now - timedelta(days=95), valid_until=now - timedelta(days=5))
    )
    verdict = check(f"tls://mail.test:{server.port}", resolve={("mail.test", server.port): ("127.0.0.1",)})
    assert (verdict.status, verdict.cause) == ("down", "cert_expired")
    assert "expired 5.0 days ago" in verdict.summary
    [cert] = verdict.certificates
    assert cert.subject and cert.issuer and cert.serial
    assert cert.sans == ("mail.test",)
    assert -5.1 < cert.days_left < -4.9
    assert cert.problems == ("cert_expired",)


def test_a_tls_port_with_a_certificate_for_another_name_is_a_mismatch(web, pki, check):
    server = web(tls=pki.server_context("other.test"))
    verdict = check(f"tls://mail.test:{server.port}", resolve={("mail.test", server.port): ("127.0.0.1",)})
    assert (verdict.status, verdict.cause) == ("down", "cert_hostname_mismatch")
    [cert] = verdict.certificates
    assert cert.sans == ("other.test",)


def test_a_tls_port_on_an_ip_address_needs_an_ip_address_in_the_certificate(web, pki, check):
    named = web(tls=pki.server_context("127.0.0.1"))
    assert check(f"tls://127.0.0.1:{named.port}").status == "up"
    unnamed = web(tls=pki.server_context("localhost"))
    assert check(f"tls://127.0.0.1:{unnamed.port}").cause == "cert_hostname_mismatch"


def test_a_tls_port_that_is_closed_is_refused_before_any_handshake(check, free_port):
    verdict = check(f"tls://127.0.0.1:{free_port}")
    assert (verdict.status, verdict.cause) == ("down", "tcp_refused")
    assert verdict.certificates == ()


def test_a_port_that_speaks_no_tls_fails_the_handshake(web, check):
    server = web()
    server.banner = b"220 mail.test ESMTP\r\n" * 20
    verdict = check(f"tls://127.0.0.1:{server.port}")
    assert (verdict.status, verdict.cause) == ("down", "tls_handshake_failed")
