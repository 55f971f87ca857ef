"""The scheduler: slots on a fixed grid, skipped rather than piled up, and a hostile
target that costs only its own checks."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from ronda.service.incidents import Policy
from ronda.service.scheduler import Job, Scheduler, next_due
from ronda.target import CheckOptions, parse_target
from ronda.world.web import Reply


@pytest.mark.parametrize(
    ("due", "interval", "now", "expected"),
    [
        (100.0, 10.0, 100.5, (110.0, 0)),
        (100.0, 10.0, 109.999, (110.0, 0)),
        (100.0, 10.0, 110.0, (110.0, 0)),
        (100.0, 10.0, 115.0, (120.0, 1)),
        (100.0, 10.0, 141.0, (150.0, 4)),
        (100.0, 0.5, 100.2, (100.5, 0)),
    ],
    ids=[
        "a quick check waits for the next slot",
        "a check ending just before the slot still meets it",
        "a check ending on the slot runs it at once",
        "an overrun skips the slot it missed",
        "a long overrun skips every missed slot and stays on the grid",
        "sub-second intervals keep their grid",
    ],
)
def test_the_next_slot_stays_on_the_grid(due, interval, now, expected):
    assert next_due(due, interval, now) == pytest.approx(expected)


def test_a_hanging_target_does_not_delay_the_others(web):
    fast = web()
    hanging = web()
    hanging.default = Reply(mode="hang")
    jobs = [
        Job("fast", parse_target(fast.url()), CheckOptions(timeout=1.0), interval=0.1, policy=Policy(confirm=1)),
        Job("hang", parse_target(hanging.url()), CheckOptions(timeout=1.0), interval=0.1, policy=Policy(confirm=1)),
    ]
    seen: Counter[str] = Counter()
    causes: dict[str, str | None] = {}

    async def on_verdict(job: Job, verdict) -> None:
        seen[job.name] += 1
        causes[job.name] = verdict.cause

    async def run_for(seconds: float) -> Scheduler:
        scheduler = Scheduler(jobs, on_verdict, concurrency=4)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return scheduler

    scheduler = asyncio.run(run_for(2.5))
    # The hanging target costs its own 1 s budget per check; the fast one keeps its pace.
    assert causes["hang"] == "http_timeout"
    assert seen["hang"] <= 3
    assert seen["fast"] >= 8, seen
    assert causes["fast"] is None
    assert scheduler.slots_skipped >= 1, "the hanging monitor skips the slots it overran"
