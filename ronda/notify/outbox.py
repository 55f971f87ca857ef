"""The notification outbox: every notice is a row per channel, written in the transaction
of the event that caused it, so a crash between the event and the sending cannot lose it.

`Outbox.write` runs inside the transaction of a verdict, a surge or a person's post: it
decides which channels hear a notice and in what words. The rows after that, and what a
row's `source` says, are ronda/storage/outbox.py's (the database's `db.outbox`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ronda import defaults
from ronda.causes import Severity
from ronda.clock import Clock, system_clock
from ronda.notify.channels import Channel, route
from ronda.notify.messages import Message, message_for
from ronda.notify.retry import Backoff
from ronda.rules.incidents import Event
from ronda.storage.incidents import IncidentNotice, Notice
from ronda.storage.inventory import CertificateNotice
from ronda.storage.models import (
    CertificatePlaceRow,
    CertificateRow,
    IncidentUpdateRow,
    MonitorRow,
    OutboxRow,
)
from ronda.storage.outbox import incident_source, insert_rows, new_row

if TYPE_CHECKING:
    from ronda.config.schema import Config

# The rows a status page's posts add to the outbox, in the event's transaction.
PublicRows = Callable[[Session, Sequence[Notice], datetime], list[dict[str, Any]]]


@dataclass(frozen=True)
class OutboxSettings:
    backoff: Backoff = field(default_factory=Backoff)
    # An opening leaves at once. Once more than `storm` openings were written for a channel
    # within `storm_window`, a storm is under way: the next ones wait `storm_wait` seconds
    # and leave as one digest with every opening then waiting (the config's notify_storm*).
    storm: int = defaults.NOTIFY_STORM
    storm_wait: float = defaults.NOTIFY_STORM_WAIT
    storm_window: float = 60.0  # "together": written (or due) within this many seconds


def settings_for(config: Config) -> OutboxSettings:
    retry = config.notify_retry
    return OutboxSettings(Backoff(retry.first, retry.max), config.notify_storm, config.notify_storm_wait)


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
        public: PublicRows | None = None,
    ) -> None:
        self.channels = list(channels)
        self.public = public  # the public posts' rows (ronda/web/public_posts.py)
        self.monitor_tags = {name: frozenset(tags) for name, tags in monitor_tags.items()}
        self.settings = settings
        self.public_url = public_url
        self.clock = clock

    def write(self, session: Session, notices: Sequence[Notice]) -> None:
        """Queue `notices` for every channel that wants them, and the public posts they
        make (status pages' subscribers and public channels), in `session`'s transaction."""
        sent = [notice for notice in notices if not _planned(notice)]
        if not sent or (not self.channels and self.public is None):
            return
        now = self.clock()
        rows = []
        if self.channels:
            recent = self._recent_openings(session, now) if any(map(_opening, sent)) else {}
            rows = [row for notice in sent for row in self._rows(session, notice, now, recent)]
        if self.public is not None:
            rows += self.public(session, sent, now)
        insert_rows(session, rows)

    def _rows(self, session: Session, notice: Notice, now: datetime, recent: dict[str, int]) -> list[dict[str, Any]]:
        channels = route(self.channels, severity_of(notice), self._tags(session, notice))
        if not channels:
            return []
        source = notice_source(session, notice)
        message = message_for(notice, self.public_url)
        return [
            outbox_row(
                source,
                channel.name,
                message,
                now,
                now + timedelta(seconds=channel.deadline_s),
                due=self._due(notice, channel.name, now, recent),
            )
            for channel in channels
        ]

    def _due(self, notice: Notice, channel: str, now: datetime, recent: dict[str, int]) -> datetime:
        """Now, unless this is an opening while a storm is under way on `channel`: then it
        waits `storm_wait` for others to join its digest (`recent` counts this write's too).
        Unlike Alertmanager's group_wait, which holds every group's first notice, the first
        incidents always leave at once: most openings are not part of a storm."""
        if not _opening(notice):
            return now
        recent[channel] = recent.get(channel, 0) + 1
        held = recent[channel] > self.settings.storm
        return now + timedelta(seconds=self.settings.storm_wait) if held else now

    def _recent_openings(self, session: Session, now: datetime) -> dict[str, int]:
        """How many openings each channel was given within the storm window."""
        since = now - timedelta(seconds=self.settings.storm_window)
        counts = session.execute(
            select(OutboxRow.channel, func.count())
            .where(OutboxRow.created_at >= since, OutboxRow.source.like("incident:%:opened"))
            .group_by(OutboxRow.channel)
        )
        return {channel: int(n) for channel, n in counts}

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


def outbox_row(
    source: str,
    channel: str,
    message: Message,
    now: datetime,
    deadline: datetime,
    status: str = "pending",
    due: datetime | None = None,
) -> dict[str, Any]:
    """A row telling `message` (ronda/storage/outbox.py's new_row)."""
    return new_row(source, channel, (message.title, message.body, message.kind), now, deadline, status, due)


def _opening(notice: Notice) -> bool:
    return isinstance(notice, IncidentNotice) and notice.event is Event.OPENED


def _planned(notice: Notice) -> bool:
    """Inside a maintenance window an incident is recorded, never sent."""
    return isinstance(notice, IncidentNotice) and notice.planned


def notice_source(session: Session, notice: Notice) -> str:
    if isinstance(notice, CertificateNotice):
        return f"certificate:{notice.fingerprint}:{notice.code}"
    entries = session.scalar(
        select(func.count()).select_from(IncidentUpdateRow).where(IncidentUpdateRow.incident_id == notice.incident_id)
    )
    return incident_source(notice.incident_id, notice.event, entries or 0)
