"""Verdicts arriving in a batch, and what storing them needs from the store, read and
written in bulk: the monitors' rows (locked), the verdicts inserted in one statement, each
monitor's recent readings and its last resolved incident.

One verdict at a time, these were five queries and a flush each, about 3 ms a verdict on
SQLite: at most some 340 verdicts a second, where 100,000 monitors each minute write 1,700.
ronda/storage/monitors.py judges the verdicts one by one, in order, from what is read here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ronda.defaults import STORED_VERDICT_BYTES
from ronda.rules.incidents import Policy
from ronda.rules.scope import Reading
from ronda.storage import screenshots
from ronda.storage.history import Marks, read_marks
from ronda.storage.models import IncidentRow, MonitorRow, ResultRow
from ronda.verdict import Verdict, compact


class UnknownMonitor(LookupError):
    pass


@dataclass(frozen=True)
class Arrival:
    """A verdict to store, with how to judge it (see Monitors.record)."""

    name: str
    verdict: Verdict
    policy: Policy
    planned: bool = False
    offline: bool = False


class Recent(NamedTuple):
    """A stored verdict, as far as readings need it (a tuple: a batch reads thousands)."""

    id: int
    checked_at: datetime
    vantage: str
    status: str
    cause: str | None
    offline: bool


@dataclass
class Prepared:
    marks: Marks  # how far history is rolled up, read with a share lock
    monitors: dict[str, MonitorRow]  # by name, locked for update
    result_ids: list[int]  # each arrival's stored verdict, in order
    recent: dict[int, list[Recent]]  # each monitor's verdicts in the freshness window, newest first
    resolved: dict[int, datetime]  # each monitor's last resolved incident, as the batch began
    changed: set[int] = field(default_factory=set)  # monitors whose incidents moved in this batch

    def __post_init__(self) -> None:
        self._batch = frozenset(self.result_ids)

    def readings(self, monitor_id: int, since: datetime, result_id: int) -> list[Reading]:
        """Each vantage point's latest verdict on the monitor since `since`, as the store
        held them once verdict `result_id` was stored: none of the batch's later ones. A
        verdict made while its vantage point was cut off counts only as itself (so a cut-off
        point alone still sees what it sees, and opens nothing), never in another's reading."""
        batch = self._batch
        latest: dict[str, Reading] = {}
        for row in self.recent.get(monitor_id, []):
            if row.checked_at < since or (row.id in batch and row.id > result_id):
                continue
            if row.offline and row.id != result_id:
                continue
            latest.setdefault(row.vantage, Reading(row.vantage, row.status, row.cause))
        return list(latest.values())

    def last_resolved(self, session: Session, monitor_id: int) -> datetime | None:
        """When the monitor's last incident was resolved; read again once this batch has
        moved its incidents."""
        if monitor_id not in self.changed:
            return self.resolved.get(monitor_id)
        return session.scalars(
            select(IncidentRow.resolved_at)
            .where(IncidentRow.monitor_id == monitor_id, IncidentRow.status == "resolved")
            .order_by(IncidentRow.resolved_at.desc())
            .limit(1)
        ).first()


def prepare(session: Session, arrivals: Sequence[Arrival]) -> Prepared:
    """Lock the monitors, store the verdicts and read what judging them needs."""
    marks = read_marks(session, lock="share")
    names = sorted({arrival.name for arrival in arrivals})  # locked in one order: no deadlock between writers
    monitors = {
        row.name: row
        for row in session.scalars(
            select(MonitorRow).where(MonitorRow.name.in_(names)).order_by(MonitorRow.id).with_for_update()
        )
    }
    for name in names:
        if name not in monitors:
            raise UnknownMonitor(name)
    rows = [_result_row(session, monitors[arrival.name].id, arrival.verdict, arrival.offline) for arrival in arrivals]
    screenshots.prune(session, sorted({monitors[a.name].id for a in arrivals if screenshots.carried(a.verdict)}))
    stored = insert(ResultRow).returning(ResultRow.id, sort_by_parameter_order=True)
    result_ids = list(session.scalars(stored, rows))
    monitor_ids = [row.id for row in monitors.values()]
    since = min(arrival.verdict.checked_at - arrival.policy.fresh_for for arrival in arrivals)
    return Prepared(marks, monitors, result_ids, _recent(session, monitor_ids, since), _resolved(session, monitor_ids))


def _result_row(session: Session, monitor_id: int, verdict: Verdict, offline: bool) -> dict[str, object]:
    data, image = screenshots.split_off(verdict.to_json())  # an image is no part of a stored verdict
    if image is not None:
        data["browser"]["screenshot"]["id"] = screenshots.keep(session, monitor_id, verdict, image)
    return {
        "monitor_id": monitor_id,
        "checked_at": verdict.checked_at,
        "status": verdict.status,
        "cause": verdict.cause,
        "latency_ms": verdict.latency_ms,
        "verdict": compact(data, STORED_VERDICT_BYTES),  # whatever the target sent
        "vantage": verdict.vantage,
        "offline": offline,
    }


def _recent(session: Session, monitor_ids: list[int], since: datetime) -> dict[int, list[Recent]]:
    rows = session.execute(
        select(
            ResultRow.monitor_id,
            ResultRow.id,
            ResultRow.checked_at,
            ResultRow.vantage,
            ResultRow.status,
            ResultRow.cause,
            ResultRow.offline,
        )
        .where(ResultRow.monitor_id.in_(monitor_ids), ResultRow.checked_at >= since)
        .order_by(ResultRow.checked_at.desc(), ResultRow.id.desc())
    )
    recent: dict[int, list[Recent]] = defaultdict(list)
    for monitor_id, *row in rows:
        recent[monitor_id].append(Recent._make(row))
    return recent


def _resolved(session: Session, monitor_ids: list[int]) -> dict[int, datetime]:
    rows = session.execute(
        select(IncidentRow.monitor_id, func.max(IncidentRow.resolved_at))
        .where(IncidentRow.monitor_id.in_(monitor_ids), IncidentRow.status == "resolved")
        .group_by(IncidentRow.monitor_id)
    )
    return {monitor_id: at for monitor_id, at in rows if at is not None}
