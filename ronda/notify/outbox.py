"""The notification outbox: every notice is a row per channel, written in the transaction
of the event that caused it, so a crash between the event and the sending cannot lose it.

`Outbox.write` runs inside `Store.record`'s transaction; `Ledger` is everything else the
sender and the API do with the rows. A row's `source` names the event (`incident:7:opened`,
`incident:7:resolved:4`, `certificate:<sha256>:cert_expiring`); UNIQUE(source, channel)
makes writing the same event twice a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ronda import defaults
from ronda.causes import Severity
from ronda.clock import Clock, system_clock
from ronda.notify.channels import Channel, route
from ronda.notify.messages import message_for
from ronda.notify.retry import Backoff
from ronda.rules.incidents import Event
from ronda.storage.inventory import CertificateNotice
from ronda.storage.models import (
    CertificatePlaceRow,
    CertificateRow,
    IncidentRow,
    IncidentUpdateRow,
    MonitorRow,
    OutboxRow,
)
from ronda.storage.store import IncidentNotice, Notice
from ronda.verdict import iso

if TYPE_CHECKING:
    from ronda.config.schema import Config


@dataclass(frozen=True)
class OutboxSettings:
    backoff: Backoff = field(default_factory=Backoff)
    # More incident-opened notices than `storm`, due together on a channel, go as one digest;
    # each waits `storm_wait` seconds for others to join it (the config's notify_storm*).
    storm: int = defaults.NOTIFY_STORM
    storm_wait: float = defaults.NOTIFY_STORM_WAIT
    storm_window: float = 60.0  # "due together": due within this many seconds of each other


def settings_for(config: Config) -> OutboxSettings:
    retry = config.notify_retry
    return OutboxSettings(Backoff(retry.first, retry.max), config.notify_storm, config.notify_storm_wait)


# -- sources: which event a row tells of ----------------------------------------------------


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


def severity_of(notice: Notice) -> Severity:
    """Incidents by their worst status (a resolution inherits it); certificates warn."""
    if isinstance(notice, IncidentNotice):
        return Severity.DOWN if notice.severity == "down" else Severity.DEGRADED
    return Severity.WARNING


# -- writing, inside the event's transaction ----------------------------------------------


class Outbox:
    def __init__(
        self,
        channels: Sequence[Channel],
        monitor_tags: Mapping[str, Iterable[str]],
        settings: OutboxSettings,
        public_url: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.channels = list(channels)
        self.monitor_tags = {name: frozenset(tags) for name, tags in monitor_tags.items()}
        self.settings = settings
        self.public_url = public_url
        self.clock = clock

    def write(self, session: Session, notices: Sequence[Notice]) -> None:
        """Queue `notices` for every channel that wants them, in `session`'s transaction."""
        if not self.channels:
            return
        now = self.clock()
        rows = [row for notice in notices if not _planned(notice) for row in self._rows(session, notice, now)]
        if rows:
            insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            session.execute(insert(OutboxRow).values(rows).on_conflict_do_nothing(index_elements=["source", "channel"]))

    def _rows(self, session: Session, notice: Notice, now: datetime) -> list[dict[str, Any]]:
        channels = route(self.channels, severity_of(notice), self._tags(session, notice))
        if not channels:
            return []
        source = _source(session, notice)
        # An opening waits a little, so that a storm of them can leave as one digest.
        opening = isinstance(notice, IncidentNotice) and notice.event is Event.OPENED
        due = now + timedelta(seconds=self.settings.storm_wait if opening else 0)
        message = message_for(notice, self.public_url)
        return [
            {
                "source": source,
                "channel": channel.name,
                "title": message.title,
                "body": message.body,
                "kind": message.kind,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": due,
                "deadline_at": now + timedelta(seconds=channel.deadline_s),
            }
            for channel in channels
        ]

    def _tags(self, session: Session, notice: Notice) -> frozenset[str]:
        if isinstance(notice, IncidentNotice):
            return self.monitor_tags.get(notice.monitor, frozenset())
        # A certificate concerns every monitor that serves it.
        monitors = session.scalars(
            select(MonitorRow.name)
            .join(CertificatePlaceRow, CertificatePlaceRow.monitor_id == MonitorRow.id)
            .join(CertificateRow, CertificateRow.id == CertificatePlaceRow.certificate_id)
            .where(CertificateRow.fingerprint_sha256 == notice.fingerprint)
        )
        return frozenset().union(*(self.monitor_tags.get(name, frozenset()) for name in monitors))


def _planned(notice: Notice) -> bool:
    """Inside a maintenance window an incident is recorded, never sent."""
    return isinstance(notice, IncidentNotice) and notice.planned


def _source(session: Session, notice: Notice) -> str:
    if isinstance(notice, CertificateNotice):
        return f"certificate:{notice.fingerprint}:{notice.code}"
    entries = session.scalar(
        select(func.count()).select_from(IncidentUpdateRow).where(IncidentUpdateRow.incident_id == notice.incident_id)
    )
    return incident_source(notice.incident_id, notice.event, entries or 0)


# -- the rows after they are written ------------------------------------------------------


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

    @property
    def opened_incident(self) -> int | None:
        return opened_incident(self.source)


class Ledger:
    """The outbox as the sender and the API use it; each method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def pending(self) -> list[Pending]:
        """Every row still to deliver, in the order written."""
        with self._sessions() as session:
            rows = session.scalars(select(OutboxRow).where(OutboxRow.status == "pending").order_by(OutboxRow.id))
            return [
                Pending(r.id, r.source, r.channel, r.title, r.body, r.kind, r.attempts, r.next_attempt_at) for r in rows
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

    def count_pending(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")) or 0

    def listing(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Rows newest first, for the API."""
        with self._sessions() as session:
            query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
            if status is not None:
                query = query.where(OutboxRow.status == status)
            return [_row_json(row) for row in session.scalars(query)]


def _row_json(row: OutboxRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "channel": row.channel,
        "title": row.title,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
        "deadline_at": iso(row.deadline_at),
        "sent_at": iso(row.sent_at) if row.sent_at else None,
    }
