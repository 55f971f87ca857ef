"""A status page for machines: an Atom 1.0 feed of its incidents, and its state in the shape
of Atlassian Statuspage's `summary.json` (v2), so existing widgets and aggregators read it.
Both are built as data (ElementTree, dicts), never by pasting strings.

Statuspage's words for ronda's states are in docs/status-page.md.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ronda.rules.public_status import HUMAN_STATUS_WORDS
from ronda.verdict import iso
from ronda.web.i18n import translations, when

if TYPE_CHECKING:
    from ronda.web.status_view import Component, Planned, View

ATOM = "application/atom+xml"
ATOM_NS = "http://www.w3.org/2005/Atom"
XHTML_NS = "http://www.w3.org/1999/xhtml"
ATOM_RESPONSE: dict[int | str, dict[str, object]] = {200: {"content": {ATOM: {}}, "description": "An Atom 1.0 feed"}}
IMPACT = {"down": "major", "degraded": "minor"}  # an incident's severity as Statuspage's impact

ET.register_namespace("", ATOM_NS)
ET.register_namespace("xhtml", XHTML_NS)


def _el(parent: ET.Element, tag: str, text: str | None = None, ns: str = ATOM_NS, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    element.text = text
    return element


def atom(view: View, incidents: list[dict[str, Any]], url: str, locale: str) -> bytes:
    """One entry per incident on the page (open, and resolved in the last 14 days), its
    timeline as the entry's content, in the visitor's language."""
    _ = translations(locale).gettext
    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"xml:lang": locale})
    _el(feed, "id", url)
    _el(feed, "title", view.page.title)
    if view.page.description:
        _el(feed, "subtitle", view.page.description)
    _el(feed, "updated", iso(view.updated_at))
    _el(feed, "link", rel="alternate", type="text/html", href=url)
    _el(feed, "link", rel="self", type=ATOM, href=f"{url}/feed.atom")
    _el(_el(feed, "author"), "name", view.page.title)
    _el(feed, "generator", "ronda")
    for incident in incidents:
        _entry(feed, incident, url, view.page.timezone, locale, _)
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def _entry(feed: ET.Element, incident: dict[str, Any], url: str, zone: str, locale: str, _: Any) -> None:
    entry = _el(feed, "entry")
    link = f"{url}#incident-{incident['id']}"
    _el(entry, "id", link)
    _el(entry, "title", incident["title"])
    latest = max([u["at"] for u in incident["updates"]], default=incident["opened_at"])
    _el(entry, "published", iso(incident["opened_at"]))
    _el(entry, "updated", iso(latest))
    _el(entry, "link", rel="alternate", type="text/html", href=link)
    content = _el(entry, "content", type="xhtml")
    timeline = _el(_el(content, "div", ns=XHTML_NS), "ul", ns=XHTML_NS)
    for update in incident["updates"]:
        item = _el(timeline, "li", ns=XHTML_NS)
        status = _el(item, "strong", _(_status_words(update["status"])), ns=XHTML_NS)
        status.tail = f" ({when(update['at'], locale, zone)}): "
        _el(item, "span", update["words"], ns=XHTML_NS)


def _status_words(status: str) -> str:
    return HUMAN_STATUS_WORDS.get(status, status)


def summary(view: View, incidents: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """The page as Statuspage's summary.json v2: page, status, components, unresolved
    incidents, and scheduled maintenance upcoming or in progress."""
    page_id = view.page.slug
    components = {c.name: _component(c, page_id, view.now) for c in view.components}
    return {
        "page": {
            "id": page_id,
            "name": view.page.title,
            "url": url,
            "time_zone": view.page.timezone,
            "updated_at": iso(view.updated_at),
        },
        "status": {"indicator": view.overall.indicator, "description": view.overall.description},
        "components": list(components.values()),
        "incidents": [_incident(i, view, components, url) for i in incidents if i["open"]],
        "scheduled_maintenances": [_maintenance(m, view, components, url) for m in view.maintenance],
    }


def _component(component: Component, page_id: str, now: datetime) -> dict[str, Any]:
    created = component.first_check or component.since or now
    return {
        "id": component.name,
        "name": component.shown_as,
        "status": component.state,
        "created_at": iso(created),
        "updated_at": iso(component.since or created),
        "position": component.position,
        "description": component.description,
        "showcase": True,
        "start_date": created.date().isoformat(),
        "group_id": None,
        "page_id": page_id,
        "group": False,
        "only_show_if_degraded": False,
    }


def _incident(incident: dict[str, Any], view: View, components: dict[str, dict[str, Any]], url: str) -> dict[str, Any]:
    iid = str(incident["id"])
    updates = incident["updates"]  # newest first, as Statuspage lists them
    monitoring = [u["at"] for u in updates if u["status"] == "monitoring"]
    return {
        "id": iid,
        "name": incident["title"],
        "status": incident["status"],
        "created_at": iso(incident["opened_at"]),
        "updated_at": iso(updates[0]["at"] if updates else incident["opened_at"]),
        "monitoring_at": iso(min(monitoring)) if monitoring else None,
        "resolved_at": iso(incident["resolved_at"]) if incident["resolved_at"] else None,
        "impact": "none" if incident["planned"] else IMPACT.get(incident["severity"], "major"),
        "shortlink": f"{url}#incident-{iid}",
        "started_at": iso(incident["opened_at"]),
        "page_id": view.page.slug,
        "incident_updates": [_update(u, iid) for u in updates],
        "components": [components[name] for name in incident["components"] if name in components],
    }


def _update(update: dict[str, Any], incident_id: str) -> dict[str, Any]:
    at = iso(update["at"])
    # Updates have no public id of their own: one derived from what they say and when is
    # stable across requests, which is what clients keying on it need.
    uid = hashlib.sha256(f"{incident_id}:{at}:{update['status']}:{update['words']}".encode()).hexdigest()[:16]
    return {
        "id": uid,
        "status": update["status"],
        "body": update["words"],
        "incident_id": incident_id,
        "created_at": at,
        "updated_at": at,
        "display_at": at,
    }


def _maintenance(planned: Planned, view: View, components: dict[str, dict[str, Any]], url: str) -> dict[str, Any]:
    start, end = iso(planned.start), iso(planned.end)
    mid = hashlib.sha256(f"{planned.name}:{start}".encode()).hexdigest()[:16]
    return {
        "id": mid,
        "name": planned.name,
        "status": "in_progress" if planned.in_progress else "scheduled",
        "created_at": start,
        "updated_at": start,
        "monitoring_at": None,
        "resolved_at": None,
        "impact": "maintenance",
        "shortlink": f"{url}#maintenance",
        "started_at": start,
        "page_id": view.page.slug,
        "incident_updates": [],
        "components": [components[name] for name in planned.components if name in components],
        "scheduled_for": start,
        "scheduled_until": end,
    }
