"""The notification outbox's rows: what a row's `source` says, and, once ronda/notify/outbox.py
wrote them in the transaction of the event that caused them, what the sender delivers,
retries and gives up on, and what the API lists.

A row's `source` names the event (`incident:7:opened`, `incident:7:resolved:4`,
`certificate:<sha256>:cert_expiring`); UNIQUE(source, channel) makes writing the same event
twice a no-op.

Each method is one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ronda.records import OutboxEntry
from ronda.rules.incidents import Event
from ronda.storage.models import IncidentRow, MonitorRow, OutboxRow


def new_row(
    source: str,
    channel: str,
    words: tuple[str, str, str],
    now: datetime,
    deadline: datetime,
    status: str = "pending",
    due: datetime | None = None,
) -> dict[str, Any]:
    """A row as the outbox table takes it (`words`: title, body, Apprise's notify type):
    never tried, due at once unless told."""
    title, body, kind = words
    return {
        "source": source,
        "channel": channel,
        "title": title,
        "body": body,
        "kind": kind,
        "status": status,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": due or now,
        "deadline_at": deadline,
    }


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Rows into the outbox in `session`'s transaction; one whose (source, channel) is there
    already is left out: writing the same event twice sends it once."""
    if rows:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        session.execute(
            insert(OutboxRow).values(list(rows)).on_conflict_do_nothing(index_elements=["source", "channel"])
        )


def incident_source(incident_id: int, event: Event, timeline_entries: int) -> str:
    """An incident opens once; its other events can repeat (a cause changes twice, a
    reopened incident resolves again), so they carry the length of its timeline then."""
    if event is Event.OPENED:
        return f"incident:{incident_id}:opened"
    return f"incident:{incident_id}:{event}:{timeline_entries}"


def opened_incident(source: str) -> int | None:
    """The incident whose opening `source` tells of, if it does."""
    kind, _, rest = source.partition(":")
    number, _, event = rest.partition(":")
    return int(number) if kind == "incident" and event == "opened" and number.isdigit() else None


@dataclass(frozen=True)
class Pending:
    """A row still to deliver, as the sender plans with it."""

    id: int
    source: str
    channel: str
    title: str
    body: str
    kind: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime

    @property
    def opened_incident(self) -> int | None:
        return opened_incident(self.source)

    @property
    def held_for_storm(self) -> bool:
        """An opening written while a storm was under way: never tried, due later than written."""
        return self.opened_incident is not None and self.attempts == 0 and self.next_attempt_at > self.created_at


@dataclass(frozen=True)
class Draft:
    """A public channel's post as a person reviews it (a `draft` waits for them; once they
    decided, the same row `pending`, `sent`, `failed` or `discarded`)."""

    id: int
    source: str
    channel: str
    title: str
    body: str
    kind: str
    status: str
    created_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = None


class NotADraft(LookupError):
    """Approving or discarding a row that waits for no one: none by that id (`status` None),
    or one already approved, discarded, sent or given up on."""

    def __init__(self, row_id: int, status: str | None) -> None:
        self.row_id = row_id
        self.status = status
        super().__init__(
            f"no post {row_id}" if status is None else f"post {row_id} is no longer a draft (it is {status})"
        )


class Ledger:
    """The outbox as the sender and the API use it; each method is one transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def pending(self) -> list[Pending]:
        """Every row still to deliver, in the order written."""
        with self._sessions() as session:
            rows = session.scalars(select(OutboxRow).where(OutboxRow.status == "pending").order_by(OutboxRow.id))
            return [
                Pending(r.id, r.source, r.channel, r.title, r.body, r.kind, r.attempts, r.next_attempt_at, r.created_at)
                for r in rows
            ]

    def expire(self, now: datetime) -> int:
        """Give up on rows past their deadline; what the last attempt said stays."""
        with self._sessions.begin() as session:
            return int(
                session.execute(  # type: ignore[attr-defined]
                    update(OutboxRow)
                    .where(OutboxRow.status == "pending", OutboxRow.deadline_at <= now)
                    .values(
                        status="failed",
                        last_error=func.coalesce(OutboxRow.last_error, "not delivered before its deadline"),
                    )
                ).rowcount
            )

    def mark_sent(self, ids: Sequence[int], at: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.status == "pending")
                .values(status="sent", sent_at=at)
            )

    def mark_attempt_failed(self, ids: Sequence[int], retry_at: datetime, error: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.status == "pending")
                .values(attempts=OutboxRow.attempts + 1, next_attempt_at=retry_at, last_error=error)
            )

    def abandon(self, ids: Sequence[int], reason: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.status == "pending")
                .values(status="failed", last_error=reason)
            )

    def next_wake(self) -> datetime | None:
        """When something next falls due or past its deadline."""
        with self._sessions() as session:
            due, deadline = session.execute(
                select(func.min(OutboxRow.next_attempt_at), func.min(OutboxRow.deadline_at)).where(
                    OutboxRow.status == "pending"
                )
            ).one()
        times = [t for t in (due, deadline) if t is not None]
        return min(times) if times else None

    def opened(self, incident_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
        """Monitor and cause of each incident, for a digest."""
        with self._sessions() as session:
            rows = session.execute(
                select(IncidentRow.id, MonitorRow.name, IncidentRow.cause)
                .join(MonitorRow, MonitorRow.id == IncidentRow.monitor_id)
                .where(IncidentRow.id.in_(incident_ids))
            )
            return {row_id: (name, cause) for row_id, name, cause in rows}

    def write(self, make_rows: Callable[[Session], Sequence[dict[str, Any]]]) -> int:
        """Rows that `make_rows` makes from what the store holds, written in one transaction
        (those already there left out); how many it made."""
        with self._sessions.begin() as session:
            rows = make_rows(session)
            insert_rows(session, rows)
            return len(rows)

    def count_pending(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")) or 0

    # -- public channels' drafts: written `draft`, sent once a person approves them ----------

    def drafts(self) -> list[Draft]:
        """Every post awaiting approval, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(select(OutboxRow).where(OutboxRow.status == "draft").order_by(OutboxRow.id))
            return [_draft(row) for row in rows]

    def count_drafts(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "draft")) or 0

    def posts(self, prefix: str, status: str | None = None, limit: int = 200) -> list[Draft]:
        """The rows of channels named `prefix`...: drafts oldest first (the order to decide
        them in), the others newest first."""
        with self._sessions() as session:
            query = select(OutboxRow).where(OutboxRow.channel.startswith(prefix, autoescape=True)).limit(limit)
            if status is not None:
                query = query.where(OutboxRow.status == status)
            query = query.order_by(OutboxRow.id if status == "draft" else OutboxRow.id.desc())
            return [_draft(row) for row in session.scalars(query)]

    def post(self, row_id: int) -> Draft | None:
        with self._sessions() as session:
            row = session.get(OutboxRow, row_id)
            return _draft(row) if row is not None else None

    def approve(self, row_id: int, title: str | None, body: str | None, now: datetime, deadline: timedelta) -> Draft:
        """A person approves a draft, with their edits of its title and body (None: as
        written): due now, with a deadline from now. NotADraft unless it is still a draft."""
        values: dict[str, object] = {"status": "pending", "next_attempt_at": now, "deadline_at": now + deadline}
        if title is not None:
            values["title"] = title
        if body is not None:
            values["body"] = body
        return self._decide(row_id, values)

    def discard(self, row_id: int) -> Draft:
        """A person decides a draft is not to be sent. NotADraft unless it is still a draft."""
        return self._decide(row_id, {"status": "discarded"})

    def _decide(self, row_id: int, values: dict[str, object]) -> Draft:
        with self._sessions.begin() as session:
            # Conditional, so two people deciding the same draft at once cannot both win.
            changed = session.execute(  # type: ignore[attr-defined]
                update(OutboxRow).where(OutboxRow.id == row_id, OutboxRow.status == "draft").values(**values)
            ).rowcount
            row = session.get(OutboxRow, row_id)
            if not changed or row is None:
                raise NotADraft(row_id, row.status if row is not None else None)
            return _draft(row)

    def listing(self, status: str | None = None, limit: int = 200) -> list[OutboxEntry]:
        """Rows newest first, for the API."""
        with self._sessions() as session:
            query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
            if status is not None:
                query = query.where(OutboxRow.status == status)
            return [_entry(row) for row in session.scalars(query)]


def _draft(row: OutboxRow) -> Draft:
    return Draft(
        id=row.id,
        source=row.source,
        channel=row.channel,
        title=row.title,
        body=row.body,
        kind=row.kind,
        status=row.status,
        created_at=row.created_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def _entry(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        source=row.source,
        channel=row.channel,
        title=row.title,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        deadline_at=row.deadline_at,
        sent_at=row.sent_at,
    )
