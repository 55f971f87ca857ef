"""The status page in the visitor's language: English or Italian, chosen from
`Accept-Language` (quality values honoured) or `?lang=`, with gettext catalogues in
ronda/web/locale and dates in the locale's own format (Babel).

One Jinja environment per locale, each with its catalogue installed through Jinja's i18n
extension: `{% trans %}` and `_()` then need nothing from the view, and no request can
see another's language. The compiled .mo files are committed beside their .po (a test keeps
them in step), so an install needs no build step and no compiling at start.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from fastapi.templating import Jinja2Templates

from ronda.web.templating import day_bars, make_templates

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "ronda"
LOCALES = ("en", "it")  # the first is the fallback, and the language the messages are written in


def preferred(header: str) -> list[str]:
    """Accept-Language's tags, best first: `it-IT,it;q=0.9,en;q=0.5` -> it-IT, it, en.
    Tags with q=0 are refused ones; equal qualities keep the header's order."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(accept_language: str, override: str | None = None) -> str:
    """The locale to answer in: `?lang=` when it is one ronda has, else the best match of
    the header, else English."""
    if override in LOCALES:
        return override
    found = Locale.negotiate(preferred(accept_language), LOCALES, sep="-")
    return str(found.language) if found is not None else LOCALES[0]


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    """The catalogue of `locale` (English is the messages themselves)."""
    return Translations.load(LOCALE_DIR, [locale], DOMAIN)


@lru_cache(maxsize=len(LOCALES))
def templates_for(locale: str) -> Jinja2Templates:
    """The templates, speaking `locale`: its catalogue, and date filters in its format."""
    templates = make_templates()
    env = templates.env
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        when=lambda at, zone="UTC": when(at, locale, zone),
        day=lambda value: day(value, locale),
        span=lambda seconds: span(seconds, locale),
        percent=lambda value: percent(value, locale),
        day_bars=lambda days, no_data: day_bars(
            days, no_data, lambda value: day(value, locale), lambda value: percent(value, locale)
        ),
    )
    return templates


# A status page shows 90 days of bars per component, each titled with its day and uptime:
# at 1,000 components Babel's formatting was half the page's making, for 90 distinct days.
@lru_cache(maxsize=1024)
def day(value: date, locale: str) -> str:
    return str(format_date(value, "medium", locale=locale))


@lru_cache(maxsize=4096)
def percent(value: float, locale: str) -> str:
    """99.95 -> 99,95 in Italian."""
    return str(format_decimal(value, "0.00", locale=locale))


def when(at: datetime, locale: str, zone: str = "UTC") -> str:
    """A moment in the page's time zone, as the locale writes it (`1 dic 2026, 19:30:00`)."""
    return format_datetime(at, "medium", tzinfo=ZoneInfo(zone), locale=locale)


def span(seconds: float | None, locale: str) -> str:
    """A duration in words: `3 hours`, `3 ore`."""
    if seconds is None:
        return ""
    return format_timedelta(timedelta(seconds=seconds), threshold=1.5, locale=locale)
