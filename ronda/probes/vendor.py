"""What a vendor says about itself, whatever the document it came in (Statuspage JSON, an RSS
or Atom feed), and what ronda makes of it: the status, the words, the verdict's `statuspage`
object.

ronda's words for a vendor's are ronda's own status page's read backwards
(docs/status-page.md), so a ronda watching a ronda sees the state the other one published:

- a component `major_outage` is down, `partial_outage` and `degraded_performance` are
  degraded (it works in part: ronda's own meaning of degraded), `under_maintenance` is planned
  and fails nothing;
- as with the addresses behind a name, the monitor is down only when *everything it watches*
  is in a major outage; one component out among many is the vendor working in part;
- the page's own indicator (watching the whole page): `critical` ("Major System Outage") is
  down, `minor` and `major` ("Partial System Outage") are degraded, `none` and
  `maintenance` are up;
- an unresolved incident that concerns what is watched: impact `critical` is down, `minor`
  and `major` degraded, `none` and `maintenance` nothing; a feed's entry says no impact, so an
  open one is degraded.

The worst of these is the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ronda.textclean import plain
from ronda.verdict import Status, iso

COMPONENT_WORDS = {
    "operational": "operational",
    "under_maintenance": "under maintenance",
    "degraded_performance": "degraded performance",
    "partial_outage": "partial outage",
    "major_outage": "major outage",
}
COMPONENT_STATES = tuple(COMPONENT_WORDS)
PLANNED = ("operational", "under_maintenance")  # states that fail nothing
INDICATOR_STATUS: dict[str, Status] = {
    "none": "up",
    "maintenance": "up",
    "minor": "degraded",
    "major": "degraded",
    "critical": "down",
}
IMPACT_STATUS: dict[str, Status] = {**INDICATOR_STATUS}
_RANK = {"up": 0, "degraded": 1, "down": 2}
LISTED = 25  # at most this many components and incidents in a verdict: a page may list thousands
TEXT = 200  # characters kept of a vendor's name or title


def clean(text: object, limit: int = TEXT) -> str:
    """A vendor's text as one plain line (no control or bidi characters) of at most `limit`
    characters: it is shown in plugin lines and notices, which a hostile page must not fill
    or disguise."""
    words = plain(str(text or ""))
    return words if len(words) <= limit else words[: limit - 1] + "…"


class NotAStatusPage(ValueError):
    """The document is not a status page; the message says what it is instead."""


@dataclass(frozen=True)
class Component:
    name: str
    status: str  # one of COMPONENT_STATES


@dataclass(frozen=True)
class Incident:
    name: str
    status: str  # the vendor's word: investigating, identified, monitoring, in_progress, ...
    impact: str | None = None  # none | minor | major | critical | maintenance; None: not said (feeds)
    link: str | None = None
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "impact": self.impact,
            "link": self.link,
            "updated_at": iso(self.updated_at) if self.updated_at else None,
        }


@dataclass(frozen=True)
class VendorReport:
    """A status document, read: only what concerns the components watched (all of them when
    `watched` is empty)."""

    format: str  # statuspage | atom | rss
    url: str  # the document fetched
    page: str | None = None  # the page's (or feed's) name
    indicator: str | None = None  # Statuspage's status.indicator, when the document has one
    description: str | None = None  # Statuspage's status.description
    components: tuple[Component, ...] = ()  # every component watched, whatever its state
    incidents: tuple[Incident, ...] = ()  # unresolved, concerning what is watched
    maintenances: tuple[Incident, ...] = ()  # in progress
    watched: tuple[str, ...] = ()  # the component filter as written
    window: float | None = None  # feeds: entries updated within this many seconds count
    missing: tuple[str, ...] = ()  # components watched that the page does not have, in words

    @property
    def status(self) -> Status:
        return max(self._statuses(), key=_RANK.__getitem__, default="up")

    def _statuses(self) -> list[Status]:
        out: list[Status] = []
        failing = [c for c in self.components if c.status not in PLANNED]
        if failing:
            out.append("down" if all(c.status == "major_outage" for c in self.components) else "degraded")
        if self.indicator and not self.watched:  # the page's word is about all of it
            out.append(INDICATOR_STATUS.get(self.indicator, "up"))
        for incident in self.incidents:
            out.append("degraded" if incident.impact is None else IMPACT_STATUS.get(incident.impact, "up"))
        return out

    def failing_components(self) -> list[Component]:
        return [c for c in self.components if c.status != "operational"]

    def to_json(self) -> dict[str, Any]:
        components = self.failing_components()
        out: dict[str, Any] = {
            "format": self.format,
            "url": self.url,
            "page": self.page,
            "indicator": self.indicator,
            "description": self.description,
            "watched": list(self.watched),
            "components": [{"name": c.name, "status": c.status} for c in components[:LISTED]],
            "incidents": [i.to_json() for i in self.incidents[:LISTED]],
            "maintenances": [m.to_json() for m in self.maintenances[:LISTED]],
        }
        if self.window is not None:
            out["window_s"] = self.window
        if len(components) > LISTED or len(self.incidents) > LISTED or len(self.maintenances) > LISTED:
            out["truncated"] = True
        return out

    def words(self) -> str:
        """The vendor's problem in plain words, as the verdict's summary: "Acme status page:
        Partial System Outage – CDN (Europe) partial outage; incident 'Elevated error rates'
        (investigating)"."""
        who = f"{self.page} {'status page' if self.format == 'statuspage' else 'feed'}" if self.page else None
        # The page's own words, where they are about what is watched and say something is wrong.
        told_by_page = not self.watched and INDICATOR_STATUS.get(self.indicator or "none", "up") != "up"
        headline = self.description if told_by_page else None
        if headline is None and self.format == "statuspage":
            worst = max((c.status for c in self.failing_components()), key=COMPONENT_STATES.index, default=None)
            headline = COMPONENT_WORDS[worst].capitalize() if worst and worst not in PLANNED else None
        told = "; ".join(p for p in (_components_words(self.components), _incidents_words(self.incidents)) if p)
        said = " – ".join(p for p in (headline, told) if p) or "it reports a problem"
        return f"{who or 'Vendor status page'}: {said}"


def _components_words(components: Sequence[Component]) -> str:
    failing = [c for c in components if c.status not in PLANNED]
    named = [f"{c.name} {COMPONENT_WORDS[c.status]}" for c in failing[:3]]
    more = f" and {len(failing) - 3} more" if len(failing) > 3 else ""
    return ", ".join(named) + more


def _incidents_words(incidents: Sequence[Incident]) -> str:
    if not incidents:
        return ""
    named = ", ".join(f"'{i.name}' ({i.status.replace('_', ' ')})" for i in incidents[:3])
    more = f" and {len(incidents) - 3} more" if len(incidents) > 3 else ""
    return f"incident{'s' if len(incidents) > 1 else ''} {named}{more}"


def calm_words(statuspage: dict[str, Any]) -> str:
    """What an `up` verdict says of the vendor, from the verdict's `statuspage` object."""
    if statuspage["watched"]:
        said = f"the vendor reports {', '.join(statuspage['watched'])} operational"
    elif statuspage["description"]:
        said = f"the vendor reports {statuspage['description']}"
    elif statuspage["format"] == "statuspage":
        said = "the vendor reports no open incident"
    else:
        hours = (statuspage.get("window_s") or 0) / 3600
        said = f"the feed has no open incident in the last {hours:g} h"
    for maintenance in statuspage["maintenances"][:1]:
        said += f"; maintenance '{maintenance['name']}' in progress"
    return said
