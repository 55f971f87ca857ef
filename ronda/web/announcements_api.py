"""A status page's public posts as people decide them (docs/subscribers.md): the posts of
its public channels (`announce:`), and the drafts of those whose posts a person approves;
`/api/v1/announcements` lists them, approves a draft (with edits) or discards it.

A channel is shown by the name the config gives it, else by its URL's scheme and host:
never its URL, which holds the channel's secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from ronda.config.channel_urls import shown
from ronda.config.schema import Config
from ronda.rules.public_status import pages
from ronda.storage.outbox import Draft, NotADraft
from ronda.verdict import iso
from ronda.web import examples
from ronda.web.auth import Auth
from ronda.web.context import WebContext
from ronda.web.public_posts import ANNOUNCE_PREFIX

TITLE_MAX = 1000
BODY_MAX = 20_000
GONE = "(no longer in the config)"

POST_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "page": "public",
    "page_title": "Example services",
    "channel": "announce:public:0",
    "channel_name": "town-square",
    "source": "public:incident:7:opened",
    "title": "[Example services] Investigating: Shop is down",
    "body": "We noticed a problem and are looking into it.\n\nhttps://status.example/status/public#incident-7",
    "kind": "failure",
    "status": "draft",
    "created_at": "2026-11-23T17:59:30Z",
    "sent_at": "2026-11-23T18:02:06Z",
    "last_error": "connection refused by the webhook",
}


class Edited(BaseModel):
    """What a person changed in a draft before approving it; what is left out stays as written."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    body: str | None = Field(default=None, min_length=1, max_length=BODY_MAX)


@dataclass(frozen=True)
class Place:
    """Where a public post goes, as people may see it."""

    page: str  # the status page's slug
    page_title: str
    channel_name: str  # the Announce's name, else its URL's scheme and host


def place_of(config: Config, channel: str) -> Place:
    """The page and public channel an outbox row's `announce:<page>:<n>` stands for."""
    slug, _, index = channel.removeprefix(ANNOUNCE_PREFIX).rpartition(":")
    page = next((p for p in pages(config) if p.slug == slug), None)
    if page is None:
        return Place(slug, GONE, GONE)
    if not index.isdigit() or int(index) >= len(page.announce):
        return Place(slug, page.title, GONE)
    announce = page.announce[int(index)]
    return Place(slug, page.title, announce.name or shown(announce.url))


def post_json(config: Config, post: Draft) -> dict[str, Any]:
    place = place_of(config, post.channel)
    return {
        "id": post.id,
        "page": place.page,
        "page_title": place.page_title,
        "channel": post.channel,
        "channel_name": place.channel_name,
        "source": post.source,
        "title": post.title,
        "body": post.body,
        "kind": post.kind,
        "status": post.status,
        "created_at": iso(post.created_at),
        "sent_at": iso(post.sent_at) if post.sent_at else None,
        "last_error": post.last_error,
    }


def approve_draft(ctx: WebContext, row_id: int, title: str | None, body: str | None) -> Draft:
    """Approve a draft (NotADraft unless it still is one) and have the sender deliver it now."""
    deadline = timedelta(seconds=ctx.config.notify_deadline)
    approved = ctx.db.outbox.approve(row_id, title, body, ctx.clock(), deadline)
    ctx.notify()
    return approved


def refused(exc: NotADraft) -> HTTPException:
    return HTTPException(404 if exc.status is None else 409, detail=str(exc))


EDIT_EXAMPLES: dict[str, Any] = {
    "edited": {
        "summary": "Approved with the words changed",
        "value": {"title": "Shop: payments fail", "body": "Card payments fail; we are on it."},
    },
    "as written": {"summary": "Approved as written", "value": {}},
}

NOT_A_DRAFT = examples.refusal(404, "No such post", "no post 42") | examples.refusal(
    409, "Already approved or discarded", "post 42 is no longer a draft (it is pending)"
)


def announcements_router(ctx: WebContext, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["announcements"], responses=examples.NO_TOKEN)
    viewer = Depends(auth.api_as("viewer"))
    # Approving sends words to the public on a person's word: an editor's decision, like an update.
    editor = Depends(auth.api_as("editor"))

    @api.get(
        "/announcements",
        summary="Status pages' posts to their public channels: drafts awaiting approval oldest first, "
        "the others (pending, sent, failed, discarded) newest first (viewer)",
        responses=examples.answer([POST_EXAMPLE]),
    )
    def announcements(
        status: Literal["draft", "pending", "sent", "failed", "discarded"] | None = None,
        limit: int = Query(200, ge=1, le=1000),
        _: Any = viewer,
    ) -> list[dict[str, Any]]:
        return [post_json(ctx.config, post) for post in ctx.db.outbox.posts(ANNOUNCE_PREFIX, status, limit)]

    @api.post(
        "/announcements/{post_id}/approve",
        summary="Approve a draft, with an edited title or body if given: it is sent now (editor)",
        responses=examples.answer(POST_EXAMPLE | {"status": "pending"}, 200, "The post, pending") | NOT_A_DRAFT,
    )
    def approve(
        post_id: int,
        edited: Annotated[Edited | None, Body(openapi_examples=EDIT_EXAMPLES)] = None,
        _: Any = editor,
    ) -> dict[str, Any]:
        edits = edited or Edited()
        try:
            return post_json(ctx.config, approve_draft(ctx, post_id, edits.title, edits.body))
        except NotADraft as exc:
            raise refused(exc) from None

    @api.post(
        "/announcements/{post_id}/discard",
        summary="Discard a draft: it is never sent (editor)",
        responses=examples.answer(POST_EXAMPLE | {"status": "discarded"}, 200, "The post, discarded") | NOT_A_DRAFT,
    )
    def discard(post_id: int, _: Any = editor) -> dict[str, Any]:
        try:
            return post_json(ctx.config, ctx.db.outbox.discard(post_id))
        except NotADraft as exc:
            raise refused(exc) from None

    return api
