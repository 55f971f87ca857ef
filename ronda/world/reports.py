"""Synthetic streams of users' problem reports, for the demo and bench/reports_sim.py: a
service's usual reports per hour shaped by the time of day and the day of the week, an
hour-to-hour wobble, a fixed spread over regions, and outages that multiply it.

The standard library has no Poisson sampler; the two below are the textbook ones (Knuth's
product of uniforms for small means, a normal approximation for large ones), which is all a
synthetic stream needs, and the demo should not pull numpy in for it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 40:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def daily_shape(hour: float) -> float:
    """People report when they are awake: least at 4 in the morning, most at 4 in the
    afternoon (mean about 0.7)."""
    return 0.4 + 0.6 * (1 - math.cos(2 * math.pi * (hour - 4) / 24)) / 2


def weekly_shape(weekday: int) -> float:
    return 1.25 if weekday >= 5 else 1.0  # more use, and more reports, at the weekend


def ten_regions() -> dict[str, float]:
    """Ten regions with unequal shares (a Zipf-like spread), summing to 1."""
    codes = ["US-CA", "US-TX", "US-NY", "US-FL", "IT-MI", "IT-RM", "FR-75", "DE-BE", "GB-LND", "ES-M"]
    weights = [1 / (rank + 2) for rank in range(len(codes))]
    total = sum(weights)
    return {code: weight / total for code, weight in zip(codes, weights, strict=True)}


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime
    size: float  # reports become this many times the usual
    regions: tuple[str, ...] = ()  # none: everywhere

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass
class ReportStream:
    """Reports per minute for one service, by region."""

    per_hour: float  # the usual reports per hour, on average over a week
    regions: Mapping[str, float] = field(default_factory=ten_regions)
    wobble: float = 0.15  # hour-to-hour variation of the level (coefficient of variation)
    outages: list[Outage] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    _hour: int = -1
    _factor: float = 1.0

    def minute(self, at: datetime) -> dict[str, int]:
        """The reports of the minute starting `at`, per region (regions with none left out)."""
        base = self.per_hour / 60 / 0.7 * daily_shape(at.hour + at.minute / 60) * weekly_shape(at.weekday())
        base *= self._level(at)
        counts: dict[str, int] = {}
        for region, share in self.regions.items():
            mean = base * share * self._outage_factor(at, region)
            count = poisson(self.rng, mean)
            if count:
                counts[region] = count
        return counts

    def _level(self, at: datetime) -> float:
        hour = int(at.timestamp()) // 3600
        if hour != self._hour:
            shape = 1 / self.wobble**2
            self._hour, self._factor = hour, self.rng.gammavariate(shape, 1 / shape)
        return self._factor

    def _outage_factor(self, at: datetime, region: str) -> float:
        for outage in self.outages:
            if outage.covers(at) and (not outage.regions or region in outage.regions):
                return outage.size
        return 1.0
