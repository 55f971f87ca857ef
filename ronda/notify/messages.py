"""What people are told about incidents: titles that name the monitor and the cause
code, bodies in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from ronda import causes
from ronda.durations import format_duration
from ronda.service.incidents import Event
from ronda.storage.inventory import CertificateNotice
from ronda.storage.store import IncidentNotice, Notice
from ronda.verdict import iso


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str  # Apprise's notify type: info, success, warning, failure


def incident_message(notice: IncidentNotice) -> Message:
    cause = notice.cause or "unknown"
    if notice.event is not Event.RESOLVED:
        failing = (
            f"{notice.summary}\n\n{causes.words(cause).capitalize()}.\nTarget: {notice.target}\n"
            f"Failing since {iso(notice.opened_at)} (incident #{notice.incident_id})."
        )
        title = "is failing:" if notice.event is Event.OPENED else "is still failing, now:"
        return Message(f"[ronda] {notice.monitor} {title} {cause}", failing, "failure")
    duration = format_duration(notice.duration_s or 0)
    return Message(
        title=f"[ronda] {notice.monitor} resolved: {cause}",
        body=f"{notice.monitor} works again after {duration} (incident #{notice.incident_id}, "
        f"{iso(notice.opened_at)} to {iso(notice.resolved_at or notice.opened_at)}).\nTarget: {notice.target}",
        kind="success",
    )


def certificate_message(notice: CertificateNotice) -> Message:
    places = "\n".join(f"- {place}" for place in notice.places)
    where = f"Served at:\n{places}" if places else ""
    if notice.code == "cert_rotated":
        return Message(
            title=f"[ronda] certificate rotated: {notice.subject}",
            body=f"{notice.detail}.\n{where}",
            kind="info",
        )
    return Message(
        title=f"[ronda] {notice.code}: {notice.subject} ({len(notice.places)} places)",
        body=f"{notice.detail}.\n{causes.words(notice.code).capitalize()}; it expires {iso(notice.not_after)}."
        f"\n{where}",
        kind="warning",
    )


def message_for(notice: Notice) -> Message:
    return incident_message(notice) if isinstance(notice, IncidentNotice) else certificate_message(notice)
