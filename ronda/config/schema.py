"""The configuration's shape (CONTRACT.md section 4), validated whole by pydantic.

Unknown keys are errors (a typo must not silently turn a check off); defaults live here
and nowhere else.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from ronda.durations import parse_duration
from ronda.errors import UsageError
from ronda.target import parse_address, parse_nameserver, parse_resolve, parse_target

Duration = Annotated[float, BeforeValidator(parse_duration)]


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
    interval: Duration = 30.0
    timeout: Duration = 10.0
    confirm: int = Field(default=2, ge=1, le=100)
    cert_warn_days: float = Field(default=21.0, gt=0)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    nameserver: Nameserver | None = None


class Monitor(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    url: str
    interval: Duration | None = None
    timeout: Duration | None = None
    confirm: int | None = Field(default=None, ge=1, le=100)
    cert_warn_days: float | None = Field(default=None, gt=0)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    nameserver: Nameserver | None = None
    resolve: dict[str, list[str]] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)
    subresources: bool = False
    subresource_hosts: int = Field(default=20, ge=1, le=500)
    deployed_from: str | None = None
    acme_directory: str | None = Field(default=None, pattern=r"^https?://")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        _usage_to_value_error(parse_target, value)
        return value

    @field_validator("resolve")
    @classmethod
    def _resolve(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for hostport, addresses in value.items():
            _usage_to_value_error(parse_resolve, f"{hostport}:{','.join(addresses)}")
        return value


class Config(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    storage: str = "sqlite:///ronda.db"
    defaults: Defaults = Field(default_factory=Defaults)
    canaries: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)
    monitors: list[Monitor] = Field(default_factory=list)

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(f"expected sqlite:///PATH or postgresql://user:pass@host/db, got {value!r}")
        return value

    @field_validator("canaries")
    @classmethod
    def _canaries(cls, value: list[str]) -> list[str]:
        for url in value:
            _usage_to_value_error(parse_target, url)
        return value
