"""Real receivers on loopback: a webhook (Apprise's json://) and an SMTP server (mailto://)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from tests.support import free_port


class WebhookReceiver:
    """Keeps what it accepts in `messages`. `fail()` makes it answer 500 (and keep nothing)
    until `heal()`, `fail(n)` for the next n requests only; `refused` counts those answers."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.refused = 0
        self._failures_left: int | None = 0  # None: fail until healed
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                accepted = receiver._take(payload)
                self.send_response(200 if accepted else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def fail(self, times: int | None = None) -> None:
        with self._lock:
            self._failures_left = times

    def heal(self) -> None:
        self.fail(0)

    def _take(self, payload: dict[str, Any]) -> bool:
        with self._lock:
            if self._failures_left is None or self._failures_left > 0:
                self._failures_left = None if self._failures_left is None else self._failures_left - 1
                self.refused += 1
                return False
            self.messages.append(payload)
            return True

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class MailReceiver:
    """A real SMTP server on loopback (aiosmtpd): plain, no TLS, no login, as a relay on a
    private network is. What Apprise's mailto:// delivers lands in `messages`."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        received = self.messages

        class Handler:
            async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
                received.append(
                    cast(EmailMessage, BytesParser(policy=default).parsebytes(envelope.original_content or b""))
                )
                return "250 OK"

        self.port = free_port()  # aiosmtpd needs the port before it starts
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def url(self, to: str = "ops@example.test") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=ronda@example.test&to={to}"

    def close(self) -> None:
        self._controller.stop()


class MutualTlsServer:
    """An HTTPS server that demands a client certificate, on blocking sockets: unlike an
    asyncio server, OpenSSL then sends its alerts before the connection closes, as nginx
    or Apache do, so the client can learn why it was refused."""

    def __init__(self, server_context: ssl.SSLContext, client_ca_pem: str) -> None:
        server_context.verify_mode = ssl.CERT_REQUIRED
        server_context.load_verify_locations(cadata=client_ca_pem)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"hello, authenticated client"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def get_request(self) -> tuple[socket.socket, object]:
                sock, address = self.socket.accept()
                return server_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # refused handshakes are the point of this server

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class BreakableSite:
    """A web site on loopback: 200 for any GET, or 503 while `broken`."""

    def __init__(self) -> None:
        self.broken = False
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(503 if site.broken else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
