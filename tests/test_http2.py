"""HTTP/2 for https:// checks, offered when a check asks for it (`request: {http2: true}`,
`ronda check --http2`): against hypercorn on loopback (an independent HTTP/2 server, ALPN
from its own TLS context), a server that offers HTTP/1.1 alone, and hostile servers that
agree on h2 and then misbehave. Every hostile answer ends in a verdict with a cause code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import hpack
import pytest
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from hypothesis import given
from hypothesis import strategies as st

from ronda import cli
from ronda.config.http_checks import Request
from ronda.httpspec import BasicAuth, HttpRequest, header_check, parse_json_check
from ronda.probes.connect import Connection
from ronda.probes.exchange import MAX_BODY, ExchangeError, hop_for
from ronda.probes.h2exchange import exchange_h2
from ronda.target import Expectations
from ronda.tlscontexts import TlsClient, TlsContexts
from ronda.world.background import StreamServer, serve_connection
from ronda.world.pki import LocalPKI

HOST = "h2.test"
BIG = 3 * MAX_BODY  # a body past what a check keeps


# --- an independent HTTP/2 server: hypercorn, on the world loop ---------------------------------


async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Says which HTTP version it was asked in, echoes what it was sent, redirects, and
    serves a body larger than a check reads."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    version, path = scope["http_version"], scope["path"]
    headers = [(b"x-http-version", version.encode())]
    if path == "/redirect":
        await _answer(send, 302, [*headers, (b"location", b"/json")], b"")
    elif path == "/json":
        await _answer(send, 200, [*headers, (b"content-type", b"application/json")], json.dumps({"ok": True}).encode())
    elif path == "/echo":
        sent = {name.decode(): value.decode() for name, value in scope["headers"]}
        echo = {"method": scope["method"], "headers": sent, "body": body.decode(), "version": version}
        await _answer(send, 200, [*headers, (b"content-type", b"application/json")], json.dumps(echo).encode())
    elif path == "/big":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        chunk = b"x" * 65536
        for _ in range(BIG // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/missing":
        await _answer(send, 404, headers, b"no such page")
    else:
        await _answer(send, 200, [*headers, (b"content-type", b"text/html")], f"Welcome, HTTP/{version}".encode())


async def _answer(send: Callable[..., Any], status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Hypercorn:
    """hypercorn serving `app` over TLS on a loopback port of its own."""

    def __init__(self, folder: Path, pki: LocalPKI, alpn: list[str]) -> None:
        leaf = pki.leaf(HOST)
        (folder / "cert.pem").write_bytes(leaf.chain_pem)
        (folder / "key.pem").write_bytes(leaf.key_pem)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.config = HypercornConfig()
        self.config.bind = [f"fd://{listener.detach()}"]  # hypercorn owns it from here
        self.config.certfile, self.config.keyfile = str(folder / "cert.pem"), str(folder / "key.pem")
        self.config.alpn_protocols = alpn
        self.config.graceful_timeout = 0.1
        self.config.loglevel = "ERROR"
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(hypercorn_serve(app, self.config, shutdown_trigger=self._stopping.wait))

    async def stop(self) -> None:
        assert self._stopping is not None and self._task is not None
        self._stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 5)

    def url(self, path: str = "/") -> str:
        return f"https://{HOST}:{self.port}{path}"


@pytest.fixture
def hyper(serve, pki, tmp_path) -> Callable[..., Hypercorn]:
    def start(alpn: tuple[str, ...] = ("h2", "http/1.1")) -> Hypercorn:
        folder = tmp_path / f"hypercorn-{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        return serve(Hypercorn(folder, pki, list(alpn)))

    return start


@pytest.fixture
def check_h2(check) -> Callable[..., Any]:
    """check(server, path, request=..., expect=...) of a server on loopback, by its name."""

    def run(server: Any, path: str = "/", request: HttpRequest | None = None, **options: Any) -> Any:
        options.setdefault("resolve", {(HOST, server.port): ("127.0.0.1",)})
        return check(f"https://{HOST}:{server.port}{path}", request=request, **options)

    return run


H2 = HttpRequest(http2=True)


# --- over HTTP/2, and HTTP/1.1 where it is not offered or not chosen ----------------------------


def test_http2_is_spoken_when_asked_and_chosen(hyper, check_h2):
    server = hyper()
    verdict = check_h2(server, request=H2, expect=Expectations(status=200, text="Welcome, HTTP/2"))
    assert verdict.status == "up", verdict.summary
    assert verdict.http["version"] == "2"
    assert verdict.http["status"] == 200 and verdict.http["reason"] == "OK"
    assert verdict.http["bytes"] == len(b"Welcome, HTTP/2")
    assert "HTTP/2 200" in verdict.summary


def test_without_asking_the_same_server_is_checked_over_http1(hyper, check_h2):
    server = hyper()
    verdict = check_h2(server, expect=Expectations(status=200, text="Welcome, HTTP/1.1"))
    assert verdict.status == "up", verdict.summary
    assert verdict.http["version"] == "1.1"
    assert "HTTP/2" not in verdict.summary


def test_a_server_offering_http1_alone_is_checked_over_http1(hyper, check_h2):
    server = hyper(alpn=("http/1.1",))
    verdict = check_h2(server, request=H2, expect=Expectations(text="Welcome, HTTP/1.1"))
    assert verdict.status == "up", verdict.summary
    assert verdict.http["version"] == "1.1"


def test_a_server_choosing_no_protocol_is_checked_over_http1(web, pki, check_h2):
    server = web(tls=pki.server_context(HOST))  # its context sets no ALPN
    verdict = check_h2(server, request=H2, expect=Expectations(status=200, text="Welcome"))
    assert verdict.status == "up", verdict.summary
    assert verdict.http["version"] == "1.1"


def test_plain_http_stays_http1(web, check):
    server = web()
    verdict = check(server.url(), request=H2)
    assert verdict.status == "up", verdict.summary
    assert verdict.http["version"] == "1.1"


def test_the_certificate_is_read_the_same_over_http2(hyper, check_h2):
    server = hyper()
    over_2, over_1 = check_h2(server, request=H2), check_h2(server)
    assert [c.fingerprint_sha256 for c in over_2.certificates] == [c.fingerprint_sha256 for c in over_1.certificates]
    [cert] = over_2.certificates
    assert cert.host == HOST and cert.chain


def test_an_untrusted_certificate_is_the_same_finding_over_http2(hyper, check_h2):
    server = hyper()
    over_2 = check_h2(server, request=H2, ca_file=None)
    over_1 = check_h2(server, ca_file=None)
    assert over_2.status == "down"
    assert (over_2.cause, [f.code for f in over_2.findings]) == (over_1.cause, [f.code for f in over_1.findings])
    assert over_2.http["version"] == "2"  # what the server answers is still read, and said


# --- assertions read an HTTP/2 answer as an HTTP/1.1 one ---------------------------------------


@pytest.mark.parametrize(
    ("path", "expect", "cause"),
    [
        ("/json", Expectations(status=200, json_paths=(parse_json_check("ok == `true`"),)), None),
        ("/json", Expectations(json_paths=(parse_json_check("ok == `false`"),)), "content_mismatch"),
        ("/json", Expectations(headers=(header_check("Content-Type", "application/json", ""),)), None),
        ("/json", Expectations(headers=(header_check("X-Http-Version", "1.1", ""),)), "content_mismatch"),
        ("/", Expectations(text="Welcome"), None),
        ("/", Expectations(text="Goodbye"), "content_mismatch"),
        ("/", Expectations(regex=r"HTTP/2$"), None),
        ("/", Expectations(no_text="HTTP/2"), "content_mismatch"),
        ("/missing", Expectations(), "http_client_error"),
        ("/missing", Expectations(status=404), None),
        ("/", Expectations(status=201), "content_mismatch"),
        ("/json", Expectations(max_size=4), "content_mismatch"),
        ("/json", Expectations(min_size=4), None),
    ],
)
def test_assertions_hold_over_http2(hyper, check_h2, path, expect, cause):
    verdict = check_h2(hyper(), path, request=H2, expect=expect)
    assert verdict.http["version"] == "2"
    assert verdict.cause == cause, verdict.summary


def test_the_request_goes_over_http2_as_configured(hyper, check_h2):
    request = HttpRequest(
        method="PUT",
        headers=(("X-Check", "ronda"), ("Keep-Alive", "timeout=5")),  # the latter has no place in HTTP/2
        body=b'{"a": 1}',
        content_type="application/json",
        auth=BasicAuth("monitor", "s3cret-pass"),
        http2=True,
    )
    verdict = check_h2(
        hyper(),
        "/echo",
        request=request,
        expect=Expectations(
            json_paths=(
                parse_json_check('method == "PUT"'),
                parse_json_check('version == "2"'),
                parse_json_check('headers."x-check" == "ronda"'),
                parse_json_check('headers."content-type" == "application/json"'),
                parse_json_check('headers."content-length" == "8"'),
                parse_json_check("starts_with(headers.authorization, 'Basic ') == true"),
                parse_json_check("starts_with(headers.\"user-agent\", 'ronda/') == true"),
                parse_json_check('body == "{\\"a\\": 1}"'),
                parse_json_check('headers."keep-alive" == null'),
            )
        ),
    )
    assert verdict.status == "up", verdict.summary
    assert verdict.http["version"] == "2"


def test_a_large_request_body_goes_through_flow_control(hyper, check_h2):
    body = b"y" * 200_000  # past HTTP/2's initial window of 65,535 bytes
    request = HttpRequest(method="POST", body=body, content_type="text/plain", http2=True)
    verdict = check_h2(
        hyper(),
        "/echo",
        request=request,
        expect=Expectations(json_paths=(parse_json_check("length(body) == `200000`"),)),
    )
    assert verdict.status == "up", verdict.summary


def test_a_redirect_is_followed_over_http2(hyper, check_h2):
    verdict = check_h2(hyper(), "/redirect", request=H2, expect=Expectations(json_paths=(parse_json_check("ok"),)))
    assert verdict.status == "up", verdict.summary
    assert verdict.http["version"] == "2"
    assert verdict.http["status"] == 200


def test_a_redirect_not_followed_is_judged_over_http2(hyper, check_h2):
    request = HttpRequest(follow_redirects=False, http2=True)
    verdict = check_h2(hyper(), "/redirect", request=request, expect=Expectations(status=302))
    assert verdict.status == "up", verdict.summary
    assert (verdict.http["status"], verdict.http["version"]) == (302, "2")


def test_a_body_past_the_limit_is_cut_short_and_measured(hyper, check_h2):
    server = hyper()
    kept = check_h2(server, "/big", request=H2)
    assert kept.status == "up", kept.summary
    assert kept.http["truncated"] is True and kept.http["version"] == "2"
    measured = check_h2(server, "/big", request=H2, expect=Expectations(max_size=2 * MAX_BODY))
    assert measured.cause == "content_mismatch", measured.summary
    assert measured.http["bytes"] > 2 * MAX_BODY


# --- the option, in the config and on the command line ------------------------------------------


def test_the_config_and_the_command_line_ask_alike(hyper, ca_file, capsys):
    assert Request.model_validate({"http2": True}).spec() == HttpRequest(http2=True)
    assert Request.model_validate({}).spec().http2 is False
    server = hyper()
    args = ["check", server.url("/json"), "--http2", "--json", "--resolve", f"{HOST}:{server.port}:127.0.0.1"]
    assert cli.main([*args, "--ca-file", ca_file]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["http"]["version"] == "2"


def test_http2_contexts_are_cached_apart():
    contexts = TlsContexts()
    plain, offering = TlsClient(), TlsClient(http2=True)
    assert contexts.verifying(plain) is contexts.verifying(TlsClient())
    assert contexts.verifying(offering) is not contexts.verifying(plain)
    assert contexts.permissive(offering) is not contexts.permissive(plain)
    assert contexts.lenient(offering) is not contexts.lenient(plain)
    assert (plain.alpn, offering.alpn) == (["http/1.1"], ["h2", "http/1.1"])


# --- hostile servers that agree on h2 -----------------------------------------------------------


class HostileH2(StreamServer):
    """A TLS server that chooses h2 by ALPN, then answers the way `mode` says."""

    def __init__(self, pki: LocalPKI, mode: str) -> None:
        super().__init__("127.0.0.1", 0)
        self.mode = mode
        self._tls = pki.server_context(HOST)
        self._tls.set_alpn_protocols(["h2"])

    async def start(self) -> None:
        await self.listen(self._tls)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(self._tasks, writer, self._session(reader, writer))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "garbage":
            writer.write(bytes(range(256)) * 4)
        elif self.mode == "http1":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        if self.mode in ("garbage", "http1"):
            await writer.drain()
            await reader.read(65536)
            return
        server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        server.initiate_connection()
        writer.write(server.data_to_send())
        while True:
            data = await reader.read(65536)
            if not data:
                return
            for event in server.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    await self._misbehave(server, writer, event.stream_id)
            writer.write(server.data_to_send())

    async def _misbehave(self, server: h2.connection.H2Connection, writer: asyncio.StreamWriter, stream: int) -> None:
        if self.mode == "goaway":
            server.close_connection(error_code=h2.errors.ErrorCodes.PROTOCOL_ERROR)
        elif self.mode == "reset":
            server.reset_stream(stream, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
        elif self.mode == "headers then reset":
            server.send_headers(stream, [(":status", "200"), ("content-type", "text/html")])
            server.send_data(stream, b"<html>half")
            server.reset_stream(stream, error_code=h2.errors.ErrorCodes.CANCEL)
        elif self.mode == "no status":
            # h2 would not send it: the frame is written by hand, headers HPACK-encoded.
            block = hpack.Encoder().encode([("content-type", "text/html")])
            writer.write(len(block).to_bytes(3, "big") + b"\x01\x05" + stream.to_bytes(4, "big") + block)
        elif self.mode == "push":  # pushing, though ronda's settings say no
            block = hpack.Encoder().encode(
                [(":method", "GET"), (":scheme", "https"), (":authority", HOST), (":path", "/x")]
            )
            payload = (2).to_bytes(4, "big") + block
            writer.write(len(payload).to_bytes(3, "big") + b"\x05\x04" + stream.to_bytes(4, "big") + payload)
        elif self.mode == "drip":
            server.send_headers(stream, [(":status", "200")])
            writer.write(server.data_to_send())
            while True:
                with contextlib.suppress(h2.exceptions.FlowControlError):
                    server.send_data(stream, b"x")
                writer.write(server.data_to_send())
                await writer.drain()
                await asyncio.sleep(0.05)
        elif self.mode == "hang up":
            server.send_headers(stream, [(":status", "200")])
            server.send_data(stream, b"half an answ")
            writer.write(server.data_to_send())
            await writer.drain()
            writer.transport.abort()


@pytest.mark.parametrize(
    ("mode", "cause", "words"),
    [
        ("garbage", "protocol_error", "not valid HTTP/2"),
        ("http1", "protocol_error", "HTTP/1, not the HTTP/2 its TLS handshake agreed on"),
        ("goaway", "protocol_error", "ended the connection (PROTOCOL_ERROR)"),
        ("reset", "protocol_error", "reset the stream (INTERNAL_ERROR)"),
        ("headers then reset", "protocol_error", "reset the stream (CANCEL)"),
        ("no status", "protocol_error", "not valid HTTP/2"),
        ("push", "protocol_error", "not valid HTTP/2"),
        ("drip", "http_timeout", "no complete answer in time"),
        # An abort meets the client's unread frames: the kernel says reset or closed, as it goes.
        ("hang up", "protocol_error", "the connection"),
    ],
)
def test_a_hostile_h2_server_gives_a_down_verdict(serve, pki, check_h2, mode, cause, words):
    server = serve(HostileH2(pki, mode))
    verdict = check_h2(server, request=H2, timeout=1.5)
    assert verdict.status == "down"
    assert verdict.cause == cause, verdict.summary
    assert words in verdict.summary
    assert "could not read" not in verdict.summary  # run_check's catch-all: an exception escaped


# --- what a stranger's frames can do to the HTTP/2 reader ---------------------------------------

SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an empty SETTINGS frame: the server's preface


class _Sink:
    def write(self, data: bytes) -> None:
        pass


frames = st.lists(
    st.tuples(st.integers(0, 10), st.integers(0, 255), st.sampled_from([0, 1, 3]), st.binary(max_size=40)),
    max_size=8,
)


@given(frames, st.binary(max_size=16))
def test_any_frames_read_as_an_answer_or_an_exchange_error(sent, tail):
    data = SETTINGS + b"".join(
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
        for kind, flags, stream, payload in sent
    )

    async def exchange_with_them() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(data + tail)
        reader.feed_eof()
        conn = Connection(reader, _Sink())  # type: ignore[arg-type]
        try:
            answer = await exchange_h2(conn, hop_for(f"https://{HOST}/"), time.monotonic() + 5)
        except ExchangeError as exc:
            assert exc.code in ("protocol_error", "http_timeout", "auth_failed")
        else:
            assert answer.version == "2" and answer.status >= 0

    asyncio.run(exchange_with_them())
