"""Surges of users' reports, stored, and what they do to incidents: the second signal.

A surge for a service that already has an open incident joins it (the timeline says users
report it too). A strong enough surge for a service whose probes still pass opens an incident
of its own, signal `reports`, cause `user_reported`: users see what ronda's checks do not (the
Blink shape of 2025: the app's back end failing while the checked endpoints answered). When
the probes then fail too, they join it and resolve it when they pass again; while they never
fail, the incident resolves when the reports are back to normal.

What each step does to an incident is in ronda/storage/incidents.py. Each change is one
transaction, with the notices it produces written to the outbox in it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ronda.durations import format_duration
from ronda.records import SurgeRecord
from ronda.rules.surge import Assessment, Level, Surge
from ronda.storage.incidents import IncidentNotice, SurgeChange, awaiting_confirmation, surge_ended, surge_seen
from ronda.storage.models import MonitorRow, ReportSurgeRow

LEVEL_WORDS = {Level.POSSIBLE: "a possible problem", Level.LIKELY: "a likely outage"}


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
    def __init__(
        self, sessions: sessionmaker[Session], outbox: Callable[[Session, list[Any]], None] | None = None
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox

    def under_way(self) -> dict[str, Surge]:
        """The surges not ended, by service: the watcher resumes them after a restart."""
        with self._sessions() as session:
            rows = session.scalars(select(ReportSurgeRow).where(ReportSurgeRow.ended_at.is_(None)))
            return {row.service: _surge(row) for row in rows}

    def recent(self, services: list[str] | None = None, limit: int = 50) -> list[SurgeRecord]:
        """Surges newest first (those under way first), for the API and the dashboard."""
        with self._sessions() as session:
            query = select(ReportSurgeRow)
            if services is not None:
                query = query.where(ReportSurgeRow.service.in_(services))
            rows = session.scalars(query.order_by(ReportSurgeRow.started_at.desc()).limit(limit))
            return sorted((_record(row) for row in rows), key=lambda s: s.ended_at is not None)

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
            # An incident waiting for a person's confirmation is on the timeline, not sent.
            notices = [n for n in notices if not awaiting_confirmation(session, n.incident_id)]
            if self._outbox is not None and notices:
                self._outbox(session, notices)
            return notices


def _apply(
    session: Session, row: ReportSurgeRow | None, monitor: MonitorRow | None, change: SurgeChange
) -> list[IncidentNotice]:
    step, at = change.step, change.at
    if step.ended:
        if row is None:
            return []
        row.ended_at, row.level, row.updated_at = at, Level.NORMAL.word, at
        return surge_ended(session, row, monitor, at)
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
    return surge_seen(session, row, monitor, surge, change, words(surge, monitor.name, change.window))


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


def _record(row: ReportSurgeRow) -> SurgeRecord:
    return SurgeRecord(
        id=row.id,
        service=row.service,
        level=row.level,
        peak=row.peak,
        scope=row.scope,
        regions=tuple(row.regions),
        reports=row.reports,
        expected=row.expected,
        started_at=row.started_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        incident=row.incident_id,
    )
