"""What /metrics reads at each scrape: the current state only, never the history.

Each reading is a few indexed queries whose cost follows the number of monitors (and of
places certificates are served at), not the number of verdicts kept, so a scrape of a
two-year-old database takes as long as one of a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from ronda.storage.models import CertificatePlaceRow, CertificateRow, IncidentRow, MonitorRow, OutboxRow, ResultRow
from ronda.storage.monitors import Selection
from ronda.verdict import as_utc

# A place (host, address, port) a monitor has not served a certificate at for this long,
# while it did serve others, is gone (the name lost that address): its certificate is
# no longer anyone's to renew.
PLACE_GONE_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class MonitorReading:
    """A monitor's confirmed state and the facts of its latest verdict (None: no check yet)."""

    name: str
    status: str  # unknown | up | degraded | down: the state after confirmation
    last_status: str | None  # the latest verdict's own status
    checked_at: datetime | None
    latency_ms: float | None
    http_status: int | None


@dataclass(frozen=True)
class ServedCertificate:
    """The certificate most recently served at one place of one monitor."""

    monitor: str
    host: str
    address: str
    port: int
    fingerprint_sha256: str
    not_after: datetime


class Gauges:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def monitors(self, names: frozenset[str] | None = None) -> list[MonitorReading]:
        """Every active monitor (of `names`, when given) with its latest verdict's facts, in
        one query (by primary key). The columns, and the HTTP status taken out of the verdict
        in SQL: decoding every stored verdict was 40 % of a scrape at 10,000 monitors."""
        query = (
            select(
                MonitorRow.name,
                MonitorRow.status,
                ResultRow.status,
                ResultRow.checked_at,
                ResultRow.latency_ms,
                ResultRow.verdict[("http", "status")].as_integer(),
            )
            .outerjoin(ResultRow, ResultRow.id == MonitorRow.last_result_id)
            .where(MonitorRow.active)
            .order_by(MonitorRow.name)
        )
        query = Selection(names=names).applied(query)
        with self._sessions() as session:
            return [
                MonitorReading(name, status, last, as_utc(at) if at else None, latency, code)
                for name, status, last, at, latency, code in session.execute(query)
            ]

    def open_incidents(self) -> dict[tuple[str, str], int]:
        """Open incidents counted by (severity, scope)."""
        query = (
            select(IncidentRow.severity, IncidentRow.scope, func.count())
            .where(IncidentRow.status == "open")
            .group_by(IncidentRow.severity, IncidentRow.scope)
        )
        with self._sessions() as session:
            return {(severity, scope): count for severity, scope, count in session.execute(query)}

    def outbox(self) -> dict[str, int]:
        """Notices waiting to be delivered and notices given up on (sent ones are not
        counted: they are history)."""
        query = (
            select(OutboxRow.status, func.count())
            .where(OutboxRow.status.in_(("pending", "failed")))
            .group_by(OutboxRow.status)
        )
        with self._sessions() as session:
            counts: dict[str, int] = {status: count for status, count in session.execute(query)}
        return {"pending": counts.get("pending", 0), "failed": counts.get("failed", 0)}

    def served_certificates(self) -> list[ServedCertificate]:
        """At each place of each active monitor, the certificate seen there last: one
        replaced by a renewal stops counting the moment its successor is seen."""
        place = CertificatePlaceRow
        latest = (
            select(place.monitor_id, place.host, place.address, place.port, func.max(place.last_seen).label("seen"))
            .group_by(place.monitor_id, place.host, place.address, place.port)
            .subquery()
        )
        query = (
            select(MonitorRow.name, place, CertificateRow.fingerprint_sha256, CertificateRow.not_after)
            .join(
                latest,
                and_(
                    place.monitor_id == latest.c.monitor_id,
                    place.host == latest.c.host,
                    place.address == latest.c.address,
                    place.port == latest.c.port,
                    place.last_seen == latest.c.seen,
                ),
            )
            .join(CertificateRow, CertificateRow.id == place.certificate_id)
            .join(MonitorRow, MonitorRow.id == place.monitor_id)
            .where(MonitorRow.active)
            .order_by(CertificateRow.not_after, MonitorRow.name, place.host, place.address, place.port)
        )
        with self._sessions() as session:
            rows = [(name, p, fingerprint, not_after) for name, p, fingerprint, not_after in session.execute(query)]
        return _still_served(rows)


def _still_served(rows: list[tuple[str, CertificatePlaceRow, str, datetime]]) -> list[ServedCertificate]:
    """Drop places a monitor stopped reaching while it kept reaching others (measured
    from the monitor's own latest sighting, so a monitor down for a month keeps all)."""
    newest: dict[str, datetime] = {}
    for name, p, _, _ in rows:
        newest[name] = max(newest.get(name, p.last_seen), p.last_seen)
    return [
        ServedCertificate(name, p.host, p.address, p.port, fingerprint, not_after)
        for name, p, fingerprint, not_after in rows
        if newest[name] - p.last_seen <= PLACE_GONE_AFTER
    ]
