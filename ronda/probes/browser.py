"""browser+https:// and browser+http://: the page loaded in headless Chromium, as a person's
browser loads it, JavaScript and all (docs/browser.md).

`--subresources` reads the HTML and CSS a server sends; a page that builds itself with
JavaScript loads assets no parser sees (amazon.com, 2020: the page was up, its images and
layout were not). Here Chromium (through Playwright, the optional extra `ronda[browser]`)
runs the page until its network settles, and ronda notes every request it makes:

- a request that failed in the browser (DNS, refused, TLS, ...: Chromium's net::ERR_*
  mapped to ronda's causes) or answered >= 400 is a `subresource_failed` finding naming its
  host, or the page's own failure when it is the page's;
- every other origin the page touched is checked by ronda itself, as `--subresources`
  checks an asset host (DNS, TCP, TLS with ronda's certificate analysis at each address):
  Chromium is told to let certificate errors pass, so ronda, not Chromium's trust store,
  judges certificates, with the check's `ca_file`, and they join the verdict's inventory;
- console errors and uncaught exceptions are `console_error` warnings;
- a page that crashes its renderer (past its heap, say) is `page_crashed`;
- latency is the time to the page's load event;
- a check that finds the page failing keeps a screenshot of it (screenshot.py) in
  `browser.screenshot`, taken before the page closes.

One browser process serves every check of a ronda process at the same time (browsers.py),
at most PAGES pages at once, each in a context of its own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.browsers import BROWSERS, HEAP_MB, BrowserUnavailable
from ronda.probes.neterrors import IGNORED, bare, cause_of
from ronda.probes.screenshot import SCHEMA as SCREENSHOT_SCHEMA
from ronda.probes.screenshot import screenshot
from ronda.probes.subresources import AssetHosts, check_host, host_record, origin_of
from ronda.target import CheckOptions, Target

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.async_api import ConsoleMessage, Page, Request, Response

PREFIX = "browser+"
MAX_CONSOLE = 10  # console errors kept per check
MAX_FAILED = 50  # failed requests kept in the facts
SETTLE_SHARE = 0.8  # of the budget the browser may use; the rest is for closing and ronda's own host checks


@dataclass
class _Seen:
    """What the page did while it loaded."""

    failed: list[dict[str, Any]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    requests: int = 0
    crashed: bool = False  # the page's renderer died


async def probe_browser(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    url = page_url(target)
    if not options.reach.private:
        # What a page's scripts load is out of ronda's hands: a monitor narrowed off private
        # addresses (an API monitor, server.allow_private_targets) gets no browser.
        obs.problem("target_not_allowed", f"{url}: browser checks may reach any address, and this monitor may not")
        return
    seen = _Seen()
    facts: dict[str, Any] = {"url": url}
    obs.facts["browser"] = facts
    own = {origin_of(url)}
    hosts: AssetHosts | None = None
    page_check: asyncio.Task[Any] | None = None
    try:
        async with asyncio.TaskGroup() as group:
            hosts = AssetHosts(group, ctx, options, deadline, own)
            if target.scheme == "browser+https":
                page_check = group.create_task(check_host(ctx, options, url, deadline, 0))
            checks = _checks_of(hosts, page_check)
            try:
                await _load(url, options, obs, seen, hosts, facts, deadline, checks)
            except BrowserUnavailable as exc:
                obs.problem("browser_unavailable", str(exc))
    except* TimeoutError:
        pass
    if page_check is not None and page_check.done() and not page_check.cancelled():
        sub = page_check.result().obs  # the page's own host: its findings are the page's
        obs.findings.extend(sub.findings)
        obs.warnings.extend(sub.warnings)
        obs.certificates.extend(sub.certificates)
        obs.addresses.extend(a for a in sub.addresses if a not in obs.addresses)
    checked: set[str] = set()
    if hosts is not None:
        records = []
        for task in hosts.tasks.values():
            if task.done() and not task.cancelled() and (check := task.result()) is not None:
                records.append(host_record(obs, check))
                if records[-1]["status"] != "up":
                    checked.add(records[-1]["host"])
        facts["hosts"] = records
    _report_failures(obs, seen, checked, url)
    facts["requests"] = seen.requests
    facts["failed"] = seen.failed[:MAX_FAILED]
    facts["console_errors"] = seen.console
    for message in seen.console:
        obs.warn("console_error", message)


def _checks_of(hosts: AssetHosts, page_check: asyncio.Task[Any] | None) -> Callable[[], list[asyncio.Task[Any]]]:
    """ronda's own checks of the hosts the page touched so far, its own host's first."""
    return lambda: [*([page_check] if page_check is not None else []), *hosts.tasks.values()]


async def _load(
    url: str,
    options: CheckOptions,
    obs: Observation,
    seen: _Seen,
    hosts: AssetHosts,
    facts: dict[str, Any],
    deadline: float,
    checks: Callable[[], list[asyncio.Task[Any]]],
) -> None:
    """Open the page in the shared browser, wait for its network to settle within the budget,
    and, while the page is still open, take its screenshot if the check is failing."""
    until = obs.started + options.timeout * SETTLE_SHARE
    async with BROWSERS.page(options, until) as page:
        _watch(page, seen, hosts)
        await _open(page, url, options, obs, seen, facts, until)
        if seen.crashed:
            facts["crashed"] = True
            obs.problem("page_crashed", f"{url} crashed the browser's renderer while it loaded ({_CRASH_WHY})")
        elif await _failing(obs, seen, checks(), until):
            shot = await screenshot(page, deadline)
            if shot is not None:
                facts["screenshot"] = shot


_CRASH_WHY = f"its scripts ran past the {HEAP_MB} MB heap a page may use, or Chromium itself failed"


async def _open(
    page: Page, url: str, options: CheckOptions, obs: Observation, seen: _Seen, facts: dict[str, Any], until: float
) -> None:
    from playwright.async_api import Error as PlaywrightError

    try:
        response = await page.goto(url, wait_until="load", timeout=_ms(until))
    except PlaywrightError as exc:
        if not seen.crashed:  # a crash is said as one by the caller
            _page_failed(obs, url, exc, options)
        return
    obs.latency_ms = obs.elapsed_ms()
    if response is not None:
        facts["status"] = response.status
        _judge_page(obs, url, response)
    try:
        await page.wait_for_load_state("networkidle", timeout=_ms(until))
        facts["settled"] = True
    except PlaywrightError:
        facts["settled"] = False  # still loading at the end of its share of the budget: judged as it stands


async def _failing(obs: Observation, seen: _Seen, checks: list[asyncio.Task[Any]], until: float) -> bool:
    """Whether the verdict will be down or degraded, known while the page is still open: the
    page's own failures, a request that failed in the browser, or, waited for within the
    browser's share of the budget, ronda's own check of a host it touched."""
    if obs.findings or seen.failed:
        return True
    pending = [task for task in checks if not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=max(until - time.monotonic(), 0))
    return any(_found_problems(task) for task in checks)


def _found_problems(task: asyncio.Task[Any]) -> bool:
    if not task.done() or task.cancelled() or task.exception() is not None:
        return False
    check = task.result()
    return check is not None and bool(check.obs.findings)


def _watch(page: Page, seen: _Seen, hosts: AssetHosts) -> None:
    def on_request(request: Request) -> None:
        seen.requests += 1
        if request.url.startswith(("http://", "https://")):
            hosts.add(request.url, limit=0)  # ronda checks the host itself (its certificates)

    def on_failed(request: Request) -> None:
        error = request.failure or "failed"
        if bare(error) in IGNORED:
            return  # the page gave up on it itself
        seen.failed.append({"url": request.url, "host": _host(request.url), "error": error})

    async def on_finished(request: Request) -> None:
        response = await request.response()
        if response is not None and response.status >= 400 and not request.is_navigation_request():
            error = f"HTTP {response.status} {response.status_text}".rstrip()
            seen.failed.append({"url": request.url, "host": _host(request.url), "error": error})

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and len(seen.console) < MAX_CONSOLE:
            seen.console.append(f"console: {message.text}"[:500])

    def on_page_error(error: Exception) -> None:
        if len(seen.console) < MAX_CONSOLE:
            seen.console.append(f"uncaught: {error}"[:500])

    def on_crash(_page: Page) -> None:
        seen.crashed = True

    page.on("request", on_request)
    page.on("requestfailed", on_failed)
    page.on("requestfinished", on_finished)
    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("crash", on_crash)


def _report_failures(obs: Observation, seen: _Seen, checked: set[str], url: str) -> None:
    """One finding per host whose requests failed in the browser, unless ronda's own check of
    that host already named its cause."""
    page_host = _host(url)
    named: set[str] = set()
    for failure in seen.failed:
        host = failure["host"]
        if host in checked or host in named or failure["url"] == url:
            continue
        named.add(host)
        code = _code(failure["error"])
        failure["cause"] = code
        where = "the page's own host" if host == page_host else host
        obs.problem("subresource_failed", f"{where}: {code}: {failure['url']} failed ({failure['error']})", host=host)


def _code(error: str) -> str:
    if error.startswith("HTTP "):
        status = int(error.split()[1])
        return "http_server_error" if status >= 500 else "http_client_error"
    return cause_of(error)


def _judge_page(obs: Observation, url: str, response: Response) -> None:
    status = response.status
    if status >= 400:
        code = "http_server_error" if status >= 500 else "http_client_error"
        obs.problem(code, f"{url} answered {status} {response.status_text}".rstrip())


def _page_failed(obs: Observation, url: str, exc: Exception, options: CheckOptions) -> None:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Timeout" in type(exc).__name__ or "Timeout" in text:
        obs.problem("http_timeout", f"{url} did not finish loading within the {options.timeout:g}s budget")
        return
    error = next((word for word in text.split() if word.startswith("net::ERR_")), text)
    if any(f.host == _host(url) for f in obs.findings):
        return  # ronda's own check of the page's host says why
    obs.problem(cause_of(error), f"{url} failed to load in the browser ({error})")


def page_url(target: Target) -> str:
    """The page's http(s) URL: the target's without `browser+`."""
    return target.url[len(PREFIX) :] if target.url.lower().startswith(PREFIX) else target.url


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")


def _ms(until: float) -> float:
    return max((until - time.monotonic()) * 1000, 1.0)


def _words(facts: dict[str, Any]) -> str:
    parts = [f"page {facts['status']}" if "status" in facts else "page not loaded"]
    parts.append(f"{facts.get('requests', 0)} requests")
    if facts.get("failed"):
        parts.append(f"{len(facts['failed'])} failed")
    if facts.get("crashed"):
        parts.append("renderer crashed")
    elif facts.get("settled") is False:
        parts.append("still loading")
    return ", ".join(parts)


def _detail(facts: dict[str, Any]) -> list[str]:
    lines = [f"failed: {f['url']} ({f['error']})" for f in facts.get("failed", [])]
    lines += [str(message) for message in facts.get("console_errors", [])]
    shot = facts.get("screenshot")
    return lines + ([_shot_words(shot)] if isinstance(shot, dict) else [])


def _shot_words(shot: dict[str, Any]) -> str:
    """Where `ronda check` put the failing page's screenshot."""
    if shot.get("file"):
        return f"screenshot: written to {shot['file']}"
    if shot.get("error"):
        return f"screenshot: {shot['error']}"
    return f"screenshot: taken ({shot.get('bytes', 0) // 1024} KB), not kept: --screenshot FILE writes it"


def _perfdata(facts: dict[str, Any]) -> list[str]:
    return [f"requests={facts.get('requests', 0)};;;0", f"failed={len(facts.get('failed', []))};;;0"]


SCHEME = ProbeScheme(
    probe_browser,
    timeout="http_timeout",
    facts="browser",
    words=_words,
    perfdata=_perfdata,
    detail=_detail,
    facts_schema={"screenshot": SCREENSHOT_SCHEMA},
)
