"""Subscribing to a status page (docs/subscribers.md): the form's post, the subscriber's own
page behind the link every message carries (confirm, choose components, unsubscribe), and
the one-click unsubscribe mail programs send (RFC 8058).

A stranger sends the form, so it is guarded like the report form: its double-submit token,
limits per client address and from everyone (in memory, before any database work), and a
limit per address subscribed (a stranger must not turn ronda into a mail bomb). Whatever
the address, the answer is the same "check your inbox": nobody learns who is subscribed.

Webhook addresses on loopback, private or link-local networks are refused unless the page
allows them (`private_webhooks`): names are resolved once here to see where they point.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ronda.config.schema import StatusPage
from ronda.rules.public_status import N_, find_page, members
from ronda.storage.subscribers import Subscriber
from ronda.web.auth import client_address
from ronda.web.clients import network_of
from ronda.web.context import WebContext
from ronda.web.formtokens import DoubleSubmit
from ronda.web.i18n import LOCALES, negotiate, templates_for, translations
from ronda.web.public_posts import confirmation, private_address
from ronda.web.ratelimit import SlidingWindowLimiter

MAX_BODY = 8192  # bytes: an address and a few components
PER_ADDRESS = 3  # confirmations one address gets at most ...
PER_ADDRESS_PERIOD = 3600.0  # ... within this long, whoever asks
EVERYONE = "*"
# An address as mail servers take it: one @, no spaces, a dotted domain. Deliverability is
# the confirmation's job, not a pattern's.
EMAIL = re.compile(r"^[^@\s,;<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z0-9-]{2,63}$")

TOO_MANY = N_("Too many subscriptions were asked for from your address or for this one: try again later.")
NOT_AN_EMAIL = N_("That is not an e-mail address.")
NOT_A_WEBHOOK = N_("A webhook is an http:// or https:// URL that our server can reach.")
PRIVATE_WEBHOOK = N_("That webhook points into a private network: this page does not post there.")
NO_SUCH_KIND = N_("This page does not offer that kind of subscription.")
EXPIRED_FORM = N_("This form has expired: reload the status page and send it again.")


@dataclass
class SubscribeLimits:
    """Counted in memory before any database work (ronda/web/ratelimit.py says why)."""

    per_source: SlidingWindowLimiter = field(default_factory=SlidingWindowLimiter)
    everyone: SlidingWindowLimiter = field(default_factory=lambda: SlidingWindowLimiter(window=60.0))
    per_address: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(PER_ADDRESS, PER_ADDRESS_PERIOD)
    )

    def admit(self, page: StatusPage, source: str) -> bool:
        settings = page.subscribe
        assert settings is not None
        self.per_source.limit, self.per_source.window = settings.per_source, settings.per_source_period
        self.everyone.limit = settings.global_per_minute
        if self.per_source.take(f"{page.slug}|{source}"):
            return False
        if self.everyone.take(EVERYONE):
            self.per_source.give_back(f"{page.slug}|{source}")
            return False
        return True


def subscriptions_router(ctx: WebContext, tokens: DoubleSubmit) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    limits = SubscribeLimits()

    def page_of(slug: str) -> StatusPage | None:
        page = find_page(ctx.config, slug)
        return page if page is not None and page.subscribe is not None else None

    def components_of(page: StatusPage) -> list[tuple[str, str]]:
        stored = [monitor.name for monitor in ctx.config.monitors]
        return [(name, page.display_name(name)) for name in members(page, ctx.config, stored)]

    def shown(request: Request, page: StatusPage, state: str, locale: str, status: int = 200, **more: Any) -> Response:
        # Components only where a subscriber chooses them: a flood's refusal lists none.
        chosen = components_of(page) if "subscriber" in more else []
        context = {"lang": locale, "page": page, "state": state, "components": chosen, **more}
        response = templates_for(locale).TemplateResponse(
            request, "status_subscription.html", context, status_code=status
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"  # the link's token must not leak onwards
        return response

    @router.post("/status/{slug}/subscribe")
    async def subscribe(request: Request, slug: str) -> Response:
        page = page_of(slug)
        if page is None:
            return PlainTextResponse("This page takes no subscriptions.\n", 404)
        raw = await request.body()
        fields = parse_qs(raw.decode("utf-8", "replace")) if len(raw) <= MAX_BODY else {}
        locale = negotiate(request.headers.get("accept-language", ""), _first(fields, "lang"))
        _ = translations(locale).gettext
        if not limits.admit(page, network_of(client_address(request))):
            return shown(request, page, "refused", locale, 429, reason=_(TOO_MANY))
        if not tokens.check(request, _first(fields, "form_token")):
            return shown(request, page, "refused", locale, 403, reason=_(EXPIRED_FORM))
        kind, address = _first(fields, "kind") or "email", stored_address(_first(fields, "address") or "")
        problem = await run_in_threadpool(_refusal, page, kind, address)  # a webhook's name is resolved
        if problem is not None:
            return shown(request, page, "refused", locale, 422, reason=_(problem))
        if limits.per_address.take(f"{page.slug}|{address.lower()}"):
            return shown(request, page, "asked", locale)  # said the same: nobody learns more
        chosen = _components(fields.get("components", []), [name for name, _shown in components_of(page)])
        assert page.subscribe is not None
        now = ctx.clock()
        base = ctx.config.server.base_url

        def compose(subscriber: Subscriber, already: bool) -> tuple[str, str, str, str]:
            message = confirmation(page, subscriber, already, base)
            source = f"subscribe:{subscriber.id}:{now.isoformat()}"
            return source, message.title, message.body, message.kind

        await run_in_threadpool(
            ctx.db.subscribers.ask,
            page.slug,
            kind,
            address,
            chosen,
            locale,
            now,
            timedelta(seconds=page.subscribe.confirm_within),
            compose,
            timedelta(seconds=ctx.config.notify_deadline),
        )
        ctx.notify()
        return shown(request, page, "asked", locale)

    @router.get("/status/{slug}/subscription/{token}", response_class=HTMLResponse)
    async def manage(request: Request, slug: str, token: str, lang: str | None = None) -> Response:
        page, subscriber = page_of(slug), await run_in_threadpool(ctx.db.subscribers.by_token, token)
        if page is None:
            return PlainTextResponse("This page takes no subscriptions.\n", 404)
        if subscriber is None or subscriber.page != page.slug:
            return shown(request, page, "gone", _locale(request, lang), 404)
        return shown(request, page, "manage", _locale(request, lang, subscriber), subscriber=subscriber)

    @router.post("/status/{slug}/subscription/{token}", response_class=HTMLResponse)
    async def act(request: Request, slug: str, token: str) -> Response:
        page, subscriber = page_of(slug), await run_in_threadpool(ctx.db.subscribers.by_token, token)
        if page is None:
            return PlainTextResponse("This page takes no subscriptions.\n", 404)
        if subscriber is None or subscriber.page != page.slug:
            return shown(request, page, "gone", _locale(request, None), 404)
        locale = _locale(request, None, subscriber)
        fields = parse_qs((await request.body())[:MAX_BODY].decode("utf-8", "replace"))
        action = _first(fields, "action")
        if action == "unsubscribe":
            await run_in_threadpool(ctx.db.subscribers.unsubscribe, token)
            return shown(request, page, "unsubscribed", locale)
        if action == "confirm":
            confirmed = await run_in_threadpool(ctx.db.subscribers.confirm, token, ctx.clock())
            return shown(request, page, "confirmed", locale, subscriber=confirmed or subscriber)
        if action == "save":
            names = [name for name, _shown in components_of(page)]
            chosen = _components(fields.get("components", []), names)
            saved = await run_in_threadpool(ctx.db.subscribers.choose, token, chosen)
            return shown(request, page, "saved", locale, subscriber=saved or subscriber)
        return shown(request, page, "manage", locale, 422, subscriber=subscriber)

    @router.post("/status/{slug}/subscription/{token}/unsubscribe")
    async def one_click(slug: str, token: str) -> Response:
        """RFC 8058: a mail program's one-click unsubscribe (List-Unsubscribe-Post)."""
        subscriber = await run_in_threadpool(ctx.db.subscribers.by_token, token)
        if subscriber is None or subscriber.page != slug:
            return PlainTextResponse("No such subscription.\n", 404)
        await run_in_threadpool(ctx.db.subscribers.unsubscribe, token)
        return PlainTextResponse("Unsubscribed.\n")

    return router


def stored_address(typed: str) -> str:
    """An address as it is kept and looked up: an e-mail address in lower case (mail servers
    treat Ada@ and ada@ as one mailbox), a webhook's URL as written."""
    typed = typed.strip()
    return typed if "://" in typed else typed.lower()


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _locale(request: Request, lang: str | None, subscriber: Subscriber | None = None) -> str:
    if lang in LOCALES:
        return str(lang)
    if subscriber is not None and subscriber.language in LOCALES:
        return subscriber.language
    return negotiate(request.headers.get("accept-language", ""))


def _components(chosen: list[str], offered: list[str]) -> list[str] | None:
    """The chosen components the page offers; None (all) when none is chosen."""
    kept = [name for name in offered if name in set(chosen)]
    return kept or None


def _refusal(page: StatusPage, kind: str, address: str) -> str | None:
    """Why the address cannot be subscribed, or None."""
    settings = page.subscribe
    assert settings is not None
    if kind == "email" and settings.email is not None:
        return None if EMAIL.match(address) and len(address) <= 254 else NOT_AN_EMAIL
    if kind == "webhook" and settings.webhooks:
        return _webhook_refusal(address, settings.private_webhooks)
    return NO_SUCH_KIND


def _webhook_refusal(address: str, private_allowed: bool) -> str | None:
    try:
        parts = urlsplit(address)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return NOT_A_WEBHOOK
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return NOT_A_WEBHOOK
    if private_allowed:
        return None
    if private_address(host):
        return PRIVATE_WEBHOOK
    try:  # a name: where it points now (Apprise resolves it again when it posts)
        found = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return NOT_A_WEBHOOK
    if any(private_address(str(entry[4][0])) for entry in found):
        return PRIVATE_WEBHOOK
    return None
