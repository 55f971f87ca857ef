"""Live updates for open pages: the service publishes each monitor's state as verdicts
arrive, and every browser subscribed through server-sent events hears it at once."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

# A page that stops reading (a sleeping laptop) must not make ronda hold its events
# forever: past this many waiting, the oldest are dropped; the page reloads state anyway.
QUEUE_LIMIT = 256


class Changes:
    """A number that moves whenever what the public pages show may have changed: a verdict
    that changes a monitor's status or cause, any notice (an incident opened, updated or
    resolved, a surge of reports), a person's update. Pages kept for strangers
    (ronda/web/public_cache.py) are made again once it moves, not at every request."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)  # next() is atomic: routes in worker threads bump too
        self.generation = 0
        self._heard: dict[str, tuple[object, object]] = {}  # each monitor's latest status and cause
        self._states: dict[tuple[object, object], tuple[object, object]] = {}

    def bump(self) -> None:
        self.generation = next(self._counter)

    def heard(self, event: dict[str, Any]) -> None:
        if event.get("kind") == "verdict":
            state = (event.get("status"), event.get("cause"))
            if self._heard.get(str(event.get("monitor"))) == state:
                return  # the same answer again: nothing a page shows moved but times and bars
            # One tuple for each distinct state, not one per monitor (100,000 monitors: 5.6 MB).
            self._heard[str(event.get("monitor"))] = self._states.setdefault(state, state)
        self.bump()


@dataclass
class LiveHub:
    """Fan-out of small JSON events to subscribers, all on the service's event loop."""

    subscribers: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)
    changes: Changes = field(default_factory=Changes)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers.discard(queue)

    def publish(self, event: dict[str, Any]) -> None:
        self.changes.heard(event)
        for queue in self.subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
