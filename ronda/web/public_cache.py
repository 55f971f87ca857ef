"""What strangers are shown, kept rather than made per request: each status page's view,
its HTML, feed, summary and badges are made in a worker thread when what they show may
have changed, and every request in between is answered with the same bytes.

A page is made again once a change was heard (`Changes`: a status or cause moved, an
incident or surge changed, a person posted, the config was reloaded) and it is at least
`REFRESH` old, and at the latest every `MAX_AGE` (uptime bars, maintenance starting). One
making per page at a time: a thousand requests for a stale page wait for the same one.
Before this, a flood of requests for one badge made the scheduler skip checks: each request
rendered afresh, and every render took the GIL from the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Generic, TypeVar

import anyio.to_thread
from fastapi import Request, Response

from ronda.rules.public_status import find_page, pages
from ronda.web.context import WebContext
from ronda.web.status_view import Component, View, gather

T = TypeVar("T")

REFRESH = timedelta(seconds=5)  # a change shows within this (plus one making)
MAX_AGE = timedelta(seconds=60)  # made again this often even when nothing was heard
CACHE_CONTROL = "public, max-age=5"  # as fresh as REFRESH: caches in front may keep it as long


@dataclass(frozen=True)
class Made(Generic[T]):
    value: T
    at: datetime  # when its making started (the service's clock)
    generation: int  # `Changes.generation` when its making started
    config: object  # the config it was made with (reloads replace the object)
    source: Hashable  # for what is made from something kept: that thing's serial
    serial: int  # tells one making from the next


@dataclass(frozen=True)
class Body:
    """An answer's bytes with their entity tag."""

    content: bytes
    media_type: str
    etag: str  # quoted, as the header carries it

    @classmethod
    def of(cls, content: bytes, media_type: str) -> Body:
        return cls(content, media_type, f'"{digest(content)}"')


def digest(content: bytes) -> str:
    return hashlib.blake2b(content, digest_size=12).hexdigest()


class Kept:
    """Values made by a plain function in a worker thread, kept while fresh, one making per
    key at a time. Whatever the event loop runs meanwhile (checks) waits for nothing."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self._made: dict[Hashable, Made[Any]] = {}
        self._making: dict[Hashable, tuple[asyncio.AbstractEventLoop, asyncio.Task[Made[Any]]]] = {}
        self._serials = itertools.count(1)

    async def get(
        self, key: Hashable, make: Callable[[], T], source: Hashable = None, max_age: timedelta | None = None
    ) -> Made[T]:
        """`key`'s value, made again when stale. With `source` (the serial of what it is made
        from), it is stale exactly when that changed; with `max_age`, once that old or the
        config changed; otherwise as `fresh` says."""
        made = self._made.get(key)
        if made is not None and self._keeps(made, source, max_age):
            return made
        loop = asyncio.get_running_loop()
        making = self._making.get(key)
        # A making started on another loop (each of a test's requests runs its own) is not awaited.
        if making is None or making[0] is not loop or making[1].done():
            making = self._making[key] = (loop, loop.create_task(self._make(key, make, source)))
        # Shielded: a visitor who hangs up does not cancel the making the others wait for.
        return await asyncio.shield(making[1])

    def peek(self, key: Hashable) -> Made[Any] | None:
        return self._made.get(key)

    def forget(self, key: Hashable) -> None:
        self._made.pop(key, None)

    def _keeps(self, made: Made[Any], source: Hashable, max_age: timedelta | None) -> bool:
        if source is not None:
            return made.source == source
        if max_age is not None:
            # A new config (a monitor added or deleted, a reload) is seen at once: whoever
            # just deleted a monitor must not find it still on the board.
            young = timedelta(0) <= self.ctx.clock() - made.at < max_age
            return young and made.config is self.ctx.config
        return self.fresh(made)

    def fresh(self, made: Made[Any]) -> bool:
        age = self.ctx.clock() - made.at
        if age < timedelta(0):
            return False  # the clock went back: do not keep a page "from the future" for hours
        if age < REFRESH:
            return True
        unchanged = made.generation == self.ctx.live.changes.generation and made.config is self.ctx.config
        return unchanged and age < MAX_AGE

    async def _make(self, key: Hashable, make: Callable[[], T], source: Hashable) -> Made[T]:
        # Read before making: a change heard while it is made leaves it stale.
        generation, config, at = self.ctx.live.changes.generation, self.ctx.config, self.ctx.clock()
        try:
            value = await anyio.to_thread.run_sync(make)
        finally:
            self._making.pop(key, None)
        made = Made(value, at, generation, config, source, next(self._serials))
        self._made[key] = made
        return made


class PublicViews:
    """Each status page's View, kept; and every public monitor's component, from them."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.kept = Kept(ctx)
        # The components of the views with these serials: made again only when a view is, not
        # per badge asked for (every component of every page, on the loop, per request).
        self._components: tuple[Hashable, dict[str, Component]] | None = None

    async def view(self, slug: str | None) -> Made[View] | None:
        page = find_page(self.ctx.config, slug)
        if page is None:
            return None
        key = ("view", page.slug)
        kept = self.kept.peek(key)
        turns_at = None if kept is None else kept.value.turns_at
        if turns_at is not None and turns_at <= self.ctx.clock():
            self.kept.forget(key)  # a maintenance window started or ended since it was made
        return await self.kept.get(key, lambda: gather(self.ctx, page, self.ctx.clock()))

    async def components(self) -> tuple[dict[str, Component], Hashable]:
        """Every monitor some page shows, by name, and the serials of the views they are
        from (what is made from them is made again when one of those changes)."""
        views = []
        for page in pages(self.ctx.config):
            made = await self.view(page.slug)
            if made is not None:
                views.append(made)
        serials = tuple(made.serial for made in views)
        if self._components is None or self._components[0] != serials:
            found: dict[str, Component] = {}
            for made in views:
                for component in made.value.components:
                    found.setdefault(component.name, component)
            self._components = (serials, found)
        return self._components[1], serials


def answer(
    request: Request,
    body: Body,
    made_at: datetime,
    headers: dict[str, str] | None = None,
    status_code: int = 200,
    cache_control: str = CACHE_CONTROL,
) -> Response:
    """The kept bytes, or 304 when the client already holds them (If-None-Match)."""
    sent = {
        "ETag": body.etag,
        "Last-Modified": format_datetime(made_at.astimezone(UTC), usegmt=True),
        "Cache-Control": cache_control,
    }
    sent |= headers or {}
    if status_code == 200 and matches(request.headers.get("if-none-match"), body.etag):
        return Response(status_code=304, headers=sent)
    return Response(body.content, status_code=status_code, media_type=body.media_type, headers=sent)


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison: any listed tag, with or without W/, or `*`."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
