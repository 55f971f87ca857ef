"""Atlassian Statuspage's public JSON (API v2): `summary.json`, and its parts `status.json`,
`components.json`, `incidents.json` (recent ones, resolved too), `scheduled-maintenances.json`,
in the shape many other status pages copy (ronda's own among them: /status/summary.json).

The shape is checked by pydantic: keys ronda does not use are ignored, but a key it uses with
the wrong kind of value is an error naming the place (`components[3].status: ...`), so a
document that is not a status page is said to be one, never read as "all is well".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ronda.probes.vendor import Component, Incident, NotAStatusPage, VendorReport, clean
from ronda.verdict import as_utc

ComponentState = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
Level = Literal["none", "minor", "major", "critical", "maintenance"]
CLOSED = frozenset({"resolved", "postmortem", "completed"})  # incidents' and maintenances' last words
UNDER_WAY = frozenset({"in_progress", "verifying"})  # a maintenance that has begun
EXPECTED = "a Statuspage document (summary.json: a JSON object with page, status, components, incidents)"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class _Page(_Lenient):
    name: str | None = None


class _Status(_Lenient):
    indicator: Level
    description: str = ""

    _indicator = field_validator("indicator", mode="before")(_lower)


class _Component(_Lenient):
    id: str | None = None
    name: str
    status: ComponentState
    group: bool = False  # a group's status is its members' worst: counting it too would count twice
    group_id: str | None = None

    _status = field_validator("status", mode="before")(_lower)


class _Affected(_Lenient):
    id: str | None = None
    name: str | None = None


class _Incident(_Lenient):
    name: str
    status: str
    impact: Level = "none"
    shortlink: str | None = None
    updated_at: str | None = None
    components: list[_Affected] = Field(default_factory=list)

    _impact = field_validator("impact", "status", mode="before")(_lower)


class _Document(_Lenient):
    page: _Page = Field(default_factory=_Page)
    status: _Status | None = None
    components: list[_Component] | None = None
    incidents: list[_Incident] | None = None
    scheduled_maintenances: list[_Incident] | None = None


def read_statuspage(body: bytes, url: str, watched: Sequence[str]) -> VendorReport:
    """The document at `url`, read for the components `watched` (none: the whole page)."""
    document = _validated(_json(body))
    every = [c for c in document.components or [] if not c.group]
    chosen, unknown = _watched(document.components or [], watched)
    # An incident names the components it affects: by id, or (documents without ids) by name.
    affected = {c.id for c in chosen if c.id} | {c.name.casefold() for c in chosen} | {n.casefold() for n in watched}
    return VendorReport(
        format="statuspage",
        url=url,
        page=clean(document.page.name) if document.page.name else None,
        indicator=document.status.indicator if document.status else None,
        description=clean(document.status.description) if document.status and document.status.description else None,
        components=tuple(Component(clean(c.name), c.status) for c in (chosen if watched else every)),
        incidents=tuple(_incident(i) for i in document.incidents or [] if _open(i) and _concerns(i, affected)),
        maintenances=tuple(
            _incident(m)
            for m in document.scheduled_maintenances or []
            if m.status in UNDER_WAY and _concerns(m, affected)
        ),
        watched=tuple(watched),
        # Only a document that lists components can say it has none of that name.
        missing=_missing(unknown, document.components) if document.components is not None else (),
    )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)  # the encoding (UTF-8, -16, -32) is detected from the bytes
    except RecursionError:
        raise NotAStatusPage(f"expected {EXPECTED}; got JSON nested too deep to read") from None
    except ValueError as exc:  # UnicodeDecodeError is one too
        raise NotAStatusPage(f"expected {EXPECTED}; got bytes that are not JSON ({exc})") from None


def _validated(value: Any) -> _Document:
    if not isinstance(value, dict):
        raise NotAStatusPage(f"expected {EXPECTED}; got a JSON {type(value).__name__}")
    known = ("status", "components", "incidents", "scheduled_maintenances")
    if not any(key in value for key in known):
        keys = ", ".join(sorted(map(str, value))[:8]) or "none"
        raise NotAStatusPage(f"expected {EXPECTED}; got a JSON object with keys {keys}")
    try:
        return _Document.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        raise NotAStatusPage(f"expected {EXPECTED}; {where}: {first['msg']}") from None


def _watched(components: Sequence[_Component], watched: Sequence[str]) -> tuple[list[_Component], list[str]]:
    """The components the filter names (case does not matter; a group's name stands for its
    members), and the names that match none."""
    chosen: list[_Component] = []
    unknown: list[str] = []
    for name in watched:
        named = [c for c in components if c.name.strip().casefold() == name.strip().casefold()]
        groups = {c.id for c in named if c.group and c.id}
        members = [c for c in components if c.group_id in groups]
        found = [c for c in named if not c.group] + members
        if not named:
            unknown.append(name)
        chosen += [c for c in found if c not in chosen]
    return chosen, unknown


def _missing(unknown: Sequence[str], components: Sequence[_Component]) -> tuple[str, ...]:
    names = sorted({clean(c.name, 60) for c in components}, key=str.casefold)
    listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    has = f"it has {listed}" if names else "it lists none"
    return tuple(f"the page has no component named {clean(name, 60)!r} ({has})" for name in unknown)


def _open(incident: _Incident) -> bool:
    return incident.status not in CLOSED


def _concerns(incident: _Incident, affected: set[str]) -> bool:
    """Watching the whole page (nothing `affected` to match), every incident; watching
    components, those that name one of them."""
    if not affected:
        return True
    return any(c.id in affected or (c.name or "").casefold() in affected for c in incident.components)


def _incident(incident: _Incident) -> Incident:
    return Incident(
        name=clean(incident.name),
        status=clean(incident.status, 40),
        impact=incident.impact,
        link=clean(incident.shortlink, 500) if incident.shortlink else None,
        updated_at=_moment(incident.updated_at),
    )


def _moment(text: str | None) -> datetime | None:
    """An ISO 8601 time in UTC; None when absent or unreadable (a vendor's odd date must not
    hide what it says)."""
    if not text:
        return None
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, OverflowError):  # OverflowError: a time near year 1 or 9999 that UTC moves past it
        return None
