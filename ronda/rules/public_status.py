"""The public status page's decisions, pure: which monitors a page shows, each one's state in
Statuspage's words, the page's overall state, and incident timelines in public words.

A status page is read by strangers, so nothing here passes on a target, an address or a
verdict's summary (they name internal hosts): automatic updates are retold from their kind
and the cause's category; only what people wrote (human updates) is shown as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from ronda.causes import Severity, severity
from ronda.config.schema import Config, MaintenanceWindow, StatusPage
from ronda.records import PublicIncident, PublicUpdate
from ronda.rules.maintenance import active_window, covers

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a message for the catalogue; it is translated where it is shown."""
    return message


DEFAULT_SLUG = "default"
# With no status_pages configured, one page shows every monitor.
EVERY_MONITOR = StatusPage(slug=DEFAULT_SLUG, title="Status")

# Statuspage's component states, from best to worst.
RANK = {"operational": 0, "under_maintenance": 1, "degraded_performance": 2, "partial_outage": 3, "major_outage": 4}
STATE_WORDS = {
    "operational": N_("Operational"),
    "under_maintenance": N_("Under maintenance"),
    "degraded_performance": N_("Degraded performance"),
    "partial_outage": N_("Partial outage"),
    "major_outage": N_("Major outage"),
}
NO_DATA = N_("No data yet")
HUMAN_STATUS_WORDS = {
    "investigating": N_("Investigating"),
    "identified": N_("Identified"),
    "monitoring": N_("Monitoring"),
    "resolved": N_("Resolved"),
}
PROBLEM_WORDS = {  # the report form's choices (ronda/web/reports.py has the codes)
    "cannot_connect": N_("I cannot connect"),
    "cannot_login": N_("I cannot sign in"),
    "app_error": N_("The app shows an error"),
    "slow": N_("It is very slow"),
    "notifications": N_("Notifications do not arrive"),
    "other": N_("Something else"),
}
# A cause's family, in words a visitor understands; the exact code stays internal.
CAUSE_FAMILIES = (
    ("dns_", N_("the service's name cannot be resolved")),
    ("tcp_", N_("the service cannot be reached")),
    ("icmp_", N_("the service cannot be reached")),
    ("cert_", N_("a problem with the secure connection (certificate)")),
    ("tls_", N_("a problem with the secure connection")),
    ("http_timeout", N_("the service answers too slowly")),
    ("slow_response", N_("the service answers too slowly")),
    ("http_", N_("the service answers with errors")),
    ("subresource_", N_("parts of the service fail to load")),
    ("auth_", N_("the service refuses to sign in")),
    ("heartbeat_", N_("an expected signal did not arrive")),
    ("user_", N_("many users report problems")),
    ("vendor_", N_("a provider we depend on reports a problem")),
)
SOMETHING = N_("a technical problem")


@dataclass(frozen=True)
class Overall:
    key: str  # operational | maintenance | degraded | partial | major
    words: str  # an N_ message
    indicator: str  # Statuspage: none | minor | major | critical
    description: str  # Statuspage's own English words


OVERALL = {
    "operational": Overall("operational", N_("All systems operational"), "none", "All Systems Operational"),
    "maintenance": Overall("maintenance", N_("Maintenance in progress"), "none", "Service Under Maintenance"),
    "degraded": Overall("degraded", N_("Degraded performance"), "minor", "Minor Service Outage"),
    "partial": Overall("partial", N_("Partial outage"), "major", "Partial System Outage"),
    "major": Overall("major", N_("Major outage"), "critical", "Major Service Outage"),
}


def pages(config: Config) -> list[StatusPage]:
    """The configured pages, or the one page of every monitor when there are none."""
    return list(config.status_pages) or [EVERY_MONITOR]


def find_page(config: Config, slug: str | None) -> StatusPage | None:
    """`slug` None is /status: the page `default` if there is one, else the first."""
    available = pages(config)
    if slug is None:
        return next((p for p in available if p.slug == DEFAULT_SLUG), available[0])
    return next((p for p in available if p.slug == slug), None)


def members(page: StatusPage, config: Config, stored: Sequence[str]) -> list[str]:
    """The monitors a page shows, in order: those named, then those with one of its tags
    (in the config's order); a page with neither shows every stored monitor."""
    if not page.monitors and not page.tags:
        configured = [m.name for m in config.monitors]
        return configured + sorted(set(stored) - set(configured))
    named, tags = set(page.monitors), set(page.tags)  # sets: a tag may take 100,000 monitors
    return [*page.monitors, *(m.name for m in config.monitors if m.name not in named and tags.intersection(m.tags))]


def public_monitors(config: Config, stored: Sequence[str]) -> set[str]:
    """Every monitor some page shows: the only ones with public badges and reports."""
    return {name for page in pages(config) for name in members(page, config, stored)}


def in_maintenance(config: Config, name: str, now: datetime) -> bool:
    return active_window(config.maintenance, name, tags_of(config, name), now) is not None


def tags_of(config: Config, name: str) -> list[str]:
    monitor = config.monitor_named(name)
    return list(monitor.tags) if monitor is not None else []


def component_state(status: str, cause: str | None, maintenance: bool) -> str:
    """ronda's state in Statuspage's words (docs/status-page.md has the table)."""
    if maintenance:
        return "under_maintenance"
    if status == "down":
        return "major_outage"
    if status == "degraded":
        # Degraded with a cause that fails a check outright: some addresses fail, others work.
        partial = cause is not None and severity(cause) is Severity.DOWN
        return "partial_outage" if partial else "degraded_performance"
    return "operational"  # up, or not checked yet (Statuspage has no word for unknown)


def overall(states: Sequence[str]) -> Overall:
    """The page's state: major when every component is out, partial when some are out or
    failing in part, degraded when they are only slow, and so on down."""
    if states and all(s == "major_outage" for s in states):
        return OVERALL["major"]
    if any(s in ("major_outage", "partial_outage") for s in states):
        return OVERALL["partial"]
    if "degraded_performance" in states:
        return OVERALL["degraded"]
    if "under_maintenance" in states:
        return OVERALL["maintenance"]
    return OVERALL["operational"]


def cause_family(cause: str | None) -> str:
    for prefix, words in CAUSE_FAMILIES:
        if cause and cause.startswith(prefix):
            return words
    return SOMETHING


def human_status(incident: PublicIncident) -> str:
    """Statuspage's incident status: the latest a person posted, else investigating."""
    if incident.status == "resolved":
        return "resolved"
    posted = [u.status for u in incident.updates if u.kind == "human" and u.status]
    return posted[-1] if posted else "investigating"


def update_status(update: PublicUpdate, before: str) -> str:
    """The incident's status as of this update: a person's own word; resolved when it
    resolved; investigating again when the problem came back (never the "resolved" of the
    recovery before it); other automatic updates keep the status before."""
    if update.kind == "human" and update.status:
        return update.status
    if update.kind in ("resolved", "removed"):
        return "resolved"
    if update.kind == "reopened":
        return "investigating"
    return before


@dataclass(frozen=True)
class Flaps:
    """Several recoveries each followed by a failure again, told as one timeline entry: a
    flapping service's timeline would otherwise grow by two entries at each turn."""

    at: datetime  # the first recovery of the run
    until: datetime  # the last failure again
    times: int


FLAPS_FOLDED = 2  # from this many recoveries in a row that did not last, one entry tells them


def fold_flaps(updates: Sequence[PublicUpdate]) -> list[PublicUpdate | Flaps]:
    """The timeline (oldest first) with each run of recoveries that did not last (an
    automatic "resolved" then "reopened", with any "flapping" mark among them) folded into
    one Flaps; a single reopening stays as it is, worded as the problem being back."""
    out: list[PublicUpdate | Flaps] = []
    i = 0
    while i < len(updates):
        end, times = _flap_run(updates, i)
        if times >= FLAPS_FOLDED:
            out.append(Flaps(updates[i].at, updates[end - 1].at, times))
            i = end
        else:
            out.append(updates[i])
            i += 1
    return out


def _flap_run(updates: Sequence[PublicUpdate], start: int) -> tuple[int, int]:
    """Where the run of flaps from `start` ends (exclusive), and how many recoveries it has."""
    end, times = start, 0
    while True:
        at = end
        while at < len(updates) and updates[at].kind == "flapping":
            at += 1
        if at + 1 < len(updates) and updates[at].kind == "resolved" and updates[at + 1].kind == "reopened":
            end, times = at + 2, times + 1
        else:
            return (at if times else end), times


_CAUSE_NOW = re.compile(r"^cause is now ([a-z0-9_]+)")


def public_words(
    update: PublicUpdate, shown: Collection[str], _: Gettext, named: Callable[[str], str] = str
) -> str | None:
    """What a visitor reads for one timeline entry, translated; None to leave it out.
    `named`: a monitor's name as the page shows it.

    Automatic entries are retold from their kind: their stored message quotes the
    verdict's summary, which names hosts and addresses."""
    if update.kind == "human":
        return update.message
    if update.kind in ("joined", "left"):
        name = update.message.split(",")[0].split(" ")[0]
        if name not in shown:
            return None  # a monitor not on this page stays unnamed
        words = _("%(service)s is affected too.") if update.kind == "joined" else _("%(service)s works again.")
        return words % {"service": named(name)}
    if update.kind == "cause_changed":
        found = _CAUSE_NOW.match(update.message)
        cause = _(cause_family(found.group(1) if found else None))
        return _("The problem has changed: %(cause)s.") % {"cause": cause}
    automatic = AUTOMATIC_WORDS.get(update.kind)
    return None if automatic is None else _(automatic)


AUTOMATIC_WORDS = {
    "detected": N_("We noticed a problem and are looking into it."),
    "confirmed": N_("The problem is confirmed by repeated checks."),
    "planned": N_("This happens during planned maintenance."),
    "scope_changed": N_("The extent of the problem has changed."),
    "flapping": N_("The service keeps failing and recovering."),
    "escalated": N_("The problem got worse: the service is now down."),
    "reopened": N_("The problem is back: the service fails again."),
    "resolved": N_("The service works again."),
    "removed": N_("This service is no longer watched here."),
    "reports": N_("Many users report problems with this service."),
}


FLAPS_WORDS = N_("The service kept failing and recovering: it came back and failed again %(n)s times.")


def incident_title(
    incident: PublicIncident, shown: Collection[str], _: Gettext, named: Callable[[str], str] = str
) -> str:
    """Named after the first of its monitors the page shows (as the page names it): one
    that opened it may be on no page, and its name stays private."""
    service = named(next((name for name in incident.monitors if name in shown), incident.monitors[0]))
    if incident.severity == "down":
        return _("%(service)s is down") % {"service": service}
    return _("%(service)s has problems") % {"service": service}


def window_members(window: MaintenanceWindow, shown: Sequence[str], config: Config) -> list[str]:
    """The page's monitors that a maintenance window covers."""
    return [name for name in shown if covers(window, name, tags_of(config, name))]
