"""Failing browser checks' screenshots over HTTP: the monitor's page shows one as an <img>
from its own origin (the content-security policy allows images from 'self' only), and the
API hands them to scripts. Both behind a login."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Response

from ronda.probes.screenshot import MEDIA_TYPE
from ronda.web.context import WebContext

# Private: behind a login. A kept screenshot never changes (one no longer kept is a 404).
CACHING = "private, max-age=86400"
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {MEDIA_TYPE: {}}, "description": "A JPEG"}}


def screenshot_answer(ctx: WebContext, name: str, shot_id: int | None) -> Response:
    """The JPEG of the monitor's screenshot `shot_id` (None: its newest), or 404."""
    image = ctx.db.screenshots.image(name, shot_id)
    if image is None:
        which = "" if shot_id is None else f" numbered {shot_id}"
        raise HTTPException(404, detail=f"no screenshot{which} of {name!r} is kept")
    return Response(image, media_type=MEDIA_TYPE, headers={"Cache-Control": CACHING})
