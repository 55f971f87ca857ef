"""http:// and https://: DNS, TCP, TLS at every address, then the HTTP exchange (see
exchange.py for why it is h11 on asyncio's streams), judged against what was expected;
with `subresources`, every host the page loads assets from too."""

from __future__ import annotations

from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext
from ronda.probes.exchange import Answer, hop_for
from ronda.probes.follow import follow
from ronda.probes.subresources import check_subresources
from ronda.target import CheckOptions, Target


async def probe_http(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    answers: dict[str, Answer] = {}

    async def check(address: str) -> None:
        answer = await follow(obs, ctx, options, hop_for(target.url), address, deadline)
        if answer is not None:
            answers[address] = answer

    await each_address(obs, options, deadline, check)
    obs.latency_ms = obs.elapsed_ms()
    for address, answer in answers.items():
        _judge(obs, options, address, answer)
    if answers:
        first = answers[obs.addresses[0]] if obs.addresses[0] in answers else next(iter(answers.values()))
        obs.http = {"status": first.status, "reason": first.reason, "bytes": len(first.body)}
        if first.truncated:
            obs.http["truncated"] = True
        if options.subresources:
            await check_subresources(obs, ctx, options, first, deadline)


def _judge(obs: Observation, options: CheckOptions, address: str, answer: Answer) -> None:
    """Status, content and latency against what was expected."""
    expect = options.expect
    status = answer.status
    where = f"{obs.target.url} at {address}"
    if expect.status is not None and status != expect.status:
        code = "http_server_error" if status >= 500 else "http_client_error" if status >= 400 else "content_mismatch"
        obs.problem(code, f"{where} answered {status} {answer.reason}, expected {expect.status}", address=address)
    elif expect.status is None and status >= 400:
        code = "http_server_error" if status >= 500 else "http_client_error"
        obs.problem(code, f"{where} answered {status} {answer.reason}".rstrip(), address=address)
    if expect.text is not None and expect.text not in answer.body.decode("utf-8", "replace"):
        scope = "the first MiB of the page" if answer.truncated else "the page"
        obs.problem("content_mismatch", f"{where}: {expect.text!r} is not in {scope}", address=address)
    if expect.max_latency is not None and obs.latency_ms is not None and obs.latency_ms > expect.max_latency * 1000:
        obs.problem(
            "slow_response",
            f"{obs.target.url} took {obs.latency_ms:.0f} ms, more than the allowed {expect.max_latency * 1000:.0f} ms",
        )
