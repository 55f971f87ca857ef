"""Status pages' subscribers for the operator (docs/subscribers.md): the export of who is
subscribed, and erasing a subscriber, or every subscription of an address (a person's
request to be forgotten), with what was still to be sent to them. Admin only: it is a list
of people's addresses. The tokens of their links are never shown."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query

from ronda.storage.subscribers import Subscriber
from ronda.verdict import iso
from ronda.web import examples
from ronda.web.auth import Auth
from ronda.web.context import WebContext
from ronda.web.subscriptions import stored_address

SUBSCRIBER_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "page": "public",
    "kind": "email",
    "address": "ada@example.org",
    "components": ["shop", "api"],
    "language": "en",
    "created_at": "2026-11-23T17:59:30Z",
    "confirmed_at": "2026-11-23T18:03:12Z",
}


def subscriber_json(subscriber: Subscriber) -> dict[str, Any]:
    """A subscriber as the export shows it: never their token (it opens their links)."""
    return {
        "id": subscriber.id,
        "page": subscriber.page,
        "kind": subscriber.kind,
        "address": subscriber.address,
        "components": list(subscriber.components) if subscriber.components is not None else None,
        "language": subscriber.language,
        "created_at": iso(subscriber.created_at),
        "confirmed_at": iso(subscriber.confirmed_at) if subscriber.confirmed_at else None,
    }


def subscribers_router(ctx: WebContext, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["subscribers"], responses=examples.NO_TOKEN)
    admin = Depends(auth.api_as("admin"))
    erased = examples.answer({"deleted": 2}, 200, "How many subscriptions were deleted")

    @api.get(
        "/subscribers",
        summary="Export the status pages' subscribers (of one page with `page`), oldest first (admin)",
        responses=examples.answer([SUBSCRIBER_EXAMPLE]),
    )
    def subscribers(
        page: str | None = Query(None, max_length=64, description="a status page's slug"), _: Any = admin
    ) -> list[dict[str, Any]]:
        return [subscriber_json(s) for s in ctx.db.subscribers.listing(page)]

    @api.delete(
        "/subscribers/{subscriber_id}",
        summary="Erase a subscriber, and what was still to be sent to them (admin)",
        responses=examples.answer({"deleted": 1}, 200, "How many subscriptions were deleted")
        | examples.refusal(404, "No such subscriber", "no subscriber 7"),
    )
    def erase_one(subscriber_id: int, _: Any = admin) -> dict[str, int]:
        deleted = ctx.db.subscribers.erase(subscriber_id=subscriber_id)
        if not deleted:
            raise HTTPException(404, detail=f"no subscriber {subscriber_id}")
        return {"deleted": deleted}

    @api.delete(
        "/subscribers",
        summary="Erase every subscription of an address, on every page, and what was still to be sent to it (admin)",
        responses=erased,
    )
    def erase_address(
        address: str = Query(
            min_length=1, max_length=512, description="an e-mail address (any case) or a webhook's URL, exactly"
        ),
        _: Any = admin,
    ) -> dict[str, int]:
        return {"deleted": ctx.db.subscribers.erase(address=stored_address(address))}

    return api
