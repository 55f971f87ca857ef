"""grpc://host:port[/SERVICE]: gRPC's standard health check (grpc.health.v1.Health/Check) at
every address behind the name, over HTTP/2 in clear text (as Kubernetes' gRPC probes call
it), through h2call.py on ronda's own connections, so that resolution, `--resolve` and each
address's failure are told as for every other scheme. grpcs://host[:port][/SERVICE] (port
443) makes the same call over TLS: the handshake offers ALPN `h2` (then `http/1.1`, so that
a server without HTTP/2 says what it speaks instead of aborting), the certificate is analysed
and reported as for https://, and a server that does not choose `h2` is `protocol_error`.

SERVICE is the service whose health is asked (`grpc://api.internal:50051/orders.v1.Orders`);
none asks for the server as a whole. SERVING is up. What the health service says otherwise
(NOT_SERVING, a service it does not know, UNAVAILABLE) is `not_serving`, in its words; a
server without the health service (UNIMPLEMENTED), or that is no gRPC server, is
`protocol_error`; a refused call (UNAUTHENTICATED, PERMISSION_DENIED) `auth_failed`; an HTTP
error status before any gRPC (a proxy's 503) is the status's own code.

The two messages are encoded here by hand: each has one field (a string, an enum), four
lines of protobuf's wire format, where grpcio and protobuf would bring their own resolver
and connections past ronda's per-address checks (they serve the tests as the independent
server).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.connect import Connection
from ronda.probes.exchange import USER_AGENT
from ronda.probes.h2call import CallError, Reply, call
from ronda.probes.tls import open_connection
from ronda.target import CheckOptions, Target

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
MAX_MESSAGE = 4096  # a HealthCheckResponse is two bytes
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
# gRPC status codes (grpc/doc/statuscodes.md) a health check meets, by what they mean here.
GRPC_CODES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    16: "UNAUTHENTICATED",
}


async def probe_grpc(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    service = unquote(target.path.split("?", 1)[0].strip("/"))
    secure = target.scheme == "grpcs"
    statuses: dict[str, str] = {}

    async def check(address: str) -> None:
        where = address if target.host == address else f"{target.host} at {address}"
        # grpc://: TCP; grpcs://: TLS offering h2, its certificate analysed and recorded as https:// does.
        conn = await open_connection(
            obs, ctx, options, target.host, address, target.port, deadline, secure=secure, http2=True
        )
        if conn is None:
            return
        try:
            if secure:
                _speaks_h2(conn)
            reply = await call(conn, _headers(target, deadline), _frame(_request(service)), deadline)
            statuses[address] = _serving(reply, service)
        except CallError as exc:
            obs.problem(exc.code, f"{where}: {exc.detail}", address=address)
            return
        finally:
            conn.close()
        if statuses[address] != "SERVING":
            obs.problem("not_serving", f"{where}: {_asked(service)} is {statuses[address]}", address=address)

    await each_address(obs, options, deadline, check, ctx.dns)
    obs.latency_ms = obs.elapsed_ms()
    _slow(obs, options)
    shown = [statuses[a] for a in obs.addresses if a in statuses]
    if shown:
        obs.facts["grpc"] = {"service": service, "status": shown[0]}


def _speaks_h2(conn: Connection) -> None:
    """Over TLS, HTTP/2 is what the handshake agreed on (ALPN), as gRPC's own clients require."""
    if conn.protocol != "h2":
        chose = conn.protocol or "nothing"
        raise CallError("protocol_error", f"does not speak HTTP/2 over TLS (ALPN chose {chose}), which gRPC needs")


def _headers(target: Target, deadline: float) -> list[tuple[str, str]]:
    authority = f"[{target.host}]" if ":" in target.host else target.host
    millis = max(int((deadline - time.monotonic()) * 1000), 1)
    return [
        (":method", "POST"),
        (":scheme", "https" if target.scheme == "grpcs" else "http"),
        (":authority", f"{authority}:{target.port}"),
        (":path", HEALTH_CHECK),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-timeout", f"{millis}m"),  # the server may give up when ronda does
        ("user-agent", USER_AGENT),
    ]


def _request(service: str) -> bytes:
    """HealthCheckRequest {string service = 1}: the field left out when empty, as proto3 does."""
    data = service.encode("utf-8")
    return b"\x0a" + _varint(len(data)) + data if data else b""


def _frame(message: bytes) -> bytes:
    """gRPC's length-prefixed message: not compressed, its length in 4 bytes."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _serving(reply: Reply, service: str) -> str:
    """The health service's word (SERVING, NOT_SERVING, ...), or a CallError saying why none."""
    status = reply.status
    if status is not None and status >= 400:
        code = "http_server_error" if status >= 500 else "http_client_error"
        raise CallError(code, f"answered HTTP {status} before any gRPC")
    if status != 200 or not reply.headers.get("content-type", "").startswith("application/grpc"):
        shown = reply.headers.get("content-type") or "no content type"
        raise CallError("protocol_error", f"answered HTTP {status} with {shown}, not gRPC")
    grpc_status = reply.meta("grpc-status")
    if grpc_status is None or not grpc_status.isdigit():
        raise CallError("protocol_error", "the answer has no grpc-status: not a gRPC server")
    _refused(int(grpc_status), reply.meta("grpc-message") or "", service)
    return SERVING_STATUS.get(_health_status(_message(reply.body)), "UNKNOWN")


def _refused(code: int, message: str, service: str) -> None:
    """A gRPC status other than OK, as the finding it is."""
    if code == 0:
        return
    name = GRPC_CODES.get(code, f"status {code}")
    said = f"answers {name}" + (f": {unquote(message)[:200]}" if message else "")
    if code == 5:
        raise CallError("not_serving", f"the health service does not know {_asked(service)} ({said})")
    if code == 14:
        raise CallError("not_serving", said)
    if code == 12:
        raise CallError("protocol_error", f"{said}: the server has no gRPC health service (grpc.health.v1.Health)")
    if code in (7, 16):
        raise CallError("auth_failed", said)
    if code == 4:
        raise CallError("http_timeout", said)
    raise CallError("protocol_error", said)


def _message(body: bytes) -> bytes:
    if len(body) < 5:
        raise CallError("protocol_error", "the answer holds no gRPC message")
    if body[0] != 0:
        raise CallError("protocol_error", "the answer is compressed, which ronda did not ask for")
    length = int.from_bytes(body[1:5], "big")
    if length > MAX_MESSAGE or len(body) < 5 + length:
        raise CallError("protocol_error", f"the answer's message of {length} bytes is cut short or too large")
    return body[5 : 5 + length]


def _health_status(message: bytes) -> int:
    """HealthCheckResponse {ServingStatus status = 1}: 0 when the field is left out."""
    status, at = 0, 0
    while at < len(message):
        key, at = _read_varint(message, at)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, at = _read_varint(message, at)
            if number == 1:
                status = value
        elif kind == 2:
            length, at = _read_varint(message, at)
            at += length
        elif kind in (1, 5):
            at += 8 if kind == 1 else 4
        else:
            raise CallError("protocol_error", "the answer is not a HealthCheckResponse")
    if at > len(message):
        raise CallError("protocol_error", "the answer's message is cut short")
    return status


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at
    raise CallError("protocol_error", "the answer's message is cut short")


def _asked(service: str) -> str:
    return f"the service {service!r}" if service else "the server"


def _slow(obs: Observation, options: CheckOptions) -> None:
    limit = options.expect.max_latency
    if limit is not None and obs.latency_ms is not None and obs.latency_ms > limit * 1000:
        detail = f"{obs.target.url} took {obs.latency_ms:.0f} ms, more than the allowed {limit * 1000:.0f} ms"
        obs.problem("slow_response", detail)


def _words(grpc: dict[str, Any]) -> str:
    return f"gRPC health {grpc['status']}" + (f" for {grpc['service']}" if grpc.get("service") else "")


SCHEME = ProbeScheme(probe_grpc, timeout="http_timeout", facts="grpc", words=_words)
