"""Incidents and their timelines: what each state-machine event (ronda/rules/incidents.py)
does to the stored incident (open, join a parent's, reopen, rescope, escalate, resolve),
what a surge of users' reports does to it, and the updates people post by hand. Every
change is conditional on the incident's current state, so a second writer repeating it
changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ronda.durations import format_duration
from ronda.records import IncidentRecord, PublicIncident, PublicUpdate, TimelineEntry
from ronda.rules.incidents import Event, MonitorState, Policy, Transition
from ronda.rules.scope import Scope
from ronda.rules.surge import Assessment, Level, Step, Surge
from ronda.storage.db import among
from ronda.storage.inventory import CertificateNotice
from ronda.storage.models import IncidentMonitorRow, IncidentRow, IncidentUpdateRow, MonitorRow, ReportSurgeRow
from ronda.verdict import Verdict

HumanStatus = Literal["investigating", "identified", "monitoring", "resolved"]  # as a status page's posts
IncidentState = Literal["open", "resolved"]


@dataclass(frozen=True)
class IncidentNotice:
    """An incident that opened, changed or resolved, for whoever tells people."""

    event: Event
    incident_id: int
    monitor: str
    target: str
    cause: str | None
    summary: str
    opened_at: datetime
    resolved_at: datetime | None = None
    duration_s: float | None = None
    severity: str = "down"
    scope: str = "global"
    regions: tuple[str, ...] = ()  # where it fails, by region (vantage points: ronda/rules/scope.py)
    working: tuple[str, ...] = ()  # the regions that see it work meanwhile
    planned: bool = False  # inside a maintenance window: recorded, never sent
    message: str | None = None  # a human update's words
    signal: str = "probes"  # which signal this notice comes from: probes | reports


Notice = IncidentNotice | CertificateNotice


class UnknownIncident(LookupError):
    pass


class Incidents:
    """The incidents as people and pages read them, and the updates people post."""

    def __init__(
        self, sessions: sessionmaker[Session], outbox: Callable[[Session, list[Notice]], None] | None = None
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox  # writes notices for sending, in the transaction that produced them

    def post_update(
        self, incident_id: int, status: str, message: str, author: str, at: datetime
    ) -> IncidentNotice | None:
        """A person's update on an incident's timeline (UnknownIncident if there is none)."""
        with self._sessions.begin() as session:
            try:
                posted = human_update(session, incident_id, status, message, author, at)
            except LookupError:
                raise UnknownIncident(incident_id) from None
            # People who heard of the incident hear the post too; the sender picks it up.
            if posted is not None and self._outbox is not None and _announce(session, posted, Policy()):
                self._outbox(session, [posted])
            return posted

    def confirm(self, incident_id: int, author: str, at: datetime) -> IncidentNotice | None:
        """A person confirms an incident the reports alone opened (UnknownIncident if there
        is none): its opening notice is written for sending; None when it waited for nothing."""
        with self._sessions.begin() as session:
            try:
                confirmed = confirm(session, incident_id, author, at)
            except LookupError:
                raise UnknownIncident(incident_id) from None
            if confirmed is not None and self._outbox is not None:
                self._outbox(session, [confirmed])
            return confirmed

    def get(self, incident_id: int) -> IncidentRecord:
        with self._sessions() as session:
            row = session.execute(
                select(IncidentRow, MonitorRow.name)
                .join(MonitorRow, MonitorRow.id == IncidentRow.monitor_id)
                .where(IncidentRow.id == incident_id)
            ).one_or_none()
            if row is None:
                raise UnknownIncident(incident_id)
            return _record(row[0], row[1], _updates(session, incident_id))

    def recent(self, open_only: bool = False, limit: int = 200, monitor: str | None = None) -> list[IncidentRecord]:
        """Newest first; `monitor`: only the incidents that monitor opened."""
        with self._sessions() as session:
            query = select(IncidentRow, MonitorRow.name).join(MonitorRow, MonitorRow.id == IncidentRow.monitor_id)
            if open_only:
                query = query.where(IncidentRow.status == "open")
            if monitor is not None:
                query = query.where(MonitorRow.name == monitor)
            rows = session.execute(query.order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc()).limit(limit))
            return [_record(incident, name, _updates(session, incident.id)) for incident, name in rows]

    def listing(self, state: IncidentState | None, offset: int, limit: int) -> list[IncidentRecord]:
        """A page of incidents as people read them: the open ones first, each kind newest
        first; `state` keeps only the open or only the resolved."""
        with self._sessions() as session:
            query = select(IncidentRow, MonitorRow.name).join(MonitorRow, MonitorRow.id == IncidentRow.monitor_id)
            if state is not None:
                query = query.where(IncidentRow.status == state)
            open_first = case((IncidentRow.status == "open", 0), else_=1)
            ordered = query.order_by(open_first, IncidentRow.opened_at.desc(), IncidentRow.id.desc())
            rows = session.execute(ordered.offset(offset).limit(limit))
            return [_record(incident, name, _updates(session, incident.id)) for incident, name in rows]

    def count_by_state(self) -> dict[str, int]:
        """How many incidents are open and how many resolved."""
        with self._sessions() as session:
            rows = session.execute(select(IncidentRow.status, func.count()).group_by(IncidentRow.status))
            return {str(status): int(n) for status, n in rows}

    def public(self, names: list[str], resolved_since: datetime) -> list[PublicIncident]:
        """Incidents of these monitors (or that one of them joined), open or resolved
        after `resolved_since`, newest first: what a status page may show."""
        with self._sessions() as session:
            ids = list(session.scalars(select(MonitorRow.id).where(among(MonitorRow.name, names))))
            if not ids:
                return []
            joined = select(IncidentMonitorRow.incident_id).where(among(IncidentMonitorRow.monitor_id, ids))
            rows = session.scalars(
                select(IncidentRow)
                .where(or_(among(IncidentRow.monitor_id, ids), IncidentRow.id.in_(joined)))
                .where(or_(IncidentRow.status == "open", IncidentRow.resolved_at >= resolved_since))
                .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
                .limit(200)
            ).all()
            return [public_incident(session, row) for row in rows]


@dataclass(frozen=True)
class SurgeChange:
    """One assessment's step for one service, as the watcher hands it to the store."""

    service: str
    step: Step
    assessment: Assessment
    at: datetime
    open_at: Level  # the level at which a surge opens an incident of its own
    window: timedelta  # how long the counted reports took to arrive (two halves)
    planned: bool = False  # the service is inside a maintenance window
    enough: bool = True  # the reports come from enough reporters, over long enough, to open an incident
    confirm: bool = False  # an incident the reports open waits for a person's confirmation before notices


def notice(event: Event, incident: IncidentRow, monitor: MonitorRow, **extra: object) -> IncidentNotice:
    return IncidentNotice(
        event,
        incident.id,
        monitor.name,
        monitor.target,
        incident.cause,
        incident.summary,
        incident.opened_at,
        severity=incident.severity,
        scope=incident.scope,
        regions=tuple(incident.regions or ()),
        working=tuple(incident.working_regions or ()),
        planned=incident.planned,
        **extra,  # type: ignore[arg-type]
    )


def log(session: Session, incident_id: int, at: datetime, kind: str, message: str, **extra: object) -> None:
    session.add(IncidentUpdateRow(incident_id=incident_id, at=at, kind=kind, message=message, **extra))


def follow(
    session: Session,
    monitor: MonitorRow,
    transition: Transition,
    verdict: Verdict,
    scope: Scope,
    status: str,
    planned: bool,
    policy: Policy,
) -> list[IncidentNotice]:
    """What a verdict's transition does to the monitor's incident; return the notices people
    must hear (ronda/storage/monitors.py calls this in the verdict's transaction)."""
    events = [
        apply_event(session, monitor, e, verdict, transition.state, scope, planned, policy.parents)
        for e in transition.events
    ]
    events.append(rescope(session, monitor, scope, verdict.checked_at))
    events.append(escalate(session, monitor, status, verdict.checked_at))
    return [n for n in events if n is not None and _announce(session, n, policy)]


def _announce(session: Session, notice: IncidentNotice, policy: Policy) -> bool:
    """Failures only one vantage point of several sees are recorded, not announced (unless
    alert_local), nor planned ones (maintenance); once people were told of an incident,
    they hear all of it, to the end."""
    incident = session.get(IncidentRow, notice.incident_id)
    assert incident is not None
    if incident.planned:
        return False  # inside a maintenance window: on the timeline, never sent
    if policy.alert_local or notice.scope != "local":
        incident.announced = True
    return incident.announced


def apply_event(
    session: Session,
    monitor: MonitorRow,
    event: Event,
    verdict: Verdict,
    state: MonitorState,
    scope: Scope,
    planned: bool,
    parents: tuple[str, ...] = (),
) -> IncidentNotice | None:
    if event is Event.OPENED:
        reported = _reported_incident(session, monitor)
        if reported is not None:
            return _probes_join(session, monitor, reported, verdict, state)
        parent = _parent_incident(session, parents)
        if parent is not None:
            _join(session, monitor, parent, verdict)
            return None
        if _parent_failing(session, parents):
            return None  # wait: the parent's incident, when it opens, is this one's too
        return _open(session, monitor, verdict, state, scope, planned)
    if event is Event.REOPENED:
        return _reopen(session, monitor, verdict, state)
    incident = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    if incident is None:
        return None
    at = verdict.checked_at
    if incident.monitor_id != monitor.id:
        return _child_event(session, monitor, incident, event, at)
    if event is Event.CAUSE_CHANGED:
        log(session, incident.id, at, "cause_changed", f"cause is now {verdict.cause}: {verdict.summary}")
        incident.cause, incident.summary = verdict.cause, verdict.summary
        return notice(Event.CAUSE_CHANGED, incident, monitor)
    if event is Event.FLAPPING:
        incident.flapping = True
        changes = len(state.changes)
        log(session, incident.id, at, "flapping", f"flapping: {changes} changes between failing and working lately")
        return notice(Event.FLAPPING, incident, monitor)
    return resolve(session, monitor, incident, at, "resolved")


def _open(
    session: Session, monitor: MonitorRow, verdict: Verdict, state: MonitorState, scope: Scope, planned: bool
) -> IncidentNotice:
    at = verdict.checked_at
    opened = state.failing_since or at
    incident = IncidentRow(
        monitor_id=monitor.id,
        cause=state.cause,
        status="open",
        severity=state.status,
        scope=scope.scope,
        regions=list(scope.regions),
        working_regions=list(scope.working),
        summary=verdict.summary,
        opened_at=opened,
        planned=planned,
    )
    session.add(incident)
    session.flush()
    monitor.open_incident_id = incident.id
    log(session, incident.id, opened, "detected", f"first failed check: {verdict.summary}")
    log(session, incident.id, at, "confirmed", f"confirmed after {state.failures} consecutive failed checks")
    if planned:
        log(session, incident.id, at, "planned", "inside a maintenance window: no notifications")
    return notice(Event.OPENED, incident, monitor)


def _reported_incident(session: Session, monitor: MonitorRow) -> IncidentRow | None:
    """The open incident users' reports opened for this monitor, if any."""
    incident = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    if incident is None or incident.status != "open" or incident.signal != "reports":
        return None
    return incident


def _probes_join(
    session: Session, monitor: MonitorRow, incident: IncidentRow, verdict: Verdict, state: MonitorState
) -> IncidentNotice:
    """Users reported it first; now ronda's own checks fail too. One incident, now with a
    cause the probes can name, which the probes resolve when they pass again."""
    incident.signal, incident.cause, incident.summary = "both", state.cause, verdict.summary
    incident.severity = "down" if state.status == "down" else incident.severity
    log(session, incident.id, verdict.checked_at, "confirmed", f"ronda's checks fail too: {verdict.summary}")
    return notice(Event.SIGNAL_JOINED, incident, monitor, signal="probes")


def _reopen(session: Session, monitor: MonitorRow, verdict: Verdict, state: MonitorState) -> IncidentNotice | None:
    """Failing again soon after resolving: the same incident, now flapping."""
    incident = session.scalars(
        select(IncidentRow).where(IncidentRow.monitor_id == monitor.id).order_by(IncidentRow.opened_at.desc()).limit(1)
    ).one_or_none()
    if incident is None or incident.status != "resolved":
        return None
    at = verdict.checked_at
    since_resolved = (state.failing_since or at) - (incident.resolved_at or at)
    quiet = format_duration(since_resolved.total_seconds())
    incident.status, incident.resolved_at, incident.duration_s, incident.flapping = "open", None, None, True
    incident.cause, incident.summary = verdict.cause, verdict.summary
    monitor.open_incident_id = incident.id
    log(session, incident.id, at, "reopened", f"failing again {quiet} after it resolved: flapping ({verdict.summary})")
    return notice(Event.REOPENED, incident, monitor)


def resolve(
    session: Session,
    monitor: MonitorRow,
    incident: IncidentRow,
    at: datetime,
    kind: str,
    message: str | None = None,
    author: str = "ronda",
) -> IncidentNotice | None:
    duration = (at - incident.opened_at).total_seconds()
    # Conditional, so that a second writer resolving the same incident changes nothing.
    changed = session.execute(  # type: ignore[attr-defined]
        update(IncidentRow)
        .where(IncidentRow.id == incident.id, IncidentRow.status == "open")
        .values(status="resolved", resolved_at=at, duration_s=duration)
    ).rowcount
    if monitor.open_incident_id == incident.id:
        monitor.open_incident_id = None
    if not changed:
        return None
    words = message or f"resolved after {format_duration(duration)}"
    log(session, incident.id, at, kind, words, author=author, status="resolved" if author != "ronda" else None)
    session.refresh(incident)
    return notice(Event.RESOLVED, incident, monitor, resolved_at=at, duration_s=duration, message=message)


def human_update(
    session: Session, incident_id: int, status: str, message: str, author: str, at: datetime
) -> IncidentNotice | None:
    """A person's post on the incident's timeline; `resolved` also closes it."""
    incident = session.get(IncidentRow, incident_id)
    if incident is None:
        raise LookupError(incident_id)
    monitor = session.get(MonitorRow, incident.monitor_id)
    assert monitor is not None
    if status == "resolved" and incident.status == "open":
        return resolve(session, monitor, incident, at, "human", message, author)
    log(session, incident.id, at, "human", message, status=status, author=author)
    return notice(Event.UPDATED, incident, monitor, message=message)


def rescope(session: Session, monitor: MonitorRow, scope: Scope, at: datetime) -> IncidentNotice | None:
    """Keep the open incident's scope and regions in step with the vantage points."""
    incident = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    if incident is None or not scope.failing:
        return None
    regions = list(scope.regions)
    incident.working_regions = list(scope.working)
    if (incident.scope, incident.regions) == (scope.scope, regions):
        return None
    was = incident.scope
    incident.scope, incident.regions = scope.scope, regions
    where = f" ({', '.join(regions)})" if scope.scope == "regional" else ""
    log(session, incident.id, at, "scope_changed", f"scope is {scope.scope}{where}, was {was}")
    return notice(Event.SCOPE_CHANGED, incident, monitor)


def _parent_incident(session: Session, parents: tuple[str, ...]) -> IncidentRow | None:
    """The open incident of the nearest monitor this one depends on, if any. One query for
    all of them: `tag:` in depends_on may make thousands of parents, and a query each cost a
    mass outage, when dependencies matter most, a query per parent per child."""
    if not parents:
        return None
    open_ones = session.execute(
        select(MonitorRow.name, IncidentRow)
        .join(IncidentRow, IncidentRow.id == MonitorRow.open_incident_id)
        .where(among(MonitorRow.name, parents), IncidentRow.monitor_id == MonitorRow.id)
    ).all()
    by_parent = {name: incident for name, incident in open_ones}
    return next((by_parent[name] for name in parents if name in by_parent), None)


def _parent_failing(session: Session, parents: tuple[str, ...]) -> bool:
    if not parents:
        return False
    statuses = session.scalars(select(MonitorRow.status).where(among(MonitorRow.name, parents)))
    return any(status not in ("up", "unknown") for status in statuses)


def _join(session: Session, monitor: MonitorRow, parent: IncidentRow, verdict: Verdict) -> None:
    """A child's failure joins its parent's incident: one outage, one incident, one notice."""
    monitor.open_incident_id = parent.id
    known = session.scalars(
        select(IncidentMonitorRow).where(
            IncidentMonitorRow.incident_id == parent.id, IncidentMonitorRow.monitor_id == monitor.id
        )
    ).one_or_none()
    if known is None:
        session.add(IncidentMonitorRow(incident_id=parent.id, monitor_id=monitor.id, joined_at=verdict.checked_at))
    log(
        session,
        parent.id,
        verdict.checked_at,
        "joined",
        f"{monitor.name}, which depends on it, fails too: {verdict.summary}",
    )


def _child_event(
    session: Session, monitor: MonitorRow, incident: IncidentRow, event: Event, at: datetime
) -> IncidentNotice | None:
    """What happens to a child in its parent's incident: only its recovery is worth a line."""
    if event is Event.RESOLVED:
        monitor.open_incident_id = None
        log(session, incident.id, at, "left", f"{monitor.name} works again")
    return None


def escalate(session: Session, monitor: MonitorRow, status: str, at: datetime) -> IncidentNotice | None:
    """A degraded incident that turns down is news (a channel for outages only hears of it
    now); the incident keeps the worst severity seen."""
    incident = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    if incident is None or incident.monitor_id != monitor.id or status != "down" or incident.severity == "down":
        return None
    if incident.signal == "reports":
        return None  # the probes' failure is not confirmed yet; when it is, they join it
    incident.severity = "down"
    log(session, incident.id, at, "escalated", f"now down: {incident.summary}")
    return notice(Event.ESCALATED, incident, monitor)


# -- users' reports: the second signal (ronda/storage/surges.py keeps the surges) ------------


def surge_seen(
    session: Session, row: ReportSurgeRow, monitor: MonitorRow, surge: Surge, change: SurgeChange, said: str
) -> list[IncidentNotice]:
    """A surge of users' reports (`said` in words) joins the service's open incident, follows
    the one it joined or opened, or, strong enough, opens one of its own (signal `reports`)."""
    incident = session.get(IncidentRow, row.incident_id) if row.incident_id else None
    if incident is not None:
        if incident.status == "open":
            _follow_surge(session, incident, surge, change, said)
        return []
    current = session.get(IncidentRow, monitor.open_incident_id) if monitor.open_incident_id else None
    if current is not None and current.status == "open":
        row.incident_id = current.id
        if current.signal == "probes":
            current.signal = "both"
        log(session, current.id, change.at, "reports", f"{said}")
        return [notice(Event.SIGNAL_JOINED, current, monitor, signal="reports", message=said)]
    if surge.level < change.open_at or not change.enough:
        return []
    return [_open_from_reports(session, row, monitor, surge, change, said)]


def _follow_surge(session: Session, incident: IncidentRow, surge: Surge, change: SurgeChange, said: str) -> None:
    """The surge grew stronger or moved: the timeline says so, and an incident the reports
    opened takes the surge's scope (one the probes opened keeps the vantage points')."""
    if change.step.stronger:
        log(session, incident.id, change.at, "reports", f"stronger now: {said}")
    if change.step.rescoped and incident.signal == "reports":
        where = f" ({', '.join(surge.regions)})" if surge.scope == "regional" else ""
        log(session, incident.id, change.at, "scope_changed", f"reports now come {surge.scope}ly{where}")
        incident.scope, incident.regions = surge.scope, list(surge.regions)


def _open_from_reports(
    session: Session, row: ReportSurgeRow, monitor: MonitorRow, surge: Surge, change: SurgeChange, said: str
) -> IncidentNotice:
    summary = f"{said[0].upper()}{said[1:]}; ronda's own checks of {monitor.name} see no failure"
    incident = IncidentRow(
        monitor_id=monitor.id,
        cause="user_reported",
        status="open",
        severity="degraded",
        scope=surge.scope,
        regions=list(surge.regions),
        summary=summary,
        opened_at=surge.started_at,
        planned=change.planned,
        signal="reports",
    )
    session.add(incident)
    session.flush()
    monitor.open_incident_id = row.incident_id = incident.id
    log(session, incident.id, surge.started_at, "reports", f"reports surge: {said}")
    if change.planned:
        log(session, incident.id, change.at, "planned", "inside a maintenance window: no notifications")
    elif change.confirm:
        log(
            session,
            incident.id,
            change.at,
            UNCONFIRMED,
            "from users' reports alone: nobody is told until a person confirms it",
        )
    return notice(Event.OPENED, incident, monitor, signal="reports")


REMOVED = "removed"  # the timeline entry that ends the incident of a monitor no longer watched
UNCONFIRMED = "unconfirmed"  # the timeline entry of an incident waiting for a person's confirmation
CONFIRMED = "confirmed"


def awaiting_confirmation(session: Session, incident_id: int) -> bool:
    """An incident the reports alone opened, that no person (nor ronda's own failing checks)
    has confirmed yet: its notices are kept back."""
    kinds = set(
        session.scalars(
            select(IncidentUpdateRow.kind).where(
                IncidentUpdateRow.incident_id == incident_id, IncidentUpdateRow.kind.in_((UNCONFIRMED, CONFIRMED))
            )
        )
    )
    return kinds == {UNCONFIRMED}


def confirm(session: Session, incident_id: int, author: str, at: datetime) -> IncidentNotice | None:
    """A person says the reports are right: the opening notice goes out now. None when the
    incident waits for no confirmation (or no longer: open or not, it is said once)."""
    incident = session.get(IncidentRow, incident_id)
    if incident is None:
        raise LookupError(incident_id)
    if not awaiting_confirmation(session, incident_id):
        return None
    monitor = session.get_one(MonitorRow, incident.monitor_id)
    log(session, incident_id, at, CONFIRMED, f"confirmed by {author}: people are told", author=author)
    incident.announced = True
    return notice(Event.OPENED, incident, monitor, signal="reports")


def surge_ended(
    session: Session, row: ReportSurgeRow, monitor: MonitorRow | None, at: datetime
) -> list[IncidentNotice]:
    """The reports are back to normal: an incident they opened resolves; the probes' own
    incident only hears of it."""
    incident = session.get(IncidentRow, row.incident_id) if row.incident_id else None
    if incident is None or incident.status != "open" or monitor is None:
        return []
    if incident.signal != "reports":  # the probes' incident: theirs to resolve
        log(session, incident.id, at, "reports", "users' reports are back to normal")
        return []
    resolved = resolve(session, monitor, incident, at, "resolved", "users' reports are back to normal")
    return [resolved] if resolved is not None else []


# -- reading ----------------------------------------------------------------------------


def public_incident(session: Session, row: IncidentRow) -> PublicIncident:
    main = session.get(MonitorRow, row.monitor_id)
    joined = session.scalars(
        select(MonitorRow.name)
        .join(IncidentMonitorRow, IncidentMonitorRow.monitor_id == MonitorRow.id)
        .where(IncidentMonitorRow.incident_id == row.id)
        .order_by(IncidentMonitorRow.joined_at)
    )
    updates = session.scalars(
        select(IncidentUpdateRow)
        .where(IncidentUpdateRow.incident_id == row.id)
        .order_by(IncidentUpdateRow.at, IncidentUpdateRow.id)
    )
    return PublicIncident(
        id=row.id,
        monitors=(main.name if main else "", *joined),
        cause=row.cause,
        severity=row.severity,
        status=row.status,
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
        duration_s=row.duration_s,
        planned=row.planned,
        updates=tuple(PublicUpdate(u.at, u.kind, u.status, u.message) for u in updates),
        regions=tuple(row.regions or ()),
        working_regions=tuple(row.working_regions or ()),
    )


def _record(incident: IncidentRow, monitor: str, updates: list[IncidentUpdateRow]) -> IncidentRecord:
    return IncidentRecord(
        id=incident.id,
        monitor=monitor,
        cause=incident.cause,
        status=incident.status,
        severity=incident.severity,
        scope=incident.scope,
        summary=incident.summary,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        duration_s=incident.duration_s,
        regions=tuple(incident.regions),
        working_regions=tuple(incident.working_regions or ()),
        flapping=incident.flapping,
        planned=incident.planned,
        signal=incident.signal,
        updates=tuple(TimelineEntry(u.at, u.kind, u.message, u.author, u.status) for u in updates),
    )


def _updates(session: Session, incident_id: int) -> list[IncidentUpdateRow]:
    return list(
        session.scalars(
            select(IncidentUpdateRow)
            .where(IncidentUpdateRow.incident_id == incident_id)
            .order_by(IncidentUpdateRow.at, IncidentUpdateRow.id)
        )
    )
