"""HTTP authentication as RTSP borrows it: the server's challenges (`WWW-Authenticate`),
the one to answer, and the `Authorization` header for Basic (RFC 7617) and Digest
(RFC 2617, RFC 7616: MD5 and SHA-256, their `-sess` variants, `qop=auth` or no qop).

Hand-written on hashlib because no well-kept library answers a Digest challenge outside
HTTP: httpx's DigestAuth computes the header inside its request flow (the request-URI it
hashes is an HTTP request's path, and the entry point is private), requests' HTTPDigestAuth
is a hook on requests' own Response, and aiortsp's digest knows neither qop (so no nc or
cnonce) nor the -sess variants. The challenges are split with the standard library's
`parse_http_list`, the parser urllib's own Digest handler uses.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.request import parse_http_list

HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
# The order of preference among challenges (RFC 7616 section 3.7: the strongest the client
# knows): a lower number wins.
_PREFERENCE = {"Digest SHA-256": 0, "Digest SHA-256-sess": 1, "Digest MD5": 2, "Digest MD5-sess": 3, "Basic": 4}


@dataclass(frozen=True)
class Challenge:
    """One challenge: `Digest realm="cam", nonce="..", algorithm=SHA-256, qop="auth"`."""

    scheme: str  # as the server wrote it: Digest, Basic, ...
    params: dict[str, str] = field(default_factory=dict)  # keys lower-case, values unquoted

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    @property
    def algorithm(self) -> str:
        return self.params.get("algorithm", "MD5").upper().replace("-SESS", "-sess")

    @property
    def label(self) -> str:
        """`Digest SHA-256`, `Digest MD5`, `Basic`: the verdict's words for the scheme."""
        if self.is_digest:
            return f"Digest {self.algorithm}"
        return self.scheme.capitalize()

    @property
    def stale(self) -> bool:
        """The password was right, the nonce had expired: answer again with the new one."""
        return self.params.get("stale", "").lower() == "true"


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in the `WWW-Authenticate` values, whether each sits in a header of its
    own or several share one (`Digest realm="a", nonce="b", Basic realm="a"`)."""
    found: list[tuple[str, dict[str, str]]] = []
    for value in values:
        for item in parse_http_list(value):
            first, _, rest = item.strip().partition(" ")
            if first and "=" not in first:  # a scheme name starts a new challenge
                found.append((first, {}))
                item = rest
            name, equals, text = item.partition("=")
            if equals and found:
                found[-1][1][name.strip().lower()] = _unquote(text.strip())
    return [Challenge(scheme, params) for scheme, params in found]


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])  # a quoted-string's \x is x
    return text


def preferred(challenges: Iterable[Challenge]) -> Challenge | None:
    """The strongest challenge ronda can answer, or None when it knows none of them."""
    known = [c for c in challenges if c.label in _PREFERENCE and (not c.is_digest or "nonce" in c.params)]
    return min(known, key=lambda c: _PREFERENCE[c.label], default=None)


def authorization(
    challenge: Challenge, username: str, password: str, method: str, uri: str, *, nc: int = 1, cnonce: str = ""
) -> str:
    """The `Authorization` header's value answering `challenge` for one request."""
    if not challenge.is_digest:
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    params = challenge.params
    qop = _qop(params.get("qop", ""))
    fields = {"username": username, "realm": params.get("realm", ""), "nonce": params["nonce"], "uri": uri}
    if qop or challenge.algorithm.endswith("-sess"):  # -sess hashes the cnonce into H(A1)
        fields["cnonce"] = cnonce or secrets.token_hex(16)
    if qop:
        fields |= {"qop": qop, "nc": f"{nc:08x}"}
    fields["response"] = digest_response(challenge.algorithm, fields, password, method)
    if "algorithm" in params:
        fields["algorithm"] = params["algorithm"]
    if "opaque" in params:
        fields["opaque"] = params["opaque"]
    return "Digest " + ", ".join(f"{name}={_quoted(name, value)}" for name, value in fields.items())


def _qop(offered: str) -> str:
    """`auth` when the server offers it (RFC 7616 lets it offer `auth, auth-int`); an empty
    string, the RFC 2069 form without nc and cnonce, when it offers no qop."""
    options = {option.strip().lower() for option in offered.split(",") if option.strip()}
    return "auth" if "auth" in options else ""


def _quoted(name: str, value: str) -> str:
    # RFC 7616 section 3.4: qop, nc and algorithm are tokens; everything else is quoted.
    if name in ("qop", "nc", "algorithm"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest_response(algorithm: str, fields: dict[str, str], password: str, method: str) -> str:
    """RFC 7616 section 3.4.1: H(H(A1):nonce[:nc:cnonce:qop]:H(A2)), qop=auth (A2 = method:uri)."""
    hash_name, sess, _ = algorithm.partition("-sess")
    h = HASHES[hash_name]
    nonce = fields["nonce"]
    ha1 = h(f"{fields['username']}:{fields['realm']}:{password}".encode())
    if sess:
        ha1 = h(f"{ha1}:{nonce}:{fields['cnonce']}".encode())
    ha2 = h(f"{method}:{fields['uri']}".encode())
    if "qop" in fields:
        return h(f"{ha1}:{nonce}:{fields['nc']}:{fields['cnonce']}:{fields['qop']}:{ha2}".encode())
    return h(f"{ha1}:{nonce}:{ha2}".encode())
