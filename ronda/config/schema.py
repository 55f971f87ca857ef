"""The configuration's shape (CONTRACT.md section 4), validated whole by pydantic.

Unknown keys are errors (a typo must not silently turn a check off). The default values are
ronda/defaults.py's; a Config fills each monitor's unset keys from its `defaults:` as it
is validated, so nothing downstream merges defaults by hand.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ByteSize,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from ronda import defaults as default
from ronda.causes import Severity
from ronda.config.channel_urls import check_url
from ronda.config.http_checks import Expect, Request
from ronda.config.public_posts import Announce, Subscriptions
from ronda.config.strict import Strict as _Strict
from ronda.config.strict import usage_to_value_error as _usage_to_value_error
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

LOCAL_REGION = "local"  # the hub's own checks, as a region a monitor may name
REGION_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"  # eu-south, us-east-1: an agent's region (ronda/agent/)


def _regions(value: list[str] | None) -> list[str] | None:
    """Where a monitor is checked from: region names (an agent's, or `local` for the hub),
    each once; None (unset): from everywhere."""
    if value is None:
        return None
    if not value:
        raise ValueError("expected at least one region (leave it out to check from every region)")
    for region in value:
        if not re.fullmatch(REGION_PATTERN, region):
            raise ValueError(f"{region!r} is not a region name: lower-case letters, digits and -, such as eu-south")
    return list(dict.fromkeys(value))


Regions = Annotated[list[str] | None, AfterValidator(_regions)]


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
    _usage_to_value_error(parse_nameserver, value, "")  # the field's path names it
    return value


Nameserver = Annotated[str, AfterValidator(lambda value: _usage_to_value_error(_nameserver, value))]


def _proxy_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"expected an address or a CIDR such as 10.0.0.0/8 or ::1, got {value!r}") from None


ProxyNetwork = Annotated[str, AfterValidator(_proxy_network)]


def address_of(listen: str) -> tuple[str, int]:
    """A checked `listen` value (ADDRESS:PORT, [v6]:PORT) as a host and a port."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class ServerConfig(_Strict):
    listen: str = "127.0.0.1:8080"
    # Where the checks run: "process", a probe worker of their own, which no flood of
    # requests on `listen` can slow; "thread", a thread of this process (about 60 MiB less).
    checks: Literal["process", "thread"] = "process"
    # A listener of its own for /healthz alone (a supervisor's or load balancer's probe),
    # served where the checks run, so that a flood on `listen` cannot delay its answer.
    health_listen: str | None = None
    token: str | None = Field(default=None, min_length=16)
    public_url: str | None = Field(default=None, pattern=r"^https?://")  # links in notices point here
    # Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or CIDRs);
    # from anyone else those headers are ignored, since whoever sends a request writes them.
    trusted_proxies: list[ProxyNetwork] = Field(default_factory=list)
    # For monitors added through the API or the dashboard (the config file's are the
    # operator's own): may they point at loopback, private, link-local and metadata
    # addresses, and which folders may their file:// targets and files lie in (none by default).
    allow_private_targets: bool = True
    allowed_private_networks: list[str] = Field(default_factory=list)  # allowed all the same: 10.20.0.0/16
    file_roots: list[str] = Field(default_factory=list)
    # /metrics has series of each monitor's own only while a scrape covers at most this many
    # monitors (ten series each: at 100,000 a scrape was 43 MB and 6 s); past it, the totals,
    # and `ronda_metrics_monitors_left_out` says how many. Scrape by tag (`/metrics?tag=db`),
    # ask for all (`?per_monitor=true`), or raise this.
    metrics_per_monitor_limit: int = Field(default=default.METRICS_PER_MONITOR_LIMIT, ge=0)

    @field_validator("allowed_private_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not a network such as 10.20.0.0/16: {exc}") from None
        return networks

    @field_validator("file_roots")
    @classmethod
    def _absolute_roots(cls, roots: list[str]) -> list[str]:
        relative = [root for root in roots if not root.startswith("/")]
        if relative:
            raise ValueError(f"folders are written whole, from /: {', '.join(map(repr, relative))}")
        return roots

    # The largest request body ronda reads (1MB, 64KiB, or bytes): `max_body` behind a login
    # or token (the API's monitor definitions, the dashboard's forms), `max_public_body` where
    # anyone may post (reports, push calls, the login form). Larger ones are answered 413.
    max_body: ByteSize = Field(default=ByteSize(1024 * 1024), ge=1024)
    max_public_body: ByteSize = Field(default=ByteSize(64 * 1024), ge=1024)

    @field_validator("listen", "health_listen")
    @classmethod
    def _listen(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected ADDRESS:PORT such as 127.0.0.1:8080, got {value!r}")
        _usage_to_value_error(parse_address, host, info.field_name or "listen")
        return value

    @property
    def host(self) -> str:
        return address_of(self.listen)[0]

    @property
    def port(self) -> int:
        return address_of(self.listen)[1]

    @property
    def base_url(self) -> str:
        """Where links in notices, feeds, status pages and push URLs point: `public_url`, or
        else the address ronda listens on. Never a request's Host header, which whoever sends
        the request chooses."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class Defaults(_Strict):
    interval: Duration = default.INTERVAL
    timeout: Duration = default.TIMEOUT
    confirm: int = Field(default=default.CONFIRM, ge=1, le=100)
    recover: int = Field(default=default.RECOVER, ge=1, le=100)  # consecutive good checks that resolve an incident
    recheck: Duration = default.RECHECK  # how soon to look again while a change of state is unconfirmed
    quorum: Quorum = default.QUORUM  # vantage points (2) or share of them ("50%") that must fail to open an incident
    alert_local: bool = default.ALERT_LOCAL  # announce failures only one vantage point of several sees
    regions: Regions = None  # where monitors are checked from: agents' regions and `local`; unset: all
    cert_warn_days: float = Field(default=default.CERT_WARN_DAYS, gt=0)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    nameserver: Nameserver | None = None


def _statuspage_url(url: str) -> str:
    """kind statuspage takes the page's http(s):// URL (statuspage+https:// is taken too)."""
    from ronda.probes.vendor_page import check_parameters  # the probe owns its parameters

    if not url.strip().lower().removeprefix(STATUSPAGE).startswith(("https://", "http://")):
        raise UsageError(f"{url!r}: a status page's URL is https:// (or http://), as in https://status.vendor.example/")
    check_parameters(parse_target(statuspage_target(url)), shown=url)
    return url


# -- monitors: one model per kind -------------------------------------------------------------


class _MonitorBase(_Strict):
    """What every kind of monitor has: a name, and how its state becomes incidents.

    A key of `Defaults` that a monitor leaves unset is the config's `defaults:` value, filled
    in by the Config (`with_defaults`); until then it is `Defaults`' own default. Either
    way, a key whose default has a value is never None."""

    from_defaults: ClassVar[tuple[str, ...]] = ("confirm", "recover", "alert_local")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    confirm: int = Field(default=default.CONFIRM, ge=1, le=100)
    recover: int = Field(default=default.RECOVER, ge=1, le=100)
    alert_local: bool = default.ALERT_LOCAL
    # While a monitor this one depends on is failing, this one's failures join its incident.
    depends_on: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)  # for routing notices and selecting maintenance windows

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its kind and set of names written (one tuple for all monitors alike)
        and its values: `ronda run` unpickles 100,000 monitors from the child that loaded
        them (memory.made_apart), and an unpickler keeps each tuple and dict it reads until
        it ends. pydantic's own way read a state dict and a tuple for each: 190 bytes a
        monitor, left resident among them as holes."""
        fields_set = self.__pydantic_fields_set__
        made = _REMADE_AS.get((type(self), id(fields_set)))
        if made is None or made[1] is not fields_set:
            made = (type(self), fields_set)
            if len(_REMADE_AS) < _FIELDS_SETS_KEPT:  # a set of its own (not shared) is not kept
                _REMADE_AS[(type(self), id(fields_set))] = made
        return _remade, made, self.__dict__

    def __setstate__(self, values: dict[str, Any]) -> None:
        """What __reduce__ pickled, set value by value, not as the unpickled dict: CPython then
        keeps them beside the keys all monitors of the kind share (a dict of 25 names of its
        own is 832 bytes; the values alone, 216). pydantic reads them as `__dict__` all the same.
        Pickle makes each float anew: equal ones (a duration from `defaults:`) are shared again."""
        for name, value in values.items():
            if type(value) is float and len(_FLOATS) < _FLOATS_KEPT:
                value = _FLOATS.setdefault(value, value)
            object.__setattr__(self, name, value)


# Floats monitors remade in this process share, by value: intervals, timeouts and the like,
# few in any config. Past the bound a float is kept as it came.
_FLOATS: dict[float, float] = {}
_FLOATS_KEPT = 4096

# The arguments a kind of monitor with a set of names written is remade from, by the set's
# id (and the set itself, which keeps that id its own): few, as the sets are (_FIELDS_SETS).
_REMADE_AS: dict[tuple[type, int], tuple[type[_MonitorBase], set[str]]] = {}


def _remade(model: type[M], fields_set: set[str]) -> M:
    """A monitor of `model` without its values yet (`__setstate__` gives them), as pydantic's
    own unpickling makes it."""
    monitor = model.__new__(model)
    object.__setattr__(monitor, "__pydantic_fields_set__", fields_set)
    object.__setattr__(monitor, "__pydantic_extra__", None)  # extra="forbid": never any
    object.__setattr__(monitor, "__pydantic_private__", None)  # monitors have no private attributes
    return monitor


class _Probed(_MonitorBase):
    """A monitor ronda checks itself, at `url`."""

    from_defaults: ClassVar[tuple[str, ...]] = tuple(Defaults.model_fields)
    url: str
    interval: Duration = default.INTERVAL
    timeout: Duration = default.TIMEOUT
    recheck: Duration = default.RECHECK
    quorum: Quorum = default.QUORUM
    regions: Regions = None
    cert_warn_days: float = Field(default=default.CERT_WARN_DAYS, gt=0)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    nameserver: Nameserver | None = None
    resolve: dict[str, list[str]] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)
    deployed_from: str | None = None
    acme_directory: str | None = Field(default=None, pattern=r"^https?://")

    def target_url(self) -> str:
        """The URL checked, as `ronda check` takes it."""
        return self.url

    @field_validator("resolve")
    @classmethod
    def _resolve(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for hostport, addresses in value.items():
            _usage_to_value_error(parse_resolve, f"{hostport}:{','.join(addresses)}", "")
        return value


class CheckMonitor(_Probed):
    """kind check (the default): ronda checks `url` with its probe."""

    kind: Literal["check"] = "check"
    subresources: bool = False
    subresource_hosts: int = Field(default=default.SUBRESOURCE_HOSTS, ge=1, le=500)
    # ws://, wss://: a text message sent once connected (its reply must contain expect.text),
    # and the Sec-WebSocket-Protocol to ask for.
    send: str | None = None
    subprotocol: str | None = None
    request: Request | None = None  # http(s)://: what to send (ronda/config/http_checks.py)
    # http(s)://: load the page in headless Chromium instead, as browser+https:// does
    # (docs/browser.md): the same monitor, seen as its users' browsers see it.
    browser: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        _usage_to_value_error(parse_target, value)
        return value

    @model_validator(mode="after")
    def _in_a_browser(self) -> CheckMonitor:
        if not self.browser:
            return self
        if parse_target(self.url).scheme not in ("http", "https"):
            raise ValueError("browser: true goes with an http:// or https:// url")
        from ronda.probes import PROBES

        unused = [key for key in ("request", "send", "subprotocol") if getattr(self, key) is not None]
        if not PROBES["browser+https"].http_answer:
            unused += [f"expect.{key}" for key in self.expect.http_only()]
        if self.subresources:
            unused.append("subresources (the browser loads every asset itself)")
        if unused:
            raise ValueError(f"browser: true loads the page as a browser does; {', '.join(unused)} cannot go with it")
        return self

    def target_url(self) -> str:
        """The URL checked, as `ronda check` takes it: under browser+ when `browser` is set."""
        return f"browser+{self.url}" if self.browser else self.url

    @field_validator("expect")
    @classmethod
    def _http_expectations(cls, value: Expect, info: ValidationInfo) -> Expect:
        """What only an HTTP answer can show (headers, JSON paths...) asked of another kind
        of target would never be judged: an error."""
        from ronda.probes import PROBES

        url = info.data.get("url")
        keys = value.http_only()
        if url and keys and not PROBES[parse_target(url).scheme].http_answer:
            raise ValueError(f"{', '.join(keys)} {'goes' if len(keys) == 1 else 'go'} with an http:// or https:// url")
        return value

    @field_validator("send", "subprotocol", "request")
    @classmethod
    def _probe_only(cls, value: Any, info: ValidationInfo) -> Any:
        """A probe's own option (ronda/probes/base.py, ProbeScheme.options) on a monitor whose
        URL another probe checks would be ignored: an error, not a silent no-op."""
        from ronda.probes import PROBES, option_schemes

        if value is None or info.field_name is None:
            return value
        if info.field_name == "subprotocol":
            _usage_to_value_error(parse_subprotocol, value, "")  # the field's path names it
        url = info.data.get("url")
        if url and info.field_name not in PROBES[parse_target(url).scheme].options:
            raise ValueError(f"goes with a {option_schemes(info.field_name)} url")
        return value


class StatusPageMonitor(_Probed):
    """kind statuspage: a vendor's own status page, read by the statuspage+ probe."""

    kind: Literal["statuspage"]
    components: list[str] = Field(default_factory=list)  # the vendor's components watched (none: the whole page)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return str(_usage_to_value_error(_statuspage_url, value))

    @field_validator("components")
    @classmethod
    def _components(cls, value: list[str]) -> list[str]:
        for i, name in enumerate(value):
            if not name.strip():
                raise ValueError(f"[{i}] is empty: write a component's name as the vendor's page shows it")
        return value

    def target_url(self) -> str:
        """The page's URL under the statuspage+ scheme with its components, as `ronda check`
        takes it (one code path for both)."""
        return statuspage_target(self.url, self.components)


class PushMonitor(_MonitorBase):
    """kind push: a job calls ronda's URL for it (docs/heartbeats.md); ronda checks nothing.

    The job runs every `period`, or when `cron` fires in `timezone`; `grace` later without a
    call it is late. `token`: the secret in its URL (ronda makes one if unset).

    One missed heartbeat opens the incident (its grace was the wait a probe's `confirm` is),
    so `defaults.confirm` does not apply: a push monitor's own `confirm` counts missed runs."""

    from_defaults: ClassVar[tuple[str, ...]] = ("recover", "alert_local")
    kind: Literal["push"]
    confirm: int = Field(default=default.PUSH_CONFIRM, ge=1, le=100)
    period: Duration | None = None
    cron: str | None = None
    timezone: str | None = None
    grace: Duration = default.PUSH_GRACE
    token: str | None = None

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

    @model_validator(mode="after")
    def _scheduled(self) -> PushMonitor:
        """A push monitor says when its job runs."""
        if (self.period is None) == (self.cron is None):
            raise ValueError(
                f"push monitor {self.name!r} needs period (such as 1d) or cron (such as '0 3 * * *'): one of them"
            )
        if self.timezone is not None and self.cron is None:
            raise ValueError(f"push monitor {self.name!r}: timezone goes with cron (a period has no time of day)")
        return self


_KINDS: dict[str, type[_MonitorBase]] = {"check": CheckMonitor, "statuspage": StatusPageMonitor, "push": PushMonitor}


def _kind_of(value: Any) -> Any:
    """The kind a monitor is: `check` unless it says otherwise."""
    return value.get("kind", "check") if isinstance(value, dict) else getattr(value, "kind", "check")


def _foreign_key(kind: str, key: str) -> str | None:
    """Why a key of another kind of monitor does not go with `kind`, in the words of that
    key (None: no kind has it, a misspelling)."""
    if not any(key in model.model_fields for model in _KINDS.values()):
        return None
    if kind == "push":
        why = (
            "its job calls ronda (docs/heartbeats.md)" if key == "url" else "its job calls ronda, ronda checks nothing"
        )
        return f"a push monitor has no {key}: {why}"
    if key in PushMonitor.model_fields:
        return f"only push monitors (kind: push) have {key}"
    if key in StatusPageMonitor.model_fields:
        return "only a vendor's status page (kind: statuspage) has components to watch"
    from ronda.probes import option_schemes

    if schemes := option_schemes(key):  # a probe's own option (ProbeScheme.options)
        return f"goes with a {schemes} url"
    return f"a vendor's status page (kind: statuspage) has no {key}: ronda reads its status, not a page's assets"


def _explained(error: ErrorDetails, kind: str) -> InitErrorDetails:
    """One of a monitor's errors, located in the monitor itself (pydantic puts the kind in
    front, monitors[0].check.url, where the file and the API name monitors[0].url), and a key
    of another kind of monitor said as such rather than as a misspelling."""
    loc = error["loc"][1:] if error["loc"][:1] == (kind,) else error["loc"]
    if error["type"] == "extra_forbidden" and (why := _foreign_key(kind, str(loc[-1]))):
        return {"type": PydanticCustomError("value_error", why), "loc": loc, "input": error["input"]}
    problem = PydanticCustomError(error["type"], error["msg"], error.get("ctx"))
    return {"type": problem, "loc": loc, "input": error["input"]}


_DEFAULTS_KEYS = frozenset(Defaults.model_fields)  # once: pydantic's property costs µs each time


def _by_kind(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if isinstance(value, dict) and None in value.values():  # `timeout: null` leaves it to the defaults
        value = {key: v for key, v in value.items() if v is not None or key not in _DEFAULTS_KEYS}
    kind = _kind_of(value)
    if not isinstance(kind, str) or kind not in _KINDS:
        wanted = "Input should be 'check', 'statuspage' or 'push'"
        raise ValidationError.from_exception_data(
            "Monitor", [{"type": PydanticCustomError("literal_error", wanted), "loc": ("kind",), "input": kind}]
        )
    try:
        return handler(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            "Monitor", [_explained(error, str(kind)) for error in exc.errors()]
        ) from None


# A monitor of the config file or of the API: the model of its kind.
Monitor = Annotated[
    Annotated[CheckMonitor, Tag("check")]
    | Annotated[StatusPageMonitor, Tag("statuspage")]
    | Annotated[PushMonitor, Tag("push")],
    Discriminator(_kind_of),
    WrapValidator(_by_kind),
]
_MONITOR: TypeAdapter[Monitor] = TypeAdapter(Monitor)


def parse_monitor(data: Any) -> Monitor:
    """A monitor from its definition (a dict, as in the config file or the API's JSON);
    ValidationError names each wrong field as the config file does. What it leaves unset is
    `Defaults`' default until a Config fills it from its own `defaults:`."""
    return _MONITOR.validate_python(data)


T = TypeVar("T")


Made = tuple[list[Any], T]  # what _once_per made, and the list it made it from


def _once_per(items: list[Any], made: Made[T] | None, make: Callable[[list[Any]], T]) -> Made[T]:
    """`make(items)`, kept beside the list it was made from and made again only for another
    list: a copy of a model with other items (model_copy copies private attributes)."""
    return made if made is not None and made[0] is items else (items, make(items))


M = TypeVar("M", bound=_MonitorBase)


def with_defaults(monitor: M, defaults: Defaults) -> M:
    """`monitor` with every key of `defaults` it takes and leaves unset taken from there.
    It still shows as set only what its definition wrote, so `exclude_unset` dumps the
    definition (what the API stores and shows), and filling again from other defaults (a
    reload, paths made absolute) replaces what was filled before."""
    unset = [key for key in monitor.from_defaults if key not in monitor.model_fields_set]
    if all(getattr(monitor, key) == getattr(defaults, key) for key in unset):
        return monitor  # filled from these defaults already: a config reused has 100,000 of them
    # A copy with those fields replaced, as model_copy(update=) makes it but without marking
    # them set (model_construct, rebuilding every field, was most of loading 100,000 monitors).
    return _fill(monitor.model_copy(), defaults)


def _fill(monitor: M, defaults: Defaults) -> M:
    """`monitor` itself, what it leaves unset set from `defaults` (not marked set): only for a
    monitor nobody else holds, as a model is frozen for everyone else.

    What else it leaves unset, and the set of names it did set, it shares with every monitor
    alike: pydantic gives each its own empty lists, `expect` and set of names (at 100,000
    monitors, 90 MB of a service's 200 MB of config). Models are frozen, and pydantic copies
    the set of names before a copy changes it."""
    fields_set = monitor.model_fields_set
    values = monitor.__dict__
    values.update({key: getattr(defaults, key) for key in monitor.from_defaults if key not in fields_set})
    values.update({key: value for key, value in _made_defaults(type(monitor)).items() if key not in fields_set})
    if len(_FIELDS_SETS) < _FIELDS_SETS_KEPT:
        object.__setattr__(
            monitor, "__pydantic_fields_set__", _FIELDS_SETS.setdefault(frozenset(fields_set), fields_set)
        )
    return monitor


@functools.cache
def _made_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """One value of each of `model`'s fields whose default is made afresh each time."""
    return {
        name: field.get_default(call_default_factory=True, validated_data={})
        for name, field in model.model_fields.items()
        if field.default_factory is not None
    }


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}  # each distinct set of names monitors set
_FIELDS_SETS_KEPT = 4096  # a bound on them (distinct sets are few: the keys people write)


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
    # Whether status pages tell their subscribers and public channels when it is scheduled,
    # starts and ends (docs/subscribers.md); a nightly window may be too frequent to tell.
    announce: bool = True
    _named: tuple[list[Any], frozenset[str]] | None = PrivateAttr(default=None)  # names()

    def names(self, monitor: str) -> bool:
        """Whether `monitors` names this monitor: asked for every verdict and every component
        of a page, of a set made once (a window may name thousands)."""
        self._named = _once_per(self.monitors, self._named, frozenset)
        return monitor in self._named[1]

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


class StatusComponent(_Strict):
    """How a status page shows one of its monitors: a name for customers (the monitor's own
    name is often an internal one), a line saying what it is, and the group it sits in."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    group: str | None = Field(default=None, min_length=1, max_length=100)


LOGO_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
LOGO_MAX_BYTES = 512 * 1024


class StatusPage(_Strict):
    """A public status page at /status/{slug}: `monitors` named and monitors with any of
    `tags`, in that order (neither: every monitor). Only names are shown, never targets:
    the monitor's own, or the display name `components` gives it.

    `logo`: an image file ronda serves beside the page (relative to the config file).
    `show_report_counts`: whether visitors see how many reports came and their top
    problems; without it the page shows only the level of reports and where they come from.
    `subscribe` and `announce`: who hears of its incidents (ronda/config/public_posts.py)."""

    slug: str
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    logo: str | None = None
    timezone: str = "UTC"  # the zone of the page's times for visitors whose browser runs no script
    monitors: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    components: dict[str, StatusComponent] = Field(default_factory=dict)  # by monitor name
    show_report_counts: bool = False
    subscribe: Subscriptions | None = None  # visitors may subscribe (docs/subscribers.md)
    announce: list[Announce] = Field(default_factory=list)  # public channels the page posts to

    def shows(self, monitor: str, tags: Sequence[str]) -> bool:
        """Whether the page shows this monitor (one with these tags): see members()."""
        if not self.monitors and not self.tags:
            return True
        return monitor in self.monitors or not set(self.tags).isdisjoint(tags)

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is not None and PurePath(value).suffix.lower() not in LOGO_TYPES:
            raise ValueError(f"expected an image file ending in {', '.join(LOGO_TYPES)}, got {value!r}")
        return value

    def display_name(self, monitor: str) -> str:
        """What visitors call the monitor's component."""
        shown = self.components.get(monitor)
        return shown.name if shown is not None and shown.name else monitor

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
    # Reports alone open an incident only from this many distinct reporters (client
    # addresses, hashed), whose reports span at least `min_spread`: a burst from a few
    # machines, however many reports it makes, opens nothing.
    min_sources: int = Field(default=5, ge=1)
    min_spread: Duration = 300.0
    # An incident opened by reports alone tells nobody until a person confirms it
    # (POST /api/v1/incidents/{id}/confirm); ronda's own failing checks confirm it too.
    confirm_before_notify: bool = False

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


class Retention(_Strict):
    """How long history is kept (ronda/storage/history.py). Raw verdicts (every check's
    whole answer) are the bulk; the hour and day rollups are a few hundred bytes a monitor
    a day. Changes of state and incidents are kept for good."""

    raw: Duration = default.RETENTION_RAW
    hourly: Duration = default.RETENTION_HOURLY  # the uptime windows up to 90 days read hours
    daily: Duration | None = None  # None: for good (the 90-day bars read days)

    @field_validator("hourly", "daily")
    @classmethod
    def _ninety_days_at_least(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and value < default.RETENTION_HOURLY:
            raise ValueError(f"{info.field_name} rollups must be kept 90 days at least (90d): uptime reads them")
        return value


class AgentTimes(_Strict):
    """How the hub hears its probe agents (ronda/service/agent_hub.py)."""

    ask_every: Duration = Field(default=10.0, gt=0)  # seconds between an agent's questions for its monitors
    # No word from an agent this long: its monitors go to the others of its region, and it is
    # shown as a lost vantage point.
    silent_after: Duration = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _longer_than_asking(self) -> AgentTimes:
        if self.silent_after < 2 * self.ask_every:
            raise ValueError(
                f"silent_after ({self.silent_after:g}s) must be at least twice ask_every ({self.ask_every:g}s): "
                "an agent would go silent between two of its questions"
            )
        return self


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
    notify_storm_wait: Duration = default.NOTIFY_STORM_WAIT  # in a storm, how long an opening waits for its digest
    monitors: list[Monitor] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    status_pages: list[StatusPage] = Field(default_factory=list)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    retention: Retention = Field(default_factory=Retention)
    agents: AgentTimes = Field(default_factory=AgentTimes)
    _by_name: tuple[list[Monitor], dict[str, Monitor]] | None = PrivateAttr(default=None)  # monitor_named

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

    @field_validator("monitors", mode="wrap")
    @classmethod
    def _filled(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> list[Monitor]:
        """Every monitor with what it leaves unset taken from `defaults`, once, here: nothing
        downstream merges defaults by hand. (Wrong defaults were reported already.) A monitor
        made here from its definition is filled in place: nobody else holds it yet, and a
        copy of each was a second of loading 100,000; one passed in is copied."""
        monitors: list[Monitor] = handler(value)
        defaults = info.data.get("defaults")
        if defaults is None:
            return monitors
        listed = isinstance(value, list | tuple)  # anything else the handler took: copy all
        made_here = [isinstance(item, dict) for item in value] if listed else [False] * len(monitors)
        return [
            _fill(monitor, defaults) if fresh else with_defaults(monitor, defaults)
            for monitor, fresh in zip(monitors, made_here, strict=True)
        ]

    def monitor_named(self, name: str) -> Monitor | None:
        """The monitor called `name`, from an index made once per list of monitors: a status
        page scanned the whole list for each of its components (1,000 components of 100,000
        monitors: 10^8 comparisons). A copy with other monitors makes its own index."""
        self._by_name = _once_per(self.monitors, self._by_name, lambda monitors: {m.name: m for m in monitors})
        return self._by_name[1].get(name)

    def with_monitors(self, monitors: Sequence[Monitor]) -> Config:
        """This config running `monitors` (the API's among them), each filled from its
        defaults as the file's are. (model_copy validates nothing, so it would not.)"""
        return self.model_copy(update={"monitors": [with_defaults(m, self.defaults) for m in monitors]})

    def with_added(self, monitors: Sequence[Monitor]) -> Config:
        """This config's own monitors (filled already) and `monitors` after them, filled as
        with_monitors fills them: only the added are looked at (100,000 of the file's are not)."""
        added = [with_defaults(m, self.defaults) for m in monitors]
        return self.model_copy(update={"monitors": [*self.monitors, *added]})

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
