"""The store: every verdict kept, monitor state and incidents derived in the same
transaction, so a crash between them cannot leave one without the other."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ronda.service.incidents import Event, MonitorState, Policy, Transition, advance
from ronda.service.scope import Reading, assess_scope
from ronda.storage.db import make_engine, migrate
from ronda.storage.incident_log import IncidentNotice, apply_event, escalate, human_update, rescope
from ronda.storage.inventory import CertificateNotice, inventory, remember
from ronda.storage.models import ConnectivityRow, IncidentRow, IncidentUpdateRow, MonitorRow, ResultRow
from ronda.storage.stats import daily_uptime, uptime_report
from ronda.verdict import Verdict, iso, parse_iso

Notice = IncidentNotice | CertificateNotice


class UnknownMonitor(LookupError):
    pass


class UnknownIncident(LookupError):
    pass


class Store:
    def __init__(self, url: str, outbox: Callable[[Session, list[Notice]], None] | None = None) -> None:
        self.engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._outbox = outbox  # writes notices for sending, in the transaction that produced them

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -------------------------------------------------------------------------

    def sync_monitors(self, monitors: dict[str, str]) -> None:
        """Make the stored monitors those of the config (name -> target); monitors no
        longer configured are kept, with their history, as inactive. The file is the source
        of truth for what it names: an API monitor of the same name becomes the file's."""
        with self._sessions.begin() as session:
            rows = {row.name: row for row in session.scalars(select(MonitorRow))}
            for name, target in monitors.items():
                row = rows.get(name)
                if row is None:
                    session.add(
                        MonitorRow(name=name, target=target, source="config", active=True, status="unknown", failures=0)
                    )
                else:
                    row.target, row.active, row.source, row.spec = target, True, "config", None
            for name, row in rows.items():
                if name not in monitors and row.source == "config":
                    row.active = False

    def record(
        self, name: str, verdict: Verdict, policy: Policy | int, planned: bool = False, offline: bool = False
    ) -> list[Notice]:
        """Store a verdict and apply it to the monitor's state; return what people must hear:
        incidents opened, changed or resolved, certificates rotated or past a threshold.
        `planned`: the verdict falls in a maintenance window (incidents are marked, not sent).
        `offline`: ronda itself is cut off, so a failure proves nothing: no incident opens."""
        if isinstance(policy, int):
            policy = Policy(confirm=policy)
        with self._sessions.begin() as session:
            monitor = session.scalars(select(MonitorRow).where(MonitorRow.name == name).with_for_update()).one()
            result = ResultRow(
                monitor_id=monitor.id,
                checked_at=verdict.checked_at,
                status=verdict.status,
                cause=verdict.cause,
                latency_ms=verdict.latency_ms,
                verdict=verdict.to_json(),
                vantage=verdict.vantage,
            )
            session.add(result)
            session.flush()
            if verdict.onvif and verdict.onvif.get("device"):  # kept while the device is unreachable
                monitor.device = verdict.onvif["device"]
            if verdict.kept is not None:  # what the probe keeps for the next check, across restarts
                monitor.known = {"target": verdict.target, "kept": verdict.kept}
            readings = _latest_readings(session, monitor.id, verdict.checked_at - policy.fresh_for)
            scope = assess_scope(readings, policy.quorum)
            status, cause = (scope.status, verdict.cause or scope.cause) if scope.failing else ("up", None)
            transition = advance(_state_of(session, monitor), status, cause, verdict.checked_at, policy)
            if offline:
                opening = (Event.OPENED, Event.REOPENED)
                transition = Transition(transition.state, tuple(e for e in transition.events if e not in opening))
            _save_state(monitor, transition.state, result.id)
            state = transition.state
            events = [
                apply_event(session, monitor, e, verdict, state, scope, planned, policy.parents)
                for e in transition.events
            ]
            events.append(rescope(session, monitor, scope, verdict.checked_at))
            events.append(escalate(session, monitor, status, verdict.checked_at))
            notices: list[Notice] = [n for n in events if n is not None and _announce(session, n, policy)]
            certificate_notices = remember(session, monitor, verdict)
            if self._outbox is not None:  # here, so that a crash cannot keep the event and lose the notice
                self._outbox(session, [*notices, *certificate_notices])
        return [*notices, *certificate_notices]

    def post_update(
        self, incident_id: int, status: str, message: str, author: str, at: datetime
    ) -> IncidentNotice | None:
        """A person's update on an incident's timeline (UnknownIncident if there is none)."""
        with self._sessions.begin() as session:
            try:
                notice = human_update(session, incident_id, status, message, author, at)
            except LookupError:
                raise UnknownIncident(incident_id) from None
            # People who heard of the incident hear the post too; the sender picks it up.
            if notice is not None and self._outbox is not None and _announce(session, notice, Policy()):
                self._outbox(session, [notice])
            return notice

    def record_connectivity(self, online: bool, detail: str, at: datetime) -> None:
        """ronda itself went offline or came back: kept, so the record shows when its
        silence about targets meant nothing."""
        with self._sessions.begin() as session:
            session.add(ConnectivityRow(at=at, online=online, detail=detail))

    def connectivity(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._sessions() as session:
            rows = session.scalars(select(ConnectivityRow).order_by(ConnectivityRow.at.desc()).limit(limit))
            return [{"at": iso(r.at), "online": r.online, "detail": r.detail} for r in rows]

    # -- reading -------------------------------------------------------------------------

    def known(self) -> dict[str, dict[str, Any]]:
        """What each monitor's probe kept from its latest checks (Verdict.kept), by monitor name,
        as the scheduler takes it back at start: {"target": URL, "kept": {...}}."""
        with self._sessions() as session:
            rows = session.execute(select(MonitorRow.name, MonitorRow.known).where(MonitorRow.known.is_not(None)))
            return {name: dict(known) for name, known in rows}

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
            "source": row.source,  # "config" (the YAML file) or "api" (stored, editable)
            "editable": row.source == "api",
            "spec": row.spec,  # an API monitor's definition, as PUT takes it; None for the file's
            "device": row.device,  # what the device last said it is (ONVIF: make, model, firmware...)
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

    def uptime(self, name: str, now: datetime) -> dict[str, Any]:
        """Uptime and response times over 24 h, 7 d, 30 d and 90 d up to `now`, computed
        by the database (ronda/storage/stats.py says how)."""
        with self._sessions() as session:
            monitor = self._monitor_row(session, name)
            return {"monitor": monitor.name} | uptime_report(session, monitor.id, now)

    def daily(self, name: str, now: datetime, days: int = 90) -> list[dict[str, Any]]:
        """The monitor's uptime per UTC day, oldest first (ronda/storage/stats.py)."""
        with self._sessions() as session:
            return daily_uptime(session, self._monitor_row(session, name).id, now, days)

    def incident(self, incident_id: int) -> dict[str, Any]:
        with self._sessions() as session:
            row = session.execute(
                select(IncidentRow, MonitorRow.name)
                .join(MonitorRow, MonitorRow.id == IncidentRow.monitor_id)
                .where(IncidentRow.id == incident_id)
            ).one_or_none()
            if row is None:
                raise UnknownIncident(incident_id)
            return _incident_json(row[0], row[1], _updates(session, incident_id))

    def incidents(self, open_only: bool = False, limit: int = 200, monitor: str | None = None) -> list[dict[str, Any]]:
        """Newest first; `monitor`: only the incidents that monitor opened."""
        with self._sessions() as session:
            query = select(IncidentRow, MonitorRow.name).join(MonitorRow, MonitorRow.id == IncidentRow.monitor_id)
            if open_only:
                query = query.where(IncidentRow.status == "open")
            if monitor is not None:
                query = query.where(MonitorRow.name == monitor)
            rows = session.execute(query.order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc()).limit(limit))
            out = []
            for incident, monitor in rows:
                out.append(_incident_json(incident, monitor, _updates(session, incident.id)))
            return out

    def certificates(self, now: datetime) -> list[dict[str, Any]]:
        with self._sessions() as session:
            return inventory(session, now)


def _state_of(session: Session, monitor: MonitorRow) -> MonitorState:
    incident = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    if incident is not None and incident.signal == "reports":
        incident = None  # users' reports opened it: the probes have no incident of their own to resolve
    last_resolved = session.scalars(
        select(IncidentRow.resolved_at)
        .where(IncidentRow.monitor_id == monitor.id, IncidentRow.status == "resolved")
        .order_by(IncidentRow.resolved_at.desc())
        .limit(1)
    ).first()
    return MonitorState(
        status=monitor.status,
        cause=monitor.cause,
        since=monitor.since,
        failures=monitor.failures,
        successes=monitor.successes,
        failing_since=monitor.failing_since,
        changes=tuple(parse_iso(t) for t in monitor.changes),
        incident_open=incident is not None,
        incident_cause=incident.cause if incident else None,
        incident_flapping=bool(incident and incident.flapping),
        resolved_at=last_resolved,
    )


def _announce(session: Session, notice: IncidentNotice, policy: Policy) -> bool:
    """Failures only one vantage point of several sees are recorded, not announced (unless
    alert_local), nor planned ones (maintenance); once people were told of an incident,
    they hear all of it, to the end."""
    incident = session.get(IncidentRow, notice.incident_id)
    assert incident is not None
    if incident.planned:
        return False  # inside a maintenance window: on the timeline, never sent
    if policy.alert_local or notice.scope != "local":
        incident.announced = True
    return incident.announced


def _latest_readings(session: Session, monitor_id: int, since: datetime) -> list[Reading]:
    """Each vantage point's latest verdict on the monitor, if recent enough to count."""
    rows = session.execute(
        select(ResultRow.vantage, ResultRow.status, ResultRow.cause)
        .where(ResultRow.monitor_id == monitor_id, ResultRow.checked_at >= since)
        .order_by(ResultRow.checked_at.desc(), ResultRow.id.desc())
    )
    latest: dict[str, Reading] = {}
    for vantage, status, cause in rows:
        latest.setdefault(vantage, Reading(vantage, status, cause))
    return list(latest.values())


def _save_state(monitor: MonitorRow, state: MonitorState, result_id: int) -> None:
    monitor.status, monitor.cause, monitor.since = state.status, state.cause, state.since
    monitor.failures, monitor.successes, monitor.failing_since = state.failures, state.successes, state.failing_since
    monitor.changes = [iso(t) for t in state.changes]
    monitor.last_result_id = result_id


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
        "regions": incident.regions,
        "flapping": incident.flapping,
        "planned": incident.planned,
        "signal": incident.signal,  # probes | reports | both: which signal opened it, and whether the other joined
        "updates": [_update_json(u) for u in updates],
    }


def _updates(session: Session, incident_id: int) -> list[IncidentUpdateRow]:
    return list(
        session.scalars(
            select(IncidentUpdateRow)
            .where(IncidentUpdateRow.incident_id == incident_id)
            .order_by(IncidentUpdateRow.at, IncidentUpdateRow.id)
        )
    )


def _update_json(update: IncidentUpdateRow) -> dict[str, Any]:
    out = {"at": iso(update.at), "kind": update.kind, "message": update.message, "author": update.author}
    return out | ({"status": update.status} if update.status else {})
