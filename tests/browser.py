"""Debian's Chromium driven by Playwright, for the tests that look at pages as a person
does. Screenshots go to $RONDA_SCREENSHOTS (scripts/test sets it and prints where)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ronda.probes.browsers import CHROMIUM, QUIET_FLAGS

FLAGS = list(QUIET_FLAGS)  # the same quiet Chromium the browser check starts


def screenshots() -> Path:
    folder = Path(os.environ.get("RONDA_SCREENSHOTS", "build/screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page: Page, name: str) -> Path:
    path = screenshots() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Per module, not per session: Playwright's sync API keeps an event loop running in the
# test thread while it is open, and the tests after these call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()
