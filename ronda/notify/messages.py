"""What people are told about incidents: titles that name the monitor and the cause
code, bodies in plain words: what is wrong, how widely, since when, and where to look."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ronda import causes
from ronda.durations import format_duration
from ronda.rules.incidents import Event
from ronda.storage.incidents import IncidentNotice, Notice
from ronda.storage.inventory import CertificateNotice
from ronda.verdict import iso


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str  # Apprise's notify type: info, success, warning, failure


_FAILING = {
    Event.OPENED: "is failing:",
    Event.REOPENED: "is failing again:",
    Event.CAUSE_CHANGED: "is still failing, now:",
    Event.FLAPPING: "is flapping:",
    Event.UPDATED: "update:",
    Event.ESCALATED: "is now down:",
    Event.SIGNAL_JOINED: "is failing, as users reported:",  # the probes joined users' reports
}


def incident_link(public_url: str, incident_id: int) -> str:
    """Where a person reading a notice can see the incident (the public status page)."""
    return f"{public_url.rstrip('/')}/status#incident-{incident_id}"


def incident_message(notice: IncidentNotice, public_url: str | None = None) -> Message:
    if notice.event is Event.RESOLVED:
        return _resolved(notice)
    cause = notice.cause or "unknown"
    if notice.signal == "reports":
        return _reported(notice, cause, public_url)
    lines = [
        notice.message or notice.summary,
        "",
        f"{causes.words(cause).capitalize()}.",
        f"Target: {notice.target}",
        f"Scope: {notice.scope}",
        *where(notice),
        f"Failing since {iso(notice.opened_at)} (incident #{notice.incident_id}).",
    ]
    if public_url:
        lines.append(incident_link(public_url, notice.incident_id))
    title = _FAILING.get(notice.event, "is failing:")
    return Message(f"[ronda] {notice.monitor} {title} {cause}", "\n".join(lines), "failure")


def where(notice: IncidentNotice) -> list[str]:
    """Where it fails and where it works, by region, once there is more than the hub's own
    vantage point: "Down from eu-south and us-east, up from ap-south." (none: a single node)."""
    if not notice.regions or (tuple(notice.regions) == ("local",) and not notice.working):
        return []
    line = f"{notice.severity.capitalize()} from {_and(notice.regions)}"
    if notice.working:
        line += f", up from {_and(notice.working)}"
    return [line + "."]


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _reported(notice: IncidentNotice, cause: str, public_url: str | None) -> Message:
    """Users' reports fired it, not ronda's checks: the title says so, the body says what
    the reports say and what the probes see."""
    joined = notice.event is Event.SIGNAL_JOINED
    title = "users report problems too:" if joined else "users report problems:"
    probes = "ronda's checks fail too" if joined else "ronda's own checks see no failure"
    lines = [
        notice.message or notice.summary,
        "",
        f"Signal: users' reports ({probes}).",
        f"Target: {notice.target}",
        f"Scope: {notice.scope}",
        f"Since {iso(notice.opened_at)} (incident #{notice.incident_id}).",
    ]
    if public_url:
        lines.append(incident_link(public_url, notice.incident_id))
    return Message(f"[ronda] {notice.monitor} {title} {cause}", "\n".join(lines), "failure")


def _resolved(notice: IncidentNotice) -> Message:
    cause = notice.cause or "unknown"
    duration = format_duration(notice.duration_s or 0)
    # Resolved by a person's post: their words come first.
    said = f"{notice.message}\n\n" if notice.message else ""
    return Message(
        title=f"[ronda] {notice.monitor} resolved: {cause}",
        body=f"{said}{notice.monitor} works again after {duration} (incident #{notice.incident_id}, "
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


def message_for(notice: Notice, public_url: str | None = None) -> Message:
    if isinstance(notice, IncidentNotice):
        return incident_message(notice, public_url)
    return certificate_message(notice)


def digest_message(opened: Sequence[tuple[str, str | None]], public_url: str | None = None) -> Message:
    """One message for a storm of incidents opened together (monitor, cause each): twenty
    monitors behind one broken switch are one thing to read, not twenty."""
    named = [f"{monitor} ({cause or 'unknown'})" for monitor, cause in opened]
    more = f" and {len(named) - 3} more" if len(named) > 3 else ""
    body = f"{len(named)} incidents opened: {', '.join(named)}."
    if public_url:
        body += f"\n{public_url.rstrip('/')}/status"
    return Message(f"[ronda] {len(named)} incidents opened: {', '.join(named[:3])}{more}", body, "failure")
