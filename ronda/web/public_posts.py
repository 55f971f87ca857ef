"""What a status page tells people outside, and where it goes: its subscribers (e-mail,
webhook) and its public channels (`announce:`), in the page's public words.

An incident's opening, its return, a person's update and its resolution become a post on
every page that shows one of its monitors. Like the status page, a post never passes on a
target, an address or a verdict's summary: automatic events are retold from their kind
(ronda/rules/public_status.py); only what a person wrote is shown as written.

The posts are outbox rows written in the transaction of the event (Outbox.write calls
`rows`), one per subscriber in their language with their own unsubscribe link, and one
per public channel; a channel whose posts a person approves gets a `draft` that the
sender leaves alone until it is approved (/announcements). The sender finds where a
`subscriber:<id>` or `announce:<page>:<n>` row goes through `channel`.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ronda.config.schema import Config, StatusPage
from ronda.notify.channels import Channel
from ronda.notify.messages import Message
from ronda.notify.outbox import notice_source, outbox_row
from ronda.records import PublicIncident
from ronda.rules.incidents import Event
from ronda.rules.maintenance import next_windows
from ronda.rules.public_status import (
    HUMAN_STATUS_WORDS,
    N_,
    Gettext,
    human_status,
    incident_title,
    members,
    pages,
    public_words,
    tags_of,
    window_members,
)
from ronda.storage.incidents import IncidentNotice, Notice, public_incident
from ronda.storage.models import IncidentRow, OutboxRow
from ronda.storage.subscribers import Subscriber, confirmed_for
from ronda.web.i18n import LOCALES, span, translations, when

POSTED = frozenset({Event.OPENED, Event.REOPENED, Event.UPDATED, Event.RESOLVED})
ANNOUNCE_PREFIX = "announce:"

AFFECTED = N_("Affected: %(services)s")
LASTED = N_("It lasted %(span)s.")
FOOTER = N_("You get this because you subscribed to %(page)s. Change what you hear of, or unsubscribe: %(link)s")
CONFIRM_TITLE = N_("Confirm your subscription to %(page)s")
CONFIRM_BODY = N_(
    "Someone, we hope you, asked to hear of %(page)s's incidents here. To confirm, open: %(link)s\n\n"
    "If it was not you, ignore this message: nothing more will be sent."
)
ALREADY_TITLE = N_("You are subscribed to %(page)s")
ALREADY_BODY = N_(
    "Someone asked again to subscribe this address to %(page)s. It already is; nothing changed. "
    "To change what you hear of, or unsubscribe, open: %(link)s"
)


def page_link(base_url: str, page: StatusPage) -> str:
    return f"{base_url.rstrip('/')}/status/{page.slug}"


def manage_link(base_url: str, page: StatusPage, token: str) -> str:
    """A subscriber's own page: confirm, choose components, unsubscribe."""
    return f"{page_link(base_url, page)}/subscription/{token}"


def announce_channel(page: StatusPage, index: int) -> str:
    return f"{ANNOUNCE_PREFIX}{page.slug}:{index}"


@dataclass(frozen=True)
class Post:
    """One event of one incident as a page tells it, in one language."""

    title: str
    words: str
    status: str
    body: str  # without a subscriber's footer
    kind: str


def compose(
    page: StatusPage, incident: PublicIncident, notice: IncidentNotice, shown: Sequence[str], base_url: str, locale: str
) -> Post:
    _ = translations(locale).gettext
    named = page.display_name
    status = "resolved" if notice.event is Event.RESOLVED else human_status(incident)
    if notice.event is Event.REOPENED:
        status = "investigating"
    status_words = _(HUMAN_STATUS_WORDS[status])
    title = f"[{page.title}] {status_words}: {incident_title(incident, shown, _, named)}"
    words = _latest_words(incident, notice, shown, _, named)
    at = notice.resolved_at if notice.event is Event.RESOLVED and notice.resolved_at else _latest_at(incident)
    lines = [words, "", f"{status_words} · {when(at, locale, page.timezone)}"]
    if notice.event is Event.RESOLVED and notice.duration_s:
        lines.append(_(LASTED) % {"span": span(notice.duration_s, locale)})
    lines.append(_(AFFECTED) % {"services": ", ".join(named(name) for name in shown)})
    lines += ["", f"{page_link(base_url, page)}#incident-{incident.id}"]
    return Post(title, words, status, "\n".join(lines), _kind(notice, incident))


def _latest_words(
    incident: PublicIncident, notice: IncidentNotice, shown: Sequence[str], _: Gettext, named: Any
) -> str:
    if notice.event is Event.UPDATED and notice.message:
        return notice.message
    for update in reversed(incident.updates):
        words = public_words(update, shown, _, named)
        if words is not None:
            return words
    return _("We noticed a problem and are looking into it.")


def _latest_at(incident: PublicIncident) -> datetime:
    return incident.updates[-1].at if incident.updates else incident.opened_at


def _kind(notice: IncidentNotice, incident: PublicIncident) -> str:
    if notice.event is Event.RESOLVED:
        return "success"
    if notice.event is Event.UPDATED:
        return "info"
    return "failure" if incident.severity == "down" else "warning"


MAINTENANCE_AHEAD = timedelta(days=7)  # a one-off window is told of once it starts within this long
MAINTENANCE_BEHIND = timedelta(hours=1)  # a window that ended within this long is told of as over
MAINTENANCE_WORDS = {
    "scheduled": (
        N_("Scheduled maintenance: %(name)s"),
        N_("%(services)s: planned maintenance from %(start)s to %(end)s."),
        "info",
    ),
    "started": (
        N_("Maintenance in progress: %(name)s"),
        N_("%(services)s: under maintenance until %(end)s."),
        "warning",
    ),
    "completed": (N_("Maintenance completed: %(name)s"), N_("%(services)s: the maintenance is over."), "success"),
}


def maintenance_post(
    page: StatusPage,
    name: str,
    times: tuple[datetime, datetime],
    shown: Sequence[str],
    stage: str,
    base_url: str,
    locale: str,
) -> Post:
    _ = translations(locale).gettext
    title_words, body_words, kind = MAINTENANCE_WORDS[stage]
    start, end = (when(at, locale, page.timezone) for at in times)
    services = ", ".join(page.display_name(monitor) for monitor in shown)
    words = _(body_words) % {"services": services, "start": start, "end": end}
    title = f"[{page.title}] " + _(title_words) % {"name": name}
    return Post(title, words, stage, f"{words}\n\n{page_link(base_url, page)}", kind)


def _stage(window: Any, start: datetime, end: datetime, now: datetime) -> str | None:
    if end <= now:
        return "completed"
    if start <= now:
        return "started"
    return "scheduled" if window.cron is None else None  # a recurring window is told of as it comes


def _maintenance_source(name: str, start: datetime, stage: str) -> str:
    digest = hashlib.blake2b(name.encode(), digest_size=8).hexdigest()  # a name may be long
    return f"public:maintenance:{digest}:{start.strftime('%Y%m%dT%H%M%SZ')}:{stage}"


def _written(session: Session, source: str) -> bool:
    return session.scalar(select(OutboxRow.id).where(OutboxRow.source == source).limit(1)) is not None


def subscriber_message(post: Post, page: StatusPage, subscriber: Subscriber, base_url: str) -> Message:
    _ = translations(subscriber.language).gettext
    footer = _(FOOTER) % {"page": page.title, "link": manage_link(base_url, page, subscriber.token)}
    return Message(post.title, f"{post.body}\n\n--\n{footer}", post.kind)


def confirmation(page: StatusPage, subscriber: Subscriber, already: bool, base_url: str) -> Message:
    """The one message an unconfirmed subscriber gets (or a confirmed one asked again)."""
    _ = translations(subscriber.language).gettext
    names = {"page": page.title, "link": manage_link(base_url, page, subscriber.token)}
    if already:
        return Message(_(ALREADY_TITLE) % names, _(ALREADY_BODY) % names, "info")
    return Message(_(CONFIRM_TITLE) % names, _(CONFIRM_BODY) % names, "info")


class PublicPosts:
    """Outbox rows for the pages' subscribers and public channels, written by Outbox.write in
    the event's transaction. `config` is replaced on a reload."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @property
    def base_url(self) -> str:
        return self.config.server.base_url

    def rows(self, session: Session, notices: Sequence[Notice], now: datetime) -> list[dict[str, Any]]:
        followed = [page for page in pages(self.config) if page.subscribe is not None or page.announce]
        if not followed:  # the common case: nothing read, whatever the storm
            return []
        out: list[dict[str, Any]] = []
        for notice in notices:
            if not isinstance(notice, IncidentNotice) or notice.planned or notice.event not in POSTED:
                continue
            row = session.get(IncidentRow, notice.incident_id)
            if row is None:
                continue
            incident = public_incident(session, row)
            source = "public:" + notice_source(session, notice)
            for page in followed:
                shown = [name for name in incident.monitors if page.shows(name, tags_of(self.config, name))]
                if shown:
                    out += self._page_rows(session, page, incident, notice, shown, source, now)
        return out

    def _page_rows(
        self,
        session: Session,
        page: StatusPage,
        incident: PublicIncident,
        notice: IncidentNotice,
        shown: list[str],
        source: str,
        now: datetime,
    ) -> list[dict[str, Any]]:
        def told(locale: str) -> Post:
            return compose(page, incident, notice, shown, self.base_url, locale)

        return self._post_rows(session, page, shown, source, now, told)

    def maintenance_rows(self, session: Session, now: datetime) -> list[dict[str, Any]]:
        """Posts about maintenance windows (`announce: true`) on the pages they touch: a one-off
        window when it is scheduled within MAINTENANCE_AHEAD, every window when it starts and
        when it is over. Called every little while: what was written before is not again."""
        windows = [window for window in self.config.maintenance if window.announce]
        if not windows:
            return []
        rows: list[dict[str, Any]] = []
        for page in pages(self.config):
            if page.subscribe is None and not page.announce:
                continue
            names = members(page, self.config, [])
            planned = next_windows(windows, now - MAINTENANCE_BEHIND, MAINTENANCE_AHEAD + MAINTENANCE_BEHIND, 20)
            for window, start, end in planned:
                covered = window_members(window, names, self.config)
                stage = _stage(window, start, end, now)
                if not covered or stage is None:
                    continue
                source = _maintenance_source(window.name, start, stage)
                if stage == "completed" and not _written(session, _maintenance_source(window.name, start, "started")):
                    continue  # never told it started (ronda was away): its end says nothing new

                told = partial(maintenance_post, page, window.name, (start, end), covered, stage, self.base_url)
                rows += self._post_rows(session, page, covered, source, now, told)
        return rows

    def _post_rows(
        self,
        session: Session,
        page: StatusPage,
        shown: list[str],
        source: str,
        now: datetime,
        told: Callable[[str], Post],
    ) -> list[dict[str, Any]]:
        """One post's rows: each subscriber of the page who wants one of `shown` (in their
        language), each public channel of the page (a draft where a person approves)."""
        posts: dict[str, Post] = {}

        def post_in(locale: str) -> Post:
            if locale not in posts:
                posts[locale] = told(locale)
            return posts[locale]

        deadline = now + timedelta(seconds=self.config.notify_deadline)
        rows = []
        if page.subscribe is not None:
            for subscriber in confirmed_for(session, page.slug, shown):
                message = subscriber_message(post_in(_known(subscriber.language)), page, subscriber, self.base_url)
                rows.append(outbox_row(source, subscriber.channel, message, now, deadline))
        for index, channel in enumerate(page.announce):
            post = post_in(_known(channel.language))
            message = Message(post.title, post.body, post.kind)
            status = "draft" if channel.approve else "pending"
            rows.append(outbox_row(source, announce_channel(page, index), message, now, deadline, status))
        return rows

    def channel(self, name: str, subscriber: Subscriber | None) -> Channel | None:
        """Where an outbox row of a subscriber (read by the caller) or a public channel goes."""
        deadline = self.config.notify_deadline
        if subscriber is not None:
            page = next((p for p in pages(self.config) if p.slug == subscriber.page), None)
            if page is None or page.subscribe is None:
                return None
            url = delivery_url(page, subscriber, self.base_url)
            return Channel(name, url, deadline_s=deadline) if url else None
        slug, _, index = name.removeprefix(ANNOUNCE_PREFIX).rpartition(":")
        page = next((p for p in pages(self.config) if p.slug == slug), None)
        if not name.startswith(ANNOUNCE_PREFIX) or page is None or not index.isdigit():
            return None
        if int(index) >= len(page.announce):
            return None
        return Channel(name, page.announce[int(index)].url, deadline_s=deadline)


def delivery_url(page: StatusPage, subscriber: Subscriber, base_url: str) -> str | None:
    """The Apprise URL that reaches one subscriber: the page's SMTP URL sent to their address
    with one-click unsubscribe headers (RFC 8058), or their webhook as Apprise's json://."""
    assert page.subscribe is not None
    if subscriber.kind == "email":
        if page.subscribe.email is None:
            return None
        link = manage_link(base_url, page, subscriber.token)
        joiner = "&" if "?" in page.subscribe.email else "?"
        extra = {
            "to": subscriber.address,
            "+List-Unsubscribe": f"<{link}/unsubscribe>",
            "+List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        return (
            page.subscribe.email + joiner + "&".join(f"{key}={quote(value, safe='')}" for key, value in extra.items())
        )
    parts = urlsplit(subscriber.address)
    scheme = "jsons" if parts.scheme == "https" else "json"
    return f"{scheme}://{subscriber.address.split('://', 1)[1]}"


def _known(language: str) -> str:
    return language if language in LOCALES else LOCALES[0]


def private_address(host: str) -> bool:
    """A literal address on loopback, a private or link-local network (or a name that says
    so): where a stranger's webhook must not make ronda call."""
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global
