"""The one headless Chromium of a ronda process, shared by every browser+ check that runs at
the same time, at most PAGES pages at once, each page in a context of its own (no cookies,
cache or storage shared between checks).

Playwright is an optional extra (`pip install 'ronda[browser]'`): without it, or without a
Chromium it can start, a check says so in a `browser_unavailable` finding and nothing raises.

Chromium resolves names itself, once per process, so a check's `resolve` entries become its
`--host-resolver-rules` (and every other name then fails as not found rather than reaching
the machine's resolver): checks with different entries get browsers of their own. Playwright
bounds no page's memory; V8's heap is capped per renderer (--max-old-space-size) and pages
are few, so a page that grows without end ends as a crashed page, a finding, not a ronda out
of memory.

Playwright's objects belong to the event loop they were made on. A one-shot loop (`ronda
check`, each test's check) closes the browser after its last page, so the command ends at
once. A long-lived process (`ronda run`, an agent, a worker: their scheduler holds
`kept_open`) keeps it open between checks until it has been idle for IDLE seconds: starting
Chromium costs more than loading a small page, and a browser check every minute would
otherwise start it every minute. The holder closes it when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ronda.target import CheckOptions

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Playwright

PAGES = 2  # pages open at once in a ronda process
HEAP_MB = 256  # V8's heap per renderer
CHROMIUM = "/usr/bin/chromium"  # Debian's; RONDA_CHROMIUM names another, else Playwright's own download
INSTALL = (
    "pip install 'ronda[browser]' (Playwright), then a Chromium: Debian's chromium package "
    "or `playwright install chromium`"
)
_CLOSE_WITHIN = 2.0  # seconds given to close a context or the browser
IDLE = 300.0  # seconds a kept-open browser may sit unused before it is closed

# Chromium's own traffic (updates, sync, field trials) must not leave the machine, and as
# root it needs --no-sandbox.
QUIET_FLAGS = (  # the tests' browser (tests/browser.py) starts with these too
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)
FLAGS = (
    *QUIET_FLAGS,
    "--disable-dev-shm-usage",
    f"--js-flags=--max-old-space-size={HEAP_MB}",
)


class BrowserUnavailable(Exception):
    """No browser to load the page in: its words say why and how to install one."""


def resolver_rules(options: CheckOptions) -> str | None:
    """--host-resolver-rules for the check's `resolve` entries (by name: Chromium maps every
    port), every other name not found; None: Chromium resolves as the machine does."""
    if not options.resolve and options.nameserver is None:
        return None
    rules = []
    for (host, _port), addresses in sorted(options.resolve.items()):
        address = addresses[0]
        rules.append(f"MAP {host} [{address}]" if ":" in address else f"MAP {host} {address}")
    rules.append("MAP * ~NOTFOUND")
    return ", ".join(rules)


def executable() -> str | None:
    chosen = os.environ.get("RONDA_CHROMIUM") or CHROMIUM
    return chosen if os.access(chosen, os.X_OK) else None


class Browsers:
    def __init__(self, pages: int = PAGES) -> None:
        self.pages = pages
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lanes = asyncio.Semaphore(pages)
        self._lock = asyncio.Lock()
        self._users = 0
        self._holders = 0  # long-lived processes keeping the browser open between checks
        self._idle = IDLE
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._playwright: Playwright | None = None
        self._browsers: dict[str | None, Browser] = {}

    def _for_this_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new loop: the last one's objects (all closed) are gone with it
            self._loop = loop
            self._lanes = asyncio.Semaphore(self.pages)
            self._lock = asyncio.Lock()
            self._users = 0
            self._holders = 0
            self._idle_timer = None
            self._closing = set()
            self._playwright = None
            self._browsers = {}

    @contextlib.asynccontextmanager
    async def kept_open(self, idle: float = IDLE) -> AsyncIterator[None]:
        """While held, the browser stays open between checks, closed once unused for `idle`
        seconds; closed when the last holder lets go (a scheduler stopping, ronda shutting
        down), since its loop may end right after."""
        self._for_this_loop()
        self._holders += 1
        self._idle = idle
        try:
            yield
        finally:
            self._holders -= 1
            if self._holders == 0:
                self._cancel_idle_timer()
                await self.close()

    async def close(self) -> None:
        """Close every browser of this loop now, unless a check is using one."""
        if self._loop is not asyncio.get_running_loop():
            return  # none was opened on this loop
        async with self._lock:
            if self._users == 0:
                await self._close_all()

    def _close_when_idle(self) -> None:
        """The last page of a kept-open browser closed: close it unless a check comes first."""
        self._cancel_idle_timer()
        self._idle_timer = asyncio.get_running_loop().call_later(self._idle, self._idle_over)

    def _idle_over(self) -> None:
        self._idle_timer = None
        if self._users == 0:
            task = asyncio.get_running_loop().create_task(self.close(), name="closing an idle browser")
            self._closing.add(task)  # held, so the task is not collected before it has run
            task.add_done_callback(self._closing.discard)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    @contextlib.asynccontextmanager
    async def page(self, options: CheckOptions, until: float) -> AsyncIterator[Page]:
        """A fresh page in a context of its own, in the shared browser for the check's resolve
        rules; BrowserUnavailable when there is none, or no free page before `until`."""
        self._for_this_loop()
        try:
            async with asyncio.timeout(max(until - time.monotonic(), 0)):
                await self._lanes.acquire()
        except TimeoutError:
            raise BrowserUnavailable(f"all {self.pages} browser pages stayed busy for the check's budget") from None
        self._users += 1
        self._cancel_idle_timer()
        try:
            browser = await self._browser(resolver_rules(options), until)
            context = await browser.new_context(ignore_https_errors=True)  # ronda judges certificates itself
            try:
                yield await context.new_page()
            finally:
                await _quietly(context.close())
        finally:
            self._users -= 1
            self._lanes.release()
            if self._users == 0 and self._holders:
                self._close_when_idle()
            elif self._users == 0:
                await self.close()  # a one-shot loop: its command must not wait on a browser

    async def _browser(self, rules: str | None, until: float) -> Browser:
        try:
            from playwright.async_api import Error as PlaywrightError
            from playwright.async_api import async_playwright
        except ImportError:
            raise BrowserUnavailable(f"Playwright is not installed: {INSTALL}") from None
        async with self._lock:
            browser = self._browsers.get(rules)
            if browser is not None and browser.is_connected():
                return browser
            try:
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                args = [*FLAGS, f"--host-resolver-rules={rules}"] if rules else list(FLAGS)
                timeout = max((until - time.monotonic()) * 1000, 1.0)
                browser = await self._playwright.chromium.launch(
                    executable_path=executable(), args=args, timeout=timeout
                )
            except PlaywrightError as exc:
                words = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise BrowserUnavailable(f"Chromium could not be started ({words}): {INSTALL}") from None
            self._browsers[rules] = browser
            return browser

    async def _close_all(self) -> None:
        browsers, self._browsers = self._browsers, {}
        for browser in browsers.values():
            await _quietly(browser.close())
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            await _quietly(playwright.stop())


async def _quietly(closing: Any) -> None:
    """Close something of a browser that may have crashed or hung: never raise, never wait long."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_CLOSE_WITHIN):
            await closing


BROWSERS = Browsers()
