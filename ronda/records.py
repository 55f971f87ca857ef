"""Typed records: what the storage returns and the layers above it read, shaped as the
domain speaks, never as the API's JSON (the web layer shapes that)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class PublicUpdate:
    at: datetime
    kind: str  # detected, confirmed, ..., human
    status: str | None  # a human update's: investigating, identified, monitoring, resolved
    message: str  # only a human update's message is ever shown as written


@dataclass(frozen=True)
class PublicIncident:
    id: int
    monitors: tuple[str, ...]  # the incident's monitor first, then those that joined it
    cause: str | None
    severity: str  # down | degraded
    status: str  # open | resolved
    opened_at: datetime
    resolved_at: datetime | None
    duration_s: float | None
    planned: bool
    updates: tuple[PublicUpdate, ...]  # oldest first
    regions: tuple[str, ...] = ()  # where it fails, by region of the vantage points
    working_regions: tuple[str, ...] = ()  # the regions that see it work meanwhile


@dataclass(frozen=True)
class Report:
    service: str
    region: str  # ISO 3166 code or plain text (ronda/regions.py), "" unknown
    problem: str
    comment: str | None  # HTML-escaped (html.escape): templates show it with the report_comment filter
    reporter_hash: str
    received_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an incident's timeline, as stored."""

    at: datetime
    kind: str  # detected, confirmed, cause_changed, scope_changed, joined, left, reports, resolved, human, ...
    message: str
    author: str  # "ronda" for its own lines, a person's name (or "api") for a human update
    status: str | None  # a human update's: investigating, identified, monitoring, resolved


@dataclass(frozen=True)
class IncidentRecord:
    """An incident with its timeline, as the dashboard, the API and the demo read it."""

    id: int
    monitor: str  # the monitor that opened it
    cause: str | None
    status: str  # open | resolved
    severity: str  # down | degraded: the worst seen
    scope: str  # global | regional | local
    summary: str
    opened_at: datetime
    resolved_at: datetime | None
    duration_s: float | None
    regions: tuple[str, ...]
    working_regions: tuple[str, ...]  # the regions that saw it work meanwhile
    flapping: bool
    planned: bool  # inside a maintenance window: recorded, never sent
    signal: str  # probes | reports | both: which signal opened it, and whether the other joined
    updates: tuple[TimelineEntry, ...]  # oldest first


@dataclass(frozen=True)
class MonitorRecord:
    """A monitor as stored: its confirmed state and its latest verdict."""

    name: str
    target: str
    status: str  # up | degraded | down | unknown
    cause: str | None
    since: datetime | None  # in this status since
    open_incident: int | None
    last_check: dict[str, Any] | None  # the latest verdict, as CONTRACT.md section 3 writes it
    source: str  # "config" (the YAML file) or "api" (stored, editable)
    spec: dict[str, Any] | None  # an API monitor's definition, as PUT takes it; None for the file's
    device: dict[str, Any] | None  # what the device last said it is (ONVIF: make, model, firmware...)
    warning: str | None = None  # the first warning code of its latest verdict (cert_expiring, ...)

    @property
    def editable(self) -> bool:
        return self.source == "api"


@dataclass(frozen=True)
class CertificatePlace:
    """Where a certificate was served: a monitor's host, address and port."""

    monitor: str
    host: str
    address: str
    port: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class CertificateRecord:
    """One certificate of the inventory, by fingerprint, with every place it was served."""

    fingerprint_sha256: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    days_left: float  # at the moment the inventory was read for, to 0.01 day; negative once expired
    first_seen: datetime
    last_seen: datetime
    details: dict[str, Any]  # the latest facts, as a verdict's `certificates` entry (CONTRACT.md section 3)
    places: tuple[CertificatePlace, ...]  # the most recently seen first

    @property
    def latest(self) -> CertificatePlace | None:
        return self.places[0] if self.places else None


@dataclass(frozen=True)
class Latency:
    """Response times in ms of the answered checks (not down, with a latency), to 0.1 ms;
    None without any. p50 and p95 are nearest-rank (ronda/storage/stats.py)."""

    avg: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class WindowFigures:
    """A monitor's checks in one window (since, until]: counts, percentages, response times."""

    since: datetime
    checks: int
    up: int
    degraded: int
    down: int
    uptime: float | None  # percent not down; None without checks (unknown, not 100)
    availability_strict: float | None  # percent up, degraded counted against it
    latency_ms: Latency


@dataclass(frozen=True)
class UptimeReport:
    monitor: str
    at: datetime
    windows: dict[str, WindowFigures]  # 24h, 7d, 30d, 90d, in that order


@dataclass(frozen=True)
class DayFigures:
    """One UTC day of a monitor's checks: a bar of the dashboard and the status page."""

    day: date
    checks: int
    degraded: int
    down: int
    uptime: float | None  # None on a day without checks
    status: str  # none | up | degraded | down (ronda/storage/stats.py day_status)


@dataclass(frozen=True)
class StoredReport(Report):
    """A user's report as kept, with its row's id."""

    id: int


@dataclass(frozen=True)
class SurgeRecord:
    """A surge of users' reports for one service, as kept (ronda/storage/surges.py)."""

    id: int
    service: str
    level: str  # normal | possible | likely, now
    peak: str  # the strongest it reached
    scope: str  # global | regional
    regions: tuple[str, ...]
    reports: int  # in the buckets that raised it, at its peak
    expected: float  # what the baseline expected in those buckets
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None  # None while under way
    incident: int | None  # the incident it opened or joined


@dataclass(frozen=True)
class ConnectivityEntry:
    """ronda itself went offline (its canaries all failed) or came back."""

    at: datetime
    online: bool
    detail: str


@dataclass(frozen=True)
class OutboxEntry:
    """A notification row, as the API lists it."""

    id: int
    source: str  # the event: incident:7:opened, certificate:<sha256>:cert_expiring, ...
    channel: str
    title: str
    status: str  # pending | sent | failed
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    deadline_at: datetime
    sent_at: datetime | None
