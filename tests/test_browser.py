"""The web face in a real browser (Debian's Chromium through Playwright) against a real
`ronda run` watching a real loopback server: log in, watch a monitor turn red when its
target breaks and green when it heals, read the incident on the status page, report a
problem, and see a forged form refused. Screenshots go to $RONDA_SCREENSHOTS."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ronda.world.web import Reply, WebServer
from tests.browser import shoot
from tests.support import RondaProcess, config_text, die_with_parent, free_port, wait_for

PASSWORD = "correct horse battery staple"
WAIT = 30_000  # ms: bounds a failing test only; pages change within a second or two


@pytest.fixture
def shop(web: Callable[..., WebServer], pki: Any) -> WebServer:
    return web(tls=pki.server_context("shop.test"))


@pytest.fixture
def images(web: Callable[..., WebServer], pki: Any) -> WebServer:
    return web(host="127.0.0.2", tls=pki.server_context("images.shop.test"))


def monitor(name: str, host: str, server: WebServer) -> str:
    return (
        f"  - name: {name}\n    url: https://{host}:{server.port}/\n"
        f'    resolve: {{"{host}:{server.port}": ["{server.host}"]}}\n'
        f"    expect: {{status: 200, text: Welcome}}\n"
    )


@pytest.fixture
def ronda(
    shop: WebServer, images: WebServer, tmp_path: Path, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RondaProcess]:
    monkeypatch.setenv("RONDA_ADMIN_PASSWORD", PASSWORD)  # the first start creates `admin` with it
    config = tmp_path / "ronda.yaml"
    monitors = monitor("shop", "shop.test", shop) + monitor("images", "images.shop.test", images)
    config.write_text(config_text(free_port(), ca_file, monitors))
    process = RondaProcess(config).start()
    yield process
    process.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def base(ronda: RondaProcess) -> str:
    return f"http://127.0.0.1:{ronda.port}"


def log_in(page: Page, ronda: RondaProcess) -> None:
    page.goto(base(ronda) + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Monitors")).to_be_visible()


def test_a_logged_in_dashboard_turns_red_and_green_without_a_reload(ronda, context, shop):
    page = context.new_page()
    log_in(page, ronda)
    tile = page.locator("#tile-shop")
    expect(tile).to_have_attribute("data-status", "up", timeout=WAIT)
    page.evaluate("window.stayed = true")  # gone if the page reloads

    shop.default = Reply(status=503, body=b"busy")
    expect(tile).to_have_attribute("data-status", "down", timeout=WAIT)
    expect(tile).to_contain_text("the server answered with an error (5xx)")
    assert page.evaluate("window.stayed === true"), "the page reloaded instead of updating in place"
    shoot(page, "dashboard-outage")

    shop.default = Reply()
    expect(tile).to_have_attribute("data-status", "up", timeout=WAIT)
    assert page.evaluate("window.stayed === true")


def test_the_incident_is_on_the_status_page_and_a_report_is_taken(ronda, context, shop):
    shop.default = Reply(status=503, body=b"busy")
    page = context.new_page()
    page.goto(base(ronda) + "/status")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    incidents = page.locator("section", has=page.get_by_role("heading", name="Current incidents"))
    for _ in range(60):  # the page redraws itself every half minute: a visitor in a hurry reloads
        if incidents.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(incidents).to_contain_text("shop")
    top = page.get_by_role("link", name="Report a problem")
    assert top.bounding_box()["y"] < incidents.bounding_box()["y"], "the report link comes before everything"
    assert f":{shop.port}" not in page.content(), "the public page must not show the monitor's target"
    shoot(page, "status-page-incident")

    page.get_by_label("Service", exact=True).select_option("shop")
    page.get_by_label("Problem", exact=True).select_option("app_error")
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_text("Thank you")).to_be_visible()
    shoot(page, "status-page-report-sent")


def test_the_status_page_on_a_phone_redraws_itself_in_place(ronda, browser, shop):
    """A visitor keeps the page open on a phone: when the shop breaks, the incident appears
    at the top without a reload (the page asks again every half minute: the test moves the
    page's clock on), while a half-typed report stays as typed."""
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        page.clock.install()
        page.goto(base(ronda) + "/status")
        expect(page.locator(".component")).to_have_count(2, timeout=WAIT)
        page.evaluate("window.stayed = true")  # gone if the page reloads
        page.get_by_label("Comment (optional, up to 500 characters)").fill("the shop shows an error")
        shop.default = Reply(status=503, body=b"busy")
        wait_for("the incident opened", lambda: ronda.api("/api/v1/incidents?open=true"))
        incidents = page.get_by_role("heading", name="Current incidents")
        for _ in range(20):
            page.clock.run_for(31_000)  # the page's next turn
            if incidents.count():
                break
            page.wait_for_timeout(500)
        expect(incidents).to_be_visible()
        assert page.evaluate("window.stayed === true"), "the page reloaded instead of redrawing in place"
        assert page.get_by_label("Comment (optional, up to 500 characters)").input_value() == "the shop shows an error"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
        shoot(page, "status-page-phone")
    finally:
        phone.close()


def test_a_form_without_the_csrf_token_is_refused(ronda, context, shop):
    page = context.new_page()
    log_in(page, ronda)
    shop.default = Reply(status=503, body=b"busy")
    page.goto(base(ronda) + "/incidents")
    expect(page.locator(".incident")).not_to_have_count(0, timeout=WAIT)
    incident = page.locator(".incident").first.get_attribute("id") or ""
    number = incident.removeprefix("incident-")

    # The session cookie goes with the request, as a forged cross-site form's would; no token.
    forged = context.request.post(
        f"{base(ronda)}/incidents/{number}/updates", form={"status": "identified", "message": "forged"}
    )
    assert forged.status == 403
    api = context.request.post(
        f"{base(ronda)}/api/v1/incidents/{number}/updates", data={"status": "identified", "message": "forged"}
    )
    assert api.status == 403

    # The page's own form carries the token and is accepted.
    page.reload()
    form = page.locator(f"#{incident} form")
    form.get_by_label("Post an update").select_option("identified")
    form.get_by_label("Message").fill("We know; a fix is on its way.")
    form.get_by_role("button", name="Post").click()
    expect(page.locator(f"#{incident}")).to_contain_text("We know; a fix is on its way.")
    assert "forged" not in page.content()


def test_the_dashboard_fits_a_phone(ronda, browser):
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        log_in(page, ronda)
        expect(page.locator("#tile-shop")).to_have_attribute("data-status", "up", timeout=WAIT)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
        shoot(page, "dashboard-phone")
        page.goto(base(ronda) + "/status")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shoot(page, "status-page-phone")
    finally:
        phone.close()


def test_a_monitor_added_in_the_dashboard_is_checked_and_can_be_deleted(ronda, context, images):
    page = context.new_page()
    log_in(page, ronda)
    page.get_by_role("link", name="Add a monitor").click()
    page.get_by_label("Name").fill("bad name!")
    page.get_by_label("Target URL").fill(f"tcp://127.0.0.2:{images.port}")
    page.evaluate("document.querySelector('form.card').noValidate = true")  # let the server judge it
    page.get_by_role("button", name="Add the monitor").click()
    expect(page.get_by_role("alert")).to_contain_text("name")

    page.get_by_label("Name").fill("images-port")
    page.get_by_role("button", name="Add the monitor").click()
    expect(page.get_by_role("heading", name="images-port")).to_be_visible()
    page.goto(base(ronda) + "/")
    expect(page.locator("#tile-images-port")).to_have_attribute("data-status", "up", timeout=WAIT)
    assert ronda.api("/api/v1/monitors/images-port")["source"] == "api"

    page.goto(base(ronda) + "/monitors/shop")
    expect(page.get_by_text("Defined in the config file")).to_be_visible()
    page.goto(base(ronda) + "/monitors/images-port")
    page.get_by_role("button", name="Delete this monitor").click()
    expect(page.get_by_role("heading", name="Monitors")).to_be_visible()
    expect(page.locator("#tile-images-port")).to_have_count(0)


def test_a_mistake_in_the_monitor_form_is_said_at_its_field_on_a_phone_then_the_monitor_is_edited(
    ronda, browser, images
):
    """On a phone: an interval ronda cannot read is refused in ronda's words right under its
    field, with what was typed kept; once fixed the monitor is added, then edited."""
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        log_in(page, ronda)
        page.get_by_role("link", name="Add a monitor").click()
        page.get_by_label("Name").fill("images-phone")
        page.get_by_label("Target URL").fill(f"tcp://127.0.0.2:{images.port}")
        page.get_by_label("Interval").fill("every minute")
        page.get_by_role("button", name="Add the monitor").click()

        interval = page.get_by_label("Interval")
        words = "expected a duration such as 500ms, 30s, 5m or 1h, got 'every minute'"
        expect(interval).to_have_attribute("aria-invalid", "true")
        expect(interval).to_have_accessible_description(words)  # read out with the field
        expect(page.get_by_role("alert")).to_contain_text(f"Interval: {words}")
        expect(page.get_by_label("Name")).to_have_value("images-phone")
        expect(interval).to_have_value("every minute")
        field, message = interval.bounding_box(), page.locator("#interval-error").bounding_box()
        assert field and message and 0 <= message["y"] - (field["y"] + field["height"]) < 40, "right under the field"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
        shoot(page, "monitor-form-errors-phone")

        interval.fill("1m")
        page.get_by_role("button", name="Add the monitor").click()
        expect(page.get_by_role("heading", name="images-phone")).to_be_visible()
        page.get_by_role("link", name="Edit this monitor").click()
        expect(page.get_by_label("Interval")).to_have_value("1m")
        expect(page.get_by_label("Target URL")).to_have_value(f"tcp://127.0.0.2:{images.port}")
        page.get_by_label("Interval").fill("500ms")
        page.get_by_label("Tags").fill("images, phone")
        page.get_by_role("button", name="Save the changes").click()
        expect(page.get_by_role("heading", name="images-phone")).to_be_visible()
        spec = ronda.api("/api/v1/monitors/images-phone")["spec"]
        assert (spec["interval"], spec["tags"]) == (0.5, ["images", "phone"])
    finally:
        phone.close()


def test_the_incidents_page_is_live_and_never_loses_a_half_typed_update(ronda, context, shop, images):
    """A new incident appears in place; while an editor types an update, notices keep coming
    and the text stays as typed; once posted, it is on the timeline. The page never reloads."""
    page = context.new_page()
    log_in(page, ronda)
    shop.default = Reply(status=503, body=b"busy")
    page.goto(base(ronda) + "/incidents")
    expect(page.locator(".incident")).to_have_count(1, timeout=WAIT)
    page.evaluate("window.stayed = true")  # gone if the page reloads

    images.default = Reply(status=503, body=b"busy")  # a second incident: drawn in place
    expect(page.locator(".incident")).to_have_count(2, timeout=WAIT)
    shop_card = page.locator(".incident", has=page.get_by_role("link", name="shop", exact=True))
    expect(shop_card.locator("time[data-moment]").first).to_have_attribute("title", re.compile(r":\d\d:\d\d UTC$"))

    message = shop_card.get_by_label("Message")
    message.click()
    message.press_sequentially("We know; a fix is")
    images.default = Reply()  # a resolution arrives while the editor types
    wait_for("images resolved", lambda: any(i["status"] == "resolved" for i in ronda.api("/api/v1/incidents")))
    page.wait_for_timeout(2500)  # longer than live.js waits between redraws: one was due
    expect(page.locator(".incident .badge.resolved")).to_have_count(0)  # held while the editor types
    message.press_sequentially(" on its way.")
    assert message.input_value() == "We know; a fix is on its way.", "the half-typed update was disturbed"
    shoot(page, "incidents-typing")
    shop_card.get_by_label("Post an update").select_option("identified")
    shop_card.get_by_role("button", name="Post").click()
    expect(page.locator(".incident").first).to_contain_text("We know; a fix is on its way.")
    expect(page.get_by_role("link", name="Resolved (1)")).to_be_visible(timeout=WAIT)


def test_a_monitor_page_turns_red_and_green_in_place_and_charts_the_outage(ronda, context, browser, shop):
    """The monitor's page redraws its parts at its checks without reloading; its chart shows
    the outage shaded and the failed checks. Pictures at desktop and phone size."""
    page = context.new_page()
    log_in(page, ronda)
    page.goto(base(ronda) + "/monitors/shop?span=hour")
    now = page.locator("#now-h .badge")
    expect(now).to_have_text("up", timeout=WAIT)
    page.evaluate("window.stayed = true")  # gone if the page reloads

    shop.default = Reply(status=503, body=b"busy")
    expect(now).to_have_text("down", timeout=WAIT)
    expect(page.locator("#monitor-live")).to_contain_text("the server answered with an error (5xx)")
    chart = page.locator("#monitor-live svg.timechart")
    expect(chart.locator("rect.band.down")).to_have_count(1, timeout=WAIT)  # the incident, shaded as it goes on
    expect(chart.locator("line.failed")).not_to_have_count(0)
    assert page.evaluate("window.stayed === true"), "the page reloaded instead of updating in place"

    shop.default = Reply()
    expect(now).to_have_text("up", timeout=WAIT)
    assert page.evaluate("window.stayed === true")
    expect(page.get_by_role("link", name="Hour")).to_have_attribute("aria-current", "page")

    # The pictures are of pages that do not listen (no /live): at a check every 200 ms a
    # listening page is redrawn every 2 s, and a full-page picture may never find it still.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        for shown, name in ((context.new_page(), "monitor-page"), (phone.new_page(), "monitor-page-phone")):
            shown.route("**/live", lambda route: route.abort())
            if name.endswith("phone"):
                log_in(shown, ronda)
            shown.goto(base(ronda) + "/monitors/shop?span=hour")
            expect(shown.locator("#monitor-live svg.timechart rect.band.down")).to_have_count(1)
            width = "document.documentElement.scrollWidth <= window.innerWidth"
            assert shown.evaluate(width), "sideways scrolling"
            shoot(shown, name)
    finally:
        phone.close()


PAGES = {  # every page of the web face, by the name its screenshots carry
    "dashboard": "/",
    "dashboard-list": "/?layout=list",
    "monitor": "/monitors/shop",
    "certificates": "/certificates",
    "incidents": "/incidents",
    "agents": "/agents",
    "monitor-form": "/new-monitor",
    "account": "/account",
    "users": "/users",
    "status-page": "/status",
    "not-found": "/monitors/gone",
}


@pytest.mark.parametrize(
    ("size", "viewport"),
    [("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})],
)
def test_every_page_fits_a_desktop_and_a_phone_without_sideways_scrolling(ronda, browser, shop, size, viewport):
    """Each page during an outage, at both sizes: it loads, fits the width (a phone never
    scrolls sideways) and is kept as a screenshot (pages-<name>-<size>.png)."""
    phone = size == "phone"
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    try:
        context.route("**/live", lambda route: route.abort())  # still pages for the pictures
        page = context.new_page()
        log_in(page, ronda)
        shop.default = Reply(status=503, body=b"busy")
        wait_for("shop's incident", lambda: ronda.api("/api/v1/incidents?open=true"))
        for name, path in PAGES.items():
            answer = page.goto(base(ronda) + path)
            assert answer is not None and answer.status == (404 if name == "not-found" else 200), path
            expect(page.locator("main h1").first).to_be_visible()
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{path} scrolls sideways by {wide} px at {viewport['width']} px"
            shoot(page, f"pages-{name}-{size}")
    finally:
        context.close()


def test_no_page_breaks_the_content_security_policy(ronda, context, shop):
    """Every page works under the policy ronda sends: nothing it needs is inline script or
    from elsewhere, so Chromium reports no violation on any of them."""
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Security Policy" in message.text else None)
    log_in(page, ronda)
    for path in (
        "/",
        "/monitors/shop",
        "/certificates",
        "/incidents",
        "/account",
        "/new-monitor",
        "/agents",
        "/status",
        "/api/docs",
    ):
        page.goto(base(ronda) + path)  # until "load": deferred scripts and styles have run
    assert refused == []


def test_no_page_loads_anything_from_outside_ronda_and_the_api_docs_work_offline(ronda, context, shop):
    """Every request a page makes goes to ronda itself: no CDN, no font host, no validator.
    The interactive API docs come whole from ronda and list its routes."""
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(base(ronda)) else elsewhere.append(request.url))
    log_in(page, ronda)
    for path in ("/", "/monitors/shop", "/certificates", "/incidents", "/agents", "/status", "/status/feed.atom"):
        page.goto(base(ronda) + path, wait_until="networkidle")
    page.goto(base(ronda) + "/api/docs", wait_until="networkidle")
    expect(page.get_by_text("/api/v1/monitors", exact=True).first).to_be_visible(timeout=WAIT)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert elsewhere == [], "asked outside ronda"


def test_an_agent_added_on_the_agents_page_checks_and_shows_where_from(ronda, browser, tmp_path):
    """On a phone: the admin adds an agent, starts it with the token the page shows once, sees
    it live, sees a monitor from its region on the monitor's page, and revokes it."""
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    agent = None
    try:
        page = phone.new_page()
        log_in(page, ronda)
        page.goto(base(ronda) + "/agents")
        page.get_by_label("Name").fill("milan-1")
        page.get_by_label("Region").fill("eu-south")
        page.get_by_role("button", name="Add").click()
        token = page.locator("code.token").inner_text()
        assert token.startswith("ronda_agent_")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
        shoot(page, "agents-added-phone")
        agent = AgentRun(ronda, token, tmp_path / "agent")
        wait_for("milan-1 heard", lambda: page.goto(base(ronda) + "/agents") and page.locator("tr.agent-live").count())
        expect(page.locator("tr.agent-live")).to_contain_text("milan-1")
        page.goto(base(ronda) + "/monitors/shop")
        # No screenshot here: the monitor's page redraws its parts as checks arrive (every 200
        # ms in this config), so a full-page shot never finds it still.
        expect(page.get_by_role("table", name="From where")).to_contain_text("eu-south/milan-1", timeout=WAIT)
        page.goto(base(ronda) + "/agents")
        page.get_by_role("button", name="Revoke milan-1").click()
        expect(page.locator("tr.agent-revoked")).to_contain_text("milan-1")
    finally:
        if agent is not None:
            agent.stop()
        phone.close()


class AgentRun:
    """`ronda agent` for the hub under test, its output in a file."""

    def __init__(self, hub: RondaProcess, token: str, data: Path) -> None:
        data.mkdir(parents=True)
        with (data / "agent.log").open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ronda", "agent", "--hub", base(hub), "--token", token, "--data", str(data)],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)
