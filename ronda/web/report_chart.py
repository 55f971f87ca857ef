"""Users' reports for people to see: each service's last 24 hours in quarter hours against the
band the baseline expects, the surge level now (normal, possible problem, likely outage), and
the problems and regions reported most. The status page shows it to everybody (counts only,
never a comment or a reporter); the dashboard shows it on a monitor's page.

The band is the baseline's expected count with its 1st and 99th percentiles, from the same
baseline the detector uses (ronda/rules/surge.py), so what looks out of band here is what
the detector weighs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from ronda.regions import display_name
from ronda.rules.public_status import N_
from ronda.rules.surge import HOUR_S, History, Level, Surge, SurgeSettings, baseline, hour_number, quantile
from ronda.storage.report_counts import ReportCounts

BAR = 15 * 60  # seconds per bar
BARS = 24 * HOUR_S // BAR
LEVEL_WORDS = {"normal": N_("No problems reported"), "possible": N_("Possible problem"), "likely": N_("Likely outage")}


@dataclass(frozen=True)
class Bar:
    start: datetime
    count: int
    expected: float
    low: int  # the band: 1st percentile ...
    high: int  # ... to the 99th


@dataclass(frozen=True)
class ReportChart:
    service: str
    level: str  # normal | possible | likely: the surge under way, if any
    scope: str
    regions: tuple[str, ...]  # the elevated regions' names, in the page's language
    bars: tuple[Bar, ...]
    problems: tuple[tuple[str, int], ...]  # most reported first, over the 24 hours
    places: tuple[tuple[str, str, int], ...]  # (code, display name, count), most first

    @property
    def total(self) -> int:
        return sum(bar.count for bar in self.bars)

    @property
    def top(self) -> int:
        """The chart's height: the largest bar or band edge, at least 1."""
        return max([1, *(bar.count for bar in self.bars), *(bar.high for bar in self.bars)])

    def rects(self, width: float, height: float) -> list[tuple[float, float, float, float, Bar]]:
        """Each bar as (x, y, width, height, bar) in an SVG of that size."""
        step = width / len(self.bars)
        out = []
        for i, bar in enumerate(self.bars):
            tall = bar.count / self.top * height
            out.append((i * step, height - tall, max(step - 1, 1.0), tall, bar))
        return out

    def band_points(self, width: float, height: float) -> str:
        """The band as one SVG polygon: the high edge left to right, the low edge back."""
        step = width / len(self.bars)
        upper = [(i * step + step / 2, height - bar.high / self.top * height) for i, bar in enumerate(self.bars)]
        lower = [(i * step + step / 2, height - bar.low / self.top * height) for i, bar in enumerate(self.bars)]
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in [*upper, *reversed(lower)])

    def expected_points(self, width: float, height: float) -> str:
        step = width / len(self.bars)
        return " ".join(
            f"{i * step + step / 2:.1f},{height - bar.expected / self.top * height:.1f}"
            for i, bar in enumerate(self.bars)
        )


def report_chart(
    counts: ReportCounts,
    surge: Surge | None,  # the service's surge under way (Surges.under_way), if any
    service: str,
    now: datetime,
    settings: SurgeSettings | None = None,
    locale: str = "en",
) -> ReportChart:
    settings = settings or SurgeSettings()
    start = _start(now)
    per_bar = counts.per_bucket(service, start, start + timedelta(seconds=BAR * BARS), BAR)
    history = counts.history(service, now, settings.weeks, extra=timedelta(days=1))
    bars = _bars(start, per_bar, history, settings)
    level = surge.level if surge is not None and surge.level is not Level.NORMAL else Level.NORMAL
    top = counts.top(service, start)
    places = tuple((code, display_name(code, locale), n) for code, n in top["regions"] if code)
    return ReportChart(
        service,
        level.word,
        surge.scope if surge else "global",
        tuple(display_name(region, locale) for region in surge.regions) if surge else (),
        bars,
        tuple(top["problems"]),
        places,
    )


def quiet_chart(service: str, known_since: datetime | None, now: datetime, settings: SurgeSettings) -> ReportChart:
    """The chart of a service nobody has reported (no report kept): what `report_chart`
    draws, without reading anything, since only how long ronda has known the service shapes
    its band. Services known since the same hour share one drawing: a page of 1,000
    services, most of them never reported, once read weeks of counts for each."""
    since = hour_number(known_since or now)
    bars = _quiet_bars(_start(now), since, settings)
    return ReportChart(service, Level.NORMAL.word, "global", (), bars, (), ())


@lru_cache(maxsize=64)
def _quiet_bars(start: datetime, since: int, settings: SurgeSettings) -> tuple[Bar, ...]:
    return _bars(start, {}, History(since, {}), settings)


def _start(now: datetime) -> datetime:
    """The first bar's start: the chart ends with the quarter hour under way."""
    end = datetime.fromtimestamp((int(now.timestamp()) // BAR + 1) * BAR, UTC)
    return end - timedelta(seconds=BAR * BARS)


def _bars(start: datetime, per_bar: dict[int, int], history: History, settings: SurgeSettings) -> tuple[Bar, ...]:
    bars = []
    for i in range(BARS):
        at = start + timedelta(seconds=i * BAR)
        learned = baseline(hour_number(at), history, settings)
        expected = 0.0 if learned.basis == "learning" else learned.per_hour * BAR / HOUR_S
        low = quantile(0.01, expected, learned.dispersion) if expected else 0
        high = quantile(0.99, expected, learned.dispersion) if expected else 0
        bars.append(Bar(at, per_bar.get(int(at.timestamp()) // BAR, 0), expected, low, high))
    return tuple(bars)
