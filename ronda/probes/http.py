"""http:// and https://: DNS, TCP, TLS at every address, then the HTTP exchange (see
exchange.py for why it is h11 on asyncio's streams), made as the check's `request` says
(calls.py: method, headers, body, credentials; over HTTP/2 where the check asks for it
and the server chooses it, h2exchange.py) and judged against what was expected (the
status, assertions.py's headers, texts, JSON paths and size, the latency); with
`subresources`, every host the page loads assets from too."""

from __future__ import annotations

from typing import Any

from ronda.httpspec import status_accepted, status_words
from ronda.probes.addresses import each_address
from ronda.probes.assertions import judge_content
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.calls import Call, call_at, prepare
from ronda.probes.exchange import MAX_BODY, Answer, hop_for
from ronda.probes.follow import follow
from ronda.probes.subresources import check_subresources
from ronda.target import CheckOptions, Target


async def probe_http(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    call = await prepare(obs, ctx, options, deadline)
    if call is None:
        return  # no OAuth2 token: the findings say why, and nothing was asked of the target
    answers = await fetch_at_each_address(obs, ctx, options, target.url, deadline, call=call)
    obs.latency_ms = obs.elapsed_ms() - call.token_ms
    for address, answer in answers.items():
        judge(obs, options, address, answer)
    first = first_answer(obs, answers)
    if first is not None:
        obs.facts["http"] = http_facts(first)
        if options.subresources:
            await check_subresources(obs, ctx, options, first, deadline)


async def fetch_at_each_address(
    obs: Observation,
    ctx: ProbeContext,
    options: CheckOptions,
    url: str,
    deadline: float,
    limit: int = MAX_BODY,
    call: Call | None = None,
) -> dict[str, Answer]:
    """GET `url` (on the target's host), or make `call`, at every address behind it,
    redirects followed; each failure is a finding on `obs`. The answers by address."""
    answers: dict[str, Answer] = {}

    async def fetch(address: str) -> None:
        if call is not None:
            answer = await call_at(obs, ctx, options, call, url, address, deadline)
        else:
            answer = await follow(obs, ctx, options, hop_for(url), address, deadline, limit)
        if answer is not None:
            answers[address] = answer

    await each_address(obs, options, deadline, fetch, ctx.dns)
    return answers


def first_answer(obs: Observation, answers: dict[str, Answer]) -> Answer | None:
    """The answer at the name's first address (where a client goes first), else any."""
    if not answers:
        return None
    return answers.get(obs.addresses[0]) or next(iter(answers.values()))


def http_facts(answer: Answer) -> dict[str, Any]:
    """The verdict's `http` object."""
    facts: dict[str, Any] = {
        "status": answer.status,
        "reason": answer.reason,
        "bytes": answer.seen_size,
        "version": answer.version,
    }
    if answer.truncated:
        facts["truncated"] = True
    return facts


def judge(obs: Observation, options: CheckOptions, address: str, answer: Answer, url: str | None = None) -> None:
    """Status, content and latency against what was expected; `url` names what was fetched
    where it is not the target's own URL."""
    expect = options.expect
    status = answer.status
    where = _where(url or obs.target.url, address, answer)
    if expect.status is not None and not status_accepted(expect.status, status):
        code = "http_server_error" if status >= 500 else "http_client_error" if status >= 400 else "content_mismatch"
        expected = status_words(expect.status)
        obs.problem(code, f"{where} answered {status} {answer.reason}, expected {expected}", address=address)
    elif expect.status is None and status >= 400:
        code = "http_server_error" if status >= 500 else "http_client_error"
        obs.problem(code, f"{where} answered {status} {answer.reason}".rstrip(), address=address)
    judge_content(obs, options, where, address, answer)
    if expect.max_latency is not None and obs.latency_ms is not None and obs.latency_ms > expect.max_latency * 1000:
        obs.problem(
            "slow_response",
            f"{obs.target.url} took {obs.latency_ms:.0f} ms, more than the allowed {expect.max_latency * 1000:.0f} ms",
        )


def _where(asked: str, address: str, answer: Answer) -> str:
    """What answered, in words: the URL asked for at its address, and the URL a redirect
    landed on when that is where the answer came from (the hop at fault)."""
    if answer.url and answer.url != asked:
        return f"{answer.url} (redirected from {asked} at {address})"
    return f"{asked} at {address}"


def _protocol(http: dict[str, Any]) -> str:
    """HTTP, or HTTP/2 when the answer came over it: the summary says when a check spoke it."""
    return "HTTP/2" if http.get("version") == "2" else "HTTP"


def _perfdata(http: dict[str, Any]) -> list[str]:
    return [f"size={http['bytes']}B;;;0"]


SCHEME = ProbeScheme(
    probe_http,
    timeout="http_timeout",
    facts="http",
    words=lambda http: f"{_protocol(http)} {http['status']}",
    perfdata=_perfdata,
    options=("request",),
    http_answer=True,
    facts_schema={
        "version": {
            "enum": ["1.0", "1.1", "2"],
            "description": (
                "The HTTP version the answer came in: 1.1 (1.0 from an old server), or 2 where the check "
                "offers HTTP/2 (`request: {http2: true}`, `--http2`) and the https server chose it."
            ),
        }
    },
)
