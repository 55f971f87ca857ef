"""Mail, directory and database servers behind STARTTLS (smtp, imap, pop3, ldap, postgres) and
implicit TLS (smtps, imaps, pop3s, ldaps), against real loopback servers from ronda/world/mail.py:
the certificate read as for tls://, and every way the dialogue before it can go wrong."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ronda.probes.starttls import (
    LDAP_START_TLS_OID,
    POSTGRES_SSL_REQUEST,
    NotProtocol,
    ldap_extended_request,
    ldap_message,
)
from ronda.target import parse_target
from ronda.world.mail import ServiceServer, ldap_extended_response

STARTTLS = ["smtp", "imap", "pop3", "ldap", "postgres"]
IMPLICIT = ["smtps", "imaps", "pop3s", "ldaps"]
NAMES = {"smtp": "SMTP", "imap": "IMAP", "pop3": "POP3", "ldap": "LDAP", "postgres": "PostgreSQL"}
# What the server's refusal to start TLS reads as, per protocol.
DECLINED = {
    "smtp": "the server does not offer STARTTLS: its answer to EHLO was '250-mail.test greets you | 250-PIPELINING",
    "imap": "the server does not offer STARTTLS: its answer to a1 STARTTLS was 'a1 BAD unknown command'",
    "pop3": "the server does not offer STARTTLS (STLS): its answer to STLS was '-ERR unknown command'",
    "ldap": "the server does not offer StartTLS: its answer to the LDAP StartTLS request was "
    "'extendedResponse id=1 resultCode=2 (protocolError) unsupported extended operation'",
    "postgres": "the server does not accept TLS: its answer to SSLRequest was 'N (no TLS here)'",
}
NO_ANSWER = {
    "smtp": "answer to STARTTLS",
    "imap": "answer to a1 STARTTLS",
    "pop3": "answer to STLS",
    "ldap": "answer to the LDAP StartTLS request",
    "postgres": "answer to SSLRequest",
}


@pytest.fixture
def service(world_loop, pki) -> Iterator[Callable[..., ServiceServer]]:
    """service("smtps", mode=..., tls=ctx) starts a server for that scheme; all stop at the end."""
    started: list[ServiceServer] = []

    def start(scheme: str, **options) -> ServiceServer:
        options.setdefault("tls", pki.server_context("mail.test"))
        protocol = scheme.removesuffix("s") if scheme in IMPLICIT else scheme
        server = ServiceServer(protocol, implicit=scheme in IMPLICIT, **options)
        world_loop.run(server.start())
        started.append(server)
        return server

    yield start
    for server in started:
        world_loop.run(server.stop())


def at(port: int) -> dict:
    return {"resolve": {("mail.test", port): ("127.0.0.1",)}}


def protocol_of(scheme: str) -> str:
    return NAMES[scheme.removesuffix("s") if scheme in IMPLICIT else scheme]


# --- up ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", STARTTLS + IMPLICIT)
def test_a_healthy_server_is_up_with_its_certificate_read(service, check, scheme):
    server = service(scheme)
    verdict = check(f"{scheme}://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    [cert] = verdict.certificates
    assert (cert.host, cert.address, cert.port) == ("mail.test", "127.0.0.1", server.port)
    assert cert.sans == ("mail.test",)
    assert 88 < cert.days_left < 90
    assert cert.problems == ()
    assert server.starttls_agreed == (0 if scheme in IMPLICIT else 1), "STARTTLS schemes reach TLS by the dialogue"


@pytest.mark.parametrize(
    ("scheme", "port"),
    [
        ("smtp", 25),
        ("smtps", 465),
        ("imap", 143),
        ("imaps", 993),
        ("pop3", 110),
        ("pop3s", 995),
        ("ldap", 389),
        ("ldaps", 636),
        ("postgres", 5432),
    ],
)
def test_each_scheme_has_its_well_known_port(scheme, port):
    assert parse_target(f"{scheme}://mail.test").port == port
    assert parse_target(f"{scheme}://mail.test:587").port == 587


def test_the_ldap_starttls_request_is_the_31_bytes_every_directory_server_knows():
    assert ldap_extended_request(LDAP_START_TLS_OID) == bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"
    assert bytes.fromhex("0000000804d2162f") == POSTGRES_SSL_REQUEST  # length 8, then the code 80877103


def read_ldap(data: bytes) -> str:
    async def read() -> str:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await ldap_message(reader)

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(
            ldap_extended_response(1, 0, long_lengths=False),
            "extendedResponse id=1 resultCode=0 (success) ",
            id="short",
        ),
        pytest.param(
            ldap_extended_response(1, 52),
            "extendedResponse id=1 resultCode=52 (unavailable) TLS not available",
            id="AD",
        ),
    ],
)
def test_an_ldap_answer_is_read_with_short_and_active_directory_lengths(data, text):
    assert read_ldap(data) == text


def test_bytes_that_are_not_an_ldap_message_are_named_as_such():
    with pytest.raises(NotProtocol, match=r"HTTP/1\.1 400"):
        read_ldap(b"HTTP/1.1 400 Bad Request\r\n\r\n")


# --- certificates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", STARTTLS + IMPLICIT)
def test_an_expired_certificate_is_down_and_still_read(service, pki, check, scheme):
    now = datetime.now(UTC)
    expired = pki.server_context("mail.test", valid_from=now - timedelta(days=95), valid_until=now - timedelta(days=5))
    server = service(scheme, tls=expired)
    verdict = check(f"{scheme}://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "cert_expired"), verdict.summary
    assert "expired 5.0 days ago" in verdict.summary
    [cert] = verdict.certificates
    assert cert.subject and cert.issuer and -5.1 < cert.days_left < -4.9
    assert cert.problems == ("cert_expired",)
    assert [f.code for f in verdict.findings] == ["cert_expired"], "the service itself still answers"


def test_a_certificate_for_another_name_behind_starttls_is_a_mismatch(service, pki, check):
    server = service("smtp", tls=pki.server_context("other.test"))
    verdict = check(f"smtp://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "cert_hostname_mismatch")
    assert verdict.certificates[0].sans == ("other.test",)


# --- the dialogue before TLS ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", STARTTLS)
def test_a_server_that_does_not_offer_starttls_is_a_protocol_error(service, check, scheme):
    server = service(scheme, mode="no_starttls")
    verdict = check(f"{scheme}://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert verdict.summary.startswith(f"mail.test at 127.0.0.1: {DECLINED[scheme]}"), verdict.summary
    assert verdict.certificates == ()
    assert server.starttls_agreed == 0


@pytest.mark.parametrize(
    ("scheme", "words"),
    [
        ("smtp", "the server refused STARTTLS: its answer to STARTTLS was '454 4.7.0 TLS not available"),
        ("imap", "the server does not offer STARTTLS: its answer to a1 STARTTLS was 'a1 NO TLS is not available now'"),
        ("ldap", "resultCode=52 (unavailable) TLS not available"),
    ],
)
def test_a_server_that_offers_starttls_then_refuses_it_is_a_protocol_error(service, check, scheme, words):
    server = service(scheme, mode="refuse_starttls")
    verdict = check(f"{scheme}://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert words in verdict.summary


@pytest.mark.parametrize("scheme", STARTTLS)
def test_a_server_that_answers_in_another_protocol_is_a_protocol_error(service, check, scheme):
    server = service(scheme, mode="garbage")
    verdict = check(f"{scheme}://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert f"the server does not speak {protocol_of(scheme)}: its " in verdict.summary
    assert "HTTP/1.1 400" in verdict.summary, "the finding quotes what the server said"
    assert verdict.certificates == ()


@pytest.mark.parametrize("scheme", ["smtp", "imap", "pop3"])
def test_a_port_that_greets_like_ssh_does_not_speak_the_mail_protocol(web, check, scheme):
    server = web()
    server.banner = b"SSH-2.0-OpenSSH_9.6\r\n"
    verdict = check(f"{scheme}://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert f"does not speak {protocol_of(scheme)}: its {protocol_of(scheme)} greeting was 'SSH-2.0-OpenSSH_9.6'" in (
        verdict.summary
    )


@pytest.mark.parametrize("scheme", STARTTLS)
def test_a_web_server_waiting_for_a_request_is_a_protocol_error_naming_the_missing_answer(web, check, scheme):
    server = web()  # an HTTP server says nothing until asked in HTTP: the dialogue waits for its deadline
    verdict = check(f"{scheme}://mail.test:{server.port}", timeout=0.5, **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    missing = NO_ANSWER[scheme] if scheme in ("ldap", "postgres") else f"{NAMES[scheme]} greeting"
    assert verdict.summary == f"mail.test at 127.0.0.1: the server sent no {missing} in time"


@pytest.mark.parametrize("scheme", STARTTLS)
def test_a_server_that_stalls_at_starttls_is_a_protocol_error_naming_the_step(service, check, scheme):
    server = service(scheme, mode="stall")
    verdict = check(f"{scheme}://mail.test:{server.port}", timeout=0.5, **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert verdict.summary == f"mail.test at 127.0.0.1: the server sent no {NO_ANSWER[scheme]} in time"


@pytest.mark.parametrize("scheme", STARTTLS)
def test_a_server_that_hangs_up_at_once_is_a_protocol_error(service, check, scheme):
    server = service(scheme, mode="close")
    verdict = check(f"{scheme}://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "the server closed the connection before its" in verdict.summary or (
        "the connection broke before" in verdict.summary
    ), verdict.summary


@pytest.mark.parametrize("scheme", STARTTLS + IMPLICIT)
def test_a_closed_port_is_refused(check, free_port, scheme):
    verdict = check(f"{scheme}://mail.test:{free_port}", **at(free_port))
    assert (verdict.status, verdict.cause) == ("down", "tcp_refused")


# --- implicit TLS: the service behind the certificate must answer ---------------------------------


@pytest.mark.parametrize("scheme", IMPLICIT)
def test_a_tls_server_that_greets_in_another_protocol_is_a_protocol_error_with_its_certificate_read(
    service, check, scheme
):
    server = service(scheme, mode="garbage")
    verdict = check(f"{scheme}://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert f"the server does not speak {protocol_of(scheme)}" in verdict.summary
    assert "HTTP/1.1 400" in verdict.summary
    [cert] = verdict.certificates
    assert cert.problems == ()


@pytest.mark.parametrize("scheme", IMPLICIT)
def test_an_https_server_behind_an_implicit_tls_port_is_a_protocol_error(web, pki, check, scheme):
    server = web(tls=pki.server_context("mail.test"))
    verdict = check(f"{scheme}://mail.test:{server.port}", timeout=0.5, **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "the server sent no" in verdict.summary
    assert verdict.certificates, "the handshake worked, so the certificate is read"


def test_a_tls_server_that_hangs_up_after_the_handshake_is_a_protocol_error(service, check):
    server = service("imaps", mode="close")
    verdict = check(f"imaps://mail.test:{server.port}", **at(server.port))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "the server closed the connection before its IMAP greeting" in verdict.summary


# --- the command line -------------------------------------------------------------------------------


def test_the_command_line_checks_smtp_starttls_and_exits_0(service, ca_file, repo_root):
    server = service("smtp")
    env = {**os.environ, "PYTHONPATH": str(repo_root), "NO_COLOR": "1", "COLUMNS": "200"}
    args = [f"smtp://mail.test:{server.port}", "--resolve", f"mail.test:{server.port}:127.0.0.1"]
    proc = subprocess.run(
        [sys.executable, "-m", "ronda", "check", *args, "--ca-file", ca_file],
        capture_output=True,
        text=True,
        cwd=repo_root,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"RONDA OK - smtp://mail.test:{server.port} is up")
    assert "cert_days_left=" in proc.stdout
