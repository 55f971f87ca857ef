"""Months of users' reports, fast-forwarded through ronda's real surge detector
(ronda/rules/surge.py): how soon outages are found, which are missed, how often normal
traffic raises a false alarm, and whether a regional outage is scoped to its region.

Each simulated service gets a report stream (ronda/world/reports.py) with a daily and a weekly
rhythm, an hour-to-hour wobble and Poisson noise, spread over ten regions of unequal size, and
outages injected at random times: global ones (every region's reports times `--size`) and
regional ones (one region's only). History starts empty, as on a fresh install: the first
weeks run on the floor, then the hour-of-day, then the hour-of-week baseline.

The detector is evaluated once per simulated minute, as ronda's watcher does every
`reports.interval` (30 s by default) on the reports of the last ten minutes. A surge that
starts while an outage is under way (or within five minutes after it) is a detection, its delay
counted from the outage's start; one that starts anywhere else is a false alarm.

Targets (issue 6): a 5x surge found within 10 minutes; at most one false alarm per simulated
month of normal traffic per service; a surge in one region of ten scoped to that region.

    python3 -m bench.reports_sim                     # 3 services, 3 months
    python3 -m bench.reports_sim --services 1 --months 1 --check   # CI's small run: exit 1 on a missed target
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ronda.rules.surge import (
    HOUR_S,
    LONG_HALVES,
    Assessment,
    Counts,
    History,
    Surge,
    SurgeSettings,
    assess,
    hour_number,
    step,
)
from ronda.world.reports import Outage, ReportStream, ten_regions

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
MONTH = timedelta(days=30)
SHARE_DAYS = 28  # region shares are learned over this many days, as the watcher does
DETECT_WITHIN = timedelta(minutes=10)
MAX_FALSE_PER_MONTH = 1


@dataclass
class Detection:
    outage: Outage
    delay: timedelta | None = None  # None: missed
    scope: str = ""
    regions: tuple[str, ...] = ()


@dataclass
class ServiceRun:
    name: str
    per_hour: float
    detections: list[Detection] = field(default_factory=list)
    false_alarms: list[tuple[datetime, Assessment]] = field(default_factory=list)


def plan_outages(rng: random.Random, months: int, per_month: int, size: float, regions: list[str]) -> list[Outage]:
    """`per_month` outages a month at random hours (never in the first week: the service must
    have had a week to be known), alternating global and one-region, 30 to 90 minutes long."""
    outages = []
    for month in range(months):
        for k in range(per_month):
            start = START + month * MONTH + timedelta(days=7 + rng.random() * 22, minutes=rng.randrange(60))
            start = start.replace(second=0, microsecond=0)
            length = timedelta(minutes=rng.choice((30, 45, 60, 90)))
            where = () if k % 2 == 0 else (rng.choice(regions),)
            outages.append(Outage(start, start + length, size, where))
    return sorted(outages, key=lambda o: o.start)


def simulate(run: ServiceRun, stream: ReportStream, months: int, settings: SurgeSettings) -> None:
    minutes = int(months * MONTH.total_seconds() // 60)
    totals: list[int] = [0] * (minutes + 1)  # prefix sums of all reports per minute
    per_region: dict[str, list[int]] = {r: [0] * (minutes + 1) for r in stream.regions}
    hourly: dict[int, int] = {}  # complete hours only, as the database would give them
    this_hour = 0
    hourly_regions: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    shares: dict[str, int] = {}
    surge: Surge | None = None
    pending = {id(o): Detection(o) for o in stream.outages}
    since = hour_number(START)
    for m in range(minutes):
        at = START + timedelta(minutes=m)
        counts = stream.minute(at)
        totals[m + 1] = totals[m] + sum(counts.values())
        for region in per_region:
            per_region[region][m + 1] = per_region[region][m] + counts.get(region, 0)
        hour = hour_number(at)
        this_hour += sum(counts.values())
        for region, n in counts.items():
            hourly_regions[hour][region] += n
        now = at + timedelta(minutes=1)  # the end of this minute
        if int(now.timestamp()) % HOUR_S == 0:
            hourly[hour], this_hour = this_hour, 0
            shares = _region_reports(hourly_regions, hour, since)
        window = _counts(totals, per_region, m + 1)
        history = History(since, hourly, shares)
        assessment = assess(now, window, history, settings)
        result = step(surge, assessment, now, settings)
        if result.started:
            _classify(run, pending, now, assessment)
        surge = result.surge
    run.detections = list(pending.values())


def _counts(totals: list[int], per_region: dict[str, list[int]], end: int) -> Counts:
    """The two five-minute halves ending at minute `end` (prefix-sum indices), and the four
    halves before them."""
    mid, start, first = max(0, end - 5), max(0, end - 10), max(0, end - 5 * LONG_HALVES)
    regions = {r: (p[mid] - p[start], p[end] - p[mid]) for r, p in per_region.items() if p[end] - p[start]}
    before = {r: p[start] - p[first] for r, p in per_region.items() if p[start] - p[first]}
    return Counts(
        totals[mid] - totals[start], totals[end] - totals[mid], regions, totals[start] - totals[first], before
    )


def _region_reports(hourly_regions: dict[int, dict[str, int]], hour: int, since: int) -> dict[str, int]:
    first = max(since, hour - SHARE_DAYS * 24)
    sums: dict[str, int] = defaultdict(int)
    for h in range(first, hour + 1):
        for region, n in hourly_regions.get(h, {}).items():
            sums[region] += n
    return dict(sums)


def _classify(run: ServiceRun, pending: dict[int, Detection], at: datetime, assessment: Assessment) -> None:
    for detection in pending.values():
        outage = detection.outage
        if outage.start <= at <= outage.end + timedelta(minutes=5):
            if detection.delay is None:
                detection.delay = at - outage.start
                detection.scope, detection.regions = assessment.scope, assessment.regions
            return
    run.false_alarms.append((at, assessment))


REGIONAL_TARGET_RATE = 100  # reports per hour: below it, one region of ten is a handful a day


def report(runs: list[ServiceRun], months: int) -> bool:
    """Print the figures; True when every target is met. The delay target is the global
    outages' (5x the service's reports); the scoping target is the regional outages' (5x one
    region's), for services busy enough that a region sends more than a few reports an hour."""
    ok = True
    print(
        f"{'service':10} {'reports/h':>9} {'global':>6} {'found':>5} {'late':>4} {'delay p50':>9} "
        f"{'delay max':>9} {'regional':>8} {'found':>5} {'scoped':>6} {'false alarms/month':>18}"
    )
    for run in runs:
        glob = [d for d in run.detections if not d.outage.regions]
        regional = [d for d in run.detections if d.outage.regions]
        delays = sorted(d.delay.total_seconds() / 60 for d in glob if d.delay is not None)
        late = sum(1 for d in delays if d > DETECT_WITHIN.total_seconds() / 60)
        found_regional = [d for d in regional if d.delay is not None]
        scoped = sum(1 for d in found_regional if d.scope == "regional" and d.regions == d.outage.regions)
        per_month = [
            sum(1 for t, _ in run.false_alarms if START + k * MONTH <= t < START + (k + 1) * MONTH)
            for k in range(months)
        ]
        ok &= len(delays) == len(glob) and late == 0 and max(per_month, default=0) <= MAX_FALSE_PER_MONTH
        held = run.per_hour >= REGIONAL_TARGET_RATE
        ok &= not held or scoped == len(regional)
        p50 = f"{statistics.median(delays):.1f} min" if delays else "-"
        worst = f"{max(delays):.1f} min" if delays else "-"
        note = "" if held else " (quiet: not held to the regional target)"
        print(
            f"{run.name:10} {run.per_hour:9.0f} {len(glob):6} {len(delays):5} {late:4} {p50:>9} {worst:>9} "
            f"{len(regional):8} {len(found_regional):5} {scoped:6} {'/'.join(map(str, per_month)):>18}{note}"
        )
        for t, a in run.false_alarms:
            print(
                f"  false alarm at {t:%Y-%m-%d %H:%M} (simulated): {a.reports} reports, {a.expected:.1f} expected "
                f"({a.basis}), p={a.p_value:.1e}, {a.level.word}, {a.scope} {','.join(a.regions)}"
            )
        for d in run.detections:
            if d.delay is None or d.delay > DETECT_WITHIN or (d.outage.regions and d.regions != d.outage.regions):
                where = ",".join(d.outage.regions) or "global"
                found = f"found after {d.delay}, scoped {d.scope} {','.join(d.regions)}" if d.delay else "missed"
                print(f"  outage {d.outage.start:%Y-%m-%d %H:%M} ({where}): {found}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=3)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--outages", type=int, default=2, help="per service per month")
    parser.add_argument("--size", type=float, default=5.0, help="an outage multiplies reports by this")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--rates", default="30,150,600", help="the services' usual reports per hour, in turn (comma-separated)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    settings = SurgeSettings()
    runs = []
    started = time.perf_counter()
    for k in range(args.services):
        rates = [float(rate) for rate in args.rates.split(",")]
        per_hour = rates[k % len(rates)] * (1 + k // len(rates))
        regions = ten_regions()
        outages = plan_outages(rng, args.months, args.outages, args.size, list(regions))
        stream = ReportStream(per_hour, regions, outages=outages, rng=random.Random(args.seed + k))
        run = ServiceRun(f"service-{k + 1}", per_hour)
        simulate(run, stream, args.months, settings)
        runs.append(run)
    elapsed = time.perf_counter() - started
    print(
        f"{args.services} services x {args.months} simulated months, {args.outages} outages of "
        f"{args.size:g}x per service-month, seed {args.seed}: {elapsed:.1f} s of CPU time"
    )
    ok = report(runs, args.months)
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
