"""Where a Location leads (ronda/probes/redirects.py): a browser's repairs, a browser's
refusals, and, for any text a server may send, either a URL ronda can request or a
BadRedirect in words; never another exception."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ronda.probes.exchange import hop_for
from ronda.probes.redirects import BadRedirect, redirect_url

BASE = "https://shop.test:8443/a/b?c=d"


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("/x y", "https://shop.test:8443/x%20y"),
        ("c", "https://shop.test:8443/a/c"),
        ("//cdn.test/i.png", "https://cdn.test/i.png"),
        ("http://EXAMPLE.test", "http://example.test/"),
        ("http://bücher.test/", "http://xn--bcher-kva.test/"),
        ("http://faß.test/", "http://xn--fa-hia.test/"),  # IDNA 2008, as browsers: not "fass"
        ("http://[::1]:8080/p", "http://[::1]:8080/p"),
        ("/caf\u00c3\u00a9", "https://shop.test:8443/caf%C3%A9"),  # UTF-8 bytes read as Latin-1
        ("/100%25", "https://shop.test:8443/100%25"),  # an escape stays as it is
        ("mailto:shop@shop.test", "mailto:shop@shop.test"),  # no web page: left for the caller
    ],
)
def test_a_location_leads_where_a_browser_goes(location, url):
    assert redirect_url(BASE, location) == url


@pytest.mark.parametrize("location", ["http://a.test:65536/", "http://[zz::1]/", "http:///path", "http://a\x7f.test/"])
def test_a_location_no_browser_follows_is_refused_in_words(location):
    with pytest.raises(BadRedirect) as refused:
        redirect_url(BASE, location)
    assert str(refused.value)


# Text as a server may put it in a header: any Latin-1 character (HTTP reads header bytes so),
# with URL-ish pieces mixed in to reach the parser's corners.
PIECES = st.sampled_from(["http://", "https://", "//", "[", "]", ":", "@", "/", "?", "#", "%", "xn--", ".", "::1"])
HEADER_TEXT = st.lists(st.one_of(PIECES, st.text(st.characters(max_codepoint=0xFF), max_size=8)), max_size=12).map(
    "".join
)


@settings(max_examples=2000, deadline=None)
@given(HEADER_TEXT)
def test_any_location_is_a_requestable_url_or_a_bad_redirect(location):
    try:
        url = redirect_url(BASE, location)
    except BadRedirect:
        return
    if urlsplit(url).scheme.lower() in ("http", "https"):
        assert url.isascii() and " " not in url
        hop = hop_for(url)  # what ronda requests next must be a request it can make
        assert hop.host and 0 < hop.port < 65536 and hop.path.startswith("/")
