"""A status page's subscribers: visitors who hear of its incidents by e-mail or webhook.

Double opt-in: a subscription is stored unconfirmed, with a random token, and the only
message it gets is the confirmation (its link carries the token); it gets the page's posts
once confirmed. The same token's link changes the components or unsubscribes, from any
message. Nothing about a subscriber is kept but the address, the page, the components and
the language; unconfirmed ones are deleted after the page's `confirm_within`.

Each message is a row of the outbox whose channel is `subscriber:<id>`, written in the
same transaction as what caused it (the subscription, or the incident's event), and
delivered, retried and given up on as any channel's.

Each method is one transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from ronda.storage.models import OutboxRow, SubscriberRow
from ronda.storage.outbox import insert_rows, new_row

CHANNEL_PREFIX = "subscriber:"


@dataclass(frozen=True)
class Subscriber:
    id: int
    page: str
    kind: str  # email | webhook
    address: str
    components: tuple[str, ...] | None  # None: every component of the page
    language: str
    token: str
    created_at: datetime
    confirmed_at: datetime | None

    @property
    def channel(self) -> str:
        """The outbox's name for this subscriber (never the address: the API lists channels)."""
        return f"{CHANNEL_PREFIX}{self.id}"

    def wants(self, components: Sequence[str]) -> bool:
        return self.components is None or not set(self.components).isdisjoint(components)


def subscriber_id(channel: str) -> int | None:
    """The subscriber an outbox channel name stands for, if it does."""
    number = channel.removeprefix(CHANNEL_PREFIX)
    return int(number) if channel.startswith(CHANNEL_PREFIX) and number.isdigit() else None


# What to tell a subscriber now: the row as written (confirmed or not), whether it was already
# confirmed before this request -> the message's (source, title, body, kind).
Compose = Callable[[Subscriber, bool], tuple[str, str, str, str]]


@dataclass(frozen=True)
class Asked:
    subscriber: Subscriber
    already: bool  # a confirmed subscription existed: nothing about it changed


class Subscribers:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def ask(
        self,
        page: str,
        kind: str,
        address: str,
        components: Sequence[str] | None,
        language: str,
        now: datetime,
        unconfirmed_for: timedelta,
        compose: Compose,
        deadline: timedelta,
    ) -> Asked:
        """A visitor asks to subscribe: stored unconfirmed (or refreshed while unconfirmed),
        and its confirmation queued; a confirmed subscription is left as it is (a stranger
        may type someone else's address) and told of the request instead."""
        with self._sessions.begin() as session:
            session.execute(
                delete(SubscriberRow).where(
                    SubscriberRow.confirmed_at.is_(None), SubscriberRow.created_at < now - unconfirmed_for
                )
            )
            row = session.scalars(
                select(SubscriberRow).where(
                    SubscriberRow.page == page, SubscriberRow.kind == kind, SubscriberRow.address == address
                )
            ).first()
            already = row is not None and row.confirmed_at is not None
            if row is None:
                row = SubscriberRow(page=page, kind=kind, address=address, token=secrets.token_urlsafe(32))
                row.created_at = now
                session.add(row)
            if not already:
                row.components = list(components) if components is not None else None
                row.language = language
            session.flush()
            subscriber = _subscriber(row)
            source, title, body, kind_of_message = compose(subscriber, already)
            words = (title, body, kind_of_message)
            insert_rows(session, [new_row(source, subscriber.channel, words, now, now + deadline)])
            return Asked(subscriber, already)

    def by_token(self, token: str) -> Subscriber | None:
        with self._sessions() as session:
            row = session.scalars(select(SubscriberRow).where(SubscriberRow.token == token)).first()
            return _subscriber(row) if row is not None else None

    def get(self, subscriber_id: int) -> Subscriber | None:
        with self._sessions() as session:
            row = session.get(SubscriberRow, subscriber_id)
            return _subscriber(row) if row is not None else None

    def confirm(self, token: str, now: datetime) -> Subscriber | None:
        with self._sessions.begin() as session:
            session.execute(
                update(SubscriberRow)
                .where(SubscriberRow.token == token, SubscriberRow.confirmed_at.is_(None))
                .values(confirmed_at=now)
            )
            row = session.scalars(select(SubscriberRow).where(SubscriberRow.token == token)).first()
            return _subscriber(row) if row is not None else None

    def choose(self, token: str, components: Sequence[str] | None) -> Subscriber | None:
        """The components a subscriber hears of from now on (None: all of them)."""
        with self._sessions.begin() as session:
            row = session.scalars(select(SubscriberRow).where(SubscriberRow.token == token)).first()
            if row is None:
                return None
            row.components = list(components) if components is not None else None
            session.flush()
            return _subscriber(row)

    def unsubscribe(self, token: str) -> Subscriber | None:
        """Forget the subscriber, and what was still to be sent to them."""
        with self._sessions.begin() as session:
            row = session.scalars(select(SubscriberRow).where(SubscriberRow.token == token)).first()
            if row is None:
                return None
            gone = _subscriber(row)
            _forget(session, [row.id])
            return gone

    def listing(self, page: str | None = None) -> list[Subscriber]:
        """Every subscriber (of one page), oldest first: the operator's export."""
        with self._sessions() as session:
            query = select(SubscriberRow).order_by(SubscriberRow.id)
            if page is not None:
                query = query.where(SubscriberRow.page == page)
            return [_subscriber(row) for row in session.scalars(query)]

    def erase(self, subscriber_id: int | None = None, address: str | None = None) -> int:
        """Delete one subscriber, or every subscription of an address (a person's request
        to be forgotten), with what was still to be sent to them; how many went."""
        with self._sessions.begin() as session:
            query = select(SubscriberRow.id)
            if subscriber_id is not None:
                query = query.where(SubscriberRow.id == subscriber_id)
            if address is not None:
                query = query.where(SubscriberRow.address == address)
            ids = list(session.scalars(query))
            _forget(session, ids)
            return len(ids)

    def counts(self) -> dict[str, dict[str, int]]:
        """Confirmed and waiting subscribers per page, for the dashboard."""
        with self._sessions() as session:
            rows = session.execute(select(SubscriberRow.page, SubscriberRow.confirmed_at.is_not(None)))
            counts: dict[str, dict[str, int]] = {}
            for page, confirmed in rows:
                entry = counts.setdefault(page, {"confirmed": 0, "waiting": 0})
                entry["confirmed" if confirmed else "waiting"] += 1
            return counts


def confirmed_for(session: Session, page: str, components: Sequence[str]) -> list[Subscriber]:
    """The page's confirmed subscribers who want to hear of any of `components`, inside the
    transaction of the event (ronda/web/public_posts.py writes their rows)."""
    rows = session.scalars(
        select(SubscriberRow)
        .where(SubscriberRow.page == page, SubscriberRow.confirmed_at.is_not(None))
        .order_by(SubscriberRow.id)
    )
    return [subscriber for subscriber in map(_subscriber, rows) if subscriber.wants(components)]


def _forget(session: Session, ids: Sequence[int]) -> None:
    if not ids:
        return
    channels = [f"{CHANNEL_PREFIX}{number}" for number in ids]
    session.execute(delete(OutboxRow).where(OutboxRow.channel.in_(channels), OutboxRow.status == "pending"))
    session.execute(delete(SubscriberRow).where(SubscriberRow.id.in_(ids)))


def _subscriber(row: SubscriberRow) -> Subscriber:
    components: Any = row.components
    return Subscriber(
        id=row.id,
        page=row.page,
        kind=row.kind,
        address=row.address,
        components=tuple(components) if components is not None else None,
        language=row.language,
        token=row.token,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
    )
