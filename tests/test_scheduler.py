"""The scheduler: slots on a fixed grid, skipped rather than piled up, and a hostile
target that costs only its own checks."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from ronda.rules.incidents import Policy
from ronda.service.scheduler import Changes, Job, Scheduler, next_due
from ronda.target import CheckOptions, parse_target
from ronda.verdict import Verdict
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


def test_monitors_of_one_interval_fall_due_across_the_whole_interval(web):
    """The first checks come within the first few seconds; the grid after them is spread
    over the interval, so the second check of many monitors comes anywhere from at once to
    a whole interval later, not all an interval after the first (all due together)."""
    server = web()
    interval = 6.0
    jobs = [
        Job(f"m{i}", parse_target(server.url()), CheckOptions(timeout=2.0), interval, Policy(confirm=1))
        for i in range(40)
    ]
    checked: dict[str, list[float]] = {}

    async def on_verdict(job: Job, verdict) -> None:
        checked.setdefault(job.name, []).append(asyncio.get_running_loop().time())

    async def run_for(seconds: float) -> None:
        scheduler = Scheduler(jobs, on_verdict, rng=random.Random(7))
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run_for(interval + 4.0))
    gaps = [times[1] - times[0] for times in checked.values() if len(times) >= 2]
    assert len(gaps) >= 20, checked
    # A late first check only shortens its gap: the grid does not move with it.
    assert sum(gap < interval / 2 for gap in gaps) >= len(gaps) // 4, sorted(gaps)


class _RecordingJitter(random.Random):
    """Every draw at its lowest (first checks at once), each draw's upper bound kept."""

    def __init__(self) -> None:
        super().__init__(0)
        self.bounds: list[float] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append(b)
        return a


@pytest.mark.parametrize(("monitors", "first_within"), [(3, 3.0), (3_000, 6.0), (20_000, 30.0)])
def test_many_monitors_starting_at_once_spread_their_first_checks(monitors, first_within):
    """A few monitors are first checked within 3 s; many at once (ronda's start at 100,000)
    at most FIRST_PER_SECOND a second, up to one interval, not all in the same 3 s."""
    interval = 30.0
    jobs = [_job(f"m{i}", "tcp://127.0.0.1:1", interval) for i in range(monitors)]
    jitter = _RecordingJitter()

    async def nothing(job: Job, verdict: Verdict) -> None:
        pass

    async def start_and_stop() -> None:
        scheduler = Scheduler([], nothing, rng=jitter)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0)
        await scheduler.replace(jobs)  # as the probe worker gets its monitors
        while len(jitter.bounds) < 2 * monitors:  # each loop draws its first check and its grid
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(start_and_stop())
    first, grid = jitter.bounds[0::2], jitter.bounds[1::2]
    assert set(first) == {first_within} and set(grid) == {interval}


def test_a_recheck_is_not_counted_late_by_its_own_wait(web):
    """The lag histogram (/metrics) counts how late each check started against its due time;
    a re-check is due `recheck` after the check that started it, not at that check's slot."""
    broken = web()
    broken.default = Reply(status=503)
    job = Job("broken", parse_target(broken.url()), CheckOptions(timeout=1.0), 60.0, Policy(confirm=3), recheck=1.0)
    seen: list[Verdict] = []

    async def on_verdict(job: Job, verdict: Verdict) -> None:
        seen.append(verdict)

    scheduler = Scheduler([job], on_verdict, rng=_NoJitter())

    async def body() -> None:
        await _until("the first check and two re-checks", lambda: len(seen) >= 3)

    _running(scheduler, body)
    assert [v.cause for v in seen[:3]] == ["http_server_error"] * 3
    # Each re-check waited a whole second after its check; counted from the slot, all but
    # the first would be a second late or more.
    within_half_a_second = dict(scheduler.lag.cumulative())[0.5]
    assert scheduler.lag.count >= 3
    assert within_half_a_second == scheduler.lag.count


class _NoJitter(random.Random):
    """First checks at once, so a loop that starts over shows itself by checking again."""

    def uniform(self, a: float, b: float) -> float:
        return a


def _job(name: str, url: str, interval: float = 0.1, **policy: object) -> Job:
    return Job(name, parse_target(url), CheckOptions(timeout=5.0), interval, Policy(**policy))  # type: ignore[arg-type]


async def _until(what: str, condition: Callable[[], object]) -> None:
    """Yield to the loop until `condition()` holds; the bound only ends a failing test."""
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class _Recorder:
    def __init__(self) -> None:
        self.verdicts: list[tuple[str, str]] = []  # (monitor, target) in the order they came

    async def __call__(self, job: Job, verdict: Verdict) -> None:
        self.verdicts.append((job.name, verdict.target))

    def of(self, name: str) -> list[str]:
        return [target for monitor, target in self.verdicts if monitor == name]


def _running(scheduler: Scheduler, body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        task = asyncio.create_task(scheduler.run())
        try:
            await body()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_monitors_come_and_go_while_the_scheduler_runs(web):
    first, second = web(), web()
    seen = _Recorder()
    scheduler = Scheduler([_job("a", first.url())], seen, rng=_NoJitter())

    async def body() -> None:
        await _until("a checked", lambda: seen.of("a"))
        changes = await scheduler.replace([_job("a", first.url()), _job("b", second.url())])
        assert changes == Changes(added=("b",))
        await _until("b checked", lambda: seen.of("b"))
        changes = await scheduler.replace([_job("b", second.url())])
        assert changes == Changes(removed=("a",))
        after_removal = len(seen.of("a"))
        await _until("b checked five more times", lambda: len(seen.of("b")) >= 6)
        assert len(seen.of("a")) == after_removal, "a removed monitor is checked no more"
        assert [job.name for job in scheduler.jobs] == ["b"]

    _running(scheduler, body)


def test_an_unchanged_monitor_keeps_its_loop_while_another_changes(web):
    server = web()
    seen = _Recorder()
    slow = _job("slow", server.url(), interval=3600)  # one check at once, the next in an hour
    scheduler = Scheduler([slow, _job("fast", server.url())], seen, rng=_NoJitter())

    async def body() -> None:
        await _until("both checked", lambda: seen.of("slow") and seen.of("fast"))
        changes = await scheduler.replace([slow, _job("fast", server.url("/other"))])
        assert changes == Changes(restarted=("fast",))
        await _until("the new target checked", lambda: server.url("/other") in seen.of("fast"))
        await _until("it checked three times", lambda: seen.of("fast").count(server.url("/other")) >= 3)
        assert len(seen.of("slow")) == 1, "a loop that started over would have checked at once"

    _running(scheduler, body)


def test_an_update_adds_and_changes_only_the_jobs_it_names(web):
    server = web()
    seen = _Recorder()
    slow = _job("slow", server.url(), interval=3600)  # one check at once, the next in an hour
    scheduler = Scheduler([slow, _job("fast", server.url())], seen, rng=_NoJitter())

    async def body() -> None:
        await _until("both checked", lambda: seen.of("slow") and seen.of("fast"))
        changes = await scheduler.update([_job("fast", server.url("/other")), _job("new", server.url("/new"))])
        assert changes == Changes(added=("new",), restarted=("fast",))
        assert sorted(job.name for job in scheduler.jobs) == ["fast", "new", "slow"]
        await _until("the new one checked", lambda: server.url("/new") in seen.of("new"))
        await _until("the changed one checked anew", lambda: server.url("/other") in seen.of("fast"))
        assert len(seen.of("slow")) == 1, "left as it was: its next check is still an hour away"

    _running(scheduler, body)


def test_a_new_policy_is_taken_without_starting_over(web):
    server = web()
    seen = _Recorder()
    slow = _job("slow", server.url(), interval=3600, confirm=2)
    scheduler = Scheduler([slow], seen, rng=_NoJitter())

    async def body() -> None:
        await _until("checked", lambda: seen.of("slow"))
        changes = await scheduler.replace([_job("slow", server.url(), interval=3600, confirm=5)])
        assert changes == Changes(updated=("slow",))
        assert scheduler.jobs[0].policy.confirm == 5
        assert len(seen.of("slow")) == 1, "same grid: the next check is still an hour away"

    _running(scheduler, body)


def test_a_check_in_flight_when_its_monitor_is_removed_is_cancelled_and_never_recorded(web):
    hanging, fast = web(), web()
    hanging.default = Reply(mode="hang")
    seen = _Recorder()
    scheduler = Scheduler([_job("hang", hanging.url())], seen, rng=_NoJitter())

    async def body() -> None:
        await _until("the check under way", lambda: hanging.requests >= 1)
        assert await scheduler.remove(["hang"]) == ("hang",)
        hanging.default = Reply()  # it would answer now, if anyone still asked
        await scheduler.replace([_job("fast", fast.url())])
        await _until("another monitor checked five times", lambda: len(seen.of("fast")) >= 5)
        assert seen.of("hang") == [], "the cancelled check handed on no verdict"
        assert hanging.requests == 1

    _running(scheduler, body)


def test_jobs_replaced_before_the_scheduler_runs_are_the_ones_it_starts(web):
    server = web()
    seen = _Recorder()
    scheduler = Scheduler([_job("old", server.url())], seen, rng=_NoJitter())

    async def body() -> None:
        await _until("the new one checked", lambda: seen.of("new"))
        assert seen.of("old") == []

    async def replace_then_run() -> None:
        await scheduler.replace([_job("new", server.url())])

    asyncio.run(replace_then_run())
    _running(scheduler, body)
