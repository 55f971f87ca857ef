"""A failing page as Chromium showed it: a JPEG of the viewport, taken before the page closes,
that travels with the verdict (base64, in `browser.screenshot`) to wherever it is stored.

It is the verdict's passenger, never its cost: it is bounded in bytes (a hub stores a few per
monitor, an agent sends it in a batch) and in time (it must leave the check's budget room to
close the page), and whatever goes wrong taking it, the verdict is as it would have been
without one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Page

MEDIA_TYPE = "image/jpeg"
QUALITIES = (60, 35)  # tried in turn until the image fits MAX_BYTES
MAX_BYTES = 300 * 1024
WITHIN = 5.0  # seconds one screenshot may take at most
RESERVE = 0.3  # seconds of the check's budget kept for closing the page, whatever the screenshot does
SHORTEST = 0.1  # seconds: with less left, no screenshot is tried


# `browser.screenshot` in docs/verdict.schema.json: as a check sends it, and as the hub stores it.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "The failing page as Chromium showed it (its viewport, a JPEG), taken when the check was not up. "
        "A check's verdict carries the image (`data`); a stored verdict carries the `id` the hub keeps it "
        "by (GET /api/v1/monitors/{name}/screenshot?id=ID) and no `data`; `ronda check --screenshot FILE` "
        "says where it wrote it (`file`)."
    ),
    "properties": {
        "type": {"const": MEDIA_TYPE},
        "bytes": {"type": "integer", "description": "The JPEG's size."},
        "quality": {"type": "integer", "description": "The JPEG quality it was taken at."},
        "data": {"type": "string", "contentEncoding": "base64", "contentMediaType": MEDIA_TYPE},
        "id": {"type": "integer", "description": "The stored screenshot's id at the hub."},
        "file": {"type": "string", "description": "Where `ronda check --screenshot` wrote it."},
        "error": {"type": "string", "description": "Why `ronda check --screenshot` could not write it."},
    },
    "required": ["type", "bytes"],
}


async def screenshot(page: Page, deadline: float) -> dict[str, Any] | None:
    """The page's viewport as `browser.screenshot` carries it ({"type", "bytes", "quality",
    "data"}), or None: no time left, the page gone (crashed), or no quality small enough."""
    for quality in QUALITIES:
        image = await _jpeg(page, quality, deadline)
        if image is None:
            return None
        if len(image) <= MAX_BYTES:
            return {
                "type": MEDIA_TYPE,
                "bytes": len(image),
                "quality": quality,
                "data": base64.b64encode(image).decode("ascii"),
            }
    return None


async def _jpeg(page: Page, quality: int, deadline: float) -> bytes | None:
    from playwright.async_api import Error as PlaywrightError

    left = min(deadline - RESERVE - time.monotonic(), WITHIN)
    if left < SHORTEST:
        return None
    # Playwright's own timeout, and asyncio's as a backstop: a renderer that hangs must not
    # hold the check past its budget.
    with contextlib.suppress(PlaywrightError, TimeoutError):
        async with asyncio.timeout(left):
            return await page.screenshot(type="jpeg", quality=quality, timeout=left * 1000)
    return None


def image_of(shot: dict[str, Any]) -> bytes | None:
    """The JPEG a verdict's `browser.screenshot` carries; None when it carries none (a stored
    verdict's holds only a reference) or the data is not base64."""
    data = shot.get("data")
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return None
