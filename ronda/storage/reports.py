"""Users' problem reports: the intake's records, their counts for the surge detector and the
charts (ronda/storage/report_counts.py), and the surges they make (ronda/storage/surges.py).

Each method is one short transaction. Accepted reports are not written one by one: the
intake `queue`s them (a bounded list in memory), and `write_pending` stores all that wait in
one transaction, on the service's writer thread (`wake` asks it to). Every read writes what
waits first, so whoever reads (the API, the charts, the surge detector) sees every report
accepted before; a clean stop writes the rest (Database.close).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from ronda.records import Report, StoredReport
from ronda.storage.models import ReportRow
from ronda.storage.report_counts import ReportCounts
from ronda.storage.surges import Surges

log = logging.getLogger("ronda")

PENDING_MAX = 20_000  # reports waiting for the writer; past this the intake answers 503


def _nothing() -> None:
    return None


class Reports:
    """The reports themselves; `counts` and `surges` read and write what follows from them."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        dialect: str,
        outbox: Callable[[Session, list[Any]], None] | None = None,
        pending_max: int = PENDING_MAX,
    ) -> None:
        self._sessions = sessions
        self.counts = ReportCounts(sessions, dialect, before_read=self.write_pending)
        self.surges = Surges(sessions, outbox)
        self.pending_max = pending_max
        self.wake: Callable[[], None] = _nothing  # the service sets it: have the writer call write_pending soon
        self._pending: deque[Report] = deque()
        self._prune_before: datetime | None = None
        self._writing = threading.Lock()  # one batch at a time, so a reader waits for the one being written

    def queue(self, report: Report) -> bool:
        """Keep the report for the next batch; False when `pending_max` already wait (the
        writer is behind: the caller sheds the report). Costs no database work."""
        if len(self._pending) >= self.pending_max:
            return False
        self._pending.append(report)  # deque.append is atomic: the writer may be taking a batch
        self.wake()
        return True

    def prune_later(self, before: datetime) -> None:
        """Delete the reports received before `before` with the next batch."""
        self._prune_before = before
        self.wake()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def write_pending(self) -> int:
        """Store every queued report in one transaction (and prune, when asked); return how
        many were stored. Safe from any thread; a reader calls it before reading."""
        with self._writing:
            batch = [self._pending.popleft() for _ in range(len(self._pending))]
            prune, self._prune_before = self._prune_before, None
            if batch:
                try:
                    with self._sessions.begin() as session:
                        session.execute(insert(ReportRow), [asdict(report) for report in batch])
                except Exception:
                    self._pending.extendleft(reversed(batch))  # kept for the next try, in order
                    raise
            if prune is not None:
                self.prune(prune)
            return len(batch)

    def save(self, report: Report) -> int:
        with self._sessions.begin() as session:
            row = _report_row(report)
            session.add(row)
            session.flush()
            return row.id

    def prune(self, before: datetime) -> int:
        """Delete the reports received before `before`; return how many."""
        with self._sessions.begin() as session:
            result = session.execute(delete(ReportRow).where(ReportRow.received_at < before))
            return int(getattr(result, "rowcount", 0) or 0)

    def latest(self, limit: int = 100, service: str | None = None) -> list[StoredReport]:
        """The latest reports (of one service, or all), newest first (for the dashboard and the API)."""
        self.write_pending()
        with self._sessions() as session:
            query = select(ReportRow)
            if service is not None:
                query = query.where(ReportRow.service == service)
            rows = session.scalars(query.order_by(ReportRow.id.desc()).limit(limit))
            return [
                StoredReport(r.service, r.region, r.problem, r.comment, r.reporter_hash, r.received_at, r.id)
                for r in rows
            ]


def _report_row(report: Report) -> ReportRow:
    return ReportRow(**asdict(report))  # the record's fields are the row's columns
