"""Surges of users' reports, pure: what is normal for a service at this hour of the week,
how improbable the latest reports are under it, and where they come from.

The way crowd-sourced outage trackers work, in numbers a test can check:

- **Baseline.** Reports per hour at the same hour of the week, over the past weeks: their
  *median*, so one past outage (one huge week) does not teach ronda that outages are
  normal. With under three weeks of history the same hour of the past days stands in, then
  the past hours; never less than a floor, so a quiet service does not alarm on two people.
- **Improbable, not a multiple.** The reports in the last ten minutes are compared with the
  baseline through a negative-binomial tail: Poisson noise plus the hour-to-hour wobble the
  history shows (its dispersion, measured robustly by the median absolute deviation). Five
  reports where one is normal means little for a tiny service and everything for a big one;
  a fixed multiple cannot say that, a tail probability does.
- **Sustained.** The ten minutes are two halves of five, and each half must be unusual by
  itself: one burst (a retry storm of one app, a single angry person) is not an outage.
- **Three levels,** as the trackers show them: normal, possible problem, likely outage.
- **Geography.** The same test per region, against the region's usual share of the service's
  reports, names the regions that are elevated; a surge is `regional` when the rest of the
  world is not elevated, `global` otherwise. A surge in one region of many is found on its
  own even when the service's total hardly moves (the region tests are Bonferroni-corrected
  for how many regions there are, so many regions do not mean many false alarms).

Everything here is a function of counts and times; ronda/service/report_watch.py feeds it
from the database, bench/reports_sim.py from months of simulated streams.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import IntEnum

HALF = timedelta(minutes=5)  # one bucket; the window is the last two
HOUR_S = 3600
WEEK_HOURS = 7 * 24
UNKNOWN_REGION = ""  # a report that did not say where it comes from


class Level(IntEnum):
    NORMAL = 0
    POSSIBLE = 1  # a possible problem
    LIKELY = 2  # a likely outage

    @property
    def word(self) -> str:
        return ("normal", "possible", "likely")[self]

    @classmethod
    def named(cls, word: str) -> Level:
        return {"normal": cls.NORMAL, "possible": cls.POSSIBLE, "likely": cls.LIKELY}[word]


@dataclass(frozen=True)
class SurgeSettings:
    half: timedelta = HALF  # the window is two of these (the demo shortens them to see a surge soon)
    floor_per_hour: float = 2.0  # a quiet service is expected to get at least this many
    possible_p: float = 1e-5  # the ten minutes together are this improbable: a possible problem
    likely_p: float = 1e-8  # ... this improbable: a likely outage
    half_p: float = 0.05  # each five minutes must be at least this unusual by itself
    elevated_p: float = 1e-3  # a region (or the rest of the world) is elevated past this
    # The least wobble assumed, by how the baseline was learned: the same hour of past weeks
    # knows the rhythm of the week (20% hour-to-hour variation); the same hour of past days
    # does not know weekends (26%); the past hours know neither days nor weeks (39%).
    min_dispersion: float = 0.04
    min_dispersion_daily: float = 0.07
    min_dispersion_recent: float = 0.15
    weeks: int = 6  # history read for the hour-of-week baseline
    days: int = 14  # ... for the hour-of-day baseline, while weeks are too few
    min_samples: int = 3  # weeks (or days) needed before that baseline is trusted
    learning_hours: int = 6  # the least history, in hours, that says anything about what is normal
    calm: timedelta = timedelta(minutes=15)  # normal this long ends a surge
    # A region's own surge counts once the regions' shares are known from this many reports
    # (before, a region's share is a guess, and a guess too low would alarm on every report).
    min_region_history: int = 200


# -- tail probabilities ---------------------------------------------------------------------

MAX_TERMS = 200_000


def tail(count: int, mean: float, dispersion: float = 0.0) -> float:
    """P(X >= count) for X negative binomial with this mean and variance mean + dispersion *
    mean² (Poisson when dispersion is 0).

    Written here rather than taken from scipy (whose `nbinom.sf` does this) because these
    two sums are all ronda needs of it, and scipy would be tens of megabytes in every
    install. Terms are summed from `count` upward (the tail itself, never 1 - cdf, so tiny
    probabilities keep their precision); below the mean, 1 - cdf is exact enough.
    """
    if count <= 0:
        return 1.0
    mean = max(mean, 1e-9)
    if count <= mean:
        return max(0.0, 1.0 - sum(_pmf(k, mean, dispersion) for k in range(count)))
    term = _pmf(count, mean, dispersion)
    total, k = 0.0, count
    while term > 0 and k < count + MAX_TERMS:
        total += term
        term *= _ratio(k, mean, dispersion)
        k += 1
        if term < total * 1e-17:
            break
    return min(1.0, total)


def binomial_tail(count: int, trials: int, share: float) -> float:
    """P(X >= count) for X binomial: of `trials` reports, how improbable it is that `count` or
    more come from a region whose usual share is `share` (summed upward, like `tail`)."""
    if count <= 0:
        return 1.0
    if count > trials:
        return 0.0
    share = min(max(share, 1e-12), 1 - 1e-12)
    log = (
        math.lgamma(trials + 1)
        - math.lgamma(count + 1)
        - math.lgamma(trials - count + 1)
        + count * math.log(share)
        + (trials - count) * math.log1p(-share)
    )
    term, total, k = math.exp(log), 0.0, count
    while term > 0 and k <= trials:
        total += term
        term *= (trials - k) / (k + 1) * share / (1 - share)
        k += 1
        if term < total * 1e-17:
            break
    return min(1.0, total)


def quantile(probability: float, mean: float, dispersion: float = 0.0) -> int:
    """The least count c with P(X <= c) >= probability: a band's edge for the charts."""
    cumulative, k = 0.0, 0
    term = _pmf(0, max(mean, 1e-9), dispersion)
    while cumulative + term < probability and k < MAX_TERMS:
        cumulative += term
        term *= _ratio(k, max(mean, 1e-9), dispersion)
        k += 1
    return k


def _pmf(k: int, mean: float, dispersion: float) -> float:
    if dispersion <= 0:
        return math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))
    r = 1.0 / dispersion
    p = r / (r + mean)
    log = math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1) + r * math.log(p) + k * math.log1p(-p)
    return math.exp(log)


def _ratio(k: int, mean: float, dispersion: float) -> float:
    """pmf(k + 1) / pmf(k)."""
    if dispersion <= 0:
        return mean / (k + 1)
    r = 1.0 / dispersion
    return (k + r) / (k + 1) * (mean / (r + mean))


# -- the baseline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """What the service's past says: reports per hour (keyed by hour number, seconds since
    the epoch // 3600) since `since`, the first hour ronda knew the service (before it, a
    missing hour is unknown, not zero); and how many of its recent reports each region sent."""

    since: int  # hour number
    hourly: Mapping[int, int]
    region_reports: Mapping[str, int] = field(default_factory=dict)  # reports per region, lately


@dataclass(frozen=True)
class Baseline:
    per_hour: float
    dispersion: float
    # weekly | daily | recent: which history it was learned from; learning: too little history
    # to know what is normal (no surge is raised then, whatever the count).
    basis: str


def hour_number(at: datetime) -> int:
    return int(at.timestamp()) // HOUR_S


def baseline(hour: int, history: History, settings: SurgeSettings) -> Baseline:
    """The expected reports per hour in hour number `hour`, from the hours before it."""
    for basis, step, count in (("weekly", WEEK_HOURS, settings.weeks), ("daily", 24, settings.days)):
        samples = _samples(hour, history, step, count)
        if len(samples) >= settings.min_samples:
            return _learned(samples, basis, settings)
    samples = _samples(hour, history, 1, 24)
    if len(samples) >= settings.learning_hours:
        return _learned(samples, "recent", settings)
    return Baseline(math.inf, settings.min_dispersion, "learning")


def _samples(hour: int, history: History, step: int, count: int) -> list[int]:
    hours = (hour - step * k for k in range(1, count + 1))
    return [history.hourly.get(h, 0) for h in hours if h >= history.since]


def _learned(samples: list[int], basis: str, settings: SurgeSettings) -> Baseline:
    middle = statistics.median(samples)
    spread = 1.4826 * statistics.median(abs(s - middle) for s in samples)  # MAD, scaled to a sigma
    # The spread beyond Poisson noise, relative to the level: how much hours wobble.
    wobble = (spread**2 - middle) / middle**2 if middle > 0 else 0.0
    least = {
        "weekly": settings.min_dispersion,
        "daily": settings.min_dispersion_daily,
        "recent": settings.min_dispersion_recent,
    }[basis]
    dispersion = min(1.0, max(least, wobble))
    if middle < settings.floor_per_hour:
        return Baseline(settings.floor_per_hour, dispersion, basis)
    return Baseline(float(middle), dispersion, basis)


def window_mean(at: datetime, span: timedelta, history: History, settings: SurgeSettings) -> tuple[float, float]:
    """Expected reports in (at - span, at], and the dispersion: the baseline of each hour the
    span touches, weighted by how much of it falls in that hour."""
    end = at.timestamp()
    start = end - span.total_seconds()
    mean, dispersion, t = 0.0, settings.min_dispersion, start
    while t < end:
        hour = int(t) // HOUR_S
        upto = min(end, (hour + 1) * HOUR_S)
        base = baseline(hour, history, settings)
        mean += base.per_hour * (upto - t) / HOUR_S
        dispersion = max(dispersion, base.dispersion)
        t = upto
    return mean, dispersion


# -- the evidence ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Reports in the two halves of the window (older, newer), in total and per region; and
    in the four halves before them (`before`), for the longer look (`LONG_HALVES`)."""

    earlier: int
    latest: int
    regions: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    before: int = 0
    regions_before: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.earlier + self.latest


@dataclass(frozen=True)
class Sources:
    """Who sent a stretch of reports: how many distinct reporters, and how many seconds lie
    between the first report and the last."""

    distinct: int
    spread: float

    def enough(self, least: int, spread: float) -> bool:
        """Reports enough to open an incident on their own: from `least` reporters at least,
        over `spread` seconds at least. A crowd arrives over minutes; a burst from a few
        machines, or from one pretending to be many, does not."""
        return self.distinct >= least and self.spread >= spread


# The longer look: the same test over the last six halves (half an hour by default). A small
# stream (a quiet service, one region of ten at night) that five times its usual cannot make
# improbable in ten minutes makes so in thirty; the last two halves must still each be unusual.
LONG_HALVES = 6


@dataclass(frozen=True)
class Assessment:
    level: Level
    reports: int  # in the window
    expected: float  # in the window, by the baseline
    p_value: float  # of the window's total (or of the region that raised the level)
    scope: str  # global | regional
    regions: tuple[str, ...]  # the elevated regions, most reports first
    basis: str

    @property
    def ratio(self) -> float:
        return self.reports / self.expected if self.expected > 0 else math.inf


def assess(at: datetime, counts: Counts, history: History, settings: SurgeSettings) -> Assessment:
    """How strongly the reports in the window ending `at` say something is wrong, and where."""
    mean, dispersion = window_mean(at, 2 * settings.half, history, settings)
    basis = baseline(hour_number(at), history, settings).basis
    if math.isinf(mean):
        return Assessment(Level.NORMAL, counts.total, math.inf, 1.0, "global", (), basis)
    long_mean, _ = window_mean(at, LONG_HALVES * settings.half, history, settings)
    if math.isinf(long_mean):  # the longer look reaches back into the hours of learning
        counts, long_mean = replace(counts, before=0, regions_before={}), mean
    stream = Stream(counts.earlier, counts.latest, counts.before, mean / 2, long_mean - mean)
    level, p_value = _level(stream, dispersion, settings, tests=1)
    shares = _shares(history.region_reports, counts.regions)
    if sum(history.region_reports.values()) >= settings.min_region_history:
        tests, floor = max(1, len(shares)), settings.floor_per_hour * settings.half.total_seconds() / HOUR_S
        long_total = counts.total + counts.before
        for region, (earlier, latest) in counts.regions.items():
            if region == UNKNOWN_REGION:
                continue
            share, before = shares[region], counts.regions_before.get(region, 0)
            half_mean = max(floor, mean / 2 * share)
            regional_stream = Stream(earlier, latest, before, half_mean, max(floor, (long_mean - mean) * share))
            # The share test carries the correction for many regions; the count test only
            # confirms that the region's own reports rose too (a share also grows when the
            # other regions fall silent), so it need not be corrected twice.
            by_count, p = _level(regional_stream, dispersion, settings, tests=1)
            by_share = max(
                _share_level(earlier + latest, counts.total, share, settings, tests),
                _share_level(earlier + latest + before, long_total, share, settings, tests),
            )
            regional = min(by_count, by_share)
            if regional > level:
                level, p_value = regional, p
    scope, regions = _scope(counts, shares, (mean, long_mean), dispersion, settings) if level else ("global", ())
    return Assessment(level, counts.total, mean, p_value, scope, regions, basis)


@dataclass(frozen=True)
class Stream:
    """One stream's counts (a service's, or a region's) and what its baseline expects."""

    earlier: int
    latest: int
    before: int  # in the halves before the window, for the longer look
    half_mean: float
    before_mean: float


def _level(stream: Stream, dispersion: float, settings: SurgeSettings, tests: int) -> tuple[Level, float]:
    """The level of one stream from its two halves, and from the longer look; `tests`
    streams are tested at once, so each must clear thresholds that much stricter."""
    half_mean, pair = stream.half_mean, stream.earlier + stream.latest
    unusual = max(tail(stream.earlier, half_mean, dispersion), tail(stream.latest, half_mean, dispersion))
    if unusual >= settings.half_p:
        return Level.NORMAL, tail(pair, 2 * half_mean, dispersion)  # not sustained
    p = min(
        tail(pair, 2 * half_mean, dispersion),
        tail(pair + stream.before, 2 * half_mean + stream.before_mean, dispersion),
    )
    if p < settings.likely_p / tests:
        return Level.LIKELY, p
    if p < settings.possible_p / tests:
        return Level.POSSIBLE, p
    return Level.NORMAL, p


def _share_level(count: int, total: int, share: float, settings: SurgeSettings, tests: int) -> Level:
    """How improbably large the region's part of the window's reports is. A region's own
    count also rises when the whole service's does (a busy Sunday, an hour that wobbles up);
    only a share that grows says the trouble is there and not everywhere."""
    p = binomial_tail(count, total, share)
    if p < settings.likely_p / tests:
        return Level.LIKELY
    return Level.POSSIBLE if p < settings.possible_p / tests else Level.NORMAL


def _shares(history: Mapping[str, int], now: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """Each region's expected share of the service's reports: its share of the recent ones,
    with half a report added to every region (Jeffreys' smoothing), so a region never heard
    from before has a small share rather than none (against none, one report would be
    infinitely improbable). The smoothing fades as history grows."""
    regions = (set(history) | set(now)) - {UNKNOWN_REGION}
    total = sum(history.get(region, 0) for region in regions) + 0.5 * len(regions)
    return {region: (history.get(region, 0) + 0.5) / total for region in regions}


def _scope(
    counts: Counts,
    shares: Mapping[str, float],
    means: tuple[float, float],
    dispersion: float,
    settings: SurgeSettings,
) -> tuple[str, tuple[str, ...]]:
    """Global or regional, and the regions elevated in the ten minutes or over the longer look
    (`means`: what the baseline expects in each)."""
    mean, long_mean = means

    def elevated_in(short: int, long: int, share: float) -> bool:
        p = min(tail(short, mean * share, dispersion), tail(long, long_mean * share, dispersion))
        return p < settings.elevated_p

    def long_count(region: str) -> int:
        return sum(counts.regions.get(region, (0, 0))) + counts.regions_before.get(region, 0)

    elevated = [
        region
        for region, pair in counts.regions.items()
        if region != UNKNOWN_REGION and elevated_in(sum(pair), long_count(region), shares[region])
    ]
    if not elevated:
        return "global", ()
    share = sum(shares[region] for region in elevated)
    rest = counts.total - sum(sum(counts.regions[region]) for region in elevated)
    rest_long = counts.total + counts.before - sum(long_count(region) for region in elevated)
    if share >= 0.8 or elevated_in(rest, rest_long, max(1e-6, 1 - share)):
        return "global", ()
    elevated.sort(key=lambda region: (-sum(counts.regions[region]), region))
    return "regional", tuple(elevated)


# -- a surge's life -------------------------------------------------------------------------


@dataclass(frozen=True)
class Surge:
    """A surge under way: since when, how strong now and at most, where."""

    started_at: datetime
    level: Level
    peak: Level
    scope: str
    regions: tuple[str, ...]
    reports: int  # in the window, at the peak
    expected: float
    calm_since: datetime | None = None  # normal since then; ends after settings.calm


@dataclass(frozen=True)
class Step:
    surge: Surge | None
    started: bool = False
    stronger: bool = False  # the level rose (possible -> likely)
    rescoped: bool = False  # the scope or the regions changed
    ended: bool = False


def step(surge: Surge | None, assessment: Assessment, at: datetime, settings: SurgeSettings) -> Step:
    """One assessment applied to the surge under way (or to none)."""
    level = assessment.level
    if surge is None:
        if not level:
            return Step(None)
        started = Surge(at, level, level, assessment.scope, assessment.regions, assessment.reports, assessment.expected)
        return Step(started, started=True)
    if not level:
        calm_since = surge.calm_since or at
        if at - calm_since >= settings.calm:
            return Step(None, ended=True)
        return Step(replace(surge, level=Level.NORMAL, calm_since=calm_since))
    stronger = level > surge.peak
    rescoped = (assessment.scope, set(assessment.regions)) != (surge.scope, set(surge.regions))
    peak = stronger or (level == surge.peak and assessment.reports > surge.reports)
    updated = replace(
        surge,
        level=level,
        peak=max(level, surge.peak),
        scope=assessment.scope,
        regions=assessment.regions,
        reports=assessment.reports if peak else surge.reports,
        expected=assessment.expected if peak else surge.expected,
        calm_since=None,
    )
    return Step(updated, stronger=stronger, rescoped=rescoped)
