"""The surge detector, pure (ronda/rules/surge.py): tail probabilities checked against values
worked out by hand, baselines that ignore a past outage and respect a floor, and streams whose
answer is known: steady, seasonal, one surge, a burst that does not last, a regional surge, many
regions at once (the Blink shape), everywhere at once."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from ronda.rules.surge import (
    HOUR_S,
    Counts,
    History,
    Level,
    SurgeSettings,
    assess,
    baseline,
    binomial_tail,
    hour_number,
    quantile,
    step,
    tail,
)
from ronda.world.reports import ReportStream, ten_regions

SETTINGS = SurgeSettings()
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
HOUR = hour_number(NOW)


def weeks_of(per_hour: int, weeks: int = 6, outage_week: int | None = None) -> History:
    """`weeks` weeks of history at `per_hour` every hour; one week may carry an outage's 50x."""
    hourly = {}
    for h in range(HOUR - weeks * 168, HOUR):
        week = (HOUR - h - 1) // 168 + 1
        hourly[h] = per_hour * (50 if week == outage_week else 1)
    return History(HOUR - weeks * 168, hourly, {region: 1000 * int(share * 100) for region, share in SHARES.items()})


SHARES = {"US-CA": 0.3, "US-TX": 0.2, "IT-MI": 0.2, "FR-75": 0.15, "DE-BE": 0.15}


def spread(total: tuple[int, int], shares: dict[str, float] = SHARES) -> dict[str, tuple[int, int]]:
    """Each half's reports spread over the regions by their shares (rounded, remainders to the first)."""
    regions = {region: (round(total[0] * share), round(total[1] * share)) for region, share in shares.items()}
    first = next(iter(regions))
    missing = tuple(t - sum(pair[i] for pair in regions.values()) for i, t in enumerate(total))
    regions[first] = (regions[first][0] + missing[0], regions[first][1] + missing[1])
    return regions


def counts(earlier: int, latest: int, regions: dict[str, tuple[int, int]] | None = None) -> Counts:
    return Counts(earlier, latest, regions if regions is not None else spread((earlier, latest)))


# -- the arithmetic ---------------------------------------------------------------------------


def test_the_poisson_tail_is_the_one_worked_out_by_hand():
    by_hand = 1 - sum(math.exp(-1) / math.factorial(k) for k in range(5))  # P(X >= 5), mean 1
    assert tail(5, 1.0) == pytest.approx(by_hand, rel=1e-9)
    assert tail(0, 3.0) == 1.0
    assert tail(60, 10.0) == pytest.approx(math.exp(-10) * 10**60 / math.factorial(60), rel=0.2), (
        "far tails keep precision"
    )
    assert tail(60, 10.0) > 0


def test_the_negative_binomial_tail_matches_the_closed_form():
    # r = 2, p = 1/2: mean 2, variance 2 + 0.5 * 4 (dispersion 1/r). P(X >= 3) = 1 - p^r (1 + r q + r(r+1)/2 q²).
    assert tail(3, 2.0, 0.5) == pytest.approx(1 - 0.25 * (1 + 1 + 0.75), rel=1e-9)
    assert tail(10, 5.0, 0.2) > tail(10, 5.0), "a wobbling stream makes a high count less surprising"


def test_the_binomial_tail_and_the_quantile():
    assert binomial_tail(8, 10, 0.5) == pytest.approx((45 + 10 + 1) / 1024, rel=1e-9)
    assert binomial_tail(11, 10, 0.5) == 0.0
    assert quantile(0.5, 10.0) == 10  # the median of Poisson(10)
    assert quantile(0.95, 10.0) == 15


# -- the baseline ------------------------------------------------------------------------------


def test_the_baseline_is_the_median_of_past_weeks_so_one_outage_week_does_not_teach_it():
    learned = baseline(HOUR, weeks_of(100, outage_week=2), SETTINGS)
    assert (learned.per_hour, learned.basis) == (100, "weekly")


def test_a_quiet_service_is_expected_to_get_at_least_the_floor():
    learned = baseline(HOUR, weeks_of(0), SETTINGS)
    assert learned.per_hour == SETTINGS.floor_per_hour


def test_with_less_than_three_weeks_the_same_hour_of_past_days_stands_in_then_the_past_hours():
    days = History(HOUR - 5 * 24, {h: 40 for h in range(HOUR - 5 * 24, HOUR)})
    assert baseline(HOUR, days, SETTINGS).basis == "daily"
    hours = History(HOUR - 10, {h: 40 for h in range(HOUR - 10, HOUR)})
    assert (baseline(HOUR, hours, SETTINGS).basis, baseline(HOUR, hours, SETTINGS).per_hour) == ("recent", 40)


def test_with_only_a_few_hours_of_history_no_surge_is_raised_whatever_the_count():
    young = History(HOUR - 2, {HOUR - 2: 10, HOUR - 1: 10})
    assessment = assess(NOW, counts(500, 500), young, SETTINGS)
    assert (assessment.level, assessment.basis) == (Level.NORMAL, "learning")


# -- streams whose answer is known -------------------------------------------------------------


def test_a_steady_stream_is_normal():
    # 120 an hour is 10 in each five minutes.
    for earlier, latest in ((10, 10), (14, 13), (6, 15), (16, 9)):
        assert assess(NOW, counts(earlier, latest), weeks_of(120), SETTINGS).level is Level.NORMAL


def test_five_times_the_usual_for_ten_minutes_is_a_likely_outage():
    assessment = assess(NOW, counts(50, 50), weeks_of(120), SETTINGS)
    assert assessment.level is Level.LIKELY
    assert (assessment.reports, assessment.expected, assessment.scope) == (100, pytest.approx(20), "global")
    assert assessment.ratio == pytest.approx(5)


def test_a_smaller_rise_is_a_possible_problem():
    assert assess(NOW, counts(28, 28), weeks_of(120), SETTINGS).level is Level.POSSIBLE


def test_a_burst_in_one_half_only_is_not_sustained_and_stays_normal():
    assert assess(NOW, counts(10, 90), weeks_of(120), SETTINGS).level is Level.NORMAL
    assert assess(NOW, counts(90, 10), weeks_of(120), SETTINGS).level is Level.NORMAL


def test_the_same_count_means_more_for_a_quiet_service_than_for_a_busy_one():
    assert assess(NOW, counts(12, 12), weeks_of(0), SETTINGS).level is Level.LIKELY
    assert assess(NOW, counts(12, 12), weeks_of(120), SETTINGS).level is Level.NORMAL


def test_a_seasonal_stream_without_outages_raises_no_surge_over_a_week():
    """Six weeks of a stream with a daily and weekly rhythm teach the baseline; the seventh
    week, assessed every five minutes, stays normal."""
    start = NOW - timedelta(weeks=7)
    stream = ReportStream(300, ten_regions(), rng=random.Random(7))
    minutes = [stream.minute(start + timedelta(minutes=m)) for m in range(7 * 7 * 24 * 60)]
    hourly: dict[int, int] = {}
    for m, regions in enumerate(minutes):
        hour = hour_number(start) + m // 60
        hourly[hour] = hourly.get(hour, 0) + sum(regions.values())
    region_reports: dict[str, int] = {}
    for regions in minutes[: 6 * 168 * 60]:
        for region, n in regions.items():
            region_reports[region] = region_reports.get(region, 0) + n
    levels = []
    for m in range(6 * 168 * 60 + 10, 7 * 168 * 60, 5):
        at = start + timedelta(minutes=m)
        history = History(hour_number(start), {h: n for h, n in hourly.items() if h < hour_number(at)}, region_reports)
        halves = [minutes[m - 10 : m - 5], minutes[m - 5 : m]]
        per_region = {
            region: (sum(x.get(region, 0) for x in halves[0]), sum(x.get(region, 0) for x in halves[1]))
            for region in region_reports
        }
        window = Counts(sum(p[0] for p in per_region.values()), sum(p[1] for p in per_region.values()), per_region)
        levels.append(assess(at, window, history, SETTINGS).level)
    assert levels.count(Level.NORMAL) == len(levels), f"{len(levels) - levels.count(Level.NORMAL)} false alarms"


# -- geography ---------------------------------------------------------------------------------


def test_a_surge_in_one_region_is_scoped_to_it_even_when_the_total_hardly_moves():
    usual = spread((20, 20))
    usual["DE-BE"] = (15, 15)  # 3 is usual there: five times that, the service's total rises by a third
    assessment = assess(NOW, counts(32, 32, usual), weeks_of(240), SETTINGS)
    assert assessment.level >= Level.POSSIBLE
    assert (assessment.scope, assessment.regions) == ("regional", ("DE-BE",))


def test_many_regions_of_one_country_at_once_are_named_the_blink_shape():
    states = {"US-CA": 0.12, "US-TX": 0.12, "US-NY": 0.12, "US-FL": 0.12, "IT-MI": 0.26, "FR-75": 0.26}
    history = weeks_of(120)
    history = History(history.since, history.hourly, {region: int(share * 10_000) for region, share in states.items()})
    regions = {
        "US-CA": (20, 20),
        "US-TX": (18, 19),
        "US-NY": (21, 18),
        "US-FL": (19, 20),
        "IT-MI": (3, 2),
        "FR-75": (2, 3),
    }
    earlier, latest = sum(p[0] for p in regions.values()), sum(p[1] for p in regions.values())
    assessment = assess(NOW, Counts(earlier, latest, regions), history, SETTINGS)
    assert assessment.level is Level.LIKELY
    assert assessment.scope == "regional"
    assert set(assessment.regions) == {"US-CA", "US-TX", "US-NY", "US-FL"}


def test_a_surge_everywhere_is_global():
    assessment = assess(NOW, counts(50, 50), weeks_of(120), SETTINGS)
    assert (assessment.scope, assessment.regions) == ("global", ())


def test_reports_that_say_no_region_count_but_are_never_named():
    regions = {"": (40, 40), "US-CA": (3, 3)}
    assessment = assess(NOW, Counts(43, 43, regions), weeks_of(120), SETTINGS)
    assert assessment.level is Level.LIKELY
    assert "" not in assessment.regions


# -- a surge's life ----------------------------------------------------------------------------


def test_a_surge_starts_strengthens_moves_and_ends_after_a_calm_quarter_hour():
    history = weeks_of(120)
    first = step(None, assess(NOW, counts(28, 28), history, SETTINGS), NOW, SETTINGS)
    assert first.started and first.surge is not None and first.surge.level is Level.POSSIBLE
    later = NOW + timedelta(minutes=1)
    stronger = step(first.surge, assess(later, counts(60, 60), history, SETTINGS), later, SETTINGS)
    assert stronger.stronger and stronger.surge is not None and stronger.surge.peak is Level.LIKELY
    quiet = [NOW + timedelta(minutes=m) for m in (2, 10, 17)]
    surge = stronger.surge
    results = []
    for at in quiet:
        result = step(surge, assess(at, counts(10, 10), history, SETTINGS), at, SETTINGS)
        results.append(result.ended)
        surge = result.surge
    assert results == [False, False, True], "normal for 15 minutes ends it, not sooner"


def test_the_windows_halves_follow_the_setting():
    quick = SurgeSettings(half=timedelta(seconds=30))
    # 120 an hour is 1 in each 30 s: 10 and 10 is ten times that.
    assert assess(NOW, counts(10, 10), weeks_of(120), quick).level is Level.LIKELY
    assert assess(NOW, counts(10, 10), weeks_of(120), SETTINGS).level is Level.NORMAL
    assert HOUR_S == 3600


def test_the_longer_look_finds_a_small_region_that_ten_minutes_cannot():
    """One region of five sends 5% of 120 an hour (one report in ten minutes); six times that
    is three in each five minutes: too few to be sure of in ten minutes, clear over thirty."""
    shares = {"US-CA": 0.35, "US-TX": 0.25, "IT-MI": 0.2, "FR-75": 0.15, "DE-BE": 0.05}
    base = weeks_of(120)
    history = History(base.since, base.hourly, {region: int(share * 10_000) for region, share in shares.items()})
    halves = {region: (round(10 * share), round(10 * share)) for region, share in shares.items() if region != "DE-BE"}
    halves["DE-BE"] = (3, 3)
    earlier, latest = sum(p[0] for p in halves.values()), sum(p[1] for p in halves.values())
    assert assess(NOW, Counts(earlier, latest, halves), history, SETTINGS).level is Level.NORMAL
    before = {region: 2 * (a + b) for region, (a, b) in halves.items()}  # the same for twenty minutes more
    longer = assess(NOW, Counts(earlier, latest, halves, sum(before.values()), before), history, SETTINGS)
    assert longer.level is Level.POSSIBLE
    assert (longer.scope, longer.regions) == ("regional", ("DE-BE",))
