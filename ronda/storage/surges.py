"""Surges of users' reports, stored, and what they do to incidents: the second signal.

A surge for a service that already has an open incident joins it (the timeline says users
report it too). A strong enough surge for a service whose probes still pass opens an incident
of its own, signal `reports`, cause `user_reported`: users see what ronda's checks do not (the
Blink shape of 2025: the app's back end failing while the checked endpoints answered). When
the probes then fail too, they join it (ronda/storage/incident_log.py) and resolve it when they
pass again; while they never fail, the incident resolves when the reports are back to normal.

Each change is one transaction, with the notices it produces written to the outbox in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ronda.durations import format_duration
from ronda.rules.incidents import Event
from ronda.rules.surge import Assessment, Level, Step, Surge
from ronda.storage.incident_log import IncidentNotice, log, notice, resolve
from ronda.storage.models import IncidentRow, MonitorRow, ReportSurgeRow
from ronda.verdict import iso

LEVEL_WORDS = {Level.POSSIBLE: "a possible problem", Level.LIKELY: "a likely outage"}


@dataclass(frozen=True)
class SurgeChange:
    """One assessment's step for one service, as the watcher hands it to the store."""

    service: str
    step: Step
    assessment: Assessment
    at: datetime
    open_at: Level  # the level at which a surge opens an incident of its own
    window: timedelta  # how long the counted reports took to arrive (two halves)
    planned: bool = False  # the service is inside a maintenance window


def words(surge: Surge | Assessment, service: str, window: timedelta) -> str:
    """'users report problems with shop: 48 reports in 10 min where about 6 are usual (a
    likely outage), most from US-CA, US-TX'."""
    level = surge.level if isinstance(surge, Assessment) else surge.peak
    usual = f"where about {surge.expected:.0f} are usual" if surge.expected >= 1 else "where fewer than one is usual"
    where = f", most from {', '.join(surge.regions[:5])}" if surge.scope == "regional" and surge.regions else ""
    more = f" and {len(surge.regions) - 5} more" if where and len(surge.regions) > 5 else ""
    strength = LEVEL_WORDS.get(level, "back to normal")
    took = format_duration(window.total_seconds())
    return f"users report problems with {service}: {surge.reports} reports in {took} {usual} ({strength}){where}{more}"


class Surges:
    def __init__(self, engine: Engine, outbox: Callable[[Session, list[Any]], None] | None = None) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._outbox = outbox

    def under_way(self) -> dict[str, Surge]:
        """The surges not ended, by service: the watcher resumes them after a restart."""
        with self._sessions() as session:
            rows = session.scalars(select(ReportSurgeRow).where(ReportSurgeRow.ended_at.is_(None)))
            return {row.service: _surge(row) for row in rows}

    def recent(self, services: list[str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Surges newest first (those under way first), for the API and the dashboard."""
        with self._sessions() as session:
            query = select(ReportSurgeRow)
            if services is not None:
                query = query.where(ReportSurgeRow.service.in_(services))
            rows = session.scalars(query.order_by(ReportSurgeRow.started_at.desc()).limit(limit))
            return sorted((_json(row) for row in rows), key=lambda s: s["ended_at"] is not None)

    def apply(self, change: SurgeChange) -> list[IncidentNotice]:
        """Store the step and join, open or resolve the incident it concerns."""
        with self._sessions.begin() as session:
            row = session.scalars(
                select(ReportSurgeRow)
                .where(ReportSurgeRow.service == change.service, ReportSurgeRow.ended_at.is_(None))
                .with_for_update()
            ).one_or_none()
            monitor = session.scalars(select(MonitorRow).where(MonitorRow.name == change.service)).one_or_none()
            notices = _apply(session, row, monitor, change)
            if self._outbox is not None and notices:
                self._outbox(session, notices)
            return notices


def _apply(
    session: Session, row: ReportSurgeRow | None, monitor: MonitorRow | None, change: SurgeChange
) -> list[IncidentNotice]:
    step, at = change.step, change.at
    if step.ended:
        return _end(session, row, monitor, at) if row is not None else []
    surge = step.surge
    if surge is None:
        return []
    if row is None:
        row = ReportSurgeRow(service=change.service, started_at=surge.started_at)
        session.add(row)
    row.level, row.peak, row.scope, row.regions = surge.level.word, surge.peak.word, surge.scope, list(surge.regions)
    row.reports, row.expected, row.updated_at = surge.reports, surge.expected, at
    session.flush()
    if monitor is None or surge.level == Level.NORMAL:
        return []
    return _fuse(session, row, monitor, surge, change)


def _fuse(
    session: Session, row: ReportSurgeRow, monitor: MonitorRow, surge: Surge, change: SurgeChange
) -> list[IncidentNotice]:
    said = words(surge, monitor.name, change.window)
    incident = session.get(IncidentRow, row.incident_id) if row.incident_id else None
    if incident is not None:
        if incident.status == "open":
            _follow(session, incident, surge, change, said)
        return []
    current = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    if current is not None and current.status == "open":
        row.incident_id = current.id
        if current.signal == "probes":
            current.signal = "both"
        log(session, current.id, change.at, "reports", f"{said}")
        return [notice(Event.SIGNAL_JOINED, current, monitor, signal="reports", message=said)]
    if surge.level < change.open_at:
        return []
    return [_open(session, row, monitor, surge, change, said)]


def _follow(session: Session, incident: IncidentRow, surge: Surge, change: SurgeChange, said: str) -> None:
    """The surge grew stronger or moved: the timeline says so, and an incident the reports
    opened takes the surge's scope (one the probes opened keeps the vantage points')."""
    if change.step.stronger:
        log(session, incident.id, change.at, "reports", f"stronger now: {said}")
    if change.step.rescoped and incident.signal == "reports":
        where = f" ({', '.join(surge.regions)})" if surge.scope == "regional" else ""
        log(session, incident.id, change.at, "scope_changed", f"reports now come {surge.scope}ly{where}")
        incident.scope, incident.regions = surge.scope, list(surge.regions)


def _open(
    session: Session, row: ReportSurgeRow, monitor: MonitorRow, surge: Surge, change: SurgeChange, said: str
) -> IncidentNotice:
    summary = f"{said[0].upper()}{said[1:]}; ronda's own checks of {monitor.name} see no failure"
    incident = IncidentRow(
        monitor_id=monitor.id,
        cause="user_reported",
        status="open",
        severity="degraded",
        scope=surge.scope,
        regions=list(surge.regions),
        summary=summary,
        opened_at=surge.started_at,
        planned=change.planned,
        signal="reports",
    )
    session.add(incident)
    session.flush()
    monitor.open_incident_id = row.incident_id = incident.id
    log(session, incident.id, surge.started_at, "reports", f"reports surge: {said}")
    if change.planned:
        log(session, incident.id, change.at, "planned", "inside a maintenance window: no notifications")
    return notice(Event.OPENED, incident, monitor, signal="reports")


def _end(session: Session, row: ReportSurgeRow, monitor: MonitorRow | None, at: datetime) -> list[IncidentNotice]:
    row.ended_at, row.level, row.updated_at = at, Level.NORMAL.word, at
    incident = session.get(IncidentRow, row.incident_id) if row.incident_id else None
    if incident is None or incident.status != "open" or monitor is None:
        return []
    if incident.signal != "reports":  # the probes' incident: theirs to resolve
        log(session, incident.id, at, "reports", "users' reports are back to normal")
        return []
    resolved = resolve(session, monitor, incident, at, "resolved", "users' reports are back to normal")
    return [resolved] if resolved is not None else []


def _surge(row: ReportSurgeRow) -> Surge:
    return Surge(
        row.started_at,
        Level.named(row.level),
        Level.named(row.peak),
        row.scope,
        tuple(row.regions),
        row.reports,
        row.expected,
        calm_since=row.updated_at if row.level == "normal" else None,
    )


def _json(row: ReportSurgeRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "service": row.service,
        "level": row.level,
        "peak": row.peak,
        "scope": row.scope,
        "regions": row.regions,
        "reports": row.reports,
        "expected": round(row.expected, 2),
        "started_at": iso(row.started_at),
        "updated_at": iso(row.updated_at),
        "ended_at": iso(row.ended_at) if row.ended_at else None,
        "incident": row.incident_id,
    }
