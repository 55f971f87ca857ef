"""Users' problem reports: the intake's records, their counts for the surge detector and the
charts (ronda/storage/report_counts.py), and the surges they make (ronda/storage/surges.py).

Each method is one short transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ronda.records import Report, StoredReport
from ronda.storage.models import ReportRow
from ronda.storage.report_counts import ReportCounts
from ronda.storage.surges import Surges


class Reports:
    """The reports themselves; `counts` and `surges` read and write what follows from them."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        dialect: str,
        outbox: Callable[[Session, list[Any]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self.counts = ReportCounts(sessions, dialect)
        self.surges = Surges(sessions, outbox)

    def save(self, report: Report) -> int:
        with self._sessions.begin() as session:
            row = _report_row(report)
            session.add(row)
            session.flush()
            return row.id

    def save_counted(self, report: Report, reporters: Sequence[str], since: datetime) -> bool:
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

    def prune(self, before: datetime) -> int:
        """Delete the reports received before `before`; return how many."""
        with self._sessions.begin() as session:
            result = session.execute(delete(ReportRow).where(ReportRow.received_at < before))
            return int(getattr(result, "rowcount", 0) or 0)

    def latest(self, limit: int = 100, service: str | None = None) -> list[StoredReport]:
        """The latest reports (of one service, or all), newest first (for the dashboard and the API)."""
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
