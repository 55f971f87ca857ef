"""A vendor's incident feed, RSS 2.0 or Atom 1.0 (Statuspage's history.rss and history.atom,
and the many status pages that publish only a feed): an entry updated recently whose latest
word is not "resolved" or "completed" is an open incident.

Parsed with defusedxml over the standard library's ElementTree, DTDs forbidden: a feed is
hostile input, and with no DTD there is no entity to expand (billion laughs) and no external
entity to fetch. feedparser was the alternative; it reads dozens of dialects ronda has no use
for, and when strict XML parsing fails it falls back to a forgiving parser, where ronda wants
bytes that are not a feed called exactly that. The two shapes read here are small, and their
dates are RFC 3339 (Atom) and RFC 822 (RSS), both read by the standard library.

Which word is an entry's latest: status pages put the newest update first, each opening with
its status ("<strong>Resolved</strong> - This incident has been resolved." above
"<strong>Investigating</strong> - ..."), and some put it in the title ("RESOLVED: ..."). So
a status word set apart in the title ("RESOLVED: ...", "[RESOLVED] ...") decides, else the
first status word of the summary or content.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ronda.probes.vendor import Incident, NotAStatusPage, VendorReport, clean
from ronda.verdict import as_utc

ATOM = "http://www.w3.org/2005/Atom"
EXPECTED = "an RSS 2.0 or Atom 1.0 feed of incidents"
WINDOW = 86400.0  # seconds: an entry updated longer ago than this is history, whatever it says

# Status words of incident and maintenance updates, as status pages write them.
_WORDS = r"(resolved|completed|post-?mortem|investigating|identified|monitoring|update|in progress|verifying|scheduled)"
_STATUS = re.compile(rf"\b{_WORDS}\b", re.IGNORECASE)
# In a title only a status word set apart is one, leading it ("RESOLVED: ...", "Resolved -
# ...") or in brackets ("[RESOLVED] ..."); elsewhere it is the incident's name ("Completed
# jobs not shown").
_TITLE_STATUS = re.compile(rf"^\W*{_WORDS}\s*[:|–—-]|\[{_WORDS}\]", re.IGNORECASE)
CLOSED = frozenset({"resolved", "completed", "postmortem", "post-mortem"})
PLANNED = frozenset({"scheduled"})  # announced ahead: not under way
UNDER_WAY = frozenset({"in progress", "verifying"})  # maintenance under way: planned, fails nothing
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class _Entry:
    incident: Incident
    text: str  # its title and summary as plain text, for the component filter


def read_feed(body: bytes, url: str, watched: Sequence[str], now: datetime, window: float = WINDOW) -> VendorReport:
    """The feed at `url`: its entries updated within `window` seconds of `now` and still open
    (only those that name a watched component, when components are watched)."""
    root = _parse(body)
    name = _local(root.tag)
    if name == "feed" and root.tag == f"{{{ATOM}}}feed":
        form, title, entries = "atom", _text(root, "title"), [_atom_entry(e) for e in _children(root, "entry")]
    elif name == "rss":
        channel = next(_children(root, "channel"), None)
        if channel is None:
            raise NotAStatusPage(f"expected {EXPECTED}; got an RSS document without a channel")
        form, title, entries = "rss", _text(channel, "title"), [_rss_item(i) for i in _children(channel, "item")]
    elif name == "html":
        raise NotAStatusPage(f"expected {EXPECTED}; got an HTML page")
    else:
        raise NotAStatusPage(f"expected {EXPECTED}; got an XML document whose root is <{name}>")
    since = now - timedelta(seconds=window)
    recent = [
        e.incident
        for e in entries
        if e.incident.updated_at is not None and e.incident.updated_at >= since and _concerns(e, watched)
    ]
    return VendorReport(
        format=form,
        url=url,
        page=clean(title) or None,
        incidents=tuple(i for i in recent if i.status not in CLOSED | PLANNED | UNDER_WAY),
        maintenances=tuple(i for i in recent if i.status in UNDER_WAY),
        watched=tuple(watched),
        window=window,
    )


def _parse(body: bytes) -> Element:
    try:
        return fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise NotAStatusPage(f"expected {EXPECTED}; got XML with a DTD, which ronda refuses to read") from None
    except ParseError as exc:
        raise NotAStatusPage(f"expected {EXPECTED}; got bytes that are not XML ({exc})") from None


def _atom_entry(entry: Element) -> _Entry:
    links = [e for e in _children(entry, "link") if e.get("rel", "alternate") == "alternate"]
    moment = _rfc3339(_text(entry, "updated") or _text(entry, "published"))
    summary = " ".join(_text(entry, name) for name in ("summary", "content"))
    return _entry(_text(entry, "title"), summary, links[0].get("href") if links else None, moment)


def _rss_item(item: Element) -> _Entry:
    moment = _rfc822(_text(item, "pubDate"))
    return _entry(_text(item, "title"), _text(item, "description"), _text(item, "link"), moment)


def _entry(title: str, summary: str, link: str | None, updated_at: datetime | None) -> _Entry:
    plain = _TAG.sub(" ", summary)  # summaries are HTML, whose tags hold no status word
    said = _TITLE_STATUS.search(title) or _STATUS.search(plain)
    word = next((group for group in said.groups() if group), None) if said else None
    status = word.lower().replace("-", "") if word else "open"
    incident = Incident(clean(title) or "(untitled)", status, None, clean(link, 500) or None, updated_at)
    return _Entry(incident, f"{title} {plain}")


def _concerns(entry: _Entry, watched: Sequence[str]) -> bool:
    """Watching components, an entry concerns them when it names one."""
    text = entry.text.casefold()
    return not watched or any(name.strip().casefold() in text for name in watched)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(parent: Element, name: str) -> Iterator[Element]:
    return (child for child in parent if _local(child.tag) == name)


def _text(parent: Element, name: str) -> str:
    """The text of `parent`'s first child called `name` (an Atom xhtml one's included)."""
    child = next(_children(parent, name), None)
    return "" if child is None else " ".join("".join(child.itertext()).split())


# OverflowError: a time near year 1 or 9999 whose offset moves it past them in UTC.
def _rfc3339(text: str) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


def _rfc822(text: str) -> datetime | None:
    try:
        return as_utc(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
