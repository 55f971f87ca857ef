"""--subresources: every other host a page loads its assets from, checked like the page.

A page can answer 200 while the host that serves its images, scripts or stylesheets is
down (in April 2020 amazon.com lost its images and layout for two hours to a certificate
that expired on such a host). So the page's HTML is parsed (`pageassets`), its stylesheets
fetched once to read one level of `@import`/`url()`, and each distinct asset origin
(scheme, host, port) other than the page's own is checked with the same helpers as the
page: DNS, TCP and TLS with certificate analysis at each of its addresses, and one GET
for the first asset seen there. All of it runs inside the page's deadline, at most
SUBRESOURCE_PARALLEL hosts at a time; hosts whose turn comes after the deadline are named
in a `subresource_hosts_skipped` warning, like those beyond `subresource_hosts`.

Each asset host is checked into an Observation of its own and then translated: a
failing host becomes one `subresource_failed` finding on the page (degraded, not down:
the page itself works) naming the host and its own cause; its certificates and
warnings join the page's, since the service depends on them too.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from ronda import causes
from ronda.defaults import SUBRESOURCE_PARALLEL
from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext
from ronda.probes.exchange import Answer, hop_for
from ronda.probes.follow import follow
from ronda.probes.pageassets import page_assets, stylesheet_urls
from ronda.probes.resolve import resolve_host
from ronda.schemes import DEFAULT_PORTS
from ronda.target import CheckOptions, Target
from ronda.verdict import CertificateInfo, Finding

MAX_STYLESHEETS = 20  # stylesheets fetched per page to read their @import and url()
STYLESHEET_BYTES = 512 * 1024  # read at most this much of a stylesheet
ASSET_BYTES = 0  # of any other asset only the status matters: stop at its first body byte
_CUT_AFTER = 0.2  # seconds past the deadline the asset hosts still running are cut (the check's guard: 0.5)

Origin = tuple[str, str, int]


@dataclass(frozen=True)
class HostCheck:
    url: str  # the asset requested
    obs: Observation  # what was seen at the host, as if it were a target of its own
    answer: Answer | None  # at its first address that answered


async def check_subresources(
    obs: Observation, ctx: ProbeContext, options: CheckOptions, page: Answer, deadline: float
) -> None:
    """Check the asset hosts of `page` (the page's answer at its first address) and
    record them on `obs`: `http.subresources`, `subresource_failed` findings, certificates."""
    if page.status >= 400 or not _is_html(page):
        return
    page_url = page.url or obs.target.url
    # Parsing a MiB of HTML takes a third of a second: off the event loop, which other checks share.
    assets = await asyncio.to_thread(page_assets, page.body, page_url)
    sheets = set(assets.stylesheets)
    own = {origin_of(obs.target.url), origin_of(page_url)}
    hosts: AssetHosts | None = None
    try:
        # Each phase of a host's check ends at the deadline with its own cause; what is still
        # running just after (a loop too busy to get there) is cut here, not by the whole
        # check's guard, since the page itself was checked: those hosts are named as not
        # checked in time.
        async with asyncio.timeout(max(deadline + _CUT_AFTER - time.monotonic(), 0)), asyncio.TaskGroup() as group:
            hosts = AssetHosts(group, ctx, options, deadline, own)
            for url in assets.urls:
                hosts.add(url, limit=STYLESHEET_BYTES if url in sheets else ASSET_BYTES)
            reading = assets.stylesheets[:MAX_STYLESHEETS]  # hosts only named further down are not found
            found = await asyncio.gather(*(hosts.stylesheet(url) for url in reading))
            for urls in found:  # one level: these are checked, not fetched for references of their own
                for url in urls:
                    hosts.add(url, limit=ASSET_BYTES)
    except TimeoutError:
        pass
    if hosts is None:
        return
    results = [_finished(task) for task in hosts.tasks.values()]
    checks = [check for check in results if check is not None]
    http = obs.facts["http"]  # set from the same answer before this is called
    http["subresources"] = [host_record(obs, check) for check in checks]
    late = len(results) - len(checks)
    over_cap = len(hosts.first) - len(hosts.tasks)
    http["subresources_skipped"] = over_cap + late
    if over_cap or late:
        # A host never checked is a blind spot, not a pass: say so, as a warning.
        obs.warn("subresource_hosts_skipped", _skipped_words(len(hosts.first), over_cap, late, options))


def _finished(task: asyncio.Task[HostCheck | None]) -> HostCheck | None:
    """A host's check, or None when the deadline came first."""
    if not task.done() or task.cancelled():
        return None
    return task.result()


def _skipped_words(total: int, over_cap: int, late: int, options: CheckOptions) -> str:
    parts = []
    if over_cap:
        parts.append(
            f"{over_cap} of the page's {total} asset hosts were not checked (at most {options.subresource_hosts} "
            "are; raise subresource_hosts to cover them)"
        )
    if late:
        parts.append(
            f"{late} of the page's {total} asset hosts could not be checked within the {options.timeout:g}s "
            "budget; raise timeout or lower subresource_hosts"
        )
    return "; ".join(parts)


class AssetHosts:
    """The foreign asset origins seen so far, each checked once, at most `subresource_hosts`,
    at most `SUBRESOURCE_PARALLEL` at a time: a page with hundreds of asset hosts must not open
    hundreds of sockets at once (the process's file descriptors are every monitor's)."""

    def __init__(
        self, group: asyncio.TaskGroup, ctx: ProbeContext, options: CheckOptions, deadline: float, own: set[Origin]
    ) -> None:
        self.group = group
        self.ctx = ctx
        self.options = options
        self.deadline = deadline
        self.own = own
        self.first: dict[Origin, str] = {}  # every foreign origin -> the first asset seen there
        self.tasks: dict[Origin, asyncio.Task[HostCheck | None]] = {}
        self.lanes = asyncio.Semaphore(SUBRESOURCE_PARALLEL)

    def add(self, url: str, limit: int) -> None:
        origin = origin_of(url)
        if origin in self.own or origin in self.first:
            return
        self.first[origin] = url
        if len(self.tasks) < self.options.subresource_hosts:
            self.tasks[origin] = self.group.create_task(self._check(url, limit))

    async def _check(self, url: str, limit: int) -> HostCheck | None:
        """The host's check, or None when its turn came after the deadline."""
        async with self.lanes:
            if time.monotonic() >= self.deadline:
                return None
            return await check_host(self.ctx, self.options, url, self.deadline, limit)

    async def stylesheet(self, url: str) -> list[str]:
        """The references of a stylesheet; read from its host's check when that
        requested this very stylesheet, else fetched once on its own."""
        origin = origin_of(url)
        task = self.tasks.get(origin)
        if task is not None and self.first[origin] == url:
            checked = await task
            answer = checked.answer if checked is not None else None
        else:
            async with self.lanes:
                answer = await _fetch(self.ctx, self.options, url, self.deadline)
        if answer is None or answer.status >= 400:
            return []  # a broken stylesheet on another host is that host's finding
        return await asyncio.to_thread(stylesheet_urls, answer.body, answer.url or url, _charset(answer))


async def check_host(ctx: ProbeContext, options: CheckOptions, url: str, deadline: float, limit: int) -> HostCheck:
    """DNS, TCP, TLS and one GET of `url` at every address of its host."""
    hop = hop_for(url)
    obs = Observation(Target(url=url, scheme=hop.scheme, host=hop.host, port=hop.port, path=hop.path))
    answers: dict[str, Answer] = {}

    async def at(address: str) -> None:
        answer = await follow(obs, ctx, options, hop, address, deadline, limit)
        if answer is None:
            return
        answers[address] = answer
        if answer.status >= 400:
            code = "http_server_error" if answer.status >= 500 else "http_client_error"
            detail = f"{url} at {address} answered {answer.status} {answer.reason}".rstrip()
            obs.problem(code, detail, address=address, host=hop.host, port=hop.port)

    await each_address(obs, options, deadline, at, ctx.dns)
    first = next((answers[a] for a in obs.addresses if a in answers), None)
    return HostCheck(url, obs, first)


async def _fetch(ctx: ProbeContext, options: CheckOptions, url: str, deadline: float) -> Answer | None:
    """A stylesheet's content from the first address of its host; failures are not
    findings here (the page's own host is checked by the page, others by check_host)."""
    hop = hop_for(url)
    resolved = await resolve_host(hop.host, hop.port, options, deadline, ctx.dns)
    if resolved.error:
        return None
    scratch = Observation(Target(url=url, scheme=hop.scheme, host=hop.host, port=hop.port, path=hop.path))
    return await follow(scratch, ctx, options, hop, resolved.addresses[0], deadline, STYLESHEET_BYTES)


def host_record(obs: Observation, check: HostCheck) -> dict[str, Any]:
    """Fold one host's check into the page's observation; its entry for the verdict."""
    sub = check.obs
    target = sub.target
    known = {_cert_key(c) for c in obs.certificates}
    obs.certificates.extend(c for c in sub.certificates if _cert_key(c) not in known)
    obs.warnings.extend(sub.warnings)
    status, cause = _outcome(sub)
    if cause is not None:
        label = target.host if target.port == DEFAULT_PORTS[target.scheme] else f"{target.host}:{target.port}"
        failing = {f.address for f in sub.findings}
        scope = f" ({len(failing)} of {len(sub.addresses)} addresses fail)" if status == "degraded" else ""
        obs.problem(
            "subresource_failed", f"{label}: {cause.code}: {cause.detail}{scope}", host=target.host, port=target.port
        )
    return {"host": target.host, "url": check.url, "status": status, "cause": cause.code if cause else None}


def _cert_key(cert: CertificateInfo) -> tuple[str, str, int, str]:
    return cert.host, cert.address, cert.port, cert.fingerprint_sha256


def _outcome(sub: Observation) -> tuple[str, Finding | None]:
    """up, degraded (some of its addresses fail) or down, and the most telling finding."""
    if not sub.findings:
        return "up", None
    cause = min(sub.findings, key=lambda f: causes.precedence(f.code))
    failing = {f.address for f in sub.findings}
    down = None in failing or not sub.addresses or failing >= set(sub.addresses)
    return ("down" if down else "degraded"), cause


def origin_of(url: str) -> Origin:
    hop = hop_for(url)
    return hop.scheme, hop.host.rstrip("."), hop.port


def _is_html(answer: Answer) -> bool:
    kind = answer.headers.get("content-type")
    if kind is None:
        return answer.body.lstrip()[:1] == b"<"
    return "html" in kind.lower()


def _charset(answer: Answer) -> str | None:
    for parameter in answer.headers.get("content-type", "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None
