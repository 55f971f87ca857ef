"""The dashboard's announcements page: the status pages' posts to public channels that wait
for a person (`approve: true`), oldest first, each with its page, channel and words; an
editor edits the words and approves (it is sent now) or discards it. Below, each status
page's subscribers, confirmed and waiting, with the export for an admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ronda.rules.public_status import pages
from ronda.storage.outbox import NotADraft
from ronda.web.announcements_api import BODY_MAX, TITLE_MAX, approve_draft, place_of, post_json
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.pages import Pages
from ronda.web.public_posts import announce_channel

NOTICES = {
    "approved": "Approved: the post is on its way.",
    "discarded": "Discarded: the post will not be sent.",
    "gone": "That post was no longer a draft: someone approved or discarded it already.",
}


def subscriber_pages(ctx: WebContext) -> list[dict[str, Any]]:
    """Each status page that takes subscribers or posts to public channels (or still has
    subscribers), with its counts and channels."""
    counts = ctx.db.subscribers.counts()
    listed = []
    for page in pages(ctx.config):
        if page.subscribe is None and not page.announce and page.slug not in counts:
            continue
        channels = [
            place_of(ctx.config, announce_channel(page, n)).channel_name
            + (" (approved by a person)" if a.approve else "")
            for n, a in enumerate(page.announce)
        ]
        entry = counts.get(page.slug, {"confirmed": 0, "waiting": 0})
        listed.append({"slug": page.slug, "title": page.title, "channels": channels, **entry})
    known = {p["slug"] for p in listed}
    for slug, entry in sorted(counts.items()):
        if slug not in known:  # a page removed from the config: its subscribers stay until erased
            listed.append({"slug": slug, "title": None, "channels": [], **entry})
    return listed


def announcements_pages(ctx: WebContext, auth: Auth) -> APIRouter:
    router = APIRouter(tags=["pages"])
    pages_ = Pages(ctx)
    page = Depends(auth.page)
    editor_form = Depends(auth.form_as("editor"))

    @router.get(
        "/announcements",
        response_class=HTMLResponse,
        summary="Public posts awaiting approval, and the status pages' subscribers (login)",
    )
    def announcements(request: Request, user: Principal = page) -> HTMLResponse:
        drafts = [post_json(ctx.config, d) for d in ctx.db.outbox.drafts()]
        return pages_.render(
            request,
            "announcements.html",
            user,
            section="announcements",
            posts=drafts,
            subscriber_pages=subscriber_pages(ctx),
            notice=NOTICES.get(request.query_params.get("done", ""), ""),
            title_max=TITLE_MAX,
            body_max=BODY_MAX,
        )

    @router.post(
        "/announcements/{post_id}/approve",
        response_class=RedirectResponse,
        status_code=303,
        summary="Approve a draft with the words as edited on the page: it is sent now (editor, CSRF token)",
    )
    def approve_form(
        post_id: int,
        title: Annotated[str, Form(min_length=1, max_length=TITLE_MAX)],
        body: Annotated[str, Form(min_length=1, max_length=BODY_MAX)],
        _user: Principal = editor_form,
    ) -> RedirectResponse:
        try:
            approve_draft(ctx, post_id, title.strip() or None, body.replace("\r\n", "\n").strip() or None)
        except NotADraft:
            return RedirectResponse("/announcements?done=gone", status_code=303)
        return RedirectResponse("/announcements?done=approved", status_code=303)

    @router.post(
        "/announcements/{post_id}/discard",
        response_class=RedirectResponse,
        status_code=303,
        summary="Discard a draft: it is never sent (editor, CSRF token)",
    )
    def discard_form(post_id: int, _user: Principal = editor_form) -> RedirectResponse:
        try:
            ctx.db.outbox.discard(post_id)
        except NotADraft:
            return RedirectResponse("/announcements?done=gone", status_code=303)
        return RedirectResponse("/announcements?done=discarded", status_code=303)

    return router
