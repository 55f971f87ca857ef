"""What an http(s) check sends and what its answer must show, as plain records: the request
(method, headers, body, credentials, redirects) and the assertions (status ranges, headers,
text, regular expressions, JSON paths, size). One model for `ronda check`'s options and the
config's `request:` and `expect:` keys: both are parsed by the functions here, and bad input
is a UsageError naming the text at fault (`what` names the flag; the config puts the
field's place in front and passes "").

Regular expressions are RE2's (google-re2): RE2 matches in time linear in the body, so an
answer made to trip a pattern (a megabyte of `aaaa…`) cannot hold the checks' event loop
for minutes, as Python's backtracking `re` can be made to. RE2 has no look-around and no
back-references; a pattern that uses them is refused when it is read.

JSON paths are JMESPath expressions (the jmespath library, as the AWS CLI uses it), each
compared with a JSON value: `status.ok == true`, `items[0].count > 3`,
`length(items) >= 1`; a path alone must lead to a value that is not null.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import jmespath
import jmespath.exceptions
import re2

from ronda.errors import UsageError

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Headers ronda writes itself: the connection's framing and the name it connects to.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# Request headers whose values are kept out of everything ronda shows (verdicts, logs):
# credentials by another name (X-Api-Key, X-Auth-Token, Cookie).
_SECRET_HEADER = re.compile(r"auth|token|key|secret|cookie|session|passw", re.IGNORECASE)
HIDDEN = "***"  # what a secret shows as wherever ronda shows it


def secret_header(name: str) -> bool:
    """A request header whose value is a credential by another name (X-Api-Key, Cookie)."""
    return _SECRET_HEADER.search(name) is not None


def spec_shown(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A stored monitor's definition as the API and pages show it: its request's secrets
    (passwords, tokens, a client secret, credential headers) replaced by ***. What is stored
    keeps them, for the checks; a client that sends the definition back must give them again."""
    shown = dict(spec)
    request = spec.get("request")
    if not isinstance(request, Mapping):
        return shown
    request = dict(request)
    auth = request.get("auth")
    if isinstance(auth, Mapping):
        request["auth"] = {kind: _auth_shown(kind, value) for kind, value in auth.items()}
    headers = request.get("headers")
    if isinstance(headers, Mapping):
        request["headers"] = {name: HIDDEN if secret_header(name) else value for name, value in headers.items()}
    shown["request"] = request
    return shown


def _auth_shown(kind: str, value: Any) -> Any:
    if kind == "bearer":
        return HIDDEN
    if isinstance(value, Mapping):
        return {key: HIDDEN if key in ("password", "client_secret") else item for key, item in value.items()}
    return value


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token: a header's name
_BAD_VALUE = re.compile(r"[\x00\r\n]")
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _at(what: str, text: object) -> str:
    """`--flag 'x'` on the command line; `'x'` where the config's field path says where."""
    return f"{what} {text!r}" if what else repr(text)


# -- the request ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True, slots=True)
class BearerAuth:
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class OAuth2:
    """OAuth 2.0 client credentials (RFC 6749 4.4): a token asked of `token_url`, sent as a
    bearer token. `client_auth`: how the client's secret goes to the token endpoint, HTTP
    Basic (the RFC's recommendation) or in the form (`post`, client_secret_post)."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    audience: str | None = None
    client_auth: Literal["basic", "post"] = "basic"


Auth = BasicAuth | BearerAuth | OAuth2


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What an http(s) check sends. The default is a GET, redirects followed, as before."""

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None  # the body's, unless `headers` names one
    auth: Auth | None = None
    follow_redirects: bool = True
    graphql: bool = False  # the body is a GraphQL query: an answer with `errors` fails
    http2: bool = False  # https://: offer HTTP/2 (ALPN h2) and speak it where the server chooses it

    def secrets(self) -> tuple[str, ...]:
        """What must never show anywhere: passwords, tokens, secret-looking header values."""
        found: list[str] = [value for name, value in self.headers if secret_header(name)]
        if isinstance(self.auth, BasicAuth):
            found += [self.auth.password, self.auth.header().split(" ", 1)[1]]
        elif isinstance(self.auth, BearerAuth):
            found.append(self.auth.token)
        elif isinstance(self.auth, OAuth2):
            found.append(self.auth.client_secret)
        return tuple(secret for secret in found if len(secret) >= 4)


def parse_method(text: str, what: str = "--method") -> str:
    method = text.strip().upper()
    if method not in METHODS:
        raise UsageError(f"{_at(what, text)}: expected one of {', '.join(METHODS)}")
    return method


def parse_header(text: str, what: str = "--header") -> tuple[str, str]:
    """`Name: value`, as curl's -H takes it."""
    name, colon, value = text.partition(":")
    if not colon:
        raise UsageError(f"{_at(what, _shown_header(text))}: expected 'Name: value'")
    return request_header(name.strip(), value.strip(), what)


def request_header(name: str, value: str, what: str = "--header") -> tuple[str, str]:
    """A header to send, checked as HTTP allows it (a value is never echoed: it may be a secret)."""
    if not _TOKEN.fullmatch(name):
        raise UsageError(f"{_at(what, name)}: not a header name (letters, digits and !#$%&'*+-.^_`|~)")
    if name.lower() in RESERVED_HEADERS:
        raise UsageError(f"{_at(what, name)}: ronda writes this header itself")
    if _BAD_VALUE.search(value):
        raise UsageError(f"{_at(what, name)}: a header's value cannot hold line breaks or NUL")
    return name, value


def _shown_header(text: str) -> str:
    """A header as an error may show it: its name only (its value may be a secret)."""
    return text.partition(":")[0].strip()


def text_body(text: str) -> tuple[bytes, str]:
    return text.encode("utf-8"), TEXT


def json_body(value: Any) -> tuple[bytes, str]:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), JSON


def parse_json_body(text: str, what: str = "--json-body") -> tuple[bytes, str]:
    try:
        return json_body(json.loads(text))
    except ValueError as exc:
        raise UsageError(f"{what}: not JSON ({exc})") from None


def form_body(fields: Sequence[tuple[str, str]]) -> tuple[bytes, str]:
    return urlencode(list(fields)).encode("ascii"), FORM


def parse_form_field(text: str, what: str = "--form") -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise UsageError(f"{_at(what, name)}: expected NAME=VALUE")
    return name, value


def graphql_body(query: str, variables: Mapping[str, Any] | None = None, what: str = "--graphql") -> tuple[bytes, str]:
    """A GraphQL query POSTed as JSON, as GraphQL over HTTP describes it."""
    if not query.strip():
        raise UsageError(f"{what}: the query is empty")
    document: dict[str, Any] = {"query": query}
    if variables:
        document["variables"] = dict(variables)
    return json_body(document)


def parse_token_url(text: str, what: str = "--oauth2-token-url") -> str:
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 (a port that is no number raises here)
    except ValueError as exc:
        raise UsageError(f"{_at(what, text)}: not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{_at(what, text)}: a token endpoint is an https:// (or http://) URL")
    return text.strip()


def secret_from_env(name: str, environ: Mapping[str, str], what: str) -> str:
    """A secret read from the environment, so that it is never on a command line (where
    `ps` shows it to everyone on the machine)."""
    value = environ.get(name)
    if not value:
        raise UsageError(f"{what} {name}: the environment variable {name} is {'empty' if value == '' else 'not set'}")
    return value


def basic_from_env(name: str, environ: Mapping[str, str], what: str = "--basic-auth-env") -> BasicAuth:
    """`USER:PASSWORD` from the environment variable `name`, as curl's -u takes it."""
    username, colon, password = secret_from_env(name, environ, what).partition(":")
    if not colon or not username:
        raise UsageError(f"{what} {name}: the variable must hold USER:PASSWORD")
    return BasicAuth(username, password)


# -- what the answer must show ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusRanges:
    """Statuses an answer may have: `200`, `2xx`, `200-299`, or several (`[200, 204]`)."""

    ranges: tuple[tuple[int, int], ...]
    written: str  # as the user wrote it, for the findings

    def accepts(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.ranges)


_STATUS_CLASS = re.compile(r"([1-5])[xX][xX]")
_STATUS_SPAN = re.compile(r"(\d{3})\s*-\s*(\d{3})")


def parse_status_ranges(value: object, what: str = "--expect-status") -> StatusRanges:
    """A status, a class (`2xx`), a span (`200-299`), or a list of them (`[200, 204]`, or
    `200,204` as one text)."""
    items: list[object]
    if isinstance(value, str):
        items = [part for part in value.strip().strip("[]").split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise UsageError(f"{_at(what, value)}: expected a status such as 200, 2xx, 200-299 or [200, 204]")
    ranges = tuple(_status_range(item, what) for item in items)
    written = ", ".join(str(item).strip() for item in items)
    return StatusRanges(ranges, written)


def _status_range(item: object, what: str) -> tuple[int, int]:
    text = str(item).strip()
    if isinstance(item, bool) or not isinstance(item, int | str):
        raise UsageError(f"{_at(what, item)}: expected a status such as 200, 2xx or 200-299")
    if match := _STATUS_CLASS.fullmatch(text):
        low = int(match.group(1)) * 100
        return low, low + 99
    if match := _STATUS_SPAN.fullmatch(text):
        low, high = int(match.group(1)), int(match.group(2))
    elif text.isascii() and text.isdigit():
        low = high = int(text)
    else:
        raise UsageError(f"{_at(what, item)}: expected a status such as 200, 2xx or 200-299")
    if not (100 <= low <= high <= 599):
        raise UsageError(f"{_at(what, item)}: statuses run from 100 to 599, the lower first")
    return low, high


def status_words(expected: int | StatusRanges) -> str:
    return str(expected) if isinstance(expected, int) else expected.written


def status_accepted(expected: int | StatusRanges, status: int) -> bool:
    return status == expected if isinstance(expected, int) else expected.accepts(status)


@dataclass(frozen=True, slots=True)
class HeaderCheck:
    """A header of the answer: present (the default), absent, equal to a value, or matching
    a regular expression (RE2, searched anywhere in the value)."""

    name: str
    equals: str | None = None
    matches: str | None = None
    absent: bool = False

    def judge(self, headers: Mapping[str, str]) -> str | None:
        """None when the answer's headers pass; else what is wrong, in words."""
        seen = headers.get(self.name.lower())
        if self.absent:
            return None if seen is None else f"header {self.name} is {seen!r}, expected no such header"
        if seen is None:
            return f"header {self.name} is missing, expected {self.expected()}"
        if self.equals is not None and seen != self.equals:
            return f"header {self.name} is {_short(seen)!r}, expected {self.expected()}"
        if self.matches is not None and not pattern(self.matches).search(seen):
            return f"header {self.name} is {_short(seen)!r}, expected {self.expected()}"
        return None

    def expected(self) -> str:
        if self.equals is not None:
            return repr(self.equals)
        if self.matches is not None:
            return f"a match for /{self.matches}/"
        return "it present"


_HEADER_CHECK = re.compile(r"\s*(?P<bang>!)?\s*(?P<name>[!#$%&'*+.^_`|0-9A-Za-z-]+)\s*(?:(?P<op>[:~])\s*(?P<rest>.*))?")


def parse_header_check(text: str, what: str = "--expect-header") -> HeaderCheck:
    """`Name` (present), `!Name` (absent), `Name: value` (equal), `Name ~ regex` (matching)."""
    match = _HEADER_CHECK.fullmatch(text)
    if match is None or (match["bang"] and match["op"]):
        raise UsageError(f"{_at(what, text)}: expected Name, !Name, 'Name: value' or 'Name ~ regex'")
    name, rest = match["name"], (match["rest"] or "").strip()
    if match["bang"]:
        return HeaderCheck(name, absent=True)
    if match["op"] == ":":
        return HeaderCheck(name, equals=rest)
    if match["op"] == "~":
        return HeaderCheck(name, matches=check_pattern(rest, what))
    return HeaderCheck(name)


def header_check(name: str, rule: object, what: str = "") -> HeaderCheck:
    """The config's form: `Name: value` (equal), or `Name: {equals|matches|present|absent}`."""
    if not _TOKEN.fullmatch(name):
        raise UsageError(f"{_at(what, name)}: not a header name (letters, digits and !#$%&'*+-.^_`|~)")
    if isinstance(rule, str | int | float) and not isinstance(rule, bool):
        return HeaderCheck(name, equals=str(rule))
    if not isinstance(rule, Mapping) or len(rule) != 1:
        raise UsageError(
            f"{_at(what, name)}: expected a value, or one of equals:, matches:, present: true, absent: true"
        )
    [(key, value)] = rule.items()
    if key == "equals" and isinstance(value, str | int | float):
        return HeaderCheck(name, equals=str(value))
    if key == "matches" and isinstance(value, str):
        return HeaderCheck(name, matches=check_pattern(value, what))
    if key in ("present", "absent") and isinstance(value, bool):
        return HeaderCheck(name, absent=(key == "absent") == value)
    raise UsageError(f"{_at(what, name)}: expected equals: TEXT, matches: REGEX, present: true or absent: true")


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would write its own line to stderr; the UsageError says it


@functools.lru_cache(maxsize=1024)
def pattern(text: str) -> Any:
    """The compiled RE2 pattern (checked when the option or config was read)."""
    return re2.compile(text, options=_RE2_OPTIONS)


def check_pattern(text: str, what: str = "--expect-regex") -> str:
    try:
        pattern(text)
    except re2.error as exc:
        words = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise UsageError(f"{_at(what, text)}: not a regular expression RE2 takes ({words})") from None
    return text


Operator = Literal["==", "!=", ">=", "<=", ">", "<"]
_OPERATORS: tuple[Operator, ...] = ("==", "!=", ">=", "<=", ">", "<")  # the longer before its prefix
_CLOSING = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True, slots=True)
class JsonCheck:
    """A JMESPath expression and what its value must be: compared with `expected` (JSON
    text) by `operator`, or, with no operator, present and not null."""

    written: str
    path: str
    operator: Operator | None = None
    expected: str | None = None  # JSON text (kept as text: a record that hashes and pickles)

    def judge(self, document: Any) -> str | None:
        """None when `document` passes; else what the path led to and what was expected."""
        try:
            seen = jmespath.search(self.path, document)
        except jmespath.exceptions.JMESPathError as exc:
            return f"JSON {self.path} cannot be read from this answer ({_first_line(exc)})"
        if self.operator is None:
            return None if seen is not None else f"JSON {self.path} is missing (null), expected a value"
        expected = json.loads(self.expected or "null")
        if _holds(seen, self.operator, expected):
            return None
        return f"JSON {self.path} is {_json_words(seen)}, expected {self.operator} {_json_words(expected)}"


def parse_json_check(text: str, what: str = "--json-path") -> JsonCheck:
    """`PATH OP VALUE` (VALUE is JSON: true, 3, "ok", null, [1, 2]; a JMESPath literal in
    backticks is taken too) or `PATH` alone."""
    path, operator, value = _split_comparison(text.strip())
    _compile_path(path, text, what)
    if operator is None:
        return JsonCheck(text, path)
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "`":
        value = value[1:-1]
    try:
        expected = json.loads(value)
    except ValueError:
        hint = f"; a text is written in double quotes: {json.dumps(value)}" if value and value[0] not in "\"'[{" else ""
        raise UsageError(f"{_at(what, text)}: {value!r} is not a JSON value{hint}") from None
    if operator not in ("==", "!=") and not _is_number(expected) and not isinstance(expected, str):
        raise UsageError(f"{_at(what, text)}: {operator} compares numbers or texts, not {_json_words(expected)}")
    return JsonCheck(text, path, operator, json.dumps(expected, separators=(",", ":")))


def _split_comparison(text: str) -> tuple[str, Operator | None, str]:
    """The expression split at its last comparison outside brackets and quotes (a filter
    inside the path, `items[?count > \\`3\\`]`, is the path's own)."""
    depth: list[str] = []
    quote: str | None = None
    last: tuple[int, Operator] | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char in _CLOSING:
            depth.append(_CLOSING[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif not depth:
            operator = next((op for op in _OPERATORS if text.startswith(op, i)), None)
            if operator is not None:
                last = (i, operator)
                i += len(operator)
                continue
        i += 1
    if last is None:
        return text, None, ""
    at, operator = last
    return text[:at].strip(), operator, text[at + len(operator) :]


def _compile_path(path: str, text: str, what: str) -> None:
    if not path:
        raise UsageError(f"{_at(what, text)}: a JSON path comes first, as in status.ok == true")
    try:
        jmespath.compile(path)
    except jmespath.exceptions.JMESPathError as exc:
        raise UsageError(f"{_at(what, text)}: {path!r} is not a JMESPath expression ({_parse_words(exc)})") from None


def _parse_words(exc: Exception) -> str:
    """Where jmespath stopped reading, in a few words (its own message lists token types)."""
    if isinstance(exc, jmespath.exceptions.LexerError):
        return f"{exc.message.lower()} at column {exc.lexer_position}"
    if isinstance(exc, jmespath.exceptions.IncompleteExpressionError):
        return "it ends too soon"
    if isinstance(exc, jmespath.exceptions.ParseError):
        return f"unexpected {exc.token_value!r} at column {exc.lex_position}"
    return _first_line(exc)


def _holds(seen: Any, operator: Operator, expected: Any) -> bool:
    if operator == "==":
        return _same(seen, expected)
    if operator == "!=":
        return not _same(seen, expected)
    comparable = (_is_number(seen) and _is_number(expected)) or (isinstance(seen, str) and isinstance(expected, str))
    if not comparable:
        return False
    if operator == ">":
        return bool(seen > expected)
    if operator == ">=":
        return bool(seen >= expected)
    if operator == "<":
        return bool(seen < expected)
    return bool(seen <= expected)


def _same(a: Any, b: Any) -> bool:
    """JSON's equality: true is not 1 (Python's is), 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return type(a) is type(b) and bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _json_words(value: Any) -> str:
    return _short(json.dumps(value, ensure_ascii=False))


def _short(text: str, most: int = 120) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def parse_size(text: str, what: str = "--max-size") -> int:
    """A size in bytes: 65536, 64KiB, 1MB (as pydantic's ByteSize reads the config's)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise UsageError(f"{_at(what, text)}: expected a size such as 65536, 64KiB or 1MB")
    unit = (match.group(2) or "B").upper()
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}[unit]
    return int(float(match.group(1)) * scale)
