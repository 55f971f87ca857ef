"""Where a reporter is, as one stable value, so the same place counts as one however it
was written. Pure: pycountry's ISO 3166 data (countries, their subdivisions and the names
in several languages) and nothing else.

- A country, by code or name, is its alpha-2 code: "it", "ITA", "Italy", "Italia" -> "IT".
- A subdivision is its ISO 3166-2 code: "us-ca", "California" -> "US-CA", "Milano" -> "IT-MI".
- A country name beats a subdivision's: "Georgia" -> "GE", not "US-GA".
- "Place, Where" narrows the place to where: "Georgia, United States" -> "US-GA",
  "Paris, Texas" -> "US-TX" (no Paris in Texas: the state), "Springfield, USA" -> "US".
- A subdivision name used in several countries ("Limburg", "Córdoba") says no country, so it
  is not a code; within one country, the larger of two same-named divisions wins ("Dhaka",
  the division, over its district).
- Anything else is the text itself, made plain (ronda/textclean.py) and capitalised word by
  word: "milano  town" and "Milano Town" are one place. Such text can never look like a
  code, since a code's letters are all capitals and free text's second letter is not.
- Nothing (or only spaces) is "": unknown.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from string import capwords

import pycountry

from ronda.textclean import plain

MAX_LENGTH = 64  # the reports table's region column
# Languages whose names are recognised: English (pycountry's own), the status page's Italian,
# and the languages most of ronda's visitors likely write in.
LANGUAGES = ("en", "it", "de", "fr", "es", "pt")
# What people type that ISO 3166 does not call a country (it has "Russian Federation",
# "Türkiye", "United Kingdom"...). Hand-written: pycountry keeps only ISO's names.
ALIASES = {
    "america": "US",
    "britain": "GB",
    "brunei": "BN",
    "burma": "MM",
    "cape verde": "CV",
    "dr congo": "CD",
    "east timor": "TL",
    "great britain": "GB",
    "holland": "NL",
    "ivory coast": "CI",
    "macedonia": "MK",
    "micronesia": "FM",
    "palestine": "PS",
    "russia": "RU",
    "swaziland": "SZ",
    "turkey": "TR",
    "uk": "GB",
    "vatican": "VA",
}
_SUBDIVISION_CODE = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class _Place:
    code: str
    country: str  # its alpha-2 code
    depth: int  # 0 for a top-level subdivision, 1 for one inside it, ...


@dataclass(frozen=True)
class _Index:
    countries: dict[str, str]  # key -> alpha-2; a key naming two countries is left out
    subdivisions: dict[str, tuple[_Place, ...]]  # key -> every subdivision of that name


def normalise(text: str) -> str:
    """The region `text` names: an ISO 3166 code when it names one for sure, else the text
    made plain (at most MAX_LENGTH characters); "" for nothing."""
    cleaned = plain(text)
    if not cleaned:
        return ""
    code = _code(cleaned)
    if code is not None:
        return code
    return capwords(cleaned.casefold())[:MAX_LENGTH].rstrip()


def display_name(region: str, locale: str = "en") -> str:
    """How a stored region reads: "US-CA" -> "California, United States", "IT" -> "Italy"
    (in `locale`'s words where pycountry has them: "California, Stati Uniti"); free text
    as it is."""
    if _SUBDIVISION_CODE.fullmatch(region):
        subdivision = pycountry.subdivisions.get(code=region)
        if subdivision is not None:
            name = _translated("iso3166-2", locale, subdivision.name)
            return f"{name}, {display_name(subdivision.country_code, locale)}"
    if _COUNTRY_CODE.fullmatch(region):
        country = pycountry.countries.get(alpha_2=region)
        if country is not None:
            return _country_name(country, locale)
    return region


def _country_name(country: pycountry.db.Country, locale: str) -> str:
    """The short name ("South Korea" rather than "Korea, Republic of"), in `locale`'s words
    when its catalogue has either name."""
    common = getattr(country, "common_name", None) or country.name
    for name in (common, country.name):
        translated = _translated("iso3166-1", locale, name)
        if translated != name:
            return translated
    return str(common)


def _code(text: str) -> str | None:
    """The code `text` names, trying it whole, then as "place, where" at each comma (where
    may itself be "place, where": "Paris, Texas, USA")."""
    whole = _code_of(text)
    if whole is not None:
        return whole
    for at in [i for i, char in enumerate(text) if char == ","]:
        where = _code(text[at + 1 :])
        if where is None:
            continue
        inside = _subdivision(_key(text[:at]), where.partition("-")[0])
        return inside if inside is not None else where
    return None


def _code_of(text: str) -> str | None:
    """A code written as one ("us-ca", "it", "ITA"), then a country's name, then a
    subdivision's."""
    upper = text.strip().upper()
    if _SUBDIVISION_CODE.fullmatch(upper) and pycountry.subdivisions.get(code=upper) is not None:
        return upper
    country = pycountry.countries.get(alpha_2=upper) if len(upper) == 2 else None
    country = pycountry.countries.get(alpha_3=upper) if len(upper) == 3 else country
    if country is not None:
        return str(country.alpha_2)
    key = _key(text)
    index = _index()
    if key in index.countries:
        return index.countries[key]
    return _subdivision(key, None)


def _subdivision(key: str, country: str | None) -> str | None:
    """The one subdivision of that name (in `country`, when given), or None when there is
    none or the name is used in several countries."""
    places = [p for p in _index().subdivisions.get(key, ()) if country is None or p.country == country]
    if not places or len({p.country for p in places}) > 1:
        return None
    top = min(p.depth for p in places)
    widest = [p for p in places if p.depth == top]
    return widest[0].code if len(widest) == 1 else None


def _key(text: str) -> str:
    """What two ways of writing one name share: no accents, no case, words only
    ("Île-de-France" and "ile de france", "Côte d'Ivoire" and "cote d ivoire")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    words = _NOT_WORD.sub(" ", bare).strip()
    return words.removeprefix("the ")


@cache
def _index() -> _Index:
    """Every name of every country and subdivision, in LANGUAGES, built once."""
    countries: dict[str, set[str]] = {}
    for country in pycountry.countries:
        names = {country.name}
        names |= {getattr(country, a) for a in ("official_name", "common_name") if hasattr(country, a)}
        names |= {_translated("iso3166-1", language, name) for name in set(names) for language in LANGUAGES}
        for name in names:
            countries.setdefault(_key(name), set()).add(country.alpha_2)
    for alias, code in ALIASES.items():
        countries.setdefault(alias, set()).add(code)
    subdivisions: dict[str, list[_Place]] = {}
    for subdivision in pycountry.subdivisions:
        place = _Place(subdivision.code, subdivision.country_code, _depth(subdivision.code))
        names = {_translated("iso3166-2", language, subdivision.name) for language in LANGUAGES} | {subdivision.name}
        for key in {_key(name) for name in names}:
            subdivisions.setdefault(key, []).append(place)
    return _Index(
        countries={key: next(iter(codes)) for key, codes in countries.items() if len(codes) == 1 and key},
        subdivisions={key: tuple(places) for key, places in subdivisions.items() if key},
    )


def _depth(code: str) -> int:
    depth = 0
    parent = getattr(pycountry.subdivisions.get(code=code), "parent_code", None)
    while parent is not None and depth < 5:
        depth += 1
        parent = getattr(pycountry.subdivisions.get(code=parent), "parent_code", None)
    return depth


def _translated(domain: str, language: str, name: str) -> str:
    return _catalogue(domain, language).gettext(name)


@cache
def _catalogue(domain: str, language: str) -> gettext.NullTranslations:
    return gettext.translation(domain, pycountry.LOCALES_DIR, [language], fallback=True)
