"""A loopback WebSocket server that breaks on command, like a chat service's do.

It is the `websockets` library's server, not ronda's code: a real, independent implementation
of RFC 6455 for ronda's client (wsproto) to meet. `mode`, read at each new connection:

- "echo": a healthy service; answers every message with the message, or with `answer`, and
  greets with `greeting` first when one is set;
- "refuse": speaks HTTP but takes no WebSocket connection: every upgrade gets a plain
  `refuse_status` page, the chat-style outage (the web front is up, its sockets are not);
- "close": accepts the upgrade, then closes at once with `close_code` (its backend is gone);
- "hangup": accepts the upgrade, then cuts the TCP connection without a Close frame;
- "reset": the same, with a TCP reset (as a crashing process's kernel sends);
- "silent": accepts and reads, never sends a message (Pings are still answered: the library
  does that for every server, as RFC 6455 asks);
- "bad_accept": answers 101 with a Sec-WebSocket-Accept that does not match the key.
"""

from __future__ import annotations

import socket
import ssl
import struct
from http import HTTPStatus
from typing import Literal

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

Mode = Literal["echo", "refuse", "close", "hangup", "reset", "silent", "bad_accept"]


class WebSocketServer:
    """server = WebSocketServer(tls=pki.server_context("chat.test")); await server.start()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        mode: Mode = "echo",
        subprotocols: tuple[str, ...] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.mode: Mode = mode
        self.answer: str | bytes | None = None  # echo mode: say this instead of the message
        self.greeting: str | None = None  # echo mode: said first, as soon as the connection opens
        self.refuse_status = HTTPStatus.OK
        self.refuse_body = "<html><body><h1>Chat</h1><p>Welcome</p></body></html>"
        self.refuse_headers: dict[str, str] = {}
        self.close_code = 1011  # "internal error": what a server says when its backend is gone
        self.received: list[str | bytes] = []  # every message a client sent
        self.closed_by_client: list[int] = []  # the code of each Close a client sent first
        self._tls = tls
        self._subprotocols = subprotocols
        self._server: Server | None = None

    @property
    def scheme(self) -> str:
        return "wss" if self._tls else "ws"

    def url(self, path: str = "/socket", host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            ssl=self._tls,
            subprotocols=[Subprotocol(name) for name in self._subprotocols] or None,
            process_request=self._process_request,
            process_response=self._process_response,
            compression=None,
            ping_interval=None,  # no keepalive Pings of its own: tests see only what they caused
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.mode != "refuse":
            return None
        response = connection.respond(self.refuse_status, self.refuse_body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        for name, value in self.refuse_headers.items():
            response.headers[name] = value
        return response

    def _process_response(self, connection: ServerConnection, request: Request, response: Response) -> Response:
        if self.mode == "bad_accept" and response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            del response.headers["Sec-WebSocket-Accept"]
            response.headers["Sec-WebSocket-Accept"] = "dGhpcyBpcyBub3QgdGhlIGFjY2VwdA=="
        return response

    async def _handle(self, connection: ServerConnection) -> None:
        mode = self.mode
        if mode == "close":
            await connection.close(self.close_code, "backend unavailable")
            return
        if mode in ("hangup", "reset"):
            if mode == "reset":  # SO_LINGER 0: the kernel answers with a RST, not a FIN
                sock = connection.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.transport.abort()
            return
        try:
            if self.greeting is not None and mode == "echo":
                await connection.send(self.greeting)
            async for message in connection:
                self.received.append(message)
                if mode == "echo":
                    await connection.send(self.answer if self.answer is not None else message)
        except ConnectionClosed:
            pass
        protocol = connection.protocol
        if protocol.close_rcvd is not None and protocol.close_rcvd_then_sent:
            self.closed_by_client.append(protocol.close_rcvd.code)
