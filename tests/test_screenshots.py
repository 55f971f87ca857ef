"""A failing browser+https:// check keeps a screenshot of the page: real loopback servers, the
page in Debian's Chromium, the verdict stored on SQLite and PostgreSQL, and the screenshot
seen where a person looks for it (the monitor's page, the API, `ronda check --screenshot`).

What the images show is read back by Chromium itself (a canvas), so the tests need no image
library: the failing page is painted red, and red is what the screenshot shows."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ronda.agent.runner import batch_size
from ronda.probes.browsers import CHROMIUM, QUIET_FLAGS
from ronda.rules.incidents import Policy
from ronda.storage.arrivals import Arrival
from ronda.storage.database import Database
from ronda.storage.screenshots import KEEP
from ronda.verdict import Verdict, verdict_from_json
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.world.web import Reply, WebServer
from tests.support import ronda_check

SHOP = "127.0.0.2"
TOKEN = "screenshot-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RED = (208, 0, 0)
BROKEN_PAGE = (
    b'<!doctype html><html><body style="background:#d00000"><h1>Shop</h1><img src="/logo.png" alt="logo"></body></html>'
)


def names(port: int) -> dict[tuple[str, int], tuple[str, ...]]:
    return {("shop.test", port): (SHOP,)}


def broken_shop(web: Any) -> WebServer:
    """A red page whose logo is missing (404): degraded, subresource_failed."""
    shop = web(SHOP)
    shop.default = Reply(body=BROKEN_PAGE)
    shop.routes["/logo.png"] = Reply(status=404, body=b"not found", headers={"Content-Type": "text/plain"})
    return shop


def jpeg_of(verdict: Verdict) -> bytes:
    return base64.b64decode(verdict.facts["browser"]["screenshot"]["data"])


def seen_in(jpeg: bytes) -> tuple[int, int, tuple[int, int, int]]:
    """The image's width, height and the colour near its bottom-right corner, as Chromium
    decodes it."""

    async def look() -> list[int]:
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=list(QUIET_FLAGS))
            page = await browser.new_page()
            found: list[int] = await page.evaluate(
                """async (src) => {
                    const img = new Image(); img.src = src; await img.decode();
                    const canvas = document.createElement('canvas');
                    canvas.width = img.width; canvas.height = img.height;
                    const g = canvas.getContext('2d'); g.drawImage(img, 0, 0);
                    const corner = g.getImageData(img.width - 8, img.height - 8, 1, 1).data;
                    return [img.width, img.height, corner[0], corner[1], corner[2]];
                }""",
                "data:image/jpeg;base64," + base64.b64encode(jpeg).decode(),
            )
            await browser.close()
            return found

    width, height, *rgb = asyncio.run(look())
    return width, height, (rgb[0], rgb[1], rgb[2])


def reddish(colour: tuple[int, int, int]) -> bool:
    return all(abs(got - want) < 24 for got, want in zip(colour, RED, strict=True))


@pytest.fixture(scope="module")
def failing_verdict(world_loop: Any, ca_file: str) -> Verdict:
    """One real failing check, shared by the store's tests (Chromium is slow to start)."""
    from ronda.check import run_check
    from ronda.target import CheckOptions, parse_target

    shop = WebServer(SHOP, 0, None)
    shop.default = Reply(body=BROKEN_PAGE)
    shop.routes["/logo.png"] = Reply(status=404, body=b"not found", headers={"Content-Type": "text/plain"})
    world_loop.run(shop.start())
    try:
        options = CheckOptions(resolve=names(shop.port), ca_file=ca_file)
        return asyncio.run(run_check(parse_target(f"browser+http://shop.test:{shop.port}/"), options))
    finally:
        world_loop.run(shop.stop())


# -- the check ---------------------------------------------------------------------------


def test_a_failing_page_comes_with_a_jpeg_of_what_the_browser_showed(web, check):
    shop = broken_shop(web)

    verdict = check(f"browser+http://shop.test:{shop.port}/", resolve=names(shop.port))

    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    shot = verdict.facts["browser"]["screenshot"]
    assert shot["type"] == "image/jpeg" and shot["bytes"] == len(jpeg_of(verdict))
    width, height, corner = seen_in(jpeg_of(verdict))
    assert (width, height) == (1280, 720)  # the viewport
    assert reddish(corner), corner


def test_a_page_that_works_takes_no_screenshot(web, check):
    shop = web(SHOP)
    shop.default = Reply(body=b"<!doctype html><html><body><h1>Shop</h1></body></html>")

    verdict = check(f"browser+http://shop.test:{shop.port}/", resolve=names(shop.port))

    assert verdict.status == "up"
    assert "screenshot" not in verdict.facts["browser"]


def test_a_page_that_eats_its_memory_is_a_crashed_page(web, check):
    shop = web(SHOP)
    grow = "<script>const kept = []; for (;;) kept.push(new Array(1e6).fill(Math.random()));</script>"
    shop.default = Reply(body=f"<!doctype html><html><body>{grow}</body></html>".encode())

    verdict = check(f"browser+http://shop.test:{shop.port}/", resolve=names(shop.port), timeout=20)

    assert (verdict.status, verdict.cause) == ("down", "page_crashed")
    assert "crashed the browser's renderer" in verdict.findings[0].detail
    assert verdict.facts["browser"]["crashed"] is True


def test_ronda_check_writes_the_screenshot_where_it_is_told_and_says_so(web, repo_root, tmp_path):
    shop = broken_shop(web)
    url = f"browser+http://shop.test:{shop.port}/"
    target = tmp_path / "shop.jpg"

    done = ronda_check(repo_root, url, "--resolve", f"shop.test:{shop.port}:{SHOP}", "--screenshot", str(target))

    assert done.returncode == 1, done.stdout + done.stderr  # degraded: WARNING
    assert f"screenshot: written to {target}" in done.stdout
    assert reddish(seen_in(target.read_bytes())[2])

    as_json = ronda_check(repo_root, url, "--resolve", f"shop.test:{shop.port}:{SHOP}", "--json")
    shot = json.loads(as_json.stdout)["browser"]["screenshot"]
    assert "data" not in shot and shot["bytes"] > 0  # its bytes go to a file, never to the terminal


# -- the store ---------------------------------------------------------------------------


def stored(store_url: str, verdict: Verdict, times: int) -> Database:
    """A store whose monitor `shop` recorded the verdict `times` times, a minute apart."""
    store = Database(store_url)
    store.monitors.sync({"shop": verdict.target})
    start = datetime.now(UTC) - timedelta(minutes=times)
    arrivals = [
        Arrival("shop", dataclasses.replace(verdict, checked_at=start + timedelta(minutes=n)), Policy(confirm=1))
        for n in range(times)
    ]
    for arrival in arrivals:
        store.monitors.record_many([arrival])
    return store


def test_a_stored_verdict_names_its_screenshot_and_only_the_last_few_are_kept(store_url, failing_verdict):
    store = stored(store_url, failing_verdict, KEEP + 2)
    try:
        results = store.monitors.results("shop", 10)
        assert len(results) == KEEP + 2
        assert all("data" not in verdict["browser"]["screenshot"] for verdict in results)
        ids = [verdict["browser"]["screenshot"]["id"] for verdict in results]  # newest first
        kept = [store.screenshots.image("shop", shot_id) for shot_id in ids]
        assert kept[:KEEP] == [jpeg_of(failing_verdict)] * KEEP
        assert kept[KEEP:] == [None, None]  # older ones deleted as new ones came
    finally:
        store.close()


def get(store: Database, path: str, headers: dict[str, str] | None = AUTH) -> httpx.Response:
    app = create_app(WebContext(store, TOKEN))

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ronda") as client:
            return await client.get(path, headers=headers or {})

    return asyncio.run(fetch())


def test_the_monitors_page_shows_its_last_failing_screenshot_from_its_own_origin(store_url, failing_verdict):
    store = stored(store_url, failing_verdict, 2)
    try:
        page = get(store, "/monitors/shop").text
        latest = store.monitors.results("shop", 1)[0]["browser"]["screenshot"]["id"]
        src = f"/monitors/shop/screenshots/{latest}"
        assert f'<img src="{src}"' in page
        assert "shop.test" in page[page.index(src) :].split(">", 1)[0]  # its alt text names the page
        assert "The page when it last failed" in page

        image = get(store, src)
        assert image.headers["content-type"] == "image/jpeg"
        assert image.content == jpeg_of(failing_verdict)
        assert get(store, src, headers=None).status_code == 401  # behind the login

        api = get(store, "/api/v1/monitors/shop/screenshot")
        assert (api.status_code, api.headers["content-type"]) == (200, "image/jpeg")
        assert reddish(seen_in(api.content)[2])
    finally:
        store.close()


def test_a_monitor_without_a_screenshot_has_none_to_show(store_url):
    store = Database(store_url)
    try:
        store.monitors.sync({"api": "https://api.test/"})
        assert "The page when it last failed" not in get(store, "/monitors/api").text
        assert get(store, "/api/v1/monitors/api/screenshot").status_code == 404
        assert get(store, "/api/v1/monitors/nobody/screenshot").status_code == 404
    finally:
        store.close()


# -- on the way to the hub ---------------------------------------------------------------


def test_a_screenshot_travels_from_an_agent_to_the_hub_whole(failing_verdict):
    sent = json.loads(json.dumps(failing_verdict.to_json()))  # as an agent's batch carries it
    assert jpeg_of(verdict_from_json(sent)) == jpeg_of(failing_verdict)


def test_an_agents_batches_carry_a_bounded_weight_of_screenshots(failing_verdict):
    """A hub takes bodies of 1 MiB by default: a batch of many failing pages is split rather
    than refused whole."""
    heavy = dict(failing_verdict.to_json())
    heavy["browser"] = {**heavy["browser"], "screenshot": {**heavy["browser"]["screenshot"], "data": "A" * 200_000}}
    pending = [{"monitor": f"shop{n}", "verdict": heavy} for n in range(5)]
    pending.insert(2, {"monitor": "plain", "verdict": {"status": "up"}})

    batches = []
    while pending:
        size = batch_size(pending)
        batches.append([entry["monitor"] for entry in pending[:size]])
        pending = pending[size:]

    assert batches == [["shop0", "shop1", "plain"], ["shop2", "shop3"], ["shop4"]]  # 400 KB at most each
    assert (
        batch_size([{"monitor": "one", "verdict": {**heavy, "browser": {"screenshot": {"data": "A" * 900_000}}}}]) == 1
    )
