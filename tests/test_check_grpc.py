"""grpc://: the standard gRPC health check against grpcio's own health server on loopback (an
independent implementation of both gRPC and its health service), one test per cause code."""

from __future__ import annotations

import asyncio
import json
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from hypothesis import given
from hypothesis import strategies as st

from ronda.check import run_check
from ronda.probes.h2call import CallError
from ronda.target import CheckOptions, Expectations, parse_target
from tests.support import ronda_check


class Refusing(grpc.ServerInterceptor):
    """Refuses every call as a server behind an authenticating interceptor does."""

    def intercept_service(self, continuation, handler_call_details):
        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing token")

        return grpc.unary_unary_rpc_method_handler(refuse)


@pytest.fixture
def grpc_server():
    """start(health=True, refusing=False) -> (port, health servicer or None); all stop at the end."""
    started = []

    def start(with_health: bool = True, refusing: bool = False):
        interceptors = [Refusing()] if refusing else []
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=interceptors)
        servicer = None
        if with_health:
            servicer = health.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
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
