"""Charts people can read, drawn by the server as SVG (nothing loaded from elsewhere): a
monitor's response time over a span, with its axes, its incidents shaded and its failed
checks marked; and the calendar of certificates' expiry dates.

These functions turn records into geometry and words; the templates (_charts.html) only
write them out. Geometry is in the units of a plot `PLOT_W` wide and `PLOT_H` high, which
the SVG's viewBox stretches to the page's width; times along it are fractions of the span,
so text placed by percent lands on them at any width while staying its own size. Every
time is UTC, and the charts say so.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from ronda.causes import words
from ronda.defaults import CERT_WARN_DAYS
from ronda.durations import format_duration
from ronda.records import CertificateRecord, WindowFigures
from ronda.storage.series import Period, Slot, SpanChecks

PLOT_W, PLOT_H = 1000.0, 160.0
FAILED_MARK = 12.0  # how tall a failed check's mark stands at the bottom of the plot
NARROWEST_BAND = 2.0  # a 30 s outage on a 90-day chart still shows, a fifth of a percent wide
GAP = 1.5  # a pause this many times the usual one between checks breaks the line
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def clock_words(at: datetime) -> str:
    return f"{at:%H:%M}"


def day_words(at: datetime | date) -> str:
    return f"{MONTHS[at.month - 1]} {at.day}"


def weekday_words(at: datetime) -> str:
    return f"{WEEKDAYS[at.weekday()]} {at.day}"


def hour_or_date(at: datetime) -> str:
    """On a day's chart, midnight says which day begins."""
    return day_words(at) if (at.hour, at.minute) == (0, 0) else clock_words(at)


def when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Span:
    """A choice of the monitor page's chart: how far back, how long each point's slot is,
    and where the time axis is labelled (every `tick`, or None: the 1st and 15th of each
    month)."""

    key: str
    words: str
    length: timedelta
    slot: timedelta
    slot_words: str
    tick: timedelta | None
    tick_words: Callable[[datetime], str]
    # Labels on a phone, where every tick's would run into each other: those on multiples
    # of this (None: all of them).
    narrow_tick: timedelta | None = None

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """(since, now): since on a slot's start, so every slot is whole but the last."""
        seconds = int(self.slot.total_seconds())
        start = math.floor((now - self.length).timestamp()) // seconds * seconds
        return datetime.fromtimestamp(start, UTC), now


SPANS = {
    span.key: span
    for span in (
        Span("hour", "hour", timedelta(hours=1), timedelta(seconds=30), "30 s", timedelta(minutes=10), clock_words),
        Span(
            "day",
            "day",
            timedelta(days=1),
            timedelta(minutes=10),
            "10 min",
            timedelta(hours=3),
            hour_or_date,
            narrow_tick=timedelta(hours=6),
        ),
        Span("week", "week", timedelta(days=7), timedelta(hours=1), "an hour", timedelta(days=1), weekday_words),
        Span("90d", "90 days", timedelta(days=90), timedelta(days=1), "a day", None, day_words),
    )
}
DEFAULT_SPAN = "day"


@dataclass(frozen=True)
class XTick:
    """A labelled time: `x` a fraction of the width; `anchor` keeps the edges' labels inside."""

    x: float
    label: str
    narrow: bool = True  # kept on a phone's width

    @property
    def anchor(self) -> str:
        return "start" if self.x < 0.04 else "end" if self.x > 0.96 else "middle"


@dataclass(frozen=True)
class YTick:
    y: float  # in plot units, from the top
    label: str


@dataclass(frozen=True)
class Band:
    """An incident's time, shaded: down (red) or degraded (amber)."""

    x: float
    width: float
    kind: str
    title: str


@dataclass(frozen=True)
class Mark:
    """A slot with failed checks, marked at the bottom of the plot."""

    x: float
    title: str


@dataclass(frozen=True)
class TimeChart:
    title: str
    summary: str  # "Median 42 ms, 3 of 2,880 checks failed."
    description: str  # the summary and the incidents, for those who do not see the chart
    empty: bool
    lines: tuple[str, ...]  # SVG polyline points, one line per run of checks without a gap
    dots: tuple[tuple[float, float], ...]  # answered checks alone between gaps
    bands: tuple[Band, ...]
    marks: tuple[Mark, ...]
    x_ticks: tuple[XTick, ...]
    y_ticks: tuple[YTick, ...]
    slot_words: str
    width: float = PLOT_W
    height: float = PLOT_H


class Placement:
    """Times to x: [since, until] onto [0, 1]."""

    def __init__(self, since: datetime, until: datetime) -> None:
        self.since, self.until = since, until
        self.seconds = max((until - since).total_seconds(), 1.0)

    def fraction(self, at: datetime) -> float:
        return min(max((at - self.since).total_seconds() / self.seconds, 0.0), 1.0)

    def x(self, at: datetime) -> float:
        return self.fraction(at) * PLOT_W


def time_chart(checks: SpanChecks, span: Span, name: str) -> TimeChart:
    """The response-time chart of a monitor's checks over `span`."""
    place = Placement(checks.since, checks.until)
    scale = nice_scale(max((s.latency_avg_ms or 0.0 for s in checks.slots), default=0.0))
    top = scale[-1]
    lines, dots = response_lines(checks.slots, checks.slot, place, top)
    bands = tuple(period_band(p, place) for p in checks.periods)
    summary = span_summary(checks.figures)
    return TimeChart(
        title=f"Response time of {name} over the last {span.words} (UTC)",
        summary=summary,
        description=" ".join([summary, *incident_words(checks.periods)]),
        empty=not checks.slots,
        lines=lines,
        dots=dots,
        bands=bands,
        marks=tuple(failed_mark(s, checks.slot, place) for s in checks.slots if s.down),
        x_ticks=tuple(time_tick(span, place, at) for at in tick_times(span, place)),
        y_ticks=value_ticks(scale) if any(s.answered for s in checks.slots) else (),
        slot_words=span.slot_words,
    )


def nice_scale(highest: float, intervals: int = 5) -> list[float]:
    """Round values from 0 to at least `highest`, about `intervals` steps of 1, 2, 2.5 or 5
    times a power of ten: 0, 100, ... 500 for 437."""
    rough = (highest if highest > 0 else 1.0) / intervals
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= rough - 1e-9)
    steps = max(math.ceil(highest / step - 1e-9), 1)
    return [round(step * i, 9) for i in range(steps + 1)]


def value_ticks(scale: list[float]) -> tuple[YTick, ...]:
    """The response-time axis: each round value at its height, 0 at the bottom."""
    return tuple(YTick(PLOT_H * (1 - value / scale[-1]), ms_words(value, scale[1])) for value in scale)


def ms_words(value: float, step: float) -> str:
    """A value of an axis whose ticks are `step` apart, with the decimals the step needs
    (2.5 ms steps: 0.0, 2.5, 5.0 ...)."""
    decimals = 0
    while decimals < 3 and round(step * 10**decimals, 6) % 1:
        decimals += 1
    return f"{value:,.{decimals}f} ms"


def median_words(ms: float) -> str:
    return f"{ms:,.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def response_lines(
    slots: Sequence[Slot], slot: timedelta, place: Placement, top: float
) -> tuple[tuple[str, ...], tuple[tuple[float, float], ...]]:
    """The answered slots' average response times, as lines broken where there were no
    checks (a pause over GAP times the usual one) and where every check failed (a failed
    check's time is how long it took to fail, not a response time)."""
    usual = usual_spacing(slots, slot)
    runs: list[list[tuple[float, float]]] = [[]]
    previous: Slot | None = None
    for s in slots:
        paused = previous is not None and (s.start - previous.start) > usual * GAP
        if (s.latency_avg_ms is None or paused) and runs[-1]:
            runs.append([])
        if s.latency_avg_ms is not None:
            middle = min(s.start + slot / 2, place.until)
            runs[-1].append((place.x(middle), PLOT_H * (1 - s.latency_avg_ms / top)))
        previous = s
    lines = tuple(" ".join(f"{x:.1f},{y:.1f}" for x, y in run) for run in runs if len(run) > 1)
    return lines, tuple(run[0] for run in runs if len(run) == 1)


def usual_spacing(slots: Sequence[Slot], slot: timedelta) -> timedelta:
    """The median time between consecutive slots with checks: a slot for a monitor checked
    more often than its slots, its interval for one checked less often."""
    spacings = [(b.start - a.start).total_seconds() for a, b in pairwise(slots)]
    return max(timedelta(seconds=statistics.median(spacings)), slot) if spacings else slot


def period_band(period: Period, place: Placement) -> Band:
    start = place.x(period.start)
    end = place.x(period.end or place.until)
    width = max(end - start, NARROWEST_BAND)
    return Band(min(start, PLOT_W - width), width, period.severity, period_words(period))


def period_words(period: Period) -> str:
    kind = "Down" if period.severity == "down" else "Degraded"
    if period.end is None:
        told = f"{kind} since {when(period.start)} (still)"
    else:
        lasted = format_duration((period.end - period.start).total_seconds())
        told = f"{kind} {when(period.start)} to {when(period.end)} ({lasted})"
    planned = " in planned maintenance" if period.planned else ""
    return f"{told}{planned}" + (f": {words(period.cause)}" if period.cause else "")


def incident_words(periods: Sequence[Period], at_most: int = 3) -> list[str]:
    """The latest incidents in words, for the chart's text alternative."""
    told = [period_words(p) + "." for p in periods[-at_most:]]
    if len(periods) > at_most:
        told.insert(0, f"{len(periods)} incidents, the latest:")
    return told


def failed_mark(s: Slot, slot: timedelta, place: Placement) -> Mark:
    middle = min(s.start + slot / 2, place.until)
    return Mark(place.x(middle), f"{when(s.start)}: {s.down:,} of {s.checks:,} checks failed")


def span_summary(figures: WindowFigures) -> str:
    if not figures.checks:
        return "There were no checks in this span."
    median = figures.latency_ms.p50
    # No median when every check failed, or for a push job that never says when it /start-ed.
    said = f"Median {median_words(median)}" if median is not None else "No response times"
    degraded = f", {figures.degraded:,} degraded" if figures.degraded else ""
    return f"{said}, {figures.down:,} of {figures.checks:,} checks failed{degraded}."


def time_tick(span: Span, place: Placement, at: datetime) -> XTick:
    narrow = span.narrow_tick is None or at.timestamp() % span.narrow_tick.total_seconds() == 0
    return XTick(place.fraction(at), span.tick_words(at), narrow)


def tick_times(span: Span, place: Placement) -> list[datetime]:
    """Where the time axis is labelled: on whole multiples of the span's tick (UTC), or on
    the 1st and 15th of each month."""
    if span.tick is None:
        first = place.since.date()
        days = (first + timedelta(days=n) for n in range((place.until.date() - first).days + 1))
        midnights = (datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days if d.day in (1, 15))
        return [at for at in midnights if place.since <= at <= place.until]
    step = int(span.tick.total_seconds())
    first_at = -(-math.ceil(place.since.timestamp()) // step) * step
    return [datetime.fromtimestamp(at, UTC) for at in range(first_at, math.floor(place.until.timestamp()) + 1, step)]


# -- the certificates' calendar ------------------------------------------------------------

CALENDAR_DAYS = 120  # how far ahead the calendar reaches
CALENDAR_PAST = 15  # days drawn before today: expired certificates sit there
CALENDAR_TICKS = (0, 30, 60, 90, 120)
CALENDAR_ROWS = 40  # rows drawn at most; the list below the calendar has every certificate
RENEWAL_CODES = frozenset({"cert_expiring", "cert_renewal_overdue"})


@dataclass(frozen=True)
class CalendarTick:
    x: float
    offset: str  # "today", "+30 d" (short: five of them fit a phone's width)
    day: str  # "Apr 2"


@dataclass(frozen=True)
class CalendarRow:
    name: str
    x: float  # where it expires, a fraction of the width
    expires: str  # the date, ISO
    state: str  # expired | soon | ok
    words: str  # what the state means, in words: "expired 3 days ago", "renew soon"
    monitors: str  # where it is served


@dataclass(frozen=True)
class Calendar:
    today_x: float
    ticks: tuple[CalendarTick, ...]
    rows: tuple[CalendarRow, ...]
    later: int  # certificates that expire after the calendar's end
    left_out: int  # rows past CALENDAR_ROWS
    summary: str


def calendar_x(days: float) -> float:
    """A day from today onto the calendar's width (before the past edge: at it)."""
    shown = min(max(days, -CALENDAR_PAST), CALENDAR_DAYS)
    return (shown + CALENDAR_PAST) / (CALENDAR_PAST + CALENDAR_DAYS)


def expiry_calendar(certificates: Sequence[CertificateRecord], now: datetime) -> Calendar:
    """Each certificate expiring within CALENDAR_DAYS, or expired, at its date on an axis of
    dates from today; soonest first, as the inventory lists them."""
    today = now.astimezone(UTC).date()
    ticks = tuple(
        CalendarTick(calendar_x(n), "today" if n == 0 else f"+{n} d", day_words(today + timedelta(days=n)))
        for n in CALENDAR_TICKS
    )
    within = [c for c in certificates if c.days_left < CALENDAR_DAYS]
    rows = tuple(calendar_row(c) for c in within[:CALENDAR_ROWS])
    expired = sum(1 for c in within if c.days_left < 0)
    soon = sum(1 for c in within if expiry_state(c) == "soon")
    summary = (
        f"{expired} expired, {soon} to renew soon, {len(within) - expired - soon} more within {CALENDAR_DAYS} days, "
        f"{len(certificates) - len(within)} later."
    )
    return Calendar(calendar_x(0), ticks, rows, len(certificates) - len(within), len(within) - len(rows), summary)


def expiry_state(cert: CertificateRecord) -> str:
    """expired; soon (inside the warning threshold, or the check warned of its renewal); ok."""
    if cert.days_left < 0:
        return "expired"
    problems = set(cert.details.get("problems") or ())
    return "soon" if cert.days_left < CERT_WARN_DAYS or problems & RENEWAL_CODES else "ok"


def calendar_row(cert: CertificateRecord) -> CalendarRow:
    state = expiry_state(cert)
    days = abs(cert.days_left)
    count = f"{days:.0f} day{'' if round(days) == 1 else 's'}"
    said = {
        "expired": f"EXPIRED {count} ago",
        "soon": f"expires in {count}: renew soon",
        "ok": f"expires in {count}",
    }[state]
    monitors = ", ".join(dict.fromkeys(p.monitor for p in cert.places))
    expires = cert.not_after.astimezone(UTC).date().isoformat()
    return CalendarRow(common_name(cert.subject), calendar_x(cert.days_left), expires, state, said, monitors)


def common_name(subject: str) -> str:
    """The CN of an RFC 4514 subject ("CN=shop.example,O=Shop"), else the subject whole."""
    found = re.search(r"(?:^|,)CN=((?:\\.|[^,\\])*)", subject)
    return found.group(1).replace("\\", "") if found else subject
