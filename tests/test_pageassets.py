"""Which URLs a page loads assets from: pure parsing of HTML and CSS, no network."""

from __future__ import annotations

import pytest

from ronda.probes.pageassets import page_assets, srcset_urls, stylesheet_urls

PAGE = "https://shop.test/catalog/index.html"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param('<img src="logo.png">', ["https://shop.test/catalog/logo.png"], id="img src, relative"),
        pytest.param('<img src="/logo.png">', ["https://shop.test/logo.png"], id="img src, from the root"),
        pytest.param(
            '<img srcset="small.png 1x, https://img.test/big.png 2x">',
            ["https://shop.test/catalog/small.png", "https://img.test/big.png"],
            id="img srcset with density descriptors",
        ),
        pytest.param(
            '<img src="a.png" srcset="a.png?w=480,crop 480w, b.png 800w">',
            [
                "https://shop.test/catalog/a.png",
                "https://shop.test/catalog/a.png?w=480,crop",
                "https://shop.test/catalog/b.png",
            ],
            id="img srcset with a comma inside a URL",
        ),
        pytest.param(
            '<picture><source srcset="https://img.test/p.webp" type="image/webp"><img src="p.jpg"></picture>',
            ["https://img.test/p.webp", "https://shop.test/catalog/p.jpg"],
            id="picture source srcset",
        ),
        pytest.param(
            '<video poster="https://media.test/p.jpg"></video>', ["https://media.test/p.jpg"], id="video poster"
        ),
        pytest.param(
            '<script src="//cdn.test/app.js"></script>', ["https://cdn.test/app.js"], id="script, scheme-relative"
        ),
        pytest.param(
            '<link rel="stylesheet" href="https://css.test/site.css">', ["https://css.test/site.css"], id="stylesheet"
        ),
        pytest.param(
            '<link rel="preload" as="font" href="https://fonts.test/f.woff2">',
            ["https://fonts.test/f.woff2"],
            id="preload",
        ),
        pytest.param(
            '<link rel="modulepreload" href="https://cdn.test/m.js">', ["https://cdn.test/m.js"], id="modulepreload"
        ),
        pytest.param('<link rel="shortcut icon" href="/favicon.ico">', ["https://shop.test/favicon.ico"], id="icon"),
        pytest.param(
            '<link rel="apple-touch-icon" href="https://img.test/t.png">',
            ["https://img.test/t.png"],
            id="apple-touch-icon",
        ),
        pytest.param(
            '<link rel="canonical" href="https://www.test/"><link rel="alternate stylesheet" href="alt.css">'
            '<a href="https://elsewhere.test/">a link is not an asset</a>',
            [],
            id="links the browser does not load",
        ),
        pytest.param(
            '<div style="background: url(&quot;https://img.test/hero.jpg&quot;) no-repeat"></div>',
            ["https://img.test/hero.jpg"],
            id="inline style url() with an entity",
        ),
        pytest.param(
            "<style>/* url(https://comment.test/x.png) */ @import 'print.css' print;"
            "@namespace svg url(http://www.w3.org/2000/svg);"
            "@media (min-width: 40em) { .hero { background-image: url(https://img.test/wide.jpg) } }</style>",
            ["https://shop.test/catalog/print.css", "https://img.test/wide.jpg"],
            id="<style> @import and url(), not comments or @namespace",
        ),
        pytest.param(
            '<img src="data:image/png;base64,iVBORw0KGgo="><img src="javascript:void(0)"><img src="blob:x">'
            '<img src="mailto:a@shop.test"><img src="">',
            [],
            id="data:, javascript:, blob: and empty URLs load nothing from a host",
        ),
        pytest.param(
            '<IMG SRC="HTTPS://IMG.Test:443/a.png#top"><img src="https://img.test/a.png">',
            ["https://img.test/a.png"],
            id="case, default port and fragment do not make two URLs",
        ),
        pytest.param(
            '<img src="https://img.test:8443/a.png?size=1&amp;fmt=webp">',
            ["https://img.test:8443/a.png?size=1&fmt=webp"],
            id="other ports kept, entities decoded",
        ),
        pytest.param('<img src="https://img.test:99999/a.png">', [], id="an impossible port is no asset"),
        pytest.param(
            '<!-- <img src="https://old.test/a.png"> --><script>var u = "https://js.test/x.png";</script>',
            [],
            id="comments and script text are not markup",
        ),
        pytest.param(
            '<img src="https://user:pw@img.test/a.png">', ["https://img.test/a.png"], id="credentials dropped"
        ),
        pytest.param(
            '<![::1]><![CDATA[<img src="a.png">]]><img src="b.png">',
            ["https://shop.test/catalog/b.png"],
            id="<![ is a bogus comment to its first >, as browsers read it",
        ),
    ],
)
def test_each_kind_of_asset_reference_is_found_and_made_absolute(html: str, expected: list[str]) -> None:
    assert page_assets(html.encode(), PAGE).urls == expected


def test_a_base_href_moves_every_relative_url_even_those_before_it() -> None:
    html = b'<img src="early.png"><base href="https://static.test/v2/"><base href="/ignored/"><img src="late.png">'
    assert page_assets(html, PAGE).urls == ["https://static.test/v2/early.png", "https://static.test/v2/late.png"]


def test_a_relative_base_href_is_relative_to_the_page() -> None:
    assert page_assets(b'<base href="../static/"><img src="a.png">', PAGE).urls == ["https://shop.test/static/a.png"]


def test_linked_stylesheets_and_style_imports_are_the_ones_to_fetch() -> None:
    html = b"""<link rel="stylesheet" href="/site.css"><link rel="preload" href="/f.woff2">
        <style>@import url("https://css.test/theme.css");</style><img src="https://img.test/a.png">"""
    assets = page_assets(html, PAGE)
    assert assets.stylesheets == ["https://shop.test/site.css", "https://css.test/theme.css"]
    assert assets.urls == [
        "https://shop.test/site.css",
        "https://shop.test/f.woff2",
        "https://css.test/theme.css",
        "https://img.test/a.png",
    ]


def test_a_page_in_a_legacy_encoding_still_yields_its_urls() -> None:
    html = '<p>Café</p><img src="https://img.test/é.png">'.encode("latin-1")
    [url] = page_assets(html, PAGE).urls
    assert url.startswith("https://img.test/")


def test_a_page_that_is_not_html_has_no_assets() -> None:
    assert page_assets(b'{"json": "https://api.test/"}', PAGE).urls == []


def test_a_stylesheet_yields_its_imports_and_urls_relative_to_itself() -> None:
    css = b"""@charset "utf-8";
        @import "fonts.css";
        @import url(https://fonts.test/face.css) screen;
        @namespace url(http://www.w3.org/1999/xhtml);
        /* background: url(commented.png) */
        @font-face { font-family: F; src: url("f.woff2") format("woff2"), url(f.woff) format("woff"); }
        .logo { background: url( '../img/logo.png' ); }
        .hero { background-image: image-set("hero.avif" type("image/avif"), url(hero.jpg) 1x); }
        .icon { content: url(data:image/svg+xml;utf8,<svg/>); }"""
    assert stylesheet_urls(css, "https://css.test/styles/site.css") == [
        "https://css.test/styles/fonts.css",
        "https://fonts.test/face.css",
        "https://css.test/styles/f.woff2",
        "https://css.test/styles/f.woff",
        "https://css.test/img/logo.png",
        "https://css.test/styles/hero.avif",
        "https://css.test/styles/hero.jpg",
    ]


def test_a_stylesheet_in_the_charset_its_server_named_is_read() -> None:
    css = ".a { background: url(https://img.test/caf\u00e9.png) }".encode("latin-1")
    [url] = stylesheet_urls(css, "https://css.test/site.css", charset="iso-8859-1")
    assert url == "https://img.test/caf\u00e9.png"


@pytest.mark.parametrize(
    ("srcset", "expected"),
    [
        ("a.png", ["a.png"]),
        ("a.png 1x, b.png 2x", ["a.png", "b.png"]),
        ("a.png, b.png", ["a.png", "b.png"]),
        ("a.png,b.png", ["a.png,b.png"]),  # without a space the comma belongs to the URL, as the standard says
        ("  a.png   480w ,\n b.png 800w  ", ["a.png", "b.png"]),
        ("a.png?x=1,2 1x, b.png 2x", ["a.png?x=1,2", "b.png"]),
        ("a.png (whatever, with, commas) 1x, b.png", ["a.png", "b.png"]),
        ("", []),
    ],
)
def test_srcset_candidates_are_split_as_browsers_split_them(srcset: str, expected: list[str]) -> None:
    assert srcset_urls(srcset) == expected
