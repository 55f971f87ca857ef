"""What the public status page reads: the incidents touching a set of monitors, when each
monitor was first checked, one uptime window, and the problem reports people send.

Each method is one short transaction; nothing here reads a target or a verdict's detail,
so what leaves this module is safe to show strangers once the caller picks its words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ronda.records import PublicIncident, PublicUpdate, Report
from ronda.storage.models import IncidentMonitorRow, IncidentRow, IncidentUpdateRow, MonitorRow, ReportRow, ResultRow
from ronda.storage.stats import window_figures
from ronda.verdict import as_utc, parse_iso


class PublicRecords:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def incidents(self, names: list[str], resolved_since: datetime) -> list[PublicIncident]:
        """Incidents of these monitors (or that one of them joined), open or resolved
        after `resolved_since`, newest first."""
        with self._sessions() as session:
            ids = _ids(session, names)
            if not ids:
                return []
            joined = select(IncidentMonitorRow.incident_id).where(IncidentMonitorRow.monitor_id.in_(ids))
            rows = session.scalars(
                select(IncidentRow)
                .where(or_(IncidentRow.monitor_id.in_(ids), IncidentRow.id.in_(joined)))
                .where(or_(IncidentRow.status == "open", IncidentRow.resolved_at >= resolved_since))
                .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
                .limit(200)
            ).all()
            return [_incident(session, row) for row in rows]

    def first_checks(self, names: list[str]) -> dict[str, datetime]:
        """When each monitor was first checked (the index answers MIN directly)."""
        with self._sessions() as session:
            rows = session.execute(
                select(MonitorRow.name, func.min(ResultRow.checked_at))
                .join(ResultRow, ResultRow.monitor_id == MonitorRow.id)
                .where(MonitorRow.name.in_(names))
                .group_by(MonitorRow.name)
            )
            # MIN() keeps the column's type, so the zone is back; _aware only guards a driver
            # that hands back text.
            return {name: as_utc(parse_iso(at) if isinstance(at, str) else at) for name, at in rows if at is not None}

    def uptime(self, name: str, since: datetime, until: datetime) -> float | None:
        """Percent of checks not down in (since, until], None without checks (or monitor)."""
        with self._sessions() as session:
            ids = _ids(session, [name])
            if not ids:
                return None
            value: float | None = window_figures(session, ids[0], since, until)["uptime"]
            return value

    def save_report(self, report: Report) -> int:
        with self._sessions.begin() as session:
            row = _report_row(report)
            session.add(row)
            session.flush()
            return row.id

    def save_counted_report(self, report: Report, reporters: Sequence[str], since: datetime) -> bool:
        """Store the report unless one of `reporters` (the same person under today's and
        yesterday's salt) sent one for its service after `since`: one report per reporter
        per service per window counts. True when stored. The look-up is the index
        ix_reports_reporter, and it shares the insert's transaction."""
        with self._sessions.begin() as session:
            earlier = session.scalar(
                select(ReportRow.id)
                .where(ReportRow.reporter_hash.in_(reporters))
                .where(ReportRow.service == report.service)
                .where(ReportRow.received_at > since)
                .limit(1)
            )
            if earlier is not None:
                return False
            session.add(_report_row(report))
            return True

    def prune_reports(self, before: datetime) -> int:
        """Delete the reports received before `before`; return how many."""
        with self._sessions.begin() as session:
            result = session.execute(delete(ReportRow).where(ReportRow.received_at < before))
            return int(getattr(result, "rowcount", 0) or 0)

    def reports(self, limit: int = 100, service: str | None = None) -> list[dict[str, Any]]:
        """The latest reports (of one service, or all), newest first (for the dashboard and the API)."""
        with self._sessions() as session:
            query = select(ReportRow)
            if service is not None:
                query = query.where(ReportRow.service == service)
            rows = session.scalars(query.order_by(ReportRow.id.desc()).limit(limit))
            return [
                {
                    "id": r.id,
                    "service": r.service,
                    "region": r.region,
                    "problem": r.problem,
                    "comment": r.comment,
                    "reporter_hash": r.reporter_hash,
                    "received_at": r.received_at,
                }
                for r in rows
            ]


def _report_row(report: Report) -> ReportRow:
    return ReportRow(**asdict(report))  # the record's fields are the row's columns


def _ids(session: Session, names: list[str]) -> list[int]:
    return list(session.scalars(select(MonitorRow.id).where(MonitorRow.name.in_(names))))


def _incident(session: Session, row: IncidentRow) -> PublicIncident:
    main = session.get(MonitorRow, row.monitor_id)
    joined = session.scalars(
        select(MonitorRow.name)
        .join(IncidentMonitorRow, IncidentMonitorRow.monitor_id == MonitorRow.id)
        .where(IncidentMonitorRow.incident_id == row.id)
        .order_by(IncidentMonitorRow.joined_at)
    )
    updates = session.scalars(
        select(IncidentUpdateRow)
        .where(IncidentUpdateRow.incident_id == row.id)
        .order_by(IncidentUpdateRow.at, IncidentUpdateRow.id)
    )
    return PublicIncident(
        id=row.id,
        monitors=(main.name if main else "", *joined),
        cause=row.cause,
        severity=row.severity,
        status=row.status,
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
        duration_s=row.duration_s,
        planned=row.planned,
        updates=tuple(PublicUpdate(u.at, u.kind, u.status, u.message) for u in updates),
    )
