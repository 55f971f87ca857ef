"""What the demo's terminal says: each break, what ronda concluded, and the resolution, once.

The demo breaks the same services every round, and a service that fails again soon after it
recovered reopens its incident (flapping) rather than opening another. So the narrator
explains an incident and each of its causes the first time, names them on their return, and
leaves the timelines to the dashboard, where a newcomer can read them whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ronda import causes
from ronda.clock import Clock
from ronda.durations import format_duration
from ronda.rules.incidents import Event
from ronda.storage.incidents import IncidentNotice, Notice
from ronda.storage.inventory import CertificateNotice

STAMP_WIDTH = 6  # "1234s": seconds since the story began
LABEL_WIDTH = 8  # "RESOLVED", the longest label
OTHER_LABELS = {Event.SCOPE_CHANGED: "SCOPE", Event.ESCALATED: "DOWN", Event.UPDATED: "UPDATE"}


@dataclass
class Story:
    """One incident as the narrator has told it."""

    incident_id: int
    monitor: str
    failures: int = 0  # how often it opened or reopened during the demo
    resolutions: int = 0
    failing_since: datetime | None = None  # None once resolved
    explained: set[str] = field(default_factory=set)  # causes already told in words
    flapping_told: bool = False

    @property
    def name(self) -> str:
        return f"#{self.incident_id} {self.monitor}"


@dataclass(frozen=True)
class Tally:
    """What ronda saw during the demo, counted so that it adds up: every failure is either
    resolved or still open."""

    incidents: int
    failures: int
    resolved: int
    still_open: tuple[str, ...]  # "#7 backup"
    certificates: int  # certificate warnings and rotations


class Narrator:
    """Tells a newcomer what breaks and what ronda made of it, each thing once."""

    def __init__(self, clock: Clock, console: Console | None = None) -> None:
        self.clock = clock
        self.console = console or Console(highlight=False)
        self.started = clock()
        self.stories: dict[int, Story] = {}
        self.certificates: set[tuple[str, str]] = set()  # (code, subject) already told

    def begin(self) -> None:
        """The story starts now: the stamps count from here."""
        self.started = self.clock()

    def world(self, what: str) -> None:
        self._line("world", "magenta", escape(what))

    def notice(self, notice: Notice) -> None:
        if isinstance(notice, CertificateNotice):
            self._certificate(notice)
        elif notice.event in (Event.OPENED, Event.REOPENED):
            self._failing(notice)
        elif notice.event is Event.RESOLVED:
            self._resolved(notice)
        elif notice.event is Event.CAUSE_CHANGED:
            self._changed(notice)
        elif notice.event is Event.FLAPPING:
            self._flapping(self._story(notice))
        elif notice.event is Event.SIGNAL_JOINED and notice.signal == "reports":
            self._reports(notice)
        else:  # scope, severity, a person's post, the probes joining reports: rare in the demo
            label = OTHER_LABELS.get(notice.event, "INCIDENT")
            what = notice.message or notice.summary
            self._line(label, "bold red", f"{_named(self._story(notice))}: {escape(what)}")

    def _story(self, notice: IncidentNotice) -> Story:
        story = self.stories.get(notice.incident_id)
        if story is None:
            story = self.stories[notice.incident_id] = Story(notice.incident_id, notice.monitor)
        return story

    def _failing(self, notice: IncidentNotice) -> None:
        story = self._story(notice)
        story.failures += 1
        # The first failure dates from the first failed check; a reopening from when ronda
        # saw it (the notice does not carry that streak's first failed check).
        story.failing_since = notice.opened_at if story.failures == 1 else self.clock()
        cause = notice.cause or "unknown"
        if story.failures == 1:
            self._line("INCIDENT", "bold red", f"{_named(story)} {self._cause(story, cause)}: {escape(notice.summary)}")
            return
        self._line("AGAIN", "bold red", f"{_named(story)} {self._cause(story, cause)}{self._again(story)}")

    def _again(self, story: Story) -> str:
        """A reopening: why it is the same incident, said once per incident."""
        if story.flapping_told:
            return f" ({_ordinal(story.failures)} time)"
        story.flapping_told = True
        return ": failing again soon after it recovered, so the same incident reopens (flapping)"

    def _flapping(self, story: Story) -> None:
        if story.flapping_told:
            return
        story.flapping_told = True
        said = "keeps failing and recovering: one incident, marked flapping"
        self._line("FLAPPING", "bold yellow", f"{_named(story)} {said}")

    def _cause(self, story: Story, cause: str) -> str:
        """The cause code, with its plain words the first time this incident has it."""
        if cause in story.explained:
            return f"[red]{cause}[/]"
        story.explained.add(cause)
        return f"[red]{cause}[/] ({escape(causes.words(cause))})"

    def _changed(self, notice: IncidentNotice) -> None:
        story = self._story(notice)
        cause = notice.cause or "unknown"
        first = cause not in story.explained
        said = f": {escape(notice.summary)}" if first else ""
        self._line("CHANGED", "bold red", f"{_named(story)} now {self._cause(story, cause)}{said}")

    def _reports(self, notice: IncidentNotice) -> None:
        story = self._story(notice)
        if "reports" in story.explained:
            self._line("REPORTS", "bold yellow", f"{_named(story)}: users report problems again")
            return
        story.explained.add("reports")
        self._line("REPORTS", "bold yellow", f"{_named(story)}: {escape(notice.message or notice.summary)}")

    def _resolved(self, notice: IncidentNotice) -> None:
        story = self._story(notice)
        end = notice.resolved_at or self.clock()
        if story.failing_since is not None:  # a failure this demo saw begin
            took = (end - story.failing_since).total_seconds()
            story.resolutions += 1
            story.failing_since = None
        else:  # opened before this run began (a --data folder kept from an earlier demo)
            took = notice.duration_s or 0.0
        cause = f" [dim]({notice.cause})[/]" if notice.cause else ""
        self._line("RESOLVED", "bold green", f"{_named(story)} works again after {format_duration(took)}{cause}")

    def _certificate(self, notice: CertificateNotice) -> None:
        """Each certificate's warning or rotation once: the demo swaps the same two back and forth."""
        told = (notice.code, notice.subject)
        if told in self.certificates:
            return
        self.certificates.add(told)
        rotated = notice.code == "cert_rotated"
        label, style = ("ROTATED", "cyan") if rotated else ("WARNING", "bold yellow")
        places = escape("; ".join(notice.places))
        self._line(label, style, f"[yellow]{notice.code}[/]: {escape(notice.detail)} [dim](served at {places})[/]")

    def say(self, text: str) -> None:
        """A line of the demo's own, stamped like the rest."""
        self._line("", "", text)

    def _line(self, label: str, style: str, text: str) -> None:
        seconds = (self.clock() - self.started).total_seconds()
        head = Text.assemble((f"{seconds:{STAMP_WIDTH - 1}.0f}s", "dim"), " ", (label.ljust(LABEL_WIDTH), style), " ")
        # A long line wraps under its own text, not under the stamps.
        body = Text.from_markup(text).wrap(self.console, max(20, self.console.width - len(head)), overflow="fold")
        for number, part in enumerate(body):
            part.rstrip()
            self.console.print(Text.assemble(head if number == 0 else " " * len(head), part))

    def tally(self) -> Tally:
        stories = [story for story in self.stories.values() if story.failures]
        return Tally(
            incidents=len(stories),
            failures=sum(story.failures for story in stories),
            resolved=sum(story.resolutions for story in stories),
            still_open=tuple(story.name for story in stories if story.failing_since is not None),
            certificates=len(self.certificates),
        )


def _named(story: Story) -> str:
    return f"#{story.incident_id} [bold]{escape(story.monitor)}[/]"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def first_round_over(cycle: float, base: str) -> list[str]:
    """Said once, after the first round: what the rounds to come will show, and where the
    whole timelines are (the terminal no longer prints them)."""
    return [
        f"That was one round: the same breaks come back every {cycle:.0f} s. A service that fails again "
        "soon after it recovered reopens its incident (flapping) instead of opening a new one.",
        f"Each incident's whole timeline is on the dashboard, {base}/, and on the public status page, "
        f"{base}/status; the curl lines above read them in JSON.",
    ]


def summary(tally: Tally) -> str:
    """What ronda saw, in numbers that add up: failures = resolved + still open."""
    if not tally.failures:
        return "ronda saw no failure: the demo stopped before its first break."
    text = f"ronda caught {_count(tally.failures, 'failure')} in {_count(tally.incidents, 'incident')}"
    if tally.failures > tally.incidents:
        text += " (one that comes back soon after it recovered reopens its incident)"
    text += " and resolved all of them" if tally.resolved == tally.failures else f" and resolved {tally.resolved}"
    if tally.still_open:
        text += f"; still open when the demo stopped: {', '.join(tally.still_open)}"
    if tally.certificates:
        text += f"; it also raised {_count(tally.certificates, 'certificate notice')} (expiry warnings, rotations)"
    return text + "."


def next_steps(base: str, data_dir: str | None, ronda: str = "ronda") -> list[str]:
    """What a newcomer can do after the demo: watch their own services, check one, or see
    this demo's dashboard again (it stops with the demo). `ronda`: how the shell calls it."""
    again = (
        f"`{ronda} demo --data {data_dir}` shows this history again"
        if data_dir
        else (f"`{ronda} demo --data DIR` keeps the history for another look")
    )
    return [
        "What next:",
        f"  your own services: `{ronda} init --url https://example.com/` writes a starter config (ronda.yaml) to edit, "
        f"and `{ronda} run --config ronda.yaml` watches them",
        f"  one URL, once: `{ronda} check https://example.com/` (also a Nagios/Icinga plugin)",
        f"  the dashboard ({base}/), the status page ({base}/status) and the API ({base}/api/docs) "
        f"stop with the demo; {again}",
    ]


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"
