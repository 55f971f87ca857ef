"""onvif://[user:pass@]host[:port][/path][?max_skew=5s]: an ONVIF device (a camera, a
recorder) through its device service; onvifs:// is the same over TLS, with the certificate
analysed as https:// does.

At every address, SOAP 1.2 POSTs to the device service (/onvif/device_service unless the URL
names another path), each on a fresh connection within the check's deadline:

1. GetSystemDateAndTime, without authentication: ONVIF lets anyone ask the time, so that a
   client can date its tokens by the device's clock. Its UTC time against ours: further off
   than `max_skew` (default 5 s) is the warning `clock_skew`.
2. A device that demands credentials even for that (a NotAuthorized fault, or HTTP 401) is
   alive but locked: with credentials the call is repeated with a UsernameToken; without,
   the device is up and the verdict says it is locked, since it answered.
3. With credentials, GetDeviceInformation signed with a WS-Security UsernameToken whose
   Created is the device's time (ours plus the skew just measured), so a clock that is off
   does not break the login: make, model, firmware, serial number, hardware id. Refused
   credentials are `auth_failed`.

An answer that is not ONVIF (an HTML page, other XML, bytes that are not HTTP) is
`protocol_error`. The verdict's `onvif` object has the device's time, the skew, the
authentication the device needed, and what it says it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from ronda import soap
from ronda.durations import parse_duration
from ronda.errors import UsageError
from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.connect import Connection, Failure, open_tls
from ronda.probes.exchange import Answer, ExchangeError, Hop, Posting, exchange
from ronda.probes.tls import open_connection
from ronda.target import CheckOptions, Target
from ronda.verdict import iso

DEVICE_SERVICE = "/onvif/device_service"
MAX_SKEW = 5.0  # seconds: about where devices start refusing UsernameTokens
MAX_ANSWER = 1 << 18  # bytes: these answers are a few KiB; anything larger is not one
TDS = "http://www.onvif.org/ver10/device/wsdl"
# The device's facts, as GetDeviceInformation names them -> the verdict's keys.
FACTS = {
    "Manufacturer": "manufacturer",
    "Model": "model",
    "FirmwareVersion": "firmware",
    "SerialNumber": "serial",
    "HardwareId": "hardware_id",
}


@dataclass(frozen=True)
class Device:
    """What the URL says about the device service and how to reach it."""

    hop: Hop
    secure: bool
    username: str | None
    password: str | None
    max_skew: float


def device_of(target: Target) -> Device:
    path = urlsplit(target.url).path or "/"
    text = target.params.get("max_skew")
    try:
        max_skew = MAX_SKEW if text is None else parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{target.url!r}: max_skew={text!r}: {exc}") from None
    hop = Hop(target.url, target.scheme, target.host, target.port, DEVICE_SERVICE if path == "/" else path)
    return Device(hop, target.scheme == "onvifs", target.username, target.password, max_skew)


@dataclass(frozen=True)
class Locked:
    """The device refused the call for want of (valid) credentials; `date`, its clock as its
    HTTP Date header gave it (most devices send one), dates the token of a second try."""

    why: str
    date: datetime | None = None


async def probe_onvif(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    device = device_of(target)
    reports: dict[str, dict[str, Any]] = {}

    async def check(address: str) -> None:
        report = await _Service(device, obs, ctx, options, address, deadline).examine()
        if report is not None:
            reports[address] = report

    await each_address(obs, options, deadline, check, ctx.dns)
    obs.latency_ms = obs.elapsed_ms()
    if reports:
        obs.facts["onvif"] = next(reports[a] for a in obs.addresses if a in reports)


class _Service:
    """The device service at one address."""

    def __init__(
        self, device: Device, obs: Observation, ctx: ProbeContext, options: CheckOptions, address: str, deadline: float
    ) -> None:
        self.device, self.obs, self.ctx, self.options = device, obs, ctx, options
        self.address, self.deadline = address, deadline
        self.where = f"{device.hop.url} at {address}"
        self.connections = 0

    async def examine(self) -> dict[str, Any] | None:
        """The `onvif` object for this address (None when it does not answer ONVIF)."""
        report: dict[str, Any] = {
            "device_time": None,
            "skew_s": None,
            "max_skew_s": self.device.max_skew,
            "auth": "none",
            "device": None,
        }
        answer, device_time, ours = await self._time()
        if isinstance(answer, Locked):
            report["auth"] = "required"
            if self.device.username is None:
                return report  # it answered: alive, and locked to us
            answer, device_time, ours = await self._time(token=answer.date or self.ctx.clock())
            if isinstance(answer, Locked):
                hint = "; if the password is right, its clock may be too far off for its token check"
                self._refused(f"even for its time ({answer.why}){hint}")
                return report
            report["auth"] = "username_token"
        if answer is None:
            return None
        skew = self._skew(device_time, ours)
        report["device_time"] = iso(device_time) if device_time else None
        report["skew_s"] = None if skew is None else round(skew, 1)
        if self.device.username is not None:
            info = await self._information(timedelta(seconds=skew or 0.0))
            if isinstance(info, Locked):
                report["auth"] = "required"
            elif info is not None:
                report["auth"], report["device"] = "username_token", info
        return report

    async def _time(
        self, token: datetime | None = None
    ) -> tuple[soap.Message | Locked | None, datetime | None, datetime]:
        """GetSystemDateAndTime (signed with a token created at `token`, if given): the
        answer, the device's UTC time in it, and ours halfway through the call (the instant
        the device most likely read its clock)."""
        before = self.ctx.clock()
        answer = await self._call("GetSystemDateAndTime", token)
        after = self.ctx.clock()
        ours = before + (after - before) / 2
        if not isinstance(answer, soap.Message):
            return answer, None, ours
        try:
            return answer, utc_time(answer), ours
        except ValueError as exc:
            self._not_onvif(f"GetSystemDateAndTime answered a time that is not one ({exc})")
            return None, None, ours

    def _skew(self, device_time: datetime | None, ours: datetime) -> float | None:
        """Seconds the device's clock is ahead of ours (negative: behind); warned past max_skew."""
        if device_time is None:
            return None  # UTCDateTime is optional in ONVIF: this device gives only local time
        # The device gives whole seconds, cut off: its clock read somewhere in the second after.
        skew = (device_time - ours).total_seconds() + 0.5
        if abs(skew) > self.device.max_skew:
            self.obs.warn("clock_skew", f"{self.where}: {skew_words(skew, self.device.max_skew)}", address=self.address)
        return skew

    async def _information(self, offset: timedelta) -> dict[str, str] | Locked | None:
        answer = await self._call("GetDeviceInformation", self.ctx.clock() + offset)
        if isinstance(answer, Locked):
            self._refused(f"({answer.why})")
        if not isinstance(answer, soap.Message):
            return answer
        payload = answer.payload
        return {key: soap.child_text(payload, name) or "" for name, key in FACTS.items()}

    def _refused(self, why: str) -> None:
        user = self.device.username
        self.obs.problem("auth_failed", f"{self.where}: the device refused user {user!r} {why}", address=self.address)

    def _not_onvif(self, why: str) -> None:
        self.obs.problem("protocol_error", f"{self.where}: not an ONVIF device service: {why}", address=self.address)

    # -- one SOAP call -----------------------------------------------------------------------

    async def _call(self, operation: str, token_created: datetime | None) -> soap.Message | Locked | None:
        """POST `operation` (signed with a token dated `token_created`, if given); None when a
        finding was recorded."""
        header = ""
        if token_created is not None:
            assert self.device.username is not None
            header = soap.username_token(self.device.username, self.device.password or "", token_created)
        body = soap.envelope(f"<tds:{operation}/>", header, {"tds": TDS})
        posting = Posting(body, f'{soap.CONTENT_TYPE}; action="{TDS}/{operation}"')
        answer = await self._post(posting)
        return None if answer is None else self._read(operation, answer)

    async def _post(self, posting: Posting) -> Answer | None:
        conn = await self._connect()
        if conn is None:
            return None
        try:
            return await exchange(conn, self.device.hop, self.deadline, MAX_ANSWER, posting)
        except ExchangeError as exc:
            self.obs.problem(exc.code, f"{self.where}: {exc.detail}", address=self.address)
            return None
        finally:
            conn.close()

    async def _connect(self) -> Connection | None:
        """The first connection records the certificate (onvifs://) on the observation, as a
        check of the address; the calls after it only need the channel."""
        self.connections += 1
        device, address = self.device, self.address
        if not device.secure or self.connections == 1:
            host, port = device.hop.host, device.hop.port
            return await open_connection(
                self.obs, self.ctx, self.options, host, address, port, self.deadline, secure=device.secure
            )
        tls, client = self.ctx.tls, self.options.tls_client
        conn = await open_tls(address, device.hop.port, device.hop.host, tls, client, self.deadline)
        if isinstance(conn, Failure):
            self.obs.problem(conn.code, conn.detail, address=address)
            return None
        return conn

    def _read(self, operation: str, answer: Answer) -> soap.Message | Locked | None:
        status = f"HTTP {answer.status} {answer.reason}".rstrip()
        if answer.truncated:
            self._not_onvif(f"{operation} was answered with more than {MAX_ANSWER // 1024} KiB")
            return None
        try:
            message = soap.parse(answer.body)
        except soap.SoapError as exc:
            if answer.status == 401:
                return Locked(f"{status}{_http_auth_hint(answer)}", _http_date(answer))
            if answer.status >= 500:  # a device service that is failing, not one that is not ONVIF
                detail = f"{self.where}: {operation} was answered with {status}"
                self.obs.problem("http_server_error", detail, address=self.address)
                return None
            kind = answer.headers.get("content-type", "no content type")
            self._not_onvif(f"{operation} was answered with {status} ({kind}): {exc}")
            return None
        fault = soap.fault_of(message)
        if fault is not None and (fault.not_authorized or answer.status == 401):
            return Locked(f"{status}, SOAP fault {fault}", _http_date(answer))
        if fault is not None:
            self._not_onvif(f"{operation} failed with {status}, SOAP fault {fault}")
            return None
        payload = message.payload
        name = None if payload is None else soap.local(payload.tag)
        if answer.status != 200 or name != f"{operation}Response":
            got = f"<{name}>" if name else "an empty Body"
            self._not_onvif(f"{operation} was answered with {status} and {got}, not <{operation}Response>")
            return None
        return message


def _http_auth_hint(answer: Answer) -> str:
    challenge = answer.headers.get("www-authenticate", "")
    if challenge.lower().startswith("digest"):
        # ONVIF allows HTTP Digest besides the UsernameToken; ronda signs with the token only.
        return " (it asks for HTTP Digest authentication; ronda signs ONVIF calls with a WS-Security UsernameToken)"
    return ""


_DATE_TIME_FIELDS = (
    ("Date", "Year"),
    ("Date", "Month"),
    ("Date", "Day"),
    ("Time", "Hour"),
    ("Time", "Minute"),
    ("Time", "Second"),
)


def _http_date(answer: Answer) -> datetime | None:
    try:
        return parsedate_to_datetime(answer.headers.get("date", "")).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def utc_time(message: soap.Message) -> datetime | None:
    """The UTCDateTime of a GetSystemDateAndTime answer (None when the device gives none);
    ValueError when its fields are not a date and time."""
    utc = soap.child(message.payload, "SystemDateAndTime", "UTCDateTime")
    if utc is None:
        return None
    values = []
    for path in _DATE_TIME_FIELDS:
        value = soap.child_text(utc, *path)
        if value is None or not value.isdigit():
            raise ValueError(f"{'/'.join(path)} is {value!r}")
        values.append(int(value))
    year, month, day, hour, minute, second = values
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except OverflowError:  # a field past what a C integer holds; ValueError covers the rest
        raise ValueError(f"{year}-{month}-{day} {hour}:{minute}:{second} is out of range") from None


def skew_words(skew: float, allowed: float) -> str:
    way = "behind" if skew < 0 else "ahead of"
    return (
        f"the device's clock is {abs(skew):.0f} s {way} ronda's, more than the {allowed:g} s allowed (max_skew); "
        "ONVIF token authentication fails beyond about 5 s, and recordings carry the wrong time"
    )


def summary_words(onvif: dict[str, Any]) -> str:
    """The `onvif` object in a few words, for a verdict's summary."""
    device = onvif.get("device")
    if device:
        name = " ".join(part for part in (device["manufacturer"], device["model"]) if part) or "an ONVIF device"
        return f"{name}, firmware {device['firmware'] or 'unknown'}"
    if onvif["auth"] == "required":
        return "an ONVIF device that asks for credentials even for its time (give them as onvif://user:pass@host)"
    if onvif["skew_s"] is None:
        return "an ONVIF device that gives no UTC time"
    return f"an ONVIF device whose clock is {abs(onvif['skew_s']):.0f} s off ronda's"


def _perfdata(onvif: dict[str, Any]) -> list[str]:
    if onvif["skew_s"] is None:
        return []
    # The clock's offset either way, in seconds; warned past max_skew (5 s unless the URL says).
    return [f"clock_skew={abs(onvif['skew_s']):.1f}s;{onvif['max_skew_s']:g};;0"]


def _detail(onvif: dict[str, Any]) -> list[str]:
    skew = onvif["skew_s"]
    clock = "no UTC time given" if skew is None else f"{abs(skew):.1f} s {'behind' if skew < 0 else 'ahead'}"
    time = f"{onvif['device_time']} ({clock})" if onvif["device_time"] else clock
    lines = [f"onvif: device time {time}; authentication {onvif['auth']}"]
    if onvif["device"]:
        facts = ", ".join(f"{key.replace('_', ' ')} {value or '-'}" for key, value in onvif["device"].items())
        lines.append(f"  - device: {facts}")
    return lines


SCHEME = ProbeScheme(probe_onvif, facts="onvif", words=summary_words, perfdata=_perfdata, detail=_detail)
