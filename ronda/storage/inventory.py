"""The certificate inventory: every certificate once, by fingerprint, with every place it
was served; rotations recorded; warnings announced once per certificate, not per monitor.

One certificate shared by forty monitors is one notice that lists them. A CDN that serves
the old and the new certificate in turn during a rollout does not flap: a rotation is
recorded the first time a new certificate shows up where another was, and never again
for the same pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ronda.records import CertificatePlace, CertificateRecord
from ronda.storage.models import CertificatePlaceRow, CertificateRotationRow, CertificateRow, MonitorRow
from ronda.verdict import CertificateInfo, Finding, Verdict, iso

ANNOUNCED_WARNINGS = (
    "cert_expiring",
    "cert_renewal_overdue",
    "cert_intermediate_expiring",
    "cert_lifetime_over_policy",
)


@dataclass(frozen=True)
class CertificateNotice:
    """A certificate crossed a warning threshold, or replaced another: tell people once."""

    code: str  # a warning code, or "cert_rotated"
    fingerprint: str
    subject: str
    not_after: datetime
    detail: str
    places: tuple[str, ...]  # "monitor: host:port at address"
    old_not_after: datetime | None = None


def remember(session: Session, monitor: MonitorRow, verdict: Verdict) -> list[CertificateNotice]:
    notices: list[CertificateNotice] = []
    for cert in verdict.certificates:
        row = _certificate_row(session, cert, verdict.checked_at)
        place, is_new_place = _place_row(session, row, monitor, cert, verdict.checked_at)
        if is_new_place:
            notices += _rotation(session, row, place, monitor, verdict.checked_at)
        notices += _new_warnings(session, row, _warnings_for(cert, verdict.warnings))
    return notices


def _certificate_row(session: Session, cert: CertificateInfo, at: datetime) -> CertificateRow:
    row = session.scalars(
        select(CertificateRow).where(CertificateRow.fingerprint_sha256 == cert.fingerprint_sha256)
    ).one_or_none()
    if row is None:
        row = CertificateRow(
            fingerprint_sha256=cert.fingerprint_sha256,
            subject=cert.subject,
            issuer=cert.issuer,
            not_before=cert.not_before,
            not_after=cert.not_after,
            first_seen=at,
            last_seen=at,
            details=cert.to_json(),
            warned="",
        )
        session.add(row)
        session.flush()
    else:
        row.last_seen, row.details = at, cert.to_json()
    return row


def _place_row(
    session: Session, row: CertificateRow, monitor: MonitorRow, cert: CertificateInfo, at: datetime
) -> tuple[CertificatePlaceRow, bool]:
    place = session.scalars(
        select(CertificatePlaceRow).where(
            CertificatePlaceRow.certificate_id == row.id,
            CertificatePlaceRow.monitor_id == monitor.id,
            CertificatePlaceRow.host == cert.host,
            CertificatePlaceRow.address == cert.address,
            CertificatePlaceRow.port == cert.port,
        )
    ).one_or_none()
    if place is not None:
        place.last_seen = at
        return place, False
    place = CertificatePlaceRow(
        certificate_id=row.id,
        monitor_id=monitor.id,
        host=cert.host,
        address=cert.address,
        port=cert.port,
        first_seen=at,
        last_seen=at,
    )
    session.add(place)
    session.flush()
    return place, True


def _rotation(
    session: Session, row: CertificateRow, place: CertificatePlaceRow, monitor: MonitorRow, at: datetime
) -> list[CertificateNotice]:
    """The certificate most recently served at this place before this one, if any, was
    replaced: record the pair once and announce it."""
    previous = session.execute(
        select(CertificateRow, CertificatePlaceRow)
        .join(CertificatePlaceRow, CertificatePlaceRow.certificate_id == CertificateRow.id)
        .where(
            CertificatePlaceRow.monitor_id == monitor.id,
            CertificatePlaceRow.host == place.host,
            CertificatePlaceRow.address == place.address,
            CertificatePlaceRow.port == place.port,
            CertificateRow.id != row.id,
        )
        .order_by(CertificatePlaceRow.last_seen.desc())
        .limit(1)
    ).one_or_none()
    if previous is None:
        return []
    old = previous[0]
    known = session.scalars(
        select(CertificateRotationRow).where(
            CertificateRotationRow.old_fingerprint == old.fingerprint_sha256,
            CertificateRotationRow.new_fingerprint == row.fingerprint_sha256,
        )
    ).one_or_none()
    if known is not None:
        return []
    session.add(
        CertificateRotationRow(
            monitor_id=monitor.id,
            host=place.host,
            address=place.address,
            port=place.port,
            old_fingerprint=old.fingerprint_sha256,
            new_fingerprint=row.fingerprint_sha256,
            at=at,
        )
    )
    replaced = "went back to an older certificate" if row.not_after < old.not_after else "was replaced"
    detail = (
        f"the certificate for {place.host} {replaced}: the old one expires {iso(old.not_after)}, "
        f"the new one {iso(row.not_after)}"
    )
    return [
        CertificateNotice(
            "cert_rotated",
            row.fingerprint_sha256,
            row.subject,
            row.not_after,
            detail,
            _places(session, row),
            old.not_after,
        )
    ]


def _warnings_for(cert: CertificateInfo, warnings: tuple[Finding, ...]) -> list[Finding]:
    return [
        w
        for w in warnings
        if w.code in ANNOUNCED_WARNINGS
        and w.code in cert.problems
        and (w.host, w.address, w.port) == (cert.host, cert.address, cert.port)
    ]


def _new_warnings(session: Session, row: CertificateRow, warnings: list[Finding]) -> list[CertificateNotice]:
    announced = set(filter(None, row.warned.split(",")))
    notices = []
    for warning in warnings:
        if warning.code in announced:
            continue
        announced.add(warning.code)
        notices.append(
            CertificateNotice(
                warning.code, row.fingerprint_sha256, row.subject, row.not_after, warning.detail, _places(session, row)
            )
        )
    row.warned = ",".join(sorted(announced))
    return notices


def _places(session: Session, row: CertificateRow) -> tuple[str, ...]:
    rows = session.execute(
        select(CertificatePlaceRow, MonitorRow.name)
        .join(MonitorRow, MonitorRow.id == CertificatePlaceRow.monitor_id)
        .where(CertificatePlaceRow.certificate_id == row.id)
        .order_by(MonitorRow.name, CertificatePlaceRow.host, CertificatePlaceRow.address)
    )
    return tuple(f"{name}: {p.host}:{p.port} at {p.address}" for p, name in rows)


def inventory(session: Session, now: datetime, monitor: str | None = None) -> list[CertificateRecord]:
    """Every certificate seen, soonest expiry first, each with its places; with `monitor`,
    those served to that monitor (each still with all its places): a monitor's page, read
    from the whole inventory, cost every place of every certificate (a wildcard before
    100,000 monitors is 100,000 places)."""
    certificates = select(CertificateRow).order_by(CertificateRow.not_after, CertificateRow.id)
    placed = (
        select(CertificatePlaceRow, MonitorRow.name)
        .join(MonitorRow, MonitorRow.id == CertificatePlaceRow.monitor_id)
        .order_by(CertificatePlaceRow.last_seen.desc())
    )
    if monitor is not None:
        served = (
            select(CertificatePlaceRow.certificate_id)
            .join(MonitorRow, MonitorRow.id == CertificatePlaceRow.monitor_id)
            .where(MonitorRow.name == monitor)
        )
        certificates = certificates.where(CertificateRow.id.in_(served))
        placed = placed.where(CertificatePlaceRow.certificate_id.in_(served))
    places: dict[int, list[CertificatePlace]] = {}
    for place, name in session.execute(placed):
        places.setdefault(place.certificate_id, []).append(
            CertificatePlace(name, place.host, place.address, place.port, place.first_seen, place.last_seen)
        )
    return [_record(row, places.get(row.id, []), now) for row in session.scalars(certificates).all()]


def _record(row: CertificateRow, places: list[CertificatePlace], now: datetime) -> CertificateRecord:
    return CertificateRecord(
        fingerprint_sha256=row.fingerprint_sha256,
        subject=row.subject,
        issuer=row.issuer,
        not_before=row.not_before,
        not_after=row.not_after,
        days_left=round((row.not_after - now).total_seconds() / 86400, 2),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        details=row.details,
        places=tuple(places),
    )


class Certificates:
    """The inventory as the API reads it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def inventory(self, now: datetime, monitor: str | None = None) -> list[CertificateRecord]:
        with self._sessions() as session:
            return inventory(session, now, monitor)
