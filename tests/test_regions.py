"""Regions as reporters write them, to the one value they are counted under (ronda/regions.py),
and back to the words the status page and dashboard show."""

from __future__ import annotations

import pytest

from ronda.regions import MAX_LENGTH, display_name, normalise


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        # countries: codes and names, any case, in several languages
        ("it", "IT"),
        ("IT", "IT"),
        ("ITA", "IT"),
        ("Italy", "IT"),
        ("italia", "IT"),
        ("Italien", "IT"),
        ("Deutschland", "DE"),
        ("United States of America", "US"),
        ("USA", "US"),
        ("Korea, Republic of", "KR"),
        ("South Korea", "KR"),
        ("the Netherlands", "NL"),
        ("Holland", "NL"),
        ("UK", "GB"),
        ("Russia", "RU"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("Côte d'Ivoire", "CI"),
        ("cote d ivoire", "CI"),
        # subdivisions: ISO 3166-2 codes and names, with or without accents
        ("US-CA", "US-CA"),
        ("us-ca", "US-CA"),
        (" California ", "US-CA"),
        ("Kalifornien", "US-CA"),
        ("Milano", "IT-MI"),
        ("MILANO", "IT-MI"),
        ("Roma", "IT-RM"),
        ("Rome", "IT-RM"),
        ("Lombardia", "IT-25"),
        ("Bavaria", "DE-BY"),
        ("Bayern", "DE-BY"),
        ("São Paulo", "BR-SP"),
        ("Sao Paulo", "BR-SP"),
        ("Ile de France", "FR-IDF"),
        ("England", "GB-ENG"),
        ("fr-75c", "FR-75C"),
        # a country's name beats a subdivision's
        ("Georgia", "GE"),
        ("Luxembourg", "LU"),
        ("Mexico", "MX"),
        # "place, where": the place inside where, else where itself
        ("Georgia, United States", "US-GA"),
        ("Georgia, US", "US-GA"),
        ("Milano, Italia", "IT-MI"),
        ("Milano, Lombardia", "IT-MI"),
        ("Paris, Texas", "US-TX"),
        ("Paris, Texas, USA", "US-TX"),
        ("Springfield, USA", "US"),
        ("Limburg, Belgium", "BE-VLI"),
        ("Cordoba, Spain", "ES-CO"),
        # one name in several countries names none of them: the text stays
        ("Limburg", "Limburg"),
        ("Córdoba", "Córdoba"),
        # two divisions of one name in one country: the larger
        ("Dhaka", "BD-C"),
        # free text, made plain: one place however it is typed
        ("milano town ", "Milano Town"),
        ("MILANO   TOWN", "Milano Town"),
        ("milano\ttown", "Milano Town"),
        ("Ｍｉｌａｎｏ Ｔｏｗｎ", "Milano Town"),  # fullwidth letters (NFKC)
        ("mi\x00lano\u202e town\x1b", "Milano Town"),  # control and bidi characters
        ("London", "London"),
        ("new york city", "New York City"),
        ("o'brien's place", "O'brien's Place"),
        # codes that exist nowhere are text, and text never looks like a code
        ("ZZ", "Zz"),
        ("XK", "Xk"),
        ("it-xx", "It-xx"),
        # nothing is unknown
        ("", ""),
        ("   ", ""),
        ("\x00\u200b", ""),
    ],
)
def test_a_region_is_stored_as_its_iso_code_or_as_plain_text(written, stored):
    assert normalise(written) == stored


def test_free_text_is_trimmed_to_the_column_after_it_is_made_plain():
    # NFKC turns one ligature into 18 characters: the result still fits the column.
    assert len(normalise("\ufdfa" * 10)) <= MAX_LENGTH
    assert normalise("x" * 200) == "X" + "x" * (MAX_LENGTH - 1)
    assert normalise("ab " * 30) == ("Ab " * 30)[:MAX_LENGTH].rstrip()


@pytest.mark.parametrize(
    ("region", "locale", "shown"),
    [
        ("US-CA", "en", "California, United States"),
        ("US-CA", "it", "California, Stati Uniti"),
        ("IT", "en", "Italy"),
        ("IT", "it", "Italia"),
        ("KR", "en", "South Korea"),
        ("DE-BY", "en", "Bavaria, Germany"),
        ("DE-BY", "it", "Baviera, Germania"),
        ("IT-MI", "en", "Milano, Italy"),
        ("GB-ENG", "en", "England, United Kingdom"),
        ("Milano Town", "en", "Milano Town"),
        ("Zz", "en", "Zz"),
        ("", "en", ""),
    ],
)
def test_a_stored_region_reads_as_its_name_in_the_visitors_language(region, locale, shown):
    assert display_name(region, locale) == shown


@pytest.mark.parametrize("written", ["California", "Italia", "Milano, Lombardia", "Bayern", "Paris, Texas"])
def test_a_regions_display_name_normalises_back_to_it(written):
    code = normalise(written)
    assert normalise(display_name(code)) == code
    assert normalise(display_name(code, "it")) == code
