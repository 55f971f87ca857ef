"""Live updates for open pages: the service publishes each monitor's state as verdicts
arrive, and every browser subscribed through server-sent events hears it at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

# A page that stops reading (a sleeping laptop) must not make ronda hold its events
# forever: past this many waiting, the oldest are dropped; the page reloads state anyway.
QUEUE_LIMIT = 256


@dataclass
class LiveHub:
    """Fan-out of small JSON events to subscribers, all on the service's event loop."""

    subscribers: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers.discard(queue)

    def publish(self, event: dict[str, Any]) -> None:
        for queue in self.subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
