"""A monitor's `request:` and `expect:` keys: what an http(s) check sends, and what its answer
must show. Each value is read by the same parser as `ronda check`'s option for it
(ronda/httpspec.py), so a mistake reads the same in both places, here behind the field's
place in the file; `expectations()` and `spec()` give the records a check runs with.

Secrets (a password, a token, a client secret) are written as `${VAR}`, which the loader
reads from the environment (an unset one is an error at its line); they go only into the
request, never into a verdict (ronda/probes/calls.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ByteSize, Field, model_validator
from pydantic_core import PydanticCustomError

from ronda.config.strict import Strict as _Strict
from ronda.config.strict import usage_to_value_error as _usage
from ronda.durations import parse_duration
from ronda.errors import UsageError
from ronda.httpspec import (
    Auth,
    BasicAuth,
    BearerAuth,
    HeaderCheck,
    HttpRequest,
    OAuth2,
    StatusRanges,
    check_pattern,
    form_body,
    graphql_body,
    header_check,
    json_body,
    parse_json_check,
    parse_method,
    parse_status_ranges,
    parse_token_url,
    request_header,
    text_body,
)
from ronda.target import Expectations


def _status(value: object) -> object:
    """A status, a range or a list, as written; a number written as text is a number.
    Its error is a type of its own, so the dashboard's form (ronda/web/monitor_forms.py)
    may say what its field takes in its own words; the config says ronda's."""
    try:
        parse_status_ranges(value, "")
    except UsageError as exc:
        raise PydanticCustomError("http_status", str(exc)) from None
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def _pattern(value: str) -> str:
    return str(_usage(check_pattern, value, ""))


def _json_path(value: str) -> str:
    _usage(parse_json_check, value, "")
    return value


def _header_rules(value: dict[str, Any]) -> dict[str, Any]:
    for name, rule in value.items():
        _usage(header_check, name, rule, "")
    return value


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(parse_duration)]
# 200, "2xx", "200-299", [200, 204], ["2xx", 304]: kept as written (the API shows it so).
Status = Annotated[int | str | list[int | str], AfterValidator(_status)]
Pattern = Annotated[str, AfterValidator(_pattern)]
JsonPath = Annotated[str, AfterValidator(_json_path)]
HeaderRule = str | int | float | dict[str, str | bool]


class Expect(_Strict):
    """What the answer must show. `status`, `text` and `max_latency` apply to every kind of
    target that has them; the rest to http(s) answers."""

    status: Status | None = None
    text: str | None = None
    max_latency: Duration | None = None
    no_text: str | None = None
    regex: Pattern | None = None
    no_regex: Pattern | None = None
    headers: Annotated[dict[str, HeaderRule], AfterValidator(_header_rules)] = Field(default_factory=dict)
    json_paths: Annotated[list[JsonPath], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    max_size: ByteSize | None = None
    min_size: ByteSize | None = None

    def expectations(self) -> Expectations:
        return Expectations(
            status=self._status(),
            text=self.text,
            max_latency=self.max_latency,
            no_text=self.no_text,
            regex=self.regex,
            no_regex=self.no_regex,
            headers=tuple(self._header_checks()),
            json_paths=tuple(parse_json_check(text, "") for text in self.json_paths),
            max_size=None if self.max_size is None else int(self.max_size),
            min_size=None if self.min_size is None else int(self.min_size),
        )

    def _status(self) -> int | StatusRanges | None:
        if self.status is None or (isinstance(self.status, int) and not isinstance(self.status, bool)):
            return self.status
        return parse_status_ranges(self.status, "")

    def _header_checks(self) -> list[HeaderCheck]:
        return [header_check(name, rule, "") for name, rule in self.headers.items()]

    def http_only(self) -> list[str]:
        """The keys set here that only an http(s) answer can meet."""
        return self.expectations().http_only()


class BasicAuthConfig(_Strict):
    username: str
    password: str = Field(repr=False)


class OAuth2Config(_Strict):
    token_url: Annotated[str, AfterValidator(lambda url: _usage(parse_token_url, url, ""))]
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1, repr=False)
    scope: str | None = None
    audience: str | None = None
    client_auth: Literal["basic", "post"] = "basic"  # the secret in HTTP Basic (RFC 6749 2.3.1) or the form


class AuthConfig(_Strict):
    """One of: `basic: {username, password}`, `bearer: TOKEN`, `oauth2: {...}`."""

    basic: BasicAuthConfig | None = None
    bearer: str | None = Field(default=None, min_length=1, repr=False)
    oauth2: OAuth2Config | None = None

    @model_validator(mode="after")
    def _one(self) -> AuthConfig:
        given = [key for key in ("basic", "bearer", "oauth2") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(
                "expected one of basic:, bearer: or oauth2:" + (f", not {' and '.join(given)}" if given else "")
            )
        return self

    def spec(self) -> Auth:
        if self.basic is not None:
            return BasicAuth(self.basic.username, self.basic.password)
        if self.bearer is not None:
            return BearerAuth(self.bearer)
        assert self.oauth2 is not None  # _one
        oauth = self.oauth2
        return OAuth2(
            oauth.token_url, oauth.client_id, oauth.client_secret, oauth.scope, oauth.audience, oauth.client_auth
        )


class GraphQLConfig(_Strict):
    query: str = Field(min_length=1)
    variables: dict[str, Any] = Field(default_factory=dict)


def _headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        _usage(request_header, name, text, "")
    return value


_BODIES = ("body", "json_body", "form", "graphql")


class Request(_Strict):
    """What an http(s) check sends: a GET unless `method` says otherwise, with `headers`,
    at most one of `body` (text), `json_body`, `form` and `graphql`, `auth`, redirects
    followed unless `follow_redirects: false`, and over HTTP/2 where an https server offers
    it with `http2: true`."""

    method: Annotated[str, AfterValidator(lambda text: _usage(parse_method, text, ""))] = "GET"
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = None
    form: dict[str, str] | None = None
    graphql: GraphQLConfig | None = None
    auth: AuthConfig | None = None
    follow_redirects: bool = True
    http2: bool = False

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        given = [key for key in _BODIES if getattr(self, key) is not None]
        if len(given) > 1:
            raise ValueError(f"a request has one body: {' or '.join(given)}, not both")
        if self.graphql is not None and "method" in self.model_fields_set and self.method != "POST":
            raise ValueError("a GraphQL query is POSTed: leave method out, or write POST")
        return self

    def spec(self) -> HttpRequest:
        body, content_type = self._body()
        method = "POST" if self.graphql is not None else self.method
        return HttpRequest(
            method=method,
            headers=tuple(self.headers.items()),
            body=body,
            content_type=content_type,
            auth=None if self.auth is None else self.auth.spec(),
            follow_redirects=self.follow_redirects,
            graphql=self.graphql is not None,
            http2=self.http2,
        )

    def _body(self) -> tuple[bytes | None, str | None]:
        if self.graphql is not None:
            return graphql_body(self.graphql.query, self.graphql.variables, "")
        if self.body is not None:
            return text_body(self.body)
        if self.json_body is not None:
            return json_body(self.json_body)
        if self.form is not None:
            return form_body(list(self.form.items()))
        return None, None
