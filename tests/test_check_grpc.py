"""grpc:// and grpcs://: the standard gRPC health check against grpcio's own health server on
loopback (an independent implementation of gRPC, its health service and, for grpcs://, of TLS
with ALPN), one test per cause code; over TLS, the certificate as https:// reports it."""

from __future__ import annotations

import asyncio
import json
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from hypothesis import given
from hypothesis import strategies as st

from ronda.check import run_check
from ronda.probes.h2call import CallError
from ronda.target import CheckOptions, Expectations, parse_target
from ronda.world.pki import Leaf
from tests.support import ronda_check


class Refusing(grpc.ServerInterceptor):
    """Refuses every call as a server behind an authenticating interceptor does."""

    def intercept_service(self, continuation, handler_call_details):
        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing token")

        return grpc.unary_unary_rpc_method_handler(refuse)


@pytest.fixture
def grpc_server():
    """start(health=True, refusing=False, tls=None) -> (port, health servicer or None); all stop
    at the end. `tls`: grpcio's server credentials, for grpcs://."""
    started = []

    def start(with_health: bool = True, refusing: bool = False, tls: grpc.ServerCredentials | None = None):
        interceptors = [Refusing()] if refusing else []
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=interceptors)
        servicer = None
        if with_health:
            servicer = health.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        where = "127.0.0.1:0"
        port = server.add_insecure_port(where) if tls is None else server.add_secure_port(where, tls)
        server.start()
        started.append(server)
        return port, servicer

    yield start
    for server in started:
        server.stop(grace=None).wait()


def check(url: str, **options):
    options.setdefault("timeout", 5)
    return asyncio.run(run_check(parse_target(url), CheckOptions(**options)))


def test_a_serving_server_is_up(grpc_server):
    port, _ = grpc_server()
    verdict = check(f"grpc://127.0.0.1:{port}/")
    assert verdict.status == "up", verdict.summary
    assert verdict.facts["grpc"] == {"service": "", "status": "SERVING"}
    assert "gRPC health SERVING" in verdict.summary


def test_a_service_not_serving_is_not_serving(grpc_server):
    port, servicer = grpc_server()
    servicer.set("orders.v1.Orders", health_pb2.HealthCheckResponse.SERVING)
    url = f"grpc://127.0.0.1:{port}/orders.v1.Orders"
    assert check(url).status == "up"
    servicer.set("orders.v1.Orders", health_pb2.HealthCheckResponse.NOT_SERVING)
    verdict = check(url)
    assert (verdict.status, verdict.cause) == ("down", "not_serving")
    assert "the service 'orders.v1.Orders' is NOT_SERVING" in verdict.summary
    assert verdict.facts["grpc"]["status"] == "NOT_SERVING"


def test_a_service_the_health_server_does_not_know_is_not_serving(grpc_server):
    port, _ = grpc_server()
    verdict = check(f"grpc://127.0.0.1:{port}/billing.v1.Billing")
    assert verdict.cause == "not_serving"
    assert "the health service does not know the service 'billing.v1.Billing' (answers NOT_FOUND" in verdict.summary


def test_a_server_without_the_health_service_is_a_protocol_error(grpc_server):
    port, _ = grpc_server(with_health=False)
    verdict = check(f"grpc://127.0.0.1:{port}/")
    assert verdict.cause == "protocol_error"
    assert "answers UNIMPLEMENTED" in verdict.summary and "no gRPC health service" in verdict.summary


def test_a_refused_call_is_auth_failed(grpc_server):
    port, _ = grpc_server(refusing=True)
    verdict = check(f"grpc://127.0.0.1:{port}/")
    assert verdict.cause == "auth_failed"
    assert "answers UNAUTHENTICATED: missing token" in verdict.summary


def test_an_http1_server_is_no_grpc_server(web):
    server = web()
    verdict = check(f"grpc://127.0.0.1:{server.port}/")
    assert verdict.cause == "protocol_error"
    assert "HTTP/1, not the HTTP/2 gRPC needs" in verdict.summary


def test_nothing_listening_is_tcp_refused(free_port):
    assert check(f"grpc://127.0.0.1:{free_port}/").cause == "tcp_refused"


def test_a_server_that_never_answers_is_a_timeout(listening_port):
    verdict = check(f"grpc://127.0.0.1:{listening_port}/", timeout=1)
    assert verdict.cause == "http_timeout"


def test_slower_than_allowed_is_slow_response(grpc_server):
    port, _ = grpc_server()
    verdict = check(f"grpc://127.0.0.1:{port}/", expect=Expectations(max_latency=1e-9))
    assert (verdict.status, verdict.cause) == ("degraded", "slow_response")


def test_a_grpc_url_needs_a_port(repo_root):
    run = ronda_check(repo_root, "grpc://127.0.0.1/")
    assert run.returncode == 3
    assert "grpc:// targets need a port" in run.stdout


def test_ronda_check_prints_the_health_status(grpc_server, repo_root):
    port, servicer = grpc_server()
    servicer.set("orders.v1.Orders", health_pb2.HealthCheckResponse.NOT_SERVING)
    run = ronda_check(repo_root, f"grpc://127.0.0.1:{port}/orders.v1.Orders", "--json")
    assert run.returncode == 2, run.stdout + run.stderr
    verdict = json.loads(run.stdout)
    assert verdict["cause"] == "not_serving"
    assert verdict["grpc"] == {"service": "orders.v1.Orders", "status": "NOT_SERVING"}


# --- grpcs://: the same call over TLS, the certificate judged as https:// judges it --------------

HOST = "grpc.test"


def credentials(leaf: Leaf, client_ca: bytes | None = None) -> grpc.ServerCredentials:
    """grpcio's TLS serving `leaf` with its chain (ALPN h2, as every gRPC server offers it);
    with `client_ca`, requiring a client certificate it issued."""
    return grpc.ssl_server_credentials(
        [(leaf.key_pem, leaf.chain_pem)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def check_tls(url: str, port: int, **options):
    """check(url) with HOST at 127.0.0.1, as --resolve says it."""
    return check(url, resolve={(HOST, port): ("127.0.0.1",)}, **options)


def test_a_serving_server_over_tls_is_up_with_its_certificate(grpc_server, pki, ca_file):
    port, _ = grpc_server(tls=credentials(pki.leaf(HOST)))
    verdict = check_tls(f"grpcs://{HOST}:{port}/", port, ca_file=ca_file)
    assert verdict.status == "up", verdict.summary
    assert verdict.facts["grpc"] == {"service": "", "status": "SERVING"}
    assert "gRPC health SERVING" in verdict.summary
    [cert] = verdict.certificates
    assert (cert.host, cert.address, cert.subject, cert.problems) == (HOST, "127.0.0.1", f"CN={HOST}", ())
    assert [entry.subject for entry in cert.chain] == [pki.intermediate.cert.subject.rfc4514_string()]


def test_a_service_not_serving_over_tls_is_not_serving(grpc_server, pki, ca_file):
    port, servicer = grpc_server(tls=credentials(pki.leaf(HOST)))
    servicer.set("orders.v1.Orders", health_pb2.HealthCheckResponse.NOT_SERVING)
    verdict = check_tls(f"grpcs://{HOST}:{port}/orders.v1.Orders", port, ca_file=ca_file)
    assert (verdict.status, verdict.cause) == ("down", "not_serving")
    assert "the service 'orders.v1.Orders' is NOT_SERVING" in verdict.summary
    assert verdict.facts["grpc"] == {"service": "orders.v1.Orders", "status": "NOT_SERVING"}
    assert len(verdict.certificates) == 1


def test_an_expired_certificate_is_cert_expired_as_for_https(grpc_server, pki, ca_file, web):
    now = datetime.now(UTC)
    expired = pki.leaf(HOST, valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2))
    port, _ = grpc_server(tls=credentials(expired))
    verdict = check_tls(f"grpcs://{HOST}:{port}/", port, ca_file=ca_file)
    assert (verdict.status, verdict.cause) == ("down", "cert_expired")
    assert "cert_expired" in verdict.certificates[0].problems
    # The call is still made, over the connection that showed the certificate.
    assert verdict.facts["grpc"]["status"] == "SERVING"
    # An https:// server serving the same certificate is told in the same words.
    https = web(tls=pki.context_for(expired))
    same = check(f"https://{HOST}:{https.port}/", resolve={(HOST, https.port): ("127.0.0.1",)}, ca_file=ca_file)
    assert same.cause == "cert_expired"
    assert verdict.summary.split(": ", 1)[1] == same.summary.split(": ", 1)[1]


def test_an_untrusted_ca_without_ca_file_is_cert_untrusted(grpc_server, pki):
    port, _ = grpc_server(tls=credentials(pki.leaf(HOST)))
    verdict = check_tls(f"grpcs://{HOST}:{port}/", port)
    assert (verdict.status, verdict.cause) == ("down", "cert_untrusted")
    assert "cert_untrusted" in verdict.certificates[0].problems


def test_a_certificate_for_another_name_is_cert_hostname_mismatch(grpc_server, pki, ca_file):
    port, _ = grpc_server(tls=credentials(pki.leaf("other.test")))
    verdict = check_tls(f"grpcs://{HOST}:{port}/", port, ca_file=ca_file)
    assert verdict.cause == "cert_hostname_mismatch"


@pytest.mark.parametrize(("alpn", "chose"), [((), "nothing"), (("http/1.1",), "http/1.1")])
def test_a_tls_server_without_h2_in_alpn_is_a_protocol_error(web, pki, ca_file, alpn, chose):
    tls = pki.server_context(HOST)
    if alpn:
        tls.set_alpn_protocols(list(alpn))
    server = web(tls=tls)
    verdict = check_tls(f"grpcs://{HOST}:{server.port}/", server.port, ca_file=ca_file)
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert f"does not speak HTTP/2 over TLS (ALPN chose {chose})" in verdict.summary
    assert len(verdict.certificates) == 1  # analysed all the same


def test_a_plain_grpc_server_is_no_grpcs_server(grpc_server):
    port, _ = grpc_server()
    verdict = check(f"grpcs://127.0.0.1:{port}/")
    assert (verdict.status, verdict.cause) == ("down", "tls_handshake_failed")


def test_a_server_that_requires_a_client_certificate(grpc_server, pki, ca_file, tmp_path):
    root = Path(ca_file).read_bytes()
    port, _ = grpc_server(tls=credentials(pki.leaf(HOST), client_ca=root))
    url = f"grpcs://{HOST}:{port}/"
    refused = check_tls(url, port, ca_file=ca_file)
    # TLS 1.3 sends the refusal after the handshake: read as an alert, or lost to the hang-up
    # (as for https://, tests/test_client_and_deployment.py), the summary names the certificate.
    assert refused.cause in ("auth_failed", "protocol_error"), refused.summary
    assert "client certificate" in refused.summary
    client = pki.leaf("ronda client", client=True)
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(client.chain_pem)
    key.write_bytes(client.key_pem)
    verdict = check_tls(url, port, ca_file=ca_file, client_cert=str(cert), client_key=str(key))
    assert verdict.status == "up", verdict.summary


def test_grpcs_is_port_443_and_grpc_still_needs_one():
    assert parse_target("grpcs://api.example/orders.v1.Orders").port == 443
    assert parse_target("grpcs://api.example:8443/").port == 8443


def test_ronda_check_grpcs_prints_the_certificate(grpc_server, pki, ca_file, repo_root):
    port, servicer = grpc_server(tls=credentials(pki.leaf(HOST)))
    servicer.set("orders.v1.Orders", health_pb2.HealthCheckResponse.SERVING)
    args = ("--ca-file", ca_file, "--resolve", f"{HOST}:{port}:127.0.0.1", "--json")
    run = ronda_check(repo_root, f"grpcs://{HOST}:{port}/orders.v1.Orders", *args)
    assert run.returncode == 0, run.stdout + run.stderr
    verdict = json.loads(run.stdout)
    assert verdict["grpc"] == {"service": "orders.v1.Orders", "status": "SERVING"}
    assert [c["subject"] for c in verdict["certificates"]] == [f"CN={HOST}"]


# --- what a stranger's bytes can do to the hand-written message reader -------------------------


@given(st.binary(max_size=64))
def test_any_message_bytes_read_as_a_status_or_a_call_error(data):
    from ronda.probes.grpc import _health_status, _message

    for body in (data, b"\x00" + len(data).to_bytes(4, "big") + data):
        try:
            status = _health_status(_message(body))
        except CallError as exc:
            assert exc.code == "protocol_error"
        else:
            assert status >= 0
