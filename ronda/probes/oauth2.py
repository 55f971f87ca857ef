"""OAuth 2.0 client credentials (RFC 6749 4.4): the access token an API check sends, asked of
the token endpoint with the client's id and secret and kept until it expires (tokens.py).

The endpoint is reached as the target is (the same resolution, `--resolve` and nameserver,
a verified TLS connection with the certificate analysed), and whatever goes wrong there is
the check's finding, said as the token endpoint's: an API its clients cannot get a token
for is down for them. Refused credentials are `auth_failed`; an endpoint that fails is the
status's or the connection's own code. Secrets never enter a finding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ronda.httpspec import FORM, BasicAuth, OAuth2, form_body
from ronda.probes.base import Observation, ProbeContext
from ronda.probes.exchange import Answer, Outgoing, hop_for
from ronda.probes.follow import request
from ronda.probes.resolve import resolve_host
from ronda.probes.tokens import Fetched, Refusal, Token, token_until
from ronda.target import CheckOptions
from ronda.verdict import Finding

MAX_TOKEN_ANSWER = 64 * 1024  # a token answer is a few hundred bytes
MAX_LIFETIME = 7 * 86400.0  # an expires_in past a week is taken as a week (a 401 renews it sooner)
_REFUSING = (400, 401, 403)  # RFC 6749 5.2: invalid_client, unauthorized_client, invalid_scope ...


async def access_token(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    oauth: OAuth2,
    deadline: float,
    rejected: str | None = None,
) -> str | None:
    """A token for `oauth`'s client, kept or fetched; None when none could be had (the
    findings are on `obs`). `rejected`: the token the API just refused."""

    async def fetch() -> Fetched:
        return await _fetch_token(obs, ctx, options, oauth, deadline)

    fetched = await ctx.tokens.token(_key(oauth), ctx.clock(), fetch, deadline, rejected)
    if fetched is None:
        hop = hop_for(oauth.token_url)
        detail = f"OAuth2 token endpoint {oauth.token_url}: no token before the check's deadline"
        obs.problem("http_timeout", detail, host=hop.host, port=hop.port)
        return None
    if isinstance(fetched, Refusal):
        obs.findings += fetched.findings
        return None
    obs.secrets.add(fetched.value)
    return fetched.value


def _key(oauth: OAuth2) -> tuple[str, ...]:
    """Which tokens are the same: a client with another secret (a rotated one) gets its own."""
    secret = hashlib.sha256(oauth.client_secret.encode()).hexdigest()
    return (oauth.token_url, oauth.client_id, oauth.scope or "", oauth.audience or "", oauth.client_auth, secret)


def token_request(oauth: OAuth2) -> Outgoing:
    fields = [("grant_type", "client_credentials")]
    fields += [(name, value) for name, value in (("scope", oauth.scope), ("audience", oauth.audience)) if value]
    headers = [("Accept", "application/json"), ("Content-Type", FORM)]
    if oauth.client_auth == "post":
        fields += [("client_id", oauth.client_id), ("client_secret", oauth.client_secret)]
    else:
        # RFC 6749 2.3.1: id and secret form-encoded, then Basic.
        basic = BasicAuth(quote(oauth.client_id, safe=""), quote(oauth.client_secret, safe=""))
        headers.append(("Authorization", basic.header()))
    return Outgoing("POST", tuple(headers), form_body(fields)[0])


async def _fetch_token(
    obs: Observation, ctx: ProbeContext, options: CheckOptions, oauth: OAuth2, deadline: float
) -> Fetched:
    hop = hop_for(oauth.token_url)
    said = f"OAuth2 token endpoint {oauth.token_url}"

    def refusal(code: str, detail: str) -> Refusal:
        return Refusal((Finding(code, f"{said}: {detail}", hop.host, None, hop.port),))

    resolved = await resolve_host(hop.host, hop.port, options, deadline, ctx.dns)
    if resolved.error:
        return refusal(resolved.error, resolved.detail)
    scratch = Observation(obs.target, started=obs.started)
    answer = await request(
        scratch, ctx, options, hop, resolved.addresses[0], deadline, MAX_TOKEN_ANSWER, token_request(oauth)
    )
    if scratch.findings:  # what a client would refuse too: a certificate, the connection, the exchange
        return Refusal(
            tuple(dataclasses.replace(f, detail=f"{said}: {f.detail}", address=None) for f in scratch.findings)
        )
    assert answer is not None  # request() records a finding whenever it gives none
    return _read_token(answer, ctx, refusal)


def _read_token(answer: Answer, ctx: ProbeContext, refusal: Callable[[str, str], Refusal]) -> Fetched:
    status = f"{answer.status} {answer.reason}".strip()
    document = _json(answer.body)
    if answer.status in _REFUSING:
        return refusal("auth_failed", f"refused the client credentials: {status}{_error_words(document)}")
    if answer.status >= 500:
        return refusal("http_server_error", f"answered {status}")
    if answer.status >= 400:
        return refusal("http_client_error", f"answered {status}")
    if not 200 <= answer.status < 300:
        return refusal("protocol_error", f"answered {status}, not a token")
    if not isinstance(document, dict) or not isinstance(document.get("access_token"), str):
        return refusal("protocol_error", f"answered {status} without an access_token in JSON")
    kind = document.get("token_type", "bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        return refusal("protocol_error", f"gave a token of type {kind!r}; ronda sends bearer tokens")
    return Token(document["access_token"], token_until(ctx.clock(), _lifetime(document.get("expires_in"))))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _lifetime(expires_in: object) -> float | None:
    """Seconds from `expires_in` (a number, or a number in a string as some servers send it)."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float | str):
        return None
    try:
        seconds = float(expires_in)
    except ValueError:
        return None
    return min(seconds, MAX_LIFETIME) if math.isfinite(seconds) else None


def _error_words(document: Any) -> str:
    """RFC 6749 5.2's `error` and `error_description`, short."""
    if not isinstance(document, dict) or not isinstance(document.get("error"), str):
        return ""
    words = f": {document['error'][:60]}"
    description = document.get("error_description")
    if isinstance(description, str) and description.strip():
        words += f" ({description.strip()[:120]})"
    return words
