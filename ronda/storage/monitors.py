"""The monitors: their stored state, every verdict kept, and what a verdict does in the
transaction that keeps it (the monitor's state, its incidents, the certificates it saw),
so a crash between them cannot leave one without the other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, column, func, insert, or_, select, table, update
from sqlalchemy.orm import Session, sessionmaker

from ronda.memory import gc_paused
from ronda.records import ConnectivityEntry, DayFigures, MonitorRecord, UptimeReport
from ronda.rules.incidents import Event, MonitorState, Policy, Transition, advance
from ronda.rules.scope import assess_scope
from ronda.storage.arrivals import Arrival, Prepared, UnknownMonitor, prepare
from ronda.storage.db import among
from ronda.storage.history import fold_late
from ronda.storage.incidents import Notice, follow
from ronda.storage.inventory import remember
from ronda.storage.models import ConnectivityRow, IncidentRow, MonitorRow, ResultRow
from ronda.storage.stats import daily_uptime, daily_uptime_many, uptime_report, window_figures
from ronda.verdict import Verdict, as_utc, iso, parse_iso


@dataclass(frozen=True)
class VantageFigures:
    """A monitor as one vantage point sees it: latest status, checks and latency."""

    vantage: str
    status: str
    cause: str | None
    checked_at: datetime
    offline: bool  # its latest check was made while that point's own network was cut off
    checks: int
    failed: int
    median_ms: float | None

    @property
    def region(self) -> str:
        return self.vantage.split("/", 1)[0]


def _vantage_figures(vantage: str, rows: list[Any]) -> VantageFigures:
    """From a vantage point's rows, newest first."""
    latest = rows[0]
    latencies = sorted(row.latency_ms for row in rows if row.latency_ms is not None and row.status == "up")
    median = latencies[len(latencies) // 2] if latencies else None
    failed = sum(1 for row in rows if row.status != "up")
    return VantageFigures(
        vantage, latest.status, latest.cause, as_utc(latest.checked_at), latest.offline, len(rows), failed, median
    )


WARNING = "warning"  # not a status: how the dashboard counts an up monitor whose latest verdict warns


@dataclass(frozen=True)
class Selection:
    """Which monitors a list shows, a page at a time: in a status, among some names (a
    tag's), with a text in the name or target (any case), after a name (the cursor of the
    page before), at most `limit`. Done in SQL: at 100,000 monitors a page costs its own size."""

    status: str | None = None
    names: frozenset[str] | None = None
    text: str | None = None
    after: str | None = None
    limit: int | None = None
    warned: bool | None = None  # only those whose latest verdict warns (True) or does not (False)

    def applied(self, query: Select[Any]) -> Select[Any]:
        if self.status is not None:
            query = query.where(MonitorRow.status == self.status)
        if self.warned is not None:
            query = query.where(MonitorRow.warning.is_not(None) if self.warned else MonitorRow.warning.is_(None))
        if self.names is not None:  # a tag may name more monitors than a statement binds
            query = query.where(among(MonitorRow.name, sorted(self.names)))
        if self.text:
            pattern = "%" + self.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(
                    func.lower(MonitorRow.name).like(pattern, escape="\\"),
                    func.lower(MonitorRow.target).like(pattern, escape="\\"),
                )
            )
        if self.after is not None:
            query = query.where(MonitorRow.name > self.after)
        return query.limit(self.limit) if self.limit is not None else query


_INSERTED_AT_ONCE = 5_000
_NEW_VALUES = {"source": "config", "active": True, "status": "unknown", "failures": 0}  # every new row's
_NEW_MONITOR = table("monitors", *(column(name) for name in ("name", "target", *_NEW_VALUES)))


class Monitors:
    def __init__(
        self, sessions: sessionmaker[Session], outbox: Callable[[Session, list[Notice]], None] | None = None
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox  # writes notices for sending, in the transaction that produced them

    # -- writing -------------------------------------------------------------------------

    def sync(self, monitors: dict[str, str]) -> None:
        """Make the stored monitors those of the config (name -> target); monitors no
        longer configured are kept, with their history, as inactive. The file is the source
        of truth for what it names: an API monitor of the same name becomes the file's."""
        with gc_paused(), self._sessions.begin() as session:
            # In bulk (Core statements, no ORM object per monitor): at 100,000 monitors this
            # runs at every start and reload.
            stored = {
                name: (monitor_id, target, active, source, spec is not None)
                for monitor_id, name, target, active, source, spec in session.execute(
                    select(
                        MonitorRow.id,
                        MonitorRow.name,
                        MonitorRow.target,
                        MonitorRow.active,
                        MonitorRow.source,
                        MonitorRow.spec,
                    )
                )
            }
            new = [(name, target) for name, target in monitors.items() if name not in stored]
            changed = [
                {"id": row[0], "target": target, "active": True, "source": "config", "spec": None}
                for name, target in monitors.items()
                if (row := stored.get(name)) is not None and row[1:] != (target, True, "config", False)
            ]
            gone = [row[0] for name, row in stored.items() if name not in monitors and row[3] == "config" and row[2]]
            # Core on a bare table of just these columns, not the ORM's bulk insert: no
            # bookkeeping per row, and `changes` takes the server's "[]" rather than a Python
            # list to serialise per row (100,000: 2 s -> 0.5 s). In slices, so that the rows'
            # parameters never all live at once (100,000: 40 MB at once).
            for first in range(0, len(new), _INSERTED_AT_ONCE):
                rows = [{"name": name, "target": target} for name, target in new[first : first + _INSERTED_AT_ONCE]]
                session.execute(insert(_NEW_MONITOR).values(_NEW_VALUES), rows)
            if changed:
                session.execute(update(MonitorRow), changed)
            if gone:
                session.execute(update(MonitorRow).where(among(MonitorRow.id, gone)).values(active=False))

    def record(
        self, name: str, verdict: Verdict, policy: Policy | int, planned: bool = False, offline: bool = False
    ) -> list[Notice]:
        """Store a verdict and apply it to the monitor's state; return what people must hear:
        incidents opened, changed or resolved, certificates rotated or past a threshold.
        `planned`: the verdict falls in a maintenance window (incidents are marked, not sent).
        `offline`: ronda itself is cut off, so a failure proves nothing: no incident opens."""
        judged = Policy(confirm=policy) if isinstance(policy, int) else policy
        arrival = Arrival(name, verdict, judged, planned, offline)
        with self._sessions.begin() as session:
            return self._apply_all(session, [arrival])[0]

    def record_many(self, arrivals: Sequence[Arrival]) -> list[list[Notice] | Exception]:
        """Several verdicts in one transaction: one commit for all, where one each set the
        pace of every check at thousands of monitors. Should one of them fail (a defect),
        the whole is rolled back and each is recorded on its own, so that only that one is
        lost: its place in the answer holds the exception, the others their notices."""
        try:
            with self._sessions.begin() as session:
                return list(self._apply_all(session, arrivals))
        except Exception:
            if len(arrivals) == 1:
                raise
        outcomes: list[list[Notice] | Exception] = []
        for arrival in arrivals:
            try:
                with self._sessions.begin() as session:
                    outcomes.append(self._apply_all(session, [arrival])[0])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _apply_all(self, session: Session, arrivals: Sequence[Arrival]) -> list[list[Notice]]:
        """Store the verdicts (ronda/storage/arrivals.py reads and writes in bulk), then
        judge each in order."""
        prepared = prepare(session, arrivals)
        return [self._apply(session, arrival, prepared, i) for i, arrival in enumerate(arrivals)]

    def _apply(self, session: Session, arrival: Arrival, prepared: Prepared, index: int) -> list[Notice]:
        """What the stored verdict does: the monitor's state, its incidents, the certificates
        it saw, history already rolled up; the notices people must hear."""
        name, verdict, policy = arrival.name, arrival.verdict, arrival.policy
        monitor, result_id = prepared.monitors[name], prepared.result_ids[index]
        fold_late(session, prepared.marks, monitor.id, verdict.status, verdict.checked_at, verdict.latency_ms)
        if monitor.first_checked_at is None or verdict.checked_at < monitor.first_checked_at:
            monitor.first_checked_at = verdict.checked_at  # kept: raw verdicts age out
        if verdict.onvif and verdict.onvif.get("device"):  # kept while the device is unreachable
            monitor.device = verdict.onvif["device"]
        if verdict.kept is not None:  # what the probe keeps for the next check, across restarts
            monitor.known = {"target": verdict.target, "kept": verdict.kept}
        readings = prepared.readings(monitor.id, verdict.checked_at - policy.fresh_for, result_id)
        scope = assess_scope(readings, policy.quorum)
        status, cause = (scope.status, verdict.cause or scope.cause) if scope.failing else ("up", None)
        transition = advance(_state_of(session, monitor, prepared), status, cause, verdict.checked_at, policy)
        if arrival.offline:
            opening = (Event.OPENED, Event.REOPENED)
            transition = Transition(transition.state, tuple(e for e in transition.events if e not in opening))
        _save_state(monitor, transition.state, result_id)
        monitor.warning = verdict.warnings[0].code if verdict.warnings else None
        notices: list[Notice] = [*follow(session, monitor, transition, verdict, scope, status, arrival.planned, policy)]
        if transition.events:
            prepared.changed.add(monitor.id)  # its last resolved incident may have moved
        notices += remember(session, monitor, verdict)
        if self._outbox is not None and notices:  # here, so that a crash cannot keep the event and lose the notice
            self._outbox(session, notices)
        return notices

    def record_connectivity(self, online: bool, detail: str, at: datetime) -> None:
        """ronda itself went offline or came back: kept, so the record shows when its
        silence about targets meant nothing."""
        with self._sessions.begin() as session:
            session.add(ConnectivityRow(at=at, online=online, detail=detail))

    # -- reading -------------------------------------------------------------------------

    def connectivity(self, limit: int = 20) -> list[ConnectivityEntry]:
        with self._sessions() as session:
            rows = session.scalars(select(ConnectivityRow).order_by(ConnectivityRow.at.desc()).limit(limit))
            return [ConnectivityEntry(r.at, r.online, r.detail) for r in rows]

    # -- reading -------------------------------------------------------------------------

    def known(self) -> dict[str, dict[str, Any]]:
        """What each monitor's probe kept from its latest checks (Verdict.kept), by monitor name,
        as the scheduler takes it back at start: {"target": URL, "kept": {...}}."""
        with self._sessions() as session:
            rows = session.execute(select(MonitorRow.name, MonitorRow.known).where(MonitorRow.known.is_not(None)))
            return {name: dict(known) for name, known in rows}

    def active(self, selection: Selection | None = None) -> list[MonitorRecord]:
        """The monitors checked now, by name; `selection` narrows and pages them."""
        query = select(MonitorRow).where(MonitorRow.active).order_by(MonitorRow.name)
        if selection is not None:
            query = selection.applied(query)
        with self._sessions() as session:
            rows = session.scalars(query).all()
            # Every latest verdict in one read, not one per monitor: pages list them all.
            ids = [row.last_result_id for row in rows if row.last_result_id]
            last: dict[int, dict[str, Any]] = {}
            if ids:
                found = session.execute(select(ResultRow.id, ResultRow.verdict).where(among(ResultRow.id, ids)))
                last = {result_id: verdict for result_id, verdict in found}
            return [_record(session, row, last.get(row.last_result_id or 0)) for row in rows]

    def count_by_status(self) -> dict[str, int]:
        """How many monitors checked now are in each status (those with none left out); the
        up ones that warn (an expiring certificate, slow answers) count as "warning"."""
        warns = MonitorRow.warning.is_not(None)
        query = (
            select(MonitorRow.status, warns, func.count()).where(MonitorRow.active).group_by(MonitorRow.status, warns)
        )
        counts: dict[str, int] = {}
        with self._sessions() as session:
            for status, warned, count in session.execute(query):
                key = WARNING if status == "up" and warned else status
                counts[key] = counts.get(key, 0) + count
        return counts

    def get(self, name: str) -> MonitorRecord:
        with self._sessions() as session:
            return _record(session, _monitor_row(session, name))

    def results(self, name: str, limit: int) -> list[dict[str, Any]]:
        with self._sessions() as session:
            monitor = _monitor_row(session, name)
            rows = session.scalars(
                select(ResultRow)
                .where(ResultRow.monitor_id == monitor.id)
                .order_by(ResultRow.checked_at.desc(), ResultRow.id.desc())
                .limit(limit)
            )
            return [row.verdict for row in rows]

    def vantages(self, name: str, since: datetime) -> list[VantageFigures]:
        """How the monitor looks from each vantage point since `since`: its latest status and
        the median latency of its checks there, by vantage point ("local" first)."""
        with self._sessions() as session:
            monitor = _monitor_row(session, name)
            rows = session.execute(
                select(ResultRow.vantage, ResultRow.checked_at, ResultRow.status, ResultRow.cause)
                .add_columns(ResultRow.latency_ms, ResultRow.offline)
                .where(ResultRow.monitor_id == monitor.id, ResultRow.checked_at >= since)
                .order_by(ResultRow.checked_at.desc(), ResultRow.id.desc())
            ).all()
        by_vantage: dict[str, list[Any]] = {}
        for row in rows:
            by_vantage.setdefault(row.vantage, []).append(row)
        return sorted(
            (_vantage_figures(vantage, seen) for vantage, seen in by_vantage.items()),
            key=lambda figures: (figures.vantage != "local", figures.vantage),
        )

    def uptime(self, name: str, now: datetime) -> UptimeReport:
        """Uptime and response times over 24 h, 7 d, 30 d and 90 d up to `now`, computed
        by the database (ronda/storage/stats.py says how)."""
        with self._sessions() as session:
            monitor = _monitor_row(session, name)
            return uptime_report(session, monitor.name, monitor.id, now)

    def daily(self, name: str, now: datetime, days: int = 90) -> list[DayFigures]:
        """The monitor's uptime per UTC day, oldest first (ronda/storage/stats.py)."""
        with self._sessions() as session:
            return daily_uptime(session, _monitor_row(session, name).id, now, days)

    def daily_many(self, names: list[str], now: datetime, days: int = 90) -> dict[str, list[DayFigures]]:
        """`daily` of each of these monitors, in one read; unknown names are left out."""
        with self._sessions() as session:
            rows = session.execute(select(MonitorRow.id, MonitorRow.name).where(among(MonitorRow.name, names)))
            ids: dict[int, str] = {monitor_id: name for monitor_id, name in rows}
            if not ids:
                return {}
            return {ids[i]: figures for i, figures in daily_uptime_many(session, list(ids), now, days).items()}

    def uptime_between(self, name: str, since: datetime, until: datetime) -> float | None:
        """Percent of checks not down in (since, until], None without checks (or monitor)."""
        with self._sessions() as session:
            monitor_id = session.scalar(select(MonitorRow.id).where(MonitorRow.name == name))
            if monitor_id is None:
                return None
            return window_figures(session, monitor_id, since, until).uptime

    def first_checks(self, names: list[str]) -> dict[str, datetime]:
        """When each monitor was first checked (kept with the monitor: verdicts age out)."""
        with self._sessions() as session:
            rows = session.execute(
                select(MonitorRow.name, MonitorRow.first_checked_at).where(
                    among(MonitorRow.name, names), MonitorRow.first_checked_at.is_not(None)
                )
            )
            return {name: as_utc(at) for name, at in rows if at is not None}


def _monitor_row(session: Session, name: str) -> MonitorRow:
    row = session.scalars(select(MonitorRow).where(MonitorRow.name == name)).one_or_none()
    if row is None:
        raise UnknownMonitor(name)
    return row


def _record(session: Session, row: MonitorRow, last_check: dict[str, Any] | None = None) -> MonitorRecord:
    if last_check is None and row.last_result_id:
        last = session.get(ResultRow, row.last_result_id)
        last_check = last.verdict if last else None
    return MonitorRecord(
        name=row.name,
        target=row.target,
        status=row.status,
        cause=row.cause,
        since=row.since,
        open_incident=row.open_incident_id,
        last_check=last_check,
        source=row.source,
        spec=row.spec,
        device=row.device,
        warning=row.warning,
    )


def _state_of(session: Session, monitor: MonitorRow, prepared: Prepared) -> MonitorState:
    incident = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    if incident is not None and incident.signal == "reports":
        incident = None  # users' reports opened it: the probes have no incident of their own to resolve
    last_resolved = prepared.last_resolved(session, monitor.id)
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


def _save_state(monitor: MonitorRow, state: MonitorState, result_id: int) -> None:
    monitor.status, monitor.cause, monitor.since = state.status, state.cause, state.since
    monitor.failures, monitor.successes, monitor.failing_since = state.failures, state.successes, state.failing_since
    monitor.changes = [iso(t) for t in state.changes]
    monitor.last_result_id = result_id
