"""The demo's nightly backup: a job that calls its push monitor's URL every "night" (an
eighth of the demo's cycle), says when it starts and when it is done, and hangs for a while
in each cycle, so its heartbeat goes missing (heartbeat_missed) and comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ronda.demo.visitor import post

# When in each cycle the job runs: eight "nights". Its incident reopens each round, so it is
# flapping, and a flapping incident resolves after 5 good checks in a row (flap_calm): with
# fewer runs between two hangs it would never resolve within the demo.
RUNS = tuple(0.05 + k / 8 for k in range(8))


class NightlyJob:
    """Runs at fixed points of each cycle (`RUNS`), so the demo's timeline can make one run
    hang whatever the cycle's length: the push monitor's period is an eighth of the cycle."""

    def __init__(self, listen: str, token: str, cycle: float, hung: Callable[[], bool]) -> None:
        self.host, _, port = listen.rpartition(":")
        self.port = int(port)
        self.token = token
        self.cycle = cycle
        self.hung = hung  # the timeline says when the job hangs
        self.runs = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        started, run = loop.time(), 0
        while True:
            cycle, which = divmod(run, len(RUNS))
            await asyncio.sleep(max(0.0, started + (cycle + RUNS[which]) * self.cycle - loop.time()))
            if not self.hung():
                await self._once()
            run += 1

    async def _once(self) -> None:
        await post(self.host, self.port, f"/push/{self.token}/start", b"")
        await asyncio.sleep(self.cycle / 60)  # the backup itself
        await post(self.host, self.port, f"/push/{self.token}", b"")
        self.runs += 1
