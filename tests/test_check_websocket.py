"""ws:// and wss://: the handshake, a message and its reply (or a Ping and its Pong), the Close,
and the certificate, against the `websockets` library's server on loopback (ronda/world/websocket.py)
breaking the ways a chat service does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ronda.probes.websocket import MAX_MESSAGE
from ronda.target import Expectations, parse_target
from ronda.world.web import Reply
from ronda.world.websocket import WebSocketServer
from tests.support import RondaProcess, config_error, config_text, free_port, ronda_check, wait_for


@pytest.fixture
def chat(serve) -> Callable[..., WebSocketServer]:
    """chat(mode=..., tls=ctx, subprotocols=(...)) starts a WebSocket server; all stop at the end."""
    return lambda **options: serve(WebSocketServer(**options))


def at(server: WebSocketServer, *addresses: str) -> dict:
    return {"resolve": {("chat.test", server.port): addresses or ("127.0.0.1",)}}


def url(server: WebSocketServer, path: str = "/socket") -> str:
    return server.url(path, host="chat.test")


# --- up ---------------------------------------------------------------------------------------------


def test_a_message_sent_comes_back_as_the_expected_reply(chat, check):
    server = chat()
    verdict = check(url(server), send='{"ping":1}', expect=Expectations(text='"ping"'), **at(server))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert verdict.summary.startswith(f"{url(server)} is up: WebSocket open, in ")
    ws = verdict.websocket
    assert (ws["status"], ws["subprotocol"], ws["reply"], ws["reply_bytes"]) == (101, None, '{"ping":1}', 10)
    assert ws["close_code"] == 1000, "the server answered our Close"
    assert ws["round_trip_ms"] > 0 and verdict.latency_ms > 0
    assert server.received == ['{"ping":1}']
    wait_for("the server to see our Close", lambda: server.closed_by_client == [1000])


def test_without_a_message_a_ping_must_come_back_as_a_pong(chat, check):
    server = chat(mode="silent")  # never sends a message; Pings are answered all the same
    verdict = check(url(server), **at(server))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert "reply" not in verdict.websocket and verdict.websocket["round_trip_ms"] > 0
    assert server.received == []


def test_a_greeting_is_the_reply_when_nothing_is_sent(chat, check):
    server = chat()
    server.greeting = "welcome to chat.test"
    assert check(url(server), expect=Expectations(text="welcome"), **at(server)).status == "up"
    verdict = check(url(server), expect=Expectations(text="goodbye"), **at(server))
    assert verdict.cause == "content_mismatch"
    assert verdict.summary.endswith("'goodbye' is not in the reply 'welcome to chat.test'")


def test_the_subprotocol_asked_for_is_the_one_agreed(chat, check):
    server = chat(subprotocols=("v2.chat", "v1.chat"))
    verdict = check(url(server), subprotocol="v1.chat", send="hi", **at(server))
    assert (verdict.status, verdict.websocket["subprotocol"]) == ("up", "v1.chat"), verdict.summary
    assert "is up: WebSocket open with subprotocol v1.chat, in " in verdict.summary


def test_a_server_that_agrees_no_subprotocol_fails_a_client_that_needs_one(chat, check):
    server = chat()
    verdict = check(url(server), subprotocol="v1.chat", **at(server))
    assert verdict.cause == "protocol_error"
    assert "accepted the WebSocket connection without the subprotocol 'v1.chat'" in verdict.summary


def test_wss_reads_the_certificate_as_tls_does(chat, check, pki):
    server = chat(tls=pki.server_context("chat.test"))
    verdict = check(url(server), send="hello", expect=Expectations(text="hello"), **at(server))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    [cert] = verdict.certificates
    assert (cert.host, cert.address, cert.port, cert.sans) == ("chat.test", "127.0.0.1", server.port, ("chat.test",))
    assert 88 < cert.days_left < 90 and cert.problems == ()
    assert verdict.websocket["reply"] == "hello"


def test_wss_with_an_expired_certificate_is_down_with_cert_expired(chat, check, pki):
    now = datetime.now(UTC)
    expired = pki.server_context("chat.test", valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2))
    server = chat(tls=expired)
    verdict = check(url(server), send="hello", expect=Expectations(text="hello"), **at(server))
    assert (verdict.status, verdict.cause) == ("down", "cert_expired")
    assert verdict.certificates[0].problems == ("cert_expired",)
    assert verdict.websocket["reply"] == "hello", "the service behind the certificate still answers, as it reads"


def test_a_huge_reply_costs_a_bounded_read(chat, check):
    server = chat()
    server.answer = "pong " + "x" * (3 * MAX_MESSAGE)
    verdict = check(url(server), send="ping", expect=Expectations(text="pong"), **at(server))
    assert verdict.status == "up", verdict.summary
    ws = verdict.websocket
    assert (ws["reply_bytes"], ws["truncated"], len(ws["reply"])) == (MAX_MESSAGE, True, 200)


# --- the chat-style outage: HTTP answers, WebSocket does not ------------------------------------------


def test_a_server_that_answers_the_upgrade_with_a_page_is_caught(chat, check):
    server = chat(mode="refuse")
    verdict = check(url(server), send="hello", **at(server))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert verdict.summary == (
        f"{url(server)} at 127.0.0.1: answers HTTP 200 OK but does not accept WebSocket connections"
    )
    assert verdict.websocket == {"status": 200, "subprotocol": None, "close_code": None}


@pytest.mark.parametrize(
    ("status", "headers", "cause", "words"),
    [
        (503, {}, "http_server_error", "answers HTTP 503 Service Unavailable to the WebSocket handshake"),
        (404, {}, "http_client_error", "answers HTTP 404 Not Found to the WebSocket handshake"),
        (403, {}, "http_client_error", "answers HTTP 403 Forbidden to the WebSocket handshake"),
        (
            302,
            {"Location": "https://chat.test/login"},
            "protocol_error",
            "answers HTTP 302 Found (to https://chat.test/login) but does not accept WebSocket connections: "
            "clients do not follow redirects",
        ),
        (
            426,
            {"Sec-WebSocket-Version": "8"},
            "protocol_error",
            "answers HTTP 426 Upgrade Required to a request that asked for the WebSocket upgrade: "
            "it speaks WebSocket version 8, ronda 13",
        ),
    ],
    ids=["5xx: the service fails", "404: no endpoint there", "403: refused", "redirect", "426"],
)
def test_each_refusal_of_the_upgrade_reads_as_its_status_says(chat, check, status, headers, cause, words):
    server = chat(mode="refuse")
    server.refuse_status, server.refuse_headers = status, headers
    verdict = check(url(server), **at(server))
    assert (verdict.status, verdict.cause) == ("down", cause)
    assert verdict.summary == f"{url(server)} at 127.0.0.1: {words}"
    assert verdict.websocket["status"] == status


def test_a_server_that_accepts_then_closes_at_once_dropped_the_persistent_connection(chat, check):
    server = chat(mode="close")
    verdict = check(url(server), send="hello", expect=Expectations(text="hello"), **at(server))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert verdict.summary.endswith(
        "accepted the WebSocket connection, then closed it (close code 1011: backend unavailable) "
        "before the reply to the message sent: the persistent connection was dropped"
    )
    assert verdict.websocket["status"] == 101 and verdict.websocket["close_code"] == 1011


@pytest.mark.parametrize("mode", ["hangup", "reset"])
def test_a_server_that_accepts_then_cuts_the_connection_dropped_it_too(chat, check, mode):
    server = chat(mode=mode)
    verdict = check(url(server), **at(server))
    assert verdict.cause == "protocol_error"
    assert verdict.summary.endswith(
        "accepted the WebSocket connection, then cut the connection (no Close frame) "
        "before the Pong in answer to a Ping: the persistent connection was dropped"
    )
    assert verdict.websocket["close_code"] == 1006


def test_no_reply_fails_within_the_budget_naming_what_was_awaited(chat, check):
    server = chat(mode="silent")
    verdict = check(url(server), send="hello", expect=Expectations(text="hello"), timeout=1.0, **at(server))
    assert (verdict.status, verdict.cause) == ("down", "http_timeout")
    # The probe's own deadline, not the check's backstop ("did not finish within its budget").
    assert verdict.summary == f"{url(server)} at 127.0.0.1: timed out waiting for the reply to the message sent"
    assert server.received == ["hello"]


def test_a_wrong_reply_is_content_mismatch_and_the_connection_is_still_closed_properly(chat, check):
    server = chat()
    server.answer = '{"error":"unknown command"}'
    verdict = check(url(server), send='{"ping":1}', expect=Expectations(text="pong"), **at(server))
    assert (verdict.status, verdict.cause) == ("down", "content_mismatch")
    assert verdict.summary.endswith("""'pong' is not in the reply '{"error":"unknown command"}'""")
    assert verdict.websocket["close_code"] == 1000
    wait_for("the server to see our Close", lambda: server.closed_by_client == [1000])


def test_a_101_with_the_wrong_accept_key_is_not_a_websocket_handshake(chat, check):
    server = chat(mode="bad_accept")
    verdict = check(url(server), **at(server))
    assert verdict.cause == "protocol_error"
    assert verdict.summary.endswith(
        "answers 101 Switching Protocols, but its Sec-WebSocket-Accept does not match the key sent: "
        "not a WebSocket handshake"
    )


def test_a_server_that_does_not_speak_http_is_named(web, check):
    server = web()
    server.default = Reply(mode="garbage")
    verdict = check(f"ws://chat.test:{server.port}/", resolve={("chat.test", server.port): ("127.0.0.1",)})
    assert verdict.cause == "protocol_error"
    assert "the answer to the WebSocket handshake is not valid HTTP" in verdict.summary


def test_one_address_of_two_refusing_websockets_is_degraded(chat, check):
    good = chat()
    bad = chat(host="127.0.0.2", port=good.port, mode="refuse")
    verdict = check(url(good), send="hi", expect=Expectations(text="hi"), **at(good, "127.0.0.1", "127.0.0.2"))
    assert (verdict.status, verdict.cause) == ("degraded", "protocol_error")
    assert [f.address for f in verdict.findings] == ["127.0.0.2"]
    assert verdict.summary.endswith("does not accept WebSocket connections (1 of 2 addresses work)")
    assert verdict.websocket["reply"] == "hi", "the first address's exchange"
    assert bad.received == []


def test_ws_and_wss_have_the_web_ports():
    assert (parse_target("ws://chat.test/socket").port, parse_target("wss://chat.test/socket").port) == (80, 443)
    assert parse_target("wss://chat.test/socket?room=1").path == "/socket?room=1"


# --- the command line and the config -----------------------------------------------------------------


def test_ronda_check_sends_expects_and_prints_the_exchange(chat, repo_root, ca_file, pki):
    server = chat(tls=pki.server_context("chat.test"), subprotocols=("chat",))
    resolve = f"chat.test:{server.port}:127.0.0.1"
    run = ronda_check(
        repo_root,
        *(url(server), "--send", '{"ping":1}', "--expect-text", "ping", "--subprotocol", "chat"),
        *("--resolve", resolve, "--ca-file", ca_file),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    first, *detail = run.stdout.splitlines()
    assert first.startswith(f"RONDA OK - {url(server)} is up: WebSocket open with subprotocol chat, in ")
    assert " reply_time=" in first and " size=10B;;;0 " in first and " cert_days_left=" in first
    [line] = [line for line in detail if line.startswith("websocket: ")]
    assert line.startswith("""websocket: HTTP 101, subprotocol chat, reply '{"ping":1}' (10 B) in """)
    assert line.endswith(" ms, close code 1000")


def test_ronda_check_refuses_send_for_a_target_that_is_not_a_websocket(repo_root):
    run = ronda_check(repo_root, "https://shop.test/", "--send", "hello")
    assert run.returncode == 3
    assert "--send and --subprotocol go with a ws:// or wss:// target, not https://" in run.stdout
    run = ronda_check(repo_root, "ws://chat.test/", "--subprotocol", "two words")
    assert run.returncode == 3
    assert "--subprotocol 'two words': a subprotocol is one token" in run.stdout


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("url: https://a.test/\n    send: hello", ":4: monitors[0].send: goes with a ws:// or wss:// url"),
        (
            "url: wss://a.test/\n    subprotocol: 'a b'",
            ":4: monitors[0].subprotocol: 'a b': a subprotocol is one token",
        ),
    ],
)
def test_websocket_keys_in_the_config_are_checked_at_load(tmp_path, keys, message):
    path = tmp_path / "ronda.yaml"
    path.write_text(f"monitors:\n  - name: a\n    {keys}\n")
    assert f"{path}{message}" in config_error(str(path))


def test_a_websocket_monitor_opens_an_incident_when_the_chat_stops_taking_connections(chat, tmp_path, ca_file, pki):
    server = chat(tls=pki.server_context("chat.test"))
    monitor = (
        f"  - name: chat\n    url: {url(server)}\n"
        f'    resolve: {{"chat.test:{server.port}": ["127.0.0.1"]}}\n'
        f"    send: '{{\"ping\":1}}'\n    expect: {{text: ping}}\n"
    )
    config = tmp_path / "ronda.yaml"
    config.write_text(config_text(free_port(), ca_file, monitor))
    ronda = RondaProcess(config).start()
    try:
        wait_for("chat up", lambda: ronda.api("/api/v1/monitors")[0]["status"] == "up")
        last = ronda.api("/api/v1/monitors")[0]["last_check"]
        assert last["websocket"]["reply"] == '{"ping":1}' and last["certificates"][0]["host"] == "chat.test"
        server.mode = "refuse"  # the web front still answers; its sockets are gone
        incident = wait_for("an open incident", lambda: ronda.api("/api/v1/incidents?open=true"))[0]
        assert (incident["monitor"], incident["cause"]) == ("chat", "protocol_error")
        results = ronda.api("/api/v1/monitors/chat/results?limit=1")
        assert "answers HTTP 200 OK but does not accept WebSocket connections" in results[0]["summary"]
    finally:
        ronda.stop()
