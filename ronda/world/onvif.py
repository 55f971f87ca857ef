"""A real ONVIF device service on loopback, for the tests and the demo: SOAP 1.2 over HTTP at
/onvif/device_service, answering GetSystemDateAndTime and GetDeviceInformation as a camera
does.

Its clock can run ahead or behind (`skew`); its users are checked by WS-Security
UsernameToken as devices check them: the digest verified, a nonce seen before refused (a
replayed call), a token created further than `tolerance` from the device's own clock refused.
`lock_time` makes it demand a token even for its time, as some firmwares do; `refuse_with`
chooses how it refuses (ONVIF's NotAuthorized fault, or HTTP 401 with a Digest challenge).
`mode` makes it something that is not ONVIF at all: an HTML page, other XML, or bytes that
are not HTTP.

Run it alone (the demo, a namespace in the tests) with `python -m ronda.world.onvif --help`;
`--discoverable` also answers WS-Discovery probes for it (ronda.world.wsdiscovery).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Literal
from urllib.parse import quote

import h11

from ronda import soap
from ronda.clock import system_clock
from ronda.probes.onvif import DEVICE_SERVICE, TDS
from ronda.verdict import parse_iso
from ronda.world.background import StreamServer

TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
NAMESPACES = {"tds": TDS, "tt": TT, "ter": TER}
MAX_REQUEST = 1 << 16  # a SOAP call is well under a KiB
Mode = Literal["onvif", "html", "xml", "garbage"]
Refusal = Literal["fault", "http401"]


@dataclass
class DeviceInfo:
    manufacturer: str = "Ronda Optics"
    model: str = "RC-100"
    firmware: str = "1.4.2"
    serial: str = "RC100-000042"
    hardware_id: str = "rc100-hw2"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = soap.CONTENT_TYPE
    challenge: str | None = None  # WWW-Authenticate


class OnvifDevice(StreamServer):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        users: dict[str, str] | None = None,
        skew: float = 0.0,
        lock_time: bool = False,
        refuse_with: Refusal = "fault",
        info: DeviceInfo | None = None,
        mode: Mode = "onvif",
        tolerance: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(host, port)
        self.users = dict(users or {})
        self.skew = skew  # seconds the device's clock is ahead of the real time (negative: behind)
        self.lock_time = lock_time
        self.refuse_with: Refusal = refuse_with
        self.info = info or DeviceInfo()
        self.mode: Mode = mode
        self.tolerance = tolerance
        self.tls = tls  # onvifs://: the device service over TLS
        self.calls: list[tuple[str, str | None]] = []  # (operation, user who signed it) in order
        self._nonces: deque[bytes] = deque(maxlen=4096)

    def url(self, user: str | None = None, password: str | None = None, host: str | None = None) -> str:
        """The monitor's URL for this device (onvifs:// when it serves TLS), logging in as `user`."""
        login = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user is not None else ""
        return f"onvif{'s' if self.tls else ''}://{login}{host or self.host}:{self.port}"

    @property
    def xaddr(self) -> str:
        """The device service's address, as WS-Discovery announces it."""
        return f"http://{self.host}:{self.port}{DEVICE_SERVICE}"

    def now(self) -> datetime:
        return system_clock() + timedelta(seconds=self.skew)

    async def start(self) -> None:
        await self.listen(self.tls)

    # -- HTTP ----------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.mode == "garbage":
                writer.write(b"\x00\xffRTSP/9.9 not HTTP at all\r\n\r\n")
                await writer.drain()
                return
            request = await asyncio.wait_for(_read_request(reader), 30)
            if request is not None:
                writer.write(_encode(self.answer(*request), self.now()))
                await writer.drain()
        except (TimeoutError, ConnectionError, ssl.SSLError, h11.ProtocolError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    def answer(self, method: str, path: str, body: bytes) -> Reply:
        """The device's reply to one HTTP request."""
        if self.mode == "html":
            return Reply(200, b"<!DOCTYPE html><html><body><h1>Router login</h1><br></body></html>", "text/html")
        if self.mode == "xml":
            return Reply(200, b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "application/xml")
        if path.split("?")[0] != DEVICE_SERVICE:
            return Reply(404, b"<html><body>Not Found</body></html>", "text/html")
        if method != "POST":
            return Reply(405, b"<html><body>POST SOAP here</body></html>", "text/html")
        try:
            message = soap.parse(body)
        except soap.SoapError as exc:
            return self._fault(400, "Sender", "ter:WellFormed", f"not a SOAP 1.2 call: {exc}")
        operation = soap.local(message.payload.tag) if message.payload is not None else ""
        if operation == "GetSystemDateAndTime":
            return self._signed(message, operation, self._date_and_time, required=self.lock_time)
        if operation == "GetDeviceInformation":
            return self._signed(message, operation, self._information, required=True)
        return self._fault(400, "Sender", "ter:ActionNotSupported", f"{operation or 'nothing'} is not supported here")

    def _signed(self, message: soap.Message, operation: str, respond: Callable[[], Reply], required: bool) -> Reply:
        user = self._user(message)
        if required and user is None:
            return self._refusal()
        self.calls.append((operation, user))
        return respond()

    def _user(self, message: soap.Message) -> str | None:
        """Who signed the call, if the token is good: the digest matches a user's password,
        the nonce is new, and it was created near the device's own clock."""
        token = soap.read_username_token(message)
        if token is None or token.username not in self.users or not token.signed_with(self.users[token.username]):
            return None
        try:
            created = parse_iso(token.created)
        except ValueError:
            return None
        if token.nonce in self._nonces or abs((created - self.now()).total_seconds()) > self.tolerance:
            return None
        self._nonces.append(token.nonce)
        return token.username

    def _refusal(self) -> Reply:
        if self.refuse_with == "http401":
            page = b"<html><body>401 Unauthorized</body></html>"
            return Reply(401, page, "text/html", challenge='Digest realm="device", qop="auth", nonce="0ab1"')
        return self._fault(400, "Sender", "ter:NotAuthorized", "Sender not Authorized")

    def _fault(self, status: int, code: str, subcode: str, reason: str) -> Reply:
        return Reply(status, soap.fault(code, subcode, reason, NAMESPACES))

    def _date_and_time(self) -> Reply:
        now = self.now()
        stamp = (
            f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year>"
            f"<tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date>"
        )
        body = (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
            "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime>{stamp}</tt:UTCDateTime><tt:LocalDateTime>{stamp}</tt:LocalDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )
        return Reply(200, soap.envelope(body, namespaces=NAMESPACES))

    def _information(self) -> Reply:
        info = self.info
        facts = {
            "Manufacturer": info.manufacturer,
            "Model": info.model,
            "FirmwareVersion": info.firmware,
            "SerialNumber": info.serial,
            "HardwareId": info.hardware_id,
        }
        fields = "".join(f"<tds:{name}>{soap.text(value)}</tds:{name}>" for name, value in facts.items())
        body = f"<tds:GetDeviceInformationResponse>{fields}</tds:GetDeviceInformationResponse>"
        return Reply(200, soap.envelope(body, namespaces=NAMESPACES))


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    """(method, path, body) of one HTTP request, its body bounded; None for a request too large."""
    conn = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_REQUEST:
                return None
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return request.method.decode(), request.target.decode("latin-1"), bytes(body)
        else:
            return None


def _encode(reply: Reply, now: datetime) -> bytes:
    reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
    head = f"HTTP/1.1 {reply.status} {reasons.get(reply.status, 'Status')}\r\nContent-Type: {reply.content_type}\r\n"
    head += f"Date: {format_datetime(now, usegmt=True)}\r\n"  # by the device's clock, as cameras send it
    if reply.challenge:
        head += f"WWW-Authenticate: {reply.challenge}\r\n"
    head += f"Content-Length: {len(reply.body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + reply.body


# -- running it alone ----------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ronda.world.onvif", description="A local ONVIF device service.")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, default=0, help="the port (default: any free one)")
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD", help="a user (repeatable)")
    parser.add_argument("--skew", type=float, default=0.0, metavar="SECONDS", help="clock ahead (negative: behind)")
    parser.add_argument("--lock-time", action="store_true", help="demand a token even for GetSystemDateAndTime")
    parser.add_argument("--name", default="Ronda Camera", help="the name it announces (with --discoverable)")
    parser.add_argument("--model", default=DeviceInfo.model, help="the model it reports")
    parser.add_argument("--discoverable", action="store_true", help="also answer WS-Discovery probes")
    parser.add_argument("--interface", help="the address whose interface joins the multicast group (--discoverable)")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    from ronda.discover.messages import onvif_scopes
    from ronda.world.wsdiscovery import DiscoveryResponder

    users = dict(entry.split(":", 1) for entry in args.user)
    device = OnvifDevice(args.host, args.port, users=users, skew=args.skew, lock_time=args.lock_time)
    device.info.model = args.model
    await device.start()
    responder = None
    if args.discoverable:
        scopes = onvif_scopes(args.name, args.model, "lab")
        responder = DiscoveryResponder([device.xaddr], scopes, interface=args.interface or args.host)
        await responder.start()
    print(f"ready {device.xaddr}", flush=True)  # a parent process waits for this line
    try:
        await asyncio.Event().wait()
    finally:
        if responder is not None:
            responder.stop()
        await device.stop()


def main(argv: list[str] | None = None) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(_arguments(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
