"""Which URLs a page loads its assets from: pure parsing, no network.

HTML goes through the standard library's HTMLParser (a tolerant tokenizer that decodes
entities and knows that <script> and <style> hold raw text); CSS goes through tinycss2,
a real CSS tokenizer, because regular expressions get comments, escapes, quoting and
`@namespace url(...)` (a name, not a resource) wrong.

What counts as an asset: `img`/`source` `src` and `srcset`, `video poster`, `script src`,
`link href` for the rel values a browser fetches on load (stylesheet, preload,
modulepreload, icons), CSS `url()` in `style=` attributes and `<style>` elements, and
`@import`. Only http(s) URLs are kept (data:, blob:, javascript: load nothing from a
host), made absolute against the page URL or its `<base href>`, without fragments or
credentials, each once, in document order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import tinycss2

from ronda.schemes import DEFAULT_PORTS

# rel tokens of <link> that make a browser fetch the href while loading the page.
_FETCHED_RELS = frozenset(
    {"stylesheet", "preload", "modulepreload", "icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"}
)


@dataclass
class PageAssets:
    """Absolute asset URLs in document order; `stylesheets` are those worth fetching
    to read their own references (linked stylesheets and `@import`s of `<style>`)."""

    urls: list[str] = field(default_factory=list)
    stylesheets: list[str] = field(default_factory=list)


def page_assets(html: bytes, page_url: str) -> PageAssets:
    # UTF-8 with replacement: markup and URLs are ASCII in every encoding a page may use
    # in practice, so a legacy charset only costs the text between the tags.
    parser = _AssetParser()
    parser.feed(html.decode("utf-8", "replace"))
    parser.close()
    base = page_url
    if parser.base is not None:
        candidate = _absolute(parser.base, page_url)
        if candidate is not None:
            base = candidate
    assets = PageAssets()
    for reference, is_stylesheet in parser.references:
        url = _absolute(reference, base)
        if url is None:
            continue
        if url not in assets.urls:
            assets.urls.append(url)
        if is_stylesheet and url not in assets.stylesheets:
            assets.stylesheets.append(url)
    return assets


def stylesheet_urls(css: bytes, sheet_url: str, charset: str | None = None) -> list[str]:
    """The `@import`s and `url()`s of a fetched stylesheet, absolute against its URL.
    `charset` is the one the Content-Type header named, if any."""
    rules, _ = tinycss2.parse_stylesheet_bytes(css, protocol_encoding=charset, skip_comments=True)
    imports, urls = _css_references(rules)
    out: list[str] = []
    for reference in imports + urls:
        url = _absolute(reference, sheet_url)
        if url is not None and url not in out:
            out.append(url)
    return out


def srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset: candidates split at commas, except commas inside a URL
    (`a.jpg?w=1,2 1x`) or inside a descriptor's parentheses (the HTML standard's algorithm)."""
    urls: list[str] = []
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        start = pos
        while pos < end and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")  # a candidate without descriptors
        else:
            depth = 0
            while pos < end:
                char = value[pos]
                pos += 1
                if char == "(":
                    depth += 1
                elif char == ")":
                    depth = max(depth - 1, 0)
                elif char == "," and depth == 0:
                    break
        if url:
            urls.append(url)
    return urls


class _AssetParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.references: list[tuple[str, bool]] = []  # (URL as written, is a stylesheet to fetch)
        self.base: str | None = None
        self._style: list[str] | None = None  # text of the <style> element being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "base" and self.base is None and "href" in attributes:
            self.base = attributes["href"]  # the first <base href> applies to the whole document
        elif tag in ("img", "source"):
            self._add(attributes.get("src"))
            for url in srcset_urls(attributes.get("srcset", "")):
                self._add(url)
        elif tag == "video":
            self._add(attributes.get("poster"))
        elif tag == "script":
            self._add(attributes.get("src"))
        elif tag == "link":
            rels = set(attributes.get("rel", "").lower().split())
            if rels & _FETCHED_RELS and "alternate" not in rels:  # alternate stylesheets load on demand
                self._add(attributes.get("href"), stylesheet="stylesheet" in rels)
        if tag == "style":
            self._style = []
        if attributes.get("style"):
            for url in _css_references(tinycss2.parse_component_value_list(attributes["style"]))[1]:
                self._add(url)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "style":
            self._style = None

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style is not None:
            imports, urls = _css_references(tinycss2.parse_stylesheet("".join(self._style), skip_comments=True))
            self._style = None
            for url in imports:
                self._add(url, stylesheet=True)
            for url in urls:
                self._add(url)

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        """`<![...>` up to its first `>`, read as a browser reads it in HTML: a bogus comment
        (the HTML standard's markup declaration open state), holding no asset. The standard
        library's own reading raises AssertionError where no name follows `<![` (`<![::1]`);
        -1 asks for more text, as its own does."""
        end = self.rawdata.find(">", i + 3)
        return -1 if end < 0 else end + 1

    def _add(self, reference: str | None, stylesheet: bool = False) -> None:
        if reference and reference.strip():
            self.references.append((reference.strip(), stylesheet))


def _css_references(nodes: list[Any]) -> tuple[list[str], list[str]]:
    """(`@import` URLs, other `url()`s) among tinycss2 nodes, in order."""
    imports: list[str] = []
    urls: list[str] = []
    for node in nodes:
        if node.type == "at-rule" and node.lower_at_keyword == "import":
            imports.extend(_import_url(node.prelude))
        elif node.type == "at-rule" and node.lower_at_keyword == "namespace":
            continue  # @namespace url(...) names a namespace; nothing is fetched
        else:
            _walk(node, urls)
    return imports, urls


def _import_url(prelude: list[Any]) -> list[str]:
    """The URL of an `@import` prelude: a string, `url(x)` or `url("x")`."""
    for token in prelude:
        if token.type in ("whitespace", "comment"):
            continue
        if token.type in ("string", "url"):
            return [token.value]
        if token.type == "function" and token.lower_name == "url":
            return [arg.value for arg in token.arguments if arg.type == "string"][:1]
        return []
    return []


def _walk(node: Any, urls: list[str]) -> None:
    """Collect url()s anywhere below `node`: declarations, @media and @supports blocks,
    @font-face sources, image-set() candidates."""
    kind = node.type
    if kind == "url":  # url(bare) is a token of its own
        urls.append(node.value)
    elif kind == "function":
        strings = [arg.value for arg in node.arguments if arg.type == "string"]
        if node.lower_name == "url":  # url("quoted") is a function
            urls.extend(strings[:1])
            return
        if node.lower_name in ("image-set", "-webkit-image-set"):  # image-set("a.png" 1x, url(b.png) 2x)
            urls.extend(strings)
        for argument in node.arguments:
            _walk(argument, urls)
    elif kind in ("qualified-rule", "at-rule"):
        for child in [*(node.prelude or ()), *(node.content or ())]:
            _walk(child, urls)
    elif kind in ("() block", "[] block", "{} block"):
        for child in node.content:
            _walk(child, urls)


def _absolute(reference: str, base: str) -> str | None:
    """`reference` resolved against `base` as http(s)://host[:port]/path?query, or None
    when it loads nothing from a host (another scheme, no host, a bad port)."""
    try:
        parts = urlsplit(urljoin(base, reference))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
