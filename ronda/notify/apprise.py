"""Notifications through Apprise: every channel it knows, chosen by URL."""

from __future__ import annotations

import asyncio
import logging

import apprise

from ronda.notify.messages import Message

log = logging.getLogger("ronda.notify")


class AppriseNotifier:
    def __init__(self, urls: list[str]) -> None:
        self._apprise = apprise.Apprise()
        for url in urls:
            if not self._apprise.add(url):
                raise ValueError(f"not an Apprise URL ronda can use: {url}")

    @property
    def enabled(self) -> bool:
        return len(self._apprise) > 0

    async def send(self, message: Message) -> bool:
        if not self.enabled:
            return True
        # Apprise's notify blocks on network I/O; keep it off the event loop.
        ok = await asyncio.to_thread(
            self._apprise.notify, title=message.title, body=message.body, notify_type=message.kind
        )
        if not ok:
            log.warning("a notification could not be delivered: %s", message.title)
        return bool(ok)
