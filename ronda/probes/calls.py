"""An API called the way its clients call it: the method, headers and body of the check's
`request`, its credentials (Basic, a bearer token, or an OAuth2 token asked of the token
endpoint and renewed once when the API refuses it), and redirects followed or not.

Credentials are secrets: each goes into the observation's `secrets`, which the check
replaces by *** in whatever it reports (check.py), and none is sent on where a redirect
leads to another host (follow.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ronda.httpspec import BasicAuth, BearerAuth, HttpRequest, OAuth2
from ronda.probes.base import Observation, ProbeContext
from ronda.probes.exchange import MAX_BODY, Answer, Outgoing, hop_for
from ronda.probes.follow import follow
from ronda.probes.oauth2 import access_token
from ronda.target import CheckOptions


@dataclass(frozen=True)
class Call:
    """How one check calls the target: what to send, with which token."""

    request: HttpRequest
    measure: int = 0  # count this many bytes of body (a size limit past what is kept)
    token: str | None = None  # the OAuth2 token in use
    token_ms: float = 0.0  # time spent asking for it: not the target's latency

    @property
    def outgoing(self) -> Outgoing:
        headers = list(self.request.headers)
        given = {name.lower() for name, _ in headers}
        if self.request.body is not None and "content-type" not in given and self.request.content_type:
            headers.append(("Content-Type", self.request.content_type))
        authorization = self._authorization()
        if authorization is not None and "authorization" not in given:
            headers.append(("Authorization", authorization))
        return Outgoing(self.request.method, tuple(headers), self.request.body)

    def _authorization(self) -> str | None:
        auth = self.request.auth
        if isinstance(auth, BasicAuth):
            return auth.header()
        if isinstance(auth, BearerAuth):
            return f"Bearer {auth.token}"
        if isinstance(auth, OAuth2) and self.token is not None:
            return f"Bearer {self.token}"
        return None


async def prepare(obs: Observation, ctx: ProbeContext, options: CheckOptions, deadline: float) -> Call | None:
    """The call this check makes; None when it cannot be made (no OAuth2 token: the
    findings say why)."""
    request = options.request or HttpRequest()
    obs.secrets.update(request.secrets())
    sizes = (options.expect.max_size, options.expect.min_size)
    call = Call(request, measure=max((size + 1 for size in sizes if size is not None), default=0))
    if not isinstance(request.auth, OAuth2):
        return call
    started = time.monotonic()
    token = await access_token(obs, ctx, options, request.auth, deadline)
    if token is None:
        return None
    return replace(call, token=token, token_ms=(time.monotonic() - started) * 1000)


async def call_at(
    obs: Observation, ctx: ProbeContext, options: CheckOptions, call: Call, url: str, address: str, deadline: float
) -> Answer | None:
    """The call at one address; an OAuth2 token the API refuses (401) is renewed, once."""
    answer = await _send(obs, ctx, options, call, url, address, deadline)
    auth = call.request.auth
    if answer is None or answer.status != 401 or not isinstance(auth, OAuth2):
        return answer
    token = await access_token(obs, ctx, options, auth, deadline, rejected=call.token)
    if token is None:
        return None
    return await _send(obs, ctx, options, replace(call, token=token), url, address, deadline)


async def _send(
    obs: Observation, ctx: ProbeContext, options: CheckOptions, call: Call, url: str, address: str, deadline: float
) -> Answer | None:
    outgoing = call.outgoing if options.request is not None else None
    return await follow(
        obs,
        ctx,
        options,
        hop_for(url),
        address,
        deadline,
        MAX_BODY,
        outgoing,
        redirects=call.request.follow_redirects,
        measure=call.measure,
        http2=call.request.http2,
    )
