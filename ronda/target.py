"""What to check and how: a URL becomes a Target, command-line strings become CheckOptions.

Bad input raises UsageError with a message that names the offending text.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qs, unquote, urlencode, urlsplit, urlunsplit

from ronda import defaults
from ronda.errors import UsageError
from ronda.hosts import ascii_host
from ronda.httpspec import HeaderCheck, HttpRequest, JsonCheck, StatusRanges
from ronda.reach import ANYWHERE, Reach
from ronda.schemes import SCHEMES
from ronda.tlscontexts import TlsClient


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str = "/"  # path and query, as sent in a request line
    params: dict[str, str] = field(default_factory=dict)
    # Schemes whose URL may carry the device's user:pass@ (ronda/schemes.py): the password is
    # kept here and masked in `url`, which verdicts, the store and notifications show.
    username: str | None = None  # from user:pass@, percent-decoded
    password: str | None = field(default=None, repr=False)  # never in `url`


@dataclass(frozen=True, slots=True)
class Expectations:
    status: int | StatusRanges | None = None  # None: any 2xx or 3xx answer is fine
    text: str | None = None
    max_latency: float | None = None  # seconds
    # http(s) only (ronda/httpspec.py): what else the answer must, or must not, show.
    no_text: str | None = None
    regex: str | None = None  # RE2, searched in the body
    no_regex: str | None = None
    headers: tuple[HeaderCheck, ...] = ()
    json_paths: tuple[JsonCheck, ...] = ()
    max_size: int | None = None  # bytes of body
    min_size: int | None = None

    def http_only(self) -> list[str]:
        """The expectations set that only an http(s) answer can meet, by their keys."""
        keys = ("no_text", "regex", "no_regex", "headers", "json_paths", "max_size", "min_size")
        return [key for key in keys if getattr(self, key) not in (None, ())]


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """How to check: every field has the contract's default."""

    timeout: float = defaults.TIMEOUT
    ca_file: str | None = None
    resolve: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    nameserver: tuple[str, int] | None = None
    warn_days: float = defaults.CERT_WARN_DAYS  # or a quarter of the lifetime where that is shorter
    expect: Expectations = field(default_factory=Expectations)
    subresources: bool = False  # also check every host the page loads assets from
    subresource_hosts: int = defaults.SUBRESOURCE_HOSTS  # at most this many asset hosts per page
    client_cert: str | None = None  # shown to servers that ask for one (mutual TLS)
    client_key: str | None = None  # None: the key is in client_cert
    deployed_from: str | None = None  # where renewal writes the certificate the server should serve
    acme_directory: str | None = None  # the CA's ACME directory: its renewal window (RFC 9773) applies
    send: str | None = None  # ws://, wss://: a text message sent once connected; the reply must contain expect.text
    subprotocol: str | None = None  # ws://, wss://: the Sec-WebSocket-Protocol asked for; the server must pick it
    request: HttpRequest | None = None  # http(s)://: what to send (ronda/httpspec.py); None: a plain GET
    # Where the check may connect and what it may read: anywhere, but for monitors added
    # through the API when the config narrows it (ronda/reach.py).
    reach: Reach = ANYWHERE

    @property
    def tls_client(self) -> TlsClient:
        return TlsClient(self.ca_file, self.client_cert, self.client_key)


# A config's URL is parsed when it is validated, when the store is synced and when its job is
# made: at 100,000 monitors three passes of a second or more at every start. The Target is
# frozen and depends on the text alone, so the passes after the first share it.
@functools.lru_cache(maxsize=1 << 17)
def parse_target(url: str) -> Target:
    """The URL as a Target; unknown schemes, missing hosts or ports, and text that is no URL
    (an unclosed IPv6 bracket, a port out of range) are UsageErrors."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # an unclosed `[`, or brackets around what is no IP address
        raise UsageError(f"{url!r}: not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    known_scheme = SCHEMES.get(scheme)
    if known_scheme is None:
        # file: takes a path, not a host: shown last and whole, as `file://x` would be wrong.
        known = ", ".join(f"{s}://" for s in sorted(SCHEMES) if s != "file") + ", file:///PATH"
        raise UsageError(f"{url!r}: unsupported scheme {scheme + '://' if scheme else '(none)'}; use one of {known}")
    if scheme == "file":
        return _file_target(url.strip(), parts)
    host = parts.hostname
    if not host:
        raise UsageError(f"{url!r}: no host name in the URL")
    try:
        written = parts.port
    except ValueError as exc:  # no number, or past 65535
        raise UsageError(f"{url!r}: {exc}") from None
    if written == 0:
        raise UsageError(f"{url!r}: port 0 is no port to connect to")
    port = written or known_scheme.port
    if known_scheme.portless:
        if port is not None:
            raise UsageError(f"{url!r}: {scheme}:// targets have no port")
        port = 0
    if port is None:
        raise UsageError(f"{url!r}: {scheme}:// targets need a port, as in {scheme}://{host}:PORT")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = _ascii_host(host, repr(url))
    if known_scheme.credentials and parts.username is not None:
        username, password = unquote(parts.username), unquote(parts.password or "")
        shown = _masked(url.strip(), parts)
        return Target(shown, scheme, host, port, path, params, username=username, password=password)
    # Other schemes send no user:pass@ anywhere (ronda's HTTP client takes none from the URL),
    # but a config may still carry one: it is masked all the same, for the same places.
    return Target(url=_masked(url.strip(), parts), scheme=scheme, host=host, port=port, path=path, params=params)


def _masked(url: str, parts: SplitResult) -> str:
    """The URL with `user:***@` for `user:pass@`: who logs in may show, the password may not."""
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return url.replace(parts.netloc, f"{user}:***@{hostport}" if colon else parts.netloc, 1)


STATUSPAGE = "statuspage+"  # the scheme prefix of a vendor's status page: statuspage+https://


def statuspage_target(url: str, components: Sequence[str] = ()) -> str:
    """A monitor of `kind: statuspage` as `ronda check` takes it: the page's http(s) URL under
    the statuspage+ scheme, each component it watches a `component=` parameter. One code
    path: the config's form and the one-shot form are the same target."""
    url = url.strip()
    if not url.lower().startswith(STATUSPAGE):
        url = STATUSPAGE + url
    if not components:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode([("component", name) for name in components])) if q)
    return urlunsplit(parts._replace(query=query, fragment=""))


def _file_target(url: str, parts: SplitResult) -> Target:
    """`file:///abs/path` (RFC 8089; `file://localhost/abs/path` too): a local path, no host, no port.
    A `password=` in the query is kept in `params` but masked in `url`, which verdicts, the
    store and notifications show."""
    shown = re.sub(r"([?&]password=)[^&#]*", r"\1***", url)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(
            f"{shown!r}: a file:// target is a local path, not a file on host {parts.netloc!r}; "
            "write three slashes, as in file:///etc/ssl/site.pem"
        )
    path = unquote(parts.path)
    if not path.startswith("/") or "\0" in path:
        raise UsageError(f"{shown!r}: a file:// target needs an absolute path, as in file:///etc/ssl/site.pem")
    params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return Target(url=shown, scheme="file", host="", port=0, path=path, params=params)


def _split_host_port(text: str, default_port: int | None, what: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port`, or a bare host/address when a default port exists."""
    named = _named(what, text)
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"{named}: write an IPv6 address as [ADDR] or [ADDR]:PORT")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise UsageError(f"{named}: a port is needed")
        return host, default_port
    return host, _port(port_text, named)


def _port(text: str, named: str) -> int:
    # ASCII digits only: str.isdigit() also takes '²' and other digits int() refuses.
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise UsageError(f"{named}: {text!r} is not a port number")
    return int(text)


def parse_address(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an IP address") from None


def parse_resolve(entry: str, what: str = "--resolve") -> tuple[tuple[str, int], tuple[str, ...]]:
    """curl's `HOST:PORT:ADDR[,ADDR...]`; IPv6 addresses may be bracketed. `what` names the
    entry in errors as its reader knows it: the CLI's flag, or nothing where the config's
    field path already leads the message."""
    named = _named(what, entry)
    host, sep1, rest = entry.partition(":")
    port_text, sep2, addresses = rest.partition(":")
    if not (sep1 and sep2 and host and addresses):
        raise UsageError(f"{named}: expected HOST:PORT:ADDR[,ADDR...]")
    port = _port(port_text, named)
    addrs = tuple(parse_address(a, named) for a in addresses.split(","))
    return (_ascii_host(host, named), port), addrs


def _ascii_host(host: str, named: str) -> str:
    """The host in its ASCII form, so that a URL and a `--resolve` entry match whichever
    form (Unicode or punycode) each is written in."""
    try:
        return ascii_host(host)
    except ValueError as exc:
        raise UsageError(f"{named}: {exc}") from None


def _named(what: str, text: str) -> str:
    """`--resolve 'x'` on the command line, `'x'` where the config's field path says where."""
    return f"{what} {text!r}" if what else repr(text)


# RFC 9110's token: what a Sec-WebSocket-Protocol value may be made of (RFC 6455 4.1).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_subprotocol(text: str, what: str = "--subprotocol") -> str:
    if not _TOKEN.fullmatch(text):
        raise UsageError(f"{_named(what, text)}: a subprotocol is one token (letters, digits, and !#$%&'*+-.^_`|~)")
    return text


def parse_nameserver(text: str, what: str = "--nameserver") -> tuple[str, int]:
    host, port = _split_host_port(text, 53, what)
    return parse_address(host, _named(what, text)), port
