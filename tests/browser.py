"""Debian's Chromium driven by Playwright, for the tests that look at pages as a person
does. Screenshots go to $RONDA_SCREENSHOTS (scripts/test sets it and prints where)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Chromium's own traffic (updates, sync, field trials) must not leave the machine, and as
# root it needs --no-sandbox.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]


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
