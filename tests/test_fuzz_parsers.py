"""Every parser of text a person or a stranger writes, fed anything: it returns a value or
raises its own documented error (ronda's error tree, or the error its docstring names),
never another exception. A check that meets another exception becomes `protocol_error`
(ronda/check.py) instead of naming the fault; these properties keep that for the unforeseen.

The default profile runs 200 examples per property; `HYPOTHESIS_PROFILE=fuzz` runs 20,000
(docs/testing.md). Redirects have their own properties in tests/test_redirects.py;
certificates in tests/test_fuzz_certs.py; DNS answers in tests/test_fuzz_dns.py."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from ronda import soap
from ronda.durations import format_duration, parse_duration
from ronda.errors import UsageError
from ronda.probes import onvif
from ronda.probes.pageassets import page_assets, srcset_urls, stylesheet_urls
from ronda.probes.sdp import is_sdp, media_streams, stream_words
from ronda.probes.vendor import NotAStatusPage, VendorReport
from ronda.probes.vendor_feed import read_feed
from ronda.probes.vendor_json import read_statuspage
from ronda.schemes import SCHEMES
from ronda.target import Target, parse_nameserver, parse_resolve, parse_subprotocol, parse_target

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def mixed(
    pieces: list[str], max_size: int = 16, alphabet: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[str]:
    """Text made of pieces that reach a parser's corners, mixed with any text between them."""
    free = st.text(alphabet, max_size=8) if alphabet is not None else st.text(max_size=8)
    return st.lists(st.one_of(st.sampled_from(pieces), free), max_size=max_size).map("".join)


# --- the target parser: URLs of every scheme, --resolve, --nameserver ------------------------------

URL_PIECES = [
    *(f"{scheme}://" for scheme in SCHEMES),
    "file:///",
    "//",
    "[",
    "]",
    "::1",
    ":",
    "@",
    "/",
    "?",
    "#",
    "%",
    "%00",
    "%zz",
    "&",
    "=",
    "type=",
    "server=",
    "password=",
    "component=",
    "localhost",
    "xn--",
    ".",
    "65536",
    "0",
    "²",
    "١",
    " ",
    "\t",
    "\n",
    "\x00",
]


@given(mixed(URL_PIECES))
@example("http://[::1/")
@example("http://a.test:²/")
@example("rtsp://user:p%zz@cam.test/")
@example("file:///%00")
def test_any_url_is_a_target_or_a_usage_error(url):
    try:
        target = parse_target(url)
    except UsageError as exc:
        assert str(exc)
        return
    assert isinstance(target, Target)
    assert target.scheme in SCHEMES
    assert 0 <= target.port < 65536
    if target.password:  # kept, and masked in the URL verdicts show
        assert ":***@" in target.url


RESOLVE_PIECES = ["shop.test", ":", "443", "0", "65536", "²", "١٢", "127.0.0.1", "[::1]", "::1", ",", "[", "]", " "]


@given(mixed(RESOLVE_PIECES))
@example("a:²:127.0.0.1")
@example("a:443:[::1")
def test_any_resolve_entry_is_pinned_or_a_usage_error(entry):
    try:
        (host, port), addresses = parse_resolve(entry)
    except UsageError as exc:
        assert str(exc).startswith("--resolve ")
        return
    assert host and 0 < port < 65536 and addresses


@given(mixed(RESOLVE_PIECES))
@example("127.0.0.1:²")
@example("[::1]:¹")
def test_any_nameserver_is_an_address_and_port_or_a_usage_error(text):
    try:
        address, port = parse_nameserver(text)
    except UsageError as exc:
        assert str(exc).startswith("--nameserver ")
        return
    assert address and 0 < port < 65536


@given(st.text(max_size=20))
def test_any_subprotocol_is_a_token_or_a_usage_error(text):
    try:
        assert parse_subprotocol(text) == text
    except UsageError as exc:
        assert str(exc).startswith("--subprotocol ")


# --- durations -----------------------------------------------------------------------------------

DURATION_PIECES = ["ms", "s", "m", "h", "d", ".", "0", "1", "9" * 400, " ", "-", "e", "inf", "nan", "١", "²"]


@given(st.one_of(mixed(DURATION_PIECES), st.integers(), st.floats(), st.booleans()))
@example("9" * 400)
@example(float("nan"))
@example(float("inf"))
@example(10**400)
def test_any_duration_is_finite_positive_seconds_or_a_value_error(value):
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert math.isfinite(seconds) and seconds > 0
    assert format_duration(seconds)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_number_of_seconds_is_said_in_words(seconds):
    assert format_duration(seconds).split(" ")[0].isdigit()


# --- HTML and CSS asset extraction ----------------------------------------------------------------

HTML_PIECES = [
    "<img src=",
    "<img srcset='",
    "<source srcset=",
    "<script src=",
    '<link rel="stylesheet" href=',
    "<link rel=icon href=",
    "<video poster=",
    "<base href=",
    "<style>",
    "</style>",
    "<div style='background:url(",
    "@import ",
    "url(",
    ")",
    "image-set(",
    "@namespace url(",
    "@media screen{",
    "}",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<!",
    "<?",
    "&#",
    "&#x110000;",
    "&amp;",
    "http://",
    "https://",
    "//",
    "[::1]",
    "[zz::1",
    ":65536",
    ":0",
    "xn--",
    "bücher",
    "\\",
    "'",
    '"',
    ">",
    "<",
    ",",
    " 1x",
    " 2w",
    "/a.png",
]


@given(
    mixed(HTML_PIECES, max_size=30), st.sampled_from(["https://shop.test/a/", "http://[::1]:8080/", "https://x.test"])
)
@example("<base href='http://[zz'><img src=a.png>", "https://shop.test/")
@example("<img src='http://bücher..test/'>", "https://shop.test/")
@example("<![if x]><img src=a>", "https://shop.test/")
@example("<![::1]", "https://shop.test/a/")  # found by the fuzz profile: the standard library's AssertionError
def test_any_page_yields_http_asset_urls(html, page_url):
    assets = page_assets(html.encode("utf-8", "surrogatepass"), page_url)
    for url in assets.urls:
        assert url.startswith(("http://", "https://")), url
    assert set(assets.stylesheets) <= set(assets.urls)


@given(st.binary(max_size=300), st.sampled_from(["https://shop.test/", "http://[::1]:8080/x"]))
def test_any_bytes_as_a_page_yield_http_asset_urls(data, page_url):
    for url in page_assets(data, page_url).urls:
        assert url.startswith(("http://", "https://"))


@given(
    st.one_of(mixed(HTML_PIECES, max_size=30).map(str.encode), st.binary(max_size=300)),
    st.one_of(st.none(), st.sampled_from(["utf-8", "utf-16", "latin-1", "x-bogus", ""]), st.text(max_size=10)),
)
@example(b"\xff\xfe@import 'a';", "utf-16")
@example(b'@charset "bogus"; a{b:url(x)}', None)
def test_any_stylesheet_yields_http_urls(css, charset):
    for url in stylesheet_urls(css, "https://shop.test/css/site.css", charset):
        assert url.startswith(("http://", "https://"))


@given(mixed([",", " ", "(", ")", "1x", "a.png", "a.jpg?w=1,2"]))
def test_any_srcset_yields_urls_without_spaces(value):
    for url in srcset_urls(value):
        assert url and not any(char.isspace() for char in url)


# --- SDP ------------------------------------------------------------------------------------------

SDP_PIECES = [
    "v=0\r\n",
    "o=- 1 1 IN IP4 127.0.0.1\r\n",
    "s=x\r\n",
    "m=video ",
    "m=audio ",
    "m=application ",
    "0 ",
    "65536 ",
    "-1 ",
    "RTP/AVP ",
    "96",
    "a=rtpmap:",
    "96 H264/90000",
    "/",
    "a=control:",
    "trackID=1",
    "a=fmtp:",
    "c=IN IP4 0.0.0.0\r\n",
    "\r\n",
    "\n",
    " ",
    "=",
    ":",
    "9" * 40,
]


@given(mixed(SDP_PIECES, max_size=30))
@example("v=0\r\nm=video 99999999999999999999999 RTP/AVP 96\r\na=rtpmap:96 H264/x\r\n")
@example("v=0\r\nm=video 0 RTP/AVP\r\n")
def test_any_description_yields_streams(text):
    is_sdp(text)
    for stream in media_streams(text):
        assert isinstance(stream.port, int)
        assert stream_words(stream.to_json())
        json.dumps(stream.to_json())


# --- SOAP, and the ONVIF answers read from it ------------------------------------------------------

SOAP_PIECES = [
    '<?xml version="1.0"?>',
    f'<s:Envelope xmlns:s="{soap.SOAP_ENV}">',
    "</s:Envelope>",
    "<s:Header>",
    "</s:Header>",
    "<s:Body>",
    "</s:Body>",
    "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value>",
    "</s:Subcode></s:Code><s:Reason><s:Text>no</s:Text></s:Reason></s:Fault>",
    "<Security><UsernameToken><Username>u</Username><Password>p</Password><Nonce>",
    "</Nonce><Created>x</Created></UsernameToken></Security>",
    "<SystemDateAndTime><UTCDateTime><Date><Year>",
    "</Year><Month>",
    "</Month><Day>",
    "</Day></Date><Time><Hour>",
    "</Hour><Minute>",
    "</Minute><Second>",
    "</Second></Time></UTCDateTime></SystemDateAndTime>",
    "<GetSystemDateAndTimeResponse>",
    "</GetSystemDateAndTimeResponse>",
    "0",
    "13",
    "2026",
    "9" * 30,
    "²",
    "<!DOCTYPE x [<!ENTITY a 'b'>]>",
    "&a;",
    "<![CDATA[",
    "]]>",
    "<html>",
    "<",
    ">",
    "&",
    "\x00",
]


def soap_answers() -> st.SearchStrategy[bytes]:
    return st.one_of(
        mixed(SOAP_PIECES, max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.binary(max_size=300),
    )


@given(soap_answers())
@example(f'<s:Envelope xmlns:s="{soap.SOAP_ENV}"><s:Body><SystemDateAndTime><UTCDateTime><Date><Year>'.encode())
@example(
    (
        f'<s:Envelope xmlns:s="{soap.SOAP_ENV}"><s:Body><GetSystemDateAndTimeResponse><SystemDateAndTime>'
        "<UTCDateTime><Date><Year>99999999999999999999</Year><Month>1</Month><Day>1</Day></Date><Time><Hour>0</Hour>"
        "<Minute>0</Minute><Second>0</Second></Time></UTCDateTime></SystemDateAndTime></GetSystemDateAndTimeResponse>"
        "</s:Body></s:Envelope>"
    ).encode()
)
@example(b"\xef\xbb\xbf<?xml version='1.0' encoding='bogus'?><x/>")
def test_any_answer_is_an_envelope_or_a_soap_error(data):
    try:
        message = soap.parse(data)
    except soap.SoapError as exc:
        assert str(exc)
        return
    fault = soap.fault_of(message)
    if fault is not None:
        assert isinstance(fault.not_authorized, bool)
        str(fault)
    soap.read_username_token(message)
    try:
        onvif.utc_time(message)
    except ValueError as exc:  # the device answered, but not a time: said in words
        assert str(exc)


# --- vendor status pages: Statuspage JSON and incident feeds --------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(
        [
            "operational",
            "MAJOR_OUTAGE",
            "minor",
            "resolved",
            "in_progress",
            "2026-03-01T11:00:00Z",
            "2026-13-45T99:99:99Z",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
        ]
    ),
    st.text(max_size=10),
)
JSON_KEYS = st.sampled_from(
    [
        "page",
        "name",
        "status",
        "indicator",
        "description",
        "components",
        "incidents",
        "scheduled_maintenances",
        "id",
        "group",
        "group_id",
        "impact",
        "shortlink",
        "updated_at",
        "x",
    ]
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(JSON_KEYS, inner, max_size=6)),
    max_leaves=30,
)


def statuspage_bodies() -> st.SearchStrategy[bytes]:
    documents = st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=6).map(lambda d: json.dumps(d).encode())
    return st.one_of(documents, JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200))


@given(statuspage_bodies(), st.lists(st.text(max_size=8), max_size=3))
@example(b"[" * 100_000, [])
@example(
    b'{"status": {"indicator": "none"}, "incidents": '
    b'[{"name": "x", "status": "y", "updated_at": "9999-12-31T23:59:59-23:59"}]}',
    [],
)
@example(b'{"components": [{"name": "a", "status": "operational", "group": true, "id": "g"}]}', ["a"])
def test_any_json_is_a_statuspage_report_or_not_a_status_page(body, watched):
    try:
        report = read_statuspage(body, "https://status.test/api/v2/summary.json", watched)
    except NotAStatusPage as exc:
        assert str(exc)
        return
    assert isinstance(report, VendorReport)
    json.dumps(report.to_json())


FEED_PIECES = [
    '<?xml version="1.0"?>',
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    "</feed>",
    "<entry>",
    "</entry>",
    "<title>",
    "</title>",
    "<updated>",
    "</updated>",
    "<summary>",
    "</summary>",
    '<link href="https://status.test/i/1"/>',
    "<rss><channel>",
    "</channel></rss>",
    "<item>",
    "</item>",
    "<pubDate>",
    "</pubDate>",
    "<description>",
    "</description>",
    "2026-03-01T11:00:00Z",
    "2026-03-01T11:00:00",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "Sun, 01 Mar 2026 11:00:00 GMT",
    "Sun, 01 Mar 99999 11:00:00 GMT",
    "Sun, 01 Mar 2026 11:00:00 +9999",
    "Sun, 31 Dec 9999 23:59:59 -2359",
    "RESOLVED: ",
    "[Investigating] ",
    "Resolved - ",
    "&lt;strong&gt;",
    "<!DOCTYPE x>",
    "<html>",
    "<",
    ">",
    "&",
]


@given(
    st.one_of(
        mixed(FEED_PIECES, max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=200)
    ),
    st.lists(st.text(max_size=8), max_size=2),
)
@example(
    b"<rss><channel><item><title>x</title><pubDate>Sun, 31 Dec 9999 23:59:59 -2359</pubDate></item></channel></rss>",
    [],
)
@example(
    b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title>'
    b"<updated>0001-01-01T00:00:00+23:59</updated></entry></feed>",
    [],
)
def test_any_feed_is_a_report_or_not_a_status_page(body, watched):
    try:
        report = read_feed(body, "https://status.test/history.atom", watched, NOW)
    except NotAStatusPage as exc:
        assert str(exc)
        return
    assert isinstance(report, VendorReport)
    json.dumps(report.to_json())
