"""The configuration's shape (CONTRACT.md section 4), validated whole by pydantic.

Unknown keys are errors (a typo must not silently turn a check off); defaults live here
and nowhere else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ronda import defaults as default
from ronda.causes import Severity
from ronda.config.channel_urls import check_url
from ronda.durations import parse_duration
from ronda.errors import UsageError
from ronda.target import (
    STATUSPAGE,
    parse_address,
    parse_nameserver,
    parse_resolve,
    parse_subprotocol,
    parse_target,
    statuspage_target,
)

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _quorum(value: object) -> int | float:
    """2 (vantage points) or "50%" (a share of those reporting)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            share = float(value[:-1]) / 100
        except ValueError:
            share = -1.0
        if 0 < share <= 1:
            return share
    raise ValueError(f"expected a number of vantage points (2) or a share such as 50%, got {value!r}")


Quorum = Annotated[int | float, BeforeValidator(_quorum)]


def _gateway(value: object) -> str:
    """auto (the default route's gateway), none, or an IP address (written canonically)."""
    if value in ("auto", "none"):
        return str(value)
    if isinstance(value, str):
        try:
            return parse_address(value, "gateway")
        except UsageError:
            pass
    # YAML 1.1 reads off and no as false: say what to write instead.
    hint = " (to turn it off, write none: YAML reads off and no as false)" if isinstance(value, bool) else ""
    raise ValueError(f"expected auto (the default route's gateway), none, or an IP address, got {value!r}{hint}")


Gateway = Annotated[str, BeforeValidator(_gateway)]


def _nameserver(value: str) -> str:
    parse_nameserver(value)
    return value


Nameserver = Annotated[str, AfterValidator(lambda value: _usage_to_value_error(_nameserver, value))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _usage_to_value_error(call: Any, *args: Any) -> Any:
    """Our parsers raise UsageError; pydantic reports ValueErrors at the field."""
    try:
        return call(*args)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


class ServerConfig(_Strict):
    listen: str = "127.0.0.1:8080"
    token: str | None = Field(default=None, min_length=16)
    public_url: str | None = Field(default=None, pattern=r"^https?://")  # links in notices point here

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected ADDRESS:PORT such as 127.0.0.1:8080, got {value!r}")
        _usage_to_value_error(parse_address, host, "listen")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Expect(_Strict):
    status: int | None = Field(default=None, ge=100, le=599)
    text: str | None = None
    max_latency: Duration | None = None


class Defaults(_Strict):
    interval: Duration = default.INTERVAL
    timeout: Duration = default.TIMEOUT
    confirm: int = Field(default=default.CONFIRM, ge=1, le=100)
    recover: int = Field(default=default.RECOVER, ge=1, le=100)  # consecutive good checks that resolve an incident
    recheck: Duration = default.RECHECK  # how soon to look again while a change of state is unconfirmed
    quorum: Quorum = default.QUORUM  # vantage points (2) or share of them ("50%") that must fail to open an incident
    alert_local: bool = default.ALERT_LOCAL  # announce failures only one vantage point of several sees
    cert_warn_days: float = Field(default=default.CERT_WARN_DAYS, gt=0)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    nameserver: Nameserver | None = None


# What only a push monitor has, and what only a monitor with a target has.
_PUSH_KEYS = ("period", "cron", "timezone", "grace", "token")
_PROBE_KEYS = (
    "interval", "timeout", "recheck", "quorum", "cert_warn_days", "ca_file", "client_cert", "client_key",
    "nameserver", "resolve", "expect", "subresources", "subresource_hosts", "deployed_from", "acme_directory",
    "send", "subprotocol",
)  # fmt: skip


def _statuspage_url(url: str) -> str:
    """kind statuspage takes the page's http(s):// URL (statuspage+https:// is taken too)."""
    from ronda.probes.statuspage import check_parameters  # the probe owns its parameters

    if not url.strip().lower().removeprefix(STATUSPAGE).startswith(("https://", "http://")):
        raise UsageError(f"{url!r}: a status page's URL is https:// (or http://), as in https://status.vendor.example/")
    check_parameters(parse_target(statuspage_target(url)), shown=url)
    return url


class Monitor(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    # check: ronda checks `url`; push: a job calls ronda's URL for it (docs/heartbeats.md).
    kind: Literal["check", "statuspage", "push"] = "check"
    url: str | None = Field(default=None, validate_default=True)  # every kind but push has one
    # kind statuspage: the vendor's components this monitor watches (none: the whole page).
    components: list[str] = Field(default_factory=list)
    interval: Duration | None = None
    timeout: Duration | None = None
    confirm: int | None = Field(default=None, ge=1, le=100)
    recover: int | None = Field(default=None, ge=1, le=100)
    recheck: Duration | None = None
    quorum: Quorum | None = None
    alert_local: bool | None = None
    cert_warn_days: float | None = Field(default=None, gt=0)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    nameserver: Nameserver | None = None
    resolve: dict[str, list[str]] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)
    subresources: bool = False
    # While a monitor this one depends on is failing, this one's failures join its incident.
    depends_on: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)  # for routing notices and selecting maintenance windows
    subresource_hosts: int = Field(default=default.SUBRESOURCE_HOSTS, ge=1, le=500)
    deployed_from: str | None = None
    acme_directory: str | None = Field(default=None, pattern=r"^https?://")
    # ws://, wss://: a text message sent once connected (its reply must contain expect.text),
    # and the Sec-WebSocket-Protocol to ask for.
    send: str | None = None
    subprotocol: str | None = None
    # A push monitor's job runs every `period`, or when `cron` fires in `timezone`; `grace`
    # later without a call it is late. `token`: the secret in its URL (ronda makes one if unset).
    period: Duration | None = None
    cron: str | None = None
    timezone: str | None = None
    grace: Duration | None = None
    token: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "push" and value is not None:
            raise ValueError("a push monitor has no url: its job calls ronda (docs/heartbeats.md)")
        if kind not in (None, "push") and value is None:
            # "missing", as pydantic's own: the config file reads it as "required but missing".
            raise PydanticCustomError("missing", "Field required (only a push monitor, kind: push, has none)")
        if value is not None and kind == "statuspage":
            _usage_to_value_error(_statuspage_url, value)
        elif value is not None:
            _usage_to_value_error(parse_target, value)
        return value

    @field_validator("components")
    @classmethod
    def _components(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("kind") != "statuspage":
            raise ValueError("only a vendor's status page (kind: statuspage) has components to watch")
        for i, name in enumerate(value):
            if not name.strip():
                raise ValueError(f"[{i}] is empty: write a component's name as the vendor's page shows it")
        return value

    def target_url(self) -> str:
        """The URL checked, as `ronda check` takes it: for kind statuspage, the page's URL
        under the statuspage+ scheme with its components (one code path for both)."""
        assert self.url is not None, "a push monitor checks nothing"
        return statuspage_target(self.url, self.components) if self.kind == "statuspage" else self.url

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _cron_expression(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _zone_name(value)

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", value):
            raise ValueError(
                "expected 16 to 64 letters, digits, - or _ (it goes in a URL), such as `openssl rand -hex 16` prints"
            )
        return value

    @field_validator(*_PROBE_KEYS)
    @classmethod
    def _checked(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("kind") == "push":
            raise ValueError(f"a push monitor has no {info.field_name}: its job calls ronda, ronda checks nothing")
        return value

    @field_validator(*_PUSH_KEYS)
    @classmethod
    def _pushed(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("kind") not in (None, "push"):
            raise ValueError(f"only push monitors (kind: push) have {info.field_name}")
        return value

    @model_validator(mode="after")
    def _scheduled(self) -> Monitor:
        """A push monitor says when its job runs."""
        if self.kind == "push" and (self.period is None) == (self.cron is None):
            raise ValueError(
                f"push monitor {self.name!r} needs period (such as 1d) or cron (such as '0 3 * * *'): one of them"
            )
        if self.kind == "push" and self.timezone is not None and self.cron is None:
            raise ValueError(f"push monitor {self.name!r}: timezone goes with cron (a period has no time of day)")
        return self

    @field_validator("send", "subprotocol")
    @classmethod
    def _websocket_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.field_name == "subprotocol":
            _usage_to_value_error(parse_subprotocol, value, "subprotocol")
        url = info.data.get("url")
        if url and parse_target(url).scheme not in ("ws", "wss"):
            raise ValueError("goes with a ws:// or wss:// url")
        return value

    @field_validator("resolve")
    @classmethod
    def _resolve(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for hostport, addresses in value.items():
            _usage_to_value_error(parse_resolve, f"{hostport}:{','.join(addresses)}")
        return value


def _cron_expression(value: str) -> str:
    try:
        CronSim(value, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"{value!r} is not a cron expression: {exc}") from None
    return value


class MaintenanceWindow(_Strict):
    """A time when incidents are planned: once (`start`..`end`) or again and again (`cron` in
    `timezone`, each time lasting `duration`), for `monitors` and monitors with any of `tags`
    (neither: every monitor).

    Fields are checked in the order written here, so each check can see the ones before it.
    `start` and `end` come out in UTC.
    """

    name: str = Field(min_length=1)
    timezone: str = "UTC"  # of `cron`, and of `start`/`end` written without an offset
    cron: str | None = None
    duration: Duration | None = Field(default=None, validate_default=True)
    start: datetime | None = Field(default=None, validate_default=True)
    end: datetime | None = Field(default=None, validate_default=True)
    monitors: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _zone_name(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _cron_expression(value)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: float | None, info: ValidationInfo) -> float | None:
        if "cron" not in info.data:  # the cron was wrong, and said so
            return value
        if info.data["cron"] is not None and value is None:
            raise ValueError("required with cron: how long each window lasts, such as 30m")
        if info.data["cron"] is None and value is not None:
            raise ValueError("goes with cron; a one-off window has start and end")
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if "cron" not in info.data:
            return value
        if info.data["cron"] is not None and value is not None:
            raise ValueError("a window has either cron (recurring) or start and end (one-off), not both")
        if info.data["cron"] is None and value is None:
            raise ValueError("required: a window has start and end (one-off) or cron and duration (recurring)")
        return _in_utc(value, info)

    @field_validator("end")
    @classmethod
    def _end(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if info.data.get("cron") is not None and value is not None:
            raise ValueError("goes with start; a recurring window lasts its duration")
        start = info.data.get("start")
        if start is None:
            return _in_utc(value, info)
        if value is None:
            raise ValueError("required with start")
        end = _in_utc(value, info)
        if end is not None and end.tzinfo is not None and start.tzinfo is not None and end <= start:
            raise ValueError("must be after start")
        return end


def _zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Rome or UTC)") from None
    return value


def _in_utc(value: datetime | None, info: ValidationInfo) -> datetime | None:
    """An instant in UTC; a time written without an offset is in the window's zone (left
    naive when that zone was wrong: its error is reported already)."""
    if value is not None and value.tzinfo is None and "timezone" in info.data:
        value = value.replace(tzinfo=ZoneInfo(info.data["timezone"]))
    return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


class StatusPage(_Strict):
    """A public status page at /status/{slug}: `monitors` named and monitors with any of
    `tags`, in that order (neither: every monitor). Only names are shown, never targets."""

    slug: str
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    timezone: str = "UTC"  # of the times the page shows
    monitors: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", value):
            raise ValueError(f"expected lowercase letters, digits and dashes such as 'public', got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _zone_name(value)


class ReportSettings(_Strict):
    """Users' problem reports (POST /api/v1/reports): what counts, how many are taken, how
    long they are kept. (The surge detector's settings join these.)"""

    window: Duration = 3600.0  # one report per reporter per service counts within this long
    per_source: int = Field(default=10, ge=1)  # reports one client address (an IPv6 /64) may send ...
    per_source_period: Duration = 600.0  # ... within this long; more are answered 429
    global_per_minute: int = Field(default=300, ge=1)  # reports from everyone together; more are 429
    keep: Duration = 120 * 86400.0  # older reports are deleted (the baseline learns from weeks of them)
    # The surge detector (docs/reports.md): reports are counted in two halves of `bucket`;
    # a quiet service is expected to get at least `floor` reports an hour; a surge at
    # `open_incident` strength opens an incident when the service has none open.
    bucket: Duration = 300.0
    floor: float = Field(default=2.0, gt=0)
    open_incident: Literal["possible", "likely"] = "likely"
    interval: Duration = 30.0  # how often the reports are assessed

    @field_validator("window")
    @classmethod
    def _window(cls, value: float) -> float:
        if value > 86400:
            raise ValueError("at most 1d: a reporter is known by a hash whose salt changes every day")
        return value

    @field_validator("keep")
    @classmethod
    def _keep(cls, value: float) -> float:
        if value < 86400:
            raise ValueError("at least 1d: reports younger than the dedupe window must stay")
        return value


class NotifyRetry(_Strict):
    first: Duration = default.NOTIFY_RETRY_FIRST  # the wait after a channel's first failure; it doubles each time
    max: Duration = default.NOTIFY_RETRY_MAX


class NotifyChannel(_Strict):
    """Where notices go: an Apprise URL, for monitors with any of `tags` (none: every
    monitor), for notices at `min_severity` or worse."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\[\]-]{0,63}$")
    url: str
    tags: list[str] = Field(default_factory=list)
    min_severity: Severity = Severity.INFO
    deadline: Duration | None = None  # this channel's notify_deadline

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        check_url(value)
        return value


class Config(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    storage: str = "sqlite:///ronda.db"
    defaults: Defaults = Field(default_factory=Defaults)
    # Targets that work whenever ronda's own network does. Unset: the configured resolver
    # (default.nameserver), if any, and the gateway; [] turns the check off.
    canaries: list[str] | None = None
    # The gateway, pinged (icmp://) as a default canary: an answer proves the way out works.
    # auto: the IPv4 default route's, read when ronda starts; none: no gateway canary.
    gateway: Gateway = "auto"
    notify: list[NotifyChannel] = Field(default_factory=list)
    notify_deadline: Duration = 86400.0  # a notice not delivered by then is `failed`
    notify_retry: NotifyRetry = Field(default_factory=NotifyRetry)
    notify_storm: int = Field(default=default.NOTIFY_STORM, ge=1)  # more openings than this at once: one digest
    notify_storm_wait: Duration = default.NOTIFY_STORM_WAIT  # how long an opening waits for others to join its digest
    monitors: list[Monitor] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    status_pages: list[StatusPage] = Field(default_factory=list)
    reports: ReportSettings = Field(default_factory=ReportSettings)

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(f"expected sqlite:///PATH or postgresql://user:pass@host/db, got {value!r}")
        return value

    @field_validator("canaries")
    @classmethod
    def _canaries(cls, value: list[str] | None) -> list[str] | None:
        for url in value or []:
            _usage_to_value_error(parse_target, url)
        return value

    @field_validator("notify", mode="before")
    @classmethod
    def _notify_names(cls, value: Any) -> Any:
        """A plain URL (the contract's form) is a channel named after its place: notify[0], ..."""
        if not isinstance(value, list):
            return value
        return [
            {"name": f"notify[{i}]", "url": entry}
            if isinstance(entry, str)
            else {"name": f"notify[{i}]", **entry}
            if isinstance(entry, dict)
            else entry
            for i, entry in enumerate(value)
        ]

    @field_validator("notify")
    @classmethod
    def _notify_unique(cls, value: list[NotifyChannel]) -> list[NotifyChannel]:
        names = [channel.name for channel in value]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"notify[{names.index(name)}] and notify[{i}] are both named {name!r}")
        return value
