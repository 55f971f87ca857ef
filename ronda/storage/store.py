"""The store: every verdict kept, monitor state and incidents derived in the same
transaction, so a crash between them cannot leave one without the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ronda.durations import format_duration
from ronda.service.incidents import Event, MonitorState, advance
from ronda.storage.db import make_engine, migrate
from ronda.storage.inventory import CertificateNotice, inventory, remember
from ronda.storage.models import IncidentRow, IncidentUpdateRow, MonitorRow, ResultRow
from ronda.verdict import Verdict, iso


@dataclass(frozen=True)
class IncidentNotice:
    """An incident that opened or resolved, for whoever tells people."""

    event: Event
    incident_id: int
    monitor: str
    target: str
    cause: str | None
    summary: str
    opened_at: datetime
    resolved_at: datetime | None = None
    duration_s: float | None = None


Notice = IncidentNotice | CertificateNotice


class UnknownMonitor(LookupError):
    pass


class Store:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -------------------------------------------------------------------------

    def sync_monitors(self, monitors: dict[str, str]) -> None:
        """Make the stored monitors those of the config (name -> target); monitors no
        longer configured are kept, with their history, as inactive."""
        with self._sessions.begin() as session:
            rows = {row.name: row for row in session.scalars(select(MonitorRow))}
            for name, target in monitors.items():
                row = rows.get(name)
                if row is None:
                    session.add(
                        MonitorRow(name=name, target=target, source="config", active=True, status="unknown", failures=0)
                    )
                else:
                    row.target, row.active = target, True
            for name, row in rows.items():
                if name not in monitors and row.source == "config":
                    row.active = False

    def record(self, name: str, verdict: Verdict, confirm: int) -> list[Notice]:
        """Store a verdict and apply it to the monitor's state; return what people must hear:
        incidents opened, changed or resolved, certificates rotated or past a threshold."""
        with self._sessions.begin() as session:
            monitor = session.scalars(select(MonitorRow).where(MonitorRow.name == name).with_for_update()).one()
            result = ResultRow(
                monitor_id=monitor.id,
                checked_at=verdict.checked_at,
                status=verdict.status,
                cause=verdict.cause,
                latency_ms=verdict.latency_ms,
                verdict=verdict.to_json(),
            )
            session.add(result)
            session.flush()
            transition = advance(
                _state_of(session, monitor), verdict.status, verdict.cause, verdict.checked_at, confirm
            )
            state = transition.state
            monitor.status, monitor.cause, monitor.since = state.status, state.cause, state.since
            monitor.failures, monitor.failing_since = state.failures, state.failing_since
            monitor.last_result_id = result.id
            notices = [self._apply(session, monitor, event, verdict, state) for event in transition.events]
            if monitor.open_incident_id is not None and verdict.status == "down":
                session.execute(
                    update(IncidentRow).where(IncidentRow.id == monitor.open_incident_id).values(severity="down")
                )
            certificate_notices = remember(session, monitor, verdict)
        return [n for n in notices if n is not None] + certificate_notices

    def _apply(
        self, session: Session, monitor: MonitorRow, event: Event, verdict: Verdict, state: MonitorState
    ) -> IncidentNotice | None:
        at = verdict.checked_at
        if event is Event.OPENED:
            opened = state.failing_since or at
            incident = IncidentRow(
                monitor_id=monitor.id,
                cause=verdict.cause,
                status="open",
                severity=verdict.status,
                scope="local",
                summary=verdict.summary,
                opened_at=opened,
            )
            session.add(incident)
            session.flush()
            monitor.open_incident_id = incident.id
            session.add_all(
                [
                    IncidentUpdateRow(
                        incident_id=incident.id,
                        at=opened,
                        kind="detected",
                        message=f"first failed check: {verdict.summary}",
                    ),
                    IncidentUpdateRow(
                        incident_id=incident.id,
                        at=at,
                        kind="confirmed",
                        message=f"confirmed after {state.failures} consecutive failed checks",
                    ),
                ]
            )
            return IncidentNotice(
                Event.OPENED, incident.id, monitor.name, monitor.target, verdict.cause, verdict.summary, opened
            )
        current = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
        if current is None:
            return None
        incident = current
        if event is Event.CAUSE_CHANGED:
            session.add(
                IncidentUpdateRow(
                    incident_id=incident.id,
                    at=at,
                    kind="cause_changed",
                    message=f"cause is now {verdict.cause}: {verdict.summary}",
                )
            )
            incident.cause, incident.summary = verdict.cause, verdict.summary
            return IncidentNotice(
                Event.CAUSE_CHANGED,
                incident.id,
                monitor.name,
                monitor.target,
                verdict.cause,
                verdict.summary,
                incident.opened_at,
            )
        return self._resolve(session, monitor, incident, at)

    def _resolve(
        self, session: Session, monitor: MonitorRow, incident: IncidentRow, at: datetime
    ) -> IncidentNotice | None:
        duration = (at - incident.opened_at).total_seconds()
        # Conditional, so that a second writer resolving the same incident changes nothing.
        changed = session.execute(  # type: ignore[attr-defined]
            update(IncidentRow)
            .where(IncidentRow.id == incident.id, IncidentRow.status == "open")
            .values(status="resolved", resolved_at=at, duration_s=duration)
        ).rowcount
        monitor.open_incident_id = None
        if not changed:
            return None
        session.add(
            IncidentUpdateRow(
                incident_id=incident.id, at=at, kind="resolved", message=f"resolved after {format_duration(duration)}"
            )
        )
        return IncidentNotice(
            Event.RESOLVED,
            incident.id,
            monitor.name,
            monitor.target,
            incident.cause,
            incident.summary,
            incident.opened_at,
            at,
            duration,
        )

    # -- reading -------------------------------------------------------------------------

    def monitors(self) -> list[dict[str, Any]]:
        with self._sessions() as session:
            rows = session.scalars(select(MonitorRow).where(MonitorRow.active).order_by(MonitorRow.name)).all()
            return [self._monitor_json(session, row) for row in rows]

    def monitor(self, name: str) -> dict[str, Any]:
        with self._sessions() as session:
            return self._monitor_json(session, self._monitor_row(session, name))

    def _monitor_json(self, session: Session, row: MonitorRow) -> dict[str, Any]:
        last = session.get(ResultRow, row.last_result_id) if row.last_result_id else None
        return {
            "name": row.name,
            "target": row.target,
            "status": row.status,
            "cause": row.cause,
            "since": iso(row.since) if row.since else None,
            "open_incident": row.open_incident_id,
            "last_check": last.verdict if last else None,
        }

    def _monitor_row(self, session: Session, name: str) -> MonitorRow:
        row = session.scalars(select(MonitorRow).where(MonitorRow.name == name)).one_or_none()
        if row is None:
            raise UnknownMonitor(name)
        return row

    def results(self, name: str, limit: int) -> list[dict[str, Any]]:
        with self._sessions() as session:
            monitor = self._monitor_row(session, name)
            rows = session.scalars(
                select(ResultRow)
                .where(ResultRow.monitor_id == monitor.id)
                .order_by(ResultRow.checked_at.desc(), ResultRow.id.desc())
                .limit(limit)
            )
            return [row.verdict for row in rows]

    def incidents(self, open_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        with self._sessions() as session:
            query = select(IncidentRow, MonitorRow.name).join(MonitorRow, MonitorRow.id == IncidentRow.monitor_id)
            if open_only:
                query = query.where(IncidentRow.status == "open")
            rows = session.execute(query.order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc()).limit(limit))
            out = []
            for incident, monitor in rows:
                updates = session.scalars(
                    select(IncidentUpdateRow)
                    .where(IncidentUpdateRow.incident_id == incident.id)
                    .order_by(IncidentUpdateRow.at, IncidentUpdateRow.id)
                ).all()
                out.append(_incident_json(incident, monitor, updates))
            return out

    def certificates(self, now: datetime) -> list[dict[str, Any]]:
        with self._sessions() as session:
            return inventory(session, now)


def _state_of(session: Session, monitor: MonitorRow) -> MonitorState:
    incident = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    return MonitorState(
        status=monitor.status,
        cause=monitor.cause,
        since=monitor.since,
        failures=monitor.failures,
        failing_since=monitor.failing_since,
        incident_open=incident is not None,
        incident_cause=incident.cause if incident else None,
    )


def _incident_json(incident: IncidentRow, monitor: str, updates: Any) -> dict[str, Any]:
    return {
        "id": incident.id,
        "monitor": monitor,
        "cause": incident.cause,
        "status": incident.status,
        "severity": incident.severity,
        "scope": incident.scope,
        "summary": incident.summary,
        "opened_at": iso(incident.opened_at),
        "resolved_at": iso(incident.resolved_at) if incident.resolved_at else None,
        "duration_s": incident.duration_s,
        "updates": [{"at": iso(u.at), "kind": u.kind, "message": u.message} for u in updates],
    }
